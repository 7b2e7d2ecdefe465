package flinkmem

import "fmt"

// jmMemory is JobManagerFlinkMemoryUtils.
type jmMemory struct{ m JobManager }

func jmHeap() sizeOption    { return sizeOption{key: KeyJobManagerHeap, def: -1} }
func jmOffHeap() sizeOption { return sizeOption{key: KeyJobManagerOffHeap, def: 128 * MiB} }

// fromFineGrained is deriveFromRequiredFineGrainedOptions: the heap is set; off-heap memory
// is set too, or the rest of a configured Total Flink Memory, or its default.
func (j *jmMemory) fromFineGrained(c config) (int64, error) {
	var err error
	if j.m.Heap, err = c.size(jmHeap()); err != nil {
		return 0, err
	}
	if j.m.OffHeap, err = c.size(jmOffHeap()); err != nil {
		return 0, err
	}
	flinkKey := jobManagerOptions().flink
	if c.has(flinkKey) {
		total, err := c.size(flinkKey)
		if err != nil {
			return 0, err
		}
		if c.has(jmOffHeap()) {
			if j.m.Heap+j.m.OffHeap != total {
				return 0, errorf("Sum of the configured JVM Heap Memory (%s) and the configured Off-heap Memory (%s) does not match the "+
					"configured Total Flink Memory (%s). Please, make the configuration consistent or configure only one option: "+
					"either JVM Heap or Total Flink Memory.", HumanReadable(j.m.Heap), HumanReadable(j.m.OffHeap), HumanReadable(total))
			}
		} else {
			if total < j.m.Heap {
				return 0, errorf("The configured JVM Heap Memory (%s) exceeds the configured Total Flink Memory (%s). Please, make the "+
					"configuration consistent or configure only one option: either JVM Heap or Total Flink Memory.",
					HumanReadable(j.m.Heap), HumanReadable(total))
			}
			j.m.OffHeap = total - j.m.Heap
		}
	}
	j.verifyHeap()
	return add(j.m.Heap, j.m.OffHeap)
}

// fromTotal is deriveFromTotalFlinkMemory: the heap is what the off-heap memory leaves.
func (j *jmMemory) fromTotal(c config, total int64) error {
	var err error
	if j.m.OffHeap, err = c.size(jmOffHeap()); err != nil {
		return err
	}
	if total <= j.m.OffHeap {
		return errorf("The configured Total Flink Memory (%s) is less than the configured Off-heap Memory (%s).",
			HumanReadable(total), HumanReadable(j.m.OffHeap))
	}
	j.m.Heap = total - j.m.OffHeap
	j.verifyHeap()
	return nil
}

// verifyHeap is verifyJvmHeapSize: Flink only warns about a small heap.
func (j *jmMemory) verifyHeap() {
	if j.m.Heap < MinJobManagerHeap {
		j.m.Warnings = append(j.m.Warnings, fmt.Sprintf(
			"The configured or derived JVM heap memory size (%s) is less than its recommended minimum value (%s)",
			HumanReadable(j.m.Heap), HumanReadable(MinJobManagerHeap)))
	}
}
