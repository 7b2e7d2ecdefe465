package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	dockerclient "github.com/docker/docker/client"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/runtime"
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bl, err := baseline.New(ctx, baseline.Config{Client: cli, Spec: decode(tb, s.yaml()), Run: run})
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
	// notice (flinkd only) is from the JobManager first reporting every TaskManager (its
	// /overview polled every 10 ms) to flinkctl printing RUNNING.
	notice time.Duration
	detail string
}

// flinkdRun measures flinkd from writing a file (spec s) to `flinkctl status --watch`
// printing RUNNING with every TaskManager.
func flinkdRun(d *daemon, w *statusWatch, s benchSpec) sample {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	from := w.mark()
	t0 := time.Now()
	reported := firstReported(ctx, w, from, s.Name, s.TaskManagers)
	d.write(s.Name, s.yaml())
	seen := w.waitFor(from, s.Name+": RUNNING", runningIn(s.Name, s.TaskManagers))
	first := <-reported
	smp := flinkdSample(d, s.Name, t0, seen)
	if !first.IsZero() {
		smp.notice = seen.Sub(first)
		smp.detail += fmt.Sprintf(", seen %v after the JobManager first reported %d TaskManagers", smp.notice.Round(time.Millisecond), s.TaskManagers)
	}
	return smp
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

func baselineSample(side string, r baseline.Result) sample {
	return sample{total: r.Ready, up: r.Started, detail: fmt.Sprintf("%s %v (containers up %v, %d polls)",
		side, r.Ready.Round(time.Millisecond), r.Started.Round(time.Millisecond), r.Polls)}
}

// sides are the runs of one iteration: flinkd, the baseline, and compose when it is there.
type sides struct {
	flinkd, baseline sample
	compose          *sample
}

// composeFor returns a compose runner for bl, or nil (logged) when `docker compose` does
// not answer: hack/bench.sh builds it first, so `make bench` always has it.
func composeFor(b *testing.B, bl *baseline.Baseline) *baseline.Compose {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := baseline.ComposeAvailable(ctx)
	if err != nil {
		b.Logf("docker compose is not available, measured without it (bash hack/compose.sh builds it): %v", err)
		return nil
	}
	b.Logf("docker compose %s", v)
	return bl.Compose(b.TempDir())
}

// BenchmarkStartToRunning compares the time from writing a SessionCluster file with 1
// JobManager and 8 TaskManagers until `flinkctl status --watch` shows it RUNNING, with the
// baseline (the engine's limit) and docker compose creating the same containers and
// waiting for the same REST condition. Each iteration is one run of each, in that order, on
// fresh clusters; an unmeasured iteration warms up first.
//
//	go test -run '^$' -bench StartToRunning -benchtime 5x -timeout 60m ./test/bench
func BenchmarkStartToRunning(b *testing.B) {
	const tms = 8
	cli := engine(b)
	d := startDaemon(b, cli)
	w := d.watchStatus()
	run := randomID(8)
	bl := newBaseline(b, cli, run, benchSpec{Name: "template", TaskManagers: tms, FastHeartbeats: true})
	comp := composeFor(b, bl)
	load0 := loadAvg()

	iteration := func(i int) sides {
		var out sides
		s := benchSpec{Name: fmt.Sprintf("start%d-%s", i, run), TaskManagers: tms, FastHeartbeats: true}
		ctx, cancel := context.WithTimeout(context.Background(), 3*waitTimeout)
		defer cancel()
		inOrder(func() {
			out.flinkd = flinkdRun(d, w, s)
			d.remove(s.Name)
		}, func() {
			_, res, err := bl.Start(ctx, s.Name, tms)
			if err != nil {
				b.Fatalf("baseline: %v", err)
			}
			out.baseline = baselineSample("baseline", res)
			if err := bl.Remove(ctx); err != nil {
				b.Fatalf("remove the baseline's cluster: %v", err)
			}
		}, func() {
			if comp == nil {
				return
			}
			cc, res, err := comp.Start(ctx, s.Name, tms)
			if err != nil {
				b.Fatalf("compose: %v", err)
			}
			cs := baselineSample("compose", res)
			out.compose = &cs
			removeCompose(b, ctx, bl, cc)
		})
		return out
	}

	compare(b, load0, iteration)
}

// BenchmarkScale2To20 compares editing a RUNNING cluster's numberOfTaskManagers from 2 to
// 20 until `flinkctl status --watch` shows RUNNING with 20 TaskManagers ready, with the
// baseline and compose adding 18 TaskManagers to an identical 2-TaskManager cluster and
// waiting for /overview to report 20. Bringing up the 2-TaskManager clusters is not
// measured.
//
//	go test -run '^$' -bench Scale2To20 -benchtime 5x -timeout 60m ./test/bench
func BenchmarkScale2To20(b *testing.B) {
	const from, to = 2, 20
	cli := engine(b)
	d := startDaemon(b, cli)
	w := d.watchStatus()
	run := randomID(8)
	bl := newBaseline(b, cli, run, benchSpec{Name: "template", TaskManagers: from, FastHeartbeats: true})
	comp := composeFor(b, bl)
	load0 := loadAvg()

	iteration := func(i int) sides {
		var out sides
		name := fmt.Sprintf("scale%d-%s", i, run)
		ctx, cancel := context.WithTimeout(context.Background(), 6*waitTimeout)
		defer cancel()
		inOrder(func() {
			s := benchSpec{Name: name, TaskManagers: from, FastHeartbeats: true}
			mark := w.mark()
			d.write(name, s.yaml())
			w.waitFor(mark, name+": RUNNING", runningIn(name, from))
			s.TaskManagers = to
			out.flinkd = flinkdRun(d, w, s)
			d.remove(name)
		}, func() {
			c, _, err := bl.Start(ctx, name, from)
			if err != nil {
				b.Fatalf("baseline: start %d TaskManagers: %v", from, err)
			}
			res, err := c.ScaleUp(ctx, to)
			if err != nil {
				b.Fatalf("baseline: scale to %d: %v", to, err)
			}
			out.baseline = baselineSample("baseline", res)
			if err := bl.Remove(ctx); err != nil {
				b.Fatalf("remove the baseline's cluster: %v", err)
			}
		}, func() {
			if comp == nil {
				return
			}
			cc, _, err := comp.Start(ctx, name, from)
			if err != nil {
				b.Fatalf("compose: start %d TaskManagers: %v", from, err)
			}
			res, err := cc.ScaleUp(ctx, to)
			if err != nil {
				b.Fatalf("compose: scale to %d: %v", to, err)
			}
			cs := baselineSample("compose", res)
			out.compose = &cs
			removeCompose(b, ctx, bl, cc)
		})
		return out
	}

	compare(b, load0, iteration)
}

// removeCompose removes compose's cluster with `docker compose down`, then whatever of the
// run is left. A network the engine will not let go of (baseline.ErrStaleEndpoint) is
// reported and left; anything else stops the benchmark.
func removeCompose(b *testing.B, ctx context.Context, bl *baseline.Baseline, cc *baseline.ComposeCluster) {
	b.Helper()
	err := cc.Down(ctx)
	if rerr := bl.Remove(ctx); rerr != nil {
		err = errors.Join(err, rerr)
	}
	switch {
	case err == nil:
	case errors.Is(err, baseline.ErrStaleEndpoint) || strings.Contains(err.Error(), "active endpoints"):
		b.Logf("compose's network is left behind (the engine keeps a stale endpoint): %v", err)
	default:
		b.Fatalf("remove compose's cluster: %v", err)
	}
}

// inOrder runs the sides one after the other. (Turning the order from run to run, so that
// no side always follows the same one, was tried: in 3 of 3 sets of 10 runs the engine then
// kept a stale endpoint of a removed container, on compose's network or flinkd's, which it
// never did in 8 sets in this order.)
func inOrder(sides ...func()) {
	for _, side := range sides {
		side()
	}
}

// compare runs iteration(0) as an unmeasured warm-up, then iteration(1), iteration(2), …
// for each iteration of b, and reports every side.
func compare(b *testing.B, load0 float64, iteration func(i int) sides) {
	describe := func(s sides) string {
		out := s.flinkd.detail + " | " + s.baseline.detail
		if s.compose != nil {
			out += " | " + s.compose.detail
		}
		return out
	}
	b.Logf("warm-up (not counted): %s", describe(iteration(0)))
	var fls, bss, cps []sample
	i := 1
	for b.Loop() {
		s := iteration(i)
		b.Logf("run %d: %s | load %.2f", i, describe(s), loadAvg())
		fls, bss = append(fls, s.flinkd), append(bss, s.baseline)
		if s.compose != nil {
			cps = append(cps, *s.compose)
		}
		i++
	}
	report(b, fls, bss, cps, load0)
}

// report reports the median, min and max of each side, the ratios of the medians and of
// the slowest runs to the baseline's, how soon flinkd showed RUNNING after the JobManager
// reported it (median and slowest), and the 1-minute load average at the start and at the
// end; ns/op (runs and cleanups) is dropped.
func report(b *testing.B, fl, bs, cp []sample, load0 float64) {
	b.ReportMetric(0, "ns/op")
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	sorted := func(ss []sample, f func(sample) time.Duration) []time.Duration {
		out := make([]time.Duration, len(ss))
		for i, s := range ss {
			out[i] = f(s)
		}
		slices.Sort(out)
		return out
	}
	stats := func(side string, ss []sample) (med, slowest time.Duration) {
		totals := sorted(ss, func(s sample) time.Duration { return s.total })
		med, slowest = median(totals), totals[len(totals)-1]
		b.ReportMetric(ms(med), side+"-median-ms")
		b.ReportMetric(ms(totals[0]), side+"-min-ms")
		b.ReportMetric(ms(slowest), side+"-max-ms")
		b.ReportMetric(ms(median(sorted(ss, func(s sample) time.Duration { return s.up }))), side+"-up-median-ms")
		return med, slowest
	}
	fm, fx := stats("flinkd", fl)
	bm, bx := stats("baseline", bs)
	b.ReportMetric(float64(fm)/float64(bm), "ratio-median")
	b.ReportMetric(float64(fx)/float64(bx), "ratio-slowest")
	notice := sorted(fl, func(s sample) time.Duration { return s.notice })
	b.ReportMetric(ms(median(notice)), "notice-median-ms")
	b.ReportMetric(ms(notice[len(notice)-1]), "notice-max-ms")
	if len(cp) > 0 {
		cm, cx := stats("compose", cp)
		b.ReportMetric(float64(cm)/float64(bm), "compose-ratio-median")
		b.ReportMetric(float64(cx)/float64(bx), "compose-ratio-slowest")
	}
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

// BenchmarkDaemonIdle100Clusters runs 100 clusters of 1 JobManager + 1 TaskManager (with
// about the least memory the stand-in accepts) on the engine as it is configured (a stock
// engine's own address pools hold about 30 networks), with the default --resync 10s, and
// measures, once all are RUNNING:
//
//   - the daemon's CPU use while idle: after FLINKD_BENCH_IDLE_SETTLE (30s), utime+stime
//     from /proc/PID/stat over FLINKD_BENCH_IDLE_WINDOW (60s); the same window with no
//     cluster at all first (cpu-empty, rss-empty: the daemon's floor);
//   - VmRSS, VmHWM and RssAnon from /proc/PID/status at the window's end;
//   - `flinkctl status -o json` as a whole process (exec to exit), 20 runs: median and
//     slowest;
//   - a restart: SIGTERM, then the same flinkd started again (with --log-level debug, for
//     its "reconciled" lines): the time from its start until it has made a pass over every
//     cluster and lists all of them RUNNING, with no phase change, no container created and
//     every container ID as before.
//
// FLINKD_BENCH_IDLE_CLUSTERS sets another number of clusters.
//
//	go test -run '^$' -bench DaemonIdle100Clusters -benchtime 1x -timeout 60m ./test/bench
func BenchmarkDaemonIdle100Clusters(b *testing.B) {
	clusters := envInt(b, "FLINKD_BENCH_IDLE_CLUSTERS", 100)
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
		nets0 := engineNetworks(b, cli)
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
		b.Logf("no cluster: %.3f%% of one core over %v; VmRSS %d kB; the engine has %d networks", cpu0, window, rss0, nets0)
		run := randomID(6)
		names := make([]string, clusters)
		t0 := time.Now()
		for i := range names {
			names[i] = fmt.Sprintf("idle%03d-%s", i, run)
			// The stand-in's memory model (Flink's) needs about 1030m (10^6 bytes) for a
			// TaskManager and 604m for a JobManager; Ververica's documented minimum is 650m.
			d.write(names[i], benchSpec{Name: names[i], TaskManagers: 1,
				Resources: "  resources:\n    jobmanager:\n      memory: 650m\n    taskmanager:\n      memory: 1050m\n"}.yaml())
		}
		allRunning := func(list []api.ClusterStatus) (bool, string) {
			n := 0
			var other string
			for _, name := range names {
				st, ok := find(list, name)
				if ok && st.Phase == "RUNNING" && st.TaskManagers.Ready == 1 {
					n++
				} else if other == "" {
					other = fmt.Sprintf("; %s: %s %q", name, st.Phase, st.Message)
				}
			}
			return n == clusters, fmt.Sprintf("%d/%d RUNNING%s", n, clusters, other)
		}
		seen := d.waitListWithin(fmt.Sprintf("%d clusters RUNNING", clusters), time.Duration(clusters)*6*time.Second+2*time.Minute, allRunning)
		procs, threads := hostTasks()
		b.Logf("%d clusters RUNNING after %v (the engine has %d networks, %d before; the host runs %d processes, %d threads); settling for %v",
			clusters, seen.Sub(t0).Round(time.Millisecond), engineNetworks(b, cli), nets0, procs, threads, settle)
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
		// VmRSS counts the mapped pages of the binary too (RssFile); RssAnon is the daemon's
		// own memory.
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

		statusMed, statusMax := statusProcess(b, d, clusters, 20)
		b.Logf("flinkctl status -o json (a whole process, %d clusters): median %v, slowest %v of 20",
			clusters, statusMed.Round(100*time.Microsecond), statusMax.Round(100*time.Microsecond))

		restart := restartSeesAll(b, d, bin, env, args, names)

		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(clusters), "clusters")
		b.ReportMetric(float64(rss)/1024, "rss-MiB")
		b.ReportMetric(float64(rss)*1024/1e6, "rss-MB")
		b.ReportMetric(float64(hwm)/1024, "hwm-MiB")
		b.ReportMetric(float64(anon)/1024, "anon-MiB")
		b.ReportMetric(float64(rss0)/1024, "rss-empty-MiB")
		b.ReportMetric(cpu, "cpu-%core")
		b.ReportMetric(cpu0, "cpu-empty-%core")
		b.ReportMetric(float64(statusMed.Microseconds())/1000, "status-median-ms")
		b.ReportMetric(float64(statusMax.Microseconds())/1000, "status-max-ms")
		b.ReportMetric(float64(restart.Microseconds())/1000, "restart-all-running-ms")
		b.ReportMetric(load1, "load1-start")
		b.ReportMetric(load2, "load1-end")
	}
}

