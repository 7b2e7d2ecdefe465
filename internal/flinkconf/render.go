package flinkconf

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// How flinkd writes the configuration file, and why.
//
// From 1.19 on the image's docker-entrypoint.sh runs bin/config-parser-utils.sh at every
// start: Flink loads conf/config.yaml (nested maps flattened to dotted keys), applies
// jobmanager.rpc.address, blob.server.port, query.server.port and FLINK_PROPERTIES, and
// writes the file back with YamlParserUtils.convertAndDumpYamlFromFlatMap, which splits every
// key on '.' and nests it. flinkd writes config.yaml the way that rewrite writes it: nested,
// keys sorted, every value it sets a double-quoted string. The rewrite then changes nothing
// in meaning (it re-reads the same keys and values and adds its own three, which flinkd
// already wrote with the same values), and the file can never hold what the rewrite breaks:
// Render refuses a key that is a dotted prefix of another (PrefixPairs), which is the one
// shape nested YAML cannot hold. flinkd does not keep the rewrite from running: a read-only
// file stops it only where the entrypoint runs as the file's non-owner (1.20 images start as
// root, and on Kubernetes pods run as the image's user), and it would also drop the
// entrypoint's own edits (FLINK_PROPERTIES, TASK_MANAGER_NUMBER_OF_TASK_SLOTS) silently.
//
// Before 1.19 the file is conf/flink-conf.yaml, read by Flink's legacy line reader, which
// the entrypoint edits with sed and passes through envsubst. flinkd writes it flat, and
// refuses a value either would change (LegacyProblem). 1.19 and 1.20 read flink-conf.yaml
// instead of config.yaml when the image ships one; flinkd then writes flink-conf.yaml
// (Docker, where it reads the image first) or removes the image's (Kubernetes).

// File is one rendered configuration file of conf/.
type File struct {
	Name string
	Data []byte
}

// Base is configuration that is in conf/ before flinkd writes its file: the image's own
// (the Docker runtime reads it from the container) or flink-dist's defaults (DistDefaults).
// Keys are flat, as Flink flattens nested YAML.
type Base struct {
	keys  []string
	text  map[string]string
	nodes map[string]*yaml.Node // values of a standard YAML file, kept as Flink parsed them
}

// Keys returns the base's keys, sorted.
func (b *Base) Keys() []string {
	if b == nil {
		return nil
	}
	return slices.Sorted(slices.Values(b.keys))
}

// Get returns key's value as text (a list's is empty).
func (b *Base) Get(key string) (string, bool) {
	if b == nil {
		return "", false
	}
	v, ok := b.text[key]
	return v, ok
}

func (b *Base) set(key, text string, node *yaml.Node) {
	if _, ok := b.text[key]; !ok {
		b.keys = append(b.keys, key)
	}
	b.text[key] = text
	if node != nil {
		b.nodes[key] = node
	}
}

func newBase() *Base {
	return &Base{text: map[string]string{}, nodes: map[string]*yaml.Node{}}
}

// ParseStandard reads a conf/config.yaml as Flink's standard YAML loader does
// (GlobalConfiguration with YamlParserUtils.loadYamlFile): nested maps flattened to dotted
// keys, lists and scalars kept as values, nulls dropped.
func ParseStandard(data []byte) (*Base, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse config.yaml: %w", err)
	}
	b := newBase()
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return b, nil // empty or only comments
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse config.yaml: the document is not a mapping")
	}
	flatten(b, "", root)
	return b, nil
}

func flatten(b *Base, prefix string, m *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, val := m.Content[i].Value, m.Content[i+1]
		if prefix != "" {
			key = prefix + "." + key
		}
		for val.Kind == yaml.AliasNode && val.Alias != nil {
			val = val.Alias
		}
		switch {
		case val.Kind == yaml.MappingNode && len(val.Content) > 0:
			flatten(b, key, val)
		case val.Kind == yaml.ScalarNode && val.Tag == "!!null":
		case val.Kind == yaml.ScalarNode:
			b.set(key, val.Value, val)
		default:
			b.set(key, "", val)
		}
	}
}

// ParseLegacy reads a conf/flink-conf.yaml as Flink's legacy reader does: each line cut at
// the first '#', split at the first ": ", key and value trimmed, lines without both skipped,
// the last of a repeated key kept.
func ParseLegacy(data []byte) *Base {
	b := newBase()
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if ok && k != "" && v != "" {
			b.set(k, v, nil)
		}
	}
	return b
}

// Layers is what goes into one instance's configuration file, lowest first.
type Layers struct {
	Version Version
	// Legacy writes flink-conf.yaml (see FileName).
	Legacy bool
	// Base is the image's own configuration, or flink-dist's; nil for none.
	Base *Base
	// Cluster is the cluster's configuration (runtime.Cluster.FlinkConfig): it wins over Base,
	// except that JVM options are merged (MergeValue).
	Cluster map[string]string
	// Runtime holds the runtime's options (RuntimeOptions); they win over everything.
	Runtime map[string]string
}

