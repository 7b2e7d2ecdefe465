package sim

import (
	"math/bits"
	"unicode/utf16"
)

// The iteration order of the Java maps Flink's configuration passes through. Flink keeps a
// configuration in a java.util.HashMap (Configuration.confData) and builds it from other
// HashMaps and from a java.util.Properties (a ConcurrentHashMap inside), so the order of
// the files Flink writes (YamlParserUtils.convertAndDumpYamlFromFlatMap), of its
// "Loading configuration property" log lines and the fate of a prefix pair (which of
// state.backend and state.backend.incremental comes first) are these maps' orders. They
// are computable: String.hashCode, the table sizes the maps grow through, bucket order and
// the order within a bucket. Modelled from OpenJDK 17's java/util/HashMap.java and
// java/util/concurrent/ConcurrentHashMap.java (the JDK of the real images), checked
// against the real image's Flink on many files (test/fidelity).

// javaStringHash is java.lang.String.hashCode: s[0]*31^(n-1) + ... over UTF-16 code units,
// in 32-bit arithmetic.
func javaStringHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// spread is HashMap.hash: the hash code with its high half folded into the low half (what
// picks the bucket).
func spread(key string) uint32 {
	h := uint32(javaStringHash(key))
	return h ^ h>>16
}

const (
	javaMaxCapacity     = 1 << 30
	javaTreeifyBin      = 8  // TREEIFY_THRESHOLD: a bin longer than this becomes a tree ...
	javaMinTreeCapacity = 64 // ... when the table has at least this many bins (else it grows)
)

// tableSizeFor is HashMap.tableSizeFor: the smallest power of two >= c (1 for c <= 1).
func tableSizeFor(c int) int {
	if c <= 1 {
		return 1
	}
	n := 1 << bits.Len(uint(c-1))
	return min(n, javaMaxCapacity)
}

// javaHashMap is a java.util.HashMap<String, ?> (load factor 0.75) as far as its
// iteration order goes: a table of buckets, each a list of keys in insertion order. A new
// key is appended to its bucket; a key put again keeps its place; a resize doubles the
// table and splits every bucket in order (HashMap.resize keeps the relative order of the
// keys that move together). A bucket of more than 8 keys in a table of 64 buckets or more
// becomes a red-black tree whose iteration order depends on the tree's shape; such a map
// reports treeified and its order is not modelled past that point (a configuration would
// need some 50 keys, 9 of them in one bucket).
type javaHashMap struct {
	table     [][]string // nil until the first put, as HashMap's table
	threshold int        // HashMap.threshold; before the table exists, its initial capacity (0: 16)
	size      int
	treeified bool
}

// newJavaHashMap is new HashMap<>().
func newJavaHashMap() *javaHashMap { return &javaHashMap{} }

// newJavaHashMapCapacity is new HashMap<>(initialCapacity).
func newJavaHashMapCapacity(initialCapacity int) *javaHashMap {
	return &javaHashMap{threshold: tableSizeFor(initialCapacity)}
}

// newJavaHashMapOf is new HashMap<>(other): sized for other's entries at once, then filled
// in other's order.
func newJavaHashMapOf(other []string) *javaHashMap {
	m := newJavaHashMap()
	m.putAll(other)
	return m
}

func (m *javaHashMap) index(key string) int { return int(spread(key) & uint32(len(m.table)-1)) }

// put is HashMap.put (putVal) for the key.
func (m *javaHashMap) put(key string) {
	if m.table == nil {
		m.resize()
	}
	i := m.index(key)
	for _, k := range m.table[i] {
		if k == key {
			return
		}
	}
	m.table[i] = append(m.table[i], key)
	if len(m.table[i]) > javaTreeifyBin {
		// treeifyBin: a small table grows instead.
		if len(m.table) < javaMinTreeCapacity {
			m.resize()
		} else {
			m.treeified = true
		}
	}
	m.size++
	if m.size > m.threshold {
		m.resize()
	}
}

// remove is HashMap.remove for the key.
func (m *javaHashMap) remove(key string) {
	if m.table == nil {
		return
	}
	i := m.index(key)
	for j, k := range m.table[i] {
		if k == key {
			m.table[i] = append(m.table[i][:j:j], m.table[i][j+1:]...)
			m.size--
			return
		}
	}
}

// putAll is HashMap.putAll (putMapEntries) of another map's keys in that map's order: an
// empty map is first sized for all of them (a table of tableSizeFor(n/0.75+1)), a filled
// one grows while n alone exceeds its threshold.
func (m *javaHashMap) putAll(keys []string) {
	n := len(keys)
	if n == 0 {
		return
	}
	if m.table == nil {
		ft := float32(n)/0.75 + 1
		t := javaMaxCapacity
		if ft < javaMaxCapacity {
			t = int(ft)
		}
		if t > m.threshold {
			m.threshold = tableSizeFor(t)
		}
	} else {
		for n > m.threshold && len(m.table) < javaMaxCapacity {
			m.resize()
		}
	}
	for _, k := range keys {
		m.put(k)
	}
}

// resize is HashMap.resize: the first table has the initial capacity (16 by default),
// later ones twice the size; the threshold is three quarters of the size.
func (m *javaHashMap) resize() {
	oldCap, oldThr := len(m.table), m.threshold
	newCap, newThr := 0, 0
	switch {
	case oldCap > 0:
		if oldCap >= javaMaxCapacity {
			m.threshold = int(^uint32(0) >> 1)
			return
		}
		newCap = oldCap << 1
		if newCap < javaMaxCapacity && oldCap >= 16 {
			newThr = oldThr << 1
		}
	case oldThr > 0:
		newCap = oldThr
	default:
		newCap, newThr = 16, 12
	}
	if newThr == 0 {
		newThr = int(float32(newCap) * 0.75)
	}
	table := make([][]string, newCap)
	for _, bucket := range m.table {
		for _, k := range bucket {
			i := int(spread(k) & uint32(newCap-1))
			table[i] = append(table[i], k)
		}
	}
	m.table, m.threshold = table, newThr
}

