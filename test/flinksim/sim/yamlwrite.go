package sim

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf16"
)

// How Flink writes a configuration back to a file (what bin/config-parser-utils.sh puts in
// conf/ at every start of a 1.19+ image).

// javaHashOrder returns keys in the order a java.util.HashMap<String, ?> filled with them
// in this order iterates them: Flink's Configuration keeps its entries in a HashMap
// (confData), so GlobalConfiguration's log lines and the files Flink writes come in that
// order. HashMap puts a key in bucket (h ^ h>>>16) & (capacity-1), h being String.hashCode,
// the capacity the smallest power of two from 16 that holds the entries at load factor
// 0.75; buckets are iterated in index order, a bucket's entries in insertion order (the
// keys of a configuration never collide enough to be turned into a tree).
func javaHashOrder(keys []string) []string {
	capacity := 16
	for len(keys) > capacity*3/4 {
		capacity *= 2
	}
	type entry struct {
		key    string
		bucket int
		pos    int
	}
	entries := make([]entry, len(keys))
	for i, k := range keys {
		h := javaStringHash(k)
		h ^= int32(uint32(h) >> 16)
		entries[i] = entry{k, int(uint32(h) & uint32(capacity-1)), i}
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return a.bucket - b.bucket })
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.key
	}
	return out
}

// javaStringHash is java.lang.String.hashCode: s[0]*31^(n-1) + ... over UTF-16 code units,
// in 32-bit arithmetic.
func javaStringHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// errDump is the exception YamlParserUtils.convertAndDumpYamlFromFlatMap throws on a
// configuration in which one key is a strict dotted prefix of another.
type errDump struct{ short, long string }

func (e errDump) Error() string {
	return "java.lang.ClassCastException: class java.lang.String cannot be cast to class java.util.Map " +
		"(java.lang.String and java.util.Map are in module java.base of loader 'bootstrap')\n" +
		"\tat org.apache.flink.configuration.YamlParserUtils.convertAndDumpYamlFromFlatMap(YamlParserUtils.java:165)\n" +
		"\tat org.apache.flink.configuration.ConfigurationUtils.convertConfigToWritableLines(ConfigurationUtils.java:248)\n" +
		"\tat org.apache.flink.runtime.util.ConfigurationParserUtils.loadAndModifyConfiguration(ConfigurationParserUtils.java:213)\n" +
		"\tat org.apache.flink.runtime.util.bash.FlinkConfigLoader.loadAndModifyConfiguration(FlinkConfigLoader.java:47)\n" +
		"\tat org.apache.flink.runtime.util.bash.BashJavaUtils.runCommand(BashJavaUtils.java:68)\n" +
		"\tat org.apache.flink.runtime.util.bash.BashJavaUtils.main(BashJavaUtils.java:54)"
}

// PrefixPair is a pair of keys one of which is a strict dotted prefix of the other
// ("state.backend" and "state.backend.incremental"): a configuration the 1.19+ rewrite
// cannot write nested.
type PrefixPair struct{ Short, Long string }

// PrefixPairs returns every such pair among keys, sorted.
func PrefixPairs(keys []string) []PrefixPair {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	var out []PrefixPair
	for _, s := range sorted {
		for _, l := range sorted {
			if strings.HasPrefix(l, s+".") {
				out = append(out, PrefixPair{s, l})
			}
		}
	}
	return out
}

