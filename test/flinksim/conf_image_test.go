package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// These tests put configuration files into the image's conf/ the way flinkd's Docker
// runtime does (docker cp of a tar: owner and mode as the tar says) and check what the
// real image would do with them: the entrypoint's nested rewrite, its failures, the user it
// runs as, the JVM options of 2.2 on Java 17, masking, 1.18's envsubst.

// file is one file for conf/.
type file struct {
	data string
	mode int64
	uid  int
}

// flinkFile is a file as flinkd copies it in: owned by flink (9999), mode 0644.
func flinkFile(data string) file { return file{data: data, mode: 0o644, uid: 9999} }

// box is a container made with the docker CLI (created, given files, then started), cleaned
// up when the test ends.
type box struct {
	id   string
	name string
}

func (s *scope) create(t *testing.T, image string, nw *testcontainers.DockerNetwork, alias string, env map[string]string, args ...string) *box {
	t.Helper()
	name := "flinksim-" + s.id + "-" + alias
	cmd := []string{"create", "--label", testLabel + "=" + s.id, "--name", name}
	if nw != nil {
		cmd = append(cmd, "--network", nw.Name, "--network-alias", alias)
	} else {
		cmd = append(cmd, "--network", "none")
	}
	if alias == "jobmanager" {
		cmd = append(cmd, "-p", "127.0.0.1::8081")
	}
	for k, v := range env {
		cmd = append(cmd, "-e", k+"="+v)
	}
	cmd = append(cmd, image)
	cmd = append(cmd, args...)
	id := mustDocker(t, cmd...)
	t.Cleanup(func() { _, _ = docker(t, "rm", "--force", id) })
	return &box{id: id, name: name}
}

// put copies files into dir of the container, with the owners and modes given.
func (b *box) put(t *testing.T, dir string, files map[string]file) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, f := range files {
		hdr := &tar.Header{Name: name, Mode: f.mode, Size: int64(len(f.data)), Uid: f.uid, Gid: f.uid, ModTime: time.Now()}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "cp", "-", b.id+":"+dir)
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker cp into %s: %v\n%s", b.name, err, out)
	}
}

// get reads a file of the container (running or not) and its tar header.
func (b *box) get(t *testing.T, path string) (string, *tar.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "cp", b.id+":"+path, "-").Output()
	if err != nil {
		t.Fatalf("docker cp %s from %s: %v", path, b.name, err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	hdr, err := tr.Next()
	if err != nil {
		t.Fatalf("tar of %s: %v", path, err)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	return string(data), hdr
}

func (b *box) start(t *testing.T) {
	t.Helper()
	mustDocker(t, "start", b.id)
}

// wait waits for the container to exit and returns its exit code.
func (b *box) wait(t *testing.T) int {
	t.Helper()
	out := mustDocker(t, "wait", b.id)
	code, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("docker wait %s: %q", b.name, out)
	}
	return code
}

// logs returns stdout and stderr.
func (b *box) logs(t *testing.T) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "logs", b.id)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker logs %s: %v", b.name, err)
	}
	return stdout.String(), stderr.String()
}

