package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
	"github.com/flinkd/flinkd/internal/watch"
)

// fileHash is the sha256 of a spec file's bytes (db.Cluster.FileHash): it tells whether a
// save changed the file. It is not spec.Hash, the spec hash runtimes stamp on what they make.
func fileHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// rescan re-reads every spec file of the folder and forgets the files that are gone. Files
// are read in name order, so that when two files declare one cluster on a fresh start, the
// first by name keeps it.
//
// A specs folder that does not exist (yet, or any more) says nothing: clusters are not torn
// down because the folder was moved away; removing the files is how clusters are deleted.
func (d *Daemon) rescan(ctx context.Context) error {
	if _, err := os.Stat(d.cfg.SpecsDir); errors.Is(err, fs.ErrNotExist) {
		d.log.Warn("specs folder does not exist; waiting for it, clusters left as they are", "path", d.cfg.SpecsDir)
		return nil
	}
	paths, err := watch.ListSpecs(d.cfg.SpecsDir)
	if err != nil {
		return fmt.Errorf("list %s: %w", d.cfg.SpecsDir, err)
	}
	for _, p := range paths {
		if err := d.syncFile(ctx, p); err != nil {
			return err
		}
	}
	known, err := d.store.Files(ctx)
	if err != nil {
		return err
	}
	for _, f := range known {
		if !slices.Contains(paths, f.Path) {
			if err := d.syncFile(ctx, f.Path); err != nil {
				return err
			}
		}
	}
	// A cluster whose file is recorded nowhere (a crash between two transactions of an
	// older flinkd, say) is treated like one whose file was removed.
	clusters, err := d.store.Clusters(ctx)
	if err != nil {
		return err
	}
	for _, c := range clusters {
		if !c.Deleted && !slices.Contains(paths, c.File) {
			if err := d.syncFile(ctx, c.File); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncFile brings the database in line with one spec file, as it is now on disk, and
// enqueues the clusters it touched. Files are synced one at a time. When the file gave up a
// cluster that another file also declares, that file is synced next and takes it over.
func (d *Daemon) syncFile(ctx context.Context, path string) error {
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	work := []string{filepath.Clean(path)}
	for len(work) > 0 {
		p := work[0]
		work = work[1:]
		successors, err := d.syncOne(ctx, p)
		if err != nil {
			return err
		}
		work = append(work, successors...)
	}
	return nil
}

// syncOne syncs one file in one transaction and returns the files to sync next (those that
// also declare a cluster this file gave up).
func (d *Daemon) syncOne(ctx context.Context, path string) (successors []string, err error) {
	data, readErr := spec.ReadFile(path)
	var ft *fileTx
	err = d.store.Update(ctx, func(tx *db.Tx) error {
		ft = &fileTx{tx: tx, path: path}
		if err := ft.load(); err != nil {
			return err
		}
		switch {
		case spec.IsNotExist(readErr):
			return ft.removed()
		case readErr != nil:
			return ft.invalid(db.File{Path: path}, readErr)
		}
		rec := db.File{Path: path, FileHash: fileHash(data)}
		sc, warns, decErr := spec.Decode(data)
		if decErr != nil {
			return ft.invalid(rec, spec.AsFileError(path, decErr))
		}
		return ft.valid(rec, data, sc, warns)
	})
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", path, err)
	}
	d.changed()
	for _, k := range ft.touched {
		d.queue.Add(k)
	}
	return ft.successors, nil
}

// fileTx is the sync of one spec file inside one transaction: the helpers below each take a
// step of it, and collect the clusters it touched and the files to sync next.
type fileTx struct {
	tx   *db.Tx
	path string
	// prev is the file's record before this sync (hadPrev: there was one).
	prev    db.File
	hadPrev bool
	// owned is the cluster this file declared and owned until now, if any.
	owned *runtime.Key

	touched    []runtime.Key
	successors []string
}

// load reads what the database knows of the file and the cluster it owns.
func (ft *fileTx) load() error {
	prev, err := ft.tx.File(ft.path)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	ft.prev, ft.hadPrev = prev, err == nil
	if ft.hadPrev && prev.Name != "" && prev.Status != db.FileDuplicate {
		c, err := ft.tx.Cluster(prev.Namespace, prev.Name)
		switch {
		case err == nil && c.File == ft.path && !c.Deleted:
			ft.owned = &runtime.Key{Namespace: prev.Namespace, Name: prev.Name}
		case err != nil && !errors.Is(err, db.ErrNotFound):
			return err
		}
	}
	return nil
}

// release marks cluster k, which this file declared, deleted (to be torn down), and queues the
// other files that declare it: the first of them takes it over.
func (ft *fileTx) release(k runtime.Key) error {
	c, err := ft.tx.Cluster(k.Namespace, k.Name)
	if errors.Is(err, db.ErrNotFound) || (err == nil && c.File != ft.path) {
		return nil
	}
	if err != nil {
		return err
	}
	others, err := ft.tx.FilesDeclaring(k.Namespace, k.Name)
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.Path != ft.path {
			ft.successors = append(ft.successors, o.Path)
		}
	}
	ft.touched = append(ft.touched, k)
	if c.Deleted {
		return nil
	}
	if err := ft.tx.MarkDeleted(k.Namespace, k.Name); err != nil {
		return err
	}
	return ft.tx.AddEvent(k.Namespace, k.Name, normal("FileRemoved", fmt.Sprintf("%s no longer declares this cluster; tearing it down", ft.path)))
}

// removed handles a file that is gone: its cluster is released, and so is a cluster recorded
// with this file but without a file row (see rescan).
func (ft *fileTx) removed() error {
	if ft.owned != nil {
		if err := ft.release(*ft.owned); err != nil {
			return err
		}
	}
	if err := ft.tx.DeleteFile(ft.path); err != nil {
		return err
	}
	if ft.hadPrev {
		return nil
	}
	cs, err := ft.tx.Clusters()
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.File == ft.path && !c.Deleted {
			if err := ft.release(runtime.Key{Namespace: c.Namespace, Name: c.Name}); err != nil {
				return err
			}
		}
	}
	return nil
}

