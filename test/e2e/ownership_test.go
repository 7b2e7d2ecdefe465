package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "github.com/mattn/go-sqlite3" // the database/sql driver "sqlite3", to age a database

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/client"
)

// The data folder deleted under two running clusters (a user "resetting" flinkd): the next
// flinkd on the same specs folder has the same owner identity and adopts both as they are
// (same containers, the job untouched, a fresh event history saying so); removing a file then
// tears its cluster down; and a cluster whose file went while flinkd had no database is
// removed as an orphan once its job is gone, not before.
func TestLostDatabaseAdoptsWhatTheFilesDeclare(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	a, b := uniqueName("lost-a"), uniqueName("lost-b")
	f.write("a.yaml", clusterYAML(a, "RUNNING", 2, ""))
	f.write("b.yaml", clusterYAML(b, "RUNNING", 1, ""))
	csA := f.waitRunning(a, 2)
	f.waitRunning(b, 1)
	job := submitJob(t, csA.RESTURL, "wordcount", 1)
	waitJobState(t, csA.RESTURL, job, "RUNNING")
	idsA, idsB := containerIDs(f.clusterContainers(a)), containerIDs(f.clusterContainers(b))

	f.stop()
	if err := os.RemoveAll(f.data); err != nil {
		t.Fatal(err)
	}
	f.start() // fails the test if the owner identity changed with the database

	csA = f.waitRunning(a, 2)
	f.waitRunning(b, 1)
	for name, want := range map[string]map[string]string{a: idsA, b: idsB} {
		if diff := cmp.Diff(want, containerIDs(f.clusterContainers(name))); diff != "" {
			t.Errorf("%s: containers after the lost database (-before +after):\n%s", name, diff)
		}
		evs := f.events(name)
		if len(evs) == 0 || evs[0].Reason != "SpecAdded" {
			t.Errorf("%s: the history does not start afresh with the file:\n%s", name, formatEvents(evs))
		}
		if _, ok := findEvent(evs, "Adopted", "jobmanager "+want["jobmanager"][:12]); !ok {
			t.Errorf("%s: no Adopted event naming the JobManager container:\n%s", name, formatEvents(evs))
		}
		for _, reason := range []string{"Created", "Replaced", "Removed", "ApplyFailed"} {
			if e, ok := findEvent(evs, reason, ""); ok {
				t.Errorf("%s: adopting it did %s: %s", name, reason, e.Message)
			}
		}
	}
	if s := jobState(t, csA.RESTURL, job); s != "RUNNING" {
		t.Errorf("job after the adoption is %s", s)
	}
	if n := jobRestarts(t, csA.RESTURL, job); n != 0 {
		t.Errorf("job restarted %d times across the adoption", n)
	}

	// Removing a file tears its cluster down, as for any cluster.
	if err := os.Remove(filepath.Join(f.specs, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	f.waitGone(b)
	if diff := cmp.Diff(idsA, containerIDs(f.clusterContainers(a))); diff != "" {
		t.Errorf("%s changed while %s was removed (-before +after):\n%s", a, b, diff)
	}

	// A file removed while flinkd had no database: nothing records the cluster, which its
	// identity owns and no file declares. The orphan sweep removes it, with the usual rule:
	// not while a job runs on it.
	f.stop()
	if err := os.RemoveAll(f.data); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.specs, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	f.start()
	deadline := time.Now().Add(waitLong)
	for !f.orphanHeld(3, a) {
		if time.Now().After(deadline) {
			t.Fatalf("the orphan %s with a running job was not held; log:\n%s", a, f.logTail(60))
		}
		time.Sleep(pollInterval) // poll interval
	}
	if diff := cmp.Diff(idsA, containerIDs(f.clusterContainers(a))); diff != "" {
		t.Fatalf("the orphan was changed while its job ran (-before +after):\n%s", diff)
	}
	cancelJob(t, csA.RESTURL, job)
	f.waitNoContainers(a)
}

// orphanHeld says whether the daemon (since its start number start) held the removal of
// orphan default/name because jobs run on it: in its log, or in a status row of the orphan
// saying so.
func (f *flinkd) orphanHeld(start int, name string) bool {
	f.t.Helper()
	if strings.Contains(f.logOfStart(start), `"msg":"orphaned cluster not removed: jobs run on it","cluster":"default/`+name+`"`) {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	all, _, err := f.client().Clusters(ctx)
	if err != nil {
		return false
	}
	for _, cs := range all {
		if cs.Name == name && strings.Contains(cs.Message, "held") {
			return true
		}
	}
	return false
}

// waitGone waits until cluster default/name is forgotten and nothing of it is left.
func (f *flinkd) waitGone(name string) {
	f.t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		_, err := f.status(name)
		if client.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s not forgotten within %s (err %v)", name, waitLong, err)
		}
		time.Sleep(pollInterval) // poll interval
	}
	f.waitNoContainers(name)
}

// waitNoContainers waits until this daemon's identity labels no container or network of
// cluster default/name.
func (f *flinkd) waitNoContainers(name string) {
	f.t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		n := len(f.clusterContainers(name))
		for _, nw := range f.networks() {
			if nw.Name == "flinkd_default_"+name {
				n++
			}
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: %d containers or networks left after %s; log:\n%s", name, n, waitLong, f.logTail(40))
		}
		time.Sleep(pollInterval) // poll interval
	}
}

