package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// JobManagerConfig configures an in-process JobManager.
type JobManagerConfig struct {
	// Config is the effective Flink configuration (what /jobmanager/config reports). The
	// ports in it are not used to listen: RPCAddr and RESTAddr are.
	Config map[string]string
	// RPCAddr is where TaskManagers register, e.g. "127.0.0.1:0".
	RPCAddr string
	// RESTAddr is where the REST API listens, e.g. "127.0.0.1:0".
	RESTAddr string
	// BlobAddr, when set, is where the BLOB server listens; the port it gets replaces
	// blob.server.port in the configuration, as in Flink (the entrypoint sets it from
	// jobmanager.bind-host and blob.server.port).
	BlobAddr string
	// Log receives Log4j-formatted lines; nil discards them.
	Log io.Writer
	// Levels filters the log; nil means root INFO.
	Levels *Levels
	// Version is the Flink version reported by the REST API ("1.20"; empty = DefaultVersion).
	Version string
	// Logger, when not nil, is used instead of a new one from Log and Levels (the
	// entrypoint shares its logger so that Log4j reloads apply).
	Logger *Log
	// JavaVersion is the feature version of the JVM the JobManager pretends to run on (the
	// image's, see JavaMajor); 0 means Java 11. From 17 on, JVMOptions must open
	// java.base/java.util (OpensJavaUtil), or running a jar fails as on a real Java 17
	// JobManager (see postJarRun).
	JavaVersion int
	// JVMOptions are the options on the JobManager's java command line.
	JVMOptions []string
}

// Timings of the emulated asynchronous operations.
const (
	cancelDuration    = 100 * time.Millisecond
	savepointDuration = 200 * time.Millisecond
	shutdownTimeout   = 5 * time.Second
)

// Logger names, as Flink's classes.
const (
	logRM          = "org.apache.flink.runtime.resourcemanager.StandaloneResourceManager"
	logDispatcher  = "org.apache.flink.runtime.dispatcher.StandaloneDispatcher"
	logEG          = "org.apache.flink.runtime.executiongraph.ExecutionGraph"
	logRest        = "org.apache.flink.runtime.dispatcher.DispatcherRestEndpoint"
	logEntrypoint  = "org.apache.flink.runtime.entrypoint.ClusterEntrypoint"
	logCheckpoint  = "org.apache.flink.runtime.checkpoint.CheckpointCoordinator"
	logSlotPool    = "org.apache.flink.runtime.jobmaster.slotpool.DeclarativeSlotPoolBridge"
	logSlotManager = "org.apache.flink.runtime.resourcemanager.slotmanager.FineGrainedSlotManager"
	logJobMaster   = "org.apache.flink.runtime.jobmaster.JobMaster"
	logTM          = "org.apache.flink.runtime.taskexecutor.TaskExecutor"
	logTMRunner    = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"
	logRetrying    = "org.apache.flink.runtime.registration.RetryingRegistration"
	logGlobalConf  = "org.apache.flink.configuration.GlobalConfiguration"
)

// JobManager is an in-process Flink session JobManager: a ResourceManager that TaskManagers
// register with, a dispatcher that runs pretend jobs on their slots, and the REST API.
type JobManager struct {
	cfg          JobManagerConfig
	version      Version
	log          *Log
	effective    map[string]string
	externalHost string // jobmanager.rpc.address: the only host name TaskManagers may use
	hbTimeout    time.Duration
	restart      restartPolicy
	webTmp       string
	uploadDir    string
	webSubmit    bool
	webCancel    bool
	// utilClosed: Java 17+ without java.util opened; clinitFailed: a jar run has already
	// failed the class initialisation it needs (see postJarRun).
	utilClosed   bool
	clinitFailed bool
	rmID         string
	rpcLn        net.Listener
	restLn       net.Listener
	blobLn       net.Listener
	rpcSrv       *http.Server
	restSrv      *http.Server
	restTLS      bool // https (security.ssl.rest.enabled)
	routeTable   []route

	mu       sync.Mutex
	tms      map[string]*tmEntry
	jobs     map[string]*job
	jobOrder []string
	jars     map[string]*jarFile
	jarOrder []string
	triggers map[string]*trigger // by job ID + "/" + trigger ID

	wake     chan struct{}
	shutdown chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
	wg       sync.WaitGroup
}

