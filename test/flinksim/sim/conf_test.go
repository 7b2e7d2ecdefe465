package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFlinkPropertiesLoseAllWhitespaceBeforeFlink22(t *testing.T) {
	props := "  env.java.opts.all: -Xmx1g -Dfoo=bar\n\n" +
		"restart-strategy.fixed-delay.delay: 10 s\n" +
		"\tstate.checkpoints.dir: s3://bucket/ck\n" +
		"kubernetes.jobmanager.annotations: a:b,c:d\n" +
		"trailing.colon: x:\n"
	got := flinkPropertiesOptions(props, nil)
	want := []option{
		{"env.java.opts.all", "-Xmx1g-Dfoo=bar"},
		{"restart-strategy.fixed-delay.delay", "10s"},
		{"state.checkpoints.dir", "s3://bucket/ck"},
		{"kubernetes.jobmanager.annotations", "a:b,c:d"},
		{"trailing.colon", "x"}, // bash's read drops a single trailing delimiter
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(option{})); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

func TestFlinkPropertiesValuesGoThroughEnvsubst(t *testing.T) {
	env := map[string]string{"BUCKET": "prod", "POD_IP": "10.0.0.7"}
	got := flinkPropertiesOptions("state.checkpoints.dir: s3://$BUCKET/${BUCKET}-ck\njobmanager.rpc.address: ${POD_IP}\nsecret: $UNSET_VAR\nliteral: $$ and $1", env)
	want := []option{
		{"state.checkpoints.dir", "s3://prod/prod-ck"},
		{"jobmanager.rpc.address", "10.0.0.7"},
		{"secret", ""},
		{"literal", "$$1"}, // after whitespace deletion "$and" is a variable
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(option{})); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

func TestConfigFileDependsOnFlinkVersion(t *testing.T) {
	for _, tc := range []struct {
		name       string
		files      []string
		v          Version
		wantFile   string
		wantLegacy bool
	}{
		{"1.18 reads flink-conf.yaml", []string{ConfigYAML}, Version{1, 18}, LegacyConfigYAML, true},
		{"1.19 prefers a present flink-conf.yaml", []string{ConfigYAML, LegacyConfigYAML}, Version{1, 19}, LegacyConfigYAML, true},
		{"1.20 prefers a present flink-conf.yaml", []string{ConfigYAML, LegacyConfigYAML}, Version{1, 20}, LegacyConfigYAML, true},
		{"1.20 reads config.yaml otherwise", []string{ConfigYAML}, Version{1, 20}, ConfigYAML, false},
		{"2.2 reads only config.yaml", []string{ConfigYAML, LegacyConfigYAML}, Version{2, 2}, ConfigYAML, false},
		{"2.0 reads only config.yaml", []string{ConfigYAML}, Version{2, 0}, ConfigYAML, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("a: b\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			path, legacy := configFile(dir, tc.v)
			if filepath.Base(path) != tc.wantFile || legacy != tc.wantLegacy {
				t.Errorf("configFile = %s, legacy %v; want %s, %v", filepath.Base(path), legacy, tc.wantFile, tc.wantLegacy)
			}
		})
	}
}

func TestLoadConfigFailsWhenTheVersionsFileIsMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ConfigYAML), []byte("a: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(dir, Version{1, 18}, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "flink-conf.yaml") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("loadConfig for 1.18 with only config.yaml: err = %v, want flink-conf.yaml does not exist", err)
	}
}

func TestLegacyReaderKeepsFlinksQuirks(t *testing.T) {
	data := "# comment\n" +
		"a: plain\n" +
		"b: \"quoted\"\n" +
		"c: value # trailing comment\n" +
		"d: s3://x#fragment\n" +
		"e:novalue-without-space\n" +
		"f: a: b\n" +
		"   g  :   spaced   \n"
	var warnings []string
	c := parseLegacyConfig([]byte(data), "flink-conf.yaml", func(w string) { warnings = append(warnings, w) })
	want := map[string]string{"a": "plain", "b": `"quoted"`, "c": "value", "d": "s3://x", "f": "a: b", "g": "spaced"}
	if diff := cmp.Diff(want, c.Map()); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "flink-conf.yaml:6") {
		t.Errorf("warnings = %q, want one for line 6", warnings)
	}
}

