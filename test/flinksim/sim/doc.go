// Package sim is flink-sim, a stand-in for the official Apache Flink image and for a Flink
// session cluster, for tests: no real Flink image can be pulled where flinkd is tested.
// It is a test fixture, kept apart from flinkd's code (it imports nothing from internal/).
//
// The stand-in honours the image's contract, quirks included, so that a mistake that would
// break the real image breaks it too. Every behaviour names, where it is written, the
// upstream file and function it follows (apache/flink-docker's docker-entrypoint.sh and
// Dockerfile per version; flink-dist's bin/config-parser-utils.sh, bin/bash-java-utils.sh,
// bin/config.sh; flink-core's GlobalConfiguration, YamlParserUtils, ConfigurationUtils,
// MemorySize; flink-runtime's BashJavaUtils, FlinkConfigLoader, ConfigurationParserUtils,
// ProcessMemoryUtils, TaskExecutorFlinkMemoryUtils, JobManagerFlinkMemoryUtils). Where the
// real behaviour was measured rather than read (flink-dist 1.20.4 and 2.2.1 run with a
// JVM), the tests say so. It is used two ways:
//
//   - As the images localhost/flink-sim:1.18, :1.20 and :2.2 (hack/sim-image.sh; the
//     program is test/flinksim, a thin wrapper over Entrypoint).
//   - In process: StartJobManager and StartTaskManager give tests a JobManager with the real
//     REST API and TaskManagers that register with it over the network.
//
// # Images
//
// Each image follows its version's official one (apache/flink-docker Dockerfile):
//
//   - 1.18: conf/flink-conf.yaml (flink-dist 1.18.1's, after the Dockerfile's sed edits:
//     bind hosts and rest.address 0.0.0.0, taskmanager.host removed; comments left out),
//     runs as root and steps down to flink (9999) before jobmanager/taskmanager (gosu),
//     Java 11.
//   - 1.20: conf/config.yaml as the image has it after its build-time config-parser-utils.sh
//     run: nested, in HashMap order, env.java.opts.all with the Java 17 module flags, no
//     rest.bind-address (commented out in flink-dist's file). Root, stepping down to flink;
//     Java 11 (flink:1.20 is java11).
//   - 2.2: the same from flink-dist 2.2.1 (module flags without sun.net.util), USER flink
//     from the start (no gosu; as root the entrypoint only warns), Java 17.
//
// $JAVA_VERSION (as eclipse-temurin sets it) gives the Java version (JavaMajor). /opt/flink
// belongs to flink. The entrypoint's file writes happen as the container's user: root on
// 1.x (so a file's mode does not stop the rewrite, only a read-only mount does), flink on
// 2.2.
//
// # Entrypoint (docker-entrypoint.sh)
//
// Commands: jobmanager, taskmanager, help (the default; exit 0). Any other command prints
// "flink-sim: command X is not emulated" and exits 127. $FLINK_HOME (image: /opt/flink)
// holds conf/; $FLINK_VERSION (image: the tag's major.minor) picks the behaviour.
//
// Before any command, even help, the configuration is prepared as the real script does
// (prepare_configuration): jobmanager.rpc.address = $JOB_MANAGER_RPC_ADDRESS, or the
// container's host name when unset (so a TaskManager without it points at itself and never
// registers); blob.server.port 6124; query.server.port 6125; taskmanager.numberOfTaskSlots
// = $TASK_MANAGER_NUMBER_OF_TASK_SLOTS when set; then each FLINK_PROPERTIES line.
//
//   - 1.19 on (bin/config-parser-utils.sh, run twice: the fixed options, then
//     FLINK_PROPERTIES): FLINK_PROPERTIES lines lose ALL whitespace ("a: -Xmx1g -Dx=y" sets a
//     to "-Xmx1g-Dx=y", in every version up to 2.2), are split at the first ':', and the
//     value goes through envsubst. Flink loads the file, applies the options and writes the
//     whole configuration back: NESTED (YamlParserUtils.convertAndDumpYamlFromFlatMap: every
//     key split on '.', in Java HashMap order, strings quoted as snakeyaml quotes them) over
//     config.yaml; on 1.19/1.20 a present flink-conf.yaml is written instead, flat. 2.2
//     writes config.yaml only.
//   - The order is computed as Java gives it (javamap.go): String.hashCode, the table sizes
//     each java.util.HashMap grows through (and putAll's sizing of an empty map), bucket
//     order, insertion order within a bucket; the -D options pass through a Properties'
//     ConcurrentHashMap and stringPropertyNames' HashMap first; 1.19/1.20 flatten each
//     nested mapping into a HashMap of its own, 2.x into one. Held to OpenJDK 17
//     (testdata/javamap-openjdk17.txt) and file by file to the real images (test/fidelity).
//   - A key that is a strict dotted prefix of another (state.backend and
//     state.backend.incremental, restart-strategy and restart-strategy.fixed-delay.attempts,
//     high-availability and high-availability.storageDir, env.java.opts and
//     env.java.opts.taskmanager) goes the way that order sends it, as in real Flink: the
//     shorter key first, and the dump throws ClassCastException; the longer first, and it
//     is dropped without a word (state.backend.incremental beside the image's own
//     configuration). A thrown dump: bash-java-utils.sh swallows the failure and its text
//     ("[ERROR] Could not parse configurations properly.", the raw BashJavaUtils output,
//     the exception) becomes config.yaml; the process then fails at start on the YAML parse
//     error (snakeyaml's "expected '<document start>', but found '<scalar>'", line 1,
//     column 9), and so does every restart. A file Flink cannot load (missing, broken, a
//     key without a value: NullPointerException "Value must not be null.") ends the same
//     way.
//   - 1.18 and before: sed edits of flink-conf.yaml (comments kept), FLINK_PROPERTIES
//     appended verbatim, then the whole file goes through envsubst: every $NAME and ${NAME}
//     becomes the variable's value or nothing ("pa$$word" becomes "pa$").
//
// The script has no "set -e": when conf/ or the file is not writable it prints the shell's
// error ("/opt/flink/bin/config-parser-utils.sh: line 45: /opt/flink/conf/config.yaml:
// Read-only file system", line 42 on 2.2; "Permission denied"; "sed: couldn't open
// temporary file ...") and starts the command anyway with the file as it was, so the edits
// are lost.
//
// The configuration is then read as that Flink version's GlobalConfiguration does: before
// 1.19 only flink-conf.yaml; on 1.19 and 1.20 flink-conf.yaml when present, else
// config.yaml; from 2.0 only config.yaml. flink-conf.yaml uses Flink's legacy line reader
// ("key: value" split at the first ": ", everything after '#' dropped, no unquoting);
// config.yaml is standard YAML (nested keys flattened with dots, quotes removed, a key
// twice in one mapping rejected, a list kept as its flow text "[a, b]"). Arguments "-D
// key=value" and "-Dkey=value" override the file without being written back; for the
// jobmanager a first plain argument is the host (jobmanager.rpc.address) and a second the
// REST port, as in bin/jobmanager.sh.
//
// Memory is derived as BashJavaUtils does before the JVM starts (DeriveTaskManagerMemory,
// DeriveJobManagerMemory: Float fractions, BigDecimal products, Flink's messages); a
// configuration Flink rejects prints "[ERROR] Could not get JVM parameters and dynamic
// configurations properly.", the raw output and the exception, and exits 1. A TaskManager
// with taskmanager.memory.process.size 1000000000b fails with Flink's "Sum of configured
// Framework Heap Memory (128.000mb ...) ... exceed configured Total Flink Memory (505.674mb
// (530237952 bytes))".
//
// The JVM options are those bin/config.sh and flink-console.sh put on the java command line
// (env.java.default-opts.all, env.java.opts.all or the deprecated env.java.opts, then the
// jobmanager/taskmanager ones; $FLINK_ENV_JAVA_OPTS, $JVM_ARGS, $JDK_JAVA_OPTIONS); they are
// logged at start under " JVM Options:". On Java 17 and later, a JobManager whose options
// lack --add-opens=java.base/java.util=ALL-UNNAMED cannot run a jar: POST /jars/:id/run
// answers 400 with the InaccessibleObjectException Flink's DataStream V2 environment hits
// (then, on every later run, NoClassDefFoundError), and no job is created; the
// TaskManagers' options do not matter. This is what flink-dist 2.2.1 (and 1.20.5) on Java
// 17 do with the WindowJoin example (seen on the real-jar image, localhost/flink-real).
//
// # Logging
//
// Lines go to stdout in Log4j's console pattern
// "%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n" (the empty %x prints "[]"), filtered
// by $FLINK_HOME/conf/log4j-console.properties (see ParseLog4j), re-read every
// monitorInterval seconds when it changes. A missing or unparsable file gives Log4j's
// default: root ERROR. Every effective configuration entry is logged at start by
// org.apache.flink.configuration.GlobalConfiguration as "Loading configuration property:
// <key>, <value>", values of sensitive keys as "******" (Sensitive).
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
// /jobs/:id/exceptions, /jobs/:id/resource-requirements, /jars,
// /jobs/:id/savepoints/:triggerid; POST /jars/upload,
// /jars/:jarid/run, /jobs/:id/stop, /jobs/:id/savepoints; PATCH /jobs/:id?mode=cancel
// (202); DELETE /jars/:jarid, /cluster. Paths may carry the /v1 prefix. Like Flink's
// router, a known path with a wrong method is 404 {"errors":["Not found: <uri>"]}; a GET
// of an unknown path reaches the web UI's file handler: 404 {"errors":["Unable to load
// requested file <path>."]}. Errors a handler raises are RestHandlerException bodies (the
// exception stringified: "org.apache.flink.runtime.rest.handler.RestHandlerException:
// <message>", frames, causes), an unhandled one "Internal server error." and "<Exception on
// server side: ...>". Cancelling an unknown job is 404 "Job could not be found.", a job that
// ended CANCELED 202 again, one that ended otherwise 409. Savepoint operations are kept by
// (trigger, job) whatever the job: stopping a job that does not run answers 202 and fails
// with FlinkJobNotFoundException; failures are reported as the CompletionException around
// the cause. /jobs/overview lists jobs newest first (2.x; 1.x's order is a HashSet's) and
// 2.x adds pending-operators (0). /taskmanagers' timeSinceLastHeartbeat is the epoch millis
// of the last heartbeat, 0 before the first. The JobManager's BLOB server takes
// blob.server.port (any free port when unset) and /jobmanager/config shows the port it got.
// The jar endpoints exist only while web.submit.enable is true (the default); /jars lists
// each jar's entry classes from its manifest (program-class, else Main-Class).
// /jobmanager/config hides the values of sensitive keys as "******"
// (GlobalConfiguration.SENSITIVE_KEYS of the version: password, secret,
// fs.azure.account.key, apikey, auth-params, service-key, token, basic-auth, jaas.config;
// http-headers from 1.19; api-key from 2.0; "key" alone is not one).
//
// Any uploaded *.jar becomes a job when run. The examples of flink-examples-streaming the
// stand-in knows (WindowJoin, by its entry class; jars.go) get the name and job graph their
// main() builds; any other jar by default one vertex "Source: sim -> Sink:
// sim" of the requested parallelism (default parallelism.default); each program argument
// "--vertex NAME[=PARALLELISM][@GROUP]" adds a vertex instead (parallelism: the job's; slot
// sharing group: "default"). A job needs, per slot sharing group, as many slots as its
// largest vertex parallelism (slots.go names the Flink sources modelled). Under the default
// scheduler the job goes RUNNING at once with every task SCHEDULED; free slots are assigned
// to it as they appear (one per TaskManager in turn, ordered by ID) and held while it waits;
// with all of them its tasks go DEPLOYING, INITIALIZING, then RUNNING. A job still waiting
// after slot.request.timeout (5 min) fails with NoResourceAvailableException. Under
// jobmanager.scheduler: adaptive a job waits in CREATED with no tasks; it runs at once with
// every slot it wants, with fewer (one per group at least) after the resource stabilization
// timeout, fails after the resource wait timeout with none, and rescales wider when it gets
// more slots and the scaling cooldown has passed. /jobs/overview counts tasks by state;
// /jobs/:id reports vertices with parallelism, aggregate status and (1.20+)
// slotSharingGroupId; /jobs/:id/resource-requirements (1.18+) answers the adaptive
// scheduler's parallelism bounds (HTTP 500 under the default scheduler).
//
// When a task fails (its TaskManager deregisters or stops heartbeating, or its slot request
// times out), the job records an exceptionHistory entry and follows its restart strategy as
// Flink picks it (restart-strategy.type; unset: none without checkpointing,
// exponential-delay with execution.checkpointing.interval; fixed-delay gives up after its
// attempts): RESTARTING and, after the delay, scheduled again, or FAILED. Cancel goes
// CANCELLING then CANCELED; stop-with-savepoint needs a targetDirectory or a configured
// savepoint directory (else 400, as Flink), answers 202 {"request-id"}, reports IN_PROGRESS
// then COMPLETED with the savepoint location, and the job FINISHES. /jobs/:id/exceptions is
// JobExceptionsInfoWithHistory: 1.x also has the deprecated root-exception, timestamp,
// all-exceptions, truncated and each entry's location, 2.x only exceptionHistory.
package sim
