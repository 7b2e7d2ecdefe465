package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

// conf is a Flink configuration that remembers the order in which keys were first set.
type conf struct {
	keys []string
	vals map[string]string
}

func newConf() *conf { return &conf{vals: map[string]string{}} }

func (c *conf) set(k, v string) {
	if _, ok := c.vals[k]; !ok {
		c.keys = append(c.keys, k)
	}
	c.vals[k] = v
}

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

func (c *conf) clone() *conf {
	n := newConf()
	for _, k := range c.keys {
		n.set(k, c.vals[k])
	}
	return n
}

// errIllegalConfig is Flink's IllegalConfigurationException.
type errIllegalConfig struct{ msg string }

func (e errIllegalConfig) Error() string {
	return "org.apache.flink.configuration.IllegalConfigurationException: " + e.msg
}

// configFile says which file in confDir Flink version v reads, and warns about a file it
// ignores: flink-conf.yaml before 1.19; flink-conf.yaml if present, else config.yaml, on
// 1.19 and 1.20; only config.yaml from 2.0 on.
func configFile(confDir string, v Version) (path string, legacy bool, warning string) {
	legacyPath := filepath.Join(confDir, LegacyConfigYAML)
	stdPath := filepath.Join(confDir, ConfigYAML)
	switch {
	case !v.AtLeast(1, 19):
		return legacyPath, true, ""
	case v.Major == 1:
		if exists(legacyPath) {
			return legacyPath, true, ""
		}
		return stdPath, false, ""
	default:
		if exists(legacyPath) {
			warning = fmt.Sprintf("The configuration file %s is ignored: Flink %s reads only %s.", legacyPath, v, ConfigYAML)
		}
		return stdPath, false, warning
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// loadConfig reads the configuration of confDir as Flink version v's GlobalConfiguration
// does. warn receives the warnings Flink logs (unparsable legacy lines, ignored files).
func loadConfig(confDir string, v Version, warn func(string)) (*conf, string, error) {
	path, legacy, warning := configFile(confDir, v)
	if warning != "" {
		warn(warning)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			abs, _ := filepath.Abs(path)
			return nil, path, errIllegalConfig{fmt.Sprintf("The Flink config file '%s' (%s) does not exist.", path, abs)}
		}
		return nil, path, fmt.Errorf("read %s: %w", path, err)
	}
	if legacy {
		return parseLegacyConfig(data, path, warn), path, nil
	}
	c, err := parseStandardYAML(data)
	if err != nil {
		return nil, path, fmt.Errorf("load %s: %w", path, err)
	}
	return c, path, nil
}

// parseLegacyConfig is Flink's legacy flink-conf.yaml reader: everything after the first
// '#' is a comment, key and value are split at the first ": ", both trimmed, nothing is
// unquoted; lines without a valid pair are skipped with a warning.
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

// parseStandardYAML reads config.yaml as standard YAML: nested mappings are flattened with
// dots, scalars are taken as written (quotes removed), lists become "a;b" as Flink renders
// list values, nulls are skipped, and duplicate keys are an error.
func parseStandardYAML(data []byte) (*conf, error) {
	c := newConf()
	var doc goyaml.Node
	if err := goyaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return c, nil
	}
	root := doc.Content[0]
	if root.Kind == goyaml.ScalarNode && root.Tag == "!!null" {
		return c, nil
	}
	if root.Kind != goyaml.MappingNode {
		return nil, fmt.Errorf("line %d: the configuration is not a YAML mapping", root.Line)
	}
	if err := flatten(c, "", root); err != nil {
		return nil, err
	}
	return c, nil
}

func flatten(c *conf, prefix string, n *goyaml.Node) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		key := kn.Value
		if seen[key] {
			return fmt.Errorf("line %d: found duplicate key %s", kn.Line, key)
		}
		seen[key] = true
		full := key
		if prefix != "" {
			full = prefix + "." + key
		}
		for vn.Kind == goyaml.AliasNode {
			vn = vn.Alias
		}
		switch vn.Kind {
		case goyaml.MappingNode:
			if err := flatten(c, full, vn); err != nil {
				return err
			}
		case goyaml.SequenceNode:
			items := make([]string, 0, len(vn.Content))
			for _, it := range vn.Content {
				items = append(items, nodeString(it))
			}
			c.set(full, strings.Join(items, ";"))
		default:
			if vn.Tag == "!!null" {
				continue
			}
			if _, dup := c.get(full); dup {
				return fmt.Errorf("line %d: found duplicate key %s", kn.Line, full)
			}
			c.set(full, vn.Value)
		}
	}
	return nil
}

func nodeString(n *goyaml.Node) string {
	if n.Kind == goyaml.ScalarNode {
		return n.Value
	}
	out, err := goyaml.Marshal(n)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

var plainYAMLKey = regexp.MustCompile(`^[A-Za-z0-9_$][A-Za-z0-9_.$-]*$`)

// renderStandardYAML writes c as standard YAML with flat keys, sorted, every value a
// double-quoted string so that Flink reads back exactly what was set.
func renderStandardYAML(c *conf) []byte {
	keys := slices.Clone(c.keys)
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		key := k
		if !plainYAMLKey.MatchString(k) {
			key = jsonString(k)
		}
		fmt.Fprintf(&b, "%s: %s\n", key, jsonString(c.vals[k]))
	}
	return []byte(b.String())
}

// renderLegacy writes c in the flat "key: value" form Flink's legacy reader takes.
func renderLegacy(c *conf) []byte {
	var b strings.Builder
	for _, k := range c.keys {
		fmt.Fprintf(&b, "%s: %s\n", k, c.vals[k])
	}
	return []byte(b.String())
}

func jsonString(s string) string {
	out, _ := json.Marshal(s)
	return string(out)
}

var envRef = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)

// envsubst replaces $NAME and ${NAME} with their values in env, as GNU envsubst does
// without a SHELL-FORMAT: unset variables become empty.
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

// flinkPropertiesOptions parses FLINK_PROPERTIES the way the entrypoint of Flink version v
// does from 1.19 on: one option per non-empty line; before 2.2 every whitespace character
// of the line is deleted (so "a: b c" becomes a=bc), from 2.2 on the line and value are
// only trimmed; key and value are split at the first ':' (bash's read, which also drops a
// single trailing ':'), and the value goes through envsubst.
func flinkPropertiesOptions(props string, v Version, env map[string]string) []option {
	var out []option
	for _, line := range strings.Split(props, "\n") {
		if v.AtLeast(2, 2) {
			line = strings.TrimSpace(line)
		} else {
			line = strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' {
					return -1
				}
				return r
			}, line)
		}
		if line == "" {
			continue
		}
		key, value, _ := strings.Cut(line, ":")
		if strings.HasSuffix(value, ":") && !strings.Contains(value[:len(value)-1], ":") {
			value = value[:len(value)-1]
		}
		value = envsubst(value, env)
		if v.AtLeast(2, 2) {
			value = strings.TrimSpace(value)
		}
		out = append(out, option{key, value})
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