// Two daemons on two specs folders share the engine. Neither sees, changes or sweeps the
// other's cluster, before and after either loses its database; a name the other holds is
// reported as the other flinkd's (its owner and folder), and status --all-owners lists it.
func TestTwoDaemonsOnOneEngineKeepApartAcrossLostDatabases(t *testing.T) {
	t.Parallel()
	one, two := newFlinkd(t), newFlinkd(t)
	if one.owner == two.owner {
		t.Fatalf("two specs folders share the owner identity %s", one.owner)
	}
	x, y := uniqueName("one"), uniqueName("two")
	one.write("x.yaml", clusterYAML(x, "RUNNING", 1, ""))
	two.write("y.yaml", clusterYAML(y, "RUNNING", 1, ""))
	one.waitRunning(x, 1)
	two.waitRunning(y, 1)
	idsX, idsY := containerIDs(one.clusterContainers(x)), containerIDs(two.clusterContainers(y))
	oneSpecs, err := filepath.EvalSymlinks(one.specs)
	if err != nil {
		t.Fatal(err)
	}

	// The second daemon's file declares the first one's cluster: refused, and said so.
	two.write("x.yaml", clusterYAML(x, "RUNNING", 1, ""))
	cs := two.waitCluster(x, "FAILED as another flinkd's", func(cs api.ClusterStatus) bool {
		return cs.Phase == "FAILED" && strings.Contains(cs.Message, "belongs to another flinkd")
	})
	for _, part := range []string{one.owner, oneSpecs, "rename this SessionCluster"} {
		if !strings.Contains(cs.Message, part) {
			t.Errorf("message lacks %q: %s", part, cs.Message)
		}
	}
	if strings.Contains(cs.Message, "not managed by flinkd") {
		t.Errorf("another flinkd's cluster reported as not flinkd's: %s", cs.Message)
	}
	r := two.flinkctl("status", "--all-owners", "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"owner": "`+one.owner+`"`) || !strings.Contains(r.Stdout, oneSpecs) ||
		!strings.Contains(r.Stdout, `"name": "`+x+`"`) {
		t.Errorf("status --all-owners of the second daemon does not list %s of %s:\n%s", x, one.owner, r)
	}
	if strings.Contains(r.Stdout, `"owner": "`+two.owner+`"`) {
		t.Errorf("status --all-owners lists the daemon's own clusters as another owner's:\n%s", r)
	}

	check := func(when string) {
		t.Helper()
		if diff := cmp.Diff(idsX, containerIDs(one.clusterContainers(x))); diff != "" {
			t.Errorf("%s: %s changed (-before +after):\n%s", when, x, diff)
		}
		if diff := cmp.Diff(idsY, containerIDs(two.clusterContainers(y))); diff != "" {
			t.Errorf("%s: %s changed (-before +after):\n%s", when, y, diff)
		}
	}
	// Each loses its database in turn; both clusters stay with their owners.
	for _, d := range []*flinkd{two, one} {
		d.stop()
		if err := os.RemoveAll(d.data); err != nil {
			t.Fatal(err)
		}
		d.start()
		one.waitRunning(x, 1)
		two.waitRunning(y, 1)
		two.waitCluster(x, "FAILED as another flinkd's", func(cs api.ClusterStatus) bool {
			return cs.Phase == "FAILED" && strings.Contains(cs.Message, one.owner)
		})
		// Orphan sweeps run every resync: watch both clusters over three of them.
		for end := time.Now().Add(3 * resyncPeriod(t)); time.Now().Before(end); {
			check("after " + d.owner + " lost its database")
			if t.Failed() {
				return
			}
			time.Sleep(pollInterval) // poll interval of a check held over a time window
		}
	}
	// The second daemon's file for x goes: it forgets x and leaves the cluster alone.
	if err := os.Remove(filepath.Join(two.specs, "x.yaml")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLong)
	for {
		if _, err := two.status(x); client.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second daemon did not forget %s", x)
		}
		time.Sleep(pollInterval) // poll interval
	}
	for end := time.Now().Add(3 * resyncPeriod(t)); time.Now().Before(end) && !t.Failed(); {
		check("after the second daemon's file for " + x + " went")
		time.Sleep(pollInterval) // poll interval of a check held over a time window
	}
	one.waitRunning(x, 1)
}

