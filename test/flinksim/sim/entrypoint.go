package sim

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Entrypoint is the image's /docker-entrypoint.sh.
type Entrypoint struct {
	// Args are the container's arguments (the command first), without the program name.
	Args []string
	// Env is the environment, "KEY=VALUE" entries.
	Env []string
	// Hostname is what `hostname -f` prints; empty means os.Hostname.
	Hostname string
	// Stdout and Stderr receive the output (Log4j console lines go to Stdout).
	Stdout, Stderr io.Writer
	// Signals delivers SIGTERM or SIGINT: the process shuts down gracefully and returns
	// 128+signal, as the JVM does. Nil means none.
	Signals <-chan os.Signal
	// DropPrivileges switches the process to the flink user (uid/gid 9999), as the 1.x
	// entrypoint's `exec gosu flink` does before jobmanager.sh or taskmanager.sh when it
	// runs as root (drop_privs_cmd); the image's program sets it, tests leave it nil (no
	// switch). 2.2 images have no gosu: they run as flink from the start (USER flink).
	DropPrivileges func() error
}

// Exit codes.
const (
	ExitOK             = 0
	ExitStartupFailure = 1 // Flink's STARTUP_FAILURE_RETURN_CODE
	ExitRuntimeFailure = 2 // Flink's RUNTIME_FAILURE_RETURN_CODE
	ExitNotEmulated    = 127
)

// Probe logger names: at every start (and after every Log4j reload) each process logs one
// line per level from each of these, so tests can check level filtering.
func ProbeLoggers() []string {
	return []string{
		"org.apache.flink.streaming.examples.sim.Probe",
		"org.apache.flink.runtime.sim.Probe",
		"org.apache.kafka.sim.Probe",
	}
}

// ProbeMessage is the message of a probe line at lvl.
func ProbeMessage(lvl Level) string { return "flink-sim probe at " + lvl.String() }

func logProbes(log *Log) {
	for _, name := range ProbeLoggers() {
		lg := log.Logger(name)
		for _, lvl := range []Level{LevelTrace, LevelDebug, LevelInfo, LevelWarn, LevelError} {
			lg.Logf(lvl, "%s", ProbeMessage(lvl))
		}
	}
}

func (e *Entrypoint) env() map[string]string {
	m := map[string]string{}
	for _, kv := range e.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func (e *Entrypoint) hostname() string {
	if e.Hostname != "" {
		return e.Hostname
	}
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

// Run runs the entrypoint and returns the process exit code.
func (e *Entrypoint) Run(ctx context.Context) int {
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	env := e.env()
	home := env["FLINK_HOME"]
	if home == "" {
		home = "/opt/flink"
	}
	v, ok := ParseVersion(env["FLINK_VERSION"])
	if !ok && env["FLINK_VERSION"] != "" {
		fmt.Fprintf(e.Stderr, "flink-sim: FLINK_VERSION %q is not major.minor; assuming %s\n", env["FLINK_VERSION"], v)
	}
	host := e.hostname()

	if v.AtLeast(2, 2) && os.Geteuid() == 0 {
		// check_priv_user of the 2.2 entrypoint.
		fmt.Fprintln(e.Stdout, "WARNING: Running as root user is not recommended. Please use a non-root user to run Flink.")
	}
	prepareConfiguration(home, v, env, host, e.Stdout, e.Stderr)

	cmd := "help"
	var args []string
	if len(e.Args) > 0 {
		cmd, args = e.Args[0], e.Args[1:]
	}
	switch cmd {
	case "help":
		fmt.Fprintf(e.Stdout, "Usage: docker-entrypoint.sh (jobmanager|standalone-job|taskmanager|history-server)\n")
		fmt.Fprintf(e.Stdout, "    Or docker-entrypoint.sh help\n\n")
		fmt.Fprintf(e.Stdout, "By default, Flink image adopts jemalloc as default memory allocator. This behavior can be disabled by setting the 'DISABLE_JEMALLOC' environment variable to 'true'.\n")
		return ExitOK
	case "jobmanager":
		fmt.Fprintln(e.Stdout, "Starting Job Manager")
		if !e.dropPrivileges(v) {
			return ExitStartupFailure
		}
		return e.runProcess(ctx, home, v, host, args, true)
	case "taskmanager":
		fmt.Fprintln(e.Stdout, "Starting Task Manager")
		if !e.dropPrivileges(v) {
			return ExitStartupFailure
		}
		return e.runProcess(ctx, home, v, host, args, false)
	default:
		fmt.Fprintf(e.Stderr, "flink-sim: command %s is not emulated\n", cmd)
		return ExitNotEmulated
	}
}

// dropPrivileges is the 1.x entrypoint's `exec $(drop_privs_cmd) ...`: as root, gosu
// switches to flink; its failure ends the container.
func (e *Entrypoint) dropPrivileges(v Version) bool {
	if v.AtLeast(2, 2) || os.Geteuid() != 0 || e.DropPrivileges == nil {
		return true
	}
	if err := e.DropPrivileges(); err != nil {
		fmt.Fprintf(e.Stderr, "error: failed switching to \"flink\": %v\n", err)
		return false
	}
	return true
}

// loadLog4j reads conf/log4j-console.properties; on any problem Log4j prints a status
// error and falls back to its default configuration (root ERROR).
func loadLog4j(path string, stderr io.Writer) (*Levels, time.Time) {
	st, err := os.Stat(path)
	if err != nil {
		fmt.Fprintf(stderr, "ERROR StatusLogger Reconfiguration failed: No configuration found for '%s' at 'null' in 'null'\n", path)
		return DefaultLevels(), time.Time{}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "ERROR StatusLogger Unable to access %s: %v\n", path, err)
		return DefaultLevels(), st.ModTime()
	}
	lv, err := ParseLog4j(data)
	if err != nil {
		fmt.Fprintf(stderr, "ERROR StatusLogger Unable to parse configuration %s: %v\n", path, err)
		return DefaultLevels(), st.ModTime()
	}
	return lv, st.ModTime()
}

// watchLog4j re-reads the Log4j file every monitorInterval when it changed, like Log4j's
// monitorInterval, and logs the probe lines again under the new levels.
func watchLog4j(ctx context.Context, path string, interval time.Duration, mod time.Time, log *Log, stderr io.Writer) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(path)
		if err != nil || st.ModTime().Equal(mod) {
			continue
		}
		lv, m := loadLog4j(path, stderr)
		mod = m
		log.SetLevels(lv)
		logProbes(log)
	}
}

