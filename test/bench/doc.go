// Package bench holds flinkd's Docker benchmarks (issues #4 and #14), run by `make bench`
// (hack/bench.sh); docs/benchmarks.md has the commands and the figures.
//
//   - BenchmarkStartToRunning: writing a SessionCluster file (1 JobManager + 8 TaskManagers)
//     until `flinkctl status --watch -o json` shows it RUNNING, against package baseline
//     (the engine's limit: the same containers, created as early as each can be, /overview
//     checked every 20 ms) and docker compose v2 on the same containers when it answers.
//     Runs alternate flinkd, baseline, compose, flinkd, … on a fresh cluster each, and
//     report the median, min and max of each side, the ratios of the medians and of the
//     slowest runs, and how soon flinkd showed RUNNING after its JobManager first reported
//     every TaskManager.
//   - BenchmarkScale2To20: the same comparison for editing numberOfTaskManagers from 2 to 20.
//   - BenchmarkDaemonIdle100Clusters: 100 RUNNING clusters on the engine as configured:
//     flinkd's resident memory, its CPU use over an idle window, `flinkctl status -o json`
//     as a process, and a restart that must see every cluster RUNNING again with nothing
//     recreated.
//
// The flinkd side is the real binaries, built once in TestMain and run as processes on temp
// folders against the local engine. Everything a run creates is removed after it: flinkd's
// clusters by deleting their files (then by the daemon's owner label), the baseline's and
// compose's by the baseline's own label.
package bench
