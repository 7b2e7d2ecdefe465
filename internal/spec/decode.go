package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxFileSize is the largest SessionCluster document flinkd reads: 1 MiB.
const MaxFileSize = 1 << 20

// maxNodeVisits bounds the work of one decode, whatever aliases the document uses.
const maxNodeVisits = 100_000

// MaxErrors is how many errors Decode reports for one document before it stops reading it.
const MaxErrors = 100

// LoadFile reads the file at path (at most MaxFileSize bytes; it must be a regular file) and
// decodes it with Decode. Its error is always a *FileError naming path.
func LoadFile(path string) (*SessionCluster, []Warning, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, nil, NewFileError(path, err)
	}
	c, warns, err := Decode(data)
	if err != nil {
		return nil, warns, AsFileError(path, err)
	}
	return c, warns, nil
}

// NewFileError reports that the file at path could not be read; errors.Is sees err.
func NewFileError(path string, err error) *FileError {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = "read: " + pe.Err.Error() // the path starts the line already
	}
	return &FileError{Path: path, Errs: field.ErrorList{{Type: field.ErrorTypeInternal, Detail: msg}}, Err: err}
}

// AsFileError names path in an error returned by Decode.
func AsFileError(path string, err error) *FileError {
	var e *Errors
	if !errors.As(err, &e) {
		return NewFileError(path, err)
	}
	return &FileError{Path: path, Namespace: e.Namespace, Name: e.Name, Errs: e.List, Positions: e.Positions, lines: e.lines}
}

// errTooLarge is the read error of a file over MaxFileSize.
var errTooLarge = fmt.Errorf("is larger than %d KiB; a SessionCluster is a few KiB at most", MaxFileSize>>10)

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("read: is a directory; pass the YAML files in it (for example dir/*.yaml)")
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("read: not a regular file")
	}
	if st.Size() > MaxFileSize {
		return nil, errTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, errTooLarge
	}
	return data, nil
}

// IsNotExist reports whether err says that a spec file does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// Decode reads one SessionCluster from YAML (or JSON), strictly: unknown fields, unsupported
// Ververica fields, wrong types, duplicate keys, a second document and input over
// MaxFileSize are errors. It then applies Default and Validate. On failure the error is an
// *Errors holding every error found, in file order; warnings are returned either way.
func Decode(data []byte) (*SessionCluster, []Warning, error) {
	d := &decoder{pos: map[string]int{}, errLine: map[*field.Error]int{}}
	c := d.document(data)
	var warns []Warning
	if c != nil {
		Default(c)
		verrs, w := Validate(c)
		warns = w
		for _, e := range verrs {
			if !d.covered(e.Field) {
				d.add(e, d.pos[e.Field])
			}
		}
	}
	if len(d.errs) == 0 {
		return c, warns, nil
	}
	sortByLine(d.errs, d.errLine)
	if last := d.errs[len(d.errs)-1]; d.errLine[last] == 1<<30 {
		delete(d.errLine, last) // the "more than MaxErrors" line has no position
	}
	out := &Errors{List: d.errs, Positions: d.pos, lines: d.errLine}
	if c != nil && validKey(c.Metadata.Namespace, c.Metadata.Name) {
		out.Namespace, out.Name = c.Key()
	}
	return nil, warns, out
}

type decoder struct {
	errs field.ErrorList
	// pos is the line of every field path read.
	pos map[string]int
	// errLine is the line each error is reported at (0: none).
	errLine map[*field.Error]int
	// bad lists the paths whose value was discarded for a type error: validation errors
	// about them (or under them) would only repeat it.
	bad       []string
	visits    int
	exhausted bool
}

func (d *decoder) add(e *field.Error, line int) {
	if d.exhausted {
		return
	}
	if len(d.errs) == MaxErrors {
		d.exhausted = true
		e = &field.Error{Type: field.ErrorTypeTooMany, Detail: fmt.Sprintf("more than %d errors; fix these first", MaxErrors)}
		line = 1 << 30 // last
	}
	d.errs = append(d.errs, e)
	d.errLine[e] = line
}

func (d *decoder) errorf(p *field.Path, line int, typ field.ErrorType, format string, a ...any) {
	d.add(&field.Error{Type: typ, Field: pathString(p), Detail: fmt.Sprintf(format, a...)}, line)
}

