package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
)

// Port-forwards to secure clusters' JobManagers (tls.go says why flinkd needs them): per
// cluster at most one, to its current JobManager pod's REST port, listening on a random
// loopback port of flinkd's host. It is a byte tunnel (API server → kubelet → pod), so
// flinkd's TLS runs end to end and the JobManager still demands its client certificate: a
// local process that connects to the listener gets no further than it would at the pod.
//
// A forward is made with client-go's port-forwarder, dialled as kubectl port-forward dials
// (k8s.io/kubectl/pkg/cmd/portforward: websocket tunnelling first, SPDY when the API server
// does not upgrade), and replaced when the JobManager pod changes or the tunnel is lost. It
// ends with the cluster (Delete), when no JobManager pod runs, and on Close.
//
// A dial that fails is not tried again at once: each cluster's attempts back off (1 s,
// doubling, to 30 s), and meanwhile Observe reports the last failure, so that a refused or
// unreachable tunnel costs the API server one request per back-off step, not one per pass.
type forwards struct {
	mu      sync.Mutex
	by      map[runtime.Key]*forwardSlot
	backoff *flowcontrol.Backoff
}

// forwardSlot serializes the making of one cluster's forward (a dial can take a while; other
// clusters' observations do not wait for it).
type forwardSlot struct {
	mu      sync.Mutex
	cur     *forward
	lastErr error // the last failed dial's, while backing off
}

// Bounds of making a forward.
const (
	forwardDialTimeout = 15 * time.Second
	forwardBackoffBase = time.Second
	forwardBackoffMax  = 30 * time.Second
)

type forward struct {
	pod    string
	local  int // loopback port
	cancel context.CancelFunc
	done   chan struct{} // closed when the forwarder has stopped
	err    error         // why it stopped (read after done)
}

func (f *forward) ended() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

func (f *forward) stop() {
	f.cancel()
	<-f.done
}

func (fs *forwards) slot(k runtime.Key) *forwardSlot {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.by == nil {
		fs.by = map[runtime.Key]*forwardSlot{}
	}
	if fs.backoff == nil {
		fs.backoff = flowcontrol.NewBackOff(forwardBackoffBase, forwardBackoffMax)
	}
	s := fs.by[k]
	if s == nil {
		s = &forwardSlot{}
		fs.by[k] = s
	}
	return s
}

func (fs *forwards) backingOff(k runtime.Key) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.backoff.IsInBackOffSinceUpdate(k.String(), time.Now())
}

// dialed records the outcome of a dial for k's back-off.
func (fs *forwards) dialed(k runtime.Key, err error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err != nil {
		fs.backoff.Next(k.String(), time.Now())
	} else {
		fs.backoff.Reset(k.String())
	}
}

// end stops cluster k's forward, if any.
func (fs *forwards) end(k runtime.Key) {
	fs.mu.Lock()
	s := fs.by[k]
	delete(fs.by, k)
	if fs.backoff != nil {
		fs.backoff.DeleteEntry(k.String())
	}
	fs.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.stop()
		s.cur = nil
	}
}

// endAll stops every forward (Close).
func (fs *forwards) endAll() {
	fs.mu.Lock()
	keys := make([]runtime.Key, 0, len(fs.by))
	for k := range fs.by {
		keys = append(keys, k)
	}
	fs.mu.Unlock()
	for _, k := range keys {
		fs.end(k)
	}
}

// forwardTo returns the loopback port of cluster k's forward to pod's REST port, making one
// (and ending one to another pod, or one whose tunnel was lost) when needed.
func (r *Runtime) forwardTo(ctx context.Context, k runtime.Key, pod string) (int, error) {
	s := r.fwd.slot(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.cur; f != nil {
		if f.pod == pod && !f.ended() {
			return f.local, nil
		}
		f.stop()
		if f.pod == pod && f.err != nil {
			r.log.Debug("port-forward ended; making it again", "cluster", k.String(), "pod", pod, "err", f.err)
		}
		s.cur = nil
	}
	if s.lastErr != nil && r.fwd.backingOff(k) {
		return 0, s.lastErr
	}
	f, err := r.startForward(ctx, k, pod)
	r.fwd.dialed(k, err)
	s.lastErr = err
	if err != nil {
		return 0, err
	}
	s.cur = f
	return f.local, nil
}

// startForward opens a port-forward to pod's REST port and waits until it listens.
func (r *Runtime) startForward(ctx context.Context, k runtime.Key, pod string) (*forward, error) {
	what := fmt.Sprintf("port-forward to pod %s port %d", pod, flinkconf.DefaultRESTPort)
	u := r.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(r.ns).Name(pod).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(r.rest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var dialer httpstream.Dialer = spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, r.rest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	dialer = portforward.NewFallbackDialer(tunnel, dialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})

	log := r.log.With("cluster", k.String(), "pod", pod)
	// The forward outlives this call: it ends with stop. client-go logs through klog, here
	// into flinkd's log.
	fctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logr.FromSlogHandler(debugHandler{log.Handler()})))
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddressesWithContext(fctx, dialer, []string{"127.0.0.1"},
		[]string{"0:" + strconv.Itoa(flinkconf.DefaultRESTPort)}, ready, io.Discard, debugWriter{log})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	f := &forward{pod: pod, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.err = pf.ForwardPorts()
	}()
	wait, cancelWait := context.WithTimeout(ctx, forwardDialTimeout)
	defer cancelWait()
	select {
	case <-ready:
	case <-f.done:
		cancel()
		if f.err == nil {
			f.err = errors.New("stopped before it listened")
		}
		return nil, fmt.Errorf("%s: %w", what, f.err)
	case <-wait.Done():
		// The dial takes no context: the forwarder stops when (if ever) it returns.
		cancel()
		return nil, fmt.Errorf("%s: no tunnel within %s: %w", what, forwardDialTimeout, wait.Err())
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		f.stop()
		return nil, fmt.Errorf("%s: local port: %v (%d ports)", what, err, len(ports))
	}
	f.local = int(ports[0].Local)
	log.Info("port-forward to the JobManager's REST API", "local", "127.0.0.1:"+strconv.Itoa(f.local))
	return f, nil
}

// debugWriter logs what the port-forwarder writes (one line per failed connection, e.g. the
// pod's port refusing while the JobManager starts) at debug level.
type debugWriter struct{ log *slog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug("port-forward", "detail", strings.TrimSpace(string(p)))
	return len(p), nil
}

// debugHandler logs every record at debug level: client-go's port-forwarder reports each
// connection that ends abruptly (a client closing a finished connection with a reset) as
// an error, which says nothing about the cluster.
type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, r)
}

func (h debugHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return debugHandler{h.Handler.WithAttrs(attrs)}
}

func (h debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{h.Handler.WithGroup(name)}
}
