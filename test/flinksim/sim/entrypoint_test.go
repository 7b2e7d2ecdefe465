package sim

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// helperEnv makes the test binary run the entrypoint instead of the tests (see TestMain), so
// that a test can run it as another user.
const helperEnv = "FLINK_SIM_TEST_ENTRYPOINT_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(helperEnv); ok {
		e := &Entrypoint{Args: strings.Fields(args), Env: os.Environ(), Stdout: os.Stdout, Stderr: os.Stderr}
		os.Exit(e.Run(context.Background()))
	}
	os.Exit(m.Run())
}

// flinkHome makes a $FLINK_HOME with the image's shipped conf/ for version v.
func flinkHome(t *testing.T, v Version) string {
	t.Helper()
	home := t.TempDir()
	conf := filepath.Join(home, "conf")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"log4j-console.properties": filepath.Join("..", "image", "rootfs", "opt", "flink", "conf", "log4j-console.properties")}
	if v.AtLeast(1, 19) {
		files[ConfigYAML] = filepath.Join("..", "image", "conf", v.String(), ConfigYAML)
	} else {
		files[LegacyConfigYAML] = filepath.Join("..", "image", "conf", v.String(), LegacyConfigYAML)
	}
	for name, from := range files {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(conf, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

func writeConf(t *testing.T, home, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(home, "conf", name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readConf(t *testing.T, home, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(home, "conf", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

type runResult struct {
	code           int
	stdout, stderr string
}

func runEntrypoint(t *testing.T, args []string, env ...string) runResult {
	t.Helper()
	var out, errb syncBuffer
	e := &Entrypoint{Args: args, Env: env, Hostname: "sim-host", Stdout: &out, Stderr: &errb}
	code := e.Run(t.Context())
	return runResult{code, out.String(), errb.String()}
}

func TestHelpPreparesTheConfigurationLikeTheImageAndExitsZero(t *testing.T) {
	home := flinkHome(t, Version{1, 20})
	r := runEntrypoint(t, []string{"help"},
		"FLINK_HOME="+home, "FLINK_VERSION=1.20", "BUCKET=prod",
		"JOB_MANAGER_RPC_ADDRESS=flink-jobmanager", "TASK_MANAGER_NUMBER_OF_TASK_SLOTS=4",
		"FLINK_PROPERTIES=env.java.opts.all: -Xmx1g -Dfoo=bar\n  state.checkpoints.dir: s3://$BUCKET/ck\ntaskmanager.numberOfTaskSlots: 8\n")
	if r.code != ExitOK || !strings.Contains(r.stdout, "Usage: docker-entrypoint.sh (jobmanager|standalone-job|taskmanager|history-server)") {
		t.Fatalf("help: exit %d, stdout %q", r.code, r.stdout)
	}
	c, err := parseStandardYAML([]byte(readConf(t, home, ConfigYAML)), Version{1, 20})
	if err != nil {
		t.Fatalf("config.yaml written by the entrypoint is not valid: %v", err)
	}
	want := map[string]string{
		"jobmanager.rpc.address":                 "flink-jobmanager",
		"jobmanager.rpc.port":                    "6123",
		"jobmanager.bind-host":                   "0.0.0.0",
		"jobmanager.memory.process.size":         "1600m",
		"jobmanager.execution.failover-strategy": "region",
		"taskmanager.bind-host":                  "0.0.0.0",
		"taskmanager.memory.process.size":        "1728m",
		"taskmanager.numberOfTaskSlots":          "8", // FLINK_PROPERTIES come after the fixed options
		"parallelism.default":                    "1",
		"rest.address":                           "0.0.0.0",
		"blob.server.port":                       "6124",
		"query.server.port":                      "6125",
		"env.java.opts.all":                      "-Xmx1g-Dfoo=bar",
		"state.checkpoints.dir":                  "s3://prod/ck",
	}
	if diff := cmp.Diff(want, c.Map()); diff != "" {
		t.Errorf("config.yaml after the entrypoint (-want +got):\n%s", diff)
	}
}

func TestWithoutJobManagerRPCAddressTheHostNameIsWritten(t *testing.T) {
	home := flinkHome(t, Version{1, 20})
	if r := runEntrypoint(t, nil, "FLINK_HOME="+home, "FLINK_VERSION=1.20"); r.code != ExitOK {
		t.Fatalf("default command: exit %d", r.code)
	}
	c, err := parseStandardYAML([]byte(readConf(t, home, ConfigYAML)), Version{1, 20})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.vals["jobmanager.rpc.address"]; got != "sim-host" {
		t.Errorf("jobmanager.rpc.address = %q, want the host name sim-host", got)
	}
}

func TestLegacyEntrypointEditsFlinkConfInPlaceAndEnvsubstsTheWholeFile(t *testing.T) {
	home := flinkHome(t, Version{1, 18})
	writeConf(t, home, LegacyConfigYAML, "# my comment\njobmanager.rpc.address: localhost\ns3.secret-key: ${S3_SECRET}\ntaskmanager.numberOfTaskSlots: 1\n")
	r := runEntrypoint(t, []string{"help"}, "FLINK_HOME="+home, "FLINK_VERSION=1.18",
		"JOB_MANAGER_RPC_ADDRESS=jm", "S3_SECRET=hush", "V=val",
		"FLINK_PROPERTIES=restart-strategy.fixed-delay.delay: 10 s\nc: $V")
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := "# my comment\n" +
		"jobmanager.rpc.address: jm\n" +
		"s3.secret-key: hush\n" + // the old script ran envsubst over the whole file
		"taskmanager.numberOfTaskSlots: 1\n" +
		"blob.server.port: 6124\n" +
		"query.server.port: 6125\n" +
		"restart-strategy.fixed-delay.delay: 10 s\n" + // appended verbatim, spaces kept
		"c: val\n"
	if diff := cmp.Diff(want, readConf(t, home, LegacyConfigYAML)); diff != "" {
		t.Errorf("flink-conf.yaml (-want +got):\n%s", diff)
	}
}

// 2.2's config-parser-utils.sh writes config.yaml only; 2.x never reads flink-conf.yaml.
func TestFlink22RewritesConfigYAMLAndLeavesFlinkConfYAMLAlone(t *testing.T) {
	home := flinkHome(t, Version{2, 2})
	writeConf(t, home, LegacyConfigYAML, "jobmanager.rpc.address: localhost\n")
	if r := runEntrypoint(t, []string{"help"}, "FLINK_HOME="+home, "FLINK_VERSION=2.2", "JOB_MANAGER_RPC_ADDRESS=jm"); r.code != ExitOK {
		t.Fatalf("exit %d", r.code)
	}
	if got := readConf(t, home, LegacyConfigYAML); got != "jobmanager.rpc.address: localhost\n" {
		t.Errorf("flink-conf.yaml changed:\n%s", got)
	}
	l, err := loadConfig(filepath.Join(home, "conf"), Version{2, 2}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.conf.vals["jobmanager.rpc.address"]; got != "jm" {
		t.Errorf("Flink 2.2 reads jobmanager.rpc.address = %q from config.yaml, want jm", got)
	}
}

// 1.20's config-parser-utils.sh writes a present flink-conf.yaml, flat, as the legacy
// configuration Flink read from it; config.yaml is left as it was.
func TestFlink120RewritesAPresentFlinkConfYAMLFlat(t *testing.T) {
	home := flinkHome(t, Version{1, 20})
	before := readConf(t, home, ConfigYAML)
	writeConf(t, home, LegacyConfigYAML, "# mine\nstate.backend: rocksdb\nstate.backend.incremental: true\ns3.secret-key: abc#def\n")
	if r := runEntrypoint(t, []string{"help"}, "FLINK_HOME="+home, "FLINK_VERSION=1.20", "JOB_MANAGER_RPC_ADDRESS=jm"); r.code != ExitOK {
		t.Fatalf("exit %d", r.code)
	}
	if got := readConf(t, home, ConfigYAML); got != before {
		t.Errorf("config.yaml changed:\n%s", got)
	}
	l, err := loadConfig(filepath.Join(home, "conf"), Version{1, 20}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"state.backend": "rocksdb", "state.backend.incremental": "true", "s3.secret-key": "abc",
		"jobmanager.rpc.address": "jm", "blob.server.port": "6124", "query.server.port": "6125"}
	if diff := cmp.Diff(want, l.conf.Map()); diff != "" || !l.legacy {
		t.Errorf("flink-conf.yaml after the rewrite (legacy %v, -want +got):\n%s\n%s", l.legacy, diff, readConf(t, home, LegacyConfigYAML))
	}
}

func TestMissingConfigFileLetsHelpRunButFailsJobManagerStartup(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	// config-parser-utils.sh writes BashJavaUtils' error into a new config.yaml.
	r := runEntrypoint(t, []string{"help"}, "FLINK_HOME="+home, "FLINK_VERSION=1.20")
	if got := readConf(t, home, ConfigYAML); r.code != ExitOK || !strings.HasPrefix(got, "[ERROR] Could not parse configurations properly.\n[ERROR] Raw output from BashJavaUtils:\n") ||
		!strings.Contains(got, "Exception in thread \"main\" org.apache.flink.configuration.IllegalConfigurationException: The Flink config file '"+filepath.Join(home, "conf", ConfigYAML)) {
		t.Errorf("help: exit %d; config.yaml:\n%s", r.code, got)
	}
	r = runEntrypoint(t, []string{"jobmanager"}, "FLINK_HOME="+home, "FLINK_VERSION=1.20")
	if r.code != ExitStartupFailure || !strings.Contains(r.stdout, "Exception in thread \"main\" java.lang.RuntimeException: Error parsing YAML configuration.") ||
		!strings.Contains(r.stderr, "[ERROR] The execution result is empty.") {
		t.Errorf("jobmanager: exit %d, stdout %q, stderr %q; want 1 and the YAML error", r.code, r.stdout, r.stderr)
	}
}

func TestUnwritableConfDirPrintsTheShellErrorAndKeepsTheFile(t *testing.T) {
	// The real entrypoint has no "set -e": the command starts anyway, without the edits.
	home := flinkHome(t, Version{1, 20})
	before := readConf(t, home, ConfigYAML)
	args := "help"
	env := []string{"FLINK_HOME=" + home, "FLINK_VERSION=1.20", "JOB_MANAGER_RPC_ADDRESS=jm"}
	var code int
	var stdout, stderr string
	if os.Geteuid() == 0 {
		// Root writes anywhere: run the entrypoint as the image's user instead.
		code, stdout, stderr = runAsFlinkUser(t, home, args, env)
	} else {
		conf := filepath.Join(home, "conf")
		if err := os.Chmod(filepath.Join(conf, ConfigYAML), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(conf, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(conf, 0o755) })
		r := runEntrypoint(t, strings.Fields(args), env...)
		code, stdout, stderr = r.code, r.stdout, r.stderr
	}
	wantErr := filepath.Join(home, "bin", "config-parser-utils.sh") + ": line 45: " + filepath.Join(home, "conf", ConfigYAML) + ": Permission denied"
	if !strings.Contains(stderr, wantErr) {
		t.Errorf("stderr = %q, want it to contain %q", stderr, wantErr)
	}
	if code != ExitOK || !strings.Contains(stdout, "Usage:") {
		t.Errorf("exit %d, stdout %q: the command should still run", code, stdout)
	}
	if after := readConf(t, home, ConfigYAML); after != before {
		t.Errorf("config.yaml changed:\n%s", after)
	}
}

// runAsFlinkUser runs the entrypoint in a copy of the test binary as uid/gid 9999.
func runAsFlinkUser(t *testing.T, home, args string, env []string) (int, string, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "flink-sim-helper")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	bin := filepath.Join(dir, "entrypoint")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(home), home} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), bin)
	cmd.Env = append(env, helperEnv+"="+args)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 9999, Gid: 9999}}
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run entrypoint as uid 9999: %v", err)
	}
	return code, out.String(), errb.String()
}

