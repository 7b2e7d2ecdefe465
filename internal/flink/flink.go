// Package flink is a small client for the JobManager REST API calls flinkd needs: cluster
// health (/overview), TaskManager slot use (/taskmanagers), running jobs (/jobs/overview),
// what a job's vertices need (/jobs/:id, /jobs/:id/resource-requirements) and cancelling
// jobs. Field names are Flink's wire names (flink.md §3), not the OpenAPI file's.
package flink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one JobManager.
type Client struct {
	// BaseURL is the REST base URL without a trailing slash.
	BaseURL string
	// HTTP is the client to use; nil means a client with a 5 s timeout.
	HTTP *http.Client
}

// Overview is GET /overview.
type Overview struct {
	TaskManagers   int    `json:"taskmanagers"`
	SlotsTotal     int    `json:"slots-total"`
	SlotsAvailable int    `json:"slots-available"`
	JobsRunning    int    `json:"jobs-running"`
	JobsFinished   int    `json:"jobs-finished"`
	JobsCancelled  int    `json:"jobs-cancelled"`
	JobsFailed     int    `json:"jobs-failed"`
	FlinkVersion   string `json:"flink-version"`
}

// TaskManager is one entry of GET /taskmanagers.
type TaskManager struct {
	ID          string `json:"id"`
	SlotsNumber int    `json:"slotsNumber"`
	FreeSlots   int    `json:"freeSlots"`
	// TimeSinceLastHeartbeat is a Unix time in milliseconds in Flink's answer (despite its name).
	TimeSinceLastHeartbeat int64 `json:"timeSinceLastHeartbeat"`
}

// Idle reports whether no slot of the TaskManager is in use.
func (tm TaskManager) Idle() bool { return tm.FreeSlots >= tm.SlotsNumber }

// Job is one entry of GET /jobs/overview.
type Job struct {
	ID    string `json:"jid"`
	Name  string `json:"name"`
	State string `json:"state"`
	Start int64  `json:"start-time"`
	// Tasks counts the job's tasks by execution state.
	Tasks Tasks `json:"tasks"`
}

// Tasks counts tasks by execution state, with Flink's lower-case state names
// (apache/flink: flink-runtime .../messages/webmonitor/JobDetails.java, getTaskInfo).
type Tasks struct {
	Total        int `json:"total"`
	Created      int `json:"created"`
	Scheduled    int `json:"scheduled"`
	Deploying    int `json:"deploying"`
	Running      int `json:"running"`
	Finished     int `json:"finished"`
	Canceling    int `json:"canceling"`
	Canceled     int `json:"canceled"`
	Failed       int `json:"failed"`
	Reconciling  int `json:"reconciling"`
	Initializing int `json:"initializing"`
}

// JobDetail is GET /jobs/:jobid, the parts flinkd reads
// (apache/flink: flink-runtime .../rest/messages/job/JobDetailsInfo.java).
type JobDetail struct {
	ID       string   `json:"jid"`
	Name     string   `json:"name"`
	State    string   `json:"state"`
	Vertices []Vertex `json:"vertices"`
}

// Vertex is one job vertex of a JobDetail (JobDetailsInfo.JobVertexDetailsInfo).
type Vertex struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Parallelism int    `json:"parallelism"`
	// Status is the vertex's aggregate execution state (CREATED, RUNNING, ...).
	Status string `json:"status"`
	// SlotSharingGroupID is reported from Flink 1.20 on; empty before.
	SlotSharingGroupID string `json:"slotSharingGroupId"`
}

// Parallelism is the range of a vertex's parallelism the adaptive scheduler works within
// (apache/flink: flink-runtime .../jobgraph/JobVertexResourceRequirements.java).
type Parallelism struct {
	LowerBound int `json:"lowerBound"`
	UpperBound int `json:"upperBound"`
}

// Terminal reports whether the job reached a globally terminal state.
func (j Job) Terminal() bool {
	switch j.State {
	case "FINISHED", "CANCELED", "FAILED":
		return true
	}
	return false
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Method, Path string
	Code         int
	Errors       []string // Flink's {"errors": [...]}
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Code)
	if len(e.Errors) > 0 {
		msg += ": " + strings.Join(e.Errors, "; ")
	}
	return msg
}

// IsNotFound reports whether err is a 404 from the JobManager.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 5 * time.Second}
}

func (c *Client) do(ctx context.Context, method, path string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, nil)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != want && resp.StatusCode/100 != 2 {
		se := &StatusError{Method: method, Path: path, Code: resp.StatusCode}
		var eb struct {
			Errors []string `json:"errors"`
		}
		if json.Unmarshal(body, &eb) == nil {
			se.Errors = eb.Errors
		}
		return se
	}
	if out == nil || len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Overview returns GET /overview.
func (c *Client) Overview(ctx context.Context) (Overview, error) {
	var ov Overview
	err := c.do(ctx, http.MethodGet, "/overview", http.StatusOK, &ov)
	return ov, err
}

// TaskManagers returns GET /taskmanagers.
func (c *Client) TaskManagers(ctx context.Context) ([]TaskManager, error) {
	var out struct {
		TaskManagers []TaskManager `json:"taskmanagers"`
	}
	err := c.do(ctx, http.MethodGet, "/taskmanagers", http.StatusOK, &out)
	return out.TaskManagers, err
}

// Jobs returns GET /jobs/overview.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	var out struct {
		Jobs []Job `json:"jobs"`
	}
	err := c.do(ctx, http.MethodGet, "/jobs/overview", http.StatusOK, &out)
	return out.Jobs, err
}

// JobDetail returns GET /jobs/:jobid.
func (c *Client) JobDetail(ctx context.Context, id string) (JobDetail, error) {
	var out JobDetail
	err := c.do(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id), http.StatusOK, &out)
	return out, err
}

// ResourceRequirements returns GET /jobs/:jobid/resource-requirements (Flink 1.18 on): each
// vertex's parallelism bounds, by vertex ID. Only the adaptive scheduler answers; the default
// scheduler's answer is an HTTP 500.
func (c *Client) ResourceRequirements(ctx context.Context, id string) (map[string]Parallelism, error) {
	var out map[string]struct {
		Parallelism Parallelism `json:"parallelism"`
	}
	if err := c.do(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id)+"/resource-requirements", http.StatusOK, &out); err != nil {
		return nil, err
	}
	req := make(map[string]Parallelism, len(out))
	for v, r := range out {
		req[v] = r.Parallelism
	}
	return req, nil
}

// ActiveJobs returns the jobs that are not in a terminal state.
func (c *Client) ActiveJobs(ctx context.Context) ([]Job, error) {
	jobs, err := c.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	active := jobs[:0]
	for _, j := range jobs {
		if !j.Terminal() {
			active = append(active, j)
		}
	}
	return active, nil
}

// CancelJob asks the JobManager to cancel a job (PATCH /jobs/:id?mode=cancel, 202). It does
// not wait: the job goes CANCELLING, then CANCELED.
func (c *Client) CancelJob(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPatch, "/jobs/"+url.PathEscape(id)+"?mode=cancel", http.StatusAccepted, nil)
}