// rest waits for the JobManager's REST API and returns its base URL.
func (b *box) rest(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		port, err := docker(t, "port", b.id, "8081/tcp")
		if err == nil {
			url := "http://" + strings.TrimSpace(strings.Split(port, "\n")[0])
			var v map[string]any
			if getJSON(t, url+"/config", &v) {
				return url
			}
		}
		if time.Now().After(deadline) {
			stdout, stderr := b.logs(t)
			t.Fatalf("no REST API from %s after 90 s (docker port: %v)\nstdout:\n%s\nstderr:\n%s", b.name, err, stdout, stderr)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
}

func jobManagerConfig(t *testing.T, rest string) map[string]string {
	t.Helper()
	var entries []map[string]string
	if !getJSON(t, rest+"/jobmanager/config", &entries) {
		t.Fatal("GET /jobmanager/config failed")
	}
	out := map[string]string{}
	for _, e := range entries {
		out[e["key"]] = e["value"]
	}
	return out
}

const jmEnv = "jobmanager"

func TestRewriteLeavesConfigYAMLNestedAfterStart(t *testing.T) {
	flat := "jobmanager.memory.process.size: 1600m\nstate.backend.type: rocksdb\nstate.backend.incremental: true\nrestart-strategy.type: none\nparallelism.default: 2\n" +
		"s3.secret-key: hush\nenv.java.opts.all: -Dfoo=bar -Dbaz=qux\n"
	// Byte for byte what flink-dist 1.20.4 and 2.2.1's config-parser-utils.sh write for this
	// file and the entrypoint's fixed options.
	want := "blob:\n  server:\n    port: '6124'\ns3:\n  secret-key: hush\nrestart-strategy:\n  type: none\n" +
		"parallelism:\n  default: 2\njobmanager:\n  rpc:\n    address: jobmanager\n  memory:\n    process:\n      size: 1600m\nstate:\n  backend:\n    incremental: true\n    type: rocksdb\n" +
		"env:\n  java:\n    opts:\n      all: -Dfoo=bar -Dbaz=qux\nquery:\n  server:\n    port: '6125'\n"
	for _, v := range []string{"1.20", "2.2"} {
		t.Run(v, func(t *testing.T) {
			s := newScope()
			nw := s.network(t)
			jm := s.create(t, simImage(t, v), nw, "jobmanager", map[string]string{"JOB_MANAGER_RPC_ADDRESS": jmEnv}, "jobmanager")
			jm.put(t, "/opt/flink/conf", map[string]file{"config.yaml": flinkFile(flat)})
			jm.start(t)
			rest := jm.rest(t)
			got, hdr := jm.get(t, "/opt/flink/conf/config.yaml")
			if got != want {
				t.Errorf("config.yaml after start:\n%s\nwant:\n%s", got, want)
			}
			if hdr.Uid != 9999 {
				t.Errorf("config.yaml is owned by %d after the rewrite, want flink's 9999 (truncated in place)", hdr.Uid)
			}
			conf := jobManagerConfig(t, rest)
			if conf["state.backend.incremental"] != "true" || conf["env.java.opts.all"] != "-Dfoo=bar -Dbaz=qux" || conf["s3.secret-key"] != "******" {
				t.Errorf("/jobmanager/config = %v", conf)
			}
		})
	}
}

func TestPrefixPairWritesTheErrorIntoConfigYAMLAndCrashLoops(t *testing.T) {
	for _, v := range []string{"1.20", "2.2"} {
		t.Run(v, func(t *testing.T) {
			s := newScope()
			jm := s.create(t, simImage(t, v), nil, "jobmanager", nil, "jobmanager")
			// A file whose pair throws (flink-dist 1.20.5 and 2.2.1 throw on it too; with
			// state.backend and state.backend.incremental instead they drop the longer key).
			jm.put(t, "/opt/flink/conf", map[string]file{"config.yaml": flinkFile(
				"jobmanager.memory.process.size: 1600m\nrestart-strategy: fixed-delay\nrestart-strategy.fixed-delay.attempts: 3\n")})
			jm.start(t)
			if code := jm.wait(t); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			got, _ := jm.get(t, "/opt/flink/conf/config.yaml")
			if !strings.HasPrefix(got, "[ERROR] Could not parse configurations properly.\n[ERROR] Raw output from BashJavaUtils:\n") ||
				!strings.Contains(got, `Exception in thread "main" java.lang.ClassCastException: class java.lang.String cannot be cast to class java.util.Map`) {
				t.Errorf("config.yaml after the first start:\n%s", got)
			}
			stdout, stderr := jm.logs(t)
			if !strings.Contains(stdout, "[ERROR] Could not get JVM parameters and dynamic configurations properly.") ||
				!strings.Contains(stdout, `Exception in thread "main" java.lang.RuntimeException: Error parsing YAML configuration.`) ||
				!strings.Contains(stderr, "[ERROR] The execution result is empty.") {
				t.Errorf("logs:\n%s\nstderr:\n%s", stdout, stderr)
			}
			// The next start (a restart policy's) finds the error text and fails again.
			jm.start(t)
			if code := jm.wait(t); code != 1 {
				t.Errorf("exit code of the second start %d, want 1", code)
			}
			if got, _ := jm.get(t, "/opt/flink/conf/config.yaml"); !strings.Contains(got, "Error parsing YAML configuration.") {
				t.Errorf("config.yaml after the second start:\n%s", got)
			}
		})
	}
}

// A config file the entrypoint cannot write (2.2 runs as flink: mode 0444 stops it) is
// skipped with the shell's error; the JobManager starts with the file as it was.
func TestReadOnlyConfigFileIsSkippedWithTheShellsError(t *testing.T) {
	s := newScope()
	nw := s.network(t)
	data := "jobmanager.rpc.address: jobmanager\njobmanager.memory.process.size: 1600m\nstate.backend: rocksdb\nstate.backend.incremental: true\n"
	jm := s.create(t, simImage(t, "2.2"), nw, "jobmanager", map[string]string{"JOB_MANAGER_RPC_ADDRESS": "elsewhere"}, "jobmanager")
	jm.put(t, "/opt/flink/conf", map[string]file{"config.yaml": {data: data, mode: 0o444, uid: 9999}})
	jm.start(t)
	rest := jm.rest(t)
	_, stderr := jm.logs(t)
	if want := "/opt/flink/bin/config-parser-utils.sh: line 42: /opt/flink/conf/config.yaml: Permission denied"; !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
	if got, _ := jm.get(t, "/opt/flink/conf/config.yaml"); got != data {
		t.Errorf("config.yaml changed:\n%s", got)
	}
	conf := jobManagerConfig(t, rest)
	if conf["jobmanager.rpc.address"] != "jobmanager" || conf["state.backend"] != "rocksdb" || conf["state.backend.incremental"] != "true" {
		t.Errorf("/jobmanager/config = %v; want the file's values (the rewrite is lost)", conf)
	}
}

// 1.20 runs the entrypoint as root: a file's mode does not stop the rewrite.
func TestOneTwentyRewritesEvenAReadOnlyFileAsRoot(t *testing.T) {
	s := newScope()
	jm := s.create(t, simImage(t, "1.20"), nil, "jobmanager", map[string]string{"JOB_MANAGER_RPC_ADDRESS": "jm"}, "help")
	jm.put(t, "/opt/flink/conf", map[string]file{"config.yaml": {data: "a.b: c\n", mode: 0o444, uid: 9999}})
	jm.start(t)
	if code := jm.wait(t); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	if got, _ := jm.get(t, "/opt/flink/conf/config.yaml"); !strings.Contains(got, "a:\n  b: c\n") || !strings.Contains(got, "    address: jm\n") {
		t.Errorf("config.yaml:\n%s", got)
	}
}

// The processes run as flink (9999): 1.20 after gosu, 2.2 from the start. Files the 1.20
// entrypoint creates belong to root; the 2.2 one cannot create files in a conf/ flink may
// not write.
func TestProcessesRunAsFlinkAndTheEntrypointWritesAsItsUser(t *testing.T) {
	for _, tc := range []struct {
		v        string
		fileUID  int
		writeErr bool
	}{{"1.20", 0, false}, {"2.2", -1, true}} {
		t.Run(tc.v, func(t *testing.T) {
			s := newScope()
			nw := s.network(t)
			jm := s.create(t, simImage(t, tc.v), nw, "jobmanager", map[string]string{"JOB_MANAGER_RPC_ADDRESS": jmEnv}, "jobmanager")
			jm.start(t)
			jm.rest(t)
			top := mustDocker(t, "top", jm.id, "-o", "pid,uid,args")
			rows := strings.Split(top, "\n")[1:]
			for _, row := range rows {
				if f := strings.Fields(row); len(f) < 2 || f[1] != "9999" {
					t.Errorf("docker top:\n%s\nwant every process as uid 9999", top)
				}
			}
			if len(rows) == 0 {
				t.Errorf("docker top shows no process:\n%s", top)
			}

			// An empty, root-owned conf/ mounted from the host.
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", "--label", testLabel+"="+s.id,
				"-v", dir+":/opt/flink/conf", simImage(t, tc.v), "help")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("help: %v\n%s", err, stderr.String())
			}
			st, err := os.Stat(filepath.Join(dir, "config.yaml"))
			if tc.writeErr {
				if err == nil || !strings.Contains(stderr.String(), "config-parser-utils.sh: line 42: /opt/flink/conf/config.yaml: Permission denied") {
					t.Errorf("2.2 in a root-owned conf/: stat %v, stderr %q", err, stderr.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("1.20 did not create config.yaml: %v (stderr %q)", err, stderr.String())
			}
			if uid := fileUID(st); uid != tc.fileUID {
				t.Errorf("config.yaml created by uid %d, want %d", uid, tc.fileUID)
			}
		})
	}
}

// runJar uploads a jar to the JobManager and runs it; it returns the status and body of
// the run.
func runJar(t *testing.T, rest string) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("jarfile", "job.jar")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(fw, "PK not really a jar")
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	code, data := post(t, rest+"/jars/upload", mw.FormDataContentType(), &body)
	var up map[string]string
	if code != http.StatusOK || json.Unmarshal(data, &up) != nil || up["status"] != "success" {
		t.Fatalf("upload: %d %s", code, data)
	}
	jar := up["filename"][strings.LastIndex(up["filename"], "/")+1:]
	return post(t, rest+"/jars/"+jar+"/run", "application/json", strings.NewReader(`{"entryClass":"org.example.Job"}`))
}

