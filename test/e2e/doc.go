// Package e2e holds the end-to-end tests of flinkd and flinkctl: the real binaries, built
// once per run, as real processes against the real Docker engine, running the Flink stand-in
// image (localhost/flink-sim:1.20, built by hack/sim-image.sh when missing).
//
// Each test starts its own flinkd on its own temp folders (specs, data, socket), so each has
// its own owner identity: everything a test's daemon creates carries
// flinkd.io/owner=<identity>, and each test removes exactly that when it ends, even when it
// fails. Cluster names carry a random suffix because container names are global to the engine.
//
//	bash hack/ensure-docker.sh
//	go test -count=1 -timeout 20m ./test/e2e
//
// Without a Docker engine the tests fail; -short skips them (make test-short: unit tests only).
package e2e