type tmEntry struct {
	id, regID, path, host string
	dataPort, jmxPort     int
	slots                 int
	cpuCores              float64
	hw                    hardwareInfo
	mem                   TaskManagerMemory
	lastHeartbeat         time.Time
	// heartbeatAt is when the last heartbeat came in (zero: none yet since registration);
	// /taskmanagers reports it as the epoch millis of HeartbeatMonitor.getLastHeartbeat,
	// which is 0 until the first one (seen on flink-dist 1.20.5 and 2.2.1 right after a
	// TaskManager registered).
	heartbeatAt time.Time
	alloc       map[string]int // job ID → slots
}

func (t *tmEntry) used() int {
	n := 0
	for _, c := range t.alloc {
		n += c
	}
	return n
}

// restartPolicy is the job's restart strategy as RestartBackoffTimeStrategyFactoryLoader
// picks it (flink-runtime; RestartStrategyOptions of 1.20 and 2.2): restart-strategy.type
// (deprecated key restart-strategy); unset, "none" when checkpointing is disabled and
// exponential-delay when execution.checkpointing.interval is set. fixed-delay gives up after
// restart-strategy.fixed-delay.attempts (default 1) restarts, failure-rate after more than
// max-failures-per-interval (default 1) failures in failure-rate-interval (1 min);
// exponential-delay backs off from initial-backoff (1 s) by backoff-multiplier (1.5) to
// max-backoff (1 min) and never gives up.
type restartPolicy struct {
	kind       string // none | fixed-delay | failure-rate | exponential-delay
	delay      time.Duration
	attempts   int
	interval   time.Duration
	maxBackoff time.Duration
	multiplier float64
}

func restartPolicyOf(c map[string]string) restartPolicy {
	typ := c["restart-strategy.type"]
	if typ == "" {
		typ = c["restart-strategy"]
	}
	typ = strings.ToLower(strings.TrimSpace(typ))
	if typ == "" {
		typ = "none"
		if d, err := ParseDuration(c["execution.checkpointing.interval"]); err == nil && d > 0 {
			typ = "exponential-delay"
		}
	}
	dur := func(key string, def time.Duration) time.Duration {
		if d, err := ParseDuration(c[key]); err == nil {
			return d
		}
		return def
	}
	num := func(key string, def int) int {
		if n, err := strconv.Atoi(strings.TrimSpace(c[key])); err == nil {
			return n
		}
		return def
	}
	switch typ {
	case "fixed-delay", "fixeddelay":
		return restartPolicy{kind: "fixed-delay", delay: dur("restart-strategy.fixed-delay.delay", time.Second),
			attempts: num("restart-strategy.fixed-delay.attempts", 1)}
	case "failure-rate", "failurerate":
		return restartPolicy{kind: "failure-rate", delay: dur("restart-strategy.failure-rate.delay", time.Second),
			attempts: num("restart-strategy.failure-rate.max-failures-per-interval", 1),
			interval: dur("restart-strategy.failure-rate.failure-rate-interval", time.Minute)}
	case "exponential-delay", "exponentialdelay":
		m := 1.5
		if f, err := strconv.ParseFloat(strings.TrimSpace(c["restart-strategy.exponential-delay.backoff-multiplier"]), 64); err == nil {
			m = f
		}
		return restartPolicy{kind: "exponential-delay", delay: dur("restart-strategy.exponential-delay.initial-backoff", time.Second),
			maxBackoff: dur("restart-strategy.exponential-delay.max-backoff", time.Minute), multiplier: m}
	}
	return restartPolicy{kind: "none"}
}

