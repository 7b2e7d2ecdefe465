// Package fidelity holds the stand-in to real Flink: one suite of scenarios, each run
// against the real-Flink test image (localhost/flink-real:<line>, built from Flink's own
// jars by hack/flink-image.sh) and against the stand-in (test/flinksim, built from this
// worktree by hack/sim-image.sh under a throwaway tag), for the lines 1.20 and 2.2. A
// scenario records what a client sees of each (REST answers, configuration effects,
// failures, exit codes, the Flink message lines that matter), normalised, and fails on any
// difference between the two records.
//
// What legitimately differs between two runs (ids, timestamps, addresses, ports, random
// folders, the order of unordered things) is normalised in one place, normalize_test.go.
//
// What the stand-in cannot match, and so is not compared:
//   - Time: a JVM takes seconds to tens of seconds to start, the stand-in milliseconds.
//     Every scenario waits for a condition, and compares what each flavor shows once it
//     has settled, never how long it took.
//   - Java stack frames: the stand-in writes them shortened or not at all; the exception
//     chains (first line and every "Caused by:") and all other message lines are compared.
//   - The order of /jobmanager/config: it is the iteration order of a Java HashMap of the
//     JobManager's final configuration, which the JobManager fills in steps the stand-in
//     does not replay (the entries themselves are compared). The order of the files Flink
//     writes, and of the log lines of its configuration loader, is compared.
//   - Values of the machine and of the moment: hardware (physical and free memory),
//     durations, the build's commit (a string in both), the patch release (the line is
//     compared: the real images are the newest patch releases, the stand-in models a line).
//   - How long a TaskManager is counted with no slots, between its registration and its
//     slot report: the stand-in has that moment too (sim.slotReportGap, longer than real
//     Flink's usual one so that a client reading the count alone is caught), and the suite
//     waits for the slots.
//   - What a job's main() builds: the stand-in runs no user code. It knows the graph of
//     the flink-examples-streaming programs the suite submits (by the jar's program-class),
//     and gives any other jar its own pretend graph.
//
// The real images run Java 17 on both lines; the stand-in's 1.20 image is Java 11, like
// the official flink:1.20 tag, so the suite runs it with JAVA_VERSION of the real image.
//
// An image that cannot be built (no engine, no Maven, a checksum that differs) fails the
// suite with the build's output; nothing is skipped. Run it alone with
//
//	go test -count=1 -timeout 40m ./test/fidelity
package fidelity
