package sim

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Memory sizes in bytes.
const (
	kib = int64(1) << 10
	mib = int64(1) << 20
	gib = int64(1) << 30
	tib = int64(1) << 40
)

// ParseMemorySize parses a size the way Flink's MemorySize.parseBytes does (flink-core-api
// MemorySize): an integer number of bytes followed by an optional unit (b|bytes,
// k|kb|kibibytes, m|mb|mebibytes, g|gb|gibibytes, t|tb|tebibytes, case-insensitive, all
// powers of two). Fractions ("1.5g") and Kubernetes suffixes ("1Gi") are errors, as in
// Flink, with Flink's exception text.
func ParseMemorySize(text string) (int64, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		return 0, fmt.Errorf("java.lang.IllegalArgumentException: argument is an empty- or whitespace-only string")
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("java.lang.NumberFormatException: text does not start with a number")
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("java.lang.IllegalArgumentException: The value '%s' cannot be re represented as 64bit number (numeric overflow).", t[:i])
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	var mult int64
	switch unit {
	case "", "b", "bytes":
		mult = 1
	case "k", "kb", "kibibytes":
		mult = kib
	case "m", "mb", "mebibytes":
		mult = mib
	case "g", "gb", "gibibytes":
		mult = gib
	case "t", "tb", "tebibytes":
		mult = tib
	default:
		return 0, fmt.Errorf("java.lang.IllegalArgumentException: Memory size unit '%s' does not match any of the recognized units: "+
			"(b | bytes) / (k | kb | kibibytes) / (m | mb | mebibytes) / (g | gb | gibibytes) / (t | tb | tebibytes)", unit)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("java.lang.IllegalArgumentException: The value '%s' cannot be re represented as 64bit number of bytes (numeric overflow).", text)
	}
	return n * mult, nil
}

// humanSize renders bytes like MemorySize.toHumanReadableString: the highest unit the size
// is strictly greater than, "%.3f<unit> (<n> bytes)", or "<n> bytes" ("1024.000mb
// (1073741824 bytes)" for exactly 1 GiB).
func humanSize(b int64) string {
	units := []struct {
		name string
		mult int64
	}{{"tb", tib}, {"gb", gib}, {"mb", mib}, {"kb", kib}}
	for _, u := range units {
		if b > u.mult {
			return fmt.Sprintf("%.3f%s (%d bytes)", float64(b)/float64(u.mult), u.name, b)
		}
	}
	return fmt.Sprintf("%d bytes", b)
}

// multiply is MemorySize.multiply: the exact decimal product of the bytes and
// BigDecimal.valueOf(multiplier) (the decimal text of the double), truncated.
func multiply(bytes int64, multiplier float64) int64 {
	m, ok := new(big.Rat).SetString(strconv.FormatFloat(multiplier, 'g', -1, 64))
	if !ok {
		return 0
	}
	p := new(big.Rat).Mul(new(big.Rat).SetInt64(bytes), m)
	q := new(big.Int).Quo(p.Num(), p.Denom())
	if !q.IsInt64() {
		return math.MaxInt64
	}
	return q.Int64()
}

// TaskManagerMemory is the TaskManager memory model Flink derives from its configuration
// (TaskExecutorProcessUtils.processSpecFromConfig), in bytes; its JSON is the
// memoryConfiguration of /taskmanagers/:id.
type TaskManagerMemory struct {
	FrameworkHeap    int64 `json:"frameworkHeap"`
	TaskHeap         int64 `json:"taskHeap"`
	FrameworkOffHeap int64 `json:"frameworkOffHeap"`
	TaskOffHeap      int64 `json:"taskOffHeap"`
	NetworkMemory    int64 `json:"networkMemory"`
	ManagedMemory    int64 `json:"managedMemory"`
	JVMMetaspace     int64 `json:"jvmMetaspace"`
	JVMOverhead      int64 `json:"jvmOverhead"`
	TotalFlinkMemory int64 `json:"totalFlinkMemory"`
	TotalProcess     int64 `json:"totalProcessMemory"`
	// Info are the INFO lines Flink logs while it derives the sizes (BashJavaUtils prints
	// them with its result).
	Info []string `json:"-"`
}