// next says whether a job that has failed (failures, oldest first, the last one now) may
// restart, and after how long.
func (p restartPolicy) next(failures []time.Time) (time.Duration, bool) {
	n := len(failures)
	switch p.kind {
	case "fixed-delay":
		return p.delay, n <= p.attempts
	case "failure-rate":
		recent := 0
		for _, t := range failures {
			if !t.Before(failures[n-1].Add(-p.interval)) {
				recent++
			}
		}
		return p.delay, recent <= p.attempts
	case "exponential-delay":
		d := float64(p.delay)
		for i := 1; i < n; i++ {
			d *= p.multiplier
		}
		return min(time.Duration(d), p.maxBackoff), true
	}
	return 0, false
}

// StartJobManager starts a JobManager listening on cfg.RPCAddr and cfg.RESTAddr. It runs
// until Close, until ctx ends, or until DELETE /cluster.
func StartJobManager(ctx context.Context, cfg JobManagerConfig) (*JobManager, error) {
	v, ok := ParseVersion(cfg.Version)
	if !ok && cfg.Version != "" {
		return nil, fmt.Errorf("parse version %q: not major.minor", cfg.Version)
	}
	log := cfg.Logger
	if log == nil {
		log = NewLog(cfg.Log, cfg.Levels)
	}
	eff := maps.Clone(cfg.Config)
	if eff == nil {
		eff = map[string]string{}
	}
	j := &JobManager{
		cfg:          cfg,
		version:      v,
		log:          log,
		externalHost: strings.TrimSpace(eff["jobmanager.rpc.address"]),
		hbTimeout:    durationConf(eff, "heartbeat.timeout", 50*time.Second),
		restart:      restartPolicyOf(eff),
		webSubmit:    boolConf(eff, "web.submit.enable", true),
		webCancel:    boolConf(eff, "web.cancel.enable", true),
		utilClosed:   cfg.JavaVersion >= 17 && !OpensJavaUtil(cfg.JVMOptions),
		rmID:         newID(16),
		tms:          map[string]*tmEntry{},
		jobs:         map[string]*job{},
		jars:         map[string]*jarFile{},
		triggers:     map[string]*trigger{},
		wake:         make(chan struct{}, 1),
		shutdown:     make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
	if _, ok := eff["web.tmpdir"]; !ok {
		eff["web.tmpdir"] = "/tmp/flink-web-" + newUUID()
	}
	j.webTmp = eff["web.tmpdir"]
	j.uploadDir = eff["web.upload.dir"]
	if j.uploadDir == "" {
		j.uploadDir = j.webTmp + "/flink-web-upload"
	}
	j.effective = eff
	j.routeTable = j.routes()

	// The SSL contexts are built before anything listens: a keystore Flink cannot read stops
	// the start (tls.go).
	internal, err := loadInternalTLS(eff)
	if err != nil {
		return nil, err
	}
	restTLS, err := loadRESTTLS(eff)
	if err != nil {
		return nil, err
	}
	if j.rpcLn, err = net.Listen("tcp", cfg.RPCAddr); err != nil {
		return nil, fmt.Errorf("listen for rpc on %s: %w", cfg.RPCAddr, err)
	}
	if j.restLn, err = net.Listen("tcp", cfg.RESTAddr); err != nil {
		_ = j.rpcLn.Close()
		return nil, fmt.Errorf("listen for rest on %s: %w", cfg.RESTAddr, err)
	}
	// The BLOB server (flink-runtime BlobServer) and ClusterEntrypoint.initializeServices,
	// which writes the port it got into the configuration, so /jobmanager/config shows it.
	// The stand-in serves no blobs: nothing is read from it.
	if cfg.BlobAddr != "" {
		if j.blobLn, err = net.Listen("tcp", cfg.BlobAddr); err != nil {
			_ = j.rpcLn.Close()
			_ = j.restLn.Close()
			return nil, fmt.Errorf("java.io.IOException: Unable to open BLOB Server in specified port range: %s", eff["blob.server.port"])
		}
		eff["blob.server.port"] = strconv.Itoa(j.blobLn.Addr().(*net.TCPAddr).Port)
	}
	if internal != nil {
		j.rpcLn = &tlsListener{Listener: j.rpcLn, cfg: internal.server, onFail: j.logRefusedConnection}
	}
	if restTLS != nil {
		j.restLn, j.restTLS = &tlsListener{Listener: j.restLn, cfg: restTLS}, true
	}
	rpcMux := http.NewServeMux()
	rpcMux.HandleFunc("POST "+rpcRegister, j.handleRegister)
	rpcMux.HandleFunc("POST "+rpcSlotReport, j.handleSlotReport)
	rpcMux.HandleFunc("POST "+rpcHeartbeat, j.handleHeartbeat)
	rpcMux.HandleFunc("POST "+rpcDeregister, j.handleDeregister)
	j.rpcSrv = &http.Server{Handler: rpcMux, ReadHeaderTimeout: 10 * time.Second}
	j.restSrv = &http.Server{Handler: http.HandlerFunc(j.serveREST), ReadHeaderTimeout: 10 * time.Second}

	runCtx, cancel := context.WithCancel(ctx)
	j.cancel = cancel
	j.wg.Add(3)
	go func() {
		defer j.wg.Done()
		_ = j.rpcSrv.Serve(j.rpcLn)
	}()
	go func() {
		defer j.wg.Done()
		_ = j.restSrv.Serve(j.restLn)
	}()
	go func() {
		defer j.wg.Done()
		j.run(runCtx)
	}()

	rm := j.log.Logger(logRM)
	rm.Infof("Starting the resource manager.")
	rm.Infof("Starting RPC endpoint for %s at %s .", logRM, rpcAddress(v, j.externalHostOr("localhost"), j.rpcPort(), "resourcemanager_0"))
	j.log.Logger(logRest).Infof("Rest endpoint listening at %s", j.restAdvertised())
	j.log.Logger(logRest).Infof("Web frontend listening at %s://%s.", j.restScheme(), j.restAdvertised())
	j.log.Logger(logDispatcher).Infof("Starting RPC endpoint for %s at %s .", logDispatcher, rpcAddress(v, j.externalHostOr("localhost"), j.rpcPort(), "dispatcher_1"))
	return j, nil
}

// restAdvertised is host:port of the REST endpoint as Flink announces it: rest.address
// (falling back to jobmanager.rpc.address) and the bound port.
func (j *JobManager) restAdvertised() string {
	host := strings.TrimSpace(j.effective["rest.address"])
	if host == "" {
		host = j.externalHost
	}
	if host == "" {
		return dialable(j.restLn.Addr())
	}
	return net.JoinHostPort(host, strconv.Itoa(j.restLn.Addr().(*net.TCPAddr).Port))
}

func (j *JobManager) externalHostOr(def string) string {
	if j.externalHost != "" {
		return j.externalHost
	}
	return def
}

func (j *JobManager) rpcPort() int {
	if a, ok := j.rpcLn.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// RESTURL is the base URL of the REST API, e.g. "http://127.0.0.1:8081" ("https://..." with
// security.ssl.rest.enabled).
func (j *JobManager) RESTURL() string { return j.restScheme() + "://" + dialable(j.restLn.Addr()) }

func (j *JobManager) restScheme() string {
	if j.restTLS {
		return "https"
	}
	return "http"
}

// logRefusedConnection logs an internal connection whose TLS handshake failed, as Pekko's
// classic Netty transport does (tls.go).
func (j *JobManager) logRefusedConnection(remote net.Addr, err error) {
	pkg := "org.apache.pekko"
	if !j.version.AtLeast(1, 18) {
		pkg = "akka"
	}
	j.log.Logger(pkg+".remote.transport.netty.NettyTransport").Warnf("Remote connection to [/%s] failed with %s", remote, javaHandshakeError(err))
}

// RPCAddr is the host:port TaskManagers register at.
func (j *JobManager) RPCAddr() string { return dialable(j.rpcLn.Addr()) }

// Done is closed once the JobManager has stopped (Close, its context, or DELETE /cluster).
func (j *JobManager) Done() <-chan struct{} { return j.done }

// Close stops the JobManager and waits for all its goroutines.
func (j *JobManager) Close() error {
	j.cancel()
	<-j.done
	j.wg.Wait()
	if j.blobLn != nil {
		_ = j.blobLn.Close()
	}
	return nil
}

// BlobAddr is where Flink's BlobServer listens for a configuration: jobmanager.bind-host
// (else the wildcard) and the first port of blob.server.port ("6124", "50100-50200"; unset
// or 0: any free port), as NetUtils.getPortRangeFromString yields it first.
func BlobAddr(c map[string]string) string {
	return net.JoinHostPort(strings.TrimSpace(c["jobmanager.bind-host"]), blobPort(c["blob.server.port"]))
}

func blobPort(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return "0"
	}
	first, _, _ := strings.Cut(strings.Split(v, ",")[0], "-")
	return strings.TrimSpace(first)
}

func dialable(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ta.IP == nil || ta.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
	}
	return ta.String()
}

