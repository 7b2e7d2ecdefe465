package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flinkd/flinkd/internal/spec"
)

// Tx is one transaction. Every row it writes carries the same timestamp, fixed at its start.
type Tx struct {
	tx        *sql.Tx
	ctx       context.Context
	now       time.Time
	maxEvents int
	hot       *hotStatements
}

// queryRow runs one of the store's prepared statements in the transaction.
func (tx *Tx) queryRow(st *sql.Stmt, args ...any) *sql.Row {
	return tx.tx.StmtContext(tx.ctx, st).QueryRowContext(tx.ctx, args...)
}

// Now is the transaction's timestamp.
func (tx *Tx) Now() time.Time { return tx.now }

// Cluster is one recorded SessionCluster.
type Cluster struct {
	Namespace string
	Name      string
	File      string
	SpecYAML  []byte
	// FileHash is the sha256 of SpecYAML, the file's bytes (not spec.Hash, the spec hash that
	// runtimes stamp on what they create).
	FileHash string
	// Desired is the decoded, defaulted spec as JSON (spec.SessionCluster).
	Desired []byte
	// Running is the spec that runs, as JSON; nil when nothing runs.
	Running      []byte
	DesiredState string
	Target       string
	// Image is the desired spec's image reference.
	Image   string
	Deleted bool
	Status
	Warnings []string
	// Autoscale is the autoscaler's state as JSON (table autoscale; the daemon's format); nil
	// when the cluster is not autoscaled.
	Autoscale []byte
	CreatedAt time.Time
	UpdatedAt time.Time
	// PhaseSince is when Phase last changed.
	PhaseSince time.Time
	// SpecChangedAt is when a save of the file last changed the desired spec.
	SpecChangedAt time.Time
}

// Status is what the daemon observed and decided on its last pass.
type Status struct {
	Phase     spec.Phase
	Message   string
	Refused   string
	TMDesired int
	TMReady   int
	RESTURL   string
}

// DesiredSpec is what a valid spec file says about its cluster.
type DesiredSpec struct {
	Namespace    string
	Name         string
	File         string
	SpecYAML     []byte
	FileHash     string // sha256 of SpecYAML
	Desired      []byte
	DesiredState string
	Target       string
	Image        string
	Warnings     []string
}

// File is one spec file of the folder.
type File struct {
	Path      string
	Namespace string // the cluster it declares, when a name could be read
	Name      string
	FileHash  string // sha256 of the content read
	Status    FileStatus
	Errors    []string
	UpdatedAt time.Time
}

// FileStatus says what became of a spec file.
type FileStatus string

const (
	FileOK        FileStatus = "ok"        // valid; it declares its cluster
	FileInvalid   FileStatus = "invalid"   // decoding or validation failed (Errors)
	FileDuplicate FileStatus = "duplicate" // valid, but another file declares the same cluster
)

// Event is one entry of a cluster's event log.
type Event struct {
	ID        int64
	Namespace string
	Name      string
	Time      time.Time
	Type      string // Normal | Warning
	Reason    string
	Message   string
}

// Event types.
const (
	Normal  = "Normal"
	Warning = "Warning"
)

const clusterColumns = `namespace, name, file, spec_yaml, file_hash, desired, running, desired_state, target,
	image, deleted, phase, message, refused, warnings, tm_desired, tm_ready, rest_url, created_at, updated_at, phase_since,
	spec_changed_at, autoscale.state`

// clustersFrom is what clusterColumns and statusColumns are read from: each cluster with
// its autoscaler state, when it has one.
const clustersFrom = `clusters LEFT JOIN autoscale USING (namespace, name)`

// statusColumns are clusterColumns without the specs (listing for status).
const statusColumns = `namespace, name, file, x'', file_hash, x'', NULL, desired_state, target,
	image, deleted, phase, message, refused, warnings, tm_desired, tm_ready, rest_url, created_at, updated_at, phase_since,
	spec_changed_at, autoscale.state`