func TestUnknownCommandIsNotEmulated(t *testing.T) {
	r := runEntrypoint(t, []string{"standalone-job", "--job-classname", "x"}, "FLINK_HOME="+flinkHome(t, Version{1, 20}))
	if r.code != ExitNotEmulated || !strings.Contains(r.stderr, "flink-sim: command standalone-job is not emulated") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestTaskManagerWithAMemorySizeFlinkCannotParseFailsStartup(t *testing.T) {
	home := flinkHome(t, Version{1, 20})
	r := runEntrypoint(t, []string{"taskmanager"}, "FLINK_HOME="+home, "FLINK_VERSION=1.20",
		"FLINK_PROPERTIES=taskmanager.memory.process.size: 2Gi")
	if r.code != ExitStartupFailure ||
		!strings.Contains(r.stdout, "[ERROR] Could not get JVM parameters and dynamic configurations properly.") ||
		!strings.Contains(r.stdout, "Exception in thread \"main\" org.apache.flink.configuration.IllegalConfigurationException: TaskManager memory configuration failed: Cannot read memory size from config option 'taskmanager.memory.process.size'.") ||
		!strings.Contains(r.stdout, "Memory size unit 'gi' does not match any of the recognized units") {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
}

// process is an entrypoint running in the background.
type process struct {
	out, err *syncBuffer
	sigs     chan os.Signal
	exit     chan int
}

func startEntrypoint(t *testing.T, args []string, env ...string) *process {
	t.Helper()
	p := &process{out: &syncBuffer{}, err: &syncBuffer{}, sigs: make(chan os.Signal, 1), exit: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	e := &Entrypoint{Args: args, Env: env, Hostname: "sim-host", Stdout: p.out, Stderr: p.err, Signals: p.sigs}
	go func() { p.exit <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.exit:
		case <-time.After(10 * time.Second):
			t.Errorf("entrypoint %v did not stop", args)
		}
	})
	return p
}

func (p *process) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	p.sigs <- sig
	select {
	case code := <-p.exit:
		p.exit <- code // for the cleanup
		return code
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit after %v", sig)
		return -1
	}
}