func (j *JobManager) kick() {
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// run drives everything that happens with time: heartbeat expiry, job state changes,
// savepoints. It owns the shutdown of the servers.
func (j *JobManager) run(ctx context.Context) {
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := j.restSrv.Shutdown(sctx); err != nil {
			_ = j.restSrv.Close()
		}
		if err := j.rpcSrv.Shutdown(sctx); err != nil {
			_ = j.rpcSrv.Close()
		}
		close(j.done)
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		j.mu.Lock()
		next := j.step(time.Now())
		j.mu.Unlock()
		timer.Stop()
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-j.shutdown:
			j.log.Logger(logEntrypoint).Infof("Shutting StandaloneSessionClusterEntrypoint down with application status UNKNOWN. Diagnostics Cluster entrypoint has been closed externally..")
			return
		case <-j.wake:
		case <-timer.C:
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// step applies everything due at now and returns when it must run next (zero: on the next
// event only). j.mu is held.
func (j *JobManager) step(now time.Time) time.Time {
	var next time.Time
	for _, id := range slices.Sorted(maps.Keys(j.tms)) {
		tm := j.tms[id]
		expiry := tm.lastHeartbeat.Add(j.hbTimeout)
		if now.Before(expiry) {
			next = earliest(next, expiry)
			continue
		}
		j.log.Logger(logRM).Infof("The heartbeat of TaskManager with id %s timed out.", id)
		j.log.Logger(logRM).Infof("Closing TaskExecutor connection %s because: The heartbeat of TaskManager with id %s timed out.", id, id)
		j.loseTM(tm, now, "java.util.concurrent.TimeoutException", fmt.Sprintf("The heartbeat of TaskManager with id %s timed out.", id))
	}
	next = earliest(next, j.stepTriggers(now))
	next = earliest(next, j.stepJobs(now))
	return next
}

// ---- RPC ----

func (j *JobManager) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad registration: "+err.Error(), http.StatusBadRequest)
		return
	}
	if j.externalHost != "" && targetHost(req.Target) != j.externalHost {
		own := rpcAddress(j.version, j.externalHost, j.rpcPort(), "")
		own = strings.TrimSuffix(own, "/user/rpc/")
		recipient := strings.TrimSuffix(req.Target, "/user/rpc/resourcemanager_*")
		pkg := "org.apache.pekko"
		if !j.version.AtLeast(1, 18) {
			pkg = "akka"
		}
		j.log.Logger(pkg+".remote.EndpointWriter").Errorf("dropping message [class %s.actor.ActorSelectionMessage] for non-local recipient [Actor[%s/]] arriving at [%s] inbound addresses are [%s]",
			pkg, recipient, recipient, own)
		http.Error(w, "non-local recipient", statusMisdirected)
		return
	}
	now := time.Now()
	j.mu.Lock()
	if old, ok := j.tms[req.ResourceID]; ok {
		j.log.Logger(logRM).Infof("Replacing old registration of TaskExecutor %s.", req.ResourceID)
		j.loseTM(old, now, "org.apache.flink.util.FlinkException", fmt.Sprintf("TaskExecutor %s has been re-registered.", req.ResourceID))
	}
	tm := &tmEntry{
		id: req.ResourceID, regID: newID(16), path: req.Address, host: req.Host,
		dataPort: req.DataPort, jmxPort: req.JMXPort, cpuCores: req.CPUCores, // slots: its slot report

		hw: req.Hardware, mem: req.Memory, lastHeartbeat: now, alloc: map[string]int{},
	}
	j.tms[tm.id] = tm
	j.log.Logger(logRM).Infof("Registering TaskManager with ResourceID %s (%s) at ResourceManager", tm.id, tm.path)
	j.mu.Unlock()
	j.kick()
	writeJSON(w, http.StatusOK, registerResponse{RegistrationID: tm.regID, ResourceManagerID: j.rmID})
}