// hostTasks counts the host's processes (/proc) and threads (/proc/loadavg's total of
// scheduling entities).
func hostTasks() (procs, threads int) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
			procs++
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 3 {
			if _, t, ok := strings.Cut(f[3], "/"); ok {
				threads, _ = strconv.Atoi(t)
			}
		}
	}
	return procs, threads
}

// engineNetworks counts the engine's networks (every driver, anyone's).
func engineNetworks(tb testing.TB, cli *dockerclient.Client) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nets, err := cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return len(nets)
}

// statusProcess runs `flinkctl status -o json` runs times as a whole process and returns
// the median and slowest wall time; each run must list every cluster.
func statusProcess(tb testing.TB, d *daemon, clusters, runs int) (med, slowest time.Duration) {
	tb.Helper()
	times := make([]time.Duration, runs)
	for i := range times {
		t0 := time.Now()
		out, err := exec.Command(flinkctlBin, "--socket", d.sock, "status", "-o", "json").Output()
		times[i] = time.Since(t0)
		if err != nil {
			tb.Fatalf("flinkctl status -o json: %v", err)
		}
		var list []api.ClusterStatus
		if err := json.Unmarshal(out, &list); err != nil || len(list) < clusters {
			tb.Fatalf("flinkctl status -o json listed %d clusters (%v), want %d", len(list), err, clusters)
		}
	}
	slices.Sort(times)
	return median(times), times[len(times)-1]
}

