package fidelity

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The normalisation: everything the suite lets differ between the real image and the
// stand-in is written here, once, with the reason. Anything not named here is compared as
// it is.

// textRules rewrite values that legitimately differ between any two runs of the same image
// (and so between the flavors), in this order.
var textRules = []struct {
	re   *regexp.Regexp
	repl string
	why  string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}`), "<time>", "log timestamps"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<uuid>", "random UUIDs: jar ids, upload and web.tmpdir folders"},
	{regexp.MustCompile(`savepoint-[0-9a-f]{6}-[0-9a-f]{12}`), "savepoint-<job>-<random>", "savepoint folders: the job id's head and 12 random hex digits"},
	{regexp.MustCompile(`\b[0-9a-f]{32}\b`), "<id>", "job, vertex, trigger and slot sharing group ids"},
	{regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}:\d+-[0-9a-f]{6}\b`), "<ip>:<port>-<hex>", "TaskManager resource ids (address, random port, random suffix)"},
	{regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b`), "<ip>", "container addresses on a fresh network, random ports"},
	{regexp.MustCompile(`(unnamed module) @[0-9a-f]{1,8}\b`), "$1 @<hash>", "Java identity hash codes"},
	{regexp.MustCompile(`(?m)^\S*: line \d+: (/opt/flink/conf/)`), "<script>: line <n>: $1",
		"the shell error of a failed rewrite names the script and line that wrote: upstream's config-parser-utils.sh (line 45 on 1.20, 42 on 2.2), which the stand-in prints, is the real image's own entrypoint there (test/flinkreal/image)"},
}

func normText(s string) string {
	for _, r := range textRules {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

// normValue normalises every string inside a JSON value.
func normValue(v any) any {
	switch x := v.(type) {
	case string:
		return normText(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normValue(e)
		}
		return out
	}
	return v
}

// shape is a JSON value with every scalar replaced by its JSON type: objects keep their
// keys, arrays their length. Values flinkd or a user reads are compared on top of it, by
// name, in the scenarios.
func shape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = shape(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = shape(e)
		}
		return out
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// suiteStart bounds the timestamps a run can show.
var suiteStart = time.Now()

// epoch normalises a value that is an epoch-millisecond timestamp: one taken during the
// suite's run is "<epoch-ms>" (which moment differs between any two runs), -1 and 0 (Flink's
// "not set") stay, anything else is shown as it is and so differs.
func epoch(v any) any {
	n, ok := v.(float64)
	if !ok {
		return v
	}
	if n == -1 || n == 0 {
		return n
	}
	if t := time.UnixMilli(int64(n)); !t.Before(suiteStart.Add(-time.Minute)) && !t.After(time.Now().Add(time.Minute)) {
		return "<epoch-ms>"
	}
	return n
}

// lastHeartbeat normalises /taskmanagers' timeSinceLastHeartbeat, which despite its name is
// the epoch millis of the last heartbeat, or 0 before the first one (one heartbeat.interval,
// 10 s, after the registration). Which of the two a run sees depends on when it looks, so
// both are "<last heartbeat>"; a duration (a small number) is shown as it is, and differs.
func lastHeartbeat(v any) any {
	if n, ok := v.(float64); ok && n == 0 || epoch(v) == "<epoch-ms>" {
		return "<last heartbeat>"
	}
	return v
}

// firstLine is a text up to its first line break.
func firstLine(s string) string {
	head, _, _ := strings.Cut(s, "\n")
	return head
}

// errorsOf is Flink's error body {"errors": [...]} as compared: the status, and each
// message's first line, normalised. A message's further lines are a Java stack trace: the
// stand-in shortens its frames (see doc.go), so only its exception chain is compared, by
// causes, where a scenario asks for it.
func errorsOf(r reply) map[string]any {
	var heads []string
	list, _ := field(r.body, "errors").([]any)
	for _, e := range list {
		msg := str(e)
		head := firstLine(msg)
		// An internal error is "<Exception on server side:\n<the exception>...": its head
		// is the exception's first line.
		if head == "<Exception on server side:" {
			head += " " + firstLine(strings.TrimPrefix(msg, head+"\n"))
		}
		heads = append(heads, normText(head))
	}
	return map[string]any{"status": r.status, "errors": heads, "keys": shape(r.body)}
}

// causes is the exception chain of a Java stack trace: its first line and every "Caused
// by:" line, normalised. Frames ("\tat ...", "\t... N more") are not compared.
func causes(trace string) []string {
	var out []string
	for i, l := range strings.Split(trace, "\n") {
		if i == 0 || strings.HasPrefix(l, "Caused by: ") {
			out = append(out, normText(l))
		}
	}
	return out
}

// messages are the lines of a log or a file without Java stack frames ("\tat ...",
// "\t... N more") and blank lines, normalised: what Flink says, line by line, in order.
// The frames are not compared: the stand-in writes them shortened, or not at all.
func messages(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimRight(l, "\r")
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "at ") && strings.HasPrefix(l, "\t") || strings.HasPrefix(t, "... ") && strings.HasSuffix(t, " more") {
			continue
		}
		out = append(out, normText(l))
	}
	return out
}

// linesWith are the lines of a log (or of a file) that contain one of the markers, in
// order, normalised: the Flink message lines a scenario compares. Repeated lines are kept
// (how often a message appears is compared too).
func linesWith(text string, markers ...string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimRight(l, "\r")
		for _, m := range markers {
			if strings.Contains(l, m) {
				out = append(out, normText(l))
				break
			}
		}
	}
	return out
}

// unordered sorts normalised entries whose order carries no meaning: the TaskManagers of
// /taskmanagers come in the order of their random resource ids, and /jobmanager/config in
// the order of a Java HashMap of the JobManager's final configuration (see doc.go).
func unordered(entries []string) []string {
	sort.Strings(entries)
	return entries
}

// ephemeralPort matches a port the system picked (Linux's ephemeral range starts at 32768):
// what Flink writes into its configuration for a server told to take any free port
// (blob.server.port unset or 0, see ClusterEntrypoint.initializeServices).
var ephemeralPort = regexp.MustCompile(`^(3[2-9]|[4-6][0-9])[0-9]{3}$`)

// configValue normalises a /jobmanager/config value.
func configValue(v string) string {
	if ephemeralPort.MatchString(v) {
		return "<ephemeral port>"
	}
	return normText(v)
}

// jobsInOrder is /jobs/overview's list as compared. 2.x sorts it, newest first
// (Dispatcher.requestMultipleJobDetails); 1.20 returns a HashSet of JobDetails, whose hash
// includes an enum's identity hash, so its order differs from run to run and the entries
// are compared unordered.
func jobsInOrder(line string, jobs []any) []any {
	if !strings.HasPrefix(line, "1.") {
		return jobs
	}
	sort.SliceStable(jobs, func(a, b int) bool { return fmt.Sprint(jobs[a]) < fmt.Sprint(jobs[b]) })
	return jobs
}

// version is flink-version as compared: the line (major.minor). The real images are the
// newest patch releases (hack/flink-real.versions); the stand-in models the line, not a
// patch release.
func version(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return s
	}
	return parts[0] + "." + parts[1]
}
