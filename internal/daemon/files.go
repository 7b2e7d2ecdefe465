package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
	"github.com/flinkd/flinkd/internal/watch"
)

// readSpecFile reads a spec file with spec's size limit. A missing file is fs.ErrNotExist.
func readSpecFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, spec.MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > spec.MaxFileSize {
		return nil, fmt.Errorf("is larger than %d KiB; a SessionCluster is a few KiB at most", spec.MaxFileSize>>10)
	}
	return data, nil
}

func sha(data []byte) string {
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

func (d *Daemon) syncOne(ctx context.Context, path string) (successors []string, err error) {
	data, readErr := readSpecFile(path)
	var touched []runtime.Key
	err = d.store.Update(ctx, func(tx *db.Tx) error {
		touched, successors = nil, nil
		prev, err := tx.File(path)
		hadPrev := err == nil
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		// The cluster this file declares and owns until now, if any.
		var owned *runtime.Key
		if hadPrev && prev.Name != "" && prev.Status != db.FileDuplicate {
			if c, err := tx.Cluster(prev.Namespace, prev.Name); err == nil && c.File == path && !c.Deleted {
				owned = &runtime.Key{Namespace: prev.Namespace, Name: prev.Name}
			} else if err != nil && !errors.Is(err, db.ErrNotFound) {
				return err
			}
		}
		release := func(k runtime.Key) error {
			c, err := tx.Cluster(k.Namespace, k.Name)
			if errors.Is(err, db.ErrNotFound) || (err == nil && c.File != path) {
				return nil
			}
			if err != nil {
				return err
			}
			others, err := tx.FilesDeclaring(k.Namespace, k.Name)
			if err != nil {
				return err
			}
			for _, o := range others {
				if o.Path != path {
					successors = append(successors, o.Path)
				}
			}
			touched = append(touched, k)
			if c.Deleted {
				return nil
			}
			if err := tx.MarkDeleted(k.Namespace, k.Name); err != nil {
				return err
			}
			return tx.AddEvent(k.Namespace, k.Name, normal("FileRemoved", fmt.Sprintf("%s no longer declares this cluster; tearing it down", path)))
		}

		if errors.Is(readErr, fs.ErrNotExist) {
			if owned != nil {
				if err := release(*owned); err != nil {
					return err
				}
			}
			if err := tx.DeleteFile(path); err != nil {
				return err
			}
			// A cluster recorded with this file but no file row (see rescan).
			if !hadPrev {
				cs, err := tx.Clusters()
				if err != nil {
					return err
				}
				for _, c := range cs {
					if c.File == path && !c.Deleted {
						if err := release(runtime.Key{Namespace: c.Namespace, Name: c.Name}); err != nil {
							return err
						}
					}
				}
			}
			return nil
		}

		rec := db.File{Path: path}
		var sc *spec.SessionCluster
		var warns []spec.Warning
		if readErr != nil {
			rec.Status = db.FileInvalid
			rec.Errors = []string{fmt.Sprintf("%s: read: %v", path, readErr)}
		} else {
			rec.Hash = sha(data)
			var decErr error
			sc, warns, decErr = spec.Decode(data)
			if decErr != nil {
				rec.Status = db.FileInvalid
				var se *spec.Errors
				if errors.As(decErr, &se) {
					rec.Namespace, rec.Name = se.Namespace, se.Name
					for _, l := range se.Lines() {
						rec.Errors = append(rec.Errors, path+": "+l)
					}
				} else {
					rec.Errors = []string{path + ": " + decErr.Error()}
				}
			}
		}
		if rec.Status == db.FileInvalid {
			// The cluster keeps running its last good spec; status shows the file's errors.
			if owned != nil {
				rec.Namespace, rec.Name = owned.Namespace, owned.Name
				rec.Status = db.FileInvalid
				touched = append(touched, *owned)
				if !hadPrev || prev.Hash != rec.Hash || prev.Status != db.FileInvalid {
					msg := fmt.Sprintf("%s is invalid; the cluster keeps its last good spec: %s", path, firstErrors(rec.Errors))
					if err := tx.AddEvent(owned.Namespace, owned.Name, warning("InvalidSpec", msg)); err != nil {
						return err
					}
				}
				// Keep ownership: an invalid save must not tear the cluster down.
				return tx.PutFile(rec)
			}
			return tx.PutFile(rec)
		}

		ns, name := sc.Key()
		k := runtime.Key{Namespace: ns, Name: name}
		rec.Namespace, rec.Name = ns, name
		if owned != nil && *owned != k {
			// The file now declares another cluster: the old one loses its file.
			if err := release(*owned); err != nil {
				return err
			}
		}
		existing, err := tx.Cluster(ns, name)
		exists := err == nil
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		if exists && existing.File != path && !existing.Deleted {
			if holder, err := tx.File(existing.File); err == nil && holder.Namespace == ns && holder.Name == name &&
				holder.Status != db.FileDuplicate {
				rec.Status = db.FileDuplicate
				rec.Errors = []string{fmt.Sprintf("%s: declares %s/%s, which %s already declares; this file is ignored until that one is removed or renamed",
					path, ns, name, existing.File)}
				if !hadPrev || prev.Status != db.FileDuplicate || prev.Hash != rec.Hash {
					if err := tx.AddEvent(ns, name, warning("DuplicateSpec", rec.Errors[0])); err != nil {
						return err
					}
				}
				touched = append(touched, k)
				return tx.PutFile(rec)
			}
		}
		rec.Status = db.FileOK
		if err := tx.PutFile(rec); err != nil {
			return err
		}
		if exists && existing.SpecHash == rec.Hash && existing.File == path && !existing.Deleted {
			touched = append(touched, k)
			return nil // unchanged
		}
		desired, err := json.Marshal(sc)
		if err != nil {
			return err
		}
		ws := make([]string, 0, len(warns))
		for _, w := range warns {
			ws = append(ws, w.String())
		}
		err = tx.PutDesired(db.DesiredSpec{
			Namespace: ns, Name: name, File: path, SpecYAML: data, SpecHash: rec.Hash, Desired: desired,
			DesiredState: string(sc.Spec.State), Target: sc.Spec.DeploymentTargetName, Image: sc.Image(), Warnings: ws,
		}, string(spec.PhaseStopped))
		if err != nil {
			return err
		}
		reason, msg := "SpecChanged", fmt.Sprintf("%s changed: state %s, %d TaskManagers, image %s", path, sc.Spec.State, sc.TaskManagers(), sc.Image())
		if !exists {
			reason, msg = "SpecAdded", fmt.Sprintf("read from %s: state %s, %d TaskManagers, image %s", path, sc.Spec.State, sc.TaskManagers(), sc.Image())
		} else if existing.Deleted || existing.File != path {
			reason = "SpecAdopted"
		}
		if err := tx.AddEvent(ns, name, normal(reason, msg)); err != nil {
			return err
		}
		touched = append(touched, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", path, err)
	}
	d.changed()
	for _, k := range touched {
		d.queue.Add(k)
	}
	return successors, nil
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
