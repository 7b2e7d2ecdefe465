package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TaskManagerConfig configures an in-process TaskManager.
type TaskManagerConfig struct {
	// JobManagerRPC is the host:port to dial; empty means
	// jobmanager.rpc.address:jobmanager.rpc.port from Config (default port 6123). The
	// JobManager accepts the TaskManager only if jobmanager.rpc.address in Config (when
	// set, else the host of JobManagerRPC) names it as its own jobmanager.rpc.address does.
	JobManagerRPC string
	// ResourceID is the TaskManager's ID; empty means taskmanager.resource-id, else
	// "<host>:<port>-<6 hex>" as Flink makes it.
	ResourceID string
	// Slots offered; 0 means taskmanager.numberOfTaskSlots (default 1).
	Slots int
	// HeartbeatInterval; 0 means heartbeat.interval (default 10 s).
	HeartbeatInterval time.Duration
	// Config is the TaskManager's effective Flink configuration. It must size the memory
	// as Flink requires (taskmanager.memory.process.size, say), or Start fails as Flink does.
	Config map[string]string
	// Log receives Log4j-formatted lines; nil discards them.
	Log io.Writer
	// Levels filters the log; nil means root INFO.
	Levels *Levels
	// ListenAddr is the TaskManager's own RPC listener; empty means "127.0.0.1:0".
	ListenAddr string
	// Version is the Flink version ("1.20"; empty = DefaultVersion).
	Version string
	// Logger, when not nil, is used instead of a new one from Log and Levels.
	Logger *Log
}

// TaskManager is an in-process Flink TaskManager: it registers with the JobManager (retrying
// as Flink does), offers slots and heartbeats until closed.
type TaskManager struct {
	id         string
	target     string // the ResourceManager address, for logs and the JobManager's check
	dialAddr   string
	version    Version
	log        *Log
	req        registerRequest
	slots      int
	hbInterval time.Duration
	hbTimeout  time.Duration
	errorDelay time.Duration
	regTimeout time.Duration
	client     *http.Client
	scheme     string // of the JobManager's RPC port: https with internal TLS
	ln         net.Listener
	srv        *http.Server
	cancel     context.CancelFunc
	killed     atomic.Bool
	done       chan struct{}
	wg         sync.WaitGroup
	mu         sync.Mutex
	fatal      error
	registered bool
}

// StartTaskManager starts a TaskManager that registers with the JobManager in the
// background. It fails as Flink's TaskManagerRunner does on a configuration Flink rejects.
func StartTaskManager(ctx context.Context, cfg TaskManagerConfig) (*TaskManager, error) {
	v, ok := ParseVersion(cfg.Version)
	if !ok && cfg.Version != "" {
		return nil, fmt.Errorf("parse version %q: not major.minor", cfg.Version)
	}
	c := cfg.Config
	if c == nil {
		c = map[string]string{}
	}
	mem, err := DeriveTaskManagerMemory(c)
	if err != nil {
		return nil, fmt.Errorf("derive taskmanager memory: %w", err)
	}
	slots := cfg.Slots
	if slots == 0 {
		if slots, err = intConf(c, "taskmanager.numberOfTaskSlots", 1); err != nil {
			return nil, errIllegalConfig{err.Error()}
		}
	}
	if slots <= 0 {
		return nil, errIllegalConfig{fmt.Sprintf("Invalid configuration value for 'taskmanager.numberOfTaskSlots': %d. numberOfTaskSlots must be at least one.", slots)}
	}
	dial := cfg.JobManagerRPC
	jmHost := strings.TrimSpace(c["jobmanager.rpc.address"])
	jmPort, err := intConf(c, "jobmanager.rpc.port", 6123)
	if err != nil {
		return nil, errIllegalConfig{err.Error()}
	}
	if dial == "" {
		if jmHost == "" {
			return nil, errIllegalConfig{"Missing configuration value for 'jobmanager.rpc.address'."}
		}
		dial = net.JoinHostPort(jmHost, strconv.Itoa(jmPort))
	} else {
		h, p, err := net.SplitHostPort(dial)
		if err != nil {
			return nil, fmt.Errorf("parse jobmanager rpc address %q: %w", dial, err)
		}
		if jmHost == "" {
			jmHost = h
		}
		if jmPort, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("parse jobmanager rpc port %q: %w", p, err)
		}
	}
	internal, err := loadInternalTLS(c)
	if err != nil {
		return nil, err
	}
	listen := cfg.ListenAddr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen for taskmanager rpc on %s: %w", listen, err)
	}
	host := advertisedHost(c, ln.Addr())
	port := ln.Addr().(*net.TCPAddr).Port
	id := cfg.ResourceID
	if id == "" {
		id = strings.TrimSpace(c["taskmanager.resource-id"])
	}
	if id == "" {
		id = fmt.Sprintf("%s:%d-%s", host, port, newID(3))
	}
	hb := cfg.HeartbeatInterval
	if hb <= 0 {
		hb = durationConf(c, "heartbeat.interval", 10*time.Second)
	}
	cpu := float64(slots)
	if s, ok := c["taskmanager.cpu.cores"]; ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && f > 0 {
			cpu = f
		}
	}
	dataPort, _ := intConf(c, "taskmanager.data.port", 0)
	if dataPort == 0 {
		dataPort = port + 1
	}
	log := cfg.Logger
	if log == nil {
		log = NewLog(cfg.Log, cfg.Levels)
	}
	t := &TaskManager{
		id:         id,
		target:     rpcAddress(v, jmHost, jmPort, "resourcemanager_*"),
		dialAddr:   dial,
		version:    v,
		log:        log,
		hbInterval: hb,
		hbTimeout:  durationConf(c, "heartbeat.timeout", 50*time.Second),
		errorDelay: durationConf(c, "cluster.registration.error-delay", 10*time.Second),
		regTimeout: durationConf(c, "taskmanager.registration.timeout", 5*time.Minute),
		client:     &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		scheme:     "http",
		ln:         ln,
		done:       make(chan struct{}),
		slots:      slots,
	}
	if internal != nil {
		t.client.Transport.(*http.Transport).TLSClientConfig = internal.client
		t.scheme = "https"
		t.ln = &tlsListener{Listener: ln, cfg: internal.server}
	}
	t.req = registerRequest{
		ResourceID: id,
		Target:     t.target,
		Address:    rpcAddress(v, host, port, "taskmanager_0"),
		Host:       host,
		DataPort:   dataPort,
		JMXPort:    -1,
		CPUCores:   cpu,
		Hardware: hardwareInfo{
			CPUCores:       runtime.NumCPU(),
			PhysicalMemory: physicalMemory(),
			FreeMemory:     mem.FrameworkHeap + mem.TaskHeap,
			ManagedMemory:  mem.ManagedMemory,
		},
		Memory: mem,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "flink-sim taskmanager "+id+"\n")
	})
	t.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	runCtx, cancel := context.WithCancel(ctx)
	t.cancel = cancel
	t.wg.Add(2)
	go func() {
		defer t.wg.Done()
		_ = t.srv.Serve(t.ln)
	}()
	go func() {
		defer t.wg.Done()
		t.run(runCtx)
	}()
	lg := t.log.Logger(logTM)
	lg.Infof("Starting RPC endpoint for %s at %s .", logTM, t.req.Address)
	lg.Infof("Connecting to ResourceManager %s.", t.target)
	return t, nil
}