var (
	restPortLine = regexp.MustCompile(`Rest endpoint listening at \S+:(\d+)`)
	rpcPortLine  = regexp.MustCompile(`StandaloneResourceManager at pekko\.tcp://flink@[^:]+:(\d+)/`)
)

func portFrom(t *testing.T, buf *syncBuffer, re *regexp.Regexp) int {
	t.Helper()
	var port int
	waitFor(t, 10*time.Second, "a port in the log", func() bool {
		m := re.FindStringSubmatch(buf.String())
		if m == nil {
			return false
		}
		port, _ = strconv.Atoi(m[1])
		return true
	})
	return port
}

// localJobManagerProps makes a JobManager listen on loopback, on free ports.
const localJobManagerProps = "FLINK_PROPERTIES=jobmanager.bind-host: 127.0.0.1\njobmanager.rpc.port: 0\nrest.bind-address: 127.0.0.1\nrest.port: 0"

func TestJobManagerAndTaskManagerEntrypointsFormAClusterAndStopOnSIGTERM(t *testing.T) {
	jmHome := flinkHome(t, Version{1, 20})
	jm := startEntrypoint(t, []string{"jobmanager"}, "FLINK_HOME="+jmHome, "FLINK_VERSION=1.20",
		"JOB_MANAGER_RPC_ADDRESS=localhost", localJobManagerProps)
	rest := "http://127.0.0.1:" + strconv.Itoa(portFrom(t, jm.out, restPortLine))
	rpcPort := portFrom(t, jm.out, rpcPortLine)

	tmHome := flinkHome(t, Version{1, 20})
	tm := startEntrypoint(t, []string{"taskmanager", "-D", "taskmanager.resource-id=tm-1"}, "FLINK_HOME="+tmHome, "FLINK_VERSION=1.20",
		"JOB_MANAGER_RPC_ADDRESS=localhost", "TASK_MANAGER_NUMBER_OF_TASK_SLOTS=3",
		"FLINK_PROPERTIES=jobmanager.rpc.port: "+strconv.Itoa(rpcPort)+"\ntaskmanager.bind-host: 127.0.0.1\nheartbeat.timeout: 1h")
	waitFor(t, 10*time.Second, "one TaskManager with its slots in /overview", func() bool {
		o := obj(t, getJSON(t, rest+"/overview", 200))
		return o["taskmanagers"] == float64(1) && o["slots-total"] == float64(3)
	})
	tms := arr(t, obj(t, getJSON(t, rest+"/taskmanagers", 200))["taskmanagers"])
	if id, slots := obj(t, tms[0])["id"], obj(t, tms[0])["slotsNumber"]; id != "tm-1" || slots != float64(3) {
		t.Errorf("taskmanager id %v with %v slots, want tm-1 with 3", id, slots)
	}
	waitForLog(t, tm.out, "Successful registration at resource manager pekko.tcp://flink@localhost:")

	if code := tm.stop(t, syscall.SIGTERM); code != 143 {
		t.Errorf("TaskManager exit code on SIGTERM = %d, want 143", code)
	}
	// Deregistration is immediate, far before the one-hour heartbeat timeout.
	if n := obj(t, getJSON(t, rest+"/overview", 200))["taskmanagers"]; n != float64(0) {
		t.Errorf("taskmanagers after SIGTERM = %v, want 0", n)
	}
	if code := jm.stop(t, syscall.SIGTERM); code != 143 {
		t.Errorf("JobManager exit code on SIGTERM = %d, want 143", code)
	}
	if !strings.Contains(jm.out.String(), "RECEIVED SIGNAL 15: SIGTERM. Shutting down as requested.") {
		t.Error("JobManager did not log the signal")
	}
}

