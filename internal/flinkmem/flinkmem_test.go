package flinkmem

import (
	"errors"
	"strings"
	"testing"

	"github.com/flinkd/flinkd/internal/flinkconf"
)

var v120 = flinkconf.Version{Major: 1, Minor: 20}

func TestParseSizeIsMemorySizeParse(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1": 1, "1b": 1, "1 bytes": 1, "1k": KiB, "1 KB": KiB, "2kibibytes": 2 * KiB,
		"1728m": 1728 * MiB, "64mb": 64 * MiB, "1g": GiB, "1 GB": GiB, "1t": TiB, " 2g ": 2 * GiB,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "g", "1.5g", "1Gi", "-1m", "1 zb", "99999999999t"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) succeeded", bad)
		}
	}
}

func TestHumanReadableAndStringAreMemorySizes(t *testing.T) {
	for b, want := range map[int64]string{
		0: "0 bytes", 1: "1 bytes", 1024: "1024 bytes", 134217728: "128.000mb (134217728 bytes)",
		212095183: "202.270mb (212095183 bytes)", 1342177280: "1.250gb (1342177280 bytes)",
		// 65536 bytes is 64.000kb; 0.0625 mb rounds half up to 0.063 as Java's %.3f does.
		65536: "64.000kb (65536 bytes)", 65536 + MiB: "1.063mb (1114112 bytes)",
	} {
		if got := HumanReadable(b); got != want {
			t.Errorf("HumanReadable(%d) = %q, want %q", b, got, want)
		}
	}
	for b, want := range map[int64]string{0: "0 bytes", 100: "100 bytes", 128 * MiB: "128 mb", GiB: "1 gb", 1536 * MiB: "1536 mb"} {
		if got := String(b); got != want {
			t.Errorf("String(%d) = %q, want %q", b, got, want)
		}
	}
}

// Sizes from Flink's own output: the final memory configuration the JobManager and the
// TaskManager log for flink-dist's default config.yaml (1600m and 1728m), and the errors
// Flink printed in the reports quoted below.
func TestDeriveMatchesFlinksOwnFigures(t *testing.T) {
	tm, err := DeriveTaskManager(map[string]string{KeyTaskManagerProcessSize: "1728m"}, v120)
	if err != nil {
		t.Fatal(err)
	}
	// "Total Flink Memory: 1.250gb (1342177280 bytes) ... Task: 384.000mb (402653174 bytes),
	// Managed: 512.000mb (536870920 bytes), Network: 128.000mb (134217730 bytes), JVM
	// Metaspace: 256.000mb (268435456 bytes), JVM Overhead: 192.000mb (201326592 bytes)"
	want := TaskManager{FrameworkHeap: 134217728, TaskHeap: 402653174, FrameworkOffHeap: 134217728, TaskOffHeap: 0,
		Network: 134217730, Managed: 536870920, Metaspace: 268435456, Overhead: 201326592}
	if tm != want {
		t.Errorf("1728m TaskManager = %+v, want %+v", tm, want)
	}
	if tm.TotalFlink() != 1342177280 || tm.TotalProcess() != 1728*MiB {
		t.Errorf("totals %d, %d", tm.TotalFlink(), tm.TotalProcess())
	}

	jm, err := DeriveJobManager(map[string]string{KeyJobManagerProcessSize: "1600m"}, v120)
	if err != nil {
		t.Fatal(err)
	}
	// "Total Flink Memory: 1.125gb (1207959552 bytes), JVM Heap: 1024.000mb (1073741824
	// bytes), Off-heap: 128.000mb (134217728 bytes), JVM Metaspace: 256.000mb, JVM Overhead:
	// 192.000mb"
	if jm.Heap != 1073741824 || jm.OffHeap != 134217728 || jm.Metaspace != 256*MiB || jm.Overhead != 192*MiB || len(jm.Warnings) != 0 {
		t.Errorf("1600m JobManager = %+v", jm)
	}
}