// runProcess runs a JobManager (jm) or a TaskManager the way bin/jobmanager.sh and
// bin/taskmanager.sh start-foreground do.
func (e *Entrypoint) runProcess(ctx context.Context, home string, v Version, host string, args []string, jm bool) int {
	confDir := filepath.Join(home, "conf")
	logPath := filepath.Join(confDir, "log4j-console.properties")
	levels, mod := loadLog4j(logPath, e.Stderr)
	log := NewLog(e.Stdout, levels)

	dyn, rest, err := parseDynamicProperties(args)
	if err != nil {
		fmt.Fprintf(e.Stdout, "[ERROR] %v\n", err)
		return ExitStartupFailure
	}
	gc := log.Logger(logGlobalConf)
	l, err := loadConfig(confDir, v, func(w string) { gc.Warnf("%s", w) })
	if err != nil {
		e.bashJavaUtilsFailed(l.log, err)
		return ExitStartupFailure
	}
	// BashJavaUtils' GlobalConfiguration.loadConfiguration(dir, dynamicProperties): the
	// file's configuration, then addAll of the -D arguments.
	c := l.conf
	dynConf := dynamicConf(dyn)
	eff := c.clone()
	eff.addAll(dynConf)
	if jm && len(rest) > 0 {
		// jobmanager.sh start-foreground [host] [webui-port]
		eff.set("jobmanager.rpc.address", rest[0])
		if len(rest) > 1 {
			eff.set("rest.port", rest[1])
		}
	}

	// bin/jobmanager.sh and bin/taskmanager.sh compute the JVM memory through BashJavaUtils
	// (bin/config.sh parseJmArgsAndExportLogs, parseTmArgsAndExportLogs) first; a
	// configuration Flink rejects stops the process before the JVM starts.
	var jmMem JobManagerMemory
	var memFlags, memInfo []string
	if jm {
		jmMem, err = DeriveJobManagerMemory(eff.vals)
		err = JobManagerMemoryError(v, err)
		direct := jmMem.OffHeap
		memFlags = jvmMemoryFlags(jmMem.Heap, direct, jmMem.Metaspace, boolConf(eff.vals, "jobmanager.memory.enable-jvm-direct-memory-limit", false))
		memInfo = jmMem.Info
	} else {
		var m TaskManagerMemory
		m, err = DeriveTaskManagerMemory(eff.vals)
		memFlags = jvmMemoryFlags(m.FrameworkHeap+m.TaskHeap, m.FrameworkOffHeap+m.TaskOffHeap+m.NetworkMemory, m.JVMMetaspace, true)
		memInfo = m.Info
	}
	if err != nil {
		lines := l.log
		for _, k := range dynConf.keys() {
			lines = append(lines, fmt.Sprintf("INFO  [] - Loading dynamic configuration property: %s, %s", k, masked(v, k, eff.vals[k])))
		}
		for _, info := range memInfo {
			lines = append(lines, "INFO  [] - "+info)
		}
		e.bashJavaUtilsFailed(lines, err)
		return ExitStartupFailure
	}
	// bin/flink-console.sh, which jobmanager.sh and taskmanager.sh exec once the JVM
	// parameters are there.
	service := "standalonesession"
	if !jm {
		service = "taskexecutor"
	}
	fmt.Fprintf(e.Stdout, "Starting %s as a console application on host %s.\n", service, host)
	env := e.env()
	jvm := javaOptions(c, l.legacy, v, env, jm, memFlags)
	name := "StandaloneSessionClusterEntrypoint"
	banner := log.Logger(logEntrypoint)
	if !jm {
		name = "TaskManager"
		banner = log.Logger(logTMRunner)
	}
	banner.Infof("--------------------------------------------------------------------------------")
	banner.Infof(" Starting %s (Version: %s.0, Scala: 2.12, Rev:%s, Date:1970-01-01T00:00:00+00:00)", name, v, FlinkCommit)
	banner.Infof(" OS current user: %s", currentUser())
	// EnvironmentInformation.logEnvironmentInfo: one line per JVM option and per argument,
	// an argument GlobalConfiguration.isSensitive finds sensitive hidden.
	banner.Infof(" JVM: flink-sim (a Go stand-in for the Flink image) - Java %d", max(JavaMajor(env), 11))
	banner.Infof(" JVM Options:")
	for _, o := range jvm {
		banner.Infof("    %s", o)
	}
	if len(args) == 0 {
		banner.Infof(" Program Arguments: (none)")
	} else {
		banner.Infof(" Program Arguments:")
		for _, a := range maskedArgs(v, args) {
			banner.Infof("    %s", a)
		}
	}
	banner.Infof("--------------------------------------------------------------------------------")
	for _, k := range c.keys() {
		gc.Infof("Loading configuration property: %s, %s", k, masked(v, k, c.vals[k]))
	}
	for _, k := range dynConf.keys() {
		gc.Infof("Loading dynamic configuration property: %s, %s", k, masked(v, k, eff.vals[k]))
	}
	logProbes(log)

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchLog4j(runCtx, logPath, levels.MonitorInterval, mod, log, e.Stderr)
	}()

	if jm {
		if jmMem.Warning != "" {
			log.Logger("org.apache.flink.runtime.util.config.memory.jobmanager.JobManagerFlinkMemoryUtils").Warnf("%s", jmMem.Warning)
		}
		return e.runJobManager(runCtx, v, eff, jmMem, log, JavaMajor(env), jvm)
	}
	return e.runTaskManager(runCtx, v, eff, log)
}

