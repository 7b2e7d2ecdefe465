// Package e2e holds the end-to-end tests of flinkd and flinkctl: the real binaries, built
// once per run, as real processes against the real Docker engine, running the Flink stand-in
// images (localhost/flink-sim:<version>, built by hack/sim-image.sh when missing) and, in the
// "/real" subtests of the tests written with onEachImage, real Flink
// (localhost/flink-real:1.20 and :2.2, built by hack/flink-image.sh when missing or out of
// date; one that cannot be built fails those subtests with the reason, never skips them).
//
// Each test starts its own flinkd on its own temp folders (specs, data, socket), so each has
// its own owner identity: everything a test's daemon creates carries
// flinkd.io/owner=<identity>, and each test removes exactly that when it ends, even when it
// fails. Cluster names carry a random suffix because container names are global to the engine.
//
//	bash hack/ensure-docker.sh
//	go test -count=1 -timeout 20m ./test/e2e
//	go test -count=1 ./test/e2e -skip '/real$'     # without real Flink
//
// Without a Docker engine the tests fail; -short skips them (make test-short: unit tests only).
package e2e
