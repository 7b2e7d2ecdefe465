package kube

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

// configMapConf reads the ConfigMap's Flink configuration file the way Flink does.
func configMapConf(t *testing.T, data map[string]string) map[string]string {
	t.Helper()
	var b *flinkconf.Base
	if text, ok := data[flinkconf.ConfigYAML]; ok {
		var err error
		if b, err = flinkconf.ParseStandard([]byte(text)); err != nil {
			t.Fatalf("config.yaml does not parse: %v\n%s", err, text)
		}
	} else {
		b = flinkconf.ParseLegacy([]byte(data[flinkconf.LegacyConfigYAML]))
	}
	out := map[string]string{}
	for _, k := range b.Keys() {
		out[k], _ = b.Get(k)
	}
	return out
}

// specCluster is testCluster with the Flink configuration the daemon derives from a spec of
// version with conf and env vars (spec.Spec.FlinkConfig), after checking that the spec is valid.
func specCluster(t *testing.T, name, version string, conf map[string]string, env []spec.EnvVar) runtime.Cluster {
	t.Helper()
	sc := &spec.SessionCluster{Kind: "SessionCluster", APIVersion: "v1", Metadata: spec.Metadata{Name: name},
		Spec: spec.Spec{State: spec.StateRunning, FlinkVersion: version, FlinkConfiguration: conf,
			Kubernetes: spec.Kubernetes{Pods: spec.Pods{EnvVars: env}}}}
	spec.Default(sc)
	if errs, _ := spec.Validate(sc); len(errs) > 0 {
		t.Fatalf("spec invalid: %v", errs)
	}
	c := testCluster(t, name, 1)
	c.FlinkVersion = version
	c.FlinkConfig, _ = sc.Spec.FlinkConfig()
	return c
}

func applyAndGetConfigMap(t *testing.T, c runtime.Cluster) (env, map[string]string) {
	t.Helper()
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, namesFor(c.Key).configMap, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get configmap: %v", err)
	}
	return e, cm.Data
}

// Point 1 on Kubernetes: the ConfigMap's config.yaml holds the everyday legacy pairs under
// their successors, nested, with no dotted-prefix pair left, so that the entrypoint's rewrite
// (load, flatten, apply, nest) gives back the same configuration.
func TestConfigMapHoldsLegacyPairsUnderTheirSuccessorsNested(t *testing.T) {
	t.Parallel()
	c := specCluster(t, "pairs", "1.20", map[string]string{
		"state.backend": "rocksdb", "state.backend.incremental": "true",
		"restart-strategy": "fixed-delay", "restart-strategy.fixed-delay.attempts": "3",
		"high-availability": "kubernetes", "high-availability.storageDir": "s3://b/ha",
		"env.java.opts": "-Dfoo=bar", "env.java.opts.taskmanager": "-Dtm=1",
	}, nil)
	_, data := applyAndGetConfigMap(t, c)
	text := data[flinkconf.ConfigYAML]
	conf := configMapConf(t, data)
	for k, v := range map[string]string{
		"state.backend.type": "rocksdb", "state.backend.incremental": "true",
		"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "3",
		"high-availability.type": "kubernetes", "high-availability.storageDir": "s3://b/ha",
		"env.java.opts.taskmanager": "-Dtm=1",
	} {
		if conf[k] != v {
			t.Errorf("%s = %q, want %q", k, conf[k], v)
		}
	}
	if !strings.HasSuffix(conf["env.java.opts.all"], " -Dfoo=bar") {
		t.Errorf("env.java.opts.all = %q, want the image's flags then -Dfoo=bar", conf["env.java.opts.all"])
	}
	if pairs := flinkconf.PrefixPairs(slices.Collect(maps.Keys(conf))); len(pairs) > 0 {
		t.Errorf("prefix pairs %v in:\n%s", pairs, text)
	}
	for _, line := range strings.Split(text, "\n") {
		k, _, _ := strings.Cut(strings.TrimSpace(line), ":")
		if !strings.HasPrefix(line, "#") && strings.Contains(strings.Trim(k, `"`), ".") {
			t.Errorf("a dotted key in the nested file: %q", line)
		}
	}
	// The rewrite: Flink flattens the file, adds the entrypoint's keys with the values flinkd
	// wrote, and nests it again; nothing changes in meaning.
	rewritten := maps.Clone(conf)
	rewritten[flinkconf.KeyQueryServerPort] = "6125"
	f, err := flinkconf.Render(flinkconf.Layers{Version: flinkconf.VersionOf("1.20"), Cluster: rewritten})
	if err != nil {
		t.Fatalf("the rewrite of flinkd's file fails: %v", err)
	}
	again := configMapConf(t, map[string]string{flinkconf.ConfigYAML: string(f.Data)})
	delete(again, flinkconf.KeyQueryServerPort)
	if diff := cmp.Diff(conf, again); diff != "" {
		t.Errorf("the rewrite changes the configuration (-flinkd's +rewritten):\n%s", diff)
	}
}

