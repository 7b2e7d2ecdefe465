package docker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/runtime"
)

// log4jLine matches Flink's console pattern: %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n.
var log4jLine = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) +\S+.*? - `)

func TestLogsStreamInstancesFromTheEngine(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 2, "hash-one")
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	waitFor(t, r, k, "up", up(2, c.Hash))

	t.Run("jobmanager output has Log4j lines", func(t *testing.T) {
		deadline := time.Now().Add(waitTimeout)
		for {
			text := readLogs(t, r, k, "jobmanager", runtime.LogOptions{})
			if log4jLine.MatchString(text) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("jobmanager logs have no Log4j line:\n%s", text)
			}
			poll(t, 200*time.Millisecond)
		}
	})

	t.Run("tail limits the lines", func(t *testing.T) {
		// Wait until the TaskManager has logged more than one line, then ask for the last.
		deadline := time.Now().Add(waitTimeout)
		for strings.Count(readLogs(t, r, k, "taskmanager-1", runtime.LogOptions{}), "\n") < 2 {
			if time.Now().After(deadline) {
				t.Fatal("taskmanager-1 logged fewer than 2 lines")
			}
			poll(t, 200*time.Millisecond)
		}
		text := readLogs(t, r, k, "taskmanager-1", runtime.LogOptions{Tail: 1})
		if n := strings.Count(strings.TrimRight(text, "\n"), "\n"); text == "" || n != 0 {
			t.Errorf("tail 1 returned %d lines:\n%s", n+1, text)
		}
	})

	t.Run("follow streams until closed", func(t *testing.T) {
		rc, err := r.Logs(t.Context(), k, "taskmanager-2", runtime.LogOptions{Follow: true})
		if err != nil {
			t.Fatalf("logs: %v", err)
		}
		line, err := bufio.NewReader(rc).ReadString('\n')
		if err != nil || line == "" {
			t.Fatalf("first followed line %q: %v", line, err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, rc)
			done <- err
		}()
		if err := rc.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("reading a followed stream did not end after Close")
		}
	})

	t.Run("unknown instance", func(t *testing.T) {
		for _, inst := range []string{"taskmanager-3", "taskmanager-0", "nobody"} {
			if _, err := r.Logs(t.Context(), k, inst, runtime.LogOptions{}); !errors.Is(err, runtime.ErrNoInstance) {
				t.Errorf("logs of %s: err = %v, want ErrNoInstance", inst, err)
			}
		}
		other := runtime.Key{Namespace: k.Namespace, Name: k.Name + "-absent"}
		if _, err := r.Logs(t.Context(), other, "jobmanager", runtime.LogOptions{}); !errors.Is(err, runtime.ErrNoInstance) {
			t.Errorf("logs of an absent cluster: err = %v, want ErrNoInstance", err)
		}
	})
}

func readLogs(t *testing.T, r *Runtime, k runtime.Key, instance string, opts runtime.LogOptions) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rc, err := r.Logs(ctx, k, instance, opts)
	if err != nil {
		t.Fatalf("logs of %s: %v", instance, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read logs of %s: %v", instance, err)
	}
	return string(b)
}

func TestFindInstanceResolvesExactIDsThenOrdinals(t *testing.T) {
	k := runtime.Key{Namespace: "ns", Name: "wc"}
	ctrs := []observedContainer{
		{ID: "a", Name: "flinkd_ns_wc_taskmanager-7", InstanceID: "taskmanager-7", Component: "taskmanager"},
		{ID: "b", Name: "flinkd_ns_wc_taskmanager-2", InstanceID: "taskmanager-2", Component: "taskmanager"},
		{ID: "c", Name: "flinkd_ns_wc_jobmanager", InstanceID: "jobmanager", Component: "jobmanager"},
		{ID: "d", Name: "elsewhere", InstanceID: "taskmanager-1", Component: "taskmanager"},
	}
	for inst, want := range map[string]string{
		"jobmanager":    "c",
		"taskmanager-7": "a", // exact
		"taskmanager-2": "b", // exact, not the 2nd in ID order (taskmanager-7)
		"taskmanager-1": "b", // no exact match (the stray is ignored): the 1st in ID order
		"taskmanager-3": "",
	} {
		got, ok := findInstance(k, ctrs, inst)
		if !ok {
			got.ID = ""
		}
		if got.ID != want {
			t.Errorf("findInstance(%q) = %q, want %q", inst, got.ID, want)
		}
	}
}
