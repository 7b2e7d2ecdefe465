package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// setState returns data with spec.state set to state, changing nothing else: comments,
// order, quoting and indentation stay as the user wrote them. It edits the bytes of the one
// scalar (or inserts one line when spec.state is absent), guided by the YAML node tree.
func setState(data []byte, state string) (out []byte, changed bool, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, false, fmt.Errorf("parse: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, false, errors.New("not a YAML mapping")
	}
	specNode := mapValue(doc.Content[0], "spec")
	if specNode == nil || specNode.Kind != yaml.MappingNode {
		return nil, false, errors.New("no spec mapping")
	}
	if specNode.Style&yaml.FlowStyle != 0 {
		return nil, false, errors.New("spec is written in flow style ({...}); edit spec.state by hand")
	}
	lines := splitLines(data)
	if v := mapValue(specNode, "state"); v != nil {
		if v.Kind != yaml.ScalarNode {
			return nil, false, errors.New("spec.state is not a scalar")
		}
		if v.Value == state {
			return data, false, nil
		}
		li := v.Line - 1
		if li < 0 || li >= len(lines) {
			return nil, false, errors.New("spec.state: position out of range")
		}
		line := lines[li]
		col := byteColumn(line, v.Column-1)
		tokLen := len(v.Value)
		switch v.Style {
		case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
			tokLen += 2
		case 0, yaml.TaggedStyle:
		default:
			return nil, false, errors.New("spec.state is written in an unusual style; edit it by hand")
		}
		if v.Tag != "" && v.Style&yaml.TaggedStyle != 0 {
			return nil, false, errors.New("spec.state carries a tag; edit it by hand")
		}
		if col < 0 || col+tokLen > len(line) || !bytes.Contains(line[col:col+tokLen], []byte(v.Value)) {
			return nil, false, errors.New("spec.state: could not locate its value")
		}
		repl := state
		switch v.Style {
		case yaml.DoubleQuotedStyle:
			repl = `"` + state + `"`
		case yaml.SingleQuotedStyle:
			repl = `'` + state + `'`
		}
		newLine := append(append(append([]byte{}, line[:col]...), repl...), line[col+tokLen:]...)
		lines[li] = newLine
		return bytes.Join(lines, nil), true, nil
	}
	// No spec.state: insert it as the first key of spec, indented like that key.
	if len(specNode.Content) == 0 {
		return nil, false, errors.New("spec is empty")
	}
	first := specNode.Content[0]
	li := first.Line - 1
	if li < 0 || li >= len(lines) {
		return nil, false, errors.New("spec: position out of range")
	}
	indent := strings.Repeat(" ", first.Column-1)
	ins := []byte(indent + "state: " + state + "\n")
	out = append(append([]byte{}, bytes.Join(lines[:li], nil)...), ins...)
	out = append(out, bytes.Join(lines[li:], nil)...)
	return out, true, nil
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// splitLines splits keeping line endings.
func splitLines(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			out = append(out, data)
			break
		}
		out = append(out, data[:i+1])
		data = data[i+1:]
	}
	return out
}

// byteColumn converts yaml's rune column into a byte offset in line.
func byteColumn(line []byte, runeCol int) int {
	n := 0
	for i := range string(line) {
		if n == runeCol {
			return i
		}
		n++
	}
	if n == runeCol {
		return len(line)
	}
	return -1
}

// writeFileAtomic replaces path with data: a hidden temporary file in the same folder (which
// the watcher ignores), the original's mode, fsync, then a rename over the original.
func writeFileAtomic(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
