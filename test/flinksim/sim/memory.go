package sim

import (
	"fmt"
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

// ParseMemorySize parses a size the way Flink's MemorySize.parse does: an integer number of
// bytes followed by an optional unit (b|bytes, k|kb|kibibytes, m|mb|mebibytes,
// g|gb|gibibytes, t|tb|tebibytes, case-insensitive, all powers of two). Fractions ("1.5g")
// and Kubernetes suffixes ("1Gi") are errors, as in Flink.
func ParseMemorySize(text string) (int64, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		return 0, fmt.Errorf("argument is an empty- or whitespace-only string")
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("text does not start with a number: %q", text)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the value %q cannot be represented as 64bit number (numeric overflow)", t[:i])
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
		return 0, fmt.Errorf("memory size unit %q does not match any of the recognized units: "+
			"(b | bytes) / (k | kb | kibibytes) / (m | mb | mebibytes) / (g | gb | gibibytes) / (t | tb | tebibytes)", unit)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("the value %q cannot be represented as 64bit number of bytes (numeric overflow)", text)
	}
	return n * mult, nil
}

// humanSize renders bytes like Flink's MemorySize.toHumanReadableString: "192.000mb (201326592 bytes)".
func humanSize(b int64) string {
	switch {
	case b >= gib:
		return fmt.Sprintf("%.3fgb (%d bytes)", float64(b)/float64(gib), b)
	case b >= mib:
		return fmt.Sprintf("%.3fmb (%d bytes)", float64(b)/float64(mib), b)
	case b >= kib:
		return fmt.Sprintf("%.3fkb (%d bytes)", float64(b)/float64(kib), b)
	}
	return fmt.Sprintf("%d bytes", b)
}

// TaskManagerMemory is the TaskManager memory model Flink derives from its configuration
// (TaskExecutorProcessUtils), in bytes.
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
}

type memConf map[string]string

func (c memConf) size(key string, def int64) (int64, bool, error) {
	v, ok := c[key]
	if !ok || strings.TrimSpace(v) == "" {
		return def, false, nil
	}
	n, err := ParseMemorySize(v)
	if err != nil {
		return 0, false, fmt.Errorf("could not parse value '%s' for key '%s': %w", v, key, err)
	}
	return n, true, nil
}

func (c memConf) fraction(key string, def float64) (float64, error) {
	v, ok := c[key]
	if !ok || strings.TrimSpace(v) == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, fmt.Errorf("could not parse value '%s' for key '%s'", v, key)
	}
	return f, nil
}

// rangeFraction is Flink's "fraction of a total, capped to [min, max]" rule.
func (c memConf) rangeFraction(prefix string, total int64, defMin, defMax int64, defFrac float64) (int64, error) {
	lo, _, err := c.size(prefix+".min", defMin)
	if err != nil {
		return 0, err
	}
	hi, _, err := c.size(prefix+".max", defMax)
	if err != nil {
		return 0, err
	}
	f, err := c.fraction(prefix+".fraction", defFrac)
	if err != nil {
		return 0, err
	}
	v := int64(float64(total) * f)
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v, nil
}

// errMemory is what Flink's configuration checks throw (IllegalConfigurationException).
type errMemory struct{ msg string }

func (e errMemory) Error() string {
	return "org.apache.flink.configuration.IllegalConfigurationException: " + e.msg
}

