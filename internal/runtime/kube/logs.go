package kube

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Logs streams the log of one of k's pods: "jobmanager" (the JobManager pod Observe reports),
// "taskmanager-N" (the N-th TaskManager pod in name order, from 1) or an exact pod name. The
// stream lives as long as ctx (or until the pod's log ends without Follow).
func (r *Runtime) Logs(ctx context.Context, k runtime.Key, instance string, opts runtime.LogOptions) (io.ReadCloser, error) {
	pods, err := r.pods(ctx, k, "")
	if err != nil {
		return nil, fmt.Errorf("logs of %s %s: %w", k, instance, err)
	}
	pod, container, ok := resolveInstance(pods, instance)
	if !ok {
		return nil, fmt.Errorf("logs of %s %s: %w", k, instance, runtime.ErrNoInstance)
	}
	lo := &corev1.PodLogOptions{Container: container, Follow: opts.Follow}
	if opts.Tail > 0 {
		tail := int64(opts.Tail)
		lo.TailLines = &tail
	}
	rc, err := r.cs.CoreV1().Pods(r.ns).GetLogs(pod, lo).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream log of pod %s: %w", pod, err)
	}
	return rc, nil
}

// resolveInstance finds the pod and container an instance name means. pods are sorted by
// name. It does no I/O.
func resolveInstance(pods []corev1.Pod, instance string) (pod, container string, ok bool) {
	var jms, tms []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		switch p.Labels[runtime.LabelComponent] {
		case runtime.ComponentJobManager:
			jms = append(jms, p)
		case runtime.ComponentTaskManager:
			tms = append(tms, p)
		}
	}
	if instance == runtime.ComponentJobManager {
		obs := observed(runtime.Key{}, existing{}, jms)
		if obs.JobManager == nil {
			return "", "", false
		}
		return obs.JobManager.ID, runtime.ComponentJobManager, true
	}
	if n, found := strings.CutPrefix(instance, runtime.ComponentTaskManager+"-"); found {
		if i, err := strconv.Atoi(n); err == nil && strconv.Itoa(i) == n {
			if i < 1 || i > len(tms) {
				return "", "", false
			}
			return tms[i-1].Name, runtime.ComponentTaskManager, true
		}
	}
	for _, p := range append(jms, tms...) {
		if p.Name == instance {
			return p.Name, p.Labels[runtime.LabelComponent], true
		}
	}
	return "", "", false
}
