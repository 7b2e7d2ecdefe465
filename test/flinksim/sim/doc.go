// Package sim is flink-sim, a stand-in for the official Apache Flink image and for a Flink
// session cluster, for tests: no real Flink image can be pulled where flinkd is tested.
// It is a test fixture, kept apart from flinkd's code (it imports nothing from internal/).
//
// The stand-in honours the image's contract, quirks included, so that a mistake that would
// break the real image breaks it too. It is used two ways:
//
//   - As the image localhost/flink-sim:<version> (hack/sim-image.sh; the program is
//     test/flinksim, a thin wrapper over Entrypoint).
//   - In process: StartJobManager and StartTaskManager give tests a JobManager with the real
//     REST API and TaskManagers that register with it over the network.
//
// # Entrypoint (docker-entrypoint.sh)
//
// Commands: jobmanager, taskmanager, help (the default; exit 0). Any other command prints
// "flink-sim: command X is not emulated" and exits 127. $FLINK_HOME (image: /opt/flink)
// holds conf/; $FLINK_VERSION (image: the tag's major.minor) picks the behaviour.
//
// Before any command, even help, the configuration is prepared as the real script does:
// jobmanager.rpc.address = $JOB_MANAGER_RPC_ADDRESS, or the container's host name when unset
// (so a TaskManager without it points at itself and never registers); blob.server.port
// 6124; query.server.port 6125; taskmanager.numberOfTaskSlots =
// $TASK_MANAGER_NUMBER_OF_TASK_SLOTS when set; then each FLINK_PROPERTIES line. The result
// is written back into conf/:
//
//   - 1.19 to 2.1 (bin/config-parser-utils.sh): FLINK_PROPERTIES lines lose ALL
//     whitespace ("a: -Xmx1g -Dx=y" sets a to "-Xmx1g-Dx=y"), are split at the first ':',
//     and the value goes through envsubst. The whole configuration is written over
//     flink-conf.yaml when that file exists (even on 2.x, which never reads it), else over
//     config.yaml.
//   - 2.2 on: the same, but lines are only trimmed.
//   - 1.18 and before: sed edits of flink-conf.yaml (comments kept), FLINK_PROPERTIES
//     appended verbatim, then the whole file goes through envsubst.
//
// The script has no "set -e": when conf/ or the file is not writable it prints the shell's
// error ("/opt/flink/bin/config-parser-utils.sh: line 45: /opt/flink/conf/config.yaml:
// Read-only file system", "Permission denied", "sed: couldn't open temporary file ...")
// and starts the command anyway with the file as it was, so the edits are lost. This is
// what the real image does (a Kubernetes ConfigMap mounted on conf/ shows exactly these
// lines and the cluster still starts).
//
// The configuration is then read as that Flink version does: before 1.19 only
// flink-conf.yaml (missing: startup fails); on 1.19 and 1.20 flink-conf.yaml when present,
// else config.yaml; from 2.0 only config.yaml (a present flink-conf.yaml is logged as
// ignored). flink-conf.yaml uses Flink's legacy line reader ("key: value" split at the
// first ": ", everything after '#' dropped, no unquoting); config.yaml is standard YAML
// (nested keys flattened with dots, quotes removed, duplicate keys rejected). Arguments
// "-D key=value" and "-Dkey=value" override the file without being written back; for the
// jobmanager a first plain argument is the host (jobmanager.rpc.address) and a second the
// REST port, as in bin/jobmanager.sh.
//
// Memory is checked as Flink's BashJavaUtils does before the JVM starts: a process without
// a process size, Flink size or fine-grained sizes, with a size Flink cannot parse
// ("1.5g", "2Gi"), or with components that exceed the total, prints "[ERROR] Could not get
// JVM parameters and dynamic configurations properly." and exits 1.
//
// # Logging
//
// Lines go to stdout in Log4j's console pattern
// "%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n" (the empty %x prints "[]"), filtered
// by $FLINK_HOME/conf/log4j-console.properties (see ParseLog4j), re-read every
// monitorInterval seconds when it changes. A missing or unparsable file gives Log4j's
// default: root ERROR. Every effective configuration entry is logged at start by
// org.apache.flink.configuration.GlobalConfiguration as "Loading configuration property:
// <key>, <value>" (values of keys containing password, secret, key or token as "******").
//
// Probe lines: at start, and again after each reload of the Log4j file, every process logs
// for each logger of ProbeLoggers()
//
//	org.apache.flink.streaming.examples.sim.Probe
//	org.apache.flink.runtime.sim.Probe
//	org.apache.kafka.sim.Probe
//
// one line at each of TRACE, DEBUG, INFO, WARN and ERROR, with the message
// "flink-sim probe at <LEVEL>" (ProbeMessage). With the image's default file only the
// INFO, WARN and ERROR ones appear; with logger org.apache.flink.streaming.examples at
// DEBUG the examples DEBUG line appears and the runtime one does not; org.apache.kafka is
// pinned at INFO by the default file.
//
// # Cluster
//
// The JobManager listens for TaskManagers on jobmanager.bind-host:jobmanager.rpc.port
// (6123) and serves REST on rest.bind-address:rest.port (8081). TaskManagers listen on
// taskmanager.bind-host:taskmanager.rpc.port (random by default) and register at
// jobmanager.rpc.address:jobmanager.rpc.port with the resource ID taskmanager.resource-id,
// or "<host>:<port>-<6 hex>". As with Pekko, the JobManager accepts a TaskManager only if
// the host name the TaskManager uses is exactly its own jobmanager.rpc.address (it logs
// "dropping message ... for non-local recipient" otherwise), and a host name with '_' can
// never be reached. While it cannot register, a TaskManager logs "Could not resolve
// ResourceManager address pekko.tcp://flink@<addr>:6123/user/rpc/resourcemanager_*,
// retrying in 10000 ms: ..." every cluster.registration.error-delay; it gives up with exit
// code 2 after taskmanager.registration.timeout (5 min). TaskManagers offer
// taskmanager.numberOfTaskSlots slots and heartbeat every heartbeat.interval; the JobManager
// drops one after heartbeat.timeout without a heartbeat. On SIGTERM/SIGINT a TaskManager
// deregisters at once; both processes exit with 128+signal (143 for SIGTERM), as the JVM
// does. DELETE /cluster makes the JobManager exit 0.
//
// # TLS
//
// With security.ssl.internal.enabled the RPC port speaks mutual TLS: TaskManagers present
// the keystore's certificate and the JobManager admits only those its truststore trusts,
// logging a refused one as Pekko does ("Remote connection to [/ip:port] failed with
// javax.net.ssl.SSLHandshakeException: ..."); the refused TaskManager keeps retrying. With
// security.ssl.rest.enabled the REST API is https from security.ssl.rest.keystore, plain
// http gets no answer, and with security.ssl.rest.authentication-enabled only clients whose
// certificate security.ssl.rest.truststore trusts get in. PKCS12 stores are read with their
// passwords as the JVM reads them; a wrong password, a missing option or an unreadable file
// stops the process at start with the Java exception's text. See tls.go.
//
// # REST API
//
// Wire names and status codes as Flink's: GET /config, /overview, /jobmanager/config,
// /taskmanagers, /taskmanagers/:id, /jobs, /jobs/overview, /jobs/:id, /jobs/:id/status,
// /jobs/:id/exceptions, /jars, /jobs/:id/savepoints/:triggerid; POST /jars/upload,
// /jars/:jarid/run, /jobs/:id/stop, /jobs/:id/savepoints; PATCH /jobs/:id?mode=cancel
// (202); DELETE /jars/:jarid, /cluster. Paths may carry the /v1 prefix. Like Flink's
// router, an unknown path and a wrong method are both 404 {"errors":["Not found: <uri>"]}.
// The jar endpoints exist only while web.submit.enable is true (the default).
//
// Any uploaded *.jar becomes a job when run: one vertex of the requested parallelism
// (default parallelism.default) that takes that many slots, one per TaskManager in turn.
// Without enough free slots it waits in CREATED. When a TaskManager holding its slots
// deregisters or stops heartbeating, the job records an exceptionHistory entry, goes
// RESTARTING and, after the restart delay, runs again on free slots (with
// restart-strategy none it FAILS). Cancel goes CANCELLING then CANCELED; stop-with-savepoint
// needs a targetDirectory or a configured savepoint directory (else 400, as Flink), answers
// 202 {"request-id"}, reports IN_PROGRESS then COMPLETED with the savepoint location, and
// the job FINISHES.
package sim