func TestEntrypointLogHonoursTheLog4jFileOfConfDir(t *testing.T) {
	home := flinkHome(t, Version{1, 20})
	writeConf(t, home, "log4j-console.properties", flinkdLog4j)
	jm := startEntrypoint(t, []string{"jobmanager"}, "FLINK_HOME="+home, "FLINK_VERSION=1.20",
		"FLINK_PROPERTIES=jobmanager.bind-host: 127.0.0.1\njobmanager.rpc.port: 0\nrest.bind-address: 127.0.0.1\nrest.port: 0\ns3.secret-key: hush")
	waitForLog(t, jm.out, "Rest endpoint listening at")
	out := jm.out.String()
	for _, want := range []string{
		"DEBUG org.apache.flink.streaming.examples.sim.Probe                [] - flink-sim probe at DEBUG",
		"INFO  org.apache.flink.runtime.sim.Probe                           [] - flink-sim probe at INFO",
		"INFO  org.apache.flink.configuration.GlobalConfiguration           [] - Loading configuration property: jobmanager.memory.process.size, 1600m",
		"Loading configuration property: s3.secret-key, ******",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "DEBUG org.apache.flink.runtime.sim.Probe") {
		t.Error("a DEBUG line of a logger left at INFO appeared")
	}
	if strings.Contains(out, "hush") {
		t.Error("a secret value was logged")
	}
}

