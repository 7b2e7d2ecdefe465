package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flinkd/flinkd/internal/runtime"
)

// existing holds the objects of one cluster that exist now under names (nil when absent).
type existing struct {
	names       names
	configMap   *corev1.ConfigMap
	secret      *corev1.Secret
	service     *corev1.Service
	jobManager  *appsv1.Deployment
	taskManager *appsv1.Deployment
}

func (e existing) any() bool {
	return e.configMap != nil || e.secret != nil || e.service != nil || e.jobManager != nil || e.taskManager != nil
}

// owned keeps only the objects that are k's.
func (e existing) owned(o runtime.Ownership, k runtime.Key) existing {
	if e.configMap != nil && !belongsTo(o, e.configMap.Labels, k) {
		e.configMap = nil
	}
	if e.secret != nil && !belongsTo(o, e.secret.Labels, k) {
		e.secret = nil
	}
	if e.service != nil && !belongsTo(o, e.service.Labels, k) {
		e.service = nil
	}
	if e.jobManager != nil && !belongsTo(o, e.jobManager.Labels, k) {
		e.jobManager = nil
	}
	if e.taskManager != nil && !belongsTo(o, e.taskManager.Labels, k) {
		e.taskManager = nil
	}
	return e
}

// Apply converges cluster c's four objects with server-side apply and returns without
// waiting for pods. It first checks that no object it needs is taken by something else
// (error wrapping runtime.ErrNotOwned) and has the API server validate every object in a
// dry run, so that a refused change writes nothing. Before lowering the TaskManager count it
// gives the pods named in c.RemoveFirst a low pod-deletion cost, so that the ReplicaSet
// controller removes them first.
func (r *Runtime) Apply(ctx context.Context, c runtime.Cluster, progress runtime.Progress) error {
	if progress == nil {
		progress = func(string, string) {}
	}
	k := c.Key
	cur, err := r.get(ctx, k)
	if err != nil {
		return fmt.Errorf("apply %s: %w", k, err)
	}
	if err := cur.checkOwner(r.own, k); err != nil {
		return fmt.Errorf("apply %s in namespace %s: %w", k, r.ns, err)
	}
	if name := cur.deleting(); name != "" {
		return fmt.Errorf("apply %s: %s is being deleted; apply again once it is gone", k, name)
	}

	// A cluster made under a former identity keeps it: its selectors hold the owner label
	// and cannot change.
	want, err := desiredObjects(r.own.Keep(cur.ownerLabels()), c, r.ns, cur.names)
	if err != nil {
		return fmt.Errorf("apply %s: %w", k, err)
	}
	if _, err := r.applyAll(ctx, want, true); err != nil {
		return fmt.Errorf("validate %s (dry run): %w", k, err)
	}
	if cur.taskManager != nil && replicas(cur.taskManager) > int32(c.TaskManagers) {
		if err := r.markForRemoval(ctx, k, c.RemoveFirst); err != nil {
			return err
		}
	}
	got, err := r.applyAll(ctx, want, false)
	if err != nil {
		return fmt.Errorf("apply %s: %w", k, err)
	}
	n := cur.names
	report(progress, "configmap", n.configMap, cur.configMap == nil,
		cur.configMap != nil && cur.configMap.ResourceVersion != got.configMap.ResourceVersion)
	if want.secret != nil {
		report(progress, "secret", n.secret, cur.secret == nil,
			cur.secret != nil && cur.secret.ResourceVersion != got.secret.ResourceVersion)
	}
	report(progress, "service", n.service, cur.service == nil,
		cur.service != nil && cur.service.ResourceVersion != got.service.ResourceVersion)
	report(progress, "deployment", n.jobManager, cur.jobManager == nil,
		cur.jobManager != nil && cur.jobManager.Generation != got.jobManager.Generation)
	switch tm := cur.taskManager; {
	case tm == nil:
		progress("Created", fmt.Sprintf("deployment %s with %d taskmanagers", n.taskManager, c.TaskManagers))
	case tm.Generation == got.taskManager.Generation:
	case replicas(tm) != replicas(got.taskManager) && tm.Annotations[AnnotationSpecHash] == c.Hash:
		progress("Scaled", fmt.Sprintf("deployment %s from %d to %d taskmanagers", n.taskManager, replicas(tm), replicas(got.taskManager)))
	default:
		progress("Updated", "deployment "+n.taskManager)
	}
	return nil
}

