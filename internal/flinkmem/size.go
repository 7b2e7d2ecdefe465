// Package flinkmem is flinkd's own implementation of Flink's memory model: how a JobManager
// and a TaskManager divide their total process memory into heap, off-heap, network, managed
// memory, JVM metaspace and JVM overhead, and which configurations Flink refuses to start
// with. bin/jobmanager.sh and bin/taskmanager.sh run this model (through BashJavaUtils)
// before the JVM starts; a configuration it refuses makes the process exit at once, so that
// a cluster whose memory Flink refuses only ever crash-loops. flinkd runs the same model
// when it validates a spec, so that such a size is an error with Flink's own reason.
//
// It follows flink-runtime's org.apache.flink.runtime.util.config.memory package:
// ProcessMemoryUtils (total process, JVM metaspace and overhead), TaskExecutorFlinkMemoryUtils
// with TaskExecutorProcessUtils (the TaskManager), JobManagerFlinkMemoryUtils with
// JobManagerProcessUtils (the JobManager), and flink-core's MemorySize for sizes and their
// arithmetic. Fractions are Flink's float options widened to double, and products are
// truncated the way MemorySize.multiply truncates its BigDecimal, so that sizes come out to
// the byte as Flink's do.
package flinkmem

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Sizes in bytes, powers of two as Flink's units are.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
)

// ParseSize reads a size as Flink's MemorySize.parse does: a whole number with an optional
// unit, binary and case-insensitive (b/bytes, k/kb/kibibytes, m/mb/mebibytes, g/gb/gibibytes,
// t/tb/tebibytes; none = bytes), white space allowed around and between them. "1g" is 1 GiB
// here, unlike spec.resources (Ververica's, in powers of ten).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%.40q is not a Flink memory size: write a whole number with an optional unit, such as 1728m or 2g", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%.40q is not a Flink memory size: it cannot be represented as a 64 bit number", s)
	}
	var mult int64
	switch unit := strings.ToLower(strings.TrimSpace(t[i:])); unit {
	case "", "b", "bytes":
		mult = 1
	case "k", "kb", "kibibytes":
		mult = KiB
	case "m", "mb", "mebibytes":
		mult = MiB
	case "g", "gb", "gibibytes":
		mult = GiB
	case "t", "tb", "tebibytes":
		mult = TiB
	default:
		return 0, fmt.Errorf("%.40q is not a Flink memory size: unknown unit %q (b, k, m, g, t; powers of two)", s, unit)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%.40q is not a Flink memory size: it cannot be represented as a 64 bit number of bytes", s)
	}
	return n * mult, nil
}

type unit struct {
	name string
	size int64
}

func units() []unit {
	return []unit{{"bytes", 1}, {"kb", KiB}, {"mb", MiB}, {"gb", GiB}, {"tb", TiB}}
}

// HumanReadable renders b as MemorySize.toHumanReadableString does, which Flink's memory
// errors use: "0 bytes", "128.000mb (134217728 bytes)".
func HumanReadable(b int64) string {
	u := units()[0]
	for _, c := range units() {
		if b > c.size {
			u = c
		}
	}
	if u.size == 1 {
		return fmt.Sprintf("%d bytes", b)
	}
	// Java's %.3f rounds the exact value half up.
	r := new(big.Rat).SetFrac(big.NewInt(b), big.NewInt(u.size))
	r.Mul(r, big.NewRat(1000, 1))
	r.Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	return fmt.Sprintf("%d.%03d%s (%d bytes)", q.Int64()/1000, q.Int64()%1000, u.name, b)
}

// String renders b as MemorySize.toString does: in the unit below the first that does not
// divide it ("128 mb", "100 bytes"); a size every unit divides (0, whole TiB) is in bytes.
func String(b int64) string {
	u := units()[0]
	for i, c := range units() {
		if b%c.size != 0 {
			if i > 0 {
				u = units()[i-1]
			}
			break
		}
	}
	return fmt.Sprintf("%d %s", b/u.size, u.name)
}

// multiply is MemorySize.multiply: bytes times BigDecimal.valueOf(f) (the decimal that
// Double.toString prints, here Go's shortest representation, which is the same), truncated.
func multiply(bytes int64, f float64) (int64, error) {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok {
		return 0, fmt.Errorf("multiply by %v", f)
	}
	r.Mul(r, new(big.Rat).SetInt64(bytes))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() {
		return 0, &Error{Message: "long overflow"}
	}
	return q.Int64(), nil
}

// add is MemorySize.add (Math.addExact).
func add(sizes ...int64) (int64, error) {
	var sum int64
	for _, s := range sizes {
		if s > 0 && sum > math.MaxInt64-s {
			return 0, &Error{Message: "long overflow"}
		}
		sum += s
	}
	return sum, nil
}

// parseFraction reads a float option as Flink's Configuration.getFloat does: a Java float,
// widened to double where the memory utils use it.
func parseFraction(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "f")), 32)
	if err != nil {
		return 0, fmt.Errorf("%.40q is not a number", s)
	}
	return float64(float32(f)), nil
}