func TestDeriveFailsAsFlinkDoes(t *testing.T) {
	for _, tt := range []struct {
		name string
		conf map[string]string
		want string
	}{{
		// The report: resources.taskmanager.memory 1g (10^9 bytes); the same text real
		// Flink 1.20.4 and 2.2.1 print (test/flinkreal).
		name: "10^9 bytes",
		conf: map[string]string{KeyTaskManagerProcessSize: "1000000000b"},
		want: "Sum of configured Framework Heap Memory (128.000mb (134217728 bytes)), Framework Off-Heap Memory (128.000mb (134217728 bytes)), " +
			"Task Off-Heap Memory (0 bytes), Managed Memory (202.270mb (212095183 bytes)) and Network Memory (64.000mb (67108864 bytes)) " +
			"exceed configured Total Flink Memory (505.674mb (530237952 bytes)).",
	}, {
		// Reported on CSDN ("Sum of configured Framework Heap Memory exceed configured Total
		// Flink Memory", 2022): a 1280m Flink memory with a 1g network minimum.
		name: "network minimum",
		conf: map[string]string{KeyTaskManagerFlinkSize: "1280m", KeyNetworkMin: "1g"},
		want: "Sum of configured Framework Heap Memory (128.000mb (134217728 bytes)), Framework Off-Heap Memory (128.000mb (134217728 bytes)), " +
			"Task Off-Heap Memory (0 bytes), Managed Memory (512.000mb (536870920 bytes)) and Network Memory (1024.000mb (1073741824 bytes)) " +
			"exceed configured Total Flink Memory (1.250gb (1342177280 bytes)).",
	}, {
		// Reported in apache/streampark#3330 (Flink 1.17): a framework heap that leaves no task heap.
		name: "framework heap",
		conf: map[string]string{KeyTaskManagerFlinkSize: "2483027968b", KeyFrameworkHeap: "1544m"},
		want: "Sum of configured Framework Heap Memory (1.508gb (1619001344 bytes)), Framework Off-Heap Memory (128.000mb (134217728 bytes)), " +
			"Task Off-Heap Memory (0 bytes), Managed Memory (947.200mb (993211202 bytes)) and Network Memory (236.800mb (248302800 bytes)) " +
			"exceed configured Total Flink Memory (2.313gb (2483027968 bytes)).",
	}, {
		name: "metaspace and overhead",
		conf: map[string]string{KeyTaskManagerProcessSize: "400m"},
		want: "Sum of configured JVM Metaspace (256.000mb (268435456 bytes)) and JVM Overhead (192.000mb (201326592 bytes)) exceed configured Total Process Memory (400.000mb (419430400 bytes)).",
	}, {
		name: "process and flink size disagree",
		conf: map[string]string{KeyTaskManagerProcessSize: "4g", KeyTaskManagerFlinkSize: "1g"},
		want: "Derived JVM Overhead size (2.750gb (2952790016 bytes)) is not in configured JVM Overhead range [192.000mb (201326592 bytes), 1024.000mb (1073741824 bytes)].",
	}, {
		name: "fraction out of range",
		conf: map[string]string{KeyTaskManagerProcessSize: "4g", KeyNetworkFraction: "1.5"},
		want: "Inconsistently configured taskmanager.memory.network.fraction",
	}, {
		name: "nothing configured",
		conf: map[string]string{},
		want: "Either required fine-grained memory (taskmanager.memory.task.heap.size and taskmanager.memory.managed.size)",
	}, {
		name: "unparsable",
		conf: map[string]string{KeyTaskManagerProcessSize: "1.5g"},
		want: "Cannot read memory size from config option 'taskmanager.memory.process.size'",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DeriveTaskManager(tt.conf, v120)
			var fe *Error
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Message, tt.want) {
				t.Errorf("DeriveTaskManager = %+v, %v\nwant error %q", m, err, tt.want)
			}
		})
	}
}

// The three ways TaskExecutorProcessUtilsTest configures a TaskManager (fine-grained task
// heap 100m and managed 200m; Total Flink Memory 1280m; Total Process Memory 1536m), with
// the properties its tests check in each.
func tmConfigurations() map[string]map[string]string {
	return map[string]map[string]string{
		"fine-grained": {KeyTaskHeap: "100m", KeyManagedSize: "200m"},
		"flink size":   {KeyTaskManagerFlinkSize: "1280m"},
		"process size": {KeyTaskManagerProcessSize: "1536m"},
	}
}

func with(base map[string]string, kv ...string) map[string]string {
	c := map[string]string{}
	for k, v := range base {
		c[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i]] = kv[i+1]
	}
	return c
}

