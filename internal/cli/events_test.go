package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/api"
)

func someEvents(now time.Time) []api.Event {
	return []api.Event{
		{Time: now.Add(-2*time.Hour - time.Minute), Type: "Normal", Reason: "Created", Message: "jobmanager and 2 taskmanagers created on docker"},
		{Time: now.Add(-2 * time.Hour), Type: "Normal", Reason: "Running", Message: "2/2 TaskManagers registered"},
		{Time: now.Add(-3*time.Minute - time.Second), Type: "Warning", Reason: "ChangeRefused", Message: "spec.flinkVersion: cannot change while RUNNING"},
	}
}

// serveEvents answers the events of default/analytics, honouring ?limit.
func serveEvents(d *stubDaemon, events []api.Event) {
	d.handle("GET /v1/clusters/default/analytics/events", func(w http.ResponseWriter, r *http.Request) {
		out := events
		if l := r.URL.Query().Get("limit"); l == "1" {
			out = events[len(events)-1:]
		}
		writeJSON(w, http.StatusOK, out)
	})
	d.answer("GET /v1/clusters/{ns}/{name}/events", http.StatusNotFound, api.Error{Error: "no such cluster"})
}

func TestEventsOnATerminalShowsAgesTypesReasonsAndMessages(t *testing.T) {
	d := newStubDaemon(t)
	serveEvents(d, someEvents(time.Now()))

	r := runMain(t, true, "--socket", d.socket, "events", "analytics")

	if r.code != ExitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	checkGolden(t, "events_tty.golden", r.stdout)
}

func TestEventsInAPipeAreTabSeparatedWithTimes(t *testing.T) {
	d := newStubDaemon(t)
	serveEvents(d, someEvents(fixedTime))

	r := runMain(t, false, "--socket", d.socket, "events", "analytics", "--limit", "1")

	want := "2026-05-01T09:56:59Z\tWarning\tChangeRefused\tspec.flinkVersion: cannot change while RUNNING\n"
	if r.code != ExitOK || r.stdout != want {
		t.Errorf("exit %d, stdout %q; want 0 and %q", r.code, r.stdout, want)
	}
	if got := d.requestLog(); len(got) != 1 || got[0] != "GET /v1/clusters/default/analytics/events?limit=1" {
		t.Errorf("requests = %q, want one with limit=1", got)
	}
}

func TestEventsJSONPrintsTheEvents(t *testing.T) {
	d := newStubDaemon(t)
	serveEvents(d, someEvents(fixedTime))

	r := runMain(t, false, "--socket", d.socket, "events", "analytics", "-o", "json")

	var got []api.Event
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not a JSON list: %v\n%s", err, r.stdout)
	}
	if diff := cmp.Diff(someEvents(fixedTime), got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.stdout, `"reason": "ChangeRefused"`) {
		t.Errorf("JSON lacks lowerCamel field reason:\n%s", r.stdout)
	}
}

func TestEventsOfAClusterWithoutEventsSaysSo(t *testing.T) {
	d := newStubDaemon(t)
	serveEvents(d, nil)

	r := runMain(t, true, "--socket", d.socket, "events", "analytics")
	if r.code != ExitOK || r.stdout != "" || r.stderr != "no events for default/analytics\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = runMain(t, false, "--socket", d.socket, "events", "analytics", "-o", "yaml")
	if r.code != ExitOK || r.stdout != "[]\n" {
		t.Errorf("exit %d, stdout %q; want 0 and []", r.code, r.stdout)
	}
}

func TestEventsOfAnUnknownClusterExitsOne(t *testing.T) {
	d := newStubDaemon(t)
	serveEvents(d, nil)

	r := runMain(t, false, "--socket", d.socket, "events", "team-a/nope")

	if want := "Error: no cluster team-a/nope (see flinkctl status)\n"; r.code != ExitFailed || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
}

func TestEventsFlagParsing(t *testing.T) {
	got, err := parse(t, newEventsCmd, "events", "team-a/etl", "--limit", "5", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := eventsOptions{Namespace: "team-a", Name: "etl", Limit: 5, Output: outputYAML}
	if diff := cmp.Diff(want, *got, cmpIgnoreIOAndClient); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}

	for args, msg := range map[string]string{
		"events":                  "missing NAME",
		"events x --limit -1":     "--limit must be 0 (all) or more",
		"events x -o wide":        `unknown output format "wide"`,
		"events x --limit lots":   `invalid argument "lots"`,
		"events x y":              "too many arguments",
		"events x --since 5m":     "unknown flag: --since",
		"events team-a/B --limit": "flag needs an argument",
	} {
		if _, err := parse(t, newEventsCmd, strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), msg) ||
			exitCode(err, new(strings.Builder)) != ExitUsage {
			t.Errorf("flinkctl %s: error %v, want a usage error containing %q", args, err, msg)
		}
	}
}
