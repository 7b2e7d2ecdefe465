package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/flinkd/flinkd/test/flinkbox"
	"github.com/flinkd/flinkd/test/testenv"
)

// autoscaleSpec is the cluster of BenchmarkAutoscaleSubmitToRunning: floor 1, 2 slots per
// TaskManager, at most 4, a short idle timeout so that each run starts from the floor again.
func autoscaleSpec(tb testing.TB, cli *dockerclient.Client, name string) string {
	tb.Helper()
	registry, repository, tag, err := testenv.SplitImage(testenv.SimImageOf(tb, cli, "1.20"))
	if err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf(`kind: SessionCluster
apiVersion: v1
metadata:
  name: %s
  annotations:
    flinkd.io/autoscale-max-taskmanagers: "4"
    flinkd.io/autoscale-idle-timeout: 2s
spec:
  state: RUNNING
  flinkVersion: "1.20"
  flinkImageRegistry: %s
  flinkImageRepository: %s
  flinkImageTag: "%s"
  numberOfTaskManagers: 1
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 2
    heartbeat.interval: 200
    heartbeat.timeout: 2000
    cluster.registration.error-delay: %s
`, name, registry, repository, tag, registrationErrorDelay)
}

// BenchmarkAutoscaleSubmitToRunning measures, on an autoscaled cluster at its floor (1
// TaskManager of 2 slots, maximum 4), the time from submitting a job of parallelism 6 until
// /jobs/overview reports every one of its tasks RUNNING: flinkd sees the job wait, adds 2
// TaskManagers, they register, and the job's tasks are deployed. The figure is 15 s.
// After each run the job is cancelled and the cluster goes back to its floor (idle timeout
// 2 s), not measured; an unmeasured run warms up first. The stand-in is
// testenv.SimImageOf's (FLINK_SIM_REPOSITORY's when set).
//
//	go test -run '^$' -bench AutoscaleSubmitToRunning -benchtime 10x -timeout 30m ./test/bench
func BenchmarkAutoscaleSubmitToRunning(b *testing.B) {
	cli := engine(b)
	d := startDaemon(b, cli)
	const name = "autoscale"
	d.write(name, autoscaleSpec(b, cli, name))
	st, _ := d.waitRunning(name, 1)
	rest := st.RESTURL
	load0 := loadAvg()

	run := func(i int) (time.Duration, string) {
		t0 := time.Now()
		job := benchSubmit(b, rest, fmt.Sprintf("bench-%d", i), 6)
		var done time.Time
		for deadline := t0.Add(waitTimeout); ; {
			tasks := benchTasks(b, rest, job)
			if tasks["total"] > 0 && tasks["running"] == tasks["total"] {
				done = time.Now()
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("run %d: job %s not all RUNNING within %s: %v", i, job, waitTimeout, tasks)
			}
			time.Sleep(50 * time.Millisecond) // poll interval
		}
		took := done.Sub(t0)
		up := "?"
		for _, e := range d.events(name) {
			if e.Reason == "AutoscaledUp" && strings.Contains(e.Message, job) {
				up = e.Time.Sub(t0).Round(time.Millisecond).String()
			}
		}
		benchDo(b, http.MethodPatch, rest+"/jobs/"+job+"?mode=cancel", "", nil, nil)
		d.waitRunning(name, 1)
		return took, fmt.Sprintf("run %d: every task RUNNING %s after the submission (AutoscaledUp at %s)", i, took.Round(time.Millisecond), up)
	}

	_, detail := run(0)
	b.Logf("warm-up (not counted): %s", detail)
	var took []time.Duration
	i := 1
	for b.Loop() {
		t, detail := run(i)
		b.Logf("%s | load %.2f", detail, loadAvg())
		took = append(took, t)
		i++
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	within := 0
	for _, t := range took {
		if t <= 15*time.Second {
			within++
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(median(took)), "median-ms")
	b.ReportMetric(ms(took[0]), "min-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	b.ReportMetric(float64(within)/float64(len(took)), "within-15s")
	b.ReportMetric(load0, "load1-start")
	b.ReportMetric(loadAvg(), "load1-end")
}

// benchSubmit uploads a jar to the stand-in and runs it with the given parallelism.
func benchSubmit(b *testing.B, rest, name string, parallelism int) string {
	b.Helper()
	body, contentType := flinkbox.JarForm(b, name+".jar", []byte("PK fake jar"))
	var up struct {
		Filename string `json:"filename"`
	}
	benchDo(b, http.MethodPost, rest+"/jars/upload", contentType, body.Bytes(), &up)
	req, _ := json.Marshal(map[string]any{"parallelism": parallelism})
	var started struct {
		JobID string `json:"jobid"`
	}
	benchDo(b, http.MethodPost, rest+"/jars/"+path.Base(up.Filename)+"/run", "application/json", req, &started)
	if started.JobID == "" {
		b.Fatal("run jar: no job id")
	}
	return started.JobID
}

// benchTasks returns a job's task counts from /jobs/overview.
func benchTasks(b *testing.B, rest, id string) map[string]int {
	b.Helper()
	var ov struct {
		Jobs []struct {
			ID    string         `json:"jid"`
			Tasks map[string]int `json:"tasks"`
		} `json:"jobs"`
	}
	benchDo(b, http.MethodGet, rest+"/jobs/overview", "", nil, &ov)
	for _, j := range ov.Jobs {
		if j.ID == id {
			return j.Tasks
		}
	}
	return nil
}

func benchDo(b *testing.B, method, url, contentType string, body []byte, out any) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		b.Fatalf("%s %s: %s: %s", method, url, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			b.Fatalf("decode %s %s: %v: %s", method, url, err, data)
		}
	}
}
