package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// StopRequest is the latest stop asked for through the API for one cluster key (flinkctl
// stop [--force]). The API records it and waits for its outcome; the key's worker decides it.
// The key may be an orphan's: labelled resources that no spec file declares.
type StopRequest struct {
	Namespace string
	Name      string
	// ID numbers the requests of a key, from 1: the API waits for the outcome of its own.
	ID int64
	// Force cancels the jobs that run, and lets the teardown go ahead when the JobManager
	// cannot say whether jobs run.
	Force   bool
	Outcome StopOutcome
	Message string
	// Jobs are the jobs that refused the stop, or the ones a forced stop cancelled.
	Jobs []Job
	// CancelledAt is when the worker first cancelled the jobs (zero: it did not).
	CancelledAt time.Time
	CreatedAt   time.Time
	// DecidedAt is when the outcome was decided.
	DecidedAt time.Time
}

// StopOutcome is what became of a stop request.
type StopOutcome string

const (
	// StopPending: the worker has not decided yet (it may be cancelling jobs).
	StopPending StopOutcome = ""
	// StopAccepted: no job stands in the way (none runs, or a forced stop cancelled them, or
	// it was forced past a JobManager that cannot say); the API then sets spec.state: STOPPED.
	StopAccepted StopOutcome = "accepted"
	// StopRefused: jobs run, or it cannot be known whether they do, and the stop was not forced.
	StopRefused StopOutcome = "refused"
	// StopDone: the cluster is stopped or gone (or was started again); the request no
	// longer applies.
	StopDone StopOutcome = "done"
)

// Live reports whether the request still applies to what runs: its force is honoured while it
// is pending or accepted.
func (r StopRequest) Live() bool { return r.Outcome == StopPending || r.Outcome == StopAccepted }

// Forced reports whether a live request forces the stop.
func (r *StopRequest) Forced() bool { return r != nil && r.Force && r.Live() }

// Job is a Flink job named by a stop request.
type Job struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
}

const stopRequestQuery = `SELECT id, force, outcome, message, jobs, cancelled_at, created_at, decided_at
	FROM stop_requests WHERE namespace = ? AND name = ?`

// StopRequest returns the latest stop request of a key, or ErrNotFound.
func (tx *Tx) StopRequest(namespace, name string) (StopRequest, error) {
	r := StopRequest{Namespace: namespace, Name: name}
	var force int
	var jobs string
	var cancelled, created, decided int64
	err := tx.queryRow(tx.hot.stopRequest, namespace, name).
		Scan(&r.ID, &force, &r.Outcome, &r.Message, &jobs, &cancelled, &created, &decided)
	if errors.Is(err, sql.ErrNoRows) {
		return StopRequest{}, fmt.Errorf("stop request of %s/%s: %w", namespace, name, ErrNotFound)
	}
	if err != nil {
		return StopRequest{}, fmt.Errorf("read stop request of %s/%s: %w", namespace, name, err)
	}
	if err := json.Unmarshal([]byte(jobs), &r.Jobs); err != nil {
		return StopRequest{}, fmt.Errorf("decode jobs of the stop request of %s/%s: %w", namespace, name, err)
	}
	r.Force = force != 0
	r.CreatedAt = fromMillis(created)
	if cancelled != 0 {
		r.CancelledAt = fromMillis(cancelled)
	}
	if decided != 0 {
		r.DecidedAt = fromMillis(decided)
	}
	return r, nil
}

// NewStopRequest records a new, pending stop request for a key (replacing the last one) and
// returns it.
func (tx *Tx) NewStopRequest(namespace, name string, force bool) (StopRequest, error) {
	var id int64
	err := tx.tx.QueryRowContext(tx.ctx, `
		INSERT INTO stop_requests (namespace, name, id, force, created_at) VALUES (?, ?, 1, ?, ?)
		ON CONFLICT (namespace, name) DO UPDATE SET id = id + 1, force = excluded.force, outcome = '',
			message = '', jobs = '[]', cancelled_at = 0, created_at = excluded.created_at, decided_at = 0
		RETURNING id`, namespace, name, boolInt(force), millis(tx.now)).Scan(&id)
	if err != nil {
		return StopRequest{}, fmt.Errorf("record stop request of %s/%s: %w", namespace, name, err)
	}
	return StopRequest{Namespace: namespace, Name: name, ID: id, Force: force, CreatedAt: tx.now}, nil
}

// UpdateStopRequest records the worker's progress on request r (matched by its ID, so that a
// newer request is never overwritten: ErrNotFound then).
func (tx *Tx) UpdateStopRequest(r StopRequest) error {
	jobs, err := json.Marshal(nonNilJobs(r.Jobs))
	if err != nil {
		return err
	}
	var cancelled, decided int64
	if !r.CancelledAt.IsZero() {
		cancelled = millis(r.CancelledAt)
	}
	if !r.DecidedAt.IsZero() {
		decided = millis(r.DecidedAt)
	}
	return tx.exec1(fmt.Sprintf("record stop request %d of %s/%s", r.ID, r.Namespace, r.Name), `
		UPDATE stop_requests SET force = ?, outcome = ?, message = ?, jobs = ?, cancelled_at = ?, decided_at = ?
		WHERE namespace = ? AND name = ? AND id = ?`,
		boolInt(r.Force), string(r.Outcome), r.Message, string(jobs), cancelled, decided, r.Namespace, r.Name, r.ID)
}

// EndStopRequest marks a key's live stop request done (the cluster was started again, or is
// stopped or gone): its force no longer applies.
func (tx *Tx) EndStopRequest(namespace, name string) error {
	_, err := tx.tx.ExecContext(tx.ctx, `UPDATE stop_requests SET outcome = 'done', decided_at = ?
		WHERE namespace = ? AND name = ? AND outcome IN ('', 'accepted')`, millis(tx.now), namespace, name)
	if err != nil {
		return fmt.Errorf("end stop request of %s/%s: %w", namespace, name, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func nonNilJobs(j []Job) []Job {
	if j == nil {
		return []Job{}
	}
	return j
}

// StopRequest returns the latest stop request of a key, or ErrNotFound.
func (s *Store) StopRequest(ctx context.Context, namespace, name string) (r StopRequest, err error) {
	err = s.View(ctx, func(tx *Tx) error {
		r, err = tx.StopRequest(namespace, name)
		return err
	})
	return r, err
}