// DeriveTaskManagerMemory derives the TaskManager memory model from conf as Flink does, and
// fails as Flink fails: none of process size, Flink size or fine-grained sizes configured,
// an unparsable size, or components exceeding the total.
func DeriveTaskManagerMemory(conf map[string]string) (TaskManagerMemory, error) {
	c := memConf(conf)
	var m TaskManagerMemory
	var err error
	if m.FrameworkHeap, _, err = c.size("taskmanager.memory.framework.heap.size", 128*mib); err != nil {
		return m, errMemory{err.Error()}
	}
	if m.FrameworkOffHeap, _, err = c.size("taskmanager.memory.framework.off-heap.size", 128*mib); err != nil {
		return m, errMemory{err.Error()}
	}
	if m.TaskOffHeap, _, err = c.size("taskmanager.memory.task.off-heap.size", 0); err != nil {
		return m, errMemory{err.Error()}
	}
	if m.JVMMetaspace, _, err = c.size("taskmanager.memory.jvm-metaspace.size", 256*mib); err != nil {
		return m, errMemory{err.Error()}
	}
	taskHeap, hasTaskHeap, err := c.size("taskmanager.memory.task.heap.size", 0)
	if err != nil {
		return m, errMemory{err.Error()}
	}
	managed, hasManaged, err := c.size("taskmanager.memory.managed.size", 0)
	if err != nil {
		return m, errMemory{err.Error()}
	}
	flink, hasFlink, err := c.size("taskmanager.memory.flink.size", 0)
	if err != nil {
		return m, errMemory{err.Error()}
	}
	process, hasProcess, err := c.size("taskmanager.memory.process.size", 0)
	if err != nil {
		return m, errMemory{err.Error()}
	}

	switch {
	case hasTaskHeap && hasManaged:
		sum := m.FrameworkHeap + taskHeap + m.FrameworkOffHeap + m.TaskOffHeap + managed
		netFrac, err := c.fraction("taskmanager.memory.network.fraction", 0.1)
		if err != nil {
			return m, errMemory{err.Error()}
		}
		total := int64(float64(sum) / (1 - netFrac))
		if m.NetworkMemory, err = c.rangeFraction("taskmanager.memory.network", total, 64*mib, gib, netFrac); err != nil {
			return m, errMemory{err.Error()}
		}
		m.TaskHeap, m.ManagedMemory = taskHeap, managed
		m.TotalFlinkMemory = sum + m.NetworkMemory
	case hasFlink || hasProcess:
		if !hasFlink {
			if m.JVMOverhead, err = c.rangeFraction("taskmanager.memory.jvm-overhead", process, 192*mib, gib, 0.1); err != nil {
				return m, errMemory{err.Error()}
			}
			flink = process - m.JVMMetaspace - m.JVMOverhead
			if flink <= 0 {
				return m, errMemory{fmt.Sprintf("Sum of configured JVM Metaspace (%s) and JVM Overhead (%s) exceed configured Total Process Memory (%s).",
					humanSize(m.JVMMetaspace), humanSize(m.JVMOverhead), humanSize(process))}
			}
		}
		m.TotalFlinkMemory = flink
		if hasManaged {
			m.ManagedMemory = managed
		} else {
			f, err := c.fraction("taskmanager.memory.managed.fraction", 0.4)
			if err != nil {
				return m, errMemory{err.Error()}
			}
			m.ManagedMemory = int64(float64(flink) * f)
		}
		if m.NetworkMemory, err = c.rangeFraction("taskmanager.memory.network", flink, 64*mib, gib, 0.1); err != nil {
			return m, errMemory{err.Error()}
		}
		if hasTaskHeap {
			m.TaskHeap = taskHeap
		} else {
			m.TaskHeap = flink - m.FrameworkHeap - m.FrameworkOffHeap - m.TaskOffHeap - m.ManagedMemory - m.NetworkMemory
		}
		if m.TaskHeap < 0 || m.FrameworkHeap+m.TaskHeap+m.FrameworkOffHeap+m.TaskOffHeap+m.ManagedMemory+m.NetworkMemory > flink {
			return m, errMemory{fmt.Sprintf("Sum of configured Framework Heap Memory (%s), Framework Off-Heap Memory (%s), Task Off-Heap Memory (%s), "+
				"Managed Memory (%s) and Network Memory (%s) exceed configured Total Flink Memory (%s).",
				humanSize(m.FrameworkHeap), humanSize(m.FrameworkOffHeap), humanSize(m.TaskOffHeap),
				humanSize(m.ManagedMemory), humanSize(m.NetworkMemory), humanSize(flink))}
		}
	default:
		return m, errMemory{"Either required fine-grained memory (taskmanager.memory.task.heap.size and taskmanager.memory.managed.size), " +
			"or Total Flink Memory size (Key: 'taskmanager.memory.flink.size' , default: null (fallback keys: [])), " +
			"or Total Process Memory size (Key: 'taskmanager.memory.process.size' , default: null (fallback keys: [])) need to be configured explicitly."}
	}
	if m.JVMOverhead == 0 {
		// Overhead is a fraction of the process size it completes.
		p := float64(m.TotalFlinkMemory+m.JVMMetaspace) / 0.9
		if m.JVMOverhead, err = c.rangeFraction("taskmanager.memory.jvm-overhead", int64(p), 192*mib, gib, 0.1); err != nil {
			return m, errMemory{err.Error()}
		}
	}
	m.TotalProcess = m.TotalFlinkMemory + m.JVMMetaspace + m.JVMOverhead
	return m, nil
}

