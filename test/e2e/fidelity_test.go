package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/test/testenv"
)

// Fidelity tests: one per point of the real image's behaviour that flinkd must survive, each
// on the stand-in (which follows the real entrypoint, file and user of its version), with
// the real binaries. Each test fails when flinkd gets its point wrong.

// fidelitySpec renders a SessionCluster on image (registry/repository:tag) for Flink
// version with the given flinkConfiguration lines and extra spec lines (two-space indented).
func fidelitySpec(name, version, image string, tms int, conf map[string]string, extra string) string {
	reg, rest, _ := strings.Cut(image, "/")
	repo, tag, _ := strings.Cut(rest, ":")
	var b strings.Builder
	fmt.Fprintf(&b, `kind: SessionCluster
apiVersion: v1
metadata:
  name: %s
spec:
  state: RUNNING
  flinkVersion: "%s"
  flinkImageRegistry: %s
  flinkImageRepository: %s
  flinkImageTag: "%s"
  numberOfTaskManagers: %d
  flinkConfiguration:
    heartbeat.interval: 200
    heartbeat.timeout: 2000
`, name, version, reg, repo, tag, tms)
	for _, k := range sortedKeys(conf) {
		fmt.Fprintf(&b, "    %s: %q\n", k, conf[k])
	}
	b.WriteString(extra)
	return b.String()
}

// Point 1: from 1.19 on the entrypoint rewrites config.yaml as nested YAML at every start,
// and a key that is a dotted prefix of another breaks that rewrite (the stand-in writes the
// error into config.yaml and the processes crash-loop). The everyday pairs run, every key's
// intent kept under Flink's successor names, and the renames are warnings.
func TestFidelityLegacyKeyPairsRunUnderTheNestedRewrite(t *testing.T) {
	t.Parallel()
	img := testenv.SimImageOf(t, dockerClient(t), "1.20")
	f := newFlinkd(t)
	name := uniqueName("pairs")
	conf := map[string]string{
		"state.backend": "rocksdb", "state.backend.incremental": "true",
		"restart-strategy": "fixed-delay", "restart-strategy.fixed-delay.attempts": "3",
		"high-availability": "NONE", "high-availability.storageDir": "file:///tmp/ha",
		"env.java.opts": "-Dfoo=bar", "env.java.opts.taskmanager": "-Dtm=1",
	}
	file := f.write(name+".yaml", fidelitySpec(name, "1.20", img, 1, conf, ""))

	res := f.flinkctl("validate", file)
	if res.Code != 0 {
		t.Fatalf("validate refused the file:\n%s", res)
	}
	for _, legacy := range []string{"state.backend", "restart-strategy", "high-availability", "env.java.opts"} {
		if len(linesWith(res.Stderr, "warning: spec.flinkConfiguration["+legacy+"]: flinkd writes it as ")) != 1 {
			t.Errorf("validate does not warn about the rename of %s:\n%s", legacy, res)
		}
	}

	cs := f.waitRunning(name, 1)
	if len(cs.Warnings) != 4 {
		t.Errorf("status warnings %q, want the 4 renames", cs.Warnings)
	}
	got := jobManagerConfig(t, cs.RESTURL)
	for k, want := range map[string]string{
		"state.backend.type": "rocksdb", "state.backend.incremental": "true",
		"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "3",
		"high-availability.type": "NONE", "high-availability.storageDir": "file:///tmp/ha",
		"env.java.opts.taskmanager": "-Dtm=1",
	} {
		if got[k] != want {
			t.Errorf("/jobmanager/config %s = %q, want %q", k, got[k], want)
		}
	}
	if !strings.Contains(got["env.java.opts.all"], "-Dfoo=bar") {
		t.Errorf("/jobmanager/config env.java.opts.all = %q, want it to hold -Dfoo=bar", got["env.java.opts.all"])
	}
	for _, legacy := range []string{"state.backend", "restart-strategy", "high-availability", "env.java.opts"} {
		if v, ok := got[legacy]; ok {
			t.Errorf("/jobmanager/config still has the legacy key %s = %q", legacy, v)
		}
	}
	for id, c := range f.clusterContainers(name) {
		if r := c.Labels["flinkd.io/restarts"]; r != "0" {
			t.Errorf("%s was restarted (%s times)", id, r)
		}
	}

	// A pair without a successor is refused, naming both fields.
	bad := f.write("."+name+"-bad.yaml", fidelitySpec(name+"-bad", "1.20", img, 1,
		map[string]string{"metrics.reporter.prom": "x", "metrics.reporter.prom.port": "9249"}, ""))
	res = f.flinkctl("validate", bad)
	if res.Code == 0 || len(linesWith(res.Stderr, "spec.flinkConfiguration[metrics.reporter.prom]", "spec.flinkConfiguration[metrics.reporter.prom.port]")) != 2 {
		t.Errorf("validate of a pair without successor:\n%s", res)
	}
}