// handleSlotReport takes a registered TaskManager's slots into the slot manager
// (ResourceManager.sendSlotReport, FineGrainedSlotManager.registerTaskManager). A report
// of an unknown registration is refused, as Flink answers it with an
// exception ("Unknown TaskManager registration id").
func (j *JobManager) handleSlotReport(w http.ResponseWriter, r *http.Request) {
	var req slotReportRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad slot report: "+err.Error(), http.StatusBadRequest)
		return
	}
	j.mu.Lock()
	tm, ok := j.tms[req.ResourceID]
	known := ok && tm.regID == req.RegistrationID
	if known && tm.slots == 0 {
		tm.slots = req.Slots
		j.log.Logger(logSlotManager).Debugf("Registering task executor %s under %s at the slot manager.", req.ResourceID, tm.regID)
	}
	j.mu.Unlock()
	if !known {
		http.Error(w, "Unknown TaskManager registration id "+req.RegistrationID+".", http.StatusNotFound)
		return
	}
	j.kick()
	writeJSON(w, http.StatusOK, struct{}{})
}

func (j *JobManager) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	var req heartbeatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad heartbeat: "+err.Error(), http.StatusBadRequest)
		return
	}
	j.mu.Lock()
	tm, ok := j.tms[req.ResourceID]
	if ok && tm.regID == req.RegistrationID {
		tm.lastHeartbeat = time.Now()
		tm.heartbeatAt = tm.lastHeartbeat
		j.log.Logger(logRM).Debugf("Received heartbeat from %s.", req.ResourceID)
	}
	j.mu.Unlock()
	if !ok || tm.regID != req.RegistrationID {
		http.Error(w, "unknown TaskExecutor "+req.ResourceID, http.StatusNotFound)
		return
	}
	j.kick()
	writeJSON(w, http.StatusOK, struct{}{})
}

