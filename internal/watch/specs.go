package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// IsSpecFile reports whether a base name names a spec file: it ends in .yaml or .yml (any
// case) and is not hidden. Hidden names cover dotfiles, vim swap files (.x.yaml.swp), Emacs
// lock files (.#x.yaml) and Kubernetes ConfigMap internals (..data). Editor backups (x.yaml~),
// temporary files (x.yaml.tmp) and Emacs autosaves (#x.yaml#) are excluded because they do
// not end in .yaml or .yml. A name containing a path separator is never a spec file.
func IsSpecFile(name string) bool {
	if name == "" || strings.HasPrefix(name, ".") || strings.ContainsRune(name, '/') ||
		strings.ContainsRune(name, filepath.Separator) {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return true
	}
	return false
}

// ListSpecs returns the spec files directly in dir (not recursive), sorted, as
// filepath.Join(dir, name): the same form as Change.Path for a Watcher on dir.
// A missing dir is an empty list, not an error.
//
// A spec file is a regular file, or a symlink to one, whose name passes IsSpecFile.
// Directories, dangling symlinks and other file types are left out. An entry that cannot be
// stat'ed for another reason (permission) is listed, so that the consumer reports the error
// when it reads the file instead of treating the spec as removed.
func ListSpecs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list specs: %w", err)
	}
	var paths []string
	for _, e := range entries { // os.ReadDir sorts by name
		if !IsSpecFile(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			info, err := os.Stat(p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				continue
			case err != nil:
				paths = append(paths, p)
				continue
			}
			mode = info.Mode().Type()
		}
		if mode.IsRegular() {
			paths = append(paths, p)
		}
	}
	return paths, nil
}
