package sim

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The map model against what OpenJDK 17 printed for the same keys and operations
// (testdata/JavaMapOrders.java wrote testdata/javamap-openjdk17.txt): HashMap filled by
// put, copied, copied and putAll'd, created with a capacity, with keys removed and put
// again, and the HashMap of Properties.stringPropertyNames. A case whose map made a tree
// of a bin is not modelled (javaHashMap) and is counted, not compared.
func TestJavaMapOrdersAreOpenJDKs(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "javamap-openjdk17.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ins, more []string
	var capacity, compared, trees int
	check := func(what string, got []string, modelled bool, want []string) {
		if !modelled {
			trees++
			return
		}
		compared++
		if !slices.Equal(got, want) {
			t.Errorf("%s of %v:\n java %v\n model %v", what, ins, want, got)
		}
	}
	filled := func(keys []string) *javaHashMap {
		m := newJavaHashMap()
		for _, k := range keys {
			m.put(k)
		}
		return m
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		tag, rest, _ := strings.Cut(sc.Text(), " ")
		want := strings.Fields(rest)
		switch tag {
		case "CASE":
			if capacity, err = strconv.Atoi(want[1]); err != nil {
				t.Fatal(err)
			}
		case "INS":
			ins = want
		case "MORE":
			more = want
		case "PUT":
			m := filled(ins)
			check("put", m.keys(), !m.treeified, want)
		case "COPY":
			m := newJavaHashMapOf(filled(ins).keys())
			check("new HashMap<>(m)", m.keys(), !m.treeified, want)
		case "COPY+PUTALL":
			m := newJavaHashMapOf(filled(ins).keys())
			m.putAll(filled(more).keys())
			check("putAll", m.keys(), !m.treeified, want)
		case "SIZED":
			m := newJavaHashMapCapacity(capacity)
			for _, k := range ins {
				m.put(k)
			}
			check("new HashMap<>("+strconv.Itoa(capacity)+")", m.keys(), !m.treeified, want)
		case "REMOVED":
			m := newJavaHashMapOf(filled(ins).keys())
			for i := 0; i < len(ins); i += 3 {
				m.remove(ins[i])
			}
			for _, k := range more {
				m.put(k)
			}
			for i := 0; i < len(ins); i += 6 {
				m.put(ins[i])
			}
			check("remove and put", m.keys(), !m.treeified, want)
		case "PROPERTIES":
			got, modelled := propertyNames(ins)
			check("stringPropertyNames", got, modelled, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if compared < 200 {
		t.Errorf("only %d orders compared (%d with trees): the fixture does not test the model", compared, trees)
	}
	t.Logf("%d orders as OpenJDK's, %d with a tree bin not compared", compared, trees)
}