func resyncPeriod(t *testing.T) time.Duration {
	d, err := time.ParseDuration(resync)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A damaged database stops flinkd at start with the path and what to do; flinkd never starts
// empty on it, and what runs is left alone.
func TestDamagedDatabaseStopsFlinkdAtStart(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("damaged")
	f.write("c.yaml", clusterYAML(name, "RUNNING", 1, ""))
	f.waitRunning(name, 1)
	ids := containerIDs(f.clusterContainers(name))
	f.stop()
	path := filepath.Join(f.data, "flinkd.db")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		size  int
		wants []string
	}{
		{"truncated to nothing", 0, []string{"is damaged", "empty"}},
		{"truncated to half", len(good) / 2, []string{"is damaged"}},
	} {
		if err := os.WriteFile(path, good[:tc.size], 0o600); err != nil {
			t.Fatal(err)
		}
		out := f.startFails()
		for _, w := range append(tc.wants, path, "Move "+path) {
			if !strings.Contains(out, w) {
				t.Errorf("%s: start-up error lacks %q:\n%s", tc.name, w, out)
			}
		}
		if st, _ := os.Stat(path); st.Size() != int64(tc.size) {
			t.Errorf("%s: flinkd changed the damaged file (%d bytes, was %d)", tc.name, st.Size(), tc.size)
		}
	}

	// A schema newer than this flinkd knows.
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out := f.startFails()
	for _, w := range []string{path, "schema version 99", "newer than this flinkd", "move the database away"} {
		if !strings.Contains(out, w) {
			t.Errorf("newer schema: start-up error lacks %q:\n%s", w, out)
		}
	}
	if diff := cmp.Diff(ids, containerIDs(f.clusterContainers(name))); diff != "" {
		t.Errorf("the cluster changed while flinkd refused its database (-before +after):\n%s", diff)
	}
}