func report(progress runtime.Progress, kind, name string, created, updated bool) {
	switch {
	case created:
		progress("Created", kind+" "+name)
	case updated:
		progress("Updated", kind+" "+name)
	}
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// checkOwner returns an error wrapping runtime.ErrNotOwned when an existing object is not k's
// (see runtime.Ownership.Check).
func (e existing) checkOwner(o runtime.Ownership, k runtime.Key) error {
	for _, m := range e.metas() {
		if err := o.Check(m.kind, m.Name, m.Labels, m.Annotations, k); err != nil {
			return err
		}
	}
	return nil
}

type kindMeta struct {
	kind string
	*metav1.ObjectMeta
}

// metas returns the metadata of the objects that exist, the JobManager's Deployment first.
func (e existing) metas() []kindMeta {
	var out []kindMeta
	if e.jobManager != nil {
		out = append(out, kindMeta{"deployment", &e.jobManager.ObjectMeta})
	}
	if e.taskManager != nil {
		out = append(out, kindMeta{"deployment", &e.taskManager.ObjectMeta})
	}
	if e.service != nil {
		out = append(out, kindMeta{"service", &e.service.ObjectMeta})
	}
	if e.secret != nil {
		out = append(out, kindMeta{"secret", &e.secret.ObjectMeta})
	}
	if e.configMap != nil {
		out = append(out, kindMeta{"configmap", &e.configMap.ObjectMeta})
	}
	return out
}

// ownerLabels returns the labels of the first object that exists (nil when none does).
func (e existing) ownerLabels() map[string]string {
	if ms := e.metas(); len(ms) > 0 {
		return ms[0].Labels
	}
	return nil
}

// deleting names an object that is being deleted, or returns "".
func (e existing) deleting() string {
	switch {
	case e.configMap != nil && e.configMap.DeletionTimestamp != nil:
		return "configmap " + e.configMap.Name
	case e.secret != nil && e.secret.DeletionTimestamp != nil:
		return "secret " + e.secret.Name
	case e.service != nil && e.service.DeletionTimestamp != nil:
		return "service " + e.service.Name
	case e.jobManager != nil && e.jobManager.DeletionTimestamp != nil:
		return "deployment " + e.jobManager.Name
	case e.taskManager != nil && e.taskManager.DeletionTimestamp != nil:
		return "deployment " + e.taskManager.Name
	}
	return ""
}

// get reads cluster k's four objects by name, whoever owns them: under namesFor(k), unless
// nothing of k's is there and something of k's is under its legacy names (a cluster an older
// flinkd made), which are then adopted. A name taken by something else is reported as such
// (checkOwner), never used.
func (r *Runtime) get(ctx context.Context, k runtime.Key) (existing, error) {
	cur, err := r.getNamed(ctx, namesFor(k))
	if err != nil || cur.owned(r.own, k).any() || legacyNames(k) == cur.names {
		return cur, err
	}
	old, err := r.getNamed(ctx, legacyNames(k))
	if err != nil {
		return cur, err
	}
	if old.owned(r.own, k).any() {
		return old, nil
	}
	return cur, nil
}

// getNamed reads the four objects named n, whoever owns them.
func (r *Runtime) getNamed(ctx context.Context, n names) (existing, error) {
	cctx, cancel := r.call(ctx)
	defer cancel()
	e := existing{names: n}
	cm, err := r.cs.CoreV1().ConfigMaps(r.ns).Get(cctx, n.configMap, metav1.GetOptions{})
	switch {
	case err == nil:
		e.configMap = cm
	case !apierrors.IsNotFound(err):
		return e, fmt.Errorf("get configmap %s: %w", n.configMap, err)
	}
	sec, err := r.cs.CoreV1().Secrets(r.ns).Get(cctx, n.secret, metav1.GetOptions{})
	switch {
	case err == nil:
		e.secret = sec
	case !apierrors.IsNotFound(err):
		return e, fmt.Errorf("get secret %s: %w", n.secret, err)
	}
	svc, err := r.cs.CoreV1().Services(r.ns).Get(cctx, n.service, metav1.GetOptions{})
	switch {
	case err == nil:
		e.service = svc
	case !apierrors.IsNotFound(err):
		return e, fmt.Errorf("get service %s: %w", n.service, err)
	}
	for _, d := range []struct {
		name string
		dst  **appsv1.Deployment
	}{{n.jobManager, &e.jobManager}, {n.taskManager, &e.taskManager}} {
		dep, err := r.cs.AppsV1().Deployments(r.ns).Get(cctx, d.name, metav1.GetOptions{})
		switch {
		case err == nil:
			*d.dst = dep
		case !apierrors.IsNotFound(err):
			return e, fmt.Errorf("get deployment %s: %w", d.name, err)
		}
	}
	return e, nil
}

// applyAll applies the four objects in order (ConfigMap, Service, JobManager, TaskManager),
// for real or as a server-side dry run.
func (r *Runtime) applyAll(ctx context.Context, want objects, dryRun bool) (existing, error) {
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var got existing
	var err error
	cctx, cancel := r.call(ctx)
	defer cancel()
	if got.configMap, err = r.cs.CoreV1().ConfigMaps(r.ns).Apply(cctx, want.configMap, opts); err != nil {
		return got, fmt.Errorf("apply configmap %s: %w", *want.configMap.Name, err)
	}
	if want.secret != nil { // before the pods that mount it
		if got.secret, err = r.cs.CoreV1().Secrets(r.ns).Apply(cctx, want.secret, opts); err != nil {
			return got, fmt.Errorf("apply secret %s: %w", *want.secret.Name, err)
		}
	}
	if got.service, err = r.cs.CoreV1().Services(r.ns).Apply(cctx, want.service, opts); err != nil {
		return got, fmt.Errorf("apply service %s: %w", *want.service.Name, err)
	}
	if got.jobManager, err = r.cs.AppsV1().Deployments(r.ns).Apply(cctx, want.jobManager, opts); err != nil {
		return got, fmt.Errorf("apply deployment %s: %w", *want.jobManager.Name, err)
	}
	if got.taskManager, err = r.cs.AppsV1().Deployments(r.ns).Apply(cctx, want.taskManager, opts); err != nil {
		return got, fmt.Errorf("apply deployment %s: %w", *want.taskManager.Name, err)
	}
	return got, nil
}

// deletionCosts maps the pods of removeFirst to pod-deletion costs: all below the default
// (0), the first entry lowest.
func deletionCosts(removeFirst []string) map[string]string {
	costs := make(map[string]string, len(removeFirst))
	n := len(removeFirst)
	for i, id := range removeFirst {
		if _, dup := costs[id]; dup {
			continue
		}
		costs[id] = strconv.Itoa(-1000 - (n - 1 - i))
	}
	return costs
}

// markForRemoval sets the deletion cost of k's TaskManager pods: low for those in
// removeFirst, none for the others (an earlier scale-down may have marked them).
func (r *Runtime) markForRemoval(ctx context.Context, k runtime.Key, removeFirst []string) error {
	pods, err := r.pods(ctx, k, runtime.ComponentTaskManager)
	if err != nil {
		return err
	}
	costs := deletionCosts(removeFirst)
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		want, mark := costs[p.Name]
		have, marked := p.Annotations[AnnotationDeletionCost]
		var value any
		switch {
		case mark && have != want:
			value = want
		case !mark && marked:
			value = nil // a JSON merge patch removes the key
		default:
			continue
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationDeletionCost: value}}})
		if err != nil {
			return fmt.Errorf("encode deletion-cost patch: %w", err)
		}
		cctx, cancel := r.call(ctx)
		_, err = r.cs.CoreV1().Pods(r.ns).Patch(cctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
		cancel()
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("set deletion cost of pod %s: %w", p.Name, err)
		}
	}
	return nil
}

// pods lists k's pods of one component ("" for all), sorted by name.
func (r *Runtime) pods(ctx context.Context, k runtime.Key, component string) ([]corev1.Pod, error) {
	sel := labels.Set(r.own.Selector())
	sel[runtime.LabelInstance] = k.Name
	sel[runtime.LabelNamespace] = k.Namespace
	if component != "" {
		sel[runtime.LabelComponent] = component
	}
	cctx, cancel := r.call(ctx)
	defer cancel()
	list, err := r.cs.CoreV1().Pods(r.ns).List(cctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
	if err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", k, err)
	}
	pods := list.Items
	sortPods(pods)
	return pods, nil
}