// memErr is a Java exception with its causes, outermost first ("class: message").
type memErr struct{ chain []string }

func (e memErr) Error() string { return strings.Join(e.chain, "\nCaused by: ") }

const illegalConfig = "org.apache.flink.configuration.IllegalConfigurationException: "

func illegal(format string, args ...any) memErr {
	return memErr{[]string{illegalConfig + fmt.Sprintf(format, args...)}}
}

// wrapIllegal wraps an IllegalConfigurationException as Flink's catch blocks do
// ("TaskManager memory configuration failed: " + e.getMessage(), e); other exceptions pass.
func wrapIllegal(prefix string, err error) error {
	var me memErr
	if !errors.As(err, &me) || !strings.HasPrefix(me.chain[0], illegalConfig) {
		return err
	}
	top := illegalConfig + prefix + strings.TrimPrefix(me.chain[0], illegalConfig)
	return memErr{append([]string{top}, me.chain...)}
}

// memOptions reads memory options as Configuration.get with the options' defaults does,
// and collects the INFO lines ProcessMemoryUtils logs on the way.
type memOptions struct {
	conf map[string]string
	info *[]string
}

func newMemOptions(conf map[string]string) memOptions {
	return memOptions{conf: conf, info: new([]string)}
}

func (c memOptions) contains(key string) bool {
	_, ok := c.conf[key]
	return ok
}

// size is ProcessMemoryUtils.getMemorySizeFromConfig.
func (c memOptions) size(key string, def int64) (int64, error) {
	v, ok := c.conf[key]
	if !ok {
		return def, nil
	}
	n, err := ParseMemorySize(v)
	if err != nil {
		return 0, memErr{[]string{
			illegalConfig + fmt.Sprintf("Cannot read memory size from config option '%s'.", key),
			fmt.Sprintf("java.lang.IllegalArgumentException: Could not parse value '%s' for key '%s'.", v, key),
			err.Error(),
		}}
	}
	return n, nil
}

// fraction reads a float option (Float in Flink, so 0.1 is 0.10000000149011612 once
// widened to the double the memory utilities compute with).
func (c memOptions) fraction(key string, def float32) (float64, error) {
	v, ok := c.conf[key]
	if !ok {
		return float64(def), nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 32)
	if err != nil {
		return 0, memErr{[]string{
			fmt.Sprintf("java.lang.IllegalArgumentException: Could not parse value '%s' for key '%s'.", v, key),
			fmt.Sprintf("java.lang.NumberFormatException: For input string: \"%s\"", v),
		}}
	}
	return float64(float32(f)), nil
}

type rangeFraction struct {
	min, max int64
	fraction float64
}

// rangeFraction is ProcessMemoryUtils.getRangeFraction over <prefix>.min, .max, .fraction.
func (c memOptions) rangeFraction(prefix string, defMin, defMax int64, defFrac float32) (rangeFraction, error) {
	lo, err := c.size(prefix+".min", defMin)
	if err != nil {
		return rangeFraction{}, err
	}
	hi, err := c.size(prefix+".max", defMax)
	if err != nil {
		return rangeFraction{}, err
	}
	return c.fractionRange(prefix+".fraction", lo, hi, defFrac)
}

func (c memOptions) fractionRange(key string, lo, hi int64, defFrac float32) (rangeFraction, error) {
	f, err := c.fraction(key, defFrac)
	if err != nil {
		return rangeFraction{}, err
	}
	if lo > hi || f < 0 || f >= 1 {
		cause := "java.lang.IllegalArgumentException: fraction must be in range [0, 1)"
		if lo > hi {
			cause = "java.lang.IllegalArgumentException: min value must be less or equal to max value"
		}
		return rangeFraction{}, memErr{[]string{
			illegalConfig + fmt.Sprintf("Inconsistently configured Key: '%s' , default: %s (fallback keys: []) (%s) and its min (%s), max (%s) value",
				key, strconv.FormatFloat(float64(defFrac), 'g', -1, 32), strconv.FormatFloat(f, 'g', -1, 64), humanSize(lo), humanSize(hi)),
			cause,
		}}
	}
	return rangeFraction{lo, hi, f}, nil
}