// Clusters made under the random owner identity an older flinkd kept in its database
// (schema 3) are adopted once by the flinkd that opens that database: the identity becomes a
// former one, recorded, its clusters kept as they are (what is added to them carries it too),
// and one no file declares is removed. Without that database the identity is another
// owner's, reported with what to do; --adopt takes it over.
func TestClustersOfTheFormerRandomIdentityAreAdopted(t *testing.T) {
	t.Parallel()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	legacy := hex.EncodeToString(b) // what db.Store.Identity made up to schema 3
	// A flinkd that labels with the random identity, as flinkd did up to schema 3.
	f := newFlinkd(t, "--owner", legacy)
	t.Cleanup(func() {
		f.stop()
		old := *f
		old.owner = legacy
		old.sweep()
	})
	keep, drop := uniqueName("legacy-keep"), uniqueName("legacy-drop")
	f.write("keep.yaml", clusterYAML(keep, "RUNNING", 1, ""))
	f.write("drop.yaml", clusterYAML(drop, "RUNNING", 1, ""))
	cs := f.waitRunning(keep, 1)
	f.waitRunning(drop, 1)
	job := submitJob(t, cs.RESTURL, "wordcount", 1)
	waitJobState(t, cs.RESTURL, job, "RUNNING")
	ids := containerIDs(f.clusterContainers(keep))
	f.stop()

	// The database as the older flinkd left it: schema 3, the random identity in meta.
	path := filepath.Join(f.data, "flinkd.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"DELETE FROM meta", "INSERT INTO meta (key, value) VALUES ('identity', '" + legacy + "')",
		// What migration 0005 changed, undone.
		"ALTER TABLE clusters RENAME COLUMN file_hash TO spec_hash", "ALTER TABLE files RENAME COLUMN file_hash TO hash",
		"ALTER TABLE clusters DROP COLUMN spec_changed_at", "DROP TABLE stop_requests",
		"PRAGMA user_version = 3"} {
		if _, err := db.ExecContext(context.Background(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if err := os.Remove(filepath.Join(f.specs, "drop.yaml")); err != nil {
		t.Fatal(err)
	}

	f.args, f.owner = nil, "" // the new flinkd: the identity derived from the folder
	f.start()
	if f.owner == legacy {
		t.Fatalf("the new flinkd still runs as %s", legacy)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	v, err := f.client().Version(ctx)
	cancel()
	if err != nil || !slices.Contains(v.FormerOwners, legacy) {
		t.Fatalf("version: %+v, %v; want former owner %s", v, err, legacy)
	}
	cs = f.waitRunning(keep, 1)
	old := *f
	old.owner = legacy
	if diff := cmp.Diff(ids, containerIDs(old.clusterContainers(keep))); diff != "" {
		t.Errorf("the former identity's cluster was changed (-before +after):\n%s", diff)
	}
	if s := jobState(t, cs.RESTURL, job); s != "RUNNING" {
		t.Errorf("job after the adoption is %s", s)
	}
	old.waitNoContainers(drop) // no file declares it: removed
	// What the new flinkd adds to the cluster keeps the cluster's identity.
	f.write("keep.yaml", clusterYAML(keep, "RUNNING", 2, ""))
	f.waitRunning(keep, 2)
	if got := len(old.clusterContainers(keep)); got != 3 {
		t.Errorf("%d containers of %s carry the former identity, want 3 (one owner per cluster)", got, keep)
	}

	// Without the database that recorded it, the identity is another owner's: reported as
	// such, with what to do.
	f.stop()
	if err := os.RemoveAll(f.data); err != nil {
		t.Fatal(err)
	}
	f.start()
	failed := f.waitCluster(keep, "FAILED as another flinkd's", func(cs api.ClusterStatus) bool {
		return cs.Phase == "FAILED" && strings.Contains(cs.Message, "belongs to another flinkd")
	})
	for _, part := range []string{`owner "` + legacy + `"`, "this same specs folder", "--adopt " + legacy} {
		if !strings.Contains(failed.Message, part) {
			t.Errorf("message lacks %q: %s", part, failed.Message)
		}
	}
	r := f.flinkctl("status", "--all-owners")
	if r.Code != 0 || len(linesWith(r.Stdout, "default	"+keep+"	"+legacy)) != 1 {
		t.Errorf("status --all-owners does not list %s of %s:\n%s", keep, legacy, r)
	}
	// --adopt takes it over, once: the next start remembers it.
	f.stop()
	f.args = []string{"--adopt", legacy}
	f.start()
	f.waitRunning(keep, 2)
	f.stop()
	f.args = nil
	f.start()
	f.waitRunning(keep, 2)
	if s := jobState(t, cs.RESTURL, job); s != "RUNNING" {
		t.Errorf("job after --adopt is %s", s)
	}
	for id, cid := range ids {
		if got := old.clusterContainers(keep)[id].ID; got != cid {
			t.Errorf("%s was replaced (%.12s → %.12s)", id, cid, got)
		}
	}
}

// A second flinkd on the same specs folder, by another path and with another data folder,
// would have the same identity: it is refused at start, naming the identity and the folder.
func TestSecondDaemonOnTheSameFolderIsRefused(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	link := filepath.Join(t.TempDir(), "specs-link")
	if err := os.Symlink(f.specs, link); err != nil {
		t.Fatal(err)
	}
	second := *f
	second.specs = link + "/"
	second.data = filepath.Join(t.TempDir(), "data")
	second.socket = filepath.Join(filepath.Dir(f.socket), "second.sock")
	second.done = nil
	out := second.startFails()
	canonical, err := filepath.EvalSymlinks(f.specs)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"another flinkd runs with owner identity " + f.owner, canonical} {
		if !strings.Contains(out, w) {
			t.Errorf("start-up error lacks %q:\n%s", w, out)
		}
	}
	if _, err := os.Stat(second.data); err == nil {
		t.Errorf("the refused flinkd made its data folder %s", second.data)
	}
}

// The specs folder moved (a new path, so a new identity) with the database kept: the identity
// the database ran with becomes a former one, and its clusters stay as they are.
func TestMovedSpecsFolderKeepsItsClusters(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	before := f.owner
	t.Cleanup(func() {
		f.stop()
		old := *f
		old.owner = before
		old.sweep()
	})
	name := uniqueName("moved")
	f.write("c.yaml", clusterYAML(name, "RUNNING", 1, ""))
	f.waitRunning(name, 1)
	ids := containerIDs(f.clusterContainers(name))
	f.stop()

	moved := filepath.Join(f.dir, "moved-specs")
	if err := os.Rename(f.specs, moved); err != nil {
		t.Fatal(err)
	}
	f.specs, f.owner = moved, ""
	f.start()
	if f.owner == before {
		t.Fatalf("a moved folder kept the identity %s; the test shows nothing", before)
	}
	f.waitCluster(name, "RUNNING from the moved file", func(cs api.ClusterStatus) bool {
		return cs.Phase == "RUNNING" && strings.HasPrefix(cs.File, moved)
	})
	old := *f
	old.owner = before
	if diff := cmp.Diff(ids, containerIDs(old.clusterContainers(name))); diff != "" {
		t.Errorf("the cluster was changed when its folder moved (-before +after):\n%s", diff)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if v, err := f.client().Version(ctx); err != nil || !slices.Contains(v.FormerOwners, before) {
		t.Errorf("version: %+v, %v; want former owner %s", v, err, before)
	}
}
