// Package db is flinkd's state in SQLite: each cluster's source file, its spec as read and as
// running, the observed phase, and a bounded event log per cluster.
//
// The database lives in one file opened with WAL, a busy timeout, foreign keys and immediate
// write transactions (all in the DSN, so every connection gets them), behind a single
// connection: flinkd is the only writer and flinkctl never opens it. Every state transition is
// one transaction (Store.Update), so a crash at any instant leaves the file consistent.
package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3" // and the database/sql driver "sqlite3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrNotFound is returned when a cluster or file is not recorded.
var ErrNotFound = errors.New("not found")

// ErrDamaged is wrapped by Open's error when the database file is damaged (truncated,
// corrupt, not a database) or was written by a newer flinkd: flinkd must not start on it,
// and must never replace it with an empty one by itself.
var ErrDamaged = errors.New("database cannot be used")

// DefaultMaxEvents is how many events are kept per cluster.
const DefaultMaxEvents = 200

// Store is flinkd's database.
type Store struct {
	db        *sql.DB
	now       func() time.Time
	maxEvents int
	hot       hotStatements
}

// hotStatements are the queries every reconcile pass of every cluster runs, prepared once
// at Open (with one connection, the transactions reuse them instead of preparing each
// query again: a tenth of an idle daemon's CPU with 100 clusters).
type hotStatements struct {
	cluster, stopRequest *sql.Stmt
}

func (s *Store) prepare(ctx context.Context) (err error) {
	if s.hot.cluster, err = s.db.PrepareContext(ctx, clusterQuery); err != nil {
		return fmt.Errorf("prepare the cluster query: %w", err)
	}
	if s.hot.stopRequest, err = s.db.PrepareContext(ctx, stopRequestQuery); err != nil {
		return fmt.Errorf("prepare the stop request query: %w", err)
	}
	return nil
}

// Open opens (creating if needed) the database at path, creates its folder with mode 0700,
// and applies pending migrations. now is the clock used for timestamps (time.Now if nil).
func Open(ctx context.Context, path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	if err := checkFile(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("_busy_timeout", "5000")
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	sdb, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(1)
	s := &Store{db: sdb, now: now, maxEvents: DefaultMaxEvents}
	if err := s.check(ctx); err != nil {
		sdb.Close()
		if isDamage(err) {
			return nil, damaged(path, err.Error())
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		sdb.Close()
		if errors.Is(err, ErrDamaged) {
			return nil, fmt.Errorf("database %s %w", path, err)
		}
		if isDamage(err) {
			return nil, damaged(path, err.Error())
		}
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	if err := s.prepare(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// checkFile refuses a database file that exists but is empty while no write-ahead log holds
// its content: SQLite would take it for a new database and flinkd would start with nothing.
// A database flinkd made is never empty: it holds at least its schema.
func checkFile(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a new database
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return damaged(path, "not a regular file")
	}
	if st.Size() > 0 {
		return nil
	}
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() > 0 {
		return nil // SQLite recovers the content from the log
	}
	return damaged(path, "the file is empty (truncated?)")
}

// errIntegrity is SQLite's quick_check finding damage.
var errIntegrity = errors.New("integrity check failed")

// isDamage says whether SQLite found the file corrupt or not a database at all.
func isDamage(err error) bool {
	var se sqlite3.Error
	return errors.Is(err, errIntegrity) ||
		(errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB))
}

// damaged is the error of a database flinkd will not start on: what is wrong, the path, and
// what to do.
func damaged(path, cause string) error {
	return fmt.Errorf("database %s is damaged (%s); flinkd does not start on it, so that it never forgets clusters silently. "+
		"Move %s and any %s-wal and %s-shm away (keep them for inspection) to start with an empty database: "+
		"flinkd then adopts the running clusters its spec files declare: %w", path, cause, path, path, path, ErrDamaged)
}

// Close closes the database.
func (s *Store) Close() error {
	for _, st := range []*sql.Stmt{s.hot.cluster, s.hot.stopRequest} {
		if st != nil {
			st.Close()
		}
	}
	return s.db.Close()
}

// SetMaxEvents changes how many events are kept per cluster (tests).
func (s *Store) SetMaxEvents(n int) { s.maxEvents = n }

func (s *Store) check(ctx context.Context) error {
	// Pages lost in the middle of the file (a truncation, a bad copy) show here, before
	// anything is read or written.
	var qc string
	if err := s.db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&qc); err != nil {
		return fmt.Errorf("check integrity: %w", err)
	}
	if qc != "ok" {
		first, _, _ := strings.Cut(qc, "\n")
		return fmt.Errorf("%w: %s", errIntegrity, first)
	}
	var fk int
	if err := s.db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if fk != 1 {
		return errors.New("foreign keys are not enabled")
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	return nil
}

// migrate applies the embedded migrations newer than PRAGMA user_version, each in its own
// transaction together with the version bump. Applied migrations are never edited.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(names) {
		return fmt.Errorf("has schema version %d, newer than this flinkd knows (%d): a newer flinkd wrote it. "+
			"Run that flinkd, or move the database away to start with an empty one "+
			"(flinkd then adopts the running clusters its spec files declare): %w", version, len(names), ErrDamaged)
	}
	for i, name := range names {
		n, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if err != nil || n != i+1 {
			return fmt.Errorf("migration %s is out of sequence", name)
		}
		if n <= version {
			continue
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("apply %s: %w", name, err)
		}
		// PRAGMA takes no parameters; n is an integer we parsed.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", n)); err != nil {
			tx.Rollback()
			return fmt.Errorf("record %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit %s: %w", name, err)
		}
	}
	return nil
}