// dumpNested writes c as YamlParserUtils.convertAndDumpYamlFromFlatMap does (flink-core,
// 1.19 to 2.2): every key is split on '.' and nested, maps in the order the HashMap of c
// iterates (a LinkedHashMap per level, in first-seen order), dumped by snakeyaml-engine in
// block style without line splitting; typed values plain, strings plain when YAML would
// read them back as the same string, else quoted.
//
// On a prefix pair real Flink depends on HashMap order: when the shorter key comes first,
// the descent into it fails with ClassCastException (String cannot be cast to Map); when
// the longer comes first, the shorter one's put replaces the nested map and the longer keys
// are silently dropped (both seen with flink-dist 2.2.1: state.backend +
// state.backend.incremental drops the second, restart-strategy +
// restart-strategy.fixed-delay.attempts throws). The stand-in takes the strictest of the
// two for every pair: it always fails, as the ClassCastException.
func dumpNested(c *conf) ([]byte, error) {
	if pairs := PrefixPairs(c.keys); len(pairs) > 0 {
		return nil, errDump{pairs[0].Short, pairs[0].Long}
	}
	type node struct {
		order    []string
		children map[string]*node
		value    string
		typed    bool
		leaf     bool
	}
	root := &node{children: map[string]*node{}}
	for _, k := range javaHashOrder(c.keys) {
		cur := root
		parts := strings.Split(k, ".")
		for i, p := range parts {
			next, ok := cur.children[p]
			if !ok {
				next = &node{children: map[string]*node{}}
				cur.children[p] = next
				cur.order = append(cur.order, p)
			}
			cur = next
			if i == len(parts)-1 {
				cur.leaf, cur.value, cur.typed = true, c.vals[k], c.typed[k]
			}
		}
	}
	var b strings.Builder
	var write func(n *node, indent int)
	write = func(n *node, indent int) {
		for _, name := range n.order {
			ch := n.children[name]
			fmt.Fprintf(&b, "%s%s:", strings.Repeat("  ", indent), yamlScalar(name, false, false))
			if ch.leaf {
				fmt.Fprintf(&b, " %s\n", yamlScalar(ch.value, ch.typed, false))
				continue
			}
			b.WriteString("\n")
			write(ch, indent+1)
		}
	}
	if len(root.order) == 0 {
		return []byte("{}\n"), nil
	}
	write(root, 0)
	return []byte(b.String()), nil
}

// renderFlat writes c as ConfigurationUtils.convertConfigToWritableLines does with
// flattenYaml, or (1.19 and 1.20) for a configuration read from flink-conf.yaml: one
// "key: value" line per entry in HashMap order (Configuration.toFileWritableMap), values
// rendered as YAML scalars for a standard-YAML configuration and as they are for a legacy
// one.
func renderFlat(c *conf, legacy bool) []byte {
	var b strings.Builder
	for _, k := range javaHashOrder(c.keys) {
		v := c.vals[k]
		if !legacy {
			v = yamlScalar(v, c.typed[k], false)
		}
		fmt.Fprintf(&b, "%s: %s\n", k, v)
	}
	return []byte(b.String())
}

var (
	coreNull  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
	coreBool  = regexp.MustCompile(`^(?:true|True|TRUE|false|False|FALSE)$`)
	coreInt   = regexp.MustCompile(`^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$`)
	coreFloat = regexp.MustCompile(`^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$`)
)

// coreSchemaTyped reports whether a plain scalar resolves to something other than a string
// in YAML 1.2's core schema (snakeyaml-engine CoreSchema): null, a boolean, an int or a
// float.
func coreSchemaTyped(s string) bool {
	return coreNull.MatchString(s) || coreBool.MatchString(s) || coreInt.MatchString(s) || coreFloat.MatchString(s)
}

// yamlScalar renders a scalar as snakeyaml-engine's emitter does with the plain default
// style: a typed value as it is; a string plain when that reads back as the same string,
// else single-quoted (” for a quote), or double-quoted with escapes when it holds a line
// break or another character a single-quoted scalar cannot carry. flow: inside a flow
// collection, where ",[]{}" also need quotes.
func yamlScalar(s string, typed, flow bool) string {
	if typed {
		return s
	}
	if plainAllowed(s, flow) {
		return s
	}
	for _, r := range s {
		if r == '\n' || r == '\r' || r < 0x20 && r != '\t' || r == 0x7f {
			return doubleQuoted(s)
		}
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func plainAllowed(s string, flow bool) bool {
	if s == "" || coreSchemaTyped(s) {
		return false
	}
	if strings.TrimSpace(s) != s || strings.ContainsAny(s, "\t\n\r") {
		return false
	}
	if strings.ContainsRune("#,[]{}&*!|>'\"%@`", rune(s[0])) {
		return false
	}
	if strings.ContainsRune("-?:", rune(s[0])) && (len(s) == 1 || s[1] == ' ') {
		return false
	}
	if strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.HasSuffix(s, ":") {
		return false
	}
	if flow && strings.ContainsAny(s, ",[]{}") {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfeff {
			return false
		}
	}
	return true
}

func doubleQuoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\x%02X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
