package flinkconf

import "strings"

// javaModuleFlags are the JVM options flink-dist's conf/config.yaml ships in
// env.java.opts.all from 1.19 on ("These parameters are required for Java 17 support"; file
// flink-dist/src/main/resources/config.yaml). The list is the union of the releases' lists
// (1.19 and 1.20 also export java.base/sun.net.util, 2.1 and 2.2 no longer do): every flag
// names a module and package that Java 11, 17 and 21 have, and bin/config.sh starts the JVM
// with -XX:+IgnoreUnrecognizedVMOptions, so the union is harmless where a release ships less.
func javaModuleFlags() string {
	return strings.Join([]string{
		"--add-exports=java.base/sun.net.util=ALL-UNNAMED",
		"--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
		"--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED",
		"--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
		"--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED",
		"--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED",
		"--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED",
		"--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
		"--add-opens=java.base/java.lang=ALL-UNNAMED",
		"--add-opens=java.base/java.net=ALL-UNNAMED",
		"--add-opens=java.base/java.io=ALL-UNNAMED",
		"--add-opens=java.base/java.nio=ALL-UNNAMED",
		"--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
		"--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
		"--add-opens=java.base/java.text=ALL-UNNAMED",
		"--add-opens=java.base/java.time=ALL-UNNAMED",
		"--add-opens=java.base/java.util=ALL-UNNAMED",
		"--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
		"--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
		"--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
	}, " ")
}

// DistDefaults returns the configuration the official image has in conf/ for Flink v:
// flink-dist's shipped file (flink-dist/src/main/resources/config.yaml from 1.19 on,
// flink-conf.yaml before), with the image's build-time edits applied (apache/flink-docker
// Dockerfile: rest.address, rest.bind-address, jobmanager.bind-host and taskmanager.bind-host
// 0.0.0.0, taskmanager.host removed).
//
// It is the stated fallback of the Kubernetes runtime, which cannot read the image before
// its pods run: its init container copies the image's conf/ folder into the pod's writable
// conf/ (so every other file the image ships survives) and then flinkd's config file, which
// holds these defaults merged with the cluster's. Keys a custom image adds to its own
// config.yaml are not seen there; the Docker runtime reads the image's file instead.
func DistDefaults(v Version) *Base {
	b := newBase()
	if v.StandardYAML() {
		b.set("env.java.opts.all", javaModuleFlags(), nil)
	}
	for _, kv := range [][2]string{
		{KeyJobManagerRPCAddress, "localhost"},
		{KeyJobManagerRPCPort, "6123"},
		{KeyJobManagerBindHost, "0.0.0.0"},
		{KeyJobManagerProcessSize, "1600m"},
		{"jobmanager.execution.failover-strategy", "region"},
		{KeyTaskManagerBindHost, "0.0.0.0"},
		{"taskmanager.numberOfTaskSlots", "1"},
		{KeyTaskManagerProcessSize, "1728m"},
		{"parallelism.default", "1"},
		{KeyRESTAddress, "0.0.0.0"},
		{KeyRESTBindAddress, "0.0.0.0"},
	} {
		b.set(kv[0], kv[1], nil)
	}
	return b
}
