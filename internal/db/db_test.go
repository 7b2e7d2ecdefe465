package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flinkd.db")
	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func desired(ns, name, file string) DesiredSpec {
	return DesiredSpec{
		Namespace: ns, Name: name, File: file,
		SpecYAML: []byte("kind: SessionCluster\n"), FileHash: "h1",
		Desired: []byte(`{"kind":"SessionCluster"}`), DesiredState: "RUNNING", Target: "default",
		Warnings: []string{"spec.resources.taskmanager.memory: low"},
	}
}

// latestSchema is the number of embedded migrations.
func latestSchema(t *testing.T) int {
	t.Helper()
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: %v, %v", names, err)
	}
	return len(names)
}

func TestOpenMigratesOnceAndReopens(t *testing.T) {
	s, path := openTest(t)
	latest := latestSchema(t)
	v, err := s.SchemaVersion(t.Context())
	if err != nil || v != latest {
		t.Fatalf("schema version = %d, %v; want %d", v, err, latest)
	}
	if err := s.Update(t.Context(), func(tx *Tx) error { return tx.PutDesired(desired("default", "a", "/x/a.yaml"), "STOPPED") }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if v, _ := s2.SchemaVersion(t.Context()); v != latest {
		t.Fatalf("schema version after reopen = %d", v)
	}
	if _, err := s2.Cluster(t.Context(), "default", "a"); err != nil {
		t.Fatalf("cluster lost across reopen: %v", err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	s, path := openTest(t)
	if _, err := s.db.ExecContext(t.Context(), "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(t.Context(), path, nil)
	if err == nil {
		t.Fatal("open of a database from a newer flinkd succeeded")
	}
	if !errors.Is(err, ErrDamaged) {
		t.Errorf("err = %v, want ErrDamaged", err)
	}
	for _, part := range []string{path, "schema version 99", "newer than this flinkd", "move the database away"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("message lacks %q: %v", part, err)
		}
	}
}

func TestClusterLifecycle(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "f.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()

	if _, err := s.Cluster(ctx, "default", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing cluster: err = %v, want ErrNotFound", err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutDesired(desired("default", "a", "/x/a.yaml"), "STOPPED") }); err != nil {
		t.Fatal(err)
	}
	c, err := s.Cluster(ctx, "default", "a")
	if err != nil {
		t.Fatal(err)
	}
	if c.Phase != "STOPPED" || c.Running != nil || c.Deleted || c.File != "/x/a.yaml" || !c.CreatedAt.Equal(now) {
		t.Fatalf("new cluster = %+v", c)
	}
	if diff := cmp.Diff([]string{"spec.resources.taskmanager.memory: low"}, c.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	now = now.Add(time.Minute)
	err = s.Update(ctx, func(tx *Tx) error {
		if err := tx.SetRunning("default", "a", []byte(`{"running":true}`)); err != nil {
			return err
		}
		return tx.SetStatus("default", "a", Status{Phase: "STARTING", TMDesired: 2, RESTURL: "http://127.0.0.1:1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if err := s.Update(ctx, func(tx *Tx) error {
		return tx.SetStatus("default", "a", Status{Phase: "STARTING", TMDesired: 2, TMReady: 1})
	}); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Cluster(ctx, "default", "a")
	if string(c.Running) != `{"running":true}` || c.TMReady != 1 || c.Phase != "STARTING" {
		t.Fatalf("after status: %+v", c)
	}
	if want := now.Add(-time.Minute); !c.PhaseSince.Equal(want) {
		t.Errorf("phase since = %v, want %v (unchanged phase keeps its start)", c.PhaseSince, want)
	}

	// A new spec keeps status and running spec.
	d := desired("default", "a", "/x/a.yaml")
	d.FileHash = "h2"
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutDesired(d, "STOPPED") }); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Cluster(ctx, "default", "a")
	if c.FileHash != "h2" || c.Phase != "STARTING" || c.Running == nil {
		t.Fatalf("after new spec: %+v", c)
	}

	if err := s.Update(ctx, func(tx *Tx) error { return tx.MarkDeleted("default", "a") }); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Cluster(ctx, "default", "a")
	if !c.Deleted {
		t.Fatal("not marked deleted")
	}
	// A file that declares the cluster again before it is forgotten keeps it: a Forget
	// decided before that is refused and leaves the row (and no event) behind.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutDesired(d, "STOPPED") }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.AddEvent("default", "a", Event{Reason: "Deleted", Message: "stale"}); err != nil {
			return err
		}
		return tx.Forget("default", "a")
	}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("forget of a declared cluster: err = %v, want ErrNotFound", err)
	}
	if c, err := s.Cluster(ctx, "default", "a"); err != nil || c.Deleted {
		t.Fatalf("declared cluster after a refused forget: %+v, %v", c, err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.MarkDeleted("default", "a") }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.AddEvent("default", "a", Event{Reason: "Deleted", Message: "torn down"}); err != nil {
			return err
		}
		return tx.Forget("default", "a")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cluster(ctx, "default", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("forgotten cluster: err = %v", err)
	}
	evs, err := s.Events(ctx, "default", "a", 0)
	if err != nil || len(evs) != 1 || evs[0].Reason != "Deleted" || evs[0].Type != Normal {
		t.Fatalf("events after forget = %+v, %v; want the Deleted event kept", evs, err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SetStatus("default", "a", Status{Phase: "X"}) }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("status of a forgotten cluster: err = %v, want ErrNotFound", err)
	}
}

func TestEventsAreBoundedPerCluster(t *testing.T) {
	s, _ := openTest(t)
	s.SetMaxEvents(5)
	ctx := t.Context()
	for i := range 12 {
		err := s.Update(ctx, func(tx *Tx) error {
			if err := tx.AddEvent("default", "a", Event{Reason: "R", Message: fmt.Sprint(i)}); err != nil {
				return err
			}
			return tx.AddEvent("default", "b", Event{Reason: "R", Message: fmt.Sprint(i)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b"} {
		evs, err := s.Events(ctx, "default", name, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Message)
		}
		if diff := cmp.Diff([]string{"7", "8", "9", "10", "11"}, got); diff != "" {
			t.Errorf("events of %s (-want +got):\n%s", name, diff)
		}
	}
	evs, _ := s.Events(ctx, "default", "a", 2)
	if len(evs) != 2 || evs[0].Message != "10" || evs[1].Message != "11" {
		t.Errorf("last 2 events = %+v", evs)
	}
}

func TestFiles(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutFile(File{Path: "/s/a.yaml", Namespace: "default", Name: "a", FileHash: "1", Status: FileOK}); err != nil {
			return err
		}
		if err := tx.PutFile(File{Path: "/s/b.yaml", Namespace: "default", Name: "a", FileHash: "2", Status: FileDuplicate,
			Errors: []string{"declares default/a, already declared by /s/a.yaml"}}); err != nil {
			return err
		}
		return tx.PutFile(File{Path: "/s/c.yaml", Status: FileInvalid, Errors: []string{"metadata.name: Required value"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx *Tx) error {
		fs, err := tx.FilesDeclaring("default", "a")
		if err != nil {
			return err
		}
		if len(fs) != 2 || fs[0].Path != "/s/a.yaml" || fs[1].Status != FileDuplicate {
			return fmt.Errorf("files declaring default/a = %+v", fs)
		}
		if _, err := tx.File("/s/none.yaml"); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("missing file: err = %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.DeleteFile("/s/a.yaml") }); err != nil {
		t.Fatal(err)
	}
	fs, err := s.Files(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].Path != "/s/b.yaml" || fs[1].Errors[0] != "metadata.name: Required value" {
		t.Fatalf("files = %+v", fs)
	}
}

// A transition that fails half-way (an error, a panic, or a cancelled context) leaves no trace.
func TestFailedTransitionLeavesNoTrace(t *testing.T) {
	s, _ := openTest(t)
	if err := s.Update(t.Context(), func(tx *Tx) error { return tx.PutDesired(desired("default", "a", "/x/a.yaml"), "STOPPED") }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx *Tx) error {
		if err := tx.SetStatus("default", "a", Status{Phase: "RUNNING"}); err != nil {
			return err
		}
		if err := tx.AddEvent("default", "a", Event{Reason: "Running"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	err = s.Update(ctx, func(tx *Tx) error {
		if err := tx.SetStatus("default", "a", Status{Phase: "RUNNING"}); err != nil {
			return err
		}
		cancel() // the daemon is shutting down between two statements
		return tx.AddEvent("default", "a", Event{Reason: "Running"})
	})
	if err == nil {
		t.Fatal("update with a cancelled context committed")
	}
	func() {
		defer func() { recover() }()
		_ = s.Update(t.Context(), func(tx *Tx) error {
			if err := tx.SetStatus("default", "a", Status{Phase: "RUNNING"}); err != nil {
				return err
			}
			panic("crash between two statements")
		})
	}()
	c, err := s.Cluster(t.Context(), "default", "a")
	if err != nil {
		t.Fatal(err)
	}
	if c.Phase != "STOPPED" {
		t.Errorf("phase = %s after failed transitions, want STOPPED", c.Phase)
	}
	if evs, _ := s.Events(t.Context(), "default", "a", 0); len(evs) != 0 {
		t.Errorf("events after failed transitions: %+v", evs)
	}
	// The store is still usable.
	if err := s.Update(t.Context(), func(tx *Tx) error { return tx.SetStatus("default", "a", Status{Phase: "RUNNING"}) }); err != nil {
		t.Fatalf("update after failures: %v", err)
	}
}

func BenchmarkClusters1000(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "f.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	err = s.Update(b.Context(), func(tx *Tx) error {
		for i := range 1000 {
			if err := tx.PutDesired(desired("default", fmt.Sprintf("c%04d", i), fmt.Sprintf("/s/c%04d.yaml", i)), "RUNNING"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		cs, err := s.Clusters(b.Context())
		if err != nil || len(cs) != 1000 {
			b.Fatal(len(cs), err)
		}
	}
}

// BenchmarkOpenFull is a start-up's Open (integrity check included) of a full database: 1000
// clusters with the default 200 events each.
func BenchmarkOpenFull(b *testing.B) {
	path := filepath.Join(b.TempDir(), "f.db")
	s, err := Open(b.Context(), path, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		err := s.Update(b.Context(), func(tx *Tx) error {
			name := fmt.Sprintf("c%04d", i)
			if err := tx.PutDesired(desired("default", name, "/s/"+name+".yaml"), "RUNNING"); err != nil {
				return err
			}
			for range DefaultMaxEvents {
				if err := tx.AddEvent("default", name, Event{Reason: "Running", Message: strings.Repeat("m", 120)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	for b.Loop() {
		s, err := Open(b.Context(), path, nil)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	if st, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB")
	}
}

// A database written by the first schema is upgraded in place, its rows kept and the new
// image column backfilled from the recorded spec.
func TestUpgradeFromSchema1BackfillsImage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := migrationFS.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{string(v1), "PRAGMA user_version = 1", `INSERT INTO clusters
		(namespace, name, file, spec_yaml, spec_hash, desired, desired_state, target, phase, created_at, updated_at, phase_since)
		VALUES ('default', 'a', '/s/a.yaml', x'', 'h', '{"spec":{"flinkImageRegistry":"localhost","flinkImageRepository":"flink-sim","flinkImageTag":"1.20"}}', 'RUNNING', 'default', 'RUNNING', 1, 1, 1),
		       ('default', 'b', '/s/b.yaml', x'', 'h', '{"spec":{"flinkImageRepository":"flink","flinkImageTag":"1.20-scala_2.12"}}', 'RUNNING', 'default', 'RUNNING', 1, 1, 1)`} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cs, err := s.ClusterStatuses(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Image != "localhost/flink-sim:1.20" || cs[1].Image != "flink:1.20-scala_2.12" || cs[0].Phase != "RUNNING" {
		t.Fatalf("after upgrade: %+v", cs)
	}
	if cs[0].FileHash != "h" || !cs[0].SpecChangedAt.Equal(time.UnixMilli(1)) {
		t.Errorf("after upgrade: file hash %q (want the old spec_hash), spec changed at %v (want its updated_at)", cs[0].FileHash, cs[0].SpecChangedAt)
	}
	if cs[0].Desired != nil && len(cs[0].Desired) != 0 {
		t.Errorf("status listing read the spec: %q", cs[0].Desired)
	}
}

// A database of schema 3 kept its owner identity at random; from schema 4 that identity is a
// former one, whose clusters the daemon adopts, and the owner is recorded as the daemon says.
func TestUpgradeTurnsTheRandomIdentityIntoAFormerOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v3.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"0001_init.sql", "0002_cluster_image.sql", "0003_meta.sql"} {
		body, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, stmt := range []string{"PRAGMA user_version = 3", `INSERT INTO meta (key, value) VALUES ('identity', '0123456789abcdef')`} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := s.Identities(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Identities{Former: []string{"0123456789abcdef"}}, ids); diff != "" {
		t.Errorf("identities after the upgrade (-want +got):\n%s", diff)
	}
	want := Identities{Owner: "specs-0a1b", Former: []string{"0123456789abcdef", "other-9f"}}
	if err := s.SetIdentities(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.Identities(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identities after reopening (-want +got):\n%s", diff)
	}
}

// A damaged database stops flinkd at start with the path and what to do; it is never taken
// for an empty one. Truncations at every kind of place: to nothing, inside the header, at a
// page boundary, in the middle of a page.
func TestOpenRefusesATruncatedDatabase(t *testing.T) {
	s, path := openTest(t)
	for i := range 300 {
		err := s.Update(t.Context(), func(tx *Tx) error {
			if err := tx.PutDesired(desired("default", fmt.Sprintf("c%03d", i), fmt.Sprintf("/s/c%03d.yaml", i)), "STOPPED"); err != nil {
				return err
			}
			return tx.AddEvent("default", fmt.Sprintf("c%03d", i), Event{Reason: "R", Message: strings.Repeat("x", 300)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatalf("a write-ahead log is left after close; the test would not truncate the whole database")
	}
	if len(data) < 40*4096 {
		t.Fatalf("database is %d bytes; the test wants more pages", len(data))
	}
	for _, n := range []int{0, 60, 4096, len(data) / 2, len(data)/2 + 1000} {
		t.Run(fmt.Sprintf("to%dBytes", n), func(t *testing.T) {
			cut := filepath.Join(t.TempDir(), "flinkd.db")
			if err := os.WriteFile(cut, data[:n], 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(t.Context(), cut, nil)
			if err == nil {
				cs, _ := s.Clusters(t.Context())
				s.Close()
				t.Fatalf("open of a database truncated to %d of %d bytes succeeded (%d clusters)", n, len(data), len(cs))
			}
			if !errors.Is(err, ErrDamaged) {
				t.Errorf("err = %v, want ErrDamaged", err)
			}
			for _, part := range []string{cut, "damaged", "move " + cut} {
				if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(part)) {
					t.Errorf("message lacks %q: %v", part, err)
				}
			}
			if st, _ := os.Stat(cut); st.Size() != int64(n) {
				t.Errorf("the damaged file was changed: %d bytes, was %d", st.Size(), n)
			}
		})
	}
}

// A stop request is numbered per key, decided by ID (an older decision never overwrites a
// newer request), and its force applies only while it is pending or accepted.
func TestStopRequestLifecycle(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	var first, second StopRequest
	err := s.Update(ctx, func(tx *Tx) (err error) {
		if first, err = tx.NewStopRequest("team-a", "etl", true); err != nil {
			return err
		}
		second, err = tx.NewStopRequest("team-a", "etl", true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != 1 || second.ID != 2 || !second.Forced() {
		t.Fatalf("requests %+v, %+v", first, second)
	}
	first.Outcome, first.Message = StopRefused, "stale"
	if err := s.Update(ctx, func(tx *Tx) error { return tx.UpdateStopRequest(first) }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deciding a replaced request: %v, want ErrNotFound", err)
	}
	second.Outcome, second.Jobs, second.CancelledAt = StopAccepted, []Job{{ID: "j1", Name: "wc", State: "CANCELED"}}, time.UnixMilli(5)
	if err := s.Update(ctx, func(tx *Tx) error { return tx.UpdateStopRequest(second) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.StopRequest(ctx, "team-a", "etl")
	if err != nil || got.Outcome != StopAccepted || len(got.Jobs) != 1 || !got.CancelledAt.Equal(time.UnixMilli(5)) || !got.Forced() {
		t.Fatalf("accepted request read back as %+v (err %v)", got, err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.EndStopRequest("team-a", "etl") }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.StopRequest(ctx, "team-a", "etl"); got.Outcome != StopDone || got.Forced() {
		t.Errorf("ended request: %+v; its force must no longer apply", got)
	}
	if _, err := s.StopRequest(ctx, "team-b", "etl"); !errors.Is(err, ErrNotFound) {
		t.Errorf("request of another key: %v", err)
	}
}

// SpecChangedAt moves when a save changes the file's bytes, and only then.
func TestSpecChangedAtMovesWithTheFileHash(t *testing.T) {
	now := time.UnixMilli(1000).UTC()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "flinkd.db"), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(hash string) Cluster {
		t.Helper()
		d := desired("default", "a", "/x/a.yaml")
		d.FileHash = hash
		if err := s.Update(t.Context(), func(tx *Tx) error { return tx.PutDesired(d, "STOPPED") }); err != nil {
			t.Fatal(err)
		}
		c, err := s.Cluster(t.Context(), "default", "a")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := put("h1"); !c.SpecChangedAt.Equal(now) {
		t.Fatalf("new cluster: spec changed at %v, want %v", c.SpecChangedAt, now)
	}
	created := now
	now = now.Add(time.Minute)
	if c := put("h1"); !c.SpecChangedAt.Equal(created) {
		t.Errorf("same bytes again: spec changed at %v, want %v", c.SpecChangedAt, created)
	}
	if c := put("h2"); !c.SpecChangedAt.Equal(now) {
		t.Errorf("new bytes: spec changed at %v, want %v", c.SpecChangedAt, now)
	}
}

func TestClusterNamesListsEveryRecordedClusterDeletedOnesToo(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutDesired(desired("default", "a", "/x/a.yaml"), "STOPPED"); err != nil {
			return err
		}
		if err := tx.PutDesired(desired("team", "a", "/x/team-a.yaml"), "STOPPED"); err != nil {
			return err
		}
		return tx.MarkDeleted("team", "a")
	}); err != nil {
		t.Fatal(err)
	}
	names, err := s.ClusterNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[Name]bool{{"default", "a"}: true, {"team", "a"}: true}
	if !maps.Equal(names, want) {
		t.Errorf("ClusterNames = %v, want %v", names, want)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Forget("team", "a") }); err != nil {
		t.Fatal(err)
	}
	if names, _ := s.ClusterNames(ctx); names[Name{"team", "a"}] || !names[Name{"default", "a"}] {
		t.Errorf("ClusterNames after forgetting team/a = %v", names)
	}
}