// restartSeesAll stops d (SIGTERM), starts the same flinkd on the same folders with
// --log-level debug, and returns the time from its start until it has made a pass over
// every cluster of names and lists them all RUNNING. Nothing may have been recreated: the
// containers are the same ones, no cluster changed phase and no container was created.
func restartSeesAll(tb testing.TB, d *daemon, bin string, env, args []string, names []string) time.Duration {
	tb.Helper()
	before := ownedContainers(tb, d)
	d.terminate()
	logStart := logSize(tb, d)
	t0 := time.Now()
	d.launch(bin, env, append(slices.Clone(args), "--log-level", "debug")...)
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want["default/"+n] = true
	}
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for {
		passes, bad := newLogLines(tb, d, logStart)
		if len(bad) > 0 {
			tb.Fatalf("after the restart: %s", strings.Join(bad, "; "))
		}
		missing := 0
		var lastPass time.Time
		for k := range want {
			if t, ok := passes[k]; ok {
				if t.After(lastPass) {
					lastPass = t
				}
			} else {
				missing++
			}
		}
		if missing == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			list, _, err := d.api.Clusters(ctx)
			cancel()
			if err != nil {
				tb.Fatal(err)
			}
			for _, n := range names {
				if st, ok := find(list, n); !ok || st.Phase != "RUNNING" {
					tb.Fatalf("after the restart %s is %s (%q)", n, st.Phase, st.Message)
				}
			}
			after := ownedContainers(tb, d)
			if !maps.Equal(before, after) {
				tb.Fatalf("after the restart the containers differ: %d before, %d after", len(before), len(after))
			}
			took := lastPass.Sub(t0)
			tb.Logf("restart: every one of %d clusters passed and RUNNING %v after flinkd started; %d containers, none recreated",
				len(names), took.Round(time.Millisecond), len(after))
			return took
		}
		last = fmt.Sprintf("%d of %d clusters not passed yet", missing, len(names))
		if time.Now().After(deadline) {
			tb.Fatalf("after the restart: %s within 2m", last)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// ownedContainers maps the names of the daemon's containers to their IDs.
func ownedContainers(tb testing.TB, d *daemon) map[string]string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctrs, err := d.docker.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", runtime.LabelOwner+"="+d.owner))})
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]string, len(ctrs))
	for _, c := range ctrs {
		out[strings.Join(c.Names, ",")] = c.ID
	}
	return out
}

func logSize(tb testing.TB, d *daemon) int64 {
	tb.Helper()
	st, err := os.Stat(d.log)
	if err != nil {
		tb.Fatal(err)
	}
	return st.Size()
}

// newLogLines reads the daemon's JSON log from offset on: the time of each cluster's first
// "reconciled" line, and lines that must not appear after a restart (a phase change, a
// container created).
func newLogLines(tb testing.TB, d *daemon, offset int64) (passes map[string]time.Time, bad []string) {
	tb.Helper()
	data, err := os.ReadFile(d.log)
	if err != nil {
		tb.Fatal(err)
	}
	passes = map[string]time.Time{}
	for _, line := range strings.Split(string(data[offset:]), "\n") {
		var l struct {
			Time    time.Time `json:"time"`
			Msg     string    `json:"msg"`
			Cluster string    `json:"cluster"`
			Phase   string    `json:"phase"`
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch l.Msg {
		case "reconciled":
			if _, ok := passes[l.Cluster]; !ok {
				passes[l.Cluster] = l.Time
			}
		case "cluster phase", "container created", "container removed":
			bad = append(bad, line)
		}
	}
	return passes, bad
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

func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
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
