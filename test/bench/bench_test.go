package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/spec"
	"github.com/flinkd/flinkd/test/bench/baseline"
)

// benchSpec is what a benchmark cluster looks like.
type benchSpec struct {
	Name         string
	TaskManagers int
	// Resources is a YAML block under spec (indented by two spaces), or "" for the defaults
	// (1 cpu and 1g for the JobManager, 1 cpu and 2g per TaskManager).
	Resources string
	// FastHeartbeats sets heartbeat.interval 200 ms and heartbeat.timeout 2 s.
	FastHeartbeats bool
	// Extra is YAML added at the end of spec (indented by two spaces).
	Extra string
}

// registrationErrorDelay is cluster.registration.error-delay of the start and scale
// benchmarks. A TaskManager whose first registration fails (its JobManager is not listening
// yet, or its network alias not resolvable yet) retries after this delay; with Flink's
// default of 10 s, whether one TaskManager out of 8 or 20 loses that race decides the
// figure, on either side, and hides what the comparison is about.
const registrationErrorDelay = "500 ms"

func (s benchSpec) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, `kind: SessionCluster
apiVersion: v1
metadata:
  name: %s
spec:
  state: RUNNING
  flinkVersion: "1.20"
  flinkImageRegistry: localhost
  flinkImageRepository: flink-sim
  flinkImageTag: "1.20"
  numberOfTaskManagers: %d
`, s.Name, s.TaskManagers)
	b.WriteString(s.Resources)
	b.WriteString("  flinkConfiguration:\n    taskmanager.numberOfTaskSlots: 1\n")
	if s.FastHeartbeats {
		b.WriteString("    heartbeat.interval: 200\n    heartbeat.timeout: 2000\n")
		fmt.Fprintf(&b, "    cluster.registration.error-delay: %s\n", registrationErrorDelay)
	}
	b.WriteString(s.Extra)
	return b.String()
}

// decode decodes a benchmark spec the way flinkd does.
func decode(tb testing.TB, yaml string) *spec.SessionCluster {
	tb.Helper()
	sc, _, err := spec.Decode([]byte(yaml))
	if err != nil {
		tb.Fatalf("benchmark spec is invalid: %v\n%s", err, yaml)
	}
	return sc
}

// newBaseline returns a baseline for s whose resources are labelled run, removed at cleanup.
func newBaseline(tb testing.TB, cli *dockerclient.Client, run string, s benchSpec) *baseline.Baseline {
	tb.Helper()
	bl, err := baseline.New(baseline.Config{Client: cli, Spec: decode(tb, s.yaml()), Run: run})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := bl.Remove(ctx); err != nil {
			tb.Errorf("clean up the baseline's containers: %v", err)
		}
	})
	return bl
}

// sample is one measured run.
type sample struct {
	// total is what is compared; up is the part until every container was started.
	total, up time.Duration
	detail    string
}

// flinkdStart writes a new cluster's file and waits for RUNNING.
func flinkdStart(d *daemon, s benchSpec) sample {
	d.tb.Helper()
	t0 := time.Now()
	d.write(s.Name, s.yaml())
	_, seen := d.waitRunning(s.Name, s.TaskManagers)
	return flinkdSample(d, s.Name, t0, seen)
}

// flinkdSample reads where the time went from the cluster's events (millisecond times of the
// daemon's clock, the same host clock as t0): the first pass (phase event), the last
// container brought up, and RUNNING recorded.
func flinkdSample(d *daemon, name string, t0, seen time.Time) sample {
	var firstPass, lastUp, running time.Time
	for _, e := range d.events(name) {
		if e.Time.Before(t0.Add(-time.Millisecond)) {
			continue
		}
		switch e.Reason {
		case "Starting", "Scaling":
			if firstPass.IsZero() {
				firstPass = e.Time
			}
		case "Created", "Started", "Replaced":
			if e.Time.After(lastUp) {
				lastUp = e.Time
			}
		case "Running":
			running = e.Time
		}
	}
	since := func(t time.Time) string {
		if t.IsZero() {
			return "?"
		}
		return t.Sub(t0).Round(time.Millisecond).String()
	}
	total := seen.Sub(t0)
	return sample{
		total: total,
		up:    lastUp.Sub(t0),
		detail: fmt.Sprintf("flinkd %v (first pass %s, containers up %s, RUNNING recorded %s)",
			total.Round(time.Millisecond), since(firstPass), since(lastUp), since(running)),
	}
}