// Point 2 on Kubernetes: the ConfigMap keeps the official image's module flags (flink-dist's
// defaults, the stated fallback: the image cannot be read before its pods run) with the
// user's JVM options after them, and the init container copies the image's own conf folder
// into the pod's before flinkd's files, so every other file the image ships survives.
func TestConfigMapKeepsTheModuleFlagsAndInitCopiesTheImagesConfFirst(t *testing.T) {
	t.Parallel()
	c := specCluster(t, "flags", "2.2", map[string]string{"env.java.opts.all": "-Dfoo=bar -Dbaz=qux"}, nil)
	e, data := applyAndGetConfigMap(t, c)
	opts := configMapConf(t, data)["env.java.opts.all"]
	if !strings.Contains(opts, "--add-opens=java.base/java.util=ALL-UNNAMED") || !strings.HasSuffix(opts, " -Dfoo=bar -Dbaz=qux") {
		t.Errorf("env.java.opts.all = %q, want the module flags, then the user's options", opts)
	}
	for _, name := range []string{namesFor(c.Key).jobManager, namesFor(c.Key).taskManager} {
		d := getDeployment(t, e, name)
		pod := d.Spec.Template.Spec
		init, main := pod.InitContainers[0], pod.Containers[0]
		if diff := cmp.Diff([]string{"/bin/sh", "-c", initScript(flinkconf.VersionOf("2.2"))}, init.Command); diff != "" {
			t.Errorf("%s init command (-want +got):\n%s", name, diff)
		}
		if init.Image != main.Image {
			t.Errorf("%s: the init container runs %s, not the pod's image %s: it would copy another image's conf folder", name, init.Image, main.Image)
		}
		var initConf, mainConf string
		for _, m := range init.VolumeMounts {
			if m.Name == volumeConf {
				initConf = m.MountPath
			}
		}
		for _, m := range main.VolumeMounts {
			if m.Name == volumeConf {
				mainConf = m.MountPath
			}
		}
		if initConf == flinkconf.Dir || mainConf != flinkconf.Dir {
			t.Errorf("%s: the emptyDir is at %s in the init container and %s in the main one; want it away from the image's %s in the first and over it in the second",
				name, initConf, mainConf, flinkconf.Dir)
		}
	}
}

