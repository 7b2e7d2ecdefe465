package docker

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Logs streams one instance's stdout and stderr, demultiplexed, from the engine. instance
// is an exact Instance.ID ("jobmanager", "taskmanager-3"), or "taskmanager-N" for the N-th
// TaskManager in ID order when no instance has that exact ID. An unknown instance is an
// error wrapping runtime.ErrNoInstance.
//
// The stream lives as long as ctx or until it is closed; the lookup before it is bounded
// by the call timeout.
func (r *Runtime) Logs(ctx context.Context, k runtime.Key, instance string, opts runtime.LogOptions) (io.ReadCloser, error) {
	o, err := r.collect(ctx, k, func(observedContainer) bool { return false })
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", instance, err)
	}
	c, ok := findInstance(k, o.Containers, instance)
	if !ok {
		return nil, fmt.Errorf("logs of %s in %s: %w", instance, k, runtime.ErrNoInstance)
	}
	tail := "all"
	if opts.Tail > 0 {
		tail = strconv.Itoa(opts.Tail)
	}
	rc, err := r.cli.ContainerLogs(ctx, c.ID, container.LogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.Follow,
		Tail:       tail,
	})
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", instance, err)
	}
	pr, pw := io.Pipe()
	go func() {
		// Ends when the engine ends the stream or Close closes it.
		_, err := stdcopy.StdCopy(pw, pw, rc)
		pw.CloseWithError(err)
	}()
	return &logStream{PipeReader: pr, src: rc}, nil
}

type logStream struct {
	*io.PipeReader
	src io.Closer
}

func (s *logStream) Close() error {
	err := s.src.Close()
	s.PipeReader.Close()
	return err
}

// findInstance resolves a log request's instance name among cluster k's containers.
func findInstance(k runtime.Key, ctrs []observedContainer, instance string) (observedContainer, bool) {
	var tms []observedContainer
	for _, c := range ctrs {
		if c.Name != containerName(k, c.InstanceID) {
			continue
		}
		if c.InstanceID == instance {
			return c, true
		}
		if _, ok := taskManagerIndex(c.InstanceID); ok && c.Component == runtime.ComponentTaskManager {
			tms = append(tms, c)
		}
	}
	n, ok := taskManagerIndex(instance)
	if !ok || n > len(tms) {
		return observedContainer{}, false
	}
	slices.SortFunc(tms, func(a, b observedContainer) int { return runtime.CompareInstanceIDs(a.InstanceID, b.InstanceID) })
	return tms[n-firstTaskManager], true
}
