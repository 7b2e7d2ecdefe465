package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"testing"
	"time"

	"github.com/flinkd/flinkd/test/flinkbox"
)

// Helpers for the JobManager's REST API (the stand-in speaks Flink's wire format), reached at
// the restURL flinkctl status shows.

// restDo sends one request to a JobManager and decodes a 2xx JSON answer into out (when
// not nil).
func restDo(t *testing.T, method, url, contentType string, body []byte, out any) {
	t.Helper()
	if err := tryRest(method, url, contentType, body, out); err != nil {
		t.Fatal(err)
	}
}

// tryRest is restDo returning the error: for polls that outlive a JobManager.
func tryRest(method, url, contentType string, body []byte, out any) error {
	return tryRestWithin(callTimeout, method, url, contentType, body, out)
}

// jobRunTimeout bounds POST /jars/:id/run: real Flink loads the jar and builds the job's
// graph before it answers, which takes a while on a loaded machine.
const jobRunTimeout = 2 * time.Minute

// tryRestWithin is tryRest with its own time limit.
func tryRestWithin(timeout time.Duration, method, url, contentType string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode %s: %w", method, url, b, err)
	}
	return nil
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	restDo(t, http.MethodGet, url, "", nil, out)
}

// submitJob uploads a jar and runs it with the given parallelism; it returns the job ID.
func submitJob(t *testing.T, restURL, name string, parallelism int) string {
	t.Helper()
	body, contentType := flinkbox.JarForm(t, name+".jar", []byte("PK fake jar"))
	var up struct {
		Filename string `json:"filename"`
	}
	restDo(t, http.MethodPost, restURL+"/jars/upload", contentType, body.Bytes(), &up)
	req, _ := json.Marshal(map[string]any{"parallelism": parallelism})
	var run struct {
		JobID string `json:"jobid"`
	}
	restDo(t, http.MethodPost, restURL+"/jars/"+path.Base(up.Filename)+"/run", "application/json", req, &run)
	if run.JobID == "" {
		t.Fatalf("running jar %s gave no job id", up.Filename)
	}
	return run.JobID
}

func cancelJob(t *testing.T, restURL, id string) {
	t.Helper()
	restDo(t, http.MethodPatch, restURL+"/jobs/"+id+"?mode=cancel", "", nil, nil)
}

func jobState(t *testing.T, restURL, id string) string {
	t.Helper()
	var j struct {
		State string `json:"state"`
	}
	getJSON(t, restURL+"/jobs/"+id, &j)
	return j.State
}

func waitJobState(t *testing.T, restURL, id, state string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := jobState(t, restURL, id)
		if s == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not %s within 60s (is %s)", id, state, s)
		}
		time.Sleep(pollInterval) // poll interval
	}
}

// jobRestarts counts the job's restarts: one exception history entry per restart.
func jobRestarts(t *testing.T, restURL, id string) int {
	t.Helper()
	var ex struct {
		ExceptionHistory struct {
			Entries []json.RawMessage `json:"entries"`
		} `json:"exceptionHistory"`
	}
	getJSON(t, restURL+"/jobs/"+id+"/exceptions", &ex)
	return len(ex.ExceptionHistory.Entries)
}

// flinkTaskManager is one entry of GET /taskmanagers.
type flinkTaskManager struct {
	ID   string `json:"id"`
	Path string `json:"path"`
}

func taskManagers(t *testing.T, restURL string) []flinkTaskManager {
	t.Helper()
	var list struct {
		TaskManagers []flinkTaskManager `json:"taskmanagers"`
	}
	getJSON(t, restURL+"/taskmanagers", &list)
	return list.TaskManagers
}

// taskManagersOf returns the sorted IDs of the TaskManagers holding a job's slots.
func taskManagersOf(t *testing.T, restURL, jobID string) []string {
	t.Helper()
	var out []string
	for _, tm := range taskManagers(t, restURL) {
		var detail struct {
			AllocatedSlots []struct {
				JobID string `json:"jobId"`
			} `json:"allocatedSlots"`
		}
		getJSON(t, restURL+"/taskmanagers/"+tm.ID, &detail)
		if slices.ContainsFunc(detail.AllocatedSlots, func(s struct {
			JobID string `json:"jobId"`
		}) bool {
			return s.JobID == jobID
		}) {
			out = append(out, tm.ID)
		}
	}
	slices.Sort(out)
	return out
}

// jobManagerConfig returns GET /jobmanager/config as a map.
func jobManagerConfig(t *testing.T, restURL string) map[string]string {
	t.Helper()
	var entries []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	getJSON(t, restURL+"/jobmanager/config", &entries)
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		out[e.Key] = e.Value
	}
	return out
}