func TestStandardYAMLIsFlattenedAndUnquoted(t *testing.T) {
	data := `
jobmanager:
  rpc:
    address: jm
    port: 6123
  memory.process.size: 1600m
taskmanager.numberOfTaskSlots: "4"
env.java.opts.all: '-Xmx1g -Dfoo=bar'
pipeline.classpaths: [a.jar, b.jar]
flag: on
`
	c, err := parseStandardYAML([]byte(data), Version{2, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"jobmanager.rpc.address":         "jm",
		"jobmanager.rpc.port":            "6123",
		"jobmanager.memory.process.size": "1600m",
		"taskmanager.numberOfTaskSlots":  "4",
		"env.java.opts.all":              "-Xmx1g -Dfoo=bar",
		"pipeline.classpaths":            "[a.jar, b.jar]", // YamlParserUtils.toYAMLString
		"flag":                           "on",
	}
	if diff := cmp.Diff(want, c.Map()); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// A key without a value is YAML null, which Configuration.setValueInternal refuses: the whole
// load fails (flink-dist 1.20.5 and 2.2.1: "Caused by: java.lang.NullPointerException: Value
// must not be null.").
func TestStandardYAMLKeyWithoutAValueFailsTheLoad(t *testing.T) {
	for _, v := range []Version{{1, 20}, {2, 2}} {
		_, err := parseStandardYAML([]byte("a.b: 1\nfidelity.empty:\nc: x\n"), v)
		if want := "java.lang.RuntimeException: Error parsing YAML configuration.\nCaused by: java.lang.NullPointerException: Value must not be null."; err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %q", v, err, want)
		}
	}
}

// Every file the entrypoint wrote its own error into starts with "[ERROR] Could not parse
// configurations properly.": snakeyaml-engine reads "[ERROR]" as a flow sequence and stops
// at what follows it (flink-dist 1.20.5 and 2.2.1).
func TestStandardYAMLOnAnEntrypointErrorFileIsSnakeyamlsError(t *testing.T) {
	_, err := parseStandardYAML([]byte("[ERROR] Could not parse configurations properly.\n[ERROR] Raw output from BashJavaUtils:\nINFO  [] - x\n"), Version{2, 2})
	want := "java.lang.RuntimeException: Error parsing YAML configuration.\n" +
		"Caused by: org.snakeyaml.engine.v2.exceptions.YamlEngineException: expected '<document start>', but found '<scalar>'\n in reader, line 1, column 9\n"
	if err == nil || err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestStandardYAMLRejectsDuplicateKeysInOneMappingOnly(t *testing.T) {
	if _, err := parseStandardYAML([]byte("a: 1\na: 2\n"), Version{2, 2}); err == nil || !strings.Contains(err.Error(), "found duplicate key a") {
		t.Errorf("a key twice in one mapping: err = %v, want snakeyaml's duplicate key error", err)
	}
	// Nested and flat spellings of one key flatten into one HashMap entry: the later wins.
	c, err := parseStandardYAML([]byte("a:\n  b: 1\na.b: 2\n"), Version{2, 2})
	if err != nil || c.vals["a.b"] != "2" {
		t.Errorf("a.b nested then flat: %v, err %v; want 2 and no error", c.Map(), err)
	}
}

func TestNestedDumpReadsBackExactly(t *testing.T) {
	c := newConf()
	for k, v := range map[string]string{"a.x": "32", "a.y": "true", "c": "-Xmx1g -Dfoo=bar", "d": "x: y # z", "e": "", "f": "'q'", "g": "[a, b]", "h.i.j": "line1\nline2", "k": "~", "l": "on"} {
		c.set(k, v)
	}
	c.put("m", "6123", true)
	data, err := dumpNested(c, Version{2, 2})
	if err != nil {
		t.Fatal(err)
	}
	back, err := parseStandardYAML(data, Version{2, 2})
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if diff := cmp.Diff(c.Map(), back.Map()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\n%s", diff, data)
	}
	if diff := cmp.Diff(c.typed, back.typed); diff != "" {
		t.Errorf("types after the round trip (-want +got):\n%s", diff)
	}
	for _, want := range []string{"a:\n", "  x: '32'\n", "  y: 'true'\n", "m: 6123\n", "c: -Xmx1g -Dfoo=bar\n", "l: on\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("dump lacks %q:\n%s", want, data)
		}
	}
}

// The image's own config.yaml is what flink-dist 2.2.1's config-parser-utils.sh wrote at
// build time; reading it and dumping it again must give the same bytes (HashMap order,
// nesting, quoting), as the real rewrite does at every start.
func TestNestedDumpOfTheImagesConfigIsTheImagesConfig(t *testing.T) {
	for _, v := range []string{"1.20", "2.2"} {
		data, err := os.ReadFile(filepath.Join("..", "image", "conf", v, ConfigYAML))
		if err != nil {
			t.Fatal(err)
		}
		c, err := parseStandardYAML(data, mustVersion(v))
		if err != nil {
			t.Fatal(err)
		}
		out, err := dumpNested(c, mustVersion(v))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(data), string(out)); diff != "" {
			t.Errorf("%s: dump of the image's config.yaml (-image +dump):\n%s", v, diff)
		}
	}
}