// withFraction is ProcessMemoryUtils.deriveWithFraction: base × fraction, capped to [min, max].
func (c memOptions) withFraction(what string, base int64, r rangeFraction) int64 {
	return c.capToMinMax(what, multiply(base, r.fraction), r)
}

// withInverseFraction is ProcessMemoryUtils.deriveWithInverseFraction: base × f/(1-f),
// capped: the part that makes base the rest of a total it is the fraction of.
func (c memOptions) withInverseFraction(what string, base int64, r rangeFraction) int64 {
	return c.capToMinMax(what, multiply(base, r.fraction/(1-r.fraction)), r)
}

// capToMinMax is ProcessMemoryUtils.capToMinMax, which logs at INFO when it caps.
func (c memOptions) capToMinMax(what string, v int64, r rangeFraction) int64 {
	switch {
	case v > r.max:
		*c.info = append(*c.info, fmt.Sprintf("The derived from fraction %s (%s) is greater than its max value %s, max value will be used instead",
			what, humanSize(v), humanSize(r.max)))
		return r.max
	case v < r.min:
		*c.info = append(*c.info, fmt.Sprintf("The derived from fraction %s (%s) is less than its min value %s, min value will be used instead",
			what, humanSize(v), humanSize(r.min)))
		return r.min
	}
	return v
}

// jvmMetaspaceAndOverhead is ProcessMemoryUtils' derivation of metaspace and overhead for
// the options under prefix ("taskmanager.memory" or "jobmanager.memory").
type processSizes struct {
	metaspace, overhead int64
}

// fromProcess is deriveJvmMetaspaceAndOverheadWithTotalProcessMemory.
func (c memOptions) fromProcess(prefix string, process int64) (processSizes, error) {
	meta, err := c.size(prefix+".jvm-metaspace.size", 256*mib)
	if err != nil {
		return processSizes{}, err
	}
	r, err := c.rangeFraction(prefix+".jvm-overhead", 192*mib, gib, 0.1)
	if err != nil {
		return processSizes{}, err
	}
	s := processSizes{meta, c.withFraction("jvm overhead memory", process, r)}
	if s.metaspace+s.overhead > process {
		return s, illegal("Sum of configured JVM Metaspace (%s) and JVM Overhead (%s) exceed configured Total Process Memory (%s).",
			humanSize(s.metaspace), humanSize(s.overhead), humanSize(process))
	}
	return s, nil
}

// fromFlink is deriveJvmMetaspaceAndOverheadFromTotalFlinkMemory.
func (c memOptions) fromFlink(prefix string, flink int64) (processSizes, error) {
	meta, err := c.size(prefix+".jvm-metaspace.size", 256*mib)
	if err != nil {
		return processSizes{}, err
	}
	r, err := c.rangeFraction(prefix+".jvm-overhead", 192*mib, gib, 0.1)
	if err != nil {
		return processSizes{}, err
	}
	if c.contains(prefix + ".process.size") {
		process, err := c.size(prefix+".process.size", 0)
		if err != nil {
			return processSizes{}, err
		}
		if process < flink+meta {
			return processSizes{}, illegal("The configured Total Process Memory size (%s) is less than the sum of the derived "+
				"Total Flink Memory size (%s) and the configured or default JVM Metaspace size  (%s).",
				humanSize(process), humanSize(flink), humanSize(meta))
		}
		overhead := process - flink - meta
		if overhead > r.max || overhead < r.min {
			return processSizes{}, illegal("Derived JVM Overhead size (%s) is not in configured JVM Overhead range [%s, %s].",
				humanSize(overhead), humanSize(r.min), humanSize(r.max))
		}
		return processSizes{meta, overhead}, nil
	}
	return processSizes{meta, c.withInverseFraction("jvm overhead memory", flink+meta, r)}, nil
}

