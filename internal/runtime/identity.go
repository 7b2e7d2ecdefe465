package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"

	"path/filepath"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Identity returns the owner identity of a flinkd watching specsDir, and the folder it is
// derived from (absolute, symlinks resolved).
//
// Why the specs folder, and only it. The identity must outlive the database (a user deletes
// the data folder to "reset" flinkd; a new machine user has another default --data) and must
// differ between two daemons sharing an engine or a namespace. What a daemon manages is
// exactly what its folder declares, so the folder is what it is: the same folder is the same
// owner whatever database, and two folders never share one. The engine or target is left
// out on purpose: clusters on different engines never meet anyway, so it would separate
// nothing, while it would change the identity (and orphan every cluster) when the same engine
// is named another way (DOCKER_HOST spelled differently, a renamed target or kube context).
// The host is left out too: a flinkd in a container gets a new host name every time the
// container is recreated.
//
// The folder is made canonical so that one folder gives one identity: filepath.Abs (relative
// paths, ".", "..", trailing and doubled slashes), then symlinks resolved (~/specs and the
// /data/specs it points to are one folder). A folder that does not exist yet is resolved as
// far as it exists. What this cannot see: one folder reached through two bind mounts or NFS
// paths, or the same path on two hosts that share a remote engine or a namespace; for those,
// and for flinkd in containers that each see their folder as /specs, pass an explicit
// identity (flinkd --owner). Two daemons on the same folder would share the identity: flinkd
// refuses to start a second one on this host (see cmd/flinkd, the identity lock).
//
// The value is a valid Kubernetes label value: the folder's base name (made label-safe, at
// most 30 characters) for people reading `docker ps`, a dash, and 20 hex digits of the
// SHA-256 of the canonical path for uniqueness.
func Identity(specsDir string) (owner, canonical string, err error) {
	canonical, err = canonicalDir(specsDir)
	if err != nil {
		return "", "", fmt.Errorf("resolve specs folder %s: %w", specsDir, err)
	}
	sum := sha256.Sum256([]byte(canonical))
	owner = hex.EncodeToString(sum[:])[:20]
	if base := labelSafe(filepath.Base(canonical)); base != "" {
		owner = base + "-" + owner
	}
	return owner, canonical, nil
}

// canonicalDir makes dir absolute and resolves the symlinks of its longest existing prefix.
func canonicalDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	rest := ""
	for p := abs; ; p = filepath.Dir(p) {
		resolved, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(resolved, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if filepath.Dir(p) == p {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
}

var unsafeLabelRunes = regexp.MustCompile(`[^a-z0-9]+`)

// labelSafe lowercases s and keeps [a-z0-9] runs joined by dashes, at most 30 characters.
func labelSafe(s string) string {
	s = strings.Trim(unsafeLabelRunes.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 30 {
		s = strings.TrimRight(s[:30], "-")
	}
	return s
}

// ValidateOwner checks an identity given by hand (flinkd --owner, --adopt): it becomes a label
// value on Docker and Kubernetes.
func ValidateOwner(owner string) error {
	if owner == "" {
		return errors.New("is empty")
	}
	if errs := validation.IsValidLabelValue(owner); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid label value: %s", owner, strings.Join(errs, "; "))
	}
	return nil
}