func baselineSample(r baseline.Result) sample {
	return sample{total: r.Ready, up: r.Started, detail: fmt.Sprintf("baseline %v (containers up %v, %d polls)",
		r.Ready.Round(time.Millisecond), r.Started.Round(time.Millisecond), r.Polls)}
}

// BenchmarkStartToRunning compares the time from writing a SessionCluster file with 1
// JobManager and 8 TaskManagers until flinkd reports it RUNNING, with the baseline creating
// the same containers and waiting for the same REST condition. Each iteration is one flinkd
// run then one baseline run, on fresh clusters; an unmeasured pair warms up first.
//
//	go test -run '^$' -bench StartToRunning -benchtime 5x -timeout 60m ./test/bench
func BenchmarkStartToRunning(b *testing.B) {
	const tms = 8
	cli := engine(b)
	d := startDaemon(b, cli)
	run := randomID(8)
	bl := newBaseline(b, cli, run, benchSpec{Name: "template", TaskManagers: tms, FastHeartbeats: true})
	load0 := loadAvg()

	pair := func(i int) (fl, bs sample) {
		s := benchSpec{Name: fmt.Sprintf("start%d-%s", i, run), TaskManagers: tms, FastHeartbeats: true}
		fl = flinkdStart(d, s)
		d.remove(s.Name)

		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, res, err := bl.Start(ctx, fmt.Sprintf("start%d-%s", i, run), tms)
		if err != nil {
			b.Fatalf("baseline: %v", err)
		}
		bs = baselineSample(res)
		if err := bl.Remove(ctx); err != nil {
			b.Fatalf("remove the baseline's cluster: %v", err)
		}
		return fl, bs
	}

	compare(b, load0, pair)
}

// BenchmarkScale2To20 compares editing a RUNNING cluster's numberOfTaskManagers from 2 to
// 20 until flinkd reports RUNNING with 20 TaskManagers ready, with the baseline adding 18
// TaskManagers to an identical 2-TaskManager cluster and waiting for /overview to report 20.
// Bringing up the 2-TaskManager clusters is not measured.
//
//	go test -run '^$' -bench Scale2To20 -benchtime 5x -timeout 60m ./test/bench
func BenchmarkScale2To20(b *testing.B) {
	const from, to = 2, 20
	cli := engine(b)
	d := startDaemon(b, cli)
	run := randomID(8)
	bl := newBaseline(b, cli, run, benchSpec{Name: "template", TaskManagers: from, FastHeartbeats: true})
	load0 := loadAvg()

	pair := func(i int) (fl, bs sample) {
		name := fmt.Sprintf("scale%d-%s", i, run)
		s := benchSpec{Name: name, TaskManagers: from, FastHeartbeats: true}
		flinkdStart(d, s)
		s.TaskManagers = to
		t0 := time.Now()
		d.write(name, s.yaml())
		_, seen := d.waitRunning(name, to)
		fl = flinkdSample(d, name, t0, seen)
		d.remove(name)

		ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
		defer cancel()
		c, _, err := bl.Start(ctx, name, from)
		if err != nil {
			b.Fatalf("baseline: start %d TaskManagers: %v", from, err)
		}
		res, err := c.ScaleUp(ctx, to)
		if err != nil {
			b.Fatalf("baseline: scale to %d: %v", to, err)
		}
		bs = baselineSample(res)
		if err := bl.Remove(ctx); err != nil {
			b.Fatalf("remove the baseline's cluster: %v", err)
		}
		return fl, bs
	}

	compare(b, load0, pair)
}