// DeriveTaskManagerMemory derives the TaskManager memory model from conf as
// BashJavaUtils GET_TM_RESOURCE_PARAMS does before bin/taskmanager.sh starts the JVM
// (TaskExecutorProcessUtils.processSpecFromConfig, ProcessMemoryUtils
// .memoryProcessSpecFromConfig, TaskExecutorFlinkMemoryUtils; the same in 1.20 and 2.2 but
// for 1.x's legacy taskmanager.heap.size and network-buffer options, which are not
// modelled): fine-grained task heap + managed first, else the Total Flink size, else the
// Total Process size. It fails as Flink does, with Flink's messages wrapped in "TaskManager
// memory configuration failed: ".
func DeriveTaskManagerMemory(conf map[string]string) (TaskManagerMemory, error) {
	c := newMemOptions(conf)
	m, err := deriveTaskManagerMemory(c)
	m.Info = *c.info
	if err != nil {
		return m, wrapIllegal("TaskManager memory configuration failed: ", err)
	}
	return m, nil
}

func deriveTaskManagerMemory(c memOptions) (TaskManagerMemory, error) {
	const p = "taskmanager.memory"
	var m TaskManagerMemory
	switch {
	case c.contains(p+".task.heap.size") && c.contains(p+".managed.size"):
		if err := c.tmFineGrained(&m); err != nil {
			return m, err
		}
		s, err := c.fromFlink(p, m.TotalFlinkMemory)
		if err != nil {
			return m, err
		}
		m.JVMMetaspace, m.JVMOverhead = s.metaspace, s.overhead
	case c.contains(p + ".flink.size"):
		flink, err := c.size(p+".flink.size", 0)
		if err != nil {
			return m, err
		}
		if err := c.tmFromFlink(&m, flink); err != nil {
			return m, err
		}
		s, err := c.fromFlink(p, flink)
		if err != nil {
			return m, err
		}
		m.JVMMetaspace, m.JVMOverhead = s.metaspace, s.overhead
	case c.contains(p + ".process.size"):
		process, err := c.size(p+".process.size", 0)
		if err != nil {
			return m, err
		}
		s, err := c.fromProcess(p, process)
		if err != nil {
			return m, err
		}
		m.JVMMetaspace, m.JVMOverhead = s.metaspace, s.overhead
		if err := c.tmFromFlink(&m, process-s.metaspace-s.overhead); err != nil {
			return m, err
		}
	default:
		return m, illegal("Either required fine-grained memory (taskmanager.memory.task.heap.size and taskmanager.memory.managed.size), " +
			"or Total Flink Memory size (Key: 'taskmanager.memory.flink.size' , default: null (fallback keys: [])), " +
			"or Total Process Memory size (Key: 'taskmanager.memory.process.size' , default: null (fallback keys: [])) need to be configured explicitly.")
	}
	m.TotalProcess = m.TotalFlinkMemory + m.JVMMetaspace + m.JVMOverhead
	return m, nil
}

func (c memOptions) tmFixed(m *TaskManagerMemory) error {
	const p = "taskmanager.memory"
	var err error
	if m.FrameworkHeap, err = c.size(p+".framework.heap.size", 128*mib); err != nil {
		return err
	}
	if m.FrameworkOffHeap, err = c.size(p+".framework.off-heap.size", 128*mib); err != nil {
		return err
	}
	m.TaskOffHeap, err = c.size(p+".task.off-heap.size", 0)
	return err
}

// tmFineGrained is TaskExecutorFlinkMemoryUtils.deriveFromRequiredFineGrainedOptions.
func (c memOptions) tmFineGrained(m *TaskManagerMemory) error {
	const p = "taskmanager.memory"
	var err error
	if m.TaskHeap, err = c.size(p+".task.heap.size", 0); err != nil {
		return err
	}
	if m.ManagedMemory, err = c.size(p+".managed.size", 0); err != nil {
		return err
	}
	if err := c.tmFixed(m); err != nil {
		return err
	}
	rest := m.FrameworkHeap + m.FrameworkOffHeap + m.TaskHeap + m.TaskOffHeap + m.ManagedMemory
	if c.contains(p + ".flink.size") {
		flink, err := c.size(p+".flink.size", 0)
		if err != nil {
			return err
		}
		if rest > flink {
			return c.excludeNetworkError(m, flink)
		}
		m.NetworkMemory = flink - rest
		if err := c.checkNetwork(m.NetworkMemory); err != nil {
			return err
		}
	} else {
		r, err := c.rangeFraction(p+".network", 64*mib, math.MaxInt64, 0.1)
		if err != nil {
			return err
		}
		m.NetworkMemory = c.withInverseFraction("network memory", rest, r)
	}
	m.TotalFlinkMemory = rest + m.NetworkMemory
	return c.checkTotalFlink(m)
}

