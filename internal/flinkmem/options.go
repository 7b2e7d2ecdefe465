package flinkmem

import (
	"fmt"
	"math"
	"strings"

	"github.com/flinkd/flinkd/internal/flinkconf"
)

// Memory options, with Flink's defaults (TaskManagerOptions, JobManagerOptions).
const (
	KeyTaskManagerProcessSize = flinkconf.KeyTaskManagerProcessSize
	KeyTaskManagerFlinkSize   = "taskmanager.memory.flink.size"
	KeyFrameworkHeap          = "taskmanager.memory.framework.heap.size"
	KeyFrameworkOffHeap       = "taskmanager.memory.framework.off-heap.size"
	KeyTaskHeap               = "taskmanager.memory.task.heap.size"
	KeyTaskOffHeap            = "taskmanager.memory.task.off-heap.size"
	KeyManagedSize            = "taskmanager.memory.managed.size"
	KeyManagedFraction        = "taskmanager.memory.managed.fraction"
	KeyNetworkMin             = "taskmanager.memory.network.min"
	KeyNetworkMax             = "taskmanager.memory.network.max"
	KeyNetworkFraction        = "taskmanager.memory.network.fraction"
	KeyTaskManagerMetaspace   = "taskmanager.memory.jvm-metaspace.size"
	KeyTaskManagerOverheadMin = "taskmanager.memory.jvm-overhead.min"
	KeyTaskManagerOverheadMax = "taskmanager.memory.jvm-overhead.max"
	KeyTaskManagerOverheadFr  = "taskmanager.memory.jvm-overhead.fraction"

	KeyJobManagerProcessSize  = flinkconf.KeyJobManagerProcessSize
	KeyJobManagerFlinkSize    = "jobmanager.memory.flink.size"
	KeyJobManagerHeap         = "jobmanager.memory.heap.size"
	KeyJobManagerOffHeap      = "jobmanager.memory.off-heap.size"
	KeyJobManagerMetaspace    = "jobmanager.memory.jvm-metaspace.size"
	KeyJobManagerOverheadMin  = "jobmanager.memory.jvm-overhead.min"
	KeyJobManagerOverheadMax  = "jobmanager.memory.jvm-overhead.max"
	KeyJobManagerOverheadFrac = "jobmanager.memory.jvm-overhead.fraction"
)

// MinJobManagerHeap is JobManagerOptions.MIN_JVM_HEAP_SIZE: Flink warns below it.
const MinJobManagerHeap = 128 * MiB

// Error is Flink's IllegalConfigurationException from its memory utils: the process exits
// at start with this message.
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }

func errorf(format string, a ...any) error { return &Error{Message: fmt.Sprintf(format, a...)} }

type sizeOption struct {
	key string
	def int64 // -1: no default
	// deprecated keys Flink 1.x still reads for it (withDeprecatedKeys); 2.0 removed them
	deprecated []string
}

type fractionOption struct {
	key        string
	def        float32
	deprecated []string
}

// config is a flat Flink configuration read the way ConfigOption lookups read it.
type config struct {
	m map[string]string
	v flinkconf.Version
}

func (c config) lookup(key string, deprecated []string) (string, bool) {
	if v, ok := c.m[key]; ok {
		return v, true
	}
	if c.v.Major < 2 {
		for _, d := range deprecated {
			if v, ok := c.m[d]; ok {
				return v, true
			}
		}
	}
	return "", false
}

func (c config) has(o sizeOption) bool {
	_, ok := c.lookup(o.key, o.deprecated)
	return ok
}

func (c config) hasFraction(o fractionOption) bool {
	_, ok := c.lookup(o.key, o.deprecated)
	return ok
}

// size is ProcessMemoryUtils.getMemorySizeFromConfig.
func (c config) size(o sizeOption) (int64, error) {
	s, ok := c.lookup(o.key, o.deprecated)
	if !ok {
		if o.def < 0 {
			return 0, errorf("Cannot read memory size from config option '%s': the memory option is not set and has no default value.", o.key)
		}
		return o.def, nil
	}
	b, err := ParseSize(s)
	if err != nil {
		return 0, errorf("Cannot read memory size from config option '%s': %v", o.key, err)
	}
	return b, nil
}

func (c config) fraction(o fractionOption) (float64, error) {
	s, ok := c.lookup(o.key, o.deprecated)
	if !ok {
		return float64(o.def), nil
	}
	f, err := parseFraction(s)
	if err != nil {
		return 0, errorf("Could not parse value '%s' for key '%s': %v", s, o.key, err)
	}
	return f, nil
}

// rangeFraction is RangeFraction: a fraction of a base, capped to [min, max].
type rangeFraction struct {
	min, max int64
	fraction float64
}

