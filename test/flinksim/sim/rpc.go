package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// The JobManager's RPC port speaks a small HTTP/JSON protocol of this package's own (Flink's
// is Pekko remoting): a TaskManager registers, reports its slots, heartbeats and deregisters. What the
// protocol keeps from Flink is what a deployment can get wrong: the address a TaskManager
// uses must name the JobManager exactly as the JobManager's own jobmanager.rpc.address does
// (Pekko drops messages for any other host name, even one that resolves to the same IP),
// and a host name Pekko cannot parse (one with '_', like a Compose v1 container name) can
// never be reached.
const (
	rpcRegister   = "/rpc/resourcemanager/registerTaskExecutor"
	rpcSlotReport = "/rpc/resourcemanager/sendSlotReport"
	rpcHeartbeat  = "/rpc/resourcemanager/heartbeatFromTaskManager"
	rpcDeregister = "/rpc/resourcemanager/disconnectTaskManager"
)

type hardwareInfo struct {
	CPUCores       int   `json:"cpuCores"`
	PhysicalMemory int64 `json:"physicalMemory"`
	FreeMemory     int64 `json:"freeMemory"`
	ManagedMemory  int64 `json:"managedMemory"`
}

type registerRequest struct {
	ResourceID string `json:"resourceId"`
	// Target is the ResourceManager address the TaskManager believes it talks to:
	// pekko.tcp://flink@<jobmanager.rpc.address>:<port>/user/rpc/resourcemanager_*.
	Target string `json:"target"`
	// Address is the TaskManager's own RPC address (the "path" of /taskmanagers).
	Address  string            `json:"address"`
	Host     string            `json:"host"`
	DataPort int               `json:"dataPort"`
	JMXPort  int               `json:"jmxPort"`
	CPUCores float64           `json:"cpuCores"`
	Hardware hardwareInfo      `json:"hardware"`
	Memory   TaskManagerMemory `json:"memory"`
}

type registerResponse struct {
	RegistrationID    string `json:"registrationId"`
	ResourceManagerID string `json:"resourceManagerId"`
}

// slotReportRequest offers a registered TaskManager's slots: Flink's TaskExecutor sends
// its slot report in a second RPC once its registration succeeded
// (TaskExecutor.establishResourceManagerConnection: resourceManagerGateway.sendSlotReport),
// and the ResourceManager's slot manager counts the slots only then; until then the
// TaskManager is registered with none.
type slotReportRequest struct {
	ResourceID     string `json:"resourceId"`
	RegistrationID string `json:"registrationId"`
	Slots          int    `json:"slots"`
}

type heartbeatRequest struct {
	ResourceID     string `json:"resourceId"`
	RegistrationID string `json:"registrationId"`
}

type deregisterRequest struct {
	ResourceID     string `json:"resourceId"`
	RegistrationID string `json:"registrationId"`
	Cause          string `json:"cause"`
}

// statusMisdirected answers a message whose target host is not the JobManager's own
// address: Pekko would drop it silently; the TaskManager treats it as no answer.
const statusMisdirected = http.StatusMisdirectedRequest

// rpcAddress renders a Pekko (Flink 1.18 on) or Akka (before) RPC address.
func rpcAddress(v Version, host string, port int, path string) string {
	scheme := "pekko.tcp"
	if !v.AtLeast(1, 18) {
		scheme = "akka.tcp"
	}
	return fmt.Sprintf("%s://flink@%s:%d/user/rpc/%s", scheme, host, port, path)
}

// validPekkoHost reports whether Pekko's AddressFromURIString accepts host: letters,
// digits, '-' and '.', or an IP literal.
func validPekkoHost(host string) bool {
	if host == "" {
		return false
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return true
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// targetHost returns the host part of a Pekko address.
func targetHost(addr string) string {
	_, rest, ok := strings.Cut(addr, "@")
	if !ok {
		return ""
	}
	hostport, _, _ := strings.Cut(rest, "/")
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return host
}

// postJSON posts in as JSON to url and decodes a 200 answer into out. Any other status is
// returned as an *rpcStatusError.
func postJSON(ctx context.Context, client *http.Client, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return &rpcStatusError{code: resp.StatusCode, body: strings.TrimSpace(string(data))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

type rpcStatusError struct {
	code int
	body string
}

func (e *rpcStatusError) Error() string { return "status " + strconv.Itoa(e.code) + ": " + e.body }

// newID returns n random bytes as lowercase hex (Flink's AbstractID is 16 bytes: 32 hex).
func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