// runJob runs a jar and returns the job's ID.
func runJob(t *testing.T, rest string) string {
	t.Helper()
	code, data := runJar(t, rest)
	var run map[string]string
	if code != http.StatusOK || json.Unmarshal(data, &run) != nil || run["jobid"] == "" {
		t.Fatalf("run: %d %s", code, data)
	}
	return run["jobid"]
}

func post(t *testing.T, url, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp.StatusCode, data
}

func jobStatus(t *testing.T, rest, id string) string {
	t.Helper()
	var st map[string]string
	if !getJSON(t, rest+"/jobs/"+id+"/status", &st) {
		return ""
	}
	return st["status"]
}

// cluster starts a JobManager and a TaskManager of image on a new network; conf, when not
// empty, replaces the image's config.yaml in both (as a runtime that writes its own file
// does).
func cluster(t *testing.T, image, conf string) string {
	t.Helper()
	s := newScope()
	nw := s.network(t)
	env := map[string]string{"JOB_MANAGER_RPC_ADDRESS": jmEnv}
	jm := s.create(t, image, nw, "jobmanager", env, "jobmanager")
	tm := s.create(t, image, nw, "taskmanager", env, "taskmanager")
	for _, b := range []*box{jm, tm} {
		if conf != "" {
			b.put(t, "/opt/flink/conf", map[string]file{"config.yaml": flinkFile(conf)})
		}
		b.start(t)
	}
	rest := jm.rest(t)
	waitFor(t, 90*time.Second, "one TaskManager with its slot", func() bool {
		var o map[string]any
		return getJSON(t, rest+"/overview", &o) && o["taskmanagers"] == float64(1) && o["slots-total"] == float64(1)
	})
	return rest
}

