package flinkconf

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	v118 = Version{1, 18}
	v120 = Version{1, 20}
	v22  = Version{2, 2}
)

func TestRenameLegacy(t *testing.T) {
	for _, tt := range []struct {
		name    string
		v       Version
		conf    map[string]string
		want    map[string]string
		renamed []Rename
		clashes []Rename
	}{{
		name: "the issue's everyday pairs, 1.20",
		v:    v120,
		conf: map[string]string{
			"state.backend": "rocksdb", "state.backend.incremental": "true",
			"restart-strategy": "fixed-delay", "restart-strategy.fixed-delay.attempts": "3",
			"high-availability": "kubernetes", "high-availability.storageDir": "s3://ha",
			"env.java.opts": "-Dfoo=bar", "env.java.opts.taskmanager": "-Dtm=1",
		},
		want: map[string]string{
			"state.backend.type": "rocksdb", "state.backend.incremental": "true",
			"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "3",
			"high-availability.type": "kubernetes", "high-availability.storageDir": "s3://ha",
			"env.java.opts.all": "-Dfoo=bar", "env.java.opts.taskmanager": "-Dtm=1",
		},
		renamed: []Rename{{"env.java.opts", "env.java.opts.all"}, {"high-availability", "high-availability.type"},
			{"restart-strategy", "restart-strategy.type"}, {"state.backend", "state.backend.type"}},
	}, {
		name:    "a lone legacy key is renamed too, 2.2",
		v:       v22,
		conf:    map[string]string{"execution.checkpointing.unaligned": "true", "kubernetes.container.image": "x"},
		want:    map[string]string{"execution.checkpointing.unaligned.enabled": "true", "kubernetes.container.image.ref": "x"},
		renamed: []Rename{{"execution.checkpointing.unaligned", "execution.checkpointing.unaligned.enabled"}, {"kubernetes.container.image", "kubernetes.container.image.ref"}},
	}, {
		name:    "legacy and successor both set: a clash, both kept for the caller to refuse",
		v:       v120,
		conf:    map[string]string{"state.backend": "rocksdb", "state.backend.type": "hashmap"},
		want:    map[string]string{"state.backend": "rocksdb", "state.backend.type": "hashmap"},
		clashes: []Rename{{"state.backend", "state.backend.type"}},
	}, {
		name: "1.18 reads its flat flink-conf.yaml as written: nothing renamed",
		v:    v118,
		conf: map[string]string{"state.backend": "rocksdb", "state.backend.incremental": "true"},
		want: map[string]string{"state.backend": "rocksdb", "state.backend.incremental": "true"},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.conf)
			got, renamed, clashes := RenameLegacy(tt.v, tt.conf)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("conf (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.renamed, renamed); diff != "" {
				t.Errorf("renamed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.clashes, clashes); diff != "" {
				t.Errorf("clashes (-want +got):\n%s", diff)
			}
			if !maps.Equal(before, tt.conf) {
				t.Error("RenameLegacy changed its input")
			}
			if pairs := PrefixPairs(slices.Collect(maps.Keys(got))); len(tt.clashes) == 0 && tt.v.StandardYAML() && len(pairs) > 0 {
				t.Errorf("prefix pairs left after renames: %v", pairs)
			}
		})
	}
}

// Every successor is itself free of prefix pairs with the keys it is usually set with, and
// every legacy key of the table is a dotted prefix of some option (else it needs no rename).
func TestSuccessorsTable(t *testing.T) {
	for _, s := range Successors() {
		if !strings.HasPrefix(s.Key, s.Legacy+".") {
			t.Errorf("%s -> %s: the successor is not the legacy key with a suffix", s.Legacy, s.Key)
		}
		if s.Source == "" {
			t.Errorf("%s names no upstream option", s.Legacy)
		}
	}
}