func (d *decoder) covered(path string) bool {
	for _, b := range d.bad {
		if path == b || strings.HasPrefix(path, b+".") || strings.HasPrefix(path, b+"[") {
			return true
		}
	}
	return false
}

func pathString(p *field.Path) string {
	if p == nil {
		return ""
	}
	return p.String()
}

func child(p *field.Path, name string) *field.Path {
	if p == nil {
		return field.NewPath(name)
	}
	return p.Child(name)
}

func (d *decoder) document(data []byte) *SessionCluster {
	if len(data) > MaxFileSize {
		d.errorf(nil, 0, field.ErrorTypeTooLong, "%s", errTooLarge.Error())
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(nil, 0, field.ErrorTypeInvalid, "the file is empty; it must hold one SessionCluster")
		} else {
			d.errorf(nil, 0, field.ErrorTypeInvalid, "%s", syntaxError(err))
		}
		return nil
	}
	d.moreDocuments(dec)
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		d.errorf(nil, 0, field.ErrorTypeInvalid, "the file is empty; it must hold one SessionCluster")
		return nil
	}
	root := d.resolve(doc.Content[0])
	if root == nil {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(nil, root.Line, field.ErrorTypeTypeInvalid,
			"the document must be a mapping with kind, apiVersion, metadata and spec, not %s", describe(root))
		return nil
	}
	c := &SessionCluster{}
	d.object(root, nil, fields{
		"kind":       d.str(&c.Kind),
		"apiVersion": d.str(&c.APIVersion),
		"metadata":   d.metadata(&c.Metadata),
		"spec":       d.spec(&c.Spec),
	}, "status")
	return c
}

// moreDocuments reports a second, non-empty document. A trailing "---" with nothing after it
// is harmless and accepted.
func (d *decoder) moreDocuments(dec *yaml.Decoder) {
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			d.errorf(nil, 0, field.ErrorTypeInvalid, "%s", syntaxError(err))
			return
		}
		if len(next.Content) > 0 && !isNull(next.Content[0]) {
			d.errorf(nil, 0, field.ErrorTypeTooMany,
				"the file holds more than one YAML document (another starts at line %d); put each SessionCluster in a file of its own",
				next.Content[0].Line)
			return
		}
	}
}

func syntaxError(err error) string {
	return "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")
}

// A handler decodes the (non-null) value of one field.
type handler func(v *yaml.Node, p *field.Path)

type fields map[string]handler

func (d *decoder) metadata(m *Metadata) handler {
	return func(v *yaml.Node, p *field.Path) {
		d.object(v, p, fields{
			"name":        d.str(&m.Name),
			"namespace":   d.str(&m.Namespace),
			"labels":      d.stringMap(&m.Labels),
			"annotations": d.stringMap(&m.Annotations),
		}, "id", "createdAt", "modifiedAt", "resourceVersion")
	}
}

func (d *decoder) spec(s *Spec) handler {
	return func(v *yaml.Node, p *field.Path) {
		d.object(v, p, fields{
			"state":                d.str((*string)(&s.State)),
			"deploymentTargetName": d.str(&s.DeploymentTargetName),
			"flinkVersion":         d.str(&s.FlinkVersion),
			"flinkImageRegistry":   d.str(&s.FlinkImageRegistry),
			"flinkImageRepository": d.str(&s.FlinkImageRepository),
			"flinkImageTag":        d.str(&s.FlinkImageTag),
			"flinkImagePullPolicy": d.str(&s.FlinkImagePullPolicy),
			"numberOfTaskManagers": d.integer(&s.NumberOfTaskManagers),
			"resources": func(v *yaml.Node, p *field.Path) {
				d.object(v, p, fields{
					"jobmanager":  d.resources(&s.Resources.JobManager),
					"taskmanager": d.resources(&s.Resources.TaskManager),
				})
			},
			"flinkConfiguration": d.stringMap(&s.FlinkConfiguration),
			"logging": func(v *yaml.Node, p *field.Path) {
				d.object(v, p, fields{
					"loggingProfile": d.str(&s.Logging.LoggingProfile),
					"log4jLoggers":   d.stringMap(&s.Logging.Log4jLoggers),
				}, "log4j2ConfigurationTemplate")
			},
			"kubernetes": func(v *yaml.Node, p *field.Path) {
				k := &s.Kubernetes
				d.object(v, p, fields{
					"labels": d.stringMap(&k.Labels),
					"pods": func(v *yaml.Node, p *field.Path) {
						d.object(v, p, fields{
							"labels":      d.stringMap(&k.Pods.Labels),
							"annotations": d.stringMap(&k.Pods.Annotations),
							"envVars":     d.envVars(&k.Pods.EnvVars),
						}, "nodeSelector", "affinity", "tolerations", "volumeMounts", "securityContext", "imagePullSecrets")
					},
				}, "jobManagerPodTemplate", "taskManagerPodTemplate")
			},
		})
	}
}

