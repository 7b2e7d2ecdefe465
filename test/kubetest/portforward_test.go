package kubetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	streamhttp "k8s.io/streaming/pkg/httpstream"
)

// The runner serves the kubelet's port-forward: through the API server's pods/portforward,
// client-go's SPDY dialer and kubectl's dialer (SPDY over websockets, SPDY as the fallback)
// forward a local port to a pod's port, several connections each; a pod that does not
// exist fails, a pod without IP is an error the client reads; the runner's own endpoint
// (both routes, self-signed certificate for 127.0.0.1) refuses unknown pods, pods of
// another Node and a stale UID; Stop ends a forward in progress and closes the port.
func TestPodRunnerServesPortForwardLikeAKubelet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a control plane and containers on the Docker engine (not with -short)")
	}
	_, cp, r, stopped := startExclusiveRunner(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	kubeletPort := r.kubelet.port
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, r.NodeName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := node.Status.DaemonEndpoints.KubeletEndpoint.Port; got != kubeletPort || got <= 0 {
		t.Errorf("node's kubelet endpoint port = %d, want the runner's %d", got, kubeletPort)
	}

	ns := cp.Namespace(t)
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, jobManagerConfig("web-conf", "web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	elsewhere := onePod("elsewhere", runnerTestImage, corev1.RestartPolicyAlways, "help")
	elsewhere.Spec.NodeName = NodeName // kwok's Node, not the runner's
	for _, p := range []*corev1.Pod{
		jobManagerPod("web", "web-conf"),
		onePod("nopull", "localhost/not-on-this-engine:1", corev1.RestartPolicyAlways, "help"),
		elsewhere,
	} {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	web := waitPod(t, cs, ns, "web", "Running and Ready", func(p *corev1.Pod) bool { return podReady(p) && p.Status.PodIP != "" })
	// A forwarder gives up at the first connection the pod refuses: wait until it listens.
	eventuallyOK(t, time.Minute, "the JobManager's REST API answers at the pod's IP", func() (bool, string) {
		body, err := httpGet("http://" + net.JoinHostPort(web.Status.PodIP, "8081") + "/jobmanager/config")
		return err == nil, fmt.Sprintf("%v %.200s", err, body)
	})
	waitPod(t, cs, ns, "nopull", "waiting for its image, without IP", func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return p.Status.PodIP == "" && len(s) == 1 && s[0].State.Waiting != nil
	})

	// Through the API server, with client-go's SPDY dialer.
	pf := startForward(t, func(stop <-chan struct{}, ready chan struct{}) (*portforward.PortForwarder, error) {
		return portforward.NewOnAddresses(spdyDialer(t, cp.Config, cs, ns, "web"), []string{"127.0.0.1"}, []string{"0:8081"},
			stop, ready, io.Discard, io.Discard)
	})
	if pf.err != nil {
		t.Fatalf("port-forward to web with the SPDY dialer: %v", pf.err)
	}
	getMarker(t, "SPDY dialer", pf.local, 3)
	pf.close(t)

	// Through the API server, with kubectl's dialer: SPDY tunnelled over websockets, SPDY
	// only when the upgrade fails (it must not).
	var fellBack struct {
		sync.Mutex
		err error
	}
	pf = startForward(t, func(stop <-chan struct{}, ready chan struct{}) (*portforward.PortForwarder, error) {
		d := kubectlDialer(t, cp.Config, cs, ns, "web", func(err error) {
			fellBack.Lock()
			fellBack.err = err
			fellBack.Unlock()
		})
		return portforward.NewOnAddressesForStreaming(d, []string{"127.0.0.1"}, []string{"0:8081"}, stop, ready, io.Discard, io.Discard)
	})
	if pf.err != nil {
		t.Fatalf("port-forward to web with kubectl's dialer: %v", pf.err)
	}
	getMarker(t, "kubectl's dialer", pf.local, 3)
	pf.close(t)
	fellBack.Lock()
	if fellBack.err != nil {
		t.Errorf("kubectl's dialer fell back to SPDY; the websocket tunnel failed: %v", fellBack.err)
	}
	fellBack.Unlock()

	// A pod that does not exist: both dialers fail.
	for name, pf := range map[string]*forwarding{
		"SPDY dialer": startForward(t, func(stop <-chan struct{}, ready chan struct{}) (*portforward.PortForwarder, error) {
			return portforward.NewOnAddresses(spdyDialer(t, cp.Config, cs, ns, "ghost"), []string{"127.0.0.1"}, []string{"0:8081"},
				stop, ready, io.Discard, io.Discard)
		}),
		"kubectl's dialer": startForward(t, func(stop <-chan struct{}, ready chan struct{}) (*portforward.PortForwarder, error) {
			d := kubectlDialer(t, cp.Config, cs, ns, "ghost", func(error) {})
			return portforward.NewOnAddressesForStreaming(d, []string{"127.0.0.1"}, []string{"0:8081"}, stop, ready, io.Discard, io.Discard)
		}),
	} {
		if pf.err == nil {
			pf.close(t)
			t.Errorf("port-forward to a pod that does not exist with the %s: started, want an error", name)
		} else if !strings.Contains(pf.err.Error(), "not found") {
			t.Errorf("port-forward to a pod that does not exist with the %s: %v, want a not-found error", name, pf.err)
		}
	}

	// A pod without IP: the upgrade works, the forwarded connection gets the runner's error.
	if msg := forwardError(t, spdyDialer(t, cp.Config, cs, ns, "nopull"), 8081); !strings.Contains(msg, "has no IP") {
		t.Errorf("error stream of a port-forward to a pod without IP = %q, want it to say the pod has no IP", msg)
	}

	// The runner's own endpoint, as the API server reaches it.
	kubelet := "https://" + net.JoinHostPort(hostIP, strconv.Itoa(int(kubeletPort)))
	direct := func(path string) *forwarding {
		return startForward(t, func(stop <-chan struct{}, ready chan struct{}) (*portforward.PortForwarder, error) {
			d := dialerFor(t, &rest.Config{Host: kubelet, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, kubelet+path)
			return portforward.NewOnAddresses(d, []string{"127.0.0.1"}, []string{"0:8081"}, stop, ready, io.Discard, io.Discard)
		})
	}
	for _, tt := range []struct{ path, want string }{
		{"/portForward/" + ns + "/ghost", "pod does not exist"},
		{"/portForward/" + ns + "/web/00000000-0000-0000-0000-000000000000", "pod not found"},
		{"/portForward/" + ns + "/elsewhere", "pod does not exist"},
	} {
		if pf := direct(tt.path); pf.err == nil {
			pf.close(t)
			t.Errorf("runner's %s: started, want %q", tt.path, tt.want)
		} else if !strings.Contains(pf.err.Error(), tt.want) {
			t.Errorf("runner's %s: %v, want %q", tt.path, pf.err, tt.want)
		}
	}
	pf = direct("/portForward/" + ns + "/web/" + string(web.UID))
	if pf.err != nil {
		t.Fatalf("runner's port-forward route with the pod's UID: %v", pf.err)
	}
	getMarker(t, "the runner's route with UID", pf.local, 1)
	pf.close(t)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(kubelet, "https://"), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // inspecting the self-signed certificate
	if err != nil {
		t.Fatalf("TLS to the runner's kubelet API: %v", err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	_ = conn.Close()
	if err := cert.VerifyHostname(hostIP); err != nil || cert.Issuer.String() != cert.Subject.String() {
		t.Errorf("kubelet API certificate (subject %s, issuer %s): %v; want a self-signed one for %s", cert.Subject, cert.Issuer, err, hostIP)
	}

	// Stop ends a forward in progress and closes the port.
	pf = startForward(t, func(stop <-chan struct{}, ready chan struct{}) (*portforward.PortForwarder, error) {
		return portforward.NewOnAddresses(spdyDialer(t, cp.Config, cs, ns, "web"), []string{"127.0.0.1"}, []string{"0:8081"},
			stop, ready, io.Discard, io.Discard)
	})
	if pf.err != nil {
		t.Fatalf("port-forward to web before Stop: %v", pf.err)
	}
	defer close(pf.stop)
	getMarker(t, "SPDY dialer before Stop", pf.local, 1)
	*stopped = true
	if err := r.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case err := <-pf.done:
		if !errors.Is(err, portforward.ErrLostConnectionToPod) {
			t.Errorf("port-forward after Stop ended with %v, want %v", err, portforward.ErrLostConnectionToPod)
		}
	case <-time.After(time.Minute):
		t.Errorf("port-forward still running a minute after Stop")
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(kubelet, "https://"), 5*time.Second); err == nil {
		_ = c.Close()
		t.Errorf("the runner's kubelet API still accepts connections after Stop")
	}
}

// forwarding is a running (or failed) tools/portforward PortForwarder.
type forwarding struct {
	local uint16        // the local port
	err   error         // why it did not start
	stop  chan struct{} // closing it stops the forwarder
	done  chan error    // ForwardPorts' result
}

// startForward runs the forwarder newPF makes until it is ready or fails.
func startForward(t *testing.T, newPF func(stop <-chan struct{}, ready chan struct{}) (*portforward.PortForwarder, error)) *forwarding {
	t.Helper()
	f := &forwarding{stop: make(chan struct{}), done: make(chan error, 1)}
	ready := make(chan struct{})
	pf, err := newPF(f.stop, ready)
	if err != nil {
		t.Fatalf("make a port forwarder: %v", err)
	}
	go func() { f.done <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-f.done:
		f.err = fmt.Errorf("ForwardPorts: %w", err)
		if err == nil {
			f.err = errors.New("ForwardPorts returned before being ready")
		}
		return f
	case <-time.After(time.Minute):
		close(f.stop)
		t.Fatalf("port forwarder not ready after a minute")
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("forwarded ports: %v %v", ports, err)
	}
	f.local = ports[0].Local
	return f
}

// close stops a running forwarder and waits for it to end cleanly.
func (f *forwarding) close(t *testing.T) {
	t.Helper()
	close(f.stop)
	select {
	case err := <-f.done:
		if err != nil {
			t.Errorf("port forwarder ended with %v", err)
		}
	case <-time.After(time.Minute):
		t.Errorf("port forwarder still running a minute after being stopped")
	}
}

// getMarker GETs the JobManager's configuration n times, each on a new connection, through
// the local port, and checks that it is the pod's (its ConfigMap's test.marker).
func getMarker(t *testing.T, how string, local uint16, n int) {
	t.Helper()
	for i := range n {
		body, err := httpGet("http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(int(local))) + "/jobmanager/config")
		if err != nil {
			t.Fatalf("GET #%d through the port-forward (%s): %v", i+1, how, err)
		}
		if !strings.Contains(body, "from-the-configmap") {
			t.Errorf("GET #%d through the port-forward (%s) = %.300s; want the pod's configuration", i+1, how, body)
		}
	}
}

// httpGet GETs u on a connection of its own and returns the body of a 200.
func httpGet(u string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return string(body), nil
}

// portForwardURL is the pods/portforward subresource of pod ns/name.
func portForwardURL(cs kubernetes.Interface, ns, name string) *url.URL {
	return cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(name).SubResource("portforward").URL()
}

// spdyDialer is client-go's SPDY dialer of pod ns/name's portforward subresource.
func spdyDialer(t *testing.T, cfg *rest.Config, cs kubernetes.Interface, ns, name string) httpstream.Dialer {
	t.Helper()
	return dialerFor(t, cfg, portForwardURL(cs, ns, name).String())
}

// dialerFor is client-go's SPDY dialer of u with cfg's credentials and TLS.
func dialerFor(t *testing.T, cfg *rest.Config, u string) httpstream.Dialer {
	t.Helper()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatalf("SPDY round tripper: %v", err)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, parsed)
}

// kubectlDialer is the dialer kubectl port-forward makes (k8s.io/kubectl
// pkg/cmd/portforward/portforward.go, createDialer): SPDY over websockets first, SPDY when
// the upgrade fails; fellBack hears of the failure that made it fall back.
func kubectlDialer(t *testing.T, cfg *rest.Config, cs kubernetes.Interface, ns, name string, fellBack func(error)) streamhttp.Dialer {
	t.Helper()
	u := portForwardURL(cs, ns, name)
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatalf("SPDY round tripper: %v", err)
	}
	fallback := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	tunnel, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, cfg)
	if err != nil {
		t.Fatalf("websocket dialer: %v", err)
	}
	return portforward.NewFallbackDialerForStreaming(tunnel, fallback, func(err error) bool {
		should := streamhttp.IsUpgradeFailure(err) || streamhttp.IsHTTPSProxyError(err)
		if should {
			fellBack(err)
		}
		return should
	})
}

// forwardError opens one forwarded connection to port by hand, as tools/portforward does
// (an error stream and a data stream of one request ID), and returns what the other end
// wrote on the error stream before closing it.
func forwardError(t *testing.T, d httpstream.Dialer, port int) string {
	t.Helper()
	conn, proto, err := d.Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		t.Fatalf("upgrade to port-forward: %v", err)
	}
	defer conn.Close()
	if proto != portforward.PortForwardProtocolV1Name {
		t.Fatalf("negotiated protocol %q, want %q", proto, portforward.PortForwardProtocolV1Name)
	}
	// Nothing in the test is allowed to hang: end the connection after a minute.
	timer := time.AfterFunc(time.Minute, func() { _ = conn.Close() })
	defer timer.Stop()
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(port))
	h.Set(corev1.PortForwardRequestIDHeader, "0")
	errStream, err := conn.CreateStream(h)
	if err != nil {
		t.Fatalf("create the error stream: %v", err)
	}
	_ = errStream.Close() // nothing to write on it
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(h)
	if err != nil {
		t.Fatalf("create the data stream: %v", err)
	}
	defer data.Close()
	msg, err := io.ReadAll(errStream)
	if err != nil && len(msg) == 0 {
		t.Fatalf("read the error stream: %v", err)
	}
	return string(msg)
}
