// Package watch watches the specs folder and tells its consumer which spec files may have
// changed. It never says how a file changed: editors that save by renaming a temporary file
// over the spec make event kinds lie, so the consumer stats and reads the file itself and
// treats a missing file as a removed spec (its cluster is to be deleted).
//
// A Watcher watches the folder, never single files, through fsnotify. It sends:
//
//   - Change{Path: p} when spec file p may have been created, written, chmod'ed, renamed or
//     removed. The events of one burst (one save: write, chmod, rename-over) are debounced
//     per path into one Change, sent Config.Debounce (DefaultDebounce) after the last event.
//   - Change{Rescan: true} when the consumer must list the folder (ListSpecs) and re-read
//     every spec: first thing on start, when the folder appears, disappears or is replaced,
//     when fsnotify reports an overflow or an error (events may be lost), and when a
//     Kubernetes-style "..data" symlink in the folder is swapped.
//
// Half-written files are handled in two places. The watcher's part: every write restarts the
// path's quiet period, so a save that writes in several steps gives one Change after its
// last step, and any write after a Change gives another Change. The consumer's part: it
// parses what it reads and does not apply a file that fails to parse. If it read a file that
// was still being written (a writer slower than the quiet period), the rest of the write is
// a later event and so a later Change, and the consumer reads the complete file then.
//
// Names are filtered by IsSpecFile: only .yaml/.yml files, never hidden files, editor
// backups or temporary files.
//
// Symlinks:
//   - A spec file in the folder may be a symlink (ListSpecs follows it). Creating, replacing
//     or removing the link gives a Change for the link. Edits of the link's target give none
//     (even when the target is another spec in the folder: that one gets the Change), except
//     in the Kubernetes layout below, whose updates swap ..data.
//   - The folder itself may be a symlink (specs -> specs.v2). The target is watched, and
//     re-pointing the link (ln -sfn specs.v3 specs) is noticed within about 250 ms and gives
//     a Rescan. Change.Path is filepath.Join(Config.Dir, name), never the resolved target.
//   - The Kubernetes ConfigMap layout (x.yaml -> ..data/x.yaml, ..data -> ..2024_01_01...)
//     works: an atomic update swaps ..data, which gives one debounced Rescan.
//
// Subfolders are not watched and not listed.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	// DefaultDebounce is the quiet period after the last event of a burst: short enough that
	// a save is acted on within about twice that, long enough to gather one editor's save.
	// It is flinkd's one debounce default.
	DefaultDebounce = 50 * time.Millisecond
	// DefaultDir is the specs folder when Config.Dir is empty (flinkd's --specs default).
	DefaultDir = "specs"

	// pollInterval is how often a missing folder is looked for, without backoff, and how
	// often a watched folder is checked for having been replaced (a re-pointed symlink).
	pollInterval = 250 * time.Millisecond
	// backoffBase and backoffMax bound the retries after the watch broke or could not be set
	// up for a reason other than a missing folder.
	backoffBase = 250 * time.Millisecond
	backoffMax  = 10 * time.Second
)

// Change is one message of a Watcher. Exactly one of Path and Rescan is set.
type Change struct {
	// Path is filepath.Join(Config.Dir, name) of one spec file that may have changed
	// (created, written, removed). It has the same form as ListSpecs(Config.Dir) returns.
	Path string
	// Rescan asks the consumer to list the folder and re-read every spec (start, overflow,
	// watcher error, folder appeared, disappeared or was replaced). A spec it knows of that
	// the listing lacks was removed.
	Rescan bool
}

// Config configures a Watcher.
type Config struct {
	// Dir is the specs folder. It need not exist yet. Empty means DefaultDir.
	Dir string
	// Debounce is the quiet period: one Change per path, sent Debounce after the last event
	// of a burst. Zero means DefaultDebounce.
	Debounce time.Duration
	// Logger receives the watcher's logs. Nil discards them.
	Logger *slog.Logger
}

