package kube

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Changes watches flinkd's labelled Pods, Deployments, Services and ConfigMaps in the
// namespace and sends the key of every cluster one of them changed for (also for the
// objects that exist when it starts). Keys are coalesced while the receiver is busy, so a
// slow receiver never blocks the watches and never misses a key. The channel is closed
// when ctx ends.
func (r *Runtime) Changes(ctx context.Context) (<-chan runtime.Key, error) {
	factory := informers.NewSharedInformerFactoryWithOptions(r.cs, 0,
		informers.WithNamespace(r.ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = managedSelector(r.own) }))
	q := &keyQueue{own: r.own, wake: make(chan struct{}, 1), pending: map[runtime.Key]bool{}}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { q.push(obj) },
		UpdateFunc: func(_, obj any) { q.push(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			q.push(obj)
		},
	}
	for _, inf := range []cache.SharedIndexInformer{
		factory.Core().V1().Pods().Informer(),
		factory.Apps().V1().Deployments().Informer(),
		factory.Core().V1().Services().Informer(),
		factory.Core().V1().ConfigMaps().Informer(),
	} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, fmt.Errorf("watch labelled objects: %w", err)
		}
		if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			r.log.Debug("watch interrupted; retrying", "err", err)
		}); err != nil {
			return nil, fmt.Errorf("watch labelled objects: %w", err)
		}
	}
	factory.Start(ctx.Done())

	out := make(chan runtime.Key)
	go func() {
		defer close(out)
		defer factory.Shutdown()
		for {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
			}
			for _, k := range q.drain() {
				select {
				case out <- k:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// keyQueue collects keys until the sender takes them.
type keyQueue struct {
	own     runtime.Ownership
	mu      sync.Mutex
	pending map[runtime.Key]bool
	order   []runtime.Key
	wake    chan struct{}
}

func (q *keyQueue) push(obj any) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	k, ok := q.own.KeyOf(m.GetLabels())
	if !ok {
		return
	}
	q.mu.Lock()
	if !q.pending[k] {
		q.pending[k] = true
		q.order = append(q.order, k)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *keyQueue) drain() []runtime.Key {
	q.mu.Lock()
	defer q.mu.Unlock()
	keys := q.order
	q.order = nil
	clear(q.pending)
	return keys
}