// tmFromFlink is TaskExecutorFlinkMemoryUtils.deriveFromTotalFlinkMemory.
func (c memOptions) tmFromFlink(m *TaskManagerMemory, flink int64) error {
	const p = "taskmanager.memory"
	if err := c.tmFixed(m); err != nil {
		return err
	}
	managed := func() (int64, error) {
		if c.contains(p + ".managed.size") {
			return c.size(p+".managed.size", 0)
		}
		r, err := c.fractionRange(p+".managed.fraction", 0, math.MaxInt64, 0.4)
		if err != nil {
			return 0, err
		}
		return c.withFraction("managed memory", flink, r), nil
	}
	var err error
	if c.contains(p + ".task.heap.size") {
		if m.TaskHeap, err = c.size(p+".task.heap.size", 0); err != nil {
			return err
		}
		if m.ManagedMemory, err = managed(); err != nil {
			return err
		}
		rest := m.FrameworkHeap + m.FrameworkOffHeap + m.TaskHeap + m.TaskOffHeap + m.ManagedMemory
		if rest > flink {
			return c.excludeNetworkError(m, flink)
		}
		m.NetworkMemory = flink - rest
		if err := c.checkNetwork(m.NetworkMemory); err != nil {
			return err
		}
	} else {
		if m.ManagedMemory, err = managed(); err != nil {
			return err
		}
		r, err := c.rangeFraction(p+".network", 64*mib, math.MaxInt64, 0.1)
		if err != nil {
			return err
		}
		m.NetworkMemory = c.withFraction("network memory", flink, r)
		rest := m.FrameworkHeap + m.FrameworkOffHeap + m.TaskOffHeap + m.ManagedMemory + m.NetworkMemory
		if rest > flink {
			return illegal("Sum of configured Framework Heap Memory (%s), Framework Off-Heap Memory (%s), Task Off-Heap Memory (%s), "+
				"Managed Memory (%s) and Network Memory (%s) exceed configured Total Flink Memory (%s).",
				humanSize(m.FrameworkHeap), humanSize(m.FrameworkOffHeap), humanSize(m.TaskOffHeap),
				humanSize(m.ManagedMemory), humanSize(m.NetworkMemory), humanSize(flink))
		}
		m.TaskHeap = flink - rest
	}
	m.TotalFlinkMemory = m.FrameworkHeap + m.FrameworkOffHeap + m.TaskHeap + m.TaskOffHeap + m.ManagedMemory + m.NetworkMemory
	return c.checkTotalFlink(m)
}

func (c memOptions) excludeNetworkError(m *TaskManagerMemory, flink int64) error {
	return illegal("Sum of configured Framework Heap Memory (%s), Framework Off-Heap Memory (%s), Task Heap Memory (%s), "+
		"Task Off-Heap Memory (%s) and Managed Memory (%s) exceed configured Total Flink Memory (%s).",
		humanSize(m.FrameworkHeap), humanSize(m.FrameworkOffHeap), humanSize(m.TaskHeap),
		humanSize(m.TaskOffHeap), humanSize(m.ManagedMemory), humanSize(flink))
}

