package fidelity

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flinkd/flinkd/test/flinkbox"
)

// appendLines adds lines to a config.yaml.
func appendLines(lines ...string) func(string) string {
	return func(c string) string { return c + strings.Join(lines, "\n") + "\n" }
}

// only replaces a config.yaml by lines.
func only(lines ...string) func(string) string {
	return func(string) string { return strings.Join(lines, "\n") + "\n" }
}

// dropTopLevel removes a top-level key and its nested block from a YAML file.
func dropTopLevel(key string) func(string) string {
	return func(c string) string {
		var out []string
		skipping := false
		for _, l := range strings.Split(c, "\n") {
			if l != "" && l[0] != ' ' && l[0] != '#' {
				skipping = strings.HasPrefix(l, key+":")
			}
			if !skipping {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
}

// rewriteCase is one configuration the entrypoint rewrites at start.
type rewriteCase struct {
	name string
	edit func(string) string // from the real image's config.yaml to the mounted file
	env  map[string]string
	// start: also start a JobManager on the file as the rewrite left it.
	start bool
}

// runRewrite runs `help` (which prepares the configuration, prints the usage and exits)
// on a writable conf/ holding the case's file, and records the exit code and output, and
// config.yaml afterwards; with start, then a JobManager on what the rewrite left.
func runRewrite(t *testing.T, s *scope, r *record, i int, c rewriteCase) {
	t.Helper()
	dir := confDir(t, s.f.line, c.edit)
	env := map[string]string{"JOB_MANAGER_RPC_ADDRESS": "jobmanager"}
	for k, v := range c.env {
		env[k] = v
	}
	bind := []string{dir + ":/opt/flink/conf"}
	code, out := waitExit(t, s.Start(t, flinkbox.Node{Alias: fmt.Sprintf("help-%d", i), Cmd: []string{"help"}, Env: env, Binds: bind}))
	r.see(c.name+": help", out.observed(code))
	after := readFile(t, filepath.Join(dir, "config.yaml"))
	r.see(c.name+": config.yaml after the rewrite", messages(after))
	if !c.start {
		return
	}
	code, out = waitExit(t, s.Start(t, flinkbox.Node{Alias: fmt.Sprintf("jobmanager-%d", i), Cmd: []string{"jobmanager"}, Env: env, Binds: bind}))
	r.see(c.name+": jobmanager", out.observed(code))
	r.see(c.name+": config.yaml after the jobmanager", messages(readFile(t, filepath.Join(dir, "config.yaml"))))
}

// A writable config.yaml, rewritten by the entrypoint with Flink's nested dump
// (YamlParserUtils.convertAndDumpYamlFromFlatMap in the order of Configuration's HashMap):
// the image's own file, prefix pairs that are dropped silently, prefix pairs that throw
// ClassCastException (with and without the second rewrite FLINK_PROPERTIES causes), a key
// without a value, and a start on what such a rewrite leaves.
func TestWritableConfigWithPrefixPairs(t *testing.T) {
	cases := []rewriteCase{
		{name: "the image's config.yaml"},
		{name: "state.backend beside state.backend.incremental",
			edit: appendLines("state.backend: hashmap", "state.backend.incremental: true")},
		{name: "restart-strategy beside restart-strategy.fixed-delay.attempts",
			edit: appendLines("restart-strategy: fixed-delay", "restart-strategy.fixed-delay.attempts: 3")},
		{name: "only the restart-strategy pair", start: true,
			edit: only("restart-strategy: fixed-delay", "restart-strategy.fixed-delay.attempts: 3")},
		{name: "a legacy env.java.opts beside env.java.opts.all",
			edit: appendLines("env.java.opts: -Dfidelity=legacy")},
		{name: "a legacy env.java.opts beside env.java.opts.all, with FLINK_PROPERTIES", start: true,
			edit: appendLines("env.java.opts: -Dfidelity=legacy"),
			env:  map[string]string{"FLINK_PROPERTIES": clusterProperties()}},
		{name: "a key without a value", start: true, edit: appendLines("fidelity.empty:")},
	}
	judge(t, func(t *testing.T, f flavor, r *record) {
		s := newScope(t, f)
		for i, c := range cases {
			runRewrite(t, s, r, i, c)
		}
	})
}

// hashOrderCases are files in which a prefix pair (fidelity.pair-N, fidelity.pair-N.detail)
// sits among n other keys, flat or nested: whether Flink's dump drops the longer key or
// throws depends on the order in which the HashMap of the whole configuration yields the
// two, so on their hashes, the table's size (the number of keys) and, when they share a
// bucket, on the order they were put in. The pairs are chosen so that both outcomes occur:
// pair-4 shares a bucket up to 32 buckets and comes short first from 64; pair-20 comes
// long first at 16 and 64 buckets, short first at 32; pair-13 shares a bucket up to 16.
func hashOrderCases() []rewriteCase {
	fillers := func(n int, nested bool) []string {
		var out []string
		if nested && n > 0 {
			out = append(out, "fidelity:")
		}
		for i := range n {
			if nested {
				out = append(out, fmt.Sprintf("  option-%d: value-%d", i, i))
			} else {
				out = append(out, fmt.Sprintf("fidelity.option-%d: value-%d", i, i))
			}
		}
		return out
	}
	var cases []rewriteCase
	for _, c := range []struct {
		pair, n           int
		nested, longFirst bool
	}{
		{4, 0, false, false}, {4, 0, false, true}, {4, 30, false, true},
		{20, 3, false, false}, {20, 12, true, false}, {20, 30, false, false},
		{13, 4, true, true}, {13, 8, true, true},
	} {
		short := fmt.Sprintf("fidelity.pair-%d", c.pair)
		pair := []string{short + ": short", short + ".detail: long"}
		first := "short"
		if c.longFirst {
			pair[0], pair[1], first = pair[1], pair[0], "long"
		}
		layout := "flat"
		if c.nested {
			layout = "nested"
		}
		cases = append(cases, rewriteCase{
			name: fmt.Sprintf("%s among %d %s keys, the %s key first", short, c.n, layout, first),
			edit: only(append(fillers(c.n, c.nested), pair...)...),
		})
	}
	return cases
}

// Flink's HashMap order decides each prefix pair's fate; the stand-in computes that order
// (String.hashCode, table sizes, bucket order, insertion order) and must agree on every
// file.
func TestPrefixPairOutcomeFollowsFlinksHashMapOrder(t *testing.T) {
	cases := hashOrderCases()
	judge(t, func(t *testing.T, f flavor, r *record) {
		s := newScope(t, f)
		dropped, thrown := 0, 0
		for i, c := range cases {
			runRewrite(t, s, r, i, c)
			after := strings.Join(r.obs[c.name+": config.yaml after the rewrite"].([]string), "\n")
			switch {
			case strings.Contains(after, "ClassCastException"):
				thrown++
			case strings.Contains(after, ": short"):
				dropped++
			}
		}
		// Otherwise the scenario would not test the order at all.
		if f.kind == "real" && (dropped == 0 || thrown == 0) {
			t.Errorf("real Flink %s: %d files dropped the longer key and %d threw; the cases must show both outcomes", f.line, dropped, thrown)
		}
	})
}

// The order in which Flink loads a file is not only its hashes: 1.20 flattens each nested
// mapping into a HashMap of its own and merges it with putAll, which sizes an empty map for
// all of the child's keys at once (32 buckets for 12), while 2.2 fills one map key by key
// (16 buckets). For this file the two lines list the keys in different orders; a read-only
// conf/ keeps the file as it is, and the memory model's refusal (10m) prints them.
func TestLoadOrderOfANestedFilePerLine(t *testing.T) {
	lines := []string{"taskmanager:", "  memory:", "    process:", "      size: 10m"}
	for i := 1; i <= 11; i++ {
		lines = append(lines, fmt.Sprintf("  a%d: v", i))
	}
	judge(t, func(t *testing.T, f flavor, r *record) {
		s := newScope(t, f)
		dir := confDir(t, f.line, only(lines...))
		code, out := waitExit(t, s.Start(t, flinkbox.Node{Alias: "taskmanager", Cmd: []string{"taskmanager"},
			Binds: []string{dir + ":/opt/flink/conf:ro"}}))
		r.see("taskmanager", out.observed(code))
	})
}

// FLINK_PROPERTIES lines lose every whitespace character before Flink sees them; numbers
// given as -D values are Strings, which the nested dump quotes.
func TestFlinkPropertiesWithSpaces(t *testing.T) {
	judge(t, func(t *testing.T, f flavor, r *record) {
		s := newScope(t, f)
		runRewrite(t, s, r, 0, rewriteCase{name: "FLINK_PROPERTIES with spaces", env: map[string]string{"FLINK_PROPERTIES": strings.Join([]string{
			"env.java.opts.jobmanager: -Dfidelity.a=one -Dfidelity.b=two",
			"restart-strategy.fixed-delay.delay: 10 s",
			"   fidelity.spaced  :  a b   c  ",
			"taskmanager.numberOfTaskSlots: 1",
		}, "\n")}})
	})
}

// A read-only conf/ (a Kubernetes ConfigMap, say) holding a user's config.yaml without the
// Java 17 module flags the image ships (env.java.opts.all): the rewrite cannot write the
// file, says so once per rewrite, and the JobManager starts with the file as it is (none of
// the entrypoint's overrides); the cluster runs, but a job built on the DataStream API
// cannot even be submitted: the run answers 400 with InaccessibleObjectException, and every
// later run in the same JVM with NoClassDefFoundError.
func TestReadOnlyConfigWithoutTheModuleFlags(t *testing.T) {
	judge(t, func(t *testing.T, f flavor, r *record) {
		s := newScope(t, f)
		dir := confDir(t, f.line, dropTopLevel("env"))
		before := readFile(t, filepath.Join(dir, "config.yaml"))
		jm := s.Start(t, flinkbox.Node{Alias: "jobmanager", Cmd: []string{"jobmanager"}, REST: true,
			Env:   map[string]string{"FLINK_PROPERTIES": clusterProperties()},
			Binds: []string{dir + ":/opt/flink/conf:ro"}})
		rest := flinkbox.RESTURL(t, jm)
		logs := containerLogs(t, jm)
		r.see("the shell's errors", linesWith(logs, "Read-only file system"))
		r.see("JVM options with module flags", len(linesWith(logs, "--add-opens")))
		r.see("config.yaml unchanged", readFile(t, filepath.Join(dir, "config.yaml")) == before)
		r.see("/jobmanager/config", configOf(get(t, rest+"/jobmanager/config")))

		up := uploadJar(t, f.line, rest, "WindowJoin.jar")
		jar := str(field(up.body, "filename"))
		jar = jar[strings.LastIndex(jar, "/")+1:]
		for attempt := 1; attempt <= 2; attempt++ {
			run := postJSON(t, rest+"/jars/"+jar+"/run", map[string]any{"parallelism": 1})
			var chains [][]string
			list, _ := field(run.body, "errors").([]any)
			for _, e := range list {
				chains = append(chains, causes(str(e)))
			}
			r.see(fmt.Sprintf("run %d", attempt), map[string]any{"errors": errorsOf(run), "causes": chains})
		}
		r.see("/jobs/overview", answer(get(t, rest+"/jobs/overview"), "jobs"))
	})
}

// Memory sizes below Flink's minimums: Flink's memory model refuses them before the JVM
// starts, and the container exits 1 with Flink's message.
func TestMemoryBelowFlinksMinimum(t *testing.T) {
	judge(t, func(t *testing.T, f flavor, r *record) {
		s := newScope(t, f)
		for _, c := range []struct{ cmd, props string }{
			// 10^9 bytes: what "1g" means in a Ververica spec.
			{"taskmanager", "taskmanager.memory.process.size: 1000000000"},
			{"jobmanager", "jobmanager.memory.process.size: 500m"},
		} {
			n := s.Start(t, flinkbox.Node{Alias: c.cmd, Cmd: []string{c.cmd},
				Env: map[string]string{"FLINK_PROPERTIES": "jobmanager.rpc.address: jobmanager\n" + c.props}})
			code, out := waitExit(t, n)
			r.see(c.cmd+" with "+c.props, out.observed(code))
		}
	})
}
