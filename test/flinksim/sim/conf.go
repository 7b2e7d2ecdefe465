package sim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	goyaml "go.yaml.in/yaml/v3"
)

// Configuration file names in conf/.
const (
	ConfigYAML       = "config.yaml"
	LegacyConfigYAML = "flink-conf.yaml"
)

// Version is a Flink major.minor version.
type Version struct{ Major, Minor int }

// DefaultVersion is the version assumed when none is given: 1.20.
func DefaultVersion() Version { return Version{1, 20} }

// ParseVersion parses "1.20", "1.20.1" or "2.1"; anything else gives DefaultVersion and false.
func ParseVersion(s string) (Version, bool) {
	a, rest, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return DefaultVersion(), false
	}
	b, _, _ := strings.Cut(rest, ".")
	ma, err1 := strconv.Atoi(a)
	mi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return DefaultVersion(), false
	}
	return Version{ma, mi}, true
}

// AtLeast reports whether v >= major.minor.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// conf is a Flink configuration: Configuration.confData, a java.util.HashMap, whose
// iteration order (javaHashMap) is the order of the files Flink writes and of its log
// lines. Values are kept as text; typed marks the values that a YAML file gave as a
// non-string scalar (an int, float or boolean of YAML 1.2's core schema, as
// snakeyaml-engine's CoreSchema resolves them), which Flink keeps as Integer/Boolean/Double
// objects and writes back unquoted; every other value is a Java String.
type conf struct {
	data  *javaHashMap
	vals  map[string]string
	typed map[string]bool
}

// newConf is new Configuration(): an empty HashMap.
func newConf() *conf {
	return &conf{data: newJavaHashMap(), vals: map[string]string{}, typed: map[string]bool{}}
}

// set stores a String value (what -D dynamic properties and the legacy reader give).
func (c *conf) set(k, v string) { c.put(k, v, false) }

// put is Configuration.setValueInternal(key, value, false): HashMap.put.
func (c *conf) put(k, v string, typed bool) {
	c.data.put(k)
	c.vals[k] = v
	if typed {
		c.typed[k] = true
	} else {
		delete(c.typed, k)
	}
}

// keys are the entries in confData's iteration order.
func (c *conf) keys() []string { return c.data.keys() }

// modelled is false once a map of this configuration made a tree of a bin: its order is
// then not Java's (see javaHashMap).
func (c *conf) modelled() bool { return !c.data.treeified }

func (c *conf) get(k string) (string, bool) {
	v, ok := c.vals[k]
	return v, ok
}

// Map returns a copy of the entries.
func (c *conf) Map() map[string]string {
	m := make(map[string]string, len(c.vals))
	for k, v := range c.vals {
		m[k] = v
	}
	return m
}

// clone is new Configuration(other): new HashMap<>(other.confData).
func (c *conf) clone() *conf {
	n := &conf{data: newJavaHashMapOf(c.keys()), vals: c.Map(), typed: map[string]bool{}}
	for k, t := range c.typed {
		n.typed[k] = t
	}
	n.data.treeified = n.data.treeified || c.data.treeified
	return n
}

// addAll is Configuration.addAll(other): confData.putAll(other.confData).
func (c *conf) addAll(other *conf) {
	keys := other.keys()
	c.data.putAll(keys)
	c.data.treeified = c.data.treeified || other.data.treeified
	for _, k := range keys {
		c.vals[k] = other.vals[k]
		if other.typed[k] {
			c.typed[k] = true
		} else {
			delete(c.typed, k)
		}
	}
}

// dynamicConf is the Configuration Flink makes of "-D key=value" arguments
// (ConfigurationUtils.createConfiguration of the parser's Properties): the last value of a
// key wins, in the order of propertyNames.
func dynamicConf(opts []option) *conf {
	vals := map[string]string{}
	for _, o := range opts {
		vals[o.key] = o.value
	}
	names, modelled := propertyNames(optionKeys(opts))
	c := newConf()
	for _, k := range names {
		c.set(k, vals[k])
	}
	c.data.treeified = c.data.treeified || !modelled
	return c
}

// errIllegalConfig is Flink's IllegalConfigurationException.
type errIllegalConfig struct{ msg string }

func (e errIllegalConfig) Error() string {
	return "org.apache.flink.configuration.IllegalConfigurationException: " + e.msg
}

// errYAML is what GlobalConfiguration.loadYAMLResource throws on a file it cannot load: a
// RuntimeException caused by what YamlParserUtils.loadYamlFile or the load threw. A
// snakeyaml-engine parse error (a MarkedYamlEngineException) is rewrapped by
// wrapExceptionToHiddenSensitiveData as a YamlEngineException whose message is its
// context and problem lines, each followed by a line break, and logged ("Failed to parse
// YAML configuration") before it is thrown; marked says so.
type errYAML struct {
	cause  string // the cause's class and message
	marked bool
}