// FileName returns the file Flink v reads from conf/ and whether it is in the legacy format:
// flink-conf.yaml before 1.19; config.yaml from 1.19 on, except that 1.19 and 1.20 read a
// flink-conf.yaml the image ships (imageLegacy) instead.
func FileName(v Version, imageLegacy bool) (name string, legacy bool) {
	if !v.StandardYAML() || (imageLegacy && v.ReadsLegacyFirst()) {
		return LegacyConfigYAML, true
	}
	return ConfigYAML, false
}

type entry struct {
	text string
	node *yaml.Node // a base value kept as the image wrote it; nil for a string
}

// Render renders the configuration file of l: nested standard YAML, or flat legacy lines.
// It fails on what the file could not carry as written: a dotted-prefix pair of keys in
// config.yaml, a cluster value flink-conf.yaml would change (LegacyProblem).
func Render(l Layers) (File, error) {
	name := ConfigYAML
	if l.Legacy {
		name = LegacyConfigYAML
	}
	merged := map[string]entry{}
	for _, k := range l.Base.Keys() {
		merged[k] = entry{text: l.Base.text[k], node: l.Base.nodes[k]}
	}
	var bad []string
	for _, k := range slices.Sorted(maps.Keys(l.Cluster)) {
		v := l.Cluster[k]
		if l.Legacy {
			if p := LegacyProblem(v, !l.Version.StandardYAML()); p != "" {
				bad = append(bad, fmt.Sprintf("%s %s", k, p))
				continue
			}
		}
		if b, ok := merged[k]; ok && (b.node == nil || b.node.Kind == yaml.ScalarNode) {
			v = MergeValue(k, b.text, v)
		}
		merged[k] = entry{text: v}
	}
	for k, v := range l.Runtime {
		merged[k] = entry{text: v}
	}
	if len(bad) > 0 {
		return File{}, fmt.Errorf("%s cannot carry these values as written: %s", name, strings.Join(bad, "; "))
	}
	keys := slices.Sorted(maps.Keys(merged))
	var b bytes.Buffer
	b.WriteString("# Generated by flinkd. Flink's entrypoint may rewrite this file at start; it keeps its meaning.\n")
	if l.Legacy {
		for _, k := range keys {
			fmt.Fprintf(&b, "%s: %s\n", k, merged[k].text)
		}
		return File{Name: name, Data: b.Bytes()}, nil
	}
	if err := nestable(keys); err != nil {
		return File{}, err
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range keys {
		insert(root, strings.Split(k, "."), merged[k])
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return File{}, fmt.Errorf("render %s: %w", name, err)
	}
	if err := enc.Close(); err != nil {
		return File{}, fmt.Errorf("render %s: %w", name, err)
	}
	return File{Name: name, Data: b.Bytes()}, nil
}

// nestable checks that keys can be written as nested YAML.
func nestable(keys []string) error {
	var msgs []string
	for _, k := range keys {
		if !Nestable(k) {
			msgs = append(msgs, fmt.Sprintf("%q has an empty segment", k))
		}
	}
	for _, p := range PrefixPairs(keys) {
		msgs = append(msgs, fmt.Sprintf("%s is a dotted prefix of %s", p[0], p[1]))
	}
	if len(msgs) > 0 {
		return fmt.Errorf("config.yaml cannot hold these keys as nested YAML, which Flink's entrypoint rewrites it to at every start: %s",
			strings.Join(msgs, "; "))
	}
	return nil
}

// insert places e at path in the mapping m, creating the mappings on the way. Keys arrive
// sorted and prefix-free (nestable), so every segment but the last names a mapping.
func insert(m *yaml.Node, path []string, e entry) {
	for len(path) > 1 {
		var next *yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == path[0] {
				next = m.Content[i+1]
			}
		}
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode}
			m.Content = append(m.Content, keyNode(path[0]), next)
		}
		m, path = next, path[1:]
	}
	m.Content = append(m.Content, keyNode(path[0]), valueNode(e))
}

// keyNode is one segment of a key: plain where every YAML reader takes it for a string, else
// double-quoted. Flink 1.19 and 1.20 parse with SnakeYAML 1.x (YAML 1.1), which reads a
// plain on, off, yes, no, y or n as a boolean, so "s3.on" would come back as "s3.true".
func keyNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if !plainKeyRE.MatchString(s) || slices.Contains(yaml11Words(), strings.ToLower(s)) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// yaml11Words are the plain words YAML 1.1 resolves to booleans or null.
func yaml11Words() []string {
	return []string{"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
}

// valueNode is a double-quoted string for a value flinkd sets (so that "32", "true" and
// "-Dfoo=bar -Dbaz=qux" reach Flink as written) or the image's own node, without comments.
func valueNode(e entry) *yaml.Node {
	if e.node == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: e.text}
	}
	n := *e.node
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	return &n
}