// checkNetwork is sanityCheckNetworkMemoryWithExplicitlySetTotalFlinkAndHeapMemory.
func (c memOptions) checkNetwork(network int64) error {
	r, err := c.rangeFraction("taskmanager.memory.network", 64*mib, math.MaxInt64, 0.1)
	if err != nil {
		return err
	}
	if network > r.max || network < r.min {
		inner := illegalConfig + fmt.Sprintf("Derived Network Memory size (%s) is not in configured Network Memory range [%s, %s].",
			humanSize(network), humanSize(r.min), humanSize(r.max))
		return memErr{[]string{illegalConfig + "If Total Flink, Task Heap and (or) Managed Memory sizes are explicitly configured then " +
			"the Network Memory size is the rest of the Total Flink memory after subtracting all other " +
			"configured types of memory, but the derived Network Memory is inconsistent with its configuration.", inner}}
	}
	return nil
}

// checkTotalFlink is sanityCheckTotalFlinkMemory.
func (c memOptions) checkTotalFlink(m *TaskManagerMemory) error {
	if !c.contains("taskmanager.memory.flink.size") {
		return nil
	}
	flink, err := c.size("taskmanager.memory.flink.size", 0)
	if err != nil {
		return err
	}
	if flink != m.TotalFlinkMemory {
		return illegal("Configured and Derived Flink internal memory sizes (total %s) do not add up to the configured Total Flink Memory size (%s). "+
			"Configured and Derived Flink internal memory sizes are: Framework Heap Memory (%s), Framework Off-Heap Memory (%s), "+
			"Task Heap Memory (%s), Task Off-Heap Memory (%s), Network Memory (%s), Managed Memory (%s).",
			humanSize(m.TotalFlinkMemory), humanSize(flink), humanSize(m.FrameworkHeap), humanSize(m.FrameworkOffHeap),
			humanSize(m.TaskHeap), humanSize(m.TaskOffHeap), humanSize(m.NetworkMemory), humanSize(m.ManagedMemory))
	}
	return nil
}

// JobManagerMemory is the JobManager memory model (JobManagerProcessUtils), in bytes.
type JobManagerMemory struct {
	Heap, OffHeap, Metaspace, Overhead, TotalFlink, TotalProcess int64
	// Warning is Flink's warning when the heap is below its recommended minimum (128 MiB,
	// JobManagerOptions.MIN_JVM_HEAP_SIZE).
	Warning string
	// Info are the INFO lines Flink logs while it derives the sizes.
	Info []string
}

// DeriveJobManagerMemory derives the JobManager memory model from conf as BashJavaUtils
// GET_JM_RESOURCE_PARAMS does (JobManagerProcessUtils.processSpecFromConfig,
// ProcessMemoryUtils, JobManagerFlinkMemoryUtils): the heap first, else the Total Flink
// size, else the Total Process size. Errors are Flink 2.x's; 1.x wraps them in "JobManager
// memory configuration failed: " (JobManagerProcessUtils
// .processSpecFromConfigWithNewOptionToInterpretLegacyHeap), see JobManagerMemoryError.
func DeriveJobManagerMemory(conf map[string]string) (JobManagerMemory, error) {
	c := newMemOptions(conf)
	m, err := deriveJobManagerMemory(c)
	m.Info = *c.info
	return m, err
}