func (e errYAML) Error() string {
	return "java.lang.RuntimeException: Error parsing YAML configuration.\nCaused by: " + e.cause
}

// yamlEngineError is a snakeyaml-engine parse error as Flink rethrows it.
func yamlEngineError(lines ...string) errYAML {
	return errYAML{cause: "org.snakeyaml.engine.v2.exceptions.YamlEngineException: " + strings.Join(lines, "\n") + "\n", marked: true}
}

// errNullValue: a key without a value (YAML null) reaches Configuration.setValueInternal,
// which refuses it; the whole load fails (seen on flink-dist 1.20.5 and 2.2.1).
var errNullValue = errYAML{cause: "java.lang.NullPointerException: Value must not be null."}

// configFile says which file in confDir Flink version v reads, as GlobalConfiguration
// .loadConfiguration of that version does (flink-core GlobalConfiguration.java):
// before 1.19 only flink-conf.yaml; on 1.19 and 1.20 flink-conf.yaml when it exists (the
// legacy reader, standardYaml=false), else config.yaml; from 2.0 on only config.yaml, and a
// flink-conf.yaml beside it is ignored without a word.
func configFile(confDir string, v Version) (path string, legacy bool) {
	legacyPath := filepath.Join(confDir, LegacyConfigYAML)
	stdPath := filepath.Join(confDir, ConfigYAML)
	switch {
	case !v.AtLeast(1, 19):
		return legacyPath, true
	case v.Major == 1 && exists(legacyPath):
		return legacyPath, true
	default:
		return stdPath, false
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// loaded is a configuration as GlobalConfiguration.loadConfiguration read it, with the
// lines its logger wrote (the BashJavaUtils console format "INFO  [] - ...", values of
// sensitive keys hidden).
type loaded struct {
	conf   *conf
	path   string
	legacy bool
	log    []string
}

// loadConfig reads the configuration of confDir as Flink version v's
// GlobalConfiguration.loadConfiguration does. warn receives the warnings Flink logs
// (unparsable legacy lines).
func loadConfig(confDir string, v Version, warn func(string)) (loaded, error) {
	path, legacy := configFile(confDir, v)
	l := loaded{path: path, legacy: legacy}
	if !exists(path) {
		abs, _ := filepath.Abs(path)
		return l, errIllegalConfig{fmt.Sprintf("The Flink config file '%s' (%s) does not exist.", path, abs)}
	}
	abs, _ := filepath.Abs(path)
	if legacy {
		if v.AtLeast(1, 19) {
			l.log = append(l.log, fmt.Sprintf("INFO  [] - Using legacy YAML parser to load flink configuration file from %s.", abs))
		}
	} else {
		l.log = append(l.log, fmt.Sprintf("INFO  [] - Using standard YAML parser to load flink configuration file from %s.", abs))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return l, fmt.Errorf("java.lang.RuntimeException: Error parsing YAML configuration.\nCaused by: java.io.FileNotFoundException: %s (%s)", path, errnoText(err))
	}
	if legacy {
		l.conf = parseLegacyConfig(data, path, warn)
	} else {
		c, err := parseStandardYAML(data, v)
		if err != nil {
			var ye errYAML
			if errors.As(err, &ye) && ye.marked {
				l.log = append(l.log, "ERROR [] - Failed to parse YAML configuration", strings.TrimSuffix(ye.cause, "\n"))
			}
			return l, err
		}
		l.conf = c
	}
	for _, k := range l.conf.keys() {
		l.log = append(l.log, fmt.Sprintf("INFO  [] - Loading configuration property: %s, %s", k, masked(v, k, l.conf.vals[k])))
	}
	return l, nil
}

// parseLegacyConfig is Flink's legacy flink-conf.yaml reader (GlobalConfiguration
// .loadYAMLResource before 1.19, loadLegacyYAMLResource in 1.19 and 1.20): everything after
// the first '#' of a line is a comment, key and value are split at the first ": ", both
// trimmed, nothing is unquoted; lines without a valid pair are skipped with a warning.
func parseLegacyConfig(data []byte, path string, warn func(string)) *conf {
	c := newConf()
	for i, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			warn(fmt.Sprintf("Error while trying to split key and value in configuration file %s:%d: Line is not a key-value pair (missing space after ':'?)", path, i+1))
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" || v == "" {
			warn(fmt.Sprintf("Error after splitting key and value in configuration file %s:%d: Key or value was empty", path, i+1))
			continue
		}
		c.set(k, v)
	}
	return c
}