func scanCluster(row interface{ Scan(...any) error }) (Cluster, error) {
	var c Cluster
	var running, autoscale sql.NullString
	var warnings string
	var deleted int
	var created, updated, since, specChanged int64
	err := row.Scan(&c.Namespace, &c.Name, &c.File, &c.SpecYAML, &c.FileHash, &c.Desired, &running,
		&c.DesiredState, &c.Target, &c.Image, &deleted, &c.Phase, &c.Message, &c.Refused, &warnings,
		&c.TMDesired, &c.TMReady, &c.RESTURL, &created, &updated, &since, &specChanged, &autoscale)
	if err != nil {
		return Cluster{}, err
	}
	if running.Valid {
		c.Running = []byte(running.String)
	}
	if autoscale.Valid {
		c.Autoscale = []byte(autoscale.String)
	}
	c.Deleted = deleted != 0
	if err := json.Unmarshal([]byte(warnings), &c.Warnings); err != nil {
		return Cluster{}, fmt.Errorf("decode warnings of %s/%s: %w", c.Namespace, c.Name, err)
	}
	c.CreatedAt, c.UpdatedAt, c.PhaseSince = fromMillis(created), fromMillis(updated), fromMillis(since)
	c.SpecChangedAt = fromMillis(specChanged)
	return c, nil
}

const clusterQuery = `SELECT ` + clusterColumns + ` FROM ` + clustersFrom + ` WHERE namespace = ? AND name = ?`

// Cluster returns one cluster, or ErrNotFound.
func (tx *Tx) Cluster(namespace, name string) (Cluster, error) {
	row := tx.queryRow(tx.hot.cluster, namespace, name)
	c, err := scanCluster(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Cluster{}, fmt.Errorf("cluster %s/%s: %w", namespace, name, ErrNotFound)
	}
	if err != nil {
		return Cluster{}, fmt.Errorf("read cluster %s/%s: %w", namespace, name, err)
	}
	return c, nil
}

// Clusters returns every cluster, ordered by namespace and name.
func (tx *Tx) Clusters() ([]Cluster, error) { return tx.listClusters(clusterColumns) }

// ClusterStatuses is Clusters without the specs (SpecYAML, Desired and Running are empty):
// what a status listing needs, read cheaply.
func (tx *Tx) ClusterStatuses() ([]Cluster, error) { return tx.listClusters(statusColumns) }