func TestTaskManagerPropertiesOfUpstreamTests(t *testing.T) {
	for name, base := range tmConfigurations() {
		t.Run(name, func(t *testing.T) {
			// testConfigNetworkMemoryRange
			m, err := DeriveTaskManager(with(base, KeyNetworkMin, "200m", KeyNetworkMax, "500m"), v120)
			if err != nil || m.Network < 200*MiB || m.Network > 500*MiB {
				t.Errorf("network range: %+v, %v", m, err)
			}
			// testConfigNetworkMemoryRangeFailure
			if _, err := DeriveTaskManager(with(base, KeyNetworkMin, "200m", KeyNetworkMax, "50m"), v120); err == nil {
				t.Error("network min above max accepted")
			}
			// testConfigFrameworkHeapMemory, testConfigTaskOffheapMemory
			m, err = DeriveTaskManager(with(base, KeyFrameworkHeap, "100m", KeyTaskOffHeap, "50m"), v120)
			if err != nil || m.FrameworkHeap != 100*MiB || m.TaskOffHeap != 50*MiB {
				t.Errorf("framework heap, task off-heap: %+v, %v", m, err)
			}
			// testConfigJvmMetaspace
			m, err = DeriveTaskManager(with(base, KeyTaskManagerMetaspace, "50m"), v120)
			if err != nil || m.Metaspace != 50*MiB {
				t.Errorf("metaspace: %+v, %v", m, err)
			}
			// Every configuration derives a process whose parts add up.
			m, err = DeriveTaskManager(base, v120)
			if err != nil || m.TotalProcess() != m.TotalFlink()+m.Metaspace+m.Overhead || m.TaskHeap < 0 {
				t.Errorf("base: %+v, %v", m, err)
			}
		})
	}
	// Process size given: the parts add up to exactly that size.
	m, err := DeriveTaskManager(tmConfigurations()["process size"], v120)
	if err != nil || m.TotalProcess() != 1536*MiB {
		t.Errorf("process size: %+v, %v", m, err)
	}
	// Fine-grained with a Total Flink Memory: network is the rest (testConsistencyCheck...).
	m, err = DeriveTaskManager(with(tmConfigurations()["fine-grained"], KeyTaskManagerFlinkSize, "1280m"), v120)
	if err != nil || m.Network != 1280*MiB-100*MiB-200*MiB-256*MiB {
		t.Errorf("fine-grained with flink size: %+v, %v", m, err)
	}
	if _, err := DeriveTaskManager(with(tmConfigurations()["fine-grained"], KeyTaskManagerFlinkSize, "1280m", KeyNetworkMax, "150m"), v120); err == nil {
		t.Error("derived network above its maximum accepted")
	}
}

func TestNetworkMaximumIsUnboundedFrom117(t *testing.T) {
	conf := map[string]string{KeyTaskManagerProcessSize: "64g"}
	new, err := DeriveTaskManager(conf, v120)
	if err != nil || new.Network <= GiB {
		t.Errorf("1.20 network %d, %v; want a tenth of Flink memory, above 1g", new.Network, err)
	}
	old, err := DeriveTaskManager(conf, flinkconf.Version{Major: 1, Minor: 16})
	if err != nil || old.Network != GiB {
		t.Errorf("1.16 network %d, %v; want 1g", old.Network, err)
	}
}

func TestDeprecatedKeysUntil20(t *testing.T) {
	conf := map[string]string{KeyTaskManagerProcessSize: "4g", "taskmanager.network.memory.min": "500m"}
	m, _ := DeriveTaskManager(conf, v120)
	if m.Network != 500*MiB {
		t.Errorf("1.20 network %d, want the legacy key's 500m", m.Network)
	}
	m, _ = DeriveTaskManager(conf, flinkconf.Version{Major: 2, Minor: 0})
	if m.Network == 500*MiB {
		t.Errorf("2.0 read a key it removed")
	}
}

func TestJobManager(t *testing.T) {
	for _, tt := range []struct {
		name     string
		conf     map[string]string
		heap     int64
		warn     bool
		errorHas string
	}{
		{name: "heap below recommended", conf: map[string]string{KeyJobManagerHeap: "50m"}, heap: 50 * MiB, warn: true},
		{name: "650m (Ververica's minimum)", conf: map[string]string{KeyJobManagerProcessSize: "650000000b"}, heap: 650000000 - 256*MiB - 192*MiB - 128*MiB, warn: true},
		{name: "flink size", conf: map[string]string{KeyJobManagerFlinkSize: "1g"}, heap: GiB - 128*MiB},
		{name: "heap and flink size, off-heap derived", conf: map[string]string{KeyJobManagerHeap: "512m", KeyJobManagerFlinkSize: "1g"}, heap: 512 * MiB},
		{name: "heap, off-heap and flink size disagree", conf: map[string]string{KeyJobManagerHeap: "512m", KeyJobManagerOffHeap: "128m", KeyJobManagerFlinkSize: "1g"},
			errorHas: "does not match the configured Total Flink Memory (1024.000mb (1073741824 bytes))"},
		{name: "heap above flink size", conf: map[string]string{KeyJobManagerHeap: "2g", KeyJobManagerFlinkSize: "1g"}, errorHas: "exceeds the configured Total Flink Memory"},
		// Recorded from real Flink 1.20.4 and 2.2.1 (test/flinkreal
		// TestMemoryBelowFlinksMinimumFailsWithFlinksMessage).
		{name: "500m", conf: map[string]string{KeyJobManagerProcessSize: "500m"},
			errorHas: "The configured Total Flink Memory (52.000mb (54525952 bytes)) is less than the configured Off-heap Memory (128.000mb (134217728 bytes))."},
		{name: "600m", conf: map[string]string{KeyJobManagerProcessSize: "600000000b"},
			errorHas: "The configured Total Flink Memory (124.205mb (130237952 bytes)) is less than the configured Off-heap Memory (128.000mb (134217728 bytes))."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DeriveJobManager(tt.conf, v120)
			if tt.errorHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errorHas) {
					t.Errorf("err = %v, want one with %q", err, tt.errorHas)
				}
				return
			}
			if err != nil || m.Heap != tt.heap || (len(m.Warnings) > 0) != tt.warn {
				t.Errorf("= %+v, %v; want heap %d, warning %v", m, err, tt.heap, tt.warn)
			}
			if tt.warn && !strings.Contains(m.Warnings[0], "is less than its recommended minimum value (128.000mb (134217728 bytes))") {
				t.Errorf("warning %q", m.Warnings[0])
			}
		})
	}
}

