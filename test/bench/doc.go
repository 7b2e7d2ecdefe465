// Package bench holds flinkd's Docker benchmarks (issue #4), run by `make bench`
// (hack/bench.sh); docs/benchmarks.md has the commands and the figures.
//
//   - BenchmarkStartToRunning: writing a SessionCluster file (1 JobManager + 8 TaskManagers)
//     until flinkd reports it RUNNING, against package baseline, which creates the same
//     containers with no daemon. Runs alternate flinkd, baseline, flinkd, baseline, … on a
//     fresh cluster each, and report the median, min and max of each side and the ratio of
//     the medians.
//   - BenchmarkScale2To20: the same comparison for editing numberOfTaskManagers from 2 to 20.
//   - BenchmarkDaemonIdle20Clusters: flinkd's resident memory with 20 RUNNING clusters and
//     its CPU use over an idle window.
//
// The flinkd side is the real binary, built once in TestMain and run as a process on temp
// folders against the local engine; it is watched through the API's long poll
// (client.WatchClusters). Everything a run creates is removed after it: flinkd's clusters
// by deleting their files (then by the daemon's owner label), the baseline's by its own
// label.
package bench