func TestPrefixPairs(t *testing.T) {
	got := PrefixPairs([]string{"a", "a.b", "a.b.c", "ab", "b.c", "b", "x.y", "x.yz"})
	want := [][2]string{{"a", "a.b"}, {"a", "a.b.c"}, {"a.b", "a.b.c"}, {"b", "b.c"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PrefixPairs (-want +got):\n%s", diff)
	}
	for k, want := range map[string]bool{"a.b": true, "a": true, "a..b": false, ".a": false, "a.": false, "": false} {
		if Nestable(k) != want {
			t.Errorf("Nestable(%q) = %v", k, !want)
		}
	}
}

func TestExpandOnlySpecVariables(t *testing.T) {
	vars := map[string]string{"S3_KEY": "AKIA$1", "EMPTY": "", "NESTED": "${S3_KEY}"}
	for in, want := range map[string]string{
		"${S3_KEY}":          "AKIA$1",
		"pa$$word":           "pa$$word",
		"cost $5":            "cost $5",
		"$S3_KEY":            "$S3_KEY",
		"${UNSET}":           "${UNSET}",
		"a${EMPTY}b":         "ab",
		"${NESTED}":          "${S3_KEY}",
		"x${S3_KEY}${S3_KEY": "xAKIA$1${S3_KEY",
		"${":                 "${",
		"$${S3_KEY}":         "$AKIA$1",
	} {
		if got := Expand(in, vars); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLegacyProblem(t *testing.T) {
	for _, tt := range []struct {
		value    string
		envsubst bool
		bad      bool
	}{
		{"plain", true, false}, {"cost $5", true, false}, {"pa$$", true, false}, {"a$", true, false},
		{"pa$$word", true, true}, {"$HOME", true, true}, {"${X}", true, true}, {"pa$$word", false, false},
		{"a#b", false, true}, {"", false, true}, {" x", false, true}, {"x ", false, true},
	} {
		if got := LegacyProblem(tt.value, tt.envsubst) != ""; got != tt.bad {
			t.Errorf("LegacyProblem(%q, envsubst %v) = %q", tt.value, tt.envsubst, LegacyProblem(tt.value, tt.envsubst))
		}
	}
}

func TestMergeValue(t *testing.T) {
	flags := "--add-opens=java.base/java.util=ALL-UNNAMED"
	for _, tt := range []struct{ key, base, over, want string }{
		{"env.java.opts.all", flags, "-Dfoo=bar -Dbaz=qux", flags + " -Dfoo=bar -Dbaz=qux"},
		{"env.java.opts.all", flags, "", flags},
		{"env.java.opts.taskmanager", "", "-Dx", "-Dx"},
		{"parallelism.default", "1", "4", "4"},
	} {
		if got := MergeValue(tt.key, tt.base, tt.over); got != tt.want {
			t.Errorf("MergeValue(%s, %q, %q) = %q, want %q", tt.key, tt.base, tt.over, got, tt.want)
		}
	}
}

func TestRuntimeOptionsAreOwned(t *testing.T) {
	all := RuntimeOptions(Instance{JobManagerHost: "jm", TaskManagerHost: "tm", ResourceID: "tm-1", PinTaskManagerRPCPort: true})
	for k := range all {
		if _, ok := Owned(k); !ok {
			t.Errorf("RuntimeOptions writes %s, which OwnedKeys does not list", k)
		}
	}
	for _, k := range EntrypointKeys() {
		if _, ok := Owned(k); !ok && k != "taskmanager.numberOfTaskSlots" {
			t.Errorf("the entrypoint overwrites %s, which OwnedKeys does not list", k)
		}
	}
}

// What Render writes, Flink's standard loader reads back as the merged configuration; the
// nested form is what config-parser-utils.sh would write, so its rewrite changes nothing.
func TestRenderNestedRoundTrips(t *testing.T) {
	cluster := map[string]string{
		"env.java.opts.all": "-Dfoo=bar -Dbaz=qux", "taskmanager.numberOfTaskSlots": "4", "s3.on": "yes",
		"pipeline.name": "a: b # c", "secret": "pa$$word", "x.true.1": "1", "empty": "",
	}
	rt := RuntimeOptions(Instance{JobManagerHost: "jobmanager", TaskManagerHost: "taskmanager-1", ResourceID: "taskmanager-1"})
	f, err := Render(Layers{Version: v22, Base: DistDefaults(v22), Cluster: cluster, Runtime: rt})
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != ConfigYAML {
		t.Errorf("name %s", f.Name)
	}
	got, err := ParseStandard(f.Data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, k := range DistDefaults(v22).Keys() {
		want[k], _ = DistDefaults(v22).Get(k)
	}
	maps.Copy(want, cluster)
	want["env.java.opts.all"] = javaModuleFlags() + " -Dfoo=bar -Dbaz=qux"
	maps.Copy(want, rt)
	if diff := cmp.Diff(want, got.text); diff != "" {
		t.Errorf("read back (-want +got):\n%s\n%s", diff, f.Data)
	}
	if !strings.Contains(string(f.Data), "\"on\": \"yes\"") {
		t.Errorf("a YAML 1.1 boolean word as key is not quoted:\n%s", f.Data)
	}
	// Nested: no dotted key in the file.
	for _, line := range strings.Split(string(f.Data), "\n") {
		if k, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(line, "#") && strings.Contains(strings.Trim(k, `"`), ".") {
			t.Errorf("flat key in nested file: %q", line)
		}
	}
}

func TestRenderKeepsImageValuesAndRefusesPairs(t *testing.T) {
	image, err := ParseStandard([]byte("env:\n  java:\n    opts:\n      all: --add-opens=java.base/java.util=ALL-UNNAMED\n" +
		"pipeline:\n  jars: [a.jar, b.jar]\ntaskmanager:\n  memory:\n    process:\n      size: 1728m\nnothing: ~\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := image.Get("nothing"); ok {
		t.Error("a null value was kept")
	}
	f, err := Render(Layers{Version: v120, Base: image, Cluster: map[string]string{
		"env.java.opts.all": "-Dfoo=bar", "taskmanager.memory.process.size": "2000000000b"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"jars: [a.jar, b.jar]", `all: "--add-opens=java.base/java.util=ALL-UNNAMED -Dfoo=bar"`, `size: "2000000000b"`} {
		if !strings.Contains(string(f.Data), want) {
			t.Errorf("missing %q in\n%s", want, f.Data)
		}
	}
	// A pair formed with a key the runtime writes, or the image has, is refused too.
	for _, l := range []Layers{
		{Version: v120, Cluster: map[string]string{"rest.port.x": "1"}, Runtime: RuntimeOptions(Instance{JobManagerHost: "jm"})},
		{Version: v120, Base: image, Cluster: map[string]string{"pipeline.jars.extra": "c.jar"}},
		{Version: v22, Cluster: map[string]string{"a..b": "1"}},
	} {
		if _, err := Render(l); err == nil {
			t.Errorf("Render(%v) accepted keys nested YAML cannot hold", l.Cluster)
		}
	}
}

func TestRenderLegacy(t *testing.T) {
	f, err := Render(Layers{Version: v118, Legacy: true, Base: ParseLegacy([]byte("a: 1 # comment\nbad line\nb: x\n")),
		Cluster: map[string]string{"b": "y", "state.backend": "rocksdb", "state.backend.incremental": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	back := ParseLegacy(f.Data)
	want := map[string]string{"a": "1", "b": "y", "state.backend": "rocksdb", "state.backend.incremental": "true"}
	if diff := cmp.Diff(want, back.text); diff != "" {
		t.Errorf("read back (-want +got):\n%s\n%s", diff, f.Data)
	}
	for _, v := range []string{"pa$$word", "a#b", "$HOME", ""} {
		if _, err := Render(Layers{Version: v118, Legacy: true, Cluster: map[string]string{"k": v}}); err == nil {
			t.Errorf("1.18 flink-conf.yaml accepted %q", v)
		}
	}
	// 1.20 reading an image's flink-conf.yaml: no envsubst there, but '#' still cuts.
	if _, err := Render(Layers{Version: v120, Legacy: true, Cluster: map[string]string{"k": "pa$$word"}}); err != nil {
		t.Errorf("1.20 flink-conf.yaml refused a '$': %v", err)
	}
	if _, err := Render(Layers{Version: v120, Legacy: true, Cluster: map[string]string{"k": "a#b"}}); err == nil {
		t.Error("1.20 flink-conf.yaml accepted a '#'")
	}
}

func TestFileName(t *testing.T) {
	for _, tt := range []struct {
		v           Version
		imageLegacy bool
		name        string
	}{
		{v118, false, LegacyConfigYAML}, {v120, false, ConfigYAML}, {v120, true, LegacyConfigYAML},
		{Version{1, 19}, true, LegacyConfigYAML}, {v22, true, ConfigYAML}, {Version{2, 0}, false, ConfigYAML},
	} {
		if name, legacy := FileName(tt.v, tt.imageLegacy); name != tt.name || legacy != (name == LegacyConfigYAML) {
			t.Errorf("FileName(%s, %v) = %s, %v", tt.v, tt.imageLegacy, name, legacy)
		}
	}
	if v, ok := ParseVersion("1.20.1"); !ok || v != v120 {
		t.Errorf("ParseVersion = %v, %v", v, ok)
	}
	if VersionOf("latest") != Newest() {
		t.Error("VersionOf of an unparsable version is not the newest")
	}
}
