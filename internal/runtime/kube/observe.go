package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Observe reports cluster k from its objects and pods: one Instance per pod (ID = pod name),
// a synthetic Pending JobManager while its Deployment has no pod yet, the Deployments'
// failure conditions as Message, and the JobManager's REST API through the API server's
// service proxy. Objects that are not k's (no labels, another cluster) are not reported.
func (r *Runtime) Observe(ctx context.Context, k runtime.Key) (runtime.Observed, error) {
	cur, err := r.get(ctx, k)
	if err != nil {
		return runtime.Observed{}, fmt.Errorf("observe %s: %w", k, err)
	}
	cur = cur.owned(r.own, k) // only what is k's
	pods, err := r.pods(ctx, k, "")
	if err != nil {
		return runtime.Observed{}, fmt.Errorf("observe %s: %w", k, err)
	}
	obs := observed(k, cur, pods)
	switch {
	case cur.service != nil && cur.service.Annotations[annotationTLS] == "true":
		obs.REST = r.secureEndpoint(ctx, k, cur.names.service, jobManagerPod(pods))
	case cur.service != nil:
		obs.REST = r.endpoint(cur.names.service)
	}
	return obs, nil
}

// observed turns objects and pods into facts. It does no I/O.
func observed(k runtime.Key, cur existing, pods []corev1.Pod) runtime.Observed {
	obs := runtime.Observed{Exists: cur.any() || len(pods) > 0}
	if cur.jobManager != nil {
		obs.Hash = cur.jobManager.Annotations[AnnotationSpecHash]
	}

	var jms []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue // being removed: no longer counts
		}
		switch p.Labels[runtime.LabelComponent] {
		case runtime.ComponentJobManager:
			jms = append(jms, p)
		case runtime.ComponentTaskManager:
			obs.TaskManagers = append(obs.TaskManagers, podInstance(p, runtime.ComponentTaskManager))
		}
	}
	slices.SortFunc(obs.TaskManagers, func(a, b runtime.Instance) int { return strings.Compare(a.ID, b.ID) })
	if len(jms) > 0 {
		// The newest pod is the one the Deployment is converging to.
		slices.SortStableFunc(jms, func(a, b corev1.Pod) int {
			return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
		})
		jm := podInstance(jms[0], runtime.ComponentJobManager)
		obs.JobManager = &jm
	} else if cur.jobManager != nil {
		obs.JobManager = &runtime.Instance{
			ID:      cur.jobManager.Name,
			Hash:    cur.jobManager.Annotations[AnnotationSpecHash],
			State:   runtime.StatePending,
			Message: "no jobmanager pod yet",
		}
		if msg := deploymentMessage(cur.jobManager); msg != "" {
			obs.JobManager.Message = msg
		}
	}

	var msgs []string
	for _, d := range []*appsv1.Deployment{cur.jobManager, cur.taskManager} {
		if d == nil {
			continue
		}
		if msg := deploymentMessage(d); msg != "" {
			msgs = append(msgs, "deployment "+d.Name+": "+msg)
		}
	}
	obs.Message = strings.Join(msgs, "; ")
	return obs
}

// endpoint is how flinkd and users reach the JobManager REST API behind Service service.
func (r *Runtime) endpoint(service string) runtime.Endpoint {
	return runtime.Endpoint{
		URL:     fmt.Sprintf("%s/api/v1/namespaces/%s/services/%s:rest/proxy", r.baseURL, r.ns, service),
		Client:  r.http,
		Display: fmt.Sprintf("kubectl -n %s port-forward svc/%s %d", r.ns, service, 8081),
	}
}

// deploymentMessage returns a Deployment's failure conditions (ReplicaFailure, an exceeded
// progress deadline), or "".
func deploymentMessage(d *appsv1.Deployment) string {
	var msgs []string
	for _, c := range d.Status.Conditions {
		switch {
		case c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue,
			c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded":
			msgs = append(msgs, joinReason(c.Reason, c.Message))
		}
	}
	return strings.Join(msgs, "; ")
}

func joinReason(reason, message string) string {
	switch {
	case reason == "":
		return message
	case message == "":
		return reason
	}
	return reason + ": " + message
}

// podInstance turns a pod into an Instance, from the status of its container named main
// (and of the init container while it has not finished). It does no I/O.
func podInstance(p corev1.Pod, main string) runtime.Instance {
	in := runtime.Instance{
		ID:        p.Name,
		RuntimeID: string(p.UID),
		Hash:      p.Annotations[AnnotationSpecHash],
		State:     runtime.StatePending,
	}
	if in.Hash == "" {
		in.Hash = p.Labels[runtime.LabelSpecHash]
	}
	var cs *corev1.ContainerStatus
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == main {
			cs = &p.Status.ContainerStatuses[i]
		}
	}
	if cs != nil {
		in.Restarts = int(cs.RestartCount)
		if t := cs.LastTerminationState.Terminated; t != nil {
			in.ExitCode = int(t.ExitCode)
			in.OOMKilled = t.Reason == "OOMKilled"
		}
	}

	switch {
	case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
		in.State = runtime.StateExited
		in.Message = joinReason(p.Status.Reason, p.Status.Message)
		if cs != nil && cs.State.Terminated != nil {
			t := cs.State.Terminated
			in.ExitCode, in.OOMKilled = int(t.ExitCode), t.Reason == "OOMKilled"
			if in.Message == "" {
				in.Message = joinReason(t.Reason, t.Message)
			}
		}
	case initPending(p) != "":
		in.Message = initPending(p)
	case cs == nil:
		in.Message = scheduling(p)
	case cs.State.Waiting != nil:
		in.Message = joinReason(cs.State.Waiting.Reason, cs.State.Waiting.Message)
	case cs.State.Running != nil:
		in.State = runtime.StateRunning
		in.StartedAt = cs.State.Running.StartedAt.Time
	case cs.State.Terminated != nil:
		t := cs.State.Terminated
		in.State = runtime.StateExited
		in.ExitCode, in.OOMKilled = int(t.ExitCode), t.Reason == "OOMKilled"
		in.Message = joinReason(t.Reason, t.Message)
	default:
		in.State = runtime.StateUnknown
	}
	if in.State == runtime.StateRunning {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				in.Ready = true
			}
		}
	}
	return in
}

// initPending explains why the pod's init containers have not all finished, or returns "".
func initPending(p corev1.Pod) string {
	for _, s := range p.Status.InitContainerStatuses {
		switch {
		case s.State.Waiting != nil && s.State.Waiting.Reason != "PodInitializing":
			return "init container " + s.Name + ": " + joinReason(s.State.Waiting.Reason, s.State.Waiting.Message)
		case s.State.Terminated != nil && s.State.Terminated.ExitCode != 0:
			t := s.State.Terminated
			return fmt.Sprintf("init container %s exited with code %d: %s", s.Name, t.ExitCode, joinReason(t.Reason, t.Message))
		case s.State.Running != nil:
			return "init container " + s.Name + " running"
		}
	}
	return ""
}

// scheduling explains a pod without container statuses (not scheduled, or not started yet).
func scheduling(p corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return joinReason(c.Reason, c.Message)
		}
	}
	if p.Spec.NodeName == "" {
		return "waiting to be scheduled"
	}
	return "waiting for containers to start on node " + p.Spec.NodeName
}

func sortPods(pods []corev1.Pod) {
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
}
