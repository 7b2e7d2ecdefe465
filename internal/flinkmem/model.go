package flinkmem

import (
	"maps"

	"github.com/flinkd/flinkd/internal/flinkconf"
)

// TaskManager is a TaskManager's memory as Flink derives it (TaskExecutorProcessSpec), in
// bytes.
type TaskManager struct {
	FrameworkHeap, TaskHeap, FrameworkOffHeap, TaskOffHeap, Network, Managed int64
	Metaspace, Overhead                                                      int64
}

// TotalFlink is the Total Flink Memory: everything but JVM metaspace and overhead.
func (m TaskManager) TotalFlink() int64 {
	return m.FrameworkHeap + m.TaskHeap + m.FrameworkOffHeap + m.TaskOffHeap + m.Network + m.Managed
}

// TotalProcess is the Total Process Memory, what the container must allow.
func (m TaskManager) TotalProcess() int64 { return m.TotalFlink() + m.Metaspace + m.Overhead }

// JobManager is a JobManager's memory as Flink derives it (JobManagerProcessSpec), in bytes.
type JobManager struct {
	Heap, OffHeap, Metaspace, Overhead int64
	// Warnings are what Flink logs as warnings about this configuration: a heap below its
	// recommended minimum.
	Warnings []string
}

// TotalFlink is the Total Flink Memory: heap and off-heap.
func (m JobManager) TotalFlink() int64 { return m.Heap + m.OffHeap }

// TotalProcess is the Total Process Memory, what the container must allow.
func (m JobManager) TotalProcess() int64 { return m.TotalFlink() + m.Metaspace + m.Overhead }

// flinkMemory is one process kind's FlinkMemoryUtils: its Flink memory from fine-grained
// options or from a total.
type flinkMemory interface {
	fromFineGrained(c config) (totalFlink int64, err error)
	fromTotal(c config, totalFlink int64) error
}

// deriveProcess is ProcessMemoryUtils.memoryProcessSpecFromConfig: Flink memory and JVM
// metaspace and overhead from, in this order, the fine-grained options (all of them set),
// the Total Flink Memory, or the Total Process Memory.
func deriveProcess(c config, o processOptions, fm flinkMemory) (metaspace, overhead int64, err error) {
	fine := true
	for _, f := range o.fineGrained {
		fine = fine && c.has(f)
	}
	switch {
	case fine:
		total, err := fm.fromFineGrained(c)
		if err != nil {
			return 0, 0, err
		}
		return metaspaceAndOverheadFromTotalFlink(c, o, total)
	case c.has(o.flink):
		total, err := c.size(o.flink)
		if err != nil {
			return 0, 0, err
		}
		if err := fm.fromTotal(c, total); err != nil {
			return 0, 0, err
		}
		return metaspaceAndOverheadFromTotalFlink(c, o, total)
	case c.has(o.process):
		process, err := c.size(o.process)
		if err != nil {
			return 0, 0, err
		}
		if metaspace, err = c.size(o.metaspace); err != nil {
			return 0, 0, err
		}
		r, err := c.rangeFraction(o.ovhMin, o.ovhMax, o.ovhFraction)
		if err != nil {
			return 0, 0, err
		}
		if overhead, err = deriveWithFraction(process, r); err != nil {
			return 0, 0, err
		}
		if metaspace+overhead > process {
			return 0, 0, errorf("Sum of configured JVM Metaspace (%s) and JVM Overhead (%s) exceed configured Total Process Memory (%s).",
				HumanReadable(metaspace), HumanReadable(overhead), HumanReadable(process))
		}
		return metaspace, overhead, fm.fromTotal(c, process-metaspace-overhead)
	}
	var fineKeys []string
	for _, f := range o.fineGrained {
		fineKeys = append(fineKeys, f.key)
	}
	return 0, 0, errorf("Either required fine-grained memory (%s), or Total Flink Memory size (Key: '%s' , default: null (fallback keys: [])), "+
		"or Total Process Memory size (Key: '%s' , default: null (fallback keys: [])) need to be configured explicitly.",
		joinAnd(fineKeys), o.flink.key, o.process.key)
}

func joinAnd(s []string) string {
	out := ""
	for i, k := range s {
		if i > 0 {
			out += " and "
		}
		out += k
	}
	return out
}

// metaspaceAndOverheadFromTotalFlink is ProcessMemoryUtils'
// deriveJvmMetaspaceAndOverheadFromTotalFlinkMemory: with a Total Process Memory configured,
// the overhead is what is left of it and must be within the overhead's range; without, the
// overhead is the fraction of the process size it completes.
func metaspaceAndOverheadFromTotalFlink(c config, o processOptions, totalFlink int64) (metaspace, overhead int64, err error) {
	if metaspace, err = c.size(o.metaspace); err != nil {
		return 0, 0, err
	}
	r, err := c.rangeFraction(o.ovhMin, o.ovhMax, o.ovhFraction)
	if err != nil {
		return 0, 0, err
	}
	flinkAndMeta, err := add(totalFlink, metaspace)
	if err != nil {
		return 0, 0, err
	}
	if !c.has(o.process) {
		overhead, err = deriveWithInverseFraction(flinkAndMeta, r)
		return metaspace, overhead, err
	}
	process, err := c.size(o.process)
	if err != nil {
		return 0, 0, err
	}
	if process < flinkAndMeta {
		return 0, 0, errorf("The configured Total Process Memory size (%s) is less than the sum of the derived Total Flink Memory size (%s) "+
			"and the configured or default JVM Metaspace size  (%s).", HumanReadable(process), HumanReadable(totalFlink), HumanReadable(metaspace))
	}
	overhead = process - flinkAndMeta
	if overhead > r.max || overhead < r.min {
		return 0, 0, errorf("Derived JVM Overhead size (%s) is not in configured JVM Overhead range [%s, %s].",
			HumanReadable(overhead), HumanReadable(r.min), HumanReadable(r.max))
	}
	return metaspace, overhead, nil
}

// DeriveTaskManager derives a TaskManager's memory from a flat Flink configuration as Flink
// version v does (TaskExecutorProcessUtils.processSpecFromConfig), or returns Flink's error.
// The legacy network-buffer count (taskmanager.network.numberOfBuffers, removed in 2.0) is
// not modelled.
func DeriveTaskManager(conf map[string]string, v flinkconf.Version) (TaskManager, error) {
	c := config{m: conf, v: v}
	tm := &tmMemory{o: tmOpts(v)}
	meta, ovh, err := deriveProcess(c, taskManagerOptions(v), tm)
	if err != nil {
		return TaskManager{}, err
	}
	tm.m.Metaspace, tm.m.Overhead = meta, ovh
	return tm.m, nil
}

// DeriveJobManager derives a JobManager's memory from a flat Flink configuration
// (JobManagerProcessUtils.processSpecFromConfig), or returns Flink's error.
func DeriveJobManager(conf map[string]string, v flinkconf.Version) (JobManager, error) {
	c := config{m: conf, v: v}
	jm := &jmMemory{}
	meta, ovh, err := deriveProcess(c, jobManagerOptions(), jm)
	if err != nil {
		return JobManager{}, err
	}
	jm.m.Metaspace, jm.m.Overhead = meta, ovh
	return jm.m, nil
}

// withProcessSize returns conf with the process size key set to b bytes.
func withProcessSize(conf map[string]string, key string, b int64) map[string]string {
	c := maps.Clone(conf)
	if c == nil {
		c = map[string]string{}
	}
	c[key] = formatBytes(b)
	return c
}

func formatBytes(b int64) string { return itoa(b) + "b" }
