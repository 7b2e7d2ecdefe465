package sim

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strings"
)

// How Flink writes a configuration back to a file (what bin/config-parser-utils.sh puts in
// conf/ at every start of a 1.19+ image).

// errDump is the ClassCastException YamlParserUtils.convertAndDumpYamlFromFlatMap throws
// when a key descends into one that holds a value (see dumpNested): class is the value's
// Java class.
type errDump struct {
	class string
	v     Version
}

func (e errDump) Error() string {
	// The frames of flink-dist 1.20.5 and 2.2.1 (ConfigurationUtils, ConfigurationParserUtils
	// and BashJavaUtils moved by a few lines).
	lines := []int{248, 213, 68, 54}
	if !e.v.AtLeast(2, 0) {
		lines = []int{251, 214, 70, 56}
	}
	return fmt.Sprintf("java.lang.ClassCastException: class %s cannot be cast to class java.util.Map "+
		"(%s and java.util.Map are in module java.base of loader 'bootstrap')\n"+
		"\tat org.apache.flink.configuration.YamlParserUtils.convertAndDumpYamlFromFlatMap(YamlParserUtils.java:165)\n"+
		"\tat org.apache.flink.configuration.ConfigurationUtils.convertConfigToWritableLines(ConfigurationUtils.java:%d)\n"+
		"\tat org.apache.flink.runtime.util.ConfigurationParserUtils.loadAndModifyConfiguration(ConfigurationParserUtils.java:%d)\n"+
		"\tat org.apache.flink.runtime.util.bash.FlinkConfigLoader.loadAndModifyConfiguration(FlinkConfigLoader.java:47)\n"+
		"\tat org.apache.flink.runtime.util.bash.BashJavaUtils.runCommand(BashJavaUtils.java:%d)\n"+
		"\tat org.apache.flink.runtime.util.bash.BashJavaUtils.main(BashJavaUtils.java:%d)",
		e.class, e.class, lines[0], lines[1], lines[2], lines[3])
}

// javaClass is the class of a configuration value as Flink holds it: a String, or for a
// typed YAML scalar what snakeyaml-engine's CoreSchema constructs (Integer, Long or
// BigInteger by size, Double, Boolean).
func javaClass(value string, typed bool) string {
	if !typed {
		return "java.lang.String"
	}
	switch {
	case coreBool.MatchString(value):
		return "java.lang.Boolean"
	case coreInt.MatchString(value):
		n := new(big.Int)
		s := strings.TrimPrefix(value, "+")
		base := 10
		if rest, ok := strings.CutPrefix(s, "0x"); ok {
			s, base = rest, 16
		} else if rest, ok := strings.CutPrefix(s, "0o"); ok {
			s, base = rest, 8
		}
		if _, ok := n.SetString(s, base); ok {
			switch {
			case n.IsInt64() && n.Int64() >= -1<<31 && n.Int64() < 1<<31:
				return "java.lang.Integer"
			case n.IsInt64():
				return "java.lang.Long"
			}
		}
		return "java.math.BigInteger"
	}
	return "java.lang.Double"
}

// javaSplitDot is key.split("\\.") in Java: trailing empty strings are removed ("a.b." is
// [a b], "..." is []), but "" is [""].
func javaSplitDot(key string) []string {
	if key == "" {
		return []string{""}
	}
	parts := strings.Split(key, ".")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// dumpNested writes c as YamlParserUtils.convertAndDumpYamlFromFlatMap does (flink-core,
// 1.19 to 2.2), entry by entry in the order of c's HashMap: the key is split on '.' and
// each part but the last descends into a LinkedHashMap (computeIfAbsent: created when
// missing); the last part is put (a LinkedHashMap keeps a replaced key's place). The result
// is dumped by snakeyaml-engine in block style without line splitting; typed values
// plain, strings plain when YAML would read them back as the same string, else quoted.
//
// A prefix pair goes either way, by that order: when the shorter key (state.backend) comes
// first, the longer one descends into its value, a String, and the dump throws
// ClassCastException (String cannot be cast to Map); when the longer comes first, the
// shorter one's put replaces the map that held it, and the longer key is dropped without
// a word (both seen on flink-dist 1.20.5 and 2.2.1, and held to them file by file in
// test/fidelity). Where c's order is not modelled (a tree bin, see javaHashMap), a
// configuration with a prefix pair takes the strictest outcome, the exception.
func dumpNested(c *conf, v Version) ([]byte, error) {
	keys := c.keys()
	if !c.modelled() && len(PrefixPairs(keys)) > 0 {
		return nil, errDump{class: "java.lang.String", v: v}
	}
	type node struct {
		order    []string
		children map[string]*node
		value    string
		typed    bool
		leaf     bool
	}
	root := &node{children: map[string]*node{}}
	for _, k := range keys {
		cur := root
		parts := javaSplitDot(k)
		if len(parts) == 0 {
			// keys[keys.length - 1] of an empty array.
			return nil, fmt.Errorf("java.lang.ArrayIndexOutOfBoundsException: Index -1 out of bounds for length 0")
		}
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur.children[p]
			switch {
			case !ok:
				next = &node{children: map[string]*node{}}
				cur.children[p] = next
				cur.order = append(cur.order, p)
			case next.leaf:
				return nil, errDump{class: javaClass(next.value, next.typed), v: v}
			}
			cur = next
		}
		last := parts[len(parts)-1]
		if _, ok := cur.children[last]; !ok {
			cur.order = append(cur.order, last)
		}
		cur.children[last] = &node{leaf: true, value: c.vals[k], typed: c.typed[k]}
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

// PrefixPair is a pair of keys one of which is a strict dotted prefix of the other
// ("state.backend" and "state.backend.incremental"): a configuration the 1.19+ rewrite
// writes only by dropping the longer key, if at all (see dumpNested).
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

// renderFlat writes c as ConfigurationUtils.convertConfigToWritableLines does with
// flattenYaml, or (1.19 and 1.20) for a configuration read from flink-conf.yaml: one
// "key: value" line per entry in HashMap order (Configuration.toFileWritableMap), values
// rendered as YAML scalars for a standard-YAML configuration and as they are for a legacy
// one.
func renderFlat(c *conf, legacy bool) []byte {
	var b strings.Builder
	for _, k := range fileWritableOrder(c.keys()) {
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

// fileWritableOrder is the order of Configuration.toFileWritableMap (and toMap): a HashMap
// made with CollectionUtil.newHashMapWithExpectedSize(size), filled in confData's order.
func fileWritableOrder(keys []string) []string {
	n := len(keys)
	capacity := n + 1 // computeRequiredCapacity: n+1 up to 2, else ceil(n / 0.75f)
	if n > 2 {
		capacity = int(math.Ceil(float64(float32(n) / 0.75)))
	}
	m := newJavaHashMapCapacity(capacity)
	for _, k := range keys {
		m.put(k)
	}
	return m.keys()
}
