package spec

import (
	"fmt"
	"math/big"
	"strings"
)

// Limits of the quantities ParseMemory and ParseCPU accept, so that every derived value fits
// an int64 with room to spare (TaskManager count times memory, say).
const (
	maxQuantityLen = 40
	// MaxMemoryBytes is the largest memory a single instance may ask for: 1 PiB.
	MaxMemoryBytes = 1 << 50
	// MaxCPUMillis is the largest CPU a single instance may ask for: 10,000 cores.
	MaxCPUMillis = 10_000_000
)

const memoryHint = "write bytes, or a decimal number with a k, m, g or t suffix in powers of ten " +
	"(2g = 2,000,000,000 bytes) or a Ki, Mi, Gi or Ti suffix in powers of two (512Mi)"

// ParseMemory reads a memory size the way Ververica Platform defines it: a decimal number with
// an optional, case-insensitive k, m, g, t or p suffix in powers of ten (1g = 1,000,000,000
// bytes; no suffix = bytes). Kubernetes' binary suffixes Ki, Mi, Gi, Ti, Pi are accepted too
// (1Gi = 1,073,741,824 bytes). A fraction of a byte is rounded up. Flink's own "512mb" is
// refused, because Flink reads it in powers of two and Ververica in powers of ten.
func ParseMemory(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("is empty: %s", memoryHint)
	}
	if len(s) > maxQuantityLen {
		return 0, fmt.Errorf("%.20q... is not a memory size: %s", s, memoryHint)
	}
	num, mult := s, big.NewInt(1)
	switch {
	case hasBinarySuffix(s):
		shift := map[byte]uint{'K': 10, 'M': 20, 'G': 30, 'T': 40, 'P': 50}[s[len(s)-2]]
		num, mult = s[:len(s)-2], new(big.Int).Lsh(big.NewInt(1), shift)
	case len(s) > 0 && strings.ContainsRune("kKmMgGtTpP", rune(s[len(s)-1])):
		exp := map[byte]int64{'k': 3, 'm': 6, 'g': 9, 't': 12, 'p': 15}[lower(s[len(s)-1])]
		num, mult = s[:len(s)-1], new(big.Int).Exp(big.NewInt(10), big.NewInt(exp), nil)
	}
	v, ok := parseDecimal(num)
	if !ok {
		if l := strings.ToLower(s); len(s) > 2 && l[len(l)-1] == 'b' && strings.ContainsRune("kmg", rune(l[len(l)-2])) && allDigits(s[:len(s)-2]) {
			return 0, fmt.Errorf("%q is not a memory size: write %s (powers of ten) or %s (powers of two)",
				s, s[:len(s)-1], s[:len(s)-2]+strings.ToUpper(s[len(s)-2:len(s)-1])+"i")
		}
		return 0, fmt.Errorf("%q is not a memory size: %s", s, memoryHint)
	}
	v.Mul(v, new(big.Rat).SetInt(mult))
	bytes := ceil(v)
	if !bytes.IsInt64() || bytes.Int64() > MaxMemoryBytes {
		return 0, fmt.Errorf("%q is too large: at most 1Pi per instance", s)
	}
	return bytes.Int64(), nil
}

func hasBinarySuffix(s string) bool {
	return len(s) >= 2 && s[len(s)-1] == 'i' && strings.ContainsRune("KMGTP", rune(s[len(s)-2]))
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// ParseCPU reads a number of cores: a decimal number ("2", "0.5", "1.25") or Kubernetes
// millicores ("500m"). It returns thousandths of a core; finer values are refused.
func ParseCPU(s string) (millis int64, err error) {
	const hint = "write a number of cores (2, 0.5) or millicores (500m)"
	if s == "" {
		return 0, fmt.Errorf("is empty: %s", hint)
	}
	if len(s) > maxQuantityLen {
		return 0, fmt.Errorf("%.20q... is not a cpu amount: %s", s, hint)
	}
	num, scale := s, int64(1000)
	if strings.HasSuffix(s, "m") {
		num, scale = s[:len(s)-1], 1
	}
	v, ok := parseDecimal(num)
	if !ok {
		return 0, fmt.Errorf("%q is not a cpu amount: %s", s, hint)
	}
	v.Mul(v, new(big.Rat).SetInt64(scale))
	if !v.IsInt() {
		return 0, fmt.Errorf("%q is finer than a thousandth of a core (1m)", s)
	}
	m := v.Num()
	if !m.IsInt64() || m.Int64() > MaxCPUMillis {
		return 0, fmt.Errorf("%q is too large: at most %d cores per instance", s, MaxCPUMillis/1000)
	}
	return m.Int64(), nil
}

// parseDecimal reads digits with an optional fraction ("12", "0.5"); no sign, no exponent.
func parseDecimal(s string) (*big.Rat, bool) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) || (hasDot && (frac == "" || !allDigits(frac))) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ceil rounds a non-negative rational up to an integer.
func ceil(r *big.Rat) *big.Int {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// FormatMemory renders bytes the way Ververica writes sizes, with the largest power-of-ten
// suffix that keeps the number whole ("2g", "650m", "1073741824").
func FormatMemory(b int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"t", 1e12}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}} {
		if b != 0 && b%u.size == 0 {
			return fmt.Sprintf("%d%s", b/u.size, u.suffix)
		}
	}
	return fmt.Sprintf("%d", b)
}

// FormatCPU renders millicores as a number of cores ("2", "0.5", "0.125").
func FormatCPU(millis int64) string {
	s := fmt.Sprintf("%d.%03d", millis/1000, millis%1000)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
