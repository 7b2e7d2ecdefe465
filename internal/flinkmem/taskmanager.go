package flinkmem

import "strconv"

// tmMemory is TaskExecutorFlinkMemoryUtils.
type tmMemory struct {
	o taskManagerFlinkOptions
	m TaskManager
}

func (t *tmMemory) common(c config) (err error) {
	if t.m.FrameworkHeap, err = c.size(t.o.frameworkHeap); err != nil {
		return err
	}
	if t.m.FrameworkOffHeap, err = c.size(t.o.frameworkOffHeap); err != nil {
		return err
	}
	t.m.TaskOffHeap, err = c.size(t.o.taskOffHeap)
	return err
}

func (t *tmMemory) networkRange(c config) (rangeFraction, error) {
	return c.rangeFraction(t.o.networkMin, t.o.networkMax, t.o.networkFraction)
}

// fromFineGrained is deriveFromRequiredFineGrainedOptions: task heap and managed memory are
// set; network memory is the rest of a configured Total Flink Memory, or the fraction of the
// total it completes.
func (t *tmMemory) fromFineGrained(c config) (int64, error) {
	if err := t.common(c); err != nil {
		return 0, err
	}
	var err error
	if t.m.TaskHeap, err = c.size(t.o.taskHeap); err != nil {
		return 0, err
	}
	if t.m.Managed, err = c.size(t.o.managed); err != nil {
		return 0, err
	}
	excl, err := add(t.m.FrameworkHeap, t.m.FrameworkOffHeap, t.m.TaskHeap, t.m.TaskOffHeap, t.m.Managed)
	if err != nil {
		return 0, err
	}
	flinkKey := taskManagerOptions(c.v).flink
	if c.has(flinkKey) {
		total, err := c.size(flinkKey)
		if err != nil {
			return 0, err
		}
		if excl > total {
			return 0, t.exceedsWithTaskHeap(total)
		}
		t.m.Network = total - excl
		if err := t.checkNetworkOfExplicitTotal(c); err != nil {
			return 0, err
		}
		return total, nil
	}
	r, err := t.networkRange(c)
	if err != nil {
		return 0, err
	}
	if t.m.Network, err = deriveWithInverseFraction(excl, r); err != nil {
		return 0, err
	}
	return add(excl, t.m.Network)
}

// fromTotal is deriveFromTotalFlinkMemory: managed memory is set or its fraction of the
// total; then either the task heap is set and network memory is the rest, or network memory
// is its fraction and the task heap is the rest.
func (t *tmMemory) fromTotal(c config, total int64) error {
	if err := t.common(c); err != nil {
		return err
	}
	var err error
	if c.has(t.o.managed) {
		t.m.Managed, err = c.size(t.o.managed)
	} else {
		var f float64
		if f, err = c.fraction(t.o.managedFraction); err == nil {
			if f < 0 || f >= 1 {
				return errorf("Inconsistently configured %s (%s) and its min (0 bytes), max (%s) value",
					t.o.managedFraction.key, strconv.FormatFloat(f, 'g', -1, 64), HumanReadable(1<<63-1))
			}
			t.m.Managed, err = multiply(total, f)
		}
	}
	if err != nil {
		return err
	}
	if c.has(t.o.taskHeap) {
		if t.m.TaskHeap, err = c.size(t.o.taskHeap); err != nil {
			return err
		}
		excl, err := add(t.m.FrameworkHeap, t.m.FrameworkOffHeap, t.m.TaskHeap, t.m.TaskOffHeap, t.m.Managed)
		if err != nil {
			return err
		}
		if excl > total {
			return t.exceedsWithTaskHeap(total)
		}
		t.m.Network = total - excl
		if err := t.checkNetworkOfExplicitTotal(c); err != nil {
			return err
		}
		return t.checkTotal(c)
	}
	r, err := t.networkRange(c)
	if err != nil {
		return err
	}
	if t.m.Network, err = deriveWithFraction(total, r); err != nil {
		return err
	}
	excl, err := add(t.m.FrameworkHeap, t.m.FrameworkOffHeap, t.m.TaskOffHeap, t.m.Managed, t.m.Network)
	if err != nil {
		return err
	}
	if excl > total {
		return errorf("Sum of configured Framework Heap Memory (%s), Framework Off-Heap Memory (%s), Task Off-Heap Memory (%s), "+
			"Managed Memory (%s) and Network Memory (%s) exceed configured Total Flink Memory (%s).",
			HumanReadable(t.m.FrameworkHeap), HumanReadable(t.m.FrameworkOffHeap), HumanReadable(t.m.TaskOffHeap),
			HumanReadable(t.m.Managed), HumanReadable(t.m.Network), HumanReadable(total))
	}
	t.m.TaskHeap = total - excl
	return t.checkTotal(c)
}

func (t *tmMemory) exceedsWithTaskHeap(total int64) error {
	return errorf("Sum of configured Framework Heap Memory (%s), Framework Off-Heap Memory (%s), Task Heap Memory (%s), "+
		"Task Off-Heap Memory (%s) and Managed Memory (%s) exceed configured Total Flink Memory (%s).",
		HumanReadable(t.m.FrameworkHeap), HumanReadable(t.m.FrameworkOffHeap), HumanReadable(t.m.TaskHeap),
		HumanReadable(t.m.TaskOffHeap), HumanReadable(t.m.Managed), HumanReadable(total))
}

// checkNetworkOfExplicitTotal is sanityCheckNetworkMemoryWithExplicitlySetTotalFlinkAndHeapMemory.
func (t *tmMemory) checkNetworkOfExplicitTotal(c config) error {
	r, err := t.networkRange(c)
	if err != nil {
		return err
	}
	if t.m.Network > r.max || t.m.Network < r.min {
		return errorf("If Total Flink, Task Heap and (or) Managed Memory sizes are explicitly configured then the Network Memory size "+
			"is the rest of the Total Flink memory after subtracting all other configured types of memory, but the derived Network "+
			"Memory is inconsistent with its configuration: Derived Network Memory size (%s) is not in configured Network Memory range [%s, %s].",
			HumanReadable(t.m.Network), HumanReadable(r.min), HumanReadable(r.max))
	}
	return nil
}

// checkTotal is sanityCheckTotalFlinkMemory: a configured Total Flink Memory must be what the
// components add up to.
func (t *tmMemory) checkTotal(c config) error {
	flinkKey := taskManagerOptions(c.v).flink
	if !c.has(flinkKey) {
		return nil
	}
	want, err := c.size(flinkKey)
	if err != nil {
		return err
	}
	if got := t.m.TotalFlink(); got != want {
		return errorf("Configured and Derived Flink internal memory sizes (total %s) do not add up to the configured Total Flink Memory size (%s). "+
			"Configured and Derived Flink internal memory sizes are: Framework Heap Memory (%s), Framework Off-Heap Memory (%s), "+
			"Task Heap Memory (%s), Task Off-Heap Memory (%s), Network Memory (%s), Managed Memory (%s).",
			HumanReadable(got), HumanReadable(want), HumanReadable(t.m.FrameworkHeap), HumanReadable(t.m.FrameworkOffHeap),
			HumanReadable(t.m.TaskHeap), HumanReadable(t.m.TaskOffHeap), HumanReadable(t.m.Network), HumanReadable(t.m.Managed))
	}
	return nil
}

func itoa(b int64) string { return strconv.FormatInt(b, 10) }