// flinkdLikeConf is a config.yaml written from scratch, without the image's
// env.java.opts.all.
const flinkdLikeConf = "jobmanager.memory.process.size: 1600m\ntaskmanager.memory.process.size: 1728m\n" +
	"taskmanager.numberOfTaskSlots: 1\njobmanager.bind-host: 0.0.0.0\ntaskmanager.bind-host: 0.0.0.0\nrest.address: 0.0.0.0\n"

// On Java 17 (2.2) a jar's main() needs java.util opened in the JobManager's JVM (the
// image's config.yaml has it in env.java.opts.all); without it the run fails with
// InaccessibleObjectException, as flink-dist 2.2.1 on Java 17 does.
func TestJava17JobsNeedTheModuleFlagsOfTheImagesConfig(t *testing.T) {
	const open = "--add-opens=java.base/java.util=ALL-UNNAMED"
	runs := func(t *testing.T, rest string) {
		id := runJob(t, rest)
		waitFor(t, 60*time.Second, "job RUNNING", func() bool { return jobStatus(t, rest, id) == "RUNNING" })
	}
	fails := func(t *testing.T, rest string) {
		code, data := runJar(t, rest)
		if code != http.StatusBadRequest || !strings.Contains(string(data), `Caused by: java.lang.reflect.InaccessibleObjectException: Unable to make field private final java.util.Map java.util.Collections$UnmodifiableMap.m accessible: module java.base does not \"opens java.util\" to unnamed module`) {
			t.Errorf("run: %d %s", code, data)
		}
	}
	t.Run("2.2 with the image's config.yaml runs", func(t *testing.T) { runs(t, cluster(t, simImage(t, "2.2"), "")) })
	t.Run("2.2 without env.java.opts.all fails", func(t *testing.T) { fails(t, cluster(t, simImage(t, "2.2"), flinkdLikeConf)) })
	t.Run("2.2 with the flag for the JobManager runs", func(t *testing.T) {
		runs(t, cluster(t, simImage(t, "2.2"), flinkdLikeConf+"env.java.opts.jobmanager: "+open+"\n"))
	})
	t.Run("2.2 with the flag for the TaskManagers only fails", func(t *testing.T) {
		fails(t, cluster(t, simImage(t, "2.2"), flinkdLikeConf+"env.java.opts.taskmanager: "+open+"\n"))
	})
	t.Run("1.20 on Java 11 runs without them", func(t *testing.T) { runs(t, cluster(t, simImage(t, "1.20"), flinkdLikeConf)) })
}