func (d *decoder) resources(r *ResourceSpec) handler {
	return func(v *yaml.Node, p *field.Path) {
		d.object(v, p, fields{
			"cpu":    d.str(&r.CPU),
			"memory": d.str(&r.Memory),
		})
	}
}

func (d *decoder) envVars(out *[]EnvVar) handler {
	return func(v *yaml.Node, p *field.Path) {
		n := d.resolve(v)
		if n == nil {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.typeError(n, p, "a list of name/value pairs")
			return
		}
		for i, item := range n.Content {
			if d.exhausted {
				return
			}
			ip := p.Index(i)
			d.pos[ip.String()] = item.Line
			var ev EnvVar
			d.object(item, ip, fields{
				"name":  d.str(&ev.Name),
				"value": d.str(&ev.Value),
			}, "valueFrom")
			*out = append(*out, ev)
		}
	}
}

// object decodes mapping n: every key is checked for duplicates and is either a known field
// (decoded by its handler unless its value is null), a Ververica field flinkd does not
// support, or unknown.
func (d *decoder) object(v *yaml.Node, p *field.Path, known fields, unsupported ...string) {
	d.entries(v, p, "a mapping", func(key string) *field.Path { return child(p, key) },
		func(key string, kn, val *yaml.Node, fp *field.Path) {
			h, isKnown := known[key]
			switch {
			case isKnown:
				if !isNull(d.peek(val)) {
					h(val, fp)
				}
			case contains(unsupported, key):
				if !isNull(d.peek(val)) {
					d.errorf(fp, kn.Line, field.ErrorTypeForbidden, "is not supported by flinkd")
				}
			default:
				d.unknownField(fp, kn.Line, key, known, unsupported)
			}
		})
}

// entries walks mapping v (a type error naming want when it is something else): each key is
// read and checked for duplicates, then each is called with its key node, value and path.
func (d *decoder) entries(v *yaml.Node, p *field.Path, want string, path func(key string) *field.Path,
	each func(key string, kn, val *yaml.Node, fp *field.Path)) {
	n := d.resolve(v)
	if n == nil {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.typeError(n, p, want)
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if d.exhausted {
			return
		}
		key, kn, ok := d.key(n.Content[i], p)
		if !ok {
			continue
		}
		fp := path(key)
		if d.duplicate(seen, key, kn, fp) {
			continue
		}
		each(key, kn, n.Content[i+1], fp)
	}
}

func (d *decoder) duplicate(seen map[string]int, key string, kn *yaml.Node, fp *field.Path) bool {
	if first, dup := seen[key]; dup {
		d.errorf(fp, kn.Line, field.ErrorTypeDuplicate, "duplicate key, first given at line %d", first)
		return true
	}
	seen[key] = kn.Line
	d.pos[fp.String()] = kn.Line
	return false
}

func (d *decoder) unknownField(fp *field.Path, line int, key string, known fields, unsupported []string) {
	candidates := make([]string, 0, len(known)+len(unsupported))
	for k := range known {
		candidates = append(candidates, k)
	}
	candidates = append(candidates, unsupported...)
	if s := suggest(key, candidates); s != "" {
		d.errorf(fp, line, field.ErrorTypeNotSupported, "unknown field (did you mean %s?)", s)
		return
	}
	d.errorf(fp, line, field.ErrorTypeNotSupported, "unknown field")
}

// key reads a mapping key: a scalar, taken as written.
func (d *decoder) key(k *yaml.Node, p *field.Path) (string, *yaml.Node, bool) {
	n := d.resolve(k)
	if n == nil {
		return "", nil, false
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!merge":
		d.errorf(p, n.Line, field.ErrorTypeInvalid, "YAML merge keys (<<) are not supported; write the fields out")
		return "", nil, false
	case n.Kind != yaml.ScalarNode || isNull(n):
		d.errorf(p, n.Line, field.ErrorTypeTypeInvalid, "has a key that is %s; keys must be strings", describe(n))
		return "", nil, false
	}
	return n.Value, n, true
}