// runInitScript runs initScript(v) with /bin/sh, its three folders moved under a temporary
// root: the image's conf folder (files image), the ConfigMap (files configMap) and the
// emptyDir. It returns the emptyDir's files and the script's output.
func runInitScript(t *testing.T, v flinkconf.Version, image, configMap map[string]string) (map[string]string, string, error) {
	t.Helper()
	root := t.TempDir()
	dirs := map[string]string{configMountPath: root + "/config", stageMountPath: root + "/stage", flinkconf.Dir: root + "/image/conf"}
	script := initScript(v)
	// configMountPath first: stageMountPath is a prefix of it.
	for _, p := range []string{configMountPath, stageMountPath, flinkconf.Dir} {
		script = strings.ReplaceAll(script, p, dirs[p])
	}
	write := func(dir string, files map[string]string) {
		if files == nil {
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, c := range files {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(dirs[flinkconf.Dir], image)
	write(dirs[configMountPath], configMap)
	write(dirs[stageMountPath], map[string]string{})
	out, err := exec.CommandContext(t.Context(), "/bin/sh", "-c", script).CombinedOutput()
	got := map[string]string{}
	entries, _ := os.ReadDir(dirs[stageMountPath])
	for _, e := range entries {
		b, rerr := os.ReadFile(filepath.Join(dirs[stageMountPath], e.Name()))
		if rerr != nil {
			t.Fatal(rerr)
		}
		got[e.Name()] = string(b)
	}
	return got, string(out), err
}

func TestInitScriptCopiesTheImagesConfFolderThenFlinkdsFiles(t *testing.T) {
	image := map[string]string{"config.yaml": "image", "flink-conf.yaml": "image legacy", "log4j-console.properties": "image",
		"logback-console.xml": "image logback", "core-site.xml": "custom"}
	got, out, err := runInitScript(t, flinkconf.VersionOf("1.20"), image,
		map[string]string{"config.yaml": "flinkd", "log4j-console.properties": "flinkd log4j"})
	if err != nil {
		t.Fatalf("init script: %v\n%s", err, out)
	}
	want := map[string]string{"config.yaml": "flinkd", "log4j-console.properties": "flinkd log4j",
		"logback-console.xml": "image logback", "core-site.xml": "custom"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("1.20 conf folder (-want +got):\n%s", diff)
	}
	// Before 1.19 the ConfigMap's file is flink-conf.yaml, which replaces the image's.
	got, out, err = runInitScript(t, flinkconf.VersionOf("1.18"), image,
		map[string]string{"flink-conf.yaml": "flinkd legacy", "log4j-console.properties": "flinkd log4j"})
	if err != nil || got["flink-conf.yaml"] != "flinkd legacy" || got["core-site.xml"] != "custom" {
		t.Errorf("1.18 conf folder %v, err %v\n%s", got, err, out)
	}
	// An image without the conf folder: the init container fails, saying what is missing.
	_, out, err = runInitScript(t, flinkconf.VersionOf("2.2"), nil, map[string]string{"config.yaml": "flinkd"})
	if err == nil || !strings.Contains(out, "flinkd: the image has no ") || !strings.Contains(out, "image/conf, the folder the official Flink image reads") {
		t.Errorf("without %s: err %v, output %q", flinkconf.Dir, err, out)
	}
}

// Point 3 on Kubernetes: '$' reaches the ConfigMap as written, ${NAME} of the spec's env vars
// expanded; the kubelet's own $(VAR) expansion applies only where flinkd means it (the
// TaskManager's address and ID), user env values being escaped; 1.18 gets a flat
// flink-conf.yaml.
func TestConfigMapKeepsDollarValuesAsWritten(t *testing.T) {
	t.Parallel()
	env := []spec.EnvVar{{Name: "APP_REF", Value: "r$5"}}
	c := specCluster(t, "dollar", "1.20", map[string]string{"app.word": "pa$$word", "app.cost": "cost $5", "app.home": "$HOME",
		"app.ref": "${APP_REF}", "app.unset": "${UNSET}", "app.kube": "$(POD_IP)", "app.fragment": "http://h/p#f"}, env)
	c.TaskManager.Env = []runtime.EnvVar{{Name: "APP_REF", Value: "r$5"}, {Name: "LITERAL", Value: "$(NOT_EXPANDED)"}}
	e, data := applyAndGetConfigMap(t, c)
	conf := configMapConf(t, data)
	for k, v := range map[string]string{"app.word": "pa$$word", "app.cost": "cost $5", "app.home": "$HOME", "app.ref": "r$5",
		"app.unset": "${UNSET}", "app.kube": "$(POD_IP)", "app.fragment": "http://h/p#f"} {
		if conf[k] != v {
			t.Errorf("%s = %q, want %q", k, conf[k], v)
		}
	}
	tm := getDeployment(t, e, namesFor(c.Key).taskManager).Spec.Template.Spec.Containers[0]
	wantArgs := []string{"taskmanager", "-Dtaskmanager.resource-id=$(POD_NAME)", "-Dtaskmanager.host=$(POD_IP)"}
	if diff := cmp.Diff(wantArgs, tm.Args); diff != "" {
		t.Errorf("taskmanager args (-want +got):\n%s", diff)
	}
	if !slices.Contains(envStrings(tm.Env), "LITERAL=$$(NOT_EXPANDED)") || !slices.Contains(envStrings(tm.Env), "APP_REF=r$5") {
		t.Errorf("taskmanager env %v: user values must reach the process as written", envStrings(tm.Env))
	}

	old := specCluster(t, "dollar-old", "1.18", map[string]string{"app.cost": "cost $5", "app.ref": "${APP_REF}"}, env)
	_, data = applyAndGetConfigMap(t, old)
	if _, ok := data[flinkconf.ConfigYAML]; ok {
		t.Errorf("1.18 ConfigMap has a config.yaml")
	}
	if diff := cmp.Diff(map[string]string{"app.cost": "cost $5", "app.ref": "r$5"},
		map[string]string{"app.cost": configMapConf(t, data)["app.cost"], "app.ref": configMapConf(t, data)["app.ref"]}); diff != "" {
		t.Errorf("1.18 flink-conf.yaml (-want +got):\n%s\n%s", diff, data[flinkconf.LegacyConfigYAML])
	}
}
