package flinkmem

import (
	"maps"

	"github.com/flinkd/flinkd/internal/flinkconf"
)

// searchLimit bounds the process sizes the minimum searches: 1 PiB.
const searchLimit = 1 << 50

// MinTaskManagerProcess returns the smallest Total Process Memory a TaskManager with conf's
// other options starts with, and false when there is none up to 1 PiB (a fraction or a size
// that no process size can satisfy).
func MinTaskManagerProcess(conf map[string]string, v flinkconf.Version) (int64, bool) {
	o := taskManagerOptions(v)
	return minimum(conf, v, o, func(c map[string]string) (int64, int64, error) {
		m, err := DeriveTaskManager(c, v)
		return m.TotalFlink() + m.Metaspace, m.Overhead, err
	}, func(c map[string]string) bool {
		_, err := DeriveTaskManager(c, v)
		return err == nil
	})
}

// MinJobManagerProcess is MinTaskManagerProcess for a JobManager. With recommendedHeap, the
// size must also leave the heap Flink recommends (MinJobManagerHeap).
func MinJobManagerProcess(conf map[string]string, v flinkconf.Version, recommendedHeap bool) (int64, bool) {
	o := jobManagerOptions()
	return minimum(conf, v, o, func(c map[string]string) (int64, int64, error) {
		m, err := DeriveJobManager(c, v)
		return m.TotalFlink() + m.Metaspace, m.Overhead, err
	}, func(c map[string]string) bool {
		m, err := DeriveJobManager(c, v)
		return err == nil && (!recommendedHeap || len(m.Warnings) == 0)
	})
}

// minimum finds the smallest process size that works. When Flink derives the process memory
// from the process size (neither the Total Flink Memory nor all fine-grained sizes are set),
// a larger size never fails where a smaller one works (every component is a capped fraction
// or a constant, and the task heap or JVM heap takes the rest), so bisection finds the edge.
// Otherwise the other options fix Flink memory and metaspace, the process size must leave
// an overhead within its range, and the smallest is the one that leaves its minimum.
func minimum(conf map[string]string, v flinkconf.Version, o processOptions,
	derive func(map[string]string) (flinkAndMeta, overhead int64, err error), works func(map[string]string) bool,
) (int64, bool) {
	c := config{m: conf, v: v}
	fine := true
	for _, f := range o.fineGrained {
		fine = fine && c.has(f)
	}
	if fine || c.has(o.flink) {
		without := maps.Clone(conf)
		delete(without, o.process.key)
		flinkAndMeta, _, err := derive(without)
		if err != nil {
			return 0, false
		}
		ovhMin, err := c.size(o.ovhMin)
		if err != nil {
			return 0, false
		}
		p := flinkAndMeta + ovhMin
		return p, works(withProcessSize(conf, o.process.key, p))
	}
	lo, hi := int64(0), int64(searchLimit) // lo fails (or is 0), hi works
	if !works(withProcessSize(conf, o.process.key, hi)) {
		return 0, false
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if works(withProcessSize(conf, o.process.key, mid)) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true
}
