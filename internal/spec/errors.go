package spec

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Errors holds every error found in one document. Decode returns it.
type Errors struct {
	// List is every error, sorted by line: errors about the whole document or about missing
	// fields (they have no line) first, then in file order.
	List field.ErrorList
	// Namespace and Name are the cluster's key when metadata.name could be read and both are
	// valid (the namespace defaulted), so that callers can record the failure against the
	// cluster; empty otherwise.
	Namespace, Name string
	// Positions maps a field path (field.Error.Field) to its line in the file, where known.
	Positions map[string]int
	// lines is the line each error is reported at, when known.
	lines map[*field.Error]int
}

func (e *Errors) Error() string { return strings.Join(e.Lines(), "\n") }

// Lines returns one line per error: "<field path>: <message>", with " (line N)" when the line
// is known.
func (e *Errors) Lines() []string { return renderErrors("", e.List, e.lineOf) }

func (e *Errors) lineOf(fe *field.Error) int { return lineOf(fe, e.lines, e.Positions) }

// FileError is everything wrong with one file: it could not be read, or its document is not a
// valid SessionCluster. LoadFile returns it.
type FileError struct {
	Path string
	// Namespace and Name: as in Errors.
	Namespace, Name string
	// Errs is every error of the document; for a read error, one error with an empty Field.
	Errs field.ErrorList
	// Positions maps a field path to its line in the file, where known.
	Positions map[string]int
	// Err is the read error (errors.Is(err, fs.ErrNotExist) works); nil when the file was read.
	Err error

	lines map[*field.Error]int
}

// Error returns Lines joined by newlines.
func (e *FileError) Error() string { return strings.Join(e.Lines(), "\n") }

// Lines returns one line per error: "<path>: <field path>: <message>", with " (line N)" when
// the line is known.
func (e *FileError) Lines() []string {
	return renderErrors(e.Path, e.Errs, func(fe *field.Error) int { return lineOf(fe, e.lines, e.Positions) })
}

func (e *FileError) Unwrap() error { return e.Err }

func lineOf(fe *field.Error, lines map[*field.Error]int, pos map[string]int) int {
	if l, ok := lines[fe]; ok {
		return l
	}
	if fe.Field == "" {
		return 0
	}
	return pos[fe.Field]
}

func renderErrors(prefix string, list field.ErrorList, line func(*field.Error) int) []string {
	lines := make([]string, 0, len(list))
	for _, fe := range list {
		var b strings.Builder
		if prefix != "" {
			b.WriteString(prefix + ": ")
		}
		if fe.Field != "" && fe.Field != "<nil>" {
			b.WriteString(fe.Field + ": ")
		}
		b.WriteString(Message(fe))
		if l := line(fe); l > 0 {
			fmt.Fprintf(&b, " (line %d)", l)
		}
		lines = append(lines, b.String())
	}
	return lines
}

// Message returns what a field error says, without its field path. Errors made by this package
// carry their whole message in Detail; others fall back to apimachinery's wording.
func Message(e *field.Error) string {
	if e.Detail != "" {
		switch e.Type {
		case field.ErrorTypeRequired:
			return "is required: " + e.Detail
		}
		return e.Detail
	}
	switch e.Type {
	case field.ErrorTypeRequired:
		return "is required"
	case field.ErrorTypeDuplicate:
		return fmt.Sprintf("%v is given more than once", e.BadValue)
	}
	return e.ErrorBody()
}

// sortByLine orders errors by line; errors without a line keep their order, first (they are
// about the whole document or about fields that are missing).
func sortByLine(list field.ErrorList, lines map[*field.Error]int) {
	slices.SortStableFunc(list, func(a, b *field.Error) int { return cmp.Compare(lines[a], lines[b]) })
}

// Warning is something valid but unwise, shown by validate and status.
type Warning struct {
	Field   string
	Message string
}

// String returns "<field path>: <message>".
func (w Warning) String() string { return w.Field + ": " + w.Message }