func TestLog4jFileChangesApplyAfterMonitorInterval(t *testing.T) {
	home := flinkHome(t, Version{1, 20})
	writeConf(t, home, "log4j-console.properties", "monitorInterval=1\nrootLogger.level = INFO\n")
	jm := startEntrypoint(t, []string{"jobmanager"}, "FLINK_HOME="+home, "FLINK_VERSION=1.20", localJobManagerProps)
	waitForLog(t, jm.out, "Rest endpoint listening at")
	if strings.Contains(jm.out.String(), "DEBUG") {
		t.Fatal("DEBUG lines before the change")
	}
	writeConf(t, home, "log4j-console.properties", "monitorInterval=1\nrootLogger.level = INFO\nlogger.ex.name = org.apache.flink.streaming.examples\nlogger.ex.level = DEBUG\n")
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(home, "conf", "log4j-console.properties"), future, future); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, jm.out, "DEBUG org.apache.flink.streaming.examples.sim.Probe")
}

func TestJobManagerHostArgumentOverridesTheRPCAddress(t *testing.T) {
	home := flinkHome(t, Version{1, 20})
	jm := startEntrypoint(t, []string{"jobmanager", "10.1.2.3"}, "FLINK_HOME="+home, "FLINK_VERSION=1.20", localJobManagerProps)
	rest := "http://127.0.0.1:" + strconv.Itoa(portFrom(t, jm.out, restPortLine))
	found := false
	for _, e := range arr(t, getJSON(t, rest+"/jobmanager/config", 200)) {
		kv := obj(t, e)
		if kv["key"] == "jobmanager.rpc.address" {
			found = kv["value"] == "10.1.2.3"
		}
	}
	if !found {
		t.Error("/jobmanager/config does not report jobmanager.rpc.address 10.1.2.3")
	}
	if readConf(t, home, ConfigYAML) == "" || strings.Contains(readConf(t, home, ConfigYAML), "10.1.2.3") {
		t.Error("the host argument must not be written back into config.yaml")
	}
}