// invalid records a file that cannot be read or decoded (fileErr, from spec). A cluster it
// owns keeps running its last good spec, and status shows the file's errors.
func (ft *fileTx) invalid(rec db.File, fileErr error) error {
	rec.Status = db.FileInvalid
	var fe *spec.FileError
	if errors.As(fileErr, &fe) {
		rec.Namespace, rec.Name = fe.Namespace, fe.Name
		rec.Errors = fe.Lines()
	} else {
		rec.Errors = []string{ft.path + ": " + fileErr.Error()}
	}
	if ft.owned == nil {
		return ft.tx.PutFile(rec)
	}
	// Keep ownership: an invalid save must not tear the cluster down.
	rec.Namespace, rec.Name = ft.owned.Namespace, ft.owned.Name
	ft.touched = append(ft.touched, *ft.owned)
	if !ft.hadPrev || ft.prev.FileHash != rec.FileHash || ft.prev.Status != db.FileInvalid {
		msg := fmt.Sprintf("%s is invalid; the cluster keeps its last good spec: %s", ft.path, firstErrors(rec.Errors))
		if err := ft.tx.AddEvent(ft.owned.Namespace, ft.owned.Name, warning("InvalidSpec", msg)); err != nil {
			return err
		}
	}
	return ft.tx.PutFile(rec)
}

// valid records a valid file: it declares sc's cluster, unless another file declared it first.
func (ft *fileTx) valid(rec db.File, data []byte, sc *spec.SessionCluster, warns []spec.Warning) error {
	ns, name := sc.Key()
	k := runtime.Key{Namespace: ns, Name: name}
	rec.Namespace, rec.Name = ns, name
	if ft.owned != nil && *ft.owned != k {
		// The file now declares another cluster: the old one loses its file.
		if err := ft.release(*ft.owned); err != nil {
			return err
		}
	}
	existing, err := ft.tx.Cluster(ns, name)
	exists := err == nil
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	if exists && existing.File != ft.path && !existing.Deleted {
		dup, err := ft.duplicate(rec, existing)
		if dup || err != nil {
			return err
		}
	}
	rec.Status = db.FileOK
	if err := ft.tx.PutFile(rec); err != nil {
		return err
	}
	ft.touched = append(ft.touched, k)
	if exists && existing.FileHash == rec.FileHash && existing.File == ft.path && !existing.Deleted {
		return nil // unchanged
	}
	return ft.putDesired(rec, data, sc, warns, exists, existing)
}

// duplicate records rec as refused when existing, the cluster it declares, is held by another
// file that still declares it; dup says so.
func (ft *fileTx) duplicate(rec db.File, existing db.Cluster) (dup bool, err error) {
	holder, err := ft.tx.File(existing.File)
	if err != nil || holder.Namespace != rec.Namespace || holder.Name != rec.Name || holder.Status == db.FileDuplicate {
		return false, nil // the holder is gone or declares something else: rec takes over
	}
	rec.Status = db.FileDuplicate
	rec.Errors = []string{fmt.Sprintf("%s: declares %s/%s, which %s already declares; this file is ignored until that one is removed or renamed",
		ft.path, rec.Namespace, rec.Name, existing.File)}
	if !ft.hadPrev || ft.prev.Status != db.FileDuplicate || ft.prev.FileHash != rec.FileHash {
		if err := ft.tx.AddEvent(rec.Namespace, rec.Name, warning("DuplicateSpec", rec.Errors[0])); err != nil {
			return true, err
		}
	}
	ft.touched = append(ft.touched, runtime.Key{Namespace: rec.Namespace, Name: rec.Name})
	return true, ft.tx.PutFile(rec)
}

// putDesired records the file's spec as the cluster's desired state, with an event saying
// what changed.
func (ft *fileTx) putDesired(rec db.File, data []byte, sc *spec.SessionCluster, warns []spec.Warning, exists bool, existing db.Cluster) error {
	desired, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	ws := make([]string, 0, len(warns))
	for _, w := range warns {
		ws = append(ws, w.String())
	}
	err = ft.tx.PutDesired(db.DesiredSpec{
		Namespace: rec.Namespace, Name: rec.Name, File: ft.path, SpecYAML: data, FileHash: rec.FileHash, Desired: desired,
		DesiredState: string(sc.Spec.State), Target: sc.Spec.DeploymentTargetName, Image: sc.Image(), Warnings: ws,
	}, spec.PhaseStopped)
	if err != nil {
		return err
	}
	reason, msg := "SpecChanged", fmt.Sprintf("%s changed: state %s, %d TaskManagers, image %s", ft.path, sc.Spec.State, sc.TaskManagers(), sc.Image())
	switch {
	case !exists:
		reason, msg = "SpecAdded", fmt.Sprintf("read from %s: state %s, %d TaskManagers, image %s", ft.path, sc.Spec.State, sc.TaskManagers(), sc.Image())
	case existing.Deleted || existing.File != ft.path:
		reason = "SpecAdopted"
	}
	return ft.tx.AddEvent(rec.Namespace, rec.Name, normal(reason, msg))
}

func firstErrors(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	s := lines[0]
	if len(lines) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(lines)-1)
	}
	return s
}
