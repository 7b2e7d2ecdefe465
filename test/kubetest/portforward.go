package kubetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
)

// Tunables of the runner's kubelet API.
const (
	// streamIdleTimeout is the kubelet's default --streaming-connection-idle-timeout.
	streamIdleTimeout = 4 * time.Hour
	// streamCreationTimeout is how long a port-forward request may take to open both of its
	// streams (the kubelet's default, remotecommand.DefaultStreamCreationTimeout).
	streamCreationTimeout = 30 * time.Second
	// podDialTimeout bounds the dial of a pod's port.
	podDialTimeout = 10 * time.Second
	// halfCloseGrace is how long a forwarded connection whose client has sent everything
	// stays open for the pod's answer (containerd's CRI port-forward waits as long, after
	// socat's -t).
	halfCloseGrace = time.Second
	// servingCertLifetime is the validity of the kubelet API's self-signed certificate.
	servingCertLifetime = 365 * 24 * time.Hour
)

// kubeletServer is the part of the kubelet's API that the runner serves: port-forward, over
// HTTPS on the Node's InternalIP, where the API server's pods/portforward subresource
// connects to.
//
// Like the real kubelet, it serves a self-signed certificate made at start. The API server
// does not verify it: without --kubelet-certificate-authority its kubelet client skips
// verification (k8s.io/kubernetes pkg/kubelet/client/kubelet_client.go, transportConfig:
// no CA means TLS.Insecure), and kubetest does not set that flag. Unlike the real kubelet it
// neither authenticates nor authorizes its callers: anyone on this host who finds the port
// can forward to the runner's pods, which is what a test needs and no more.
type kubeletServer struct {
	srv    *http.Server
	ln     net.Listener
	port   int32
	ctx    context.Context // ends when the server stops: ends every forwarded connection
	cancel context.CancelFunc
	served chan struct{} // closed when Serve has returned

	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{} // connections of port-forward requests in progress
	handlers sync.WaitGroup
}

// connKey is the request context's key of the request's connection.
type connKey struct{}

// startKubeletServer starts serving the runner's kubelet API on hostIP, at a free port.
func (r *PodRunner) startKubeletServer() (*kubeletServer, error) {
	cert, err := selfSignedCert(r.node, hostIP)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(hostIP, "0"))
	if err != nil {
		return nil, fmt.Errorf("listen for the kubelet API of node %s: %w", r.node, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &kubeletServer{
		ln: ln, port: int32(ln.Addr().(*net.TCPAddr).Port),
		ctx: ctx, cancel: cancel, served: make(chan struct{}),
		conns: map[net.Conn]struct{}{},
	}
	mux := http.NewServeMux()
	// The kubelet's routes (k8s.io/kubernetes pkg/kubelet/server/server.go, InstallDebuggingHandlers).
	for _, p := range []string{"/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"} {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, req *http.Request) { r.servePortForward(k, w, req) })
		mux.HandleFunc("POST "+p, func(w http.ResponseWriter, req *http.Request) { r.servePortForward(k, w, req) })
	}
	k.srv = &http.Server{
		Handler: mux,
		// Upgrades (SPDY, websockets) need HTTP/1.1: offer nothing else.
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	go func() {
		defer close(k.served)
		if err := k.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Warn("kubelet API stopped serving", "err", err)
		}
	}()
	r.log.Info("serving the kubelet API (port-forward)", "address", ln.Addr().String())
	return k, nil
}

// stop closes the listener and every connection, including the upgraded ones of
// port-forward requests in progress (which http.Server no longer tracks), and waits for
// their handlers to return.
func (k *kubeletServer) stop(ctx context.Context) error {
	k.mu.Lock()
	k.closed = true
	for c := range k.conns {
		_ = c.Close()
	}
	k.mu.Unlock()
	k.cancel()
	err := k.srv.Close()
	done := make(chan struct{})
	go func() {
		k.handlers.Wait()
		<-k.served
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("wait for the kubelet API's port-forward requests to end: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("close the kubelet API: %w", err)
	}
	return nil
}

// track registers the connection of a port-forward request so that stop can close it;
// false when the server is stopping. The caller must call untrack once done.
func (k *kubeletServer) track(c net.Conn) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return false
	}
	k.handlers.Add(1)
	if c != nil {
		k.conns[c] = struct{}{}
	}
	return true
}

func (k *kubeletServer) untrack(c net.Conn) {
	k.mu.Lock()
	delete(k.conns, c)
	k.mu.Unlock()
	k.handlers.Done()
}