// The 1.19+ rewrite at every start writes config.yaml nested, as
// YamlParserUtils.convertAndDumpYamlFromFlatMap does.
func TestRewriteWritesConfigYAMLNested(t *testing.T) {
	home := flinkHome(t, Version{2, 2})
	writeConf(t, home, ConfigYAML, "state.backend.type: rocksdb\nstate.backend.incremental: true\nrestart-strategy.type: fixed-delay\n")
	r := runEntrypoint(t, []string{"help"}, "FLINK_HOME="+home, "FLINK_VERSION=2.2", "JOB_MANAGER_RPC_ADDRESS=jm",
		"FLINK_PROPERTIES=restart-strategy.fixed-delay.attempts: 3")
	if r.code != ExitOK {
		t.Fatalf("exit %d", r.code)
	}
	// Byte for byte what flink-dist 2.2.1's config-parser-utils.sh writes for the same runs.
	want := "blob:\n  server:\n    port: '6124'\n" +
		"restart-strategy:\n  type: fixed-delay\n  fixed-delay:\n    attempts: '3'\n" +
		"jobmanager:\n  rpc:\n    address: jm\n" +
		"state:\n  backend:\n    incremental: true\n    type: rocksdb\n" +
		"query:\n  server:\n    port: '6125'\n"
	if diff := cmp.Diff(want, readConf(t, home, ConfigYAML)); diff != "" {
		t.Errorf("config.yaml (-want +got):\n%s", diff)
	}
}

// A key that is a strict dotted prefix of another can make the dump throw (here it does, as
// on flink-dist 1.20.5 and 2.2.1 for the same file); bash-java-utils.sh swallows it and the
// error text becomes config.yaml; the process then fails on it.
func TestPrefixPairPutsTheErrorIntoConfigYAMLAndTheStartFails(t *testing.T) {
	for _, v := range []Version{{1, 20}, {2, 2}} {
		t.Run(v.String(), func(t *testing.T) {
			home := flinkHome(t, v)
			writeConf(t, home, ConfigYAML, "restart-strategy: fixed-delay\nrestart-strategy.fixed-delay.attempts: 3\ns3.secret-key: hush\n")
			env := []string{"FLINK_HOME=" + home, "FLINK_VERSION=" + v.String(), "JOB_MANAGER_RPC_ADDRESS=jm"}
			if r := runEntrypoint(t, []string{"help"}, env...); r.code != ExitOK {
				t.Fatalf("help: exit %d", r.code)
			}
			got := readConf(t, home, ConfigYAML)
			// The first run (fixed options) writes the ClassCastException; the second
			// (none here: no FLINK_PROPERTIES) would write the YAML error over it.
			for _, want := range []string{
				"[ERROR] Could not parse configurations properly.\n[ERROR] Raw output from BashJavaUtils:\n",
				"INFO  [] - Loading configuration property: s3.secret-key, ******\n",
				"Exception in thread \"main\" java.lang.ClassCastException: class java.lang.String cannot be cast to class java.util.Map",
			} {
				if !strings.Contains(got, want) {
					t.Errorf("config.yaml lacks %q:\n%s", want, got)
				}
			}
			if strings.Contains(got, "hush") {
				t.Error("a secret went into the error text")
			}
			r := runEntrypoint(t, []string{"jobmanager"}, env...)
			if r.code != ExitStartupFailure || !strings.Contains(r.stdout, "Exception in thread \"main\" java.lang.RuntimeException: Error parsing YAML configuration.") {
				t.Errorf("jobmanager: exit %d, stdout:\n%s", r.code, r.stdout)
			}
		})
	}
}

func TestFirstRewriteOfAPrefixPairLeavesTheClassCastException(t *testing.T) {
	home := flinkHome(t, Version{2, 2})
	writeConf(t, home, ConfigYAML, "env.java.opts: -Dx=1\n")
	// The fixed options go in first: the pair comes in with FLINK_PROPERTIES, whose run then
	// finds the first run's good file and writes the exception.
	runEntrypoint(t, []string{"help"}, "FLINK_HOME="+home, "FLINK_VERSION=2.2", "FLINK_PROPERTIES=env.java.opts.taskmanager: -Dy=2")
	got := readConf(t, home, ConfigYAML)
	want := "Exception in thread \"main\" java.lang.ClassCastException: class java.lang.String cannot be cast to class java.util.Map"
	if !strings.Contains(got, want) || !strings.Contains(got, "INFO  [] - Loading dynamic configuration property: env.java.opts.taskmanager, -Dy=2") {
		t.Errorf("config.yaml:\n%s", got)
	}
}