// keys is the map's iteration order (HashMap.HashIterator: bucket by bucket, each in
// order).
func (m *javaHashMap) keys() []string {
	out := make([]string, 0, m.size)
	for _, bucket := range m.table {
		out = append(out, bucket...)
	}
	return out
}

// javaConcurrentHashMap is a java.util.concurrent.ConcurrentHashMap<String, ?> used by one
// thread (what java.util.Properties keeps its entries in), as far as its iteration order
// goes. It differs from HashMap where a client can see it: it grows when its size reaches
// three quarters of the table (HashMap: exceeds), and a resize (transfer) rebuilds each
// bucket's two halves by prepending the keys before the bucket's last run of keys that
// move together, so their order is reversed.
type javaConcurrentHashMap struct {
	table     [][]string
	sizeCtl   int // before the table exists, its initial size; after, the size to grow at
	size      int
	treeified bool // as javaHashMap's
}

// newJavaConcurrentHashMap is new ConcurrentHashMap<>(initialCapacity): a table of
// tableSizeFor(1 + initialCapacity/0.75) buckets.
func newJavaConcurrentHashMap(initialCapacity int) *javaConcurrentHashMap {
	size := int(1.0 + float64(float32(initialCapacity)/0.75))
	return &javaConcurrentHashMap{sizeCtl: tableSizeFor(size)}
}

func (m *javaConcurrentHashMap) index(key string) int {
	return int(spread(key) & 0x7fffffff & uint32(len(m.table)-1))
}

// put is ConcurrentHashMap.put (putVal, addCount) for the key.
func (m *javaConcurrentHashMap) put(key string) {
	if m.table == nil {
		n := m.sizeCtl
		if n <= 0 {
			n = 16
		}
		m.table = make([][]string, n)
		m.sizeCtl = n - n>>2
	}
	i := m.index(key)
	// putVal counts the bin's keys up to the one it replaces, or all of them when it
	// appends; from 8 on, treeifyBin runs, on a replace too.
	for j, k := range m.table[i] {
		if k == key {
			if j+1 >= javaTreeifyBin {
				m.treeifyBin()
			}
			return
		}
	}
	m.table[i] = append(m.table[i], key)
	if len(m.table[i]) > javaTreeifyBin {
		m.treeifyBin()
	}
	m.size++
	for m.size >= m.sizeCtl && len(m.table) < javaMaxCapacity {
		m.transfer()
	}
}

// treeifyBin is ConcurrentHashMap.treeifyBin: a small table grows instead (tryPresize(n <<
// 1) transfers until three quarters of the table hold tableSizeFor(3n + 1): eight times
// the size).
func (m *javaConcurrentHashMap) treeifyBin() {
	n := len(m.table)
	if n >= javaMinTreeCapacity {
		m.treeified = true
		return
	}
	for c := tableSizeFor(2*n + n + 1); c > m.sizeCtl && len(m.table) < javaMaxCapacity; {
		m.transfer()
	}
}

// transfer is ConcurrentHashMap.transfer by one thread: bucket i splits into i and i+n of
// a table twice the size. The keys from the last change of half to the end of the bucket
// (lastRun) stay in order and go first into their half; every key before them is
// prepended to its half, so those come in reverse order, ahead.
func (m *javaConcurrentHashMap) transfer() {
	n := len(m.table)
	table := make([][]string, 2*n)
	for i, bucket := range m.table {
		if len(bucket) == 0 {
			continue
		}
		high := func(k string) bool { return spread(k)&0x7fffffff&uint32(n) != 0 }
		last := 0
		for j := 1; j < len(bucket); j++ {
			if high(bucket[j]) != high(bucket[last]) {
				last = j
			}
		}
		var lo, hi []string
		if high(bucket[last]) {
			hi = append(hi, bucket[last:]...)
		} else {
			lo = append(lo, bucket[last:]...)
		}
		for _, k := range bucket[:last] {
			if high(k) {
				hi = append([]string{k}, hi...)
			} else {
				lo = append([]string{k}, lo...)
			}
		}
		table[i], table[i+n] = lo, hi
	}
	m.table = table
	m.sizeCtl = 2*n - n>>1
}

// keys is the map's iteration order (Traverser: bucket by bucket, each in order).
func (m *javaConcurrentHashMap) keys() []string {
	var out []string
	for _, bucket := range m.table {
		out = append(out, bucket...)
	}
	return out
}

// propertyNames is the order in which Flink reads "-D key=value" dynamic properties
// (ConfigurationUtils.createConfiguration over Properties.stringPropertyNames): commons-cli
// fills a java.util.Properties (a ConcurrentHashMap of initial capacity 8) in argument
// order, stringPropertyNames copies it into a new HashMap, and Flink iterates that.
// modelled is false when one of the maps made a tree of a bin (see javaHashMap).
func propertyNames(keys []string) (names []string, modelled bool) {
	props := newJavaConcurrentHashMap(8)
	for _, k := range keys {
		props.put(k)
	}
	h := newJavaHashMap()
	for _, k := range props.keys() {
		h.put(k)
	}
	return h.keys(), !props.treeified && !h.treeified
}