func TestJobManagerConfigMasksSensitiveKeysAsTheVersionDoes(t *testing.T) {
	props := "s3.secret-key: hush\nfs.s3a.access.key: AKIA\ncustom.api-key: k1\nmetrics.reporter.r.http-headers: h\n" +
		"security.ssl.rest.keystore-password: p\nfs.azure.account.key.a.blob.core.windows.net: az\nauth.token: tok"
	for _, tc := range []struct {
		v    string
		want map[string]string
	}{
		{"2.2", map[string]string{"s3.secret-key": "******", "fs.s3a.access.key": "AKIA", "custom.api-key": "******",
			"metrics.reporter.r.http-headers": "******", "security.ssl.rest.keystore-password": "******",
			"fs.azure.account.key.a.blob.core.windows.net": "******", "auth.token": "******"}},
		{"1.20", map[string]string{"custom.api-key": "k1", "metrics.reporter.r.http-headers": "******", "fs.s3a.access.key": "AKIA"}},
		{"1.18", map[string]string{"metrics.reporter.r.http-headers": "h", "s3.secret-key": "******"}},
	} {
		t.Run(tc.v, func(t *testing.T) {
			s := newScope()
			nw := s.network(t)
			jm := s.create(t, simImage(t, tc.v), nw, "jobmanager", map[string]string{"JOB_MANAGER_RPC_ADDRESS": jmEnv, "FLINK_PROPERTIES": props}, "jobmanager")
			jm.start(t)
			conf := jobManagerConfig(t, jm.rest(t))
			for k, want := range tc.want {
				if conf[k] != want {
					t.Errorf("%s = %q, want %q", k, conf[k], want)
				}
			}
			if stdout, _ := jm.logs(t); strings.Contains(stdout, "hush") {
				t.Error("the JobManager logged a secret")
			}
		})
	}
}

// 1.18's entrypoint runs envsubst over the whole flink-conf.yaml; Flink's legacy reader cuts
// values at '#'.
func TestOneEighteenEnvsubstsTheFileAndCutsValuesAtHash(t *testing.T) {
	s := newScope()
	nw := s.network(t)
	conf := "jobmanager.rpc.address: jobmanager\njobmanager.memory.process.size: 1600m\nrest.bind-address: 0.0.0.0\n" +
		"state.checkpoints.dir: s3://${BUCKET}/ck\ns3.access-key: $S3_USER\nsecurity.ssl.rest.truststore-password: pa$$word\n" +
		"pipeline.name: job #1\nkubernetes.pods.note: ${NOT_SET}x\n"
	jm := s.create(t, simImage(t, "1.18"), nw, "jobmanager", map[string]string{"JOB_MANAGER_RPC_ADDRESS": jmEnv, "BUCKET": "prod"}, "jobmanager")
	jm.put(t, "/opt/flink/conf", map[string]file{"flink-conf.yaml": flinkFile(conf)})
	jm.start(t)
	got := jobManagerConfig(t, jm.rest(t))
	for k, want := range map[string]string{
		"state.checkpoints.dir": "s3://prod/ck", "pipeline.name": "job", "kubernetes.pods.note": "x",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if _, ok := got["s3.access-key"]; ok {
		t.Errorf("s3.access-key = %q: its value became empty, so Flink's reader skips the line", got["s3.access-key"])
	}
	file, _ := jm.get(t, "/opt/flink/conf/flink-conf.yaml")
	if !strings.Contains(file, "security.ssl.rest.truststore-password: pa$\n") || !strings.Contains(file, "s3.access-key: \n") {
		t.Errorf("flink-conf.yaml after envsubst:\n%s", file)
	}
}

func fileUID(st os.FileInfo) int {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid)
	}
	return -1
}