// Point 2: Flink 2.x images ship the Java 17 module flags in env.java.opts.all in their own
// config.yaml; without --add-opens=java.base/java.util=ALL-UNNAMED a job fails with
// InaccessibleObjectException. The image's flags and the user's options both apply.
func TestFidelityImageModuleFlagsSurviveNextToTheUsersJVMOptions(t *testing.T) {
	t.Parallel()
	image := testenv.SimImageOf(t, dockerClient(t), "2.2")
	f := newFlinkd(t)
	name := uniqueName("flags")
	f.write(name+".yaml", fidelitySpec(name, "2.2", image, 1, map[string]string{
		"taskmanager.numberOfTaskSlots": "1", "env.java.opts.all": "-Dfoo=bar -Dbaz=qux"}, ""))
	cs := f.waitRunning(name, 1)
	opts := jobManagerConfig(t, cs.RESTURL)["env.java.opts.all"]
	for _, want := range []string{"--add-opens=java.base/java.util=ALL-UNNAMED", "-Dfoo=bar -Dbaz=qux"} {
		if !strings.Contains(opts, want) {
			t.Errorf("env.java.opts.all = %q, want it to hold %q", opts, want)
		}
	}
	// Without java.util opened in the JobManager's JVM the stand-in, like Flink, answers the
	// jar's run with InaccessibleObjectException and creates no job. An image with Flink's
	// examples (the real-Flink test image) runs one of them; the stand-in takes any jar.
	jar := []byte("PK fake jar")
	if b, ok := fileOf(t, f, f.clusterContainers(name)["jobmanager"].ID, "/opt/flink/examples/streaming/WindowJoin.jar"); ok {
		jar = b
	}
	job := runJar(t, cs.RESTURL, "flags.jar", jar, 1)
	waitJobState(t, cs.RESTURL, job, "RUNNING")
	if n := jobRestarts(t, cs.RESTURL, job); n != 0 {
		t.Errorf("the job has %d exceptions", n)
	}
}

// Point 3: "$" is kept as written everywhere (only ${NAME} of the spec's env vars is
// expanded), and on 1.18, whose entrypoint passes flink-conf.yaml through envsubst and whose
// reader cuts at '#', what would change is refused with its field path.
func TestFidelityDollarAndHashValuesReachFlinkAsWritten(t *testing.T) {
	t.Parallel()
	img118 := testenv.SimImageOf(t, dockerClient(t), "1.18")
	img120 := testenv.SimImageOf(t, dockerClient(t), "1.20")
	f := newFlinkd(t)
	env := "  kubernetes:\n    pods:\n      envVars:\n        - {name: APP_REF, value: \"r$5\"}\n"
	values := map[string]string{
		"app.word": "pa$$word", "app.cost": "cost $5", "app.home": "$HOME", "app.ref": "${APP_REF}",
		"app.unset": "${UNSET}", "app.fragment": "http://h/p#frag",
	}
	want := map[string]string{
		"app.word": "pa$$word", "app.cost": "cost $5", "app.home": "$HOME", "app.ref": "r$5",
		"app.unset": "${UNSET}", "app.fragment": "http://h/p#frag",
	}
	name := uniqueName("dollar")
	f.write(name+".yaml", fidelitySpec(name, "1.20", img120, 1, values, env))
	cs := f.waitRunning(name, 1)
	got := jobManagerConfig(t, cs.RESTURL)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("1.20: /jobmanager/config %s = %q, want %q", k, got[k], w)
		}
	}

	// 1.18: envsubst and '#' would change these; validate refuses each with its path.
	bad := f.write("."+name+"-118.yaml", fidelitySpec(name+"-old", "1.18", img118, 1, values, env))
	res := f.flinkctl("validate", bad)
	if res.Code == 0 {
		t.Fatalf("validate accepted 1.18 values envsubst or the legacy reader would change:\n%s", res)
	}
	for _, k := range []string{"app.word", "app.home", "app.fragment"} {
		if len(linesWith(res.Stderr, "spec.flinkConfiguration["+k+"]")) != 1 {
			t.Errorf("validate does not name spec.flinkConfiguration[%s]:\n%s", k, res)
		}
	}
	// What survives both reaches a 1.18 Flink unchanged.
	ok := map[string]string{"app.cost": "cost $5", "app.ref": "${APP_REF}"}
	old := uniqueName("dollar-old")
	f.write(old+".yaml", fidelitySpec(old, "1.18", img118, 1, ok, env))
	cs = f.waitRunning(old, 1)
	got = jobManagerConfig(t, cs.RESTURL)
	for k, w := range map[string]string{"app.cost": "cost $5", "app.ref": "r$5"} {
		if got[k] != w {
			t.Errorf("1.18: /jobmanager/config %s = %q, want %q", k, got[k], w)
		}
	}
}