// parseStandardYAML reads config.yaml as GlobalConfiguration.loadYAMLResource of version v
// does (YamlParserUtils.loadYamlFile with snakeyaml-engine's CoreSchema, then flatten,
// then confData.put of every flattened entry in the flattened map's order): nested mappings
// are flattened with dots in document order, a later value for the same flattened key
// wins ("a: {b: 1}" and "a.b: 2" is no error), a key twice in one mapping is snakeyaml's
// "found duplicate key", a list becomes its flow-style YAML text (YamlParserUtils
// .toYAMLString: "[a, b]"), a key without a value fails the load (errNullValue), and
// scalars keep whether they were a string or a typed value.
//
// The flattened map is a HashMap, so it decides the order confData is filled in: 2.x
// flattens into one map, key by key in document order; 1.19 and 1.20 make a map per
// nested mapping and merge it into its parent with putAll (which sizes the parent for the
// child's entries first), so the same file can come out in another order.
func parseStandardYAML(data []byte, v Version) (*conf, error) {
	var doc goyaml.Node
	if err := goyaml.Unmarshal(data, &doc); err != nil {
		if lines, ok := snakeyamlDocumentStart(data); ok {
			return nil, yamlEngineError(lines...)
		}
		return nil, yamlEngineError(err.Error())
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return newConf(), nil
	}
	root := doc.Content[0]
	if root.Kind == goyaml.ScalarNode && root.Tag == "!!null" {
		return newConf(), nil
	}
	if root.Kind != goyaml.MappingNode {
		return nil, yamlEngineError(fmt.Sprintf("line %d: the document is not a mapping", root.Line))
	}
	flat := &flattened{keys: newJavaHashMap(), vals: map[string]*string{}, typed: map[string]bool{}}
	if err := flat.add("", root, !v.AtLeast(2, 0)); err != nil {
		return nil, err
	}
	c := newConf()
	c.data.treeified = flat.keys.treeified
	for _, k := range flat.keys.keys() {
		val := flat.vals[k]
		if val == nil {
			return nil, errNullValue
		}
		c.put(k, *val, flat.typed[k])
	}
	return c, nil
}

// flattened is GlobalConfiguration.flatten's result: a HashMap of dotted keys to values
// (nil: YAML null).
type flattened struct {
	keys  *javaHashMap
	vals  map[string]*string
	typed map[string]bool
}

// add flattens mapping n under prefix into f. perLevel is 1.19/1.20's flatten, which
// flattens each nested mapping into a map of its own and putAll's it into f.
func (f *flattened) add(prefix string, n *goyaml.Node, perLevel bool) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		key := kn.Value
		if seen[key] {
			return yamlEngineError("while constructing a mapping", fmt.Sprintf(" in reader, line %d, column %d", n.Line, n.Column),
				"found duplicate key "+key, fmt.Sprintf(" in reader, line %d, column %d", kn.Line, kn.Column))
		}
		seen[key] = true
		full := prefix + key
		for vn.Kind == goyaml.AliasNode {
			vn = vn.Alias
		}
		switch vn.Kind {
		case goyaml.MappingNode:
			if !perLevel {
				if err := f.add(full+".", vn, false); err != nil {
					return err
				}
				continue
			}
			child := &flattened{keys: newJavaHashMap(), vals: map[string]*string{}, typed: map[string]bool{}}
			if err := child.add(full+".", vn, true); err != nil {
				return err
			}
			keys := child.keys.keys()
			f.keys.putAll(keys)
			f.keys.treeified = f.keys.treeified || child.keys.treeified
			for _, k := range keys {
				f.vals[k], f.typed[k] = child.vals[k], child.typed[k]
			}
		case goyaml.SequenceNode:
			s := flowYAML(vn)
			f.keys.put(full)
			f.vals[full], f.typed[full] = &s, false
		default:
			f.keys.put(full)
			if vn.Tag == "!!null" {
				f.vals[full], f.typed[full] = nil, false
				continue
			}
			s := vn.Value
			f.vals[full] = &s
			f.typed[full] = vn.Style&(goyaml.SingleQuotedStyle|goyaml.DoubleQuotedStyle) == 0 && coreSchemaTyped(vn.Value)
		}
	}
	return nil
}