func TestMinimumIsTheEdge(t *testing.T) {
	for _, tt := range []struct {
		name string
		conf map[string]string
		min  func(map[string]string) (int64, bool)
		ok   func(map[string]string) bool
		key  string
	}{
		{"taskmanager", map[string]string{}, func(c map[string]string) (int64, bool) { return MinTaskManagerProcess(c, v120) },
			func(c map[string]string) bool { _, err := DeriveTaskManager(c, v120); return err == nil }, KeyTaskManagerProcessSize},
		{"taskmanager with managed 0.7", map[string]string{KeyManagedFraction: "0.7"}, func(c map[string]string) (int64, bool) { return MinTaskManagerProcess(c, v120) },
			func(c map[string]string) bool { _, err := DeriveTaskManager(c, v120); return err == nil }, KeyTaskManagerProcessSize},
		{"jobmanager", map[string]string{}, func(c map[string]string) (int64, bool) { return MinJobManagerProcess(c, v120, false) },
			func(c map[string]string) bool { _, err := DeriveJobManager(c, v120); return err == nil }, KeyJobManagerProcessSize},
		{"jobmanager recommended heap", map[string]string{}, func(c map[string]string) (int64, bool) { return MinJobManagerProcess(c, v120, true) },
			func(c map[string]string) bool {
				m, err := DeriveJobManager(c, v120)
				return err == nil && len(m.Warnings) == 0
			}, KeyJobManagerProcessSize},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := tt.min(tt.conf)
			if !ok {
				t.Fatal("no minimum")
			}
			if !tt.ok(withProcessSize(tt.conf, tt.key, p)) || tt.ok(withProcessSize(tt.conf, tt.key, p-1)) {
				t.Errorf("minimum %d (%s) is not the edge", p, HumanReadable(p))
			}
		})
	}
	// By hand from the model: TaskManager 448m of metaspace and minimum overhead, and a
	// Flink memory whose 0.6 after managed memory covers 256m of framework memory and the
	// 64m network minimum; JobManager: 448m and the 128m off-heap, plus one byte of heap.
	if p, _ := MinJobManagerProcess(nil, v120, false); p != 576*MiB+1 {
		t.Errorf("JobManager minimum %d, want %d", p, 576*MiB+1)
	}
	if p, _ := MinJobManagerProcess(nil, v120, true); p != 704*MiB {
		t.Errorf("JobManager minimum for the recommended heap %d, want %d", p, 704*MiB)
	}
	if p, _ := MinTaskManagerProcess(nil, v120); p < 981*MiB || p > 982*MiB {
		t.Errorf("TaskManager minimum %d (%s), want about 981.3m", p, HumanReadable(p))
	}
	// A Flink memory that fixes the process size: the smallest leaves the overhead's minimum.
	if p, ok := MinTaskManagerProcess(map[string]string{KeyTaskManagerFlinkSize: "1g"}, v120); !ok || p != GiB+256*MiB+192*MiB {
		t.Errorf("with flink size: %d, %v", p, ok)
	}
	// Nothing works: a network minimum above its maximum.
	if _, ok := MinTaskManagerProcess(map[string]string{KeyNetworkMin: "2g", KeyNetworkMax: "1g"}, v120); ok {
		t.Error("found a minimum for an impossible configuration")
	}
}
