// Package flinkreal holds the tests of the real-Flink test images localhost/flink-real:1.20
// and :2.2, which hack/flink-image.sh builds from Flink's own jars (test/flinkreal/image).
// They run real JobManagers and TaskManagers on the real Docker engine and record what a
// client of real Flink sees: the REST bodies, the configuration rewrite and its failures,
// the memory model's errors, the Java 17 module flags. That record is what the stand-in
// (test/flinksim) is held to.
//
// An image that cannot be built (no engine, no Maven, a jar whose sha256 differs from
// hack/flink-real.lock) fails every test with the build's output; nothing is skipped.
package flinkreal