// snakeyamlDocumentStart recognises the parse error snakeyaml-engine reports for a
// document whose first node, a flow collection, is followed by more text on its line
// (ParserImpl.ParseDocumentStart: "expected '<document start>', but found '<scalar>'"),
// with the position of that text. It is what Flink says about every file the entrypoint
// wrote its own error into ("[ERROR] Could not parse configurations properly."): column 9
// of line 1. Other parse errors keep go-yaml's text (see package test/fidelity).
func snakeyamlDocumentStart(data []byte) ([]string, bool) {
	text := string(data)
	line, col := 0, 0
	i := 0
	// Skip blank and comment lines before the first node.
	for i < len(text) {
		j := strings.IndexByte(text[i:], '\n')
		end := len(text)
		if j >= 0 {
			end = i + j
		}
		t := strings.TrimSpace(text[i:end])
		if t != "" && !strings.HasPrefix(t, "#") {
			break
		}
		i, line = end+1, line+1
	}
	if i >= len(text) {
		return nil, false
	}
	rest := text[i:]
	lineText, _, _ := strings.Cut(rest, "\n")
	start := len(lineText) - len(strings.TrimLeft(lineText, " "))
	if start >= len(lineText) || (lineText[start] != '[' && lineText[start] != '{') {
		return nil, false
	}
	depth, quote := 0, byte(0)
	for col = start; col < len(lineText); col++ {
		ch := lineText[col]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '[' || ch == '{':
			depth++
		case ch == ']' || ch == '}':
			depth--
		}
		if depth == 0 {
			break
		}
	}
	if depth != 0 {
		return nil, false
	}
	next := col + 1
	for next < len(lineText) && lineText[next] == ' ' {
		next++
	}
	if next >= len(lineText) || lineText[next] == '#' || strings.ContainsRune("[]{},:?-&*!|>'\"%@`", rune(lineText[next])) {
		return nil, false
	}
	return []string{"expected '<document start>', but found '<scalar>'", fmt.Sprintf(" in reader, line %d, column %d", line+1, next+1)}, true
}

// flowYAML renders a YAML value in flow style, as YamlParserUtils.toYAMLString does.
func flowYAML(n *goyaml.Node) string {
	for n.Kind == goyaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case goyaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, it := range n.Content {
			items = append(items, flowYAML(it))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case goyaml.MappingNode:
		items := make([]string, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			items = append(items, flowYAML(n.Content[i])+": "+flowYAML(n.Content[i+1]))
		}
		return "{" + strings.Join(items, ", ") + "}"
	}
	if n.Tag == "!!null" {
		return "null"
	}
	quoted := n.Style&(goyaml.SingleQuotedStyle|goyaml.DoubleQuotedStyle) != 0
	return yamlScalar(n.Value, !quoted && coreSchemaTyped(n.Value), true)
}

var envRef = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)

// envsubst replaces $NAME and ${NAME} with their values in env, as GNU envsubst (gettext)
// does without a SHELL-FORMAT argument: every reference is replaced, an unset variable by
// nothing; "$$", "$1" and "${1}" are no references and stay.
func envsubst(s string, env map[string]string) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := envRef.FindStringSubmatch(m)
		name := sub[1]
		if name == "" {
			name = sub[2]
		}
		return env[name]
	})
}

// option is one key/value pair the entrypoint sets.
type option struct{ key, value string }

// flinkPropertiesOptions parses FLINK_PROPERTIES the way the image's docker-entrypoint.sh
// (apache/flink-docker, process_flink_properties, the same in 1.19, 1.20, 2.0, 2.1 and 2.2)
// does: one option per line; "tr -d '[:space:]'" deletes every whitespace character of the
// line (so "a: b c" becomes a=bc), empty lines are skipped; bash's `IFS=':' read -r key
// value` splits at the first ':' (and drops one trailing ':' when the rest has no other);
// the value goes through envsubst.
func flinkPropertiesOptions(props string, env map[string]string) []option {
	var out []option
	for _, line := range strings.Split(props, "\n") {
		line = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' {
				return -1
			}
			return r
		}, line)
		if line == "" {
			continue
		}
		key, value, _ := strings.Cut(line, ":")
		if strings.HasSuffix(value, ":") && !strings.Contains(value[:len(value)-1], ":") {
			value = value[:len(value)-1]
		}
		out = append(out, option{key, envsubst(value, env)})
	}
	return out
}

// parseDynamicProperties takes "-D key=value" and "-Dkey=value" out of args and returns
// them with the remaining arguments.
func parseDynamicProperties(args []string) (props []option, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-D") {
			rest = append(rest, a)
			continue
		}
		kv := strings.TrimPrefix(a, "-D")
		if kv == "" {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("missing argument for option: D")
			}
			i++
			kv = args[i]
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, nil, fmt.Errorf("dynamic property %q is not of the form key=value", kv)
		}
		props = append(props, option{k, v})
	}
	return props, rest, nil
}

// shellError renders a failed file operation the way bash or sed report it:
// "<prefix>: <path>: Read-only file system".
func shellError(prefix, path string, err error) string {
	msg := err.Error()
	var errno syscall.Errno
	if errors.As(err, &errno) {
		msg = errno.Error()
		if msg != "" {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
	}
	return fmt.Sprintf("%s: %s: %s", prefix, path, msg)
}