// bashJavaUtilsFailed prints what bin/config.sh's parseResourceParamsAndExportLogs prints
// when BashJavaUtils fails (extractExecutionResults' line on stderr, the rest on stdout)
// before jobmanager.sh or taskmanager.sh exits 1.
func (e *Entrypoint) bashJavaUtilsFailed(log []string, err error) {
	fmt.Fprintln(e.Stderr, "[ERROR] The execution result is empty.")
	fmt.Fprintf(e.Stdout, "[ERROR] Could not get JVM parameters and dynamic configurations properly.\n[ERROR] Raw output from BashJavaUtils:\n")
	for _, line := range log {
		fmt.Fprintln(e.Stdout, line)
	}
	fmt.Fprintf(e.Stdout, "Exception in thread \"main\" %v\n", err)
}

// maskedArgs hides the arguments that carry a sensitive option, as Flink's
// EnvironmentInformation.logEnvironmentInfo does (GlobalConfiguration.isSensitive on each
// argument): "-Dsecurity.ssl.rest.keystore-password=x" is logged as "****** (sensitive
// information)".
func maskedArgs(v Version, args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if Sensitive(v, a) {
			out[i] = HiddenContent + " (sensitive information)"
		}
	}
	return out
}

func optionKeys(opts []option) []string {
	var keys []string
	seen := map[string]bool{}
	for _, o := range opts {
		if !seen[o.key] {
			seen[o.key] = true
			keys = append(keys, o.key)
		}
	}
	return keys
}

func currentUser() string {
	uid := os.Getuid()
	data, err := os.ReadFile("/etc/passwd")
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(line, ":")
			if len(f) > 2 && f[2] == strconv.Itoa(uid) {
				return f[0]
			}
		}
	}
	return strconv.Itoa(uid)
}