func (j *JobManager) handleDeregister(w http.ResponseWriter, r *http.Request) {
	var req deregisterRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad disconnect: "+err.Error(), http.StatusBadRequest)
		return
	}
	j.mu.Lock()
	tm, ok := j.tms[req.ResourceID]
	if ok && (req.RegistrationID == "" || tm.regID == req.RegistrationID) {
		j.log.Logger(logRM).Infof("Closing TaskExecutor connection %s because: %s", req.ResourceID, req.Cause)
		j.loseTM(tm, time.Now(), "org.apache.flink.util.FlinkExpectedException", req.Cause)
	}
	j.mu.Unlock()
	j.kick()
	writeJSON(w, http.StatusOK, struct{}{})
}

// loseTM removes tm and fails over the jobs that had slots on it. j.mu is held.
func (j *JobManager) loseTM(tm *tmEntry, now time.Time, exName, msg string) {
	delete(j.tms, tm.id)
	for _, jobID := range slices.Sorted(maps.Keys(tm.alloc)) {
		if jb, ok := j.jobs[jobID]; ok {
			j.failover(jb, now, exName, msg, tm)
		}
	}
}

func durationConf(c map[string]string, key string, def time.Duration) time.Duration {
	v, ok := c[key]
	if !ok {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil || d <= 0 {
		return def
	}
	return d
}

func boolConf(c map[string]string, key string, def bool) bool {
	v, ok := c[key]
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return def
	}
	return b
}

func intConf(c map[string]string, key string, def int) (int, error) {
	v, ok := c[key]
	if !ok || strings.TrimSpace(v) == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("could not parse value '%s' for key '%s'", v, key)
	}
	return n, nil
}