// getRangeFraction is ProcessMemoryUtils.getRangeFraction.
func (c config) rangeFraction(minO, maxO sizeOption, fracO fractionOption) (rangeFraction, error) {
	lo, err := c.size(minO)
	if err != nil {
		return rangeFraction{}, err
	}
	hi, err := c.size(maxO)
	if err != nil {
		return rangeFraction{}, err
	}
	f, err := c.fraction(fracO)
	if err != nil {
		return rangeFraction{}, err
	}
	if lo > hi || f < 0 || f >= 1 {
		return rangeFraction{}, errorf("Inconsistently configured %s (%s) and its min (%s), max (%s) value",
			fracO.key, strings.TrimSuffix(fmt.Sprint(f), ".0"), HumanReadable(lo), HumanReadable(hi))
	}
	return rangeFraction{lo, hi, f}, nil
}

// deriveWithFraction is ProcessMemoryUtils.deriveWithFraction.
func deriveWithFraction(base int64, r rangeFraction) (int64, error) {
	rel, err := multiply(base, r.fraction)
	if err != nil {
		return 0, err
	}
	return capToMinMax(rel, r), nil
}

// deriveWithInverseFraction is ProcessMemoryUtils.deriveWithInverseFraction: the part that
// makes up the fraction of the whole that base is the rest of.
func deriveWithInverseFraction(base int64, r rangeFraction) (int64, error) {
	rel, err := multiply(base, r.fraction/(1-r.fraction))
	if err != nil {
		return 0, err
	}
	return capToMinMax(rel, r), nil
}

func capToMinMax(size int64, r rangeFraction) int64 {
	return min(max(size, r.min), r.max)
}

// The JVM metaspace and overhead options of one process kind (JvmMetaspaceAndOverheadOptions),
// and its total process, total Flink and fine-grained options (ProcessMemoryOptions).
type processOptions struct {
	process, flink            sizeOption
	fineGrained               []sizeOption
	metaspace, ovhMin, ovhMax sizeOption
	ovhFraction               fractionOption
}

func taskManagerOptions(v flinkconf.Version) processOptions {
	return processOptions{
		process:     sizeOption{key: KeyTaskManagerProcessSize, def: -1},
		flink:       sizeOption{key: KeyTaskManagerFlinkSize, def: -1},
		fineGrained: []sizeOption{tmOpts(v).taskHeap, tmOpts(v).managed},
		metaspace:   sizeOption{key: KeyTaskManagerMetaspace, def: 256 * MiB},
		ovhMin:      sizeOption{key: KeyTaskManagerOverheadMin, def: 192 * MiB},
		ovhMax:      sizeOption{key: KeyTaskManagerOverheadMax, def: GiB},
		ovhFraction: fractionOption{key: KeyTaskManagerOverheadFr, def: 0.1},
	}
}

func jobManagerOptions() processOptions {
	return processOptions{
		process:     sizeOption{key: KeyJobManagerProcessSize, def: -1},
		flink:       sizeOption{key: KeyJobManagerFlinkSize, def: -1},
		fineGrained: []sizeOption{{key: KeyJobManagerHeap, def: -1}},
		metaspace:   sizeOption{key: KeyJobManagerMetaspace, def: 256 * MiB},
		ovhMin:      sizeOption{key: KeyJobManagerOverheadMin, def: 192 * MiB},
		ovhMax:      sizeOption{key: KeyJobManagerOverheadMax, def: GiB},
		ovhFraction: fractionOption{key: KeyJobManagerOverheadFrac, def: 0.1},
	}
}

// The TaskManager's own options (TaskManagerOptions).
type taskManagerFlinkOptions struct {
	frameworkHeap, frameworkOffHeap, taskHeap, taskOffHeap, managed sizeOption
	managedFraction                                                 fractionOption
	networkMin, networkMax                                          sizeOption
	networkFraction                                                 fractionOption
}

func tmOpts(v flinkconf.Version) taskManagerFlinkOptions {
	// FLINK-30472 (1.17, FLIP-266) made the network maximum unbounded; it was 1 GiB.
	netMax := int64(math.MaxInt64)
	if !v.AtLeast(1, 17) {
		netMax = GiB
	}
	return taskManagerFlinkOptions{
		frameworkHeap:    sizeOption{key: KeyFrameworkHeap, def: 128 * MiB},
		frameworkOffHeap: sizeOption{key: KeyFrameworkOffHeap, def: 128 * MiB},
		taskHeap:         sizeOption{key: KeyTaskHeap, def: -1},
		taskOffHeap:      sizeOption{key: KeyTaskOffHeap, def: 0},
		managed:          sizeOption{key: KeyManagedSize, def: -1, deprecated: []string{"taskmanager.memory.size"}},
		managedFraction:  fractionOption{key: KeyManagedFraction, def: 0.4},
		networkMin:       sizeOption{key: KeyNetworkMin, def: 64 * MiB, deprecated: []string{"taskmanager.network.memory.min"}},
		networkMax:       sizeOption{key: KeyNetworkMax, def: netMax, deprecated: []string{"taskmanager.network.memory.max"}},
		networkFraction:  fractionOption{key: KeyNetworkFraction, def: 0.1, deprecated: []string{"taskmanager.network.memory.fraction"}},
	}
}