// str decodes a scalar as the text written: "32", "true" and "1.20" stay as they are.
func (d *decoder) str(out *string) handler {
	return func(v *yaml.Node, p *field.Path) {
		if s, ok := d.scalar(v, p, "a string"); ok {
			*out = s
		}
	}
}

func (d *decoder) scalar(v *yaml.Node, p *field.Path, want string) (string, bool) {
	n := d.resolve(v)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.typeError(n, p, want)
		return "", false
	}
	switch tag := n.ShortTag(); tag {
	case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
		return n.Value, true
	default:
		d.bad = append(d.bad, pathString(p))
		d.errorf(p, n.Line, field.ErrorTypeTypeInvalid, "the YAML tag %s is not supported here; write a plain value", tag)
		return "", false
	}
}

func (d *decoder) integer(out **int) handler {
	return func(v *yaml.Node, p *field.Path) {
		n := d.resolve(v)
		if n == nil {
			return
		}
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.typeError(n, p, "a whole number")
			return
		}
		var i int64
		if err := n.Decode(&i); err != nil || i < -1<<31 || i > 1<<31-1 {
			d.bad = append(d.bad, pathString(p))
			d.errorf(p, n.Line, field.ErrorTypeInvalid, "%.40s is out of range", n.Value)
			return
		}
		x := int(i)
		*out = &x
	}
}

// stringMap decodes a mapping of scalars (labels, flinkConfiguration, log4jLoggers). An empty
// mapping decodes to nil.
func (d *decoder) stringMap(out *map[string]string) handler {
	return func(v *yaml.Node, p *field.Path) {
		d.entries(v, p, "a mapping of keys to values", func(key string) *field.Path { return p.Key(key) },
			func(key string, _, val *yaml.Node, fp *field.Path) {
				s, ok := d.scalar(val, fp, `a string (write "" for an empty value)`)
				if !ok {
					return
				}
				if *out == nil {
					*out = map[string]string{}
				}
				(*out)[key] = s
			})
	}
}

// typeError reports a value of the wrong type, at its key's line when it has a key.
func (d *decoder) typeError(n *yaml.Node, p *field.Path, want string) {
	path := pathString(p)
	d.bad = append(d.bad, path)
	line := n.Line
	if l, ok := d.pos[path]; ok {
		line = l
	}
	d.errorf(p, line, field.ErrorTypeTypeInvalid, "must be %s, not %s", want, describe(n))
}

// resolve follows aliases and counts the work done; nil once the budget is spent.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for {
		if d.exhausted {
			return nil
		}
		d.visits++
		if d.visits > maxNodeVisits {
			d.errorf(nil, 0, field.ErrorTypeTooMany,
				"the document is too large or uses too many aliases (more than %d values to read)", maxNodeVisits)
			d.exhausted = true
			return nil
		}
		if n.Kind != yaml.AliasNode || n.Alias == nil {
			return n
		}
		n = n.Alias
	}
}

// peek follows aliases without counting (bounded by the anchors' count in the document).
func (d *decoder) peek(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names what a node holds, for type errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "empty (null)"
		case "!!str":
			return fmt.Sprintf("the string %.40q", n.Value)
		case "!!int", "!!float":
			return "the number " + truncate(n.Value)
		case "!!bool":
			return "the boolean " + n.Value
		}
		return "the value " + truncate(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a YAML document"
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns the candidate closest to key (case-insensitive match or at most two edits
// away), or "".
func suggest(key string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if strings.EqualFold(c, key) {
			return c
		}
		if len(key) < 4 {
			continue
		}
		if dist := editDistance(strings.ToLower(key), strings.ToLower(c)); dist < bestDist || (dist == bestDist && best != "" && c < best) {
			best, bestDist = c, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ReadFile reads the file at path as LoadFile does (at most MaxFileSize bytes; it must be a
// regular file), for callers that keep the bytes and call Decode themselves (the daemon
// records them). Its error is always a *FileError naming path.
func ReadFile(path string) ([]byte, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, NewFileError(path, err)
	}
	return data, nil
}