func listenAddr(c map[string]string, hostKey, portKey string, defPort int) string {
	host := strings.TrimSpace(c[hostKey])
	port := strings.TrimSpace(c[portKey])
	if port == "" {
		port = strconv.Itoa(defPort)
	}
	return net.JoinHostPort(host, port)
}

func signalCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 128 + int(syscall.SIGTERM)
}

func (e *Entrypoint) runJobManager(ctx context.Context, v Version, eff *conf, mem JobManagerMemory, log *Log, java int, jvm []string) int {
	c := eff.Map()
	// The memory settings bin/config.sh passes to the JVM as dynamic properties show up in
	// the effective configuration.
	for k, val := range map[string]string{
		"jobmanager.memory.heap.size":          fmt.Sprintf("%db", mem.Heap),
		"jobmanager.memory.off-heap.size":      fmt.Sprintf("%db", mem.OffHeap),
		"jobmanager.memory.jvm-metaspace.size": fmt.Sprintf("%db", mem.Metaspace),
		"jobmanager.memory.jvm-overhead.min":   fmt.Sprintf("%db", mem.Overhead),
		"jobmanager.memory.jvm-overhead.max":   fmt.Sprintf("%db", mem.Overhead),
	} {
		if _, set := c[k]; !set {
			c[k] = val
		}
	}
	restPort := c["rest.bind-port"]
	if restPort == "" {
		restPort = c["rest.port"]
	}
	if restPort == "" {
		restPort = "8081"
	}
	restAddr := net.JoinHostPort(strings.TrimSpace(c["rest.bind-address"]), strings.TrimSpace(restPort))
	rpcAddr := listenAddr(c, "jobmanager.bind-host", "jobmanager.rpc.port", 6123)
	ep := log.Logger(logEntrypoint)
	ep.Infof("Starting StandaloneSessionClusterEntrypoint.")
	jm, err := StartJobManager(ctx, JobManagerConfig{
		Config: c, RPCAddr: rpcAddr, RESTAddr: restAddr, BlobAddr: BlobAddr(c), Version: v.String(), Logger: log,
		JavaVersion: java, JVMOptions: jvm,
	})
	if err != nil {
		ep.Errorf("Could not start cluster entrypoint StandaloneSessionClusterEntrypoint.\norg.apache.flink.runtime.entrypoint.ClusterEntrypointException: Failed to initialize the cluster entrypoint StandaloneSessionClusterEntrypoint.\nCaused by: %v", err)
		return ExitStartupFailure
	}
	select {
	case sig := <-e.Signals:
		ep.Infof("RECEIVED SIGNAL %d: %s. Shutting down as requested.", signalCode(sig)-128, signalName(sig))
		ep.Infof("Shutting StandaloneSessionClusterEntrypoint down with application status UNKNOWN. Diagnostics Cluster entrypoint has been closed externally..")
		_ = jm.Close()
		return signalCode(sig)
	case <-jm.Done():
		_ = jm.Close()
		if ctx.Err() != nil {
			return signalCode(syscall.SIGTERM)
		}
		ep.Infof("Terminating cluster entrypoint process StandaloneSessionClusterEntrypoint with exit code 0.")
		return ExitOK
	}
}

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return strings.ToUpper(sig.String())
}

func (e *Entrypoint) runTaskManager(ctx context.Context, v Version, eff *conf, log *Log) int {
	c := eff.Map()
	listen := listenAddr(c, "taskmanager.bind-host", "taskmanager.rpc.port", 0)
	runner := log.Logger(logTMRunner)
	tm, err := StartTaskManager(ctx, TaskManagerConfig{
		Config: c, ListenAddr: listen, Version: v.String(), Logger: log,
	})
	if err != nil {
		runner.Errorf("Terminating TaskManagerRunner with exit code 1.\norg.apache.flink.util.FlinkException: Failed to start the TaskManagerRunner.\nCaused by: %v", err)
		return ExitStartupFailure
	}
	select {
	case sig := <-e.Signals:
		runner.Infof("RECEIVED SIGNAL %d: %s. Shutting down as requested.", signalCode(sig)-128, signalName(sig))
		_ = tm.Close()
		return signalCode(sig)
	case <-tm.Done():
		_ = tm.Close()
		if tm.Err() != nil {
			runner.Errorf("Terminating TaskManagerRunner with exit code %d.", ExitRuntimeFailure)
			return ExitRuntimeFailure
		}
		return signalCode(syscall.SIGTERM)
	}
}
