// Package client is a typed client for flinkd's HTTP API on its unix socket (the shape of
// tailscale's LocalAPI client): the zero value is usable, the socket comes from the field or
// the environment, and the transport is injectable.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/paths"
)

// Client talks to flinkd.
type Client struct {
	// Socket is the unix socket path; "" means paths.Socket() ($FLINKD_SOCKET or the default).
	Socket string
	// Transport replaces the unix-socket transport (tests).
	Transport http.RoundTripper
}

// host is a fake host name: requests go to the socket whatever the URL says.
const host = "flinkd.sock"

// NotRunningError means nothing answers on the socket.
type NotRunningError struct {
	Socket string
	Err    error
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("flinkd is not running (no answer on %s); start it with `make run` or `flinkd --specs DIR`", e.Socket)
}
func (e *NotRunningError) Unwrap() error { return e.Err }

// APIError is a non-2xx answer of the daemon.
type APIError struct {
	Code    int
	Message string
	Jobs    []api.Job // the running jobs that made a stop be refused (409)
}

func (e *APIError) Error() string { return e.Message }

// IsNotFound reports whether err is a 404 of the daemon (no such cluster).
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == http.StatusNotFound
}

// IsRefused reports whether err is a refusal (409): a stop while jobs run.
func IsRefused(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == http.StatusConflict
}

func (c *Client) socket() string {
	if c.Socket != "" {
		return c.Socket
	}
	return paths.Socket()
}

func (c *Client) http() *http.Client {
	if c.Transport != nil {
		return &http.Client{Transport: c.Transport}
	}
	sock := c.socket()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		DisableCompression: true,
	}}
}

func clusterPath(p, ns, name string) string {
	r := strings.NewReplacer("{ns}", url.PathEscape(ns), "{name}", url.PathEscape(name))
	return r.Replace(p)
}

// do sends a request and returns the response of a 2xx answer (the caller closes its body).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := "http://" + host + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		if isDialError(err) {
			return nil, &NotRunningError{Socket: c.socket(), Err: err}
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e api.Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		return nil, &APIError{Code: resp.StatusCode, Message: e.Error, Jobs: e.Jobs}
	}
	return resp, nil
}

func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

func (c *Client) getJSON(ctx context.Context, path string, query url.Values, out any) (http.Header, error) {
	resp, err := c.do(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return nil, fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	return resp.Header, nil
}

// Clusters lists every cluster and every spec file that declares none, with the state
// version to pass to WatchClusters.
func (c *Client) Clusters(ctx context.Context) ([]api.ClusterStatus, uint64, error) {
	return c.clusters(ctx, nil)
}

// WatchClusters waits until the state changes past version (or the daemon's long-poll
// timeout passes) and returns the clusters then.
func (c *Client) WatchClusters(ctx context.Context, version uint64) ([]api.ClusterStatus, uint64, error) {
	return c.clusters(ctx, url.Values{"watch": {strconv.FormatUint(version, 10)}})
}

func (c *Client) clusters(ctx context.Context, q url.Values) ([]api.ClusterStatus, uint64, error) {
	var out []api.ClusterStatus
	h, err := c.getJSON(ctx, api.PathClusters, q, &out)
	if err != nil {
		return nil, 0, err
	}
	v, _ := strconv.ParseUint(h.Get(api.HeaderVersion), 10, 64)
	return out, v, nil
}

// Cluster returns one cluster.
func (c *Client) Cluster(ctx context.Context, ns, name string) (api.ClusterStatus, error) {
	var out api.ClusterStatus
	_, err := c.getJSON(ctx, clusterPath(api.PathCluster, ns, name), nil, &out)
	return out, err
}

// Events returns the last limit events of a cluster (all kept when limit <= 0).
func (c *Client) Events(ctx context.Context, ns, name string, limit int) ([]api.Event, error) {
	var out []api.Event
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	_, err := c.getJSON(ctx, clusterPath(api.PathEvents, ns, name), q, &out)
	return out, err
}

func (c *Client) post(ctx context.Context, path string, body, out any) error {
	resp, err := c.do(ctx, http.MethodPost, path, nil, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("POST %s: decode answer: %w", path, err)
	}
	return nil
}

// Stop sets spec.state: STOPPED in the cluster's file. Without force it is refused (an
// APIError with Code 409 listing the jobs) while jobs run; with force the jobs are cancelled first.
func (c *Client) Stop(ctx context.Context, ns, name string, force bool) (api.StateChange, error) {
	var out api.StateChange
	err := c.post(ctx, clusterPath(api.PathStop, ns, name), api.StopRequest{Force: force}, &out)
	return out, err
}

// Start sets spec.state: RUNNING in the cluster's file.
func (c *Client) Start(ctx context.Context, ns, name string) (api.StateChange, error) {
	var out api.StateChange
	err := c.post(ctx, clusterPath(api.PathStart, ns, name), struct{}{}, &out)
	return out, err
}

// Logs streams an instance's logs ("jobmanager", "taskmanager-N"); tail 0 means all.
func (c *Client) Logs(ctx context.Context, ns, name, instance string, follow bool, tail int) (io.ReadCloser, error) {
	q := url.Values{"instance": {instance}}
	if follow {
		q.Set("follow", "1")
	}
	if tail > 0 {
		q.Set("tail", strconv.Itoa(tail))
	}
	resp, err := c.do(ctx, http.MethodGet, clusterPath(api.PathLogs, ns, name), q, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Targets lists the daemon's deployment targets and whether each answers.
func (c *Client) Targets(ctx context.Context) ([]api.Target, error) {
	var out []api.Target
	_, err := c.getJSON(ctx, api.PathTargets, nil, &out)
	return out, err
}

// Others lists the clusters on the daemon's targets that other flinkd identities own.
func (c *Client) Others(ctx context.Context) (api.Others, error) {
	var out api.Others
	_, err := c.getJSON(ctx, api.PathOthers, nil, &out)
	return out, err
}

// Version describes the daemon.
func (c *Client) Version(ctx context.Context) (api.Version, error) {
	var out api.Version
	_, err := c.getJSON(ctx, api.PathVersion, nil, &out)
	return out, err
}

// Certs returns a secure cluster's client certificate and authority (flinkctl certs).
func (c *Client) Certs(ctx context.Context, ns, name string) (api.Certs, error) {
	var out api.Certs
	_, err := c.getJSON(ctx, clusterPath(api.PathCerts, ns, name), nil, &out)
	return out, err
}