// Point 4: Flink 1.19 and 1.20 read conf/flink-conf.yaml instead of config.yaml when it
// exists, and an image built on the official one may ship one. flinkd's configuration is in
// the file Flink reads, with the image's own settings kept.
func TestFidelityAnImagesFlinkConfYamlCarriesFlinkdsConfiguration(t *testing.T) {
	t.Parallel()
	base := testenv.SimImageOf(t, dockerClient(t), "1.20")
	image := testenv.DerivedImage(t, dockerClient(t), "flinkd-test-legacy-conf",
		"FROM "+base+"\nCOPY --chown=9999:9999 flink-conf.yaml /opt/flink/conf/flink-conf.yaml\n",
		map[string]string{"flink-conf.yaml": "jobmanager.rpc.address: localhost\ntaskmanager.numberOfTaskSlots: 1\n" +
			"jobmanager.memory.process.size: 1600m\ntaskmanager.memory.process.size: 1728m\nimage.marker: from-the-image\n"})
	f := newFlinkd(t)
	name := uniqueName("legacy")
	f.write(name+".yaml", fidelitySpec(name, "1.20", image, 2, map[string]string{"taskmanager.numberOfTaskSlots": "3"}, ""))
	cs := f.waitRunning(name, 2)
	got := jobManagerConfig(t, cs.RESTURL)
	for k, w := range map[string]string{"taskmanager.numberOfTaskSlots": "3", "image.marker": "from-the-image", "jobmanager.rpc.address": "jobmanager"} {
		if got[k] != w {
			t.Errorf("/jobmanager/config %s = %q, want %q", k, got[k], w)
		}
	}
	var ov struct {
		Slots int `json:"slots-total"`
	}
	getJSON(t, cs.RESTURL+"/overview", &ov)
	if ov.Slots != 6 {
		t.Errorf("slots-total %d, want 2 TaskManagers of 3", ov.Slots)
	}
}

// Point 5: an image whose layout differs makes the cluster FAILED with a message naming the
// image and what is missing, not a crash loop; one that runs as another user gets its
// configuration owned by that user, so that its entrypoint's edits (FLINK_PROPERTIES here)
// still apply.
func TestFidelityAnImageOfAnotherLayoutFailsNamingItAndAnotherUserWorks(t *testing.T) {
	t.Parallel()
	cli := dockerClient(t)
	base := testenv.SimImageOf(t, cli, "1.20")
	noConf := testenv.DerivedImage(t, cli, "flinkd-test-no-conf",
		"FROM scratch\nCOPY --from="+base+" /docker-entrypoint.sh /docker-entrypoint.sh\nCOPY --from="+base+" /etc/ /etc/\n"+
			"ENV FLINK_HOME=/opt/flink FLINK_VERSION=1.20\nENTRYPOINT [\"/docker-entrypoint.sh\"]\n", nil)
	otherUser := testenv.DerivedImage(t, cli, "flinkd-test-other-user",
		"FROM "+base+"\nCOPY --from="+base+" --chown=1000:1000 /opt/flink/ /opt/flink/\nUSER 1000:1000\n", nil)
	f := newFlinkd(t)

	name := uniqueName("layout")
	f.write(name+".yaml", fidelitySpec(name, "1.20", noConf, 1, nil, ""))
	cs := f.waitPhase(name, "FAILED")
	if !strings.Contains(cs.Message, noConf) || !strings.Contains(cs.Message, "/opt/flink/conf") {
		t.Errorf("FAILED message %q does not name the image and /opt/flink/conf", cs.Message)
	}

	other := uniqueName("user")
	f.write(other+".yaml", fidelitySpec(other, "1.20", otherUser, 1, nil,
		"  kubernetes:\n    pods:\n      envVars:\n        - {name: FLINK_PROPERTIES, value: \"parallelism.default: 7\"}\n"))
	cs = f.waitRunning(other, 1)
	if got := jobManagerConfig(t, cs.RESTURL)["parallelism.default"]; got != "7" {
		t.Errorf("parallelism.default = %q, want the entrypoint's FLINK_PROPERTIES edit 7", got)
	}
}

