package spec

import (
	"strings"
	"testing"
)

func TestParseMemoryReadsVervericaSizesInPowersOfTen(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1", 1},
		{"1024", 1024},
		{"1k", 1_000},
		{"1K", 1_000},
		{"650m", 650_000_000},
		{"650M", 650_000_000},
		{"1g", 1_000_000_000},
		{"1G", 1_000_000_000},
		{"32g", 32_000_000_000},
		{"1.5g", 1_500_000_000},
		{"0.5g", 500_000_000},
		{"2t", 2_000_000_000_000},
		{"1p", 1_000_000_000_000_000},
		{"1.0000000001k", 1001}, // a fraction of a byte rounds up
		{"0.1", 1},
		{"512Ki", 512 << 10},
		{"512Mi", 512 << 20},
		{"1Gi", 1 << 30},
		{"1.5Gi", 3 << 29},
		{"2Ti", 2 << 40},
		{"1Pi", 1 << 50},
	}
	for _, tt := range tests {
		got, err := ParseMemory(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseMemoryRejectsWhatIsNotASize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "is empty: " + memoryHint},
		{"32x", `"32x" is not a memory size: ` + memoryHint},
		{"g", `"g" is not a memory size: ` + memoryHint},
		{"-1g", `"-1g" is not a memory size: ` + memoryHint},
		{"+1g", `"+1g" is not a memory size: ` + memoryHint},
		{"1 g", `"1 g" is not a memory size: ` + memoryHint},
		{" 1g", `" 1g" is not a memory size: ` + memoryHint},
		{"1.g", `"1.g" is not a memory size: ` + memoryHint},
		{".5g", `".5g" is not a memory size: ` + memoryHint},
		{"1e9", `"1e9" is not a memory size: ` + memoryHint},
		{"0x10", `"0x10" is not a memory size: ` + memoryHint},
		{"1gi", `"1gi" is not a memory size: ` + memoryHint},
		{"1Ei", `"1Ei" is not a memory size: ` + memoryHint},
		{"1,5g", `"1,5g" is not a memory size: ` + memoryHint},
		{"512mb", `"512mb" is not a memory size: write 512m (powers of ten) or 512Mi (powers of two)`},
		{"1GB", `"1GB" is not a memory size: write 1G (powers of ten) or 1Gi (powers of two)`},
		{"2p0", `"2p0" is not a memory size: ` + memoryHint},
		{"2000p", `"2000p" is too large: at most 1Pi per instance`},
		{"99999999999999999999", `"99999999999999999999" is too large: at most 1Pi per instance`},
		{strings.Repeat("9", 50), `"99999999999999999999"... is not a memory size: ` + memoryHint},
	}
	for _, tt := range tests {
		got, err := ParseMemory(tt.in)
		if err == nil {
			t.Errorf("ParseMemory(%q) = %d, want an error", tt.in, got)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseMemory(%q) error = %q, want %q", tt.in, err, tt.want)
		}
	}
}

func TestParseCPUReadsCoresAndMillicores(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1", 1000},
		{"2", 2000},
		{"16", 16_000},
		{"0.5", 500},
		{"0.1", 100},
		{"1.25", 1250},
		{"0.001", 1},
		{"2.0000", 2000},
		{"500m", 500},
		{"1500m", 1500},
		{"10000", 10_000_000},
	}
	for _, tt := range tests {
		got, err := ParseCPU(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseCPURejectsWhatIsNotACPUAmount(t *testing.T) {
	const hint = "write a number of cores (2, 0.5) or millicores (500m)"
	tests := []struct{ in, want string }{
		{"", "is empty: " + hint},
		{"two", `"two" is not a cpu amount: ` + hint},
		{"-1", `"-1" is not a cpu amount: ` + hint},
		{"1e3", `"1e3" is not a cpu amount: ` + hint},
		{"1 ", `"1 " is not a cpu amount: ` + hint},
		{"m", `"m" is not a cpu amount: ` + hint},
		{"2g", `"2g" is not a cpu amount: ` + hint},
		{"0.0005", `"0.0005" is finer than a thousandth of a core (1m)`},
		{"0.5m", `"0.5m" is finer than a thousandth of a core (1m)`},
		{"10001", `"10001" is too large: at most 10000 cores per instance`},
		{"99999999999999999999", `"99999999999999999999" is too large: at most 10000 cores per instance`},
	}
	for _, tt := range tests {
		got, err := ParseCPU(tt.in)
		if err == nil {
			t.Errorf("ParseCPU(%q) = %d, want an error", tt.in, got)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseCPU(%q) error = %q, want %q", tt.in, err, tt.want)
		}
	}
}

func TestFormatMemoryAndCPUWriteVervericaUnits(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 1: "1", 1000: "1k", 650_000_000: "650m", 1_000_000_000: "1g", 32_000_000_000: "32g", 1 << 30: "1073741824", 3_000_000_000_000: "3t"} {
		if got := FormatMemory(in); got != want {
			t.Errorf("FormatMemory(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{0: "0", 100: "0.1", 125: "0.125", 1000: "1", 1500: "1.5", 16_000: "16"} {
		if got := FormatCPU(in); got != want {
			t.Errorf("FormatCPU(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestUserProcessSizeAboveLimitIsAWarning(t *testing.T) {
	doc := `kind: SessionCluster
apiVersion: v1
metadata: {name: a}
spec:
  state: RUNNING
  flinkVersion: "1.20"
  resources: {taskmanager: {memory: 2g}}
  flinkConfiguration: {taskmanager.memory.process.size: 4g, jobmanager.memory.process.size: 800m}
`
	sc, warns, err := Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Spec.FlinkConfiguration["taskmanager.memory.process.size"] != "4g" {
		t.Fatal("user process size not kept")
	}
	var found bool
	for _, w := range warns {
		if strings.Contains(w.String(), "taskmanager.memory.process.size") && strings.Contains(w.String(), "memory limit") {
			found = true
		}
		if strings.Contains(w.String(), "jobmanager.memory.process.size") {
			t.Errorf("unexpected warning %s (800m fits the default 1g)", w)
		}
	}
	if !found {
		t.Errorf("no warning for a process size above the container limit: %v", warns)
	}
}