func TestOneEighteenEnvsubstsTheWholeFileAndCutsValuesAtHash(t *testing.T) {
	home := flinkHome(t, Version{1, 18})
	writeConf(t, home, LegacyConfigYAML, readConf(t, home, LegacyConfigYAML)+
		"security.ssl.rest.keystore-password: pa$$word\ns3.endpoint: http://minio:9000/#bucket\nstate.checkpoints.dir: s3://$BUCKET/ck\n")
	jm := startEntrypoint(t, []string{"jobmanager"}, "FLINK_HOME="+home, "FLINK_VERSION=1.18", "BUCKET=prod", localJobManagerProps)
	rest := "http://127.0.0.1:" + strconv.Itoa(portFrom(t, jm.out, restPortLine))
	got := map[string]string{}
	for _, e := range arr(t, getJSON(t, rest+"/jobmanager/config", 200)) {
		kv := obj(t, e)
		got[kv["key"].(string)] = kv["value"].(string)
	}
	// "$$" is no reference but "$word" is: envsubst leaves "pa$" (the value is masked anyway).
	file := readConf(t, home, LegacyConfigYAML)
	if !strings.Contains(file, "security.ssl.rest.keystore-password: pa$\n") || !strings.Contains(file, "state.checkpoints.dir: s3://prod/ck\n") {
		t.Errorf("flink-conf.yaml after envsubst:\n%s", file)
	}
	if got["s3.endpoint"] != "http://minio:9000/" || got["state.checkpoints.dir"] != "s3://prod/ck" || got["security.ssl.rest.keystore-password"] != HiddenContent {
		t.Errorf("/jobmanager/config: s3.endpoint %q, state.checkpoints.dir %q, password %q", got["s3.endpoint"], got["state.checkpoints.dir"], got["security.ssl.rest.keystore-password"])
	}
}

func TestOneEighteenUnsetVariablesBecomeEmpty(t *testing.T) {
	home := flinkHome(t, Version{1, 18})
	writeConf(t, home, LegacyConfigYAML, "a: x$UNSET_VAR/y\nb: ${ALSO_UNSET}\nc: cost $5\n")
	runEntrypoint(t, []string{"help"}, "FLINK_HOME="+home, "FLINK_VERSION=1.18", "JOB_MANAGER_RPC_ADDRESS=jm")
	if got := readConf(t, home, LegacyConfigYAML); !strings.HasPrefix(got, "a: x/y\nb: \nc: cost $5\n") {
		t.Errorf("flink-conf.yaml:\n%s", got)
	}
}

func TestOneXImagesDropToFlinkBeforeTheProcessAndTwoTwoWarnsAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it checks what the entrypoint does when it runs as root")
	}
	for _, tc := range []struct {
		v        Version
		drop     bool
		warnRoot bool
	}{{Version{1, 20}, true, false}, {Version{1, 18}, true, false}, {Version{2, 2}, false, true}} {
		home := flinkHome(t, tc.v)
		dropped := false
		var out, errb syncBuffer
		// A TaskManager too small to start ends at once where it is not stopped by the drop.
		e := &Entrypoint{Args: []string{"taskmanager"}, Env: []string{"FLINK_HOME=" + home, "FLINK_VERSION=" + tc.v.String(),
			"FLINK_PROPERTIES=taskmanager.memory.process.size: 1000000000b"}, Hostname: "sim-host", Stdout: &out, Stderr: &errb,
			DropPrivileges: func() error { dropped = true; return os.ErrPermission }}
		code := e.Run(t.Context())
		if dropped != tc.drop || tc.drop && (code != ExitStartupFailure || !strings.Contains(errb.String(), `error: failed switching to "flink"`)) {
			t.Errorf("%s: dropped %v, exit %d, stderr %q", tc.v, dropped, code, errb.String())
		}
		if warned := strings.Contains(out.String(), "WARNING: Running as root user is not recommended."); warned != tc.warnRoot {
			t.Errorf("%s: root warning %v, want %v", tc.v, warned, tc.warnRoot)
		}
	}
}