// advertisedHost is the address a TaskManager gives the JobManager: taskmanager.host, the
// listener's address, or the first non-loopback interface address.
func advertisedHost(c map[string]string, a net.Addr) string {
	if h := strings.TrimSpace(c["taskmanager.host"]); h != "" {
		return h
	}
	if ta, ok := a.(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
		return ta.IP.String()
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "localhost"
}

func physicalMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			n, _ := strconv.ParseInt(fields[1], 10, 64)
			return n * kib
		}
	}
	return 0
}

// ResourceID is the TaskManager's resource ID, as /taskmanagers reports it.
func (t *TaskManager) ResourceID() string { return t.id }

// Registered reports whether the TaskManager is registered with the JobManager now.
func (t *TaskManager) Registered() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.registered
}

// Done is closed when the TaskManager has stopped: Close, Kill, its context, or a fatal
// error (see Err).
func (t *TaskManager) Done() <-chan struct{} { return t.done }

// Err is the fatal error that stopped the TaskManager (it could not register within
// taskmanager.registration.timeout), or nil.
func (t *TaskManager) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fatal
}

// Close stops the TaskManager gracefully: it deregisters from the JobManager at once, as
// Flink's TaskExecutor does when it shuts down.
func (t *TaskManager) Close() error {
	t.cancel()
	t.wait()
	return nil
}

// Kill stops the TaskManager abruptly: it stops heartbeating without deregistering, so the
// JobManager drops it only after heartbeat.timeout.
func (t *TaskManager) Kill() {
	t.killed.Store(true)
	t.cancel()
	t.wait()
}

