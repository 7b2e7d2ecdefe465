package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/flinkd/flinkd/internal/runtime"
)

// deletePollInterval is how often Delete checks whether everything is gone.
const deletePollInterval = 250 * time.Millisecond

// Delete deletes cluster k's objects with foreground propagation (only those carrying k's
// labels, each guarded by its UID, under its names and its legacy ones) and waits until they
// and k's pods are gone, or ctx ends. Absent is not an error.
func (r *Runtime) Delete(ctx context.Context, k runtime.Key) error {
	r.fwd.end(k)
	fg := metav1.DeletePropagationForeground
	opts := func(uid types.UID) metav1.DeleteOptions {
		return metav1.DeleteOptions{PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &uid}}
	}
	var errs []error
	del := func(kind, name string, uid types.UID, f func(context.Context, string, metav1.DeleteOptions) error) {
		cctx, cancel := r.call(ctx)
		defer cancel()
		// NotFound: already gone; Conflict: the UID changed, so it is no longer the object we saw.
		if err := f(cctx, name, opts(uid)); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("delete %s %s: %w", kind, name, err))
		}
	}
	for _, n := range allNames(k) {
		cur, err := r.getNamed(ctx, n)
		if err != nil {
			return fmt.Errorf("delete %s: %w", k, err)
		}
		cur = cur.owned(r.own, k)
		// The TaskManagers first, so that they do not log a lost JobManager for long.
		if d := cur.taskManager; d != nil {
			del("deployment", d.Name, d.UID, r.cs.AppsV1().Deployments(r.ns).Delete)
		}
		if d := cur.jobManager; d != nil {
			del("deployment", d.Name, d.UID, r.cs.AppsV1().Deployments(r.ns).Delete)
		}
		if s := cur.service; s != nil {
			del("service", s.Name, s.UID, r.cs.CoreV1().Services(r.ns).Delete)
		}
		if s := cur.secret; s != nil {
			del("secret", s.Name, s.UID, r.cs.CoreV1().Secrets(r.ns).Delete)
		}
		if c := cur.configMap; c != nil {
			del("configmap", c.Name, c.UID, r.cs.CoreV1().ConfigMaps(r.ns).Delete)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	var last string
	err := wait.PollUntilContextCancel(ctx, deletePollInterval, true, func(ctx context.Context) (bool, error) {
		left := 0
		for _, n := range allNames(k) {
			cur, err := r.getNamed(ctx, n)
			if err != nil {
				last = err.Error() // transient: keep waiting until ctx ends
				return false, nil
			}
			cur = cur.owned(r.own, k)
			for _, there := range []bool{cur.configMap != nil, cur.secret != nil, cur.service != nil, cur.jobManager != nil, cur.taskManager != nil} {
				if there {
					left++
				}
			}
		}
		pods, err := r.pods(ctx, k, "")
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("%d objects and %d pods left", left, len(pods))
		return left == 0 && len(pods) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s to be gone (%s): %w", k, last, err)
	}
	return nil
}

// allNames are the name sets k's objects may have: namesFor(k) and, when they differ, its
// legacy names.
func allNames(k runtime.Key) []names {
	if n, old := namesFor(k), legacyNames(k); n != old {
		return []names{n, old}
	}
	return []names{namesFor(k)}
}
