package cli

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/api"
)

func TestLogsCopiesTheStreamToStdout(t *testing.T) {
	d := newStubDaemon(t)
	d.handle("GET /v1/clusters/default/analytics/logs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "INFO starting the jobmanager of "+r.URL.Query().Get("instance")+"\n")
		io.WriteString(w, "INFO rest endpoint listening at 0.0.0.0:8081\n")
	})

	r := runMain(t, false, "--socket", d.socket, "logs", "analytics")

	want := "INFO starting the jobmanager of jobmanager\nINFO rest endpoint listening at 0.0.0.0:8081\n"
	if r.code != ExitOK || r.stdout != want || r.stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and %q", r.code, r.stdout, r.stderr, want)
	}
	if diff := cmp.Diff([]string{"GET /v1/clusters/default/analytics/logs?instance=jobmanager"}, d.requestLog()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestLogsFollowStreamsUntilInterrupted(t *testing.T) {
	d := newStubDaemon(t)
	d.handle("GET /v1/clusters/team-a/etl/logs", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "line 1\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // a followed log has no end
	})

	stdout, stderr, interrupt := startMain(t, false, "--socket", d.socket, "logs", "team-a/etl",
		"--component", "taskmanager-2", "-f", "--tail", "50")
	waitFor(t, "the first line on stdout", func() bool { return stdout.String() == "line 1\n" })
	if code := interrupt(); code != ExitOK || stderr.String() != "" {
		t.Errorf("exit %d, stderr %q after Ctrl-C; want 0 and nothing", code, stderr.String())
	}
	if diff := cmp.Diff([]string{"GET /v1/clusters/team-a/etl/logs?follow=1&instance=taskmanager-2&tail=50"}, d.requestLog()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestLogsOfAMissingInstanceShowsTheDaemonsMessage(t *testing.T) {
	d := newStubDaemon(t)
	d.answer("GET /v1/clusters/default/analytics/logs", http.StatusNotFound,
		api.Error{Error: "no instance taskmanager-9 in default/analytics"})

	r := runMain(t, false, "--socket", d.socket, "logs", "analytics", "--component", "taskmanager-9")

	want := "Error: logs of default/analytics taskmanager-9: no instance taskmanager-9 in default/analytics (see flinkctl status default/analytics)\n"
	if r.code != ExitFailed || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
}

func TestLogsFlagParsing(t *testing.T) {
	got, err := parse(t, newLogsCmd, "-n", "team-a", "logs", "etl", "--component", "taskmanager-12", "--follow", "--tail", "10")
	if err != nil {
		t.Fatal(err)
	}
	want := logsOptions{Namespace: "team-a", Name: "etl", Component: "taskmanager-12", Follow: true, Tail: 10}
	if diff := cmp.Diff(want, *got, cmpIgnoreIOAndClient); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}

	got, err = parse(t, newLogsCmd, "logs", "etl")
	if err != nil {
		t.Fatal(err)
	}
	if want := (logsOptions{Namespace: "default", Name: "etl", Component: "jobmanager"}); !cmp.Equal(want, *got, cmpIgnoreIOAndClient) {
		t.Errorf("defaults = %+v, want %+v", *got, want)
	}

	for _, args := range [][]string{
		{"logs"},
		{"logs", "etl", "--component", "taskmanager"},
		{"logs", "etl", "--component", "taskmanager-0"},
		{"logs", "etl", "--component", "taskmanager-01"},
		{"logs", "etl", "--component", "Etl-Taskmanager-x"},
		{"logs", "etl", "--component", "resourcemanager"},
		{"logs", "etl", "--tail", "-5"},
	} {
		if _, err := parse(t, newLogsCmd, args...); exitCode(err, new(strings.Builder)) != ExitUsage {
			t.Errorf("flinkctl %s: error %v, want a usage error", strings.Join(args, " "), err)
		}
	}
}