func (t *TaskManager) wait() {
	<-t.done
	_ = t.srv.Close()
	t.wg.Wait()
	t.client.CloseIdleConnections()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

func (t *TaskManager) url(path string) string { return t.scheme + "://" + t.dialAddr + path }

func (t *TaskManager) setRegistered(reg string) {
	t.mu.Lock()
	t.registered = reg != ""
	t.mu.Unlock()
}

func (t *TaskManager) run(ctx context.Context) {
	defer close(t.done)
	lg := t.log.Logger(logTM)
	var reg *registerResponse
	// inFlight is set while the outcome of the last registration is unknown (its answer
	// was cut off by shutdown): the JobManager may have registered it.
	inFlight := false
	lastAck := time.Time{}
	unregisteredSince := time.Now()
	for ctx.Err() == nil {
		if reg == nil {
			if time.Since(unregisteredSince) >= t.regTimeout {
				msg := fmt.Sprintf("Could not register at the ResourceManager within the specified maximum registration duration %d ms. This indicates a problem with this instance. Terminating now.", t.regTimeout.Milliseconds())
				t.log.Logger(logTMRunner).Errorf("Fatal error occurred while executing the TaskManager. Shutting it down...\norg.apache.flink.runtime.taskexecutor.exceptions.RegistrationTimeoutException: %s", msg)
				t.mu.Lock()
				t.fatal = errors.New(msg)
				t.mu.Unlock()
				return
			}
			inFlight = true
			resp, err := t.register(ctx)
			if ctx.Err() != nil {
				break
			}
			inFlight = false
			if err == nil {
				reg = resp
				lastAck = time.Now()
				t.setRegistered(resp.RegistrationID)
				lg.Infof("Successful registration at resource manager %s under registration id %s.", t.target, resp.RegistrationID)
				if !t.reportSlots(ctx, resp.RegistrationID) {
					if ctx.Err() != nil {
						break
					}
					reg, unregisteredSince = nil, time.Now()
					t.setRegistered("")
				}
				continue
			}
			t.log.Logger(logRetrying).Infof("Could not resolve ResourceManager address %s, retrying in %d ms: %s", t.target, t.errorDelay.Milliseconds(), err)
			if !sleepCtx(ctx, t.errorDelay) {
				break
			}
			continue
		}
		if !sleepCtx(ctx, t.hbInterval) {
			break
		}
		err := t.heartbeat(ctx, reg.RegistrationID)
		if ctx.Err() != nil {
			break
		}
		var se *rpcStatusError
		switch {
		case err == nil:
			lastAck = time.Now()
			lg.Debugf("Sent heartbeat to ResourceManager %s.", t.target)
		case errors.As(err, &se) && se.code == http.StatusNotFound:
			lg.Infof("Closing ResourceManager connection %s.", reg.ResourceManagerID)
			reg, unregisteredSince = nil, time.Now()
			t.setRegistered("")
		case time.Since(lastAck) >= t.hbTimeout:
			lg.Infof("The heartbeat of ResourceManager with id %s timed out.", reg.ResourceManagerID)
			lg.Infof("Close ResourceManager connection %s.", reg.ResourceManagerID)
			reg, unregisteredSince = nil, time.Now()
			t.setRegistered("")
		default:
			lg.Debugf("Heartbeat to ResourceManager %s failed: %v", t.target, err)
		}
	}
	if (reg != nil || inFlight) && !t.killed.Load() {
		regID := "" // any registration of this resource ID
		if reg != nil {
			regID = reg.RegistrationID
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		err := postJSON(dctx, t.client, t.url(rpcDeregister), deregisterRequest{
			ResourceID: t.id, RegistrationID: regID, Cause: "The TaskExecutor is shutting down.",
		}, nil)
		cancel()
		if err != nil {
			lg.Warnf("Could not disconnect from ResourceManager %s: %v", t.target, err)
		}
	}
	t.setRegistered("")
	lg.Infof("Stopped TaskExecutor %s.", t.req.Address)
}

// errUnreachable is why a registration attempt failed, in Flink's words.
type errUnreachable struct{ target, detail string }

func (e errUnreachable) Error() string {
	return "Could not connect to rpc endpoint under address " + e.target + "." + e.detail
}

func (t *TaskManager) register(ctx context.Context) (*registerResponse, error) {
	unreachable := errUnreachable{target: t.target}
	if host := targetHost(t.target); !validPekkoHost(host) {
		unreachable.detail = fmt.Sprintf(" (java.net.MalformedURLException: invalid host name %q)", host)
		return nil, unreachable
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var resp registerResponse
	if err := postJSON(rctx, t.client, t.url(rpcRegister), t.req, &resp); err != nil {
		return nil, unreachable
	}
	return &resp, nil
}

// slotReportGap is how long after its registration a TaskManager's slots reach the
// JobManager. On real Flink it is one more RPC and a turn of the ResourceManager's main
// thread, milliseconds to a few hundred of them on a loaded machine (the real 1.20 image
// was seen counting 2 TaskManagers with 1 slot); the stand-in makes it long enough that a
// client which reads the TaskManager count as "the slots are there" is seen to be wrong.
const slotReportGap = 300 * time.Millisecond

// reportSlots offers the TaskManager's slots to the ResourceManager it registered with
// (TaskExecutor.establishResourceManagerConnection sends the slot report once the
// registration succeeded); false when the JobManager refused it or did not answer.
func (t *TaskManager) reportSlots(ctx context.Context, regID string) bool {
	if !sleepCtx(ctx, slotReportGap) {
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, max(t.hbInterval, time.Second))
	defer cancel()
	err := postJSON(rctx, t.client, t.url(rpcSlotReport), slotReportRequest{ResourceID: t.id, RegistrationID: regID, Slots: t.slots}, nil)
	if err != nil {
		t.log.Logger(logTM).Infof("Failed to send initial slot report to ResourceManager. %v", err)
		return false
	}
	return true
}

func (t *TaskManager) heartbeat(ctx context.Context, regID string) error {
	hctx, cancel := context.WithTimeout(ctx, max(t.hbInterval, time.Second))
	defer cancel()
	return postJSON(hctx, t.client, t.url(rpcHeartbeat), heartbeatRequest{ResourceID: t.id, RegistrationID: regID}, nil)
}
