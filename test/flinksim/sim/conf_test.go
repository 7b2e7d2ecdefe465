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
	got := flinkPropertiesOptions(props, Version{1, 20}, nil)
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

func TestFlinkPropertiesAreOnlyTrimmedFromFlink22(t *testing.T) {
	got := flinkPropertiesOptions("  env.java.opts.all: -Xmx1g -Dfoo=bar  \nrestart-strategy.fixed-delay.delay: 10 s", Version{2, 2}, nil)
	want := []option{{"env.java.opts.all", "-Xmx1g -Dfoo=bar"}, {"restart-strategy.fixed-delay.delay", "10 s"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(option{})); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

func TestFlinkPropertiesValuesGoThroughEnvsubst(t *testing.T) {
	env := map[string]string{"BUCKET": "prod", "POD_IP": "10.0.0.7"}
	got := flinkPropertiesOptions("state.checkpoints.dir: s3://$BUCKET/${BUCKET}-ck\njobmanager.rpc.address: ${POD_IP}\nsecret: $UNSET_VAR\nliteral: $$ and $1", Version{1, 20}, env)
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
		wantWarn   bool
	}{
		{"1.18 reads flink-conf.yaml", []string{ConfigYAML}, Version{1, 18}, LegacyConfigYAML, true, false},
		{"1.20 prefers a present flink-conf.yaml", []string{ConfigYAML, LegacyConfigYAML}, Version{1, 20}, LegacyConfigYAML, true, false},
		{"1.20 reads config.yaml otherwise", []string{ConfigYAML}, Version{1, 20}, ConfigYAML, false, false},
		{"2.1 reads only config.yaml and warns", []string{ConfigYAML, LegacyConfigYAML}, Version{2, 1}, ConfigYAML, false, true},
		{"2.0 without flink-conf.yaml does not warn", []string{ConfigYAML}, Version{2, 0}, ConfigYAML, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("a: b\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			path, legacy, warning := configFile(dir, tc.v)
			if filepath.Base(path) != tc.wantFile || legacy != tc.wantLegacy || (warning != "") != tc.wantWarn {
				t.Errorf("configFile = %s, legacy %v, warning %q; want %s, %v, warning %v", filepath.Base(path), legacy, warning, tc.wantFile, tc.wantLegacy, tc.wantWarn)
			}
		})
	}
}

func TestLoadConfigFailsWhenTheVersionsFileIsMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ConfigYAML), []byte("a: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := loadConfig(dir, Version{1, 18}, func(string) {})
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
empty:
`
	c, err := parseStandardYAML([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"jobmanager.rpc.address":         "jm",
		"jobmanager.rpc.port":            "6123",
		"jobmanager.memory.process.size": "1600m",
		"taskmanager.numberOfTaskSlots":  "4",
		"env.java.opts.all":              "-Xmx1g -Dfoo=bar",
		"pipeline.classpaths":            "a.jar;b.jar",
		"flag":                           "on",
	}
	if diff := cmp.Diff(want, c.Map()); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestStandardYAMLRejectsDuplicateKeys(t *testing.T) {
	for _, data := range []string{
		"a: 1\na: 2\n",
		"a:\n  b: 1\na.b: 2\n",
	} {
		if _, err := parseStandardYAML([]byte(data)); err == nil || !strings.Contains(err.Error(), "duplicate key") {
			t.Errorf("parseStandardYAML(%q) err = %v, want a duplicate key error", data, err)
		}
	}
}

func TestRenderedStandardYAMLReadsBackExactly(t *testing.T) {
	c := newConf()
	for k, v := range map[string]string{"a": "32", "b": "true", "c": "-Xmx1g -Dfoo=bar", "d": "x: y # z", "e": "", "weird key": "v"} {
		c.set(k, v)
	}
	back, err := parseStandardYAML(renderStandardYAML(c))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c.Map(), back.Map()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
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
	want := TaskManagerMemory{
		FrameworkHeap: 128 * mib, TaskHeap: 384 * mib, FrameworkOffHeap: 128 * mib, TaskOffHeap: 0,
		NetworkMemory: 128 * mib, ManagedMemory: 512 * mib, JVMMetaspace: 256 * mib, JVMOverhead: 192 * mib,
		TotalFlinkMemory: 1280 * mib, TotalProcess: 1728 * mib,
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
		"kubernetes suffix":     {map[string]string{"taskmanager.memory.process.size": "2Gi"}, "does not match any of the recognized units"},
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