// Point 6: a memory size Flink refuses is an error of validate (and of the daemon, which
// never applies it) with the field, Flink's reason and the smallest size that works; that
// size does start on the stand-in, whose memory model is its own code.
func TestFidelityMemoryFlinkRefusesIsAnErrorWithTheSmallestSizeThatWorks(t *testing.T) {
	t.Parallel()
	img := testenv.SimImageOf(t, dockerClient(t), "1.20")
	f := newFlinkd(t)
	name := uniqueName("memory")
	spec := fidelitySpec(name, "1.20", img, 1, nil, "  resources:\n    jobmanager: {memory: 650m}\n    taskmanager: {memory: 1g}\n")
	file := f.write(name+".yaml", spec)
	res := f.flinkctl("validate", file)
	if res.Code == 0 {
		t.Fatalf("validate accepted a TaskManager of 1g:\n%s", res)
	}
	errLine := linesWith(res.Stderr, "spec.resources.taskmanager.memory", "Flink 1.20 refuses",
		"exceed configured Total Flink Memory (505.674mb (530237952 bytes))", "the smallest size that works is 1.03g")
	if len(errLine) != 1 {
		t.Errorf("validate does not give the field, Flink's reason and the smallest size:\n%s", res)
	}
	if len(linesWith(res.Stderr, "warning: spec.resources.jobmanager.memory", "recommended minimum value")) != 1 {
		t.Errorf("validate does not warn about the JobManager's heap:\n%s", res)
	}
	// The daemon reads the same file: an invalid spec, listed with the error, never applied.
	deadline := time.Now().Add(waitLong)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		list, _, err := f.client().Clusters(ctx)
		cancel()
		i := slices.IndexFunc(list, func(cs api.ClusterStatus) bool { return cs.Name == name })
		if err == nil && i >= 0 && slices.ContainsFunc(list[i].FileErrors, func(e string) bool {
			return strings.Contains(e, "the smallest size that works is 1.03g")
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon does not list %s as invalid with the smallest size (err %v): %+v", name, err, list)
		}
		time.Sleep(pollInterval) // poll interval
	}
	if n := len(f.clusterContainers(name)); n != 0 {
		t.Errorf("the invalid spec was applied: %d containers", n)
	}

	f.write(name+".yaml", strings.Replace(spec, "memory: 1g", "memory: 1.03g", 1))
	cs := f.waitRunning(name, 1)
	if !slices.ContainsFunc(cs.Warnings, func(w string) bool { return strings.Contains(w, "recommended minimum value") }) {
		t.Errorf("status warnings %q lack the JobManager's heap", cs.Warnings)
	}
}

// fileOf returns the file at path in container id, and false when there is none.
func fileOf(t *testing.T, f *flinkd, id, path string) ([]byte, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	rc, _, err := f.docker.CopyFromContainer(ctx, id, path)
	if cerrdefs.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("copy %s from %s: %v", path, id, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		t.Fatalf("copy %s from %s: %v", path, id, err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatalf("copy %s from %s: %v", path, id, err)
	}
	return b, true
}

// runJar uploads jar under name and runs it with the given parallelism; it returns the job ID.
func runJar(t *testing.T, restURL, name string, jar []byte, parallelism int) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("jarfile", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(jar); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	var up struct {
		Filename string `json:"filename"`
	}
	restDo(t, http.MethodPost, restURL+"/jars/upload", mw.FormDataContentType(), body.Bytes(), &up)
	req, _ := json.Marshal(map[string]any{"parallelism": parallelism})
	var run struct {
		JobID string `json:"jobid"`
	}
	restDo(t, http.MethodPost, restURL+"/jars/"+path.Base(up.Filename)+"/run", "application/json", req, &run)
	if run.JobID == "" {
		t.Fatalf("running jar %s gave no job id", up.Filename)
	}
	return run.JobID
}