func deriveJobManagerMemory(c memOptions) (JobManagerMemory, error) {
	const p = "jobmanager.memory"
	var m JobManagerMemory
	var err error
	if m.OffHeap, err = c.size(p+".off-heap.size", 128*mib); err != nil {
		return m, err
	}
	var s processSizes
	switch {
	case c.contains(p + ".heap.size"):
		if m.Heap, err = c.size(p+".heap.size", 0); err != nil {
			return m, err
		}
		if c.contains(p + ".flink.size") {
			flink, err := c.size(p+".flink.size", 0)
			if err != nil {
				return m, err
			}
			if c.contains(p + ".off-heap.size") {
				if m.Heap+m.OffHeap != flink {
					return m, illegal("Sum of the configured JVM Heap Memory (%s) and the configured Off-heap Memory (%s) "+
						"does not match the configured Total Flink Memory (%s). Please, make the configuration consistent "+
						"or configure only one option: either JVM Heap or Total Flink Memory.",
						humanSize(m.Heap), humanSize(m.OffHeap), humanSize(flink))
				}
			} else {
				if flink < m.Heap {
					return m, illegal("The configured JVM Heap Memory (%s) exceeds the configured Total Flink Memory (%s). "+
						"Please, make the configuration consistent or configure only one option: either JVM Heap "+
						"or Total Flink Memory.", humanSize(m.Heap), humanSize(flink))
				}
				m.OffHeap = flink - m.Heap
			}
		}
		m.TotalFlink = m.Heap + m.OffHeap
		if s, err = c.fromFlink(p, m.TotalFlink); err != nil {
			return m, err
		}
	case c.contains(p + ".flink.size"):
		if m.TotalFlink, err = c.size(p+".flink.size", 0); err != nil {
			return m, err
		}
		if err := m.heapFromFlink(); err != nil {
			return m, err
		}
		if s, err = c.fromFlink(p, m.TotalFlink); err != nil {
			return m, err
		}
	case c.contains(p + ".process.size"):
		process, err := c.size(p+".process.size", 0)
		if err != nil {
			return m, err
		}
		if s, err = c.fromProcess(p, process); err != nil {
			return m, err
		}
		m.TotalFlink = process - s.metaspace - s.overhead
		if err := m.heapFromFlink(); err != nil {
			return m, err
		}
	default:
		return m, illegal("Either required fine-grained memory (jobmanager.memory.heap.size), " +
			"or Total Flink Memory size (Key: 'jobmanager.memory.flink.size' , default: null (fallback keys: [])), " +
			"or Total Process Memory size (Key: 'jobmanager.memory.process.size' , default: null (fallback keys: [])) need to be configured explicitly.")
	}
	m.Metaspace, m.Overhead = s.metaspace, s.overhead
	if m.Heap < 128*mib {
		m.Warning = fmt.Sprintf("The configured or derived JVM heap memory size (%s) is less than its recommended minimum value (%s)",
			humanSize(m.Heap), humanSize(128*mib))
	}
	m.TotalProcess = m.TotalFlink + m.Metaspace + m.Overhead
	return m, nil
}

// heapFromFlink is JobManagerFlinkMemoryUtils.deriveFromTotalFlinkMemory.
func (m *JobManagerMemory) heapFromFlink() error {
	if m.TotalFlink <= m.OffHeap {
		return illegal("The configured Total Flink Memory (%s) is less than the configured Off-heap Memory (%s).",
			humanSize(m.TotalFlink), humanSize(m.OffHeap))
	}
	m.Heap = m.TotalFlink - m.OffHeap
	return nil
}

// JobManagerMemoryError is the error Flink version v reports for a JobManager memory
// configuration DeriveJobManagerMemory refused: 1.x wraps it.
func JobManagerMemoryError(v Version, err error) error {
	if v.Major < 2 {
		return wrapIllegal("JobManager memory configuration failed: ", err)
	}
	return err
}

// ParseDuration parses a duration the way Flink's TimeUtils.parseDuration does: a number
// with an optional unit (ns, us, ms, s, min/m, h, d and their long forms); no unit means
// milliseconds.
func ParseDuration(text string) (time.Duration, error) {
	t := strings.TrimSpace(text)
	i := 0
	for i < len(t) && unicode.IsDigit(rune(t[i])) {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("text does not start with a number: %q", text)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse duration %q: %w", text, err)
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	var d time.Duration
	switch unit {
	case "", "ms", "milli", "millis", "millisecond", "milliseconds":
		d = time.Millisecond
	case "ns", "nano", "nanos", "nanosecond", "nanoseconds":
		d = time.Nanosecond
	case "us", "µs", "micro", "micros", "microsecond", "microseconds":
		d = time.Microsecond
	case "s", "sec", "secs", "second", "seconds":
		d = time.Second
	case "m", "min", "mins", "minute", "minutes":
		d = time.Minute
	case "h", "hour", "hours":
		d = time.Hour
	case "d", "day", "days":
		d = 24 * time.Hour
	default:
		return 0, fmt.Errorf("time interval unit label %q does not match any of the recognized units", unit)
	}
	return time.Duration(n) * d, nil
}