// SchemaVersion returns the applied schema version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// Update runs fn in one write transaction: all of fn's changes are committed together, or
// none is (fn's error, a panic, or a cancelled ctx roll back).
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) (err error) {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			sqlTx.Rollback()
		}
	}()
	tx := &Tx{tx: sqlTx, ctx: ctx, now: s.now().UTC(), maxEvents: s.maxEvents, hot: &s.hot}
	if err := fn(tx); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// View runs fn in a read transaction.
func (s *Store) View(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	return fn(&Tx{tx: sqlTx, ctx: ctx, now: s.now().UTC(), maxEvents: s.maxEvents, hot: &s.hot})
}

// Cluster returns one cluster.
func (s *Store) Cluster(ctx context.Context, namespace, name string) (c Cluster, err error) {
	err = s.View(ctx, func(tx *Tx) error {
		c, err = tx.Cluster(namespace, name)
		return err
	})
	return c, err
}

// Clusters returns every cluster, ordered by namespace and name.
func (s *Store) Clusters(ctx context.Context) (cs []Cluster, err error) {
	err = s.View(ctx, func(tx *Tx) error {
		cs, err = tx.Clusters()
		return err
	})
	return cs, err
}

// Name is a cluster's namespace and name.
type Name struct{ Namespace, Name string }

// ClusterNames returns the name of every recorded cluster, in one query: what a check of
// "is this cluster recorded?" over many clusters needs (the sweep's), without reading rows.
func (s *Store) ClusterNames(ctx context.Context) (names map[Name]bool, err error) {
	err = s.View(ctx, func(tx *Tx) error {
		rows, err := tx.tx.QueryContext(tx.ctx, `SELECT namespace, name FROM clusters`)
		if err != nil {
			return fmt.Errorf("list cluster names: %w", err)
		}
		defer rows.Close()
		names = map[Name]bool{}
		for rows.Next() {
			var n Name
			if err := rows.Scan(&n.Namespace, &n.Name); err != nil {
				return fmt.Errorf("list cluster names: %w", err)
			}
			names[n] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list cluster names: %w", err)
		}
		return nil
	})
	return names, err
}

// ClusterStatuses returns every cluster without its specs, ordered by namespace and name.
func (s *Store) ClusterStatuses(ctx context.Context) (cs []Cluster, err error) {
	err = s.View(ctx, func(tx *Tx) error {
		cs, err = tx.ClusterStatuses()
		return err
	})
	return cs, err
}

// Files returns every recorded spec file, ordered by path.
func (s *Store) Files(ctx context.Context) (fs []File, err error) {
	err = s.View(ctx, func(tx *Tx) error {
		fs, err = tx.Files()
		return err
	})
	return fs, err
}

// Events returns the last limit events of a cluster (all kept when limit <= 0), oldest first.
func (s *Store) Events(ctx context.Context, namespace, name string, limit int) (evs []Event, err error) {
	err = s.View(ctx, func(tx *Tx) error {
		evs, err = tx.Events(namespace, name, limit)
		return err
	})
	return evs, err
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// Identities are the owner identities recorded in the database.
type Identities struct {
	// Owner is the identity flinkd last ran with ("" before the first run that recorded it).
	Owner string
	// Former are identities whose clusters this daemon adopted (the random identity of a
	// flinkd before identities were derived, one given with --adopt, an Owner that changed).
	Former []string
}

// Identities reads the recorded identities.
func (s *Store) Identities(ctx context.Context) (Identities, error) {
	var ids Identities
	err := s.View(ctx, func(tx *Tx) error {
		rows, err := tx.tx.QueryContext(ctx, `SELECT key, value FROM meta WHERE key = 'owner' OR key LIKE 'former:%' ORDER BY key`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			if k == "owner" {
				ids.Owner = v
			} else {
				ids.Former = append(ids.Former, v)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return Identities{}, fmt.Errorf("read owner identities: %w", err)
	}
	return ids, nil
}

// SetIdentities records the identity flinkd runs with and its former ones (which replace
// those recorded).
func (s *Store) SetIdentities(ctx context.Context, ids Identities) error {
	err := s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, `DELETE FROM meta WHERE key = 'owner' OR key LIKE 'former:%'`); err != nil {
			return err
		}
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('owner', ?)`, ids.Owner); err != nil {
			return err
		}
		for _, f := range ids.Former {
			if _, err := tx.tx.ExecContext(ctx, `INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)`, "former:"+f, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record owner identities: %w", err)
	}
	return nil
}