// JobManagerMemory is the JobManager memory model (JobManagerProcessUtils), in bytes.
type JobManagerMemory struct {
	Heap, OffHeap, Metaspace, Overhead, TotalFlink, TotalProcess int64
	// Warning is Flink's warning when the heap is below its recommended minimum.
	Warning string
}

// DeriveJobManagerMemory derives the JobManager memory model from conf as Flink does.
func DeriveJobManagerMemory(conf map[string]string) (JobManagerMemory, error) {
	c := memConf(conf)
	var m JobManagerMemory
	var err error
	if m.OffHeap, _, err = c.size("jobmanager.memory.off-heap.size", 128*mib); err != nil {
		return m, errMemory{err.Error()}
	}
	if m.Metaspace, _, err = c.size("jobmanager.memory.jvm-metaspace.size", 256*mib); err != nil {
		return m, errMemory{err.Error()}
	}
	heap, hasHeap, err := c.size("jobmanager.memory.heap.size", 0)
	if err != nil {
		return m, errMemory{err.Error()}
	}
	flink, hasFlink, err := c.size("jobmanager.memory.flink.size", 0)
	if err != nil {
		return m, errMemory{err.Error()}
	}
	process, hasProcess, err := c.size("jobmanager.memory.process.size", 0)
	if err != nil {
		return m, errMemory{err.Error()}
	}
	switch {
	case hasHeap:
		m.Heap = heap
		m.TotalFlink = heap + m.OffHeap
	case hasFlink:
		m.TotalFlink = flink
	case hasProcess:
		if m.Overhead, err = c.rangeFraction("jobmanager.memory.jvm-overhead", process, 192*mib, gib, 0.1); err != nil {
			return m, errMemory{err.Error()}
		}
		m.TotalFlink = process - m.Metaspace - m.Overhead
		if m.TotalFlink <= 0 {
			return m, errMemory{fmt.Sprintf("Sum of configured JVM Metaspace (%s) and JVM Overhead (%s) exceed configured Total Process Memory (%s).",
				humanSize(m.Metaspace), humanSize(m.Overhead), humanSize(process))}
		}
	default:
		return m, errMemory{"Either required fine-grained memory (jobmanager.memory.heap.size), " +
			"or Total Flink Memory size (Key: 'jobmanager.memory.flink.size' , default: null (fallback keys: [])), " +
			"or Total Process Memory size (Key: 'jobmanager.memory.process.size' , default: null (fallback keys: [])) need to be configured explicitly."}
	}
	if !hasHeap {
		m.Heap = m.TotalFlink - m.OffHeap
		if m.Heap < 0 {
			return m, errMemory{fmt.Sprintf("The configured Total Flink Memory (%s) is less than the configured Off-heap Memory (%s).",
				humanSize(m.TotalFlink), humanSize(m.OffHeap))}
		}
	}
	if m.Heap < 128*mib {
		m.Warning = fmt.Sprintf("The configured or derived JVM heap memory size (%s) is less than its recommended minimum value (%s)",
			humanSize(m.Heap), humanSize(128*mib))
	}
	if m.Overhead == 0 {
		p := float64(m.TotalFlink+m.Metaspace) / 0.9
		if m.Overhead, err = c.rangeFraction("jobmanager.memory.jvm-overhead", int64(p), 192*mib, gib, 0.1); err != nil {
			return m, errMemory{err.Error()}
		}
	}
	m.TotalProcess = m.TotalFlink + m.Metaspace + m.Overhead
	return m, nil
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