// servePortForward handles a port-forward request as the kubelet's getPortForward does
// (k8s.io/kubernetes pkg/kubelet/server/server.go): the options from the request
// (portforward.NewV4Options: the ports of a websocket request), the pod looked up by
// namespace and name, a 404 when it is not on this Node or its UID is not the one asked
// for. Then portforward.ServePortForward upgrades the connection (SPDY, or websockets) and
// forwards each of its streams to the pod's port, as the CRI streaming server the kubelet
// proxies to does. The real kubelet also tunnels SPDY over websockets itself when its Node
// declares the ExtendWebSocketsToKubelet feature; this Node declares no features, so the
// API server translates such requests (kubectl's default) to SPDY before they get here.
func (r *PodRunner) servePortForward(k *kubeletServer, w http.ResponseWriter, req *http.Request) {
	ns, name, uid := req.PathValue("namespace"), req.PathValue("pod"), req.PathValue("uid")
	opts, err := portforward.NewV4Options(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pod, err := r.boundPod(req.Context(), ns, name)
	switch {
	case errors.Is(err, errPodNotHere):
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	case uid != "" && string(pod.UID) != uid:
		http.Error(w, "pod not found", http.StatusNotFound)
		return
	}
	conn, _ := req.Context().Value(connKey{}).(net.Conn)
	if !k.track(conn) {
		http.Error(w, "the pod runner is stopping", http.StatusServiceUnavailable)
		return
	}
	defer k.untrack(conn)
	r.log.Debug("port-forward", "pod", ns+"/"+name, "from", req.RemoteAddr)
	fwd := &podForwarder{r: r, k: k, namespace: ns}
	portforward.ServePortForward(w, req, fwd, name, string(pod.UID), opts,
		streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

// errPodNotHere means a pod does not exist or is not bound to the runner's Node.
var errPodNotHere = errors.New("pod does not exist on this node")

// boundPod gets pod ns/name from the API server; errPodNotHere when it is not bound to the
// runner's Node.
func (r *PodRunner) boundPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	pod, err := r.cs.CoreV1().Pods(ns).Get(cctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("pod %s/%s: %w", ns, name, errPodNotHere)
	case err != nil:
		return nil, fmt.Errorf("get pod %s/%s: %w", ns, name, err)
	case pod.Spec.NodeName != r.node:
		return nil, fmt.Errorf("pod %s/%s is on node %q: %w", ns, name, pod.Spec.NodeName, errPodNotHere)
	}
	return pod, nil
}

// podForwarder is the portforward.PortForwarder of one request: it forwards a stream to a
// port of a pod of namespace.
type podForwarder struct {
	r         *PodRunner
	k         *kubeletServer
	namespace string
}

// PortForward dials the pod's current status.podIP at port and copies bytes both ways until
// either side ends. Its error reaches the client on the request's error stream.
func (f *podForwarder) PortForward(ctx context.Context, name, uid string, port int32, stream io.ReadWriteCloser) error {
	// The library passes a background context: end with the server too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(f.k.ctx, cancel)()

	pod, err := f.r.boundPod(ctx, f.namespace, name)
	switch {
	case err != nil:
		return err
	case uid != "" && string(pod.UID) != uid:
		return fmt.Errorf("pod %s/%s was replaced (UID %s, not %s)", f.namespace, name, pod.UID, uid)
	case pod.Status.PodIP == "":
		return fmt.Errorf("pod %s/%s has no IP (phase %s)", f.namespace, name, pod.Status.Phase)
	}
	addr := net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(port)))
	d := net.Dialer{Timeout: podDialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial pod %s/%s at %s: %w", f.namespace, name, addr, err)
	}
	f.r.log.Debug("forwarding", "pod", f.namespace+"/"+name, "to", addr)
	if err := pipe(ctx, conn, stream); err != nil {
		return fmt.Errorf("forward to pod %s/%s at %s: %w", f.namespace, name, addr, err)
	}
	return nil
}

// pipe copies between conn and stream both ways and closes conn when either way ends (the
// caller, portforward's stream handler, closes stream). When the client's side ends first
// (it sent everything), the pod's side is half-closed and gets halfCloseGrace to answer.
func pipe(ctx context.Context, conn net.Conn, stream io.ReadWriteCloser) error {
	defer conn.Close()
	toPod, fromPod := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		toPod <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		fromPod <- err
	}()
	select {
	case err := <-fromPod:
		return quiet(err)
	case err := <-toPod:
		if err = quiet(err); err != nil {
			return err
		}
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		t := time.NewTimer(halfCloseGrace)
		defer t.Stop()
		select {
		case err := <-fromPod:
			return quiet(err)
		case <-t.C:
			return nil
		case <-ctx.Done():
			return errors.New("the pod runner stopped")
		}
	case <-ctx.Done():
		return errors.New("the pod runner stopped")
	}
}

// quiet drops the errors of a side that was closed under a copy.
func quiet(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// selfSignedCert makes a serving certificate for the kubelet API of node at ip, signed by
// its own key, as a kubelet without --tls-cert-file does.
func selfSignedCert(node, ip string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate the kubelet API's key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pick a certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", node, now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(servingCertLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{node},
		IPAddresses:           []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create the kubelet API's certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parse the kubelet API's certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// stopKubeletServer stops the runner's kubelet API, once.
func (r *PodRunner) stopKubeletServer(ctx context.Context) error {
	if r.kubelet == nil {
		return nil
	}
	err := r.kubelet.stop(ctx)
	r.kubelet = nil
	return err
}