// compare runs pair(0) as an unmeasured warm-up, then pair(1), pair(2), … for each
// iteration of b, and reports both sides.
func compare(b *testing.B, load0 float64, pair func(i int) (fl, bs sample)) {
	fl, bs := pair(0)
	b.Logf("warm-up (not counted): %s | %s", fl.detail, bs.detail)
	var fls, bss []sample
	i := 1
	for b.Loop() {
		fl, bs := pair(i)
		b.Logf("run %d: %s | %s | load %.2f", i, fl.detail, bs.detail, loadAvg())
		fls, bss = append(fls, fl), append(bss, bs)
		i++
	}
	report(b, fls, bss, load0)
}

// report reports the median, min and max of each side, the ratio of the medians, and the
// 1-minute load average at the start and at the end; ns/op (runs and cleanups) is dropped.
func report(b *testing.B, fl, bs []sample, load0 float64) {
	b.ReportMetric(0, "ns/op")
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	stats := func(side string, ss []sample) time.Duration {
		totals := make([]time.Duration, len(ss))
		ups := make([]time.Duration, len(ss))
		for i, s := range ss {
			totals[i], ups[i] = s.total, s.up
		}
		slices.Sort(totals)
		slices.Sort(ups)
		med := median(totals)
		b.ReportMetric(ms(med), side+"-median-ms")
		b.ReportMetric(ms(totals[0]), side+"-min-ms")
		b.ReportMetric(ms(totals[len(totals)-1]), side+"-max-ms")
		b.ReportMetric(ms(median(ups)), side+"-up-median-ms")
		return med
	}
	fm := stats("flinkd", fl)
	bm := stats("baseline", bs)
	b.ReportMetric(float64(fm)/float64(bm), "ratio")
	b.ReportMetric(load0, "load1-start")
	b.ReportMetric(loadAvg(), "load1-end")
}