// The rewrite of a file holding only the restart-strategy pair, with the entrypoint's fixed
// options, throws (flink-dist 1.20.5 and 2.2.1); beside the image's own configuration the
// state.backend pair loses its longer key without a word. Both come from the order of
// Flink's HashMaps, which test/fidelity holds to the real image on many more files.
func TestPrefixPairsGoTheWayFlinksHashMapOrderSends(t *testing.T) {
	fixed := []option{{"jobmanager.rpc.address", "jobmanager"}, {"blob.server.port", "6124"}, {"query.server.port", "6125"}}
	for _, v := range []string{"1.20", "2.2"} {
		image, err := os.ReadFile(filepath.Join("..", "image", "conf", v, ConfigYAML))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			file, want string
		}{
			{"restart-strategy: fixed-delay\nrestart-strategy.fixed-delay.attempts: 3\n", "Exception in thread \"main\" java.lang.ClassCastException: class java.lang.String cannot be cast to class java.util.Map"},
			{string(image) + "state.backend: hashmap\nstate.backend.incremental: true\n", "state:\n  backend: hashmap\n"},
		} {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ConfigYAML), []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			out := string(bashJavaUtilsUpdate(dir, mustVersion(v), fixed))
			if !strings.Contains(out, c.want) || strings.Contains(out, "incremental") {
				t.Errorf("%s: the rewrite of\n%s\ngave\n%s\nwant it to contain %q", v, c.file, out, c.want)
			}
		}
	}
}