// Watcher watches one specs folder. Create it with New and start it with Run.
type Watcher struct {
	dir      string
	debounce time.Duration
	log      *slog.Logger

	// onWatch, when set (tests only), is called with every fsnotify watcher Run sets up,
	// before the Rescan that follows.
	onWatch func(*fsnotify.Watcher)
}

// New returns a Watcher for cfg, with defaults applied. It does no I/O.
func New(cfg Config) *Watcher {
	w := &Watcher{
		dir:      filepath.Clean(cfg.Dir),
		debounce: cfg.Debounce,
		log:      cfg.Logger,
	}
	if cfg.Dir == "" {
		w.dir = DefaultDir
	}
	if w.debounce <= 0 {
		w.debounce = DefaultDebounce
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	return w
}

// Run watches the folder until ctx ends, then returns nil once all its goroutines have
// stopped; only a programming error (a nil out) returns early. It never closes out.
//
// The first thing Run sends is a Rescan, even when the folder does not exist yet (the
// consumer then lists nothing). While the folder is missing Run looks for it every 250 ms,
// without backoff, and sends a Rescan when it appears. When the folder disappears or is
// replaced, Run sends a Rescan and watches whatever is there now. When the watch breaks
// (an fsnotify error or overflow), Run sends a Rescan at once, sets the watch up again
// after a capped exponential backoff (250 ms to 10 s), and sends another Rescan then.
//
// Run keeps reading filesystem events while out is not read: Changes wait, collapsed per
// path, until the consumer takes them.
func (w *Watcher) Run(ctx context.Context, out chan<- Change) error {
	if out == nil {
		return errors.New("run specs watcher: nil output channel")
	}
	ctx, cancel := context.WithCancel(ctx)
	in := make(chan item)
	var wg sync.WaitGroup
	wg.Go(func() { debounce(ctx, w.debounce, in, out) })
	defer wg.Wait()
	defer cancel()

	l := &loop{w: w, in: in, bo: backoff{base: backoffBase, max: backoffMax}}
	l.run(ctx)
	return nil
}

// loop is the state of one Run: the current fsnotify watcher (nil while the folder is not
// watched) and the identity of the folder it watches.
type loop struct {
	w  *Watcher
	in chan<- item

	fw    *fsnotify.Watcher
	dirID os.FileInfo
	since time.Time // when fw was set up
	bo    backoff

	// Last reported problem, so that a streak is logged once and its end once.
	missing, failing bool
}

func (l *loop) run(ctx context.Context) {
	defer l.stop()

	next := l.start()
	l.send(ctx, Change{Rescan: true}, true)
	timer := time.NewTimer(next)
	defer timer.Stop()

	for {
		var events <-chan fsnotify.Event
		var errs <-chan error
		if l.fw != nil {
			events, errs = l.fw.Events, l.fw.Errors
		}
		select {
		case <-ctx.Done():
			return

		case ev, ok := <-events:
			if !ok {
				timer.Reset(l.broken(ctx, errors.New("fsnotify closed its event channel")))
				continue
			}
			if filepath.Clean(ev.Name) == l.w.dir {
				if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
					timer.Reset(l.gone(ctx))
				}
				continue
			}
			l.w.log.Debug("specs folder event", "path", ev.Name)
			switch base := filepath.Base(ev.Name); {
			case strings.HasPrefix(base, ".."):
				// Kubernetes' atomic writer swaps ..data to update every file at once.
				l.send(ctx, Change{Rescan: true}, false)
			case IsSpecFile(base):
				l.send(ctx, Change{Path: filepath.Join(l.w.dir, base)}, false)
			}

		case err, ok := <-errs:
			if !ok {
				err = errors.New("fsnotify closed its error channel")
			}
			timer.Reset(l.broken(ctx, err))

		case <-timer.C:
			if l.fw == nil {
				next := l.start()
				if l.fw != nil {
					l.send(ctx, Change{Rescan: true}, true)
				}
				timer.Reset(next)
				continue
			}
			info, err := os.Stat(l.w.dir)
			if err != nil || !os.SameFile(info, l.dirID) {
				timer.Reset(l.gone(ctx))
				continue
			}
			timer.Reset(pollInterval)
		}
	}
}