// median of sorted durations (the mean of the middle two for an even count).
func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// BenchmarkDaemonIdle20Clusters measures flinkd's resident memory with 20 RUNNING clusters
// (1 JobManager + 1 TaskManager each, with about the least memory the stand-in accepts) and
// its CPU use while idle: after all are RUNNING it waits FLINKD_BENCH_IDLE_SETTLE (30s),
// then reads utime+stime from /proc/PID/stat over FLINKD_BENCH_IDLE_WINDOW (60s) with the
// default --resync 10s, and VmRSS/VmHWM from /proc/PID/status at the end. The same window
// is measured first with no cluster at all (cpu-empty, rss-empty): the daemon's floor.
//
//	go test -run '^$' -bench DaemonIdle20Clusters -benchtime 1x -timeout 30m ./test/bench
func BenchmarkDaemonIdle20Clusters(b *testing.B) {
	const clusters = 20
	settle := envDuration(b, "FLINKD_BENCH_IDLE_SETTLE", 30*time.Second)
	window := envDuration(b, "FLINKD_BENCH_IDLE_WINDOW", 60*time.Second)
	cli := engine(b)
	hz := clockTicks()
	// FLINKD_BENCH_PROFILE=DIR runs a flinkd build with a pprof listener instead, and saves
	// a CPU profile of the idle window and a heap profile at its end into DIR. The profiler
	// itself costs some CPU: take the CPU figure from a run without it.
	var prof *profiler
	bin, env := flinkdBin, []string(nil)
	if dir := os.Getenv("FLINKD_BENCH_PROFILE"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		prof = &profiler{addr: freeAddr(b), dir: dir}
		bin = buildProfilingFlinkd(b, dir)
		env = []string{"FLINKD_BENCH_PPROF_ADDR=" + prof.addr}
	}
	// FLINKD_BENCH_RESYNC=30s runs flinkd with --resync 30s instead of its default (10s).
	var args []string
	if v := os.Getenv("FLINKD_BENCH_RESYNC"); v != "" {
		args = []string{"--resync", v}
	}
	for b.Loop() {
		d := startDaemonWith(b, cli, bin, env, args...)
		pause(5 * time.Second) // let the start-up work pass; a measurement window follows
		cpu0, err := cpuOver(d.Pid(), window, hz)
		if err != nil {
			b.Fatal(err)
		}
		rss0, err := procStatus(d.Pid(), "VmRSS")
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("no cluster: %.3f%% of one core over %v; VmRSS %d kB", cpu0, window, rss0)
		run := randomID(6)
		names := make([]string, clusters)
		for i := range names {
			names[i] = fmt.Sprintf("idle%02d-%s", i, run)
			// The stand-in's memory model (Flink's) needs about 1030m (10^6 bytes) for a
			// TaskManager and 604m for a JobManager; Ververica's documented minimum is 650m.
			d.write(names[i], benchSpec{Name: names[i], TaskManagers: 1,
				Resources: "  resources:\n    jobmanager:\n      memory: 650m\n    taskmanager:\n      memory: 1050m\n"}.yaml())
		}
		allRunning := func(list []api.ClusterStatus) (bool, string) {
			n := 0
			for _, name := range names {
				if st, ok := find(list, name); ok && st.Phase == "RUNNING" && st.TaskManagers.Ready == 1 {
					n++
				}
			}
			return n == clusters, fmt.Sprintf("%d/%d RUNNING", n, clusters)
		}
		t0 := time.Now()
		seen := d.waitList(fmt.Sprintf("%d clusters RUNNING", clusters), allRunning)
		b.Logf("%d clusters RUNNING after %v; settling for %v", clusters, seen.Sub(t0).Round(time.Millisecond), settle)
		pause(settle) // a measurement window, not a wait for a condition

		load1 := loadAvg()
		c1, err := procCPUTicks(d.Pid())
		if err != nil {
			b.Fatal(err)
		}
		w1 := time.Now()
		if prof != nil {
			prof.startCPU(window)
		}
		pause(window) // a measurement window, not a wait for a condition
		c2, err := procCPUTicks(d.Pid())
		if err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(w1)
		rss, err := procStatus(d.Pid(), "VmRSS")
		if err != nil {
			b.Fatal(err)
		}
		hwm, err := procStatus(d.Pid(), "VmHWM")
		if err != nil {
			b.Fatal(err)
		}
		// VmRSS counts the mapped pages of the 49 MB binary too (RssFile: 25 to 35 MB,
		// depending on whether the kernel maps its text with huge pages, as it does for a
		// freshly built file); RssAnon is the daemon's own memory.
		anon, err := procStatus(d.Pid(), "RssAnon")
		if err != nil {
			b.Fatal(err)
		}
		load2 := loadAvg()
		if prof != nil {
			prof.finish(b)
		}
		// The window only counts if the clusters stayed RUNNING through it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		list, _, err := d.api.Clusters(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if ok, desc := allRunning(list); !ok {
			b.Fatalf("clusters did not stay RUNNING through the idle window: %s", desc)
		}
		cpu := float64(c2-c1) / float64(hz) / elapsed.Seconds() * 100
		b.Logf("idle window %v: %d ticks (USER_HZ %d) = %.3f%% of one core; VmRSS %d kB (%d kB with no cluster), RssAnon %d kB, VmHWM %d kB; load %.2f -> %.2f",
			elapsed.Round(time.Millisecond), c2-c1, hz, cpu, rss, rss0, anon, hwm, load1, load2)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(rss)/1024, "rss-MiB")
		b.ReportMetric(float64(hwm)/1024, "hwm-MiB")
		b.ReportMetric(float64(anon)/1024, "anon-MiB")
		b.ReportMetric(float64(rss0)/1024, "rss-empty-MiB")
		b.ReportMetric(cpu, "cpu-%core")
		b.ReportMetric(cpu0, "cpu-empty-%core")
		b.ReportMetric(load1, "load1-start")
		b.ReportMetric(load2, "load1-end")
	}
}

// cpuOver returns the CPU use of process pid over the next window, in % of one core.
func cpuOver(pid int, window time.Duration, hz int64) (float64, error) {
	c1, err := procCPUTicks(pid)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	pause(window) // a measurement window, not a wait for a condition
	c2, err := procCPUTicks(pid)
	if err != nil {
		return 0, err
	}
	return float64(c2-c1) / float64(hz) / time.Since(start).Seconds() * 100, nil
}

// pause lets a fixed measurement window pass.
func pause(d time.Duration) {
	t := time.NewTimer(d)
	<-t.C
}

func envDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("%s=%q: want a positive duration like 60s", name, v)
	}
	return d
}
