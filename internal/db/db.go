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
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
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

	_ "github.com/mattn/go-sqlite3" // the database/sql driver "sqlite3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrNotFound is returned when a cluster or file is not recorded.
var ErrNotFound = errors.New("not found")

// DefaultMaxEvents is how many events are kept per cluster.
const DefaultMaxEvents = 200

// Store is flinkd's database.
type Store struct {
	db        *sql.DB
	now       func() time.Time
	maxEvents int
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
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// SetMaxEvents changes how many events are kept per cluster (tests).
func (s *Store) SetMaxEvents(n int) { s.maxEvents = n }

func (s *Store) check(ctx context.Context) error {
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
		return fmt.Errorf("database schema version %d is newer than this flinkd knows (%d)", version, len(names))
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
	tx := &Tx{tx: sqlTx, ctx: ctx, now: s.now().UTC(), maxEvents: s.maxEvents}
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
	return fn(&Tx{tx: sqlTx, ctx: ctx, now: s.now().UTC(), maxEvents: s.maxEvents})
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

// Identity returns this database's identity, made once at random: flinkd labels everything it
// creates with it (runtime.LabelOwner), so that daemons with different databases sharing an
// engine or a namespace keep apart. It is a valid Kubernetes label value.
func (s *Store) Identity(ctx context.Context) (string, error) {
	var id string
	err := s.Update(ctx, func(tx *Tx) error {
		err := tx.tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'identity'`).Scan(&id)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		id = hex.EncodeToString(b)
		_, err = tx.tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('identity', ?)`, id)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("database identity: %w", err)
	}
	return id, nil
}