func (tx *Tx) listClusters(columns string) ([]Cluster, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+columns+` FROM `+clustersFrom+` ORDER BY namespace, name`)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	defer rows.Close()
	var out []Cluster
	for rows.Next() {
		c, err := scanCluster(rows)
		if err != nil {
			return nil, fmt.Errorf("list clusters: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	return out, nil
}

// PutDesired records what a valid file says: a new cluster starts in phase initialPhase; an
// existing one keeps its status and running spec, and stops being deleted. SpecChangedAt moves
// when the file hash changes.
func (tx *Tx) PutDesired(d DesiredSpec, initialPhase spec.Phase) error {
	warnings, err := json.Marshal(nonNil(d.Warnings))
	if err != nil {
		return err
	}
	now := millis(tx.now)
	_, err = tx.tx.ExecContext(tx.ctx, `
		INSERT INTO clusters (namespace, name, file, spec_yaml, file_hash, desired, desired_state, target, image,
			deleted, phase, warnings, created_at, updated_at, phase_since, spec_changed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (namespace, name) DO UPDATE SET
			spec_changed_at = CASE WHEN file_hash = excluded.file_hash THEN spec_changed_at ELSE excluded.spec_changed_at END,
			file = excluded.file, spec_yaml = excluded.spec_yaml, file_hash = excluded.file_hash,
			desired = excluded.desired, desired_state = excluded.desired_state, target = excluded.target,
			image = excluded.image, deleted = 0, warnings = excluded.warnings, updated_at = excluded.updated_at`,
		d.Namespace, d.Name, d.File, d.SpecYAML, d.FileHash, string(d.Desired), d.DesiredState, d.Target, d.Image,
		initialPhase, string(warnings), now, now, now, now)
	if err != nil {
		return fmt.Errorf("record spec of %s/%s: %w", d.Namespace, d.Name, err)
	}
	return nil
}

// SetRunning records the spec that runs (nil: nothing runs).
func (tx *Tx) SetRunning(namespace, name string, running []byte) error {
	var v any
	if running != nil {
		v = string(running)
	}
	return tx.exec1(fmt.Sprintf("record running spec of %s/%s", namespace, name),
		`UPDATE clusters SET running = ?, updated_at = ? WHERE namespace = ? AND name = ?`,
		v, millis(tx.now), namespace, name)
}

// SetStatus records the observed status; PhaseSince moves when the phase changes.
func (tx *Tx) SetStatus(namespace, name string, st Status) error {
	now := millis(tx.now)
	return tx.exec1(fmt.Sprintf("record status of %s/%s", namespace, name), `
		UPDATE clusters SET
			phase_since = CASE WHEN phase = ? THEN phase_since ELSE ? END,
			phase = ?, message = ?, refused = ?, tm_desired = ?, tm_ready = ?, rest_url = ?, updated_at = ?
		WHERE namespace = ? AND name = ?`,
		st.Phase, now, st.Phase, st.Message, st.Refused, st.TMDesired, st.TMReady, st.RESTURL, now, namespace, name)
}

// SetAutoscale records the autoscaler's state of a cluster (nil: it is not autoscaled).
func (tx *Tx) SetAutoscale(namespace, name string, state []byte) error {
	what := fmt.Sprintf("record autoscaler state of %s/%s", namespace, name)
	if state == nil {
		if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM autoscale WHERE namespace = ? AND name = ?`, namespace, name); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if _, err := tx.Cluster(namespace, name); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO autoscale (namespace, name, state) VALUES (?, ?, ?)
		ON CONFLICT (namespace, name) DO UPDATE SET state = excluded.state`, namespace, name, string(state))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// MarkDeleted records that the cluster's file is gone: it is to be torn down, then forgotten.
func (tx *Tx) MarkDeleted(namespace, name string) error {
	return tx.exec1(fmt.Sprintf("mark %s/%s deleted", namespace, name),
		`UPDATE clusters SET deleted = 1, updated_at = ? WHERE namespace = ? AND name = ?`,
		millis(tx.now), namespace, name)
}

// Forget removes the row of a cluster that is marked deleted. Its events stay. A cluster
// that a file declared again after it was marked (PutDesired clears the mark) is not
// removed: the error is ErrNotFound, and the caller's decision is stale.
func (tx *Tx) Forget(namespace, name string) error {
	return tx.exec1(fmt.Sprintf("forget %s/%s", namespace, name),
		`DELETE FROM clusters WHERE namespace = ? AND name = ? AND deleted = 1`, namespace, name)
}

// exec1 runs a statement that must change exactly one row (ErrNotFound otherwise).
func (tx *Tx) exec1(what, query string, args ...any) error {
	res, err := tx.tx.ExecContext(tx.ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// AddEvent appends an event to a cluster's log (at the transaction's time when ev.Time is
// zero) and drops the oldest beyond the per-cluster bound.
func (tx *Tx) AddEvent(namespace, name string, ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = tx.now
	}
	if ev.Type == "" {
		ev.Type = Normal
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO events (namespace, name, time, type, reason, message) VALUES (?, ?, ?, ?, ?, ?)`,
		namespace, name, millis(ev.Time), ev.Type, ev.Reason, ev.Message)
	if err != nil {
		return fmt.Errorf("record event of %s/%s: %w", namespace, name, err)
	}
	_, err = tx.tx.ExecContext(tx.ctx, `
		DELETE FROM events WHERE namespace = ? AND name = ? AND id <= (
			SELECT id FROM events WHERE namespace = ? AND name = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
		namespace, name, namespace, name, tx.maxEvents)
	if err != nil {
		return fmt.Errorf("prune events of %s/%s: %w", namespace, name, err)
	}
	return nil
}

// Events returns the last limit events of a cluster (all kept when limit <= 0), oldest first.
func (tx *Tx) Events(namespace, name string, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := tx.tx.QueryContext(tx.ctx, `
		SELECT id, namespace, name, time, type, reason, message FROM (
			SELECT * FROM events WHERE namespace = ? AND name = ? ORDER BY id DESC LIMIT ?
		) ORDER BY id`, namespace, name, limit)
	if err != nil {
		return nil, fmt.Errorf("list events of %s/%s: %w", namespace, name, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		var t int64
		if err := rows.Scan(&ev.ID, &ev.Namespace, &ev.Name, &t, &ev.Type, &ev.Reason, &ev.Message); err != nil {
			return nil, fmt.Errorf("list events of %s/%s: %w", namespace, name, err)
		}
		ev.Time = fromMillis(t)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// PutFile records what became of a spec file.
func (tx *Tx) PutFile(f File) error {
	errs, err := json.Marshal(nonNil(f.Errors))
	if err != nil {
		return err
	}
	_, err = tx.tx.ExecContext(tx.ctx, `
		INSERT INTO files (path, namespace, name, file_hash, status, errors, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (path) DO UPDATE SET namespace = excluded.namespace, name = excluded.name, file_hash = excluded.file_hash,
			status = excluded.status, errors = excluded.errors, updated_at = excluded.updated_at`,
		f.Path, f.Namespace, f.Name, f.FileHash, string(f.Status), string(errs), millis(tx.now))
	if err != nil {
		return fmt.Errorf("record file %s: %w", f.Path, err)
	}
	return nil
}

// DeleteFile forgets a spec file.
func (tx *Tx) DeleteFile(path string) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM files WHERE path = ?`, path); err != nil {
		return fmt.Errorf("forget file %s: %w", path, err)
	}
	return nil
}

const fileColumns = `path, namespace, name, file_hash, status, errors, updated_at`

func scanFile(row interface{ Scan(...any) error }) (File, error) {
	var f File
	var errs string
	var updated int64
	if err := row.Scan(&f.Path, &f.Namespace, &f.Name, &f.FileHash, &f.Status, &errs, &updated); err != nil {
		return File{}, err
	}
	if err := json.Unmarshal([]byte(errs), &f.Errors); err != nil {
		return File{}, fmt.Errorf("decode errors of %s: %w", f.Path, err)
	}
	f.UpdatedAt = fromMillis(updated)
	return f, nil
}

// File returns one spec file's record, or ErrNotFound.
func (tx *Tx) File(path string) (File, error) {
	f, err := scanFile(tx.tx.QueryRowContext(tx.ctx, `SELECT `+fileColumns+` FROM files WHERE path = ?`, path))
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, fmt.Errorf("file %s: %w", path, ErrNotFound)
	}
	if err != nil {
		return File{}, fmt.Errorf("read file %s: %w", path, err)
	}
	return f, nil
}

// Files returns every spec file's record, ordered by path.
func (tx *Tx) Files() ([]File, error) {
	return tx.queryFiles(`SELECT ` + fileColumns + ` FROM files ORDER BY path`)
}

// FilesDeclaring returns the files that declare a cluster, ordered by path.
func (tx *Tx) FilesDeclaring(namespace, name string) ([]File, error) {
	return tx.queryFiles(`SELECT `+fileColumns+` FROM files WHERE namespace = ? AND name = ? ORDER BY path`, namespace, name)
}

func (tx *Tx) queryFiles(query string, args ...any) ([]File, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("list files: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