// The dynamic properties' log lines come in the order of the HashMap Flink copies the
// parser's Properties into (flink-dist 2.2.1: blob.server.port, jobmanager.rpc.address,
// query.server.port).
func TestDynamicPropertiesInFlinksOrder(t *testing.T) {
	c := dynamicConf([]option{{"jobmanager.rpc.address", "jm"}, {"blob.server.port", "6124"}, {"query.server.port", "6125"}})
	if diff := cmp.Diff([]string{"blob.server.port", "jobmanager.rpc.address", "query.server.port"}, c.keys()); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestDynamicPropertiesInBothForms(t *testing.T) {
	props, rest, err := parseDynamicProperties([]string{"-D", "a=1", "host", "-Db=x=y", "8081"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]option{{"a", "1"}, {"b", "x=y"}}, props, cmp.AllowUnexported(option{})); diff != "" {
		t.Errorf("props (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"host", "8081"}, rest); diff != "" {
		t.Errorf("rest (-want +got):\n%s", diff)
	}
	if _, _, err := parseDynamicProperties([]string{"-D"}); err == nil {
		t.Error("a trailing -D should be an error")
	}
}

func TestParseMemorySizeAcceptsFlinkUnitsOnly(t *testing.T) {
	for in, want := range map[string]int64{
		"1728m": 1728 * mib, "1g": gib, "1G": gib, "512 mb": 512 * mib, "2gb": 2 * gib,
		"1024": 1024, "10kibibytes": 10 * kib, "1t": tib, "64 bytes": 64,
	} {
		got, err := ParseMemorySize(in)
		if err != nil || got != want {
			t.Errorf("ParseMemorySize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"1.5g", "2Gi", "1Mi", "g", "", "10x"} {
		if _, err := ParseMemorySize(in); err == nil {
			t.Errorf("ParseMemorySize(%q) = nil error, want one", in)
		}
	}
}

func TestTaskManagerMemoryFromTheDefaultProcessSize(t *testing.T) {
	m, err := DeriveTaskManagerMemory(map[string]string{"taskmanager.memory.process.size": "1728m"})
	if err != nil {
		t.Fatal(err)
	}
	// What BashJavaUtils GET_TM_RESOURCE_PARAMS of flink-dist 1.20.4 and 2.2.1 prints for
	// it: the fractions are Floats (0.4f, 0.1f), so managed and network are a few bytes above
	// 512 and 128 MiB.
	want := TaskManagerMemory{
		FrameworkHeap: 128 * mib, TaskHeap: 402653174, FrameworkOffHeap: 128 * mib, TaskOffHeap: 0,
		NetworkMemory: 134217730, ManagedMemory: 536870920, JVMMetaspace: 256 * mib, JVMOverhead: 192 * mib,
		TotalFlinkMemory: 1280 * mib, TotalProcess: 1728 * mib,
		// ProcessMemoryUtils.capToMinMax logs it.
		Info: []string{"The derived from fraction jvm overhead memory (172.800mb (181193935 bytes)) is less than its min value 192.000mb (201326592 bytes), min value will be used instead"},
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("memory (-want +got):\n%s", diff)
	}
}

func TestTaskManagerMemoryFailsAsFlinkDoes(t *testing.T) {
	for name, tc := range map[string]struct {
		conf map[string]string
		want string
	}{
		"nothing configured":    {map[string]string{}, "need to be configured explicitly"},
		"kubernetes suffix":     {map[string]string{"taskmanager.memory.process.size": "2Gi"}, "Memory size unit 'gi' does not match any of the recognized units"},
		"fraction":              {map[string]string{"taskmanager.memory.process.size": "1.5g"}, "taskmanager.memory.process.size"},
		"below metaspace":       {map[string]string{"taskmanager.memory.process.size": "400m"}, "exceed configured Total Process Memory"},
		"components over total": {map[string]string{"taskmanager.memory.process.size": "800m"}, "exceed configured Total Flink Memory"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DeriveTaskManagerMemory(tc.conf)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "IllegalConfigurationException") {
				t.Errorf("err = %v, want an IllegalConfigurationException containing %q", err, tc.want)
			}
		})
	}
	if _, err := DeriveTaskManagerMemory(map[string]string{"taskmanager.memory.process.size": "1g"}); err != nil {
		t.Errorf("1g (the VVP minimum) should fit: %v", err)
	}
}

// Figures measured with BashJavaUtils of flink-dist 1.20.4 and 2.2.1 (the same in both):
// the dynamic configuration it prints for each TaskManager configuration.
func TestTaskManagerMemoryMatchesFlink(t *testing.T) {
	for _, tc := range []struct {
		conf                                 string
		taskHeap, network, managed, overhead int64
	}{
		{"taskmanager.memory.process.size: 1g", 26843542, 67108864, 241591914, 201326592},
		{"taskmanager.memory.process.size: 2g", 563714445, 166429984, 665719939, 214748368},
		{"taskmanager.memory.process.size: 32g", 16240344842, 3301756158, 13207024632, 1073741824},
		{"taskmanager.memory.process.size: 3000000000b", 947346797, 243156457, 972625830, 300000004},
		{"taskmanager.memory.flink.size: 1g", 268435448, 107374184, 429496736, 201326592},
		{"taskmanager.memory.task.heap.size: 512m;taskmanager.memory.managed.size: 256m", 512 * mib, 119304649, 256 * mib, 201326592},
		{"taskmanager.memory.process.size: 2g;taskmanager.memory.network.fraction: 0.2", 397284460, 332859969, 665719939, 214748368},
		{"taskmanager.memory.process.size: 2g;taskmanager.memory.jvm-overhead.fraction: 0.2", 456340262, 144955147, 579820591, 429496736},
		{"taskmanager.memory.process.size: 4g;taskmanager.memory.task.heap.size: 1g", gib, 816043761, 1438814063, 429496736},
	} {
		conf := map[string]string{}
		for _, kv := range strings.Split(tc.conf, ";") {
			k, v, _ := strings.Cut(kv, ": ")
			conf[k] = v
		}
		m, err := DeriveTaskManagerMemory(conf)
		if err != nil {
			t.Errorf("%s: %v", tc.conf, err)
			continue
		}
		if m.TaskHeap != tc.taskHeap || m.NetworkMemory != tc.network || m.ManagedMemory != tc.managed || m.JVMOverhead != tc.overhead {
			t.Errorf("%s: task heap %d, network %d, managed %d, overhead %d; Flink: %d, %d, %d, %d", tc.conf,
				m.TaskHeap, m.NetworkMemory, m.ManagedMemory, m.JVMOverhead, tc.taskHeap, tc.network, tc.managed, tc.overhead)
		}
	}
}

// What flinkd writes for a spec's "1g" (10^9 bytes) is too small for a TaskManager: Flink's
// exact message, from BashJavaUtils of 1.20.4 and 2.2.1.
func TestTaskManagerOfOneDecimalGigabyteFailsWithFlinksMessage(t *testing.T) {
	_, err := DeriveTaskManagerMemory(map[string]string{"taskmanager.memory.process.size": "1000000000b"})
	want := "org.apache.flink.configuration.IllegalConfigurationException: TaskManager memory configuration failed: " +
		"Sum of configured Framework Heap Memory (128.000mb (134217728 bytes)), Framework Off-Heap Memory (128.000mb (134217728 bytes)), " +
		"Task Off-Heap Memory (0 bytes), Managed Memory (202.270mb (212095183 bytes)) and Network Memory (64.000mb (67108864 bytes)) " +
		"exceed configured Total Flink Memory (505.674mb (530237952 bytes))."
	if err == nil || !strings.HasPrefix(err.Error(), want+"\nCaused by: org.apache.flink.configuration.IllegalConfigurationException: Sum of configured") {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	m, err := DeriveJobManagerMemory(map[string]string{"jobmanager.memory.process.size": "1000000000b"})
	if err != nil || m.Heap != 396020224 || m.OffHeap != 128*mib || m.Overhead != 192*mib {
		t.Errorf("JobManager of 10^9 bytes: %+v, %v; Flink: heap 396020224, off-heap 128 MiB, overhead 192 MiB", m, err)
	}
}

func TestJobManagerMemoryErrorsAreWrappedBefore2(t *testing.T) {
	_, err := DeriveJobManagerMemory(map[string]string{"jobmanager.memory.process.size": "500m"})
	msg := "The configured Total Flink Memory (52.000mb (54525952 bytes)) is less than the configured Off-heap Memory (128.000mb (134217728 bytes))."
	if got := JobManagerMemoryError(Version{2, 2}, err); got == nil || got.Error() != illegalConfig+msg {
		t.Errorf("2.2: %v", got)
	}
	if got := JobManagerMemoryError(Version{1, 20}, err); got == nil || !strings.HasPrefix(got.Error(), illegalConfig+"JobManager memory configuration failed: "+msg) {
		t.Errorf("1.20: %v", got)
	}
}

func TestJobManagerMemoryFromTheDefaultProcessSize(t *testing.T) {
	m, err := DeriveJobManagerMemory(map[string]string{"jobmanager.memory.process.size": "1600m"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Heap != 1024*mib || m.OffHeap != 128*mib || m.Overhead != 192*mib || m.TotalProcess != 1600*mib || m.Warning != "" {
		t.Errorf("memory = %+v, want heap 1024m, off-heap 128m, overhead 192m, total 1600m", m)
	}
	m, err = DeriveJobManagerMemory(map[string]string{"jobmanager.memory.process.size": "650m"})
	if err != nil || m.Warning == "" {
		t.Errorf("650m: err %v, warning %q; want a heap-below-minimum warning", err, m.Warning)
	}
	if _, err := DeriveJobManagerMemory(map[string]string{}); err == nil {
		t.Error("no JobManager memory configured should fail")
	}
}

func TestParseDurationTakesFlinkForms(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"10000": 10 * time.Second, "10 s": 10 * time.Second, "50ms": 50 * time.Millisecond,
		"1min": time.Minute, "2 h": 2 * time.Hour, "5 minutes": 5 * time.Minute,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := ParseDuration("soon"); err == nil {
		t.Error(`ParseDuration("soon") should fail`)
	}
}