// start tries to set up the watch. It returns when to try again (or, once watching, when to
// check that the folder was not replaced).
func (l *loop) start() time.Duration {
	fw, info, err := l.w.watch()
	switch {
	case err == nil:
		l.fw, l.dirID, l.since = fw, info, time.Now()
		if l.missing || l.failing {
			l.w.log.Info("watching specs folder", "path", l.w.dir)
		} else {
			l.w.log.Debug("watching specs folder", "path", l.w.dir)
		}
		l.missing, l.failing = false, false
		if l.w.onWatch != nil {
			l.w.onWatch(fw)
		}
		return pollInterval
	case errors.Is(err, fs.ErrNotExist):
		if !l.missing {
			l.w.log.Info("specs folder missing, waiting for it", "path", l.w.dir)
		}
		l.missing, l.failing = true, false
		return pollInterval
	default:
		d := l.bo.next()
		if !l.failing {
			l.w.log.Warn("cannot watch specs folder", "path", l.w.dir, "err", err, "attempt", l.bo.n)
		} else {
			l.w.log.Debug("cannot watch specs folder", "path", l.w.dir, "err", err, "attempt", l.bo.n)
		}
		l.missing, l.failing = false, true
		return d
	}
}

// gone handles a folder that was removed, renamed away or replaced: it watches what is
// there now (if anything) and sends one Rescan.
func (l *loop) gone(ctx context.Context) time.Duration {
	l.w.log.Debug("specs folder removed or replaced", "path", l.w.dir)
	l.stop()
	next := l.start()
	l.send(ctx, Change{Rescan: true}, true)
	return next
}

// broken handles a watch that reported an error or lost events: Rescan now, watch again
// after a backoff (reset when the broken watch had been healthy for a while).
func (l *loop) broken(ctx context.Context, err error) time.Duration {
	if time.Since(l.since) > backoffMax {
		l.bo.reset()
	}
	d := l.bo.next()
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		l.w.log.Warn("specs folder events lost, rescanning", "path", l.w.dir, "attempt", l.bo.n)
	} else {
		l.w.log.Warn("specs folder watch broken, rescanning", "path", l.w.dir, "err", err, "attempt", l.bo.n)
	}
	l.failing = true
	l.stop()
	l.send(ctx, Change{Rescan: true}, true)
	return d
}

func (l *loop) stop() {
	if l.fw == nil {
		return
	}
	if err := l.fw.Close(); err != nil {
		l.w.log.Debug("close fsnotify watcher", "err", err)
	}
	l.fw, l.dirID = nil, nil
}

// send hands c to the debouncer; now skips the quiet period.
func (l *loop) send(ctx context.Context, c Change, now bool) {
	select {
	case l.in <- item{change: c, now: now}:
	case <-ctx.Done():
	}
}

// watch sets up an fsnotify watch on the folder and returns it with the folder's identity,
// taken before the watch so that a replacement in between is caught by the next check.
func (w *Watcher) watch() (*fsnotify.Watcher, os.FileInfo, error) {
	info, err := os.Stat(w.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("stat specs folder: %w", err)
	}
	if !info.IsDir() {
		return nil, nil, fmt.Errorf("specs folder %s is not a directory", w.dir)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, nil, fmt.Errorf("create fsnotify watcher: %w", err)
	}
	if err := fw.Add(w.dir); err != nil {
		_ = fw.Close() // the Add error is the one that matters
		return nil, nil, fmt.Errorf("watch specs folder %s: %w", w.dir, err)
	}
	return fw, info, nil
}

// backoff is a capped exponential delay: base, 2*base, 4*base, ... up to max. n counts the
// delays handed out since the last reset.
type backoff struct {
	base, max, cur time.Duration
	n              int
}

func (b *backoff) next() time.Duration {
	b.n++
	if b.cur == 0 {
		b.cur = b.base
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur, b.n = 0, 0 }
