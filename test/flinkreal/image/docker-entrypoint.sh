#!/usr/bin/env bash
# /docker-entrypoint.sh of localhost/flink-real:<line>, the real-Flink test image that
# hack/flink-image.sh builds from Flink's own jars.
#
# It is ours, written from the official image's documented contract and from the facts in
# shared/reference/flink.md (2.2-2.5), not copied from upstream's scripts. Where the official
# image's scripts call Flink's Java utilities, this one calls the same class from the same
# jars (org.apache.flink.runtime.util.bash.BashJavaUtils in flink-runtime), so the
# configuration rewrite, its failures and the memory model are Flink's own code. What the
# shell around them does (what it prints, what it swallows, which file it writes) follows,
# function by function, what these upstream files do:
#   apache/flink-docker      <line>/scala_2.12-java17-ubuntu/docker-entrypoint.sh
#   apache/flink flink-dist  src/main/flink-bin/bin/config-parser-utils.sh,
#                            bash-java-utils.sh, config.sh, jobmanager.sh, taskmanager.sh,
#                            flink-console.sh (read at 1.20.5 and 2.2.1)
#
# Commands: jobmanager, taskmanager, help; anything else runs as given (pass-through), after
# the configuration was prepared, as upstream does. standalone-job and history-server are
# not part of this test image (their classes are not in lib/).
#
# There is deliberately no `set -e` (nor -u, -o pipefail): the upstream scripts have none,
# and that is behaviour a client sees. A rewrite that cannot write conf/config.yaml (a
# read-only mount) prints the shell's error and the start carries on with the file as it is.

flink_home=${FLINK_HOME:-/opt/flink}
# The official entrypoint always edits $FLINK_HOME/conf; the Flink scripts read FLINK_CONF_DIR
# (config.sh), which defaults to it.
conf_dir=$flink_home/conf
lib_dir=$flink_home/lib
run_conf_dir=${FLINK_CONF_DIR:-$conf_dir}
result_prefix="BASH_JAVA_UTILS_EXEC_RESULT:" # BashJavaUtils.EXECUTION_PREFIX

# The Flink version is that of the flink-runtime jar in lib/: 1.x and 2.x differ below.
runtime_jar=$(cd "$lib_dir" 2>/dev/null && ls flink-runtime-[0-9]*.jar 2>/dev/null | head -n 1)
flink_version=${runtime_jar#flink-runtime-}
flink_version=${flink_version%.jar}
flink_major=${flink_version%%.*}

# docker-entrypoint.sh: "If unspecified, the hostname of the container is taken as the
# JobManager address".
JOB_MANAGER_RPC_ADDRESS=${JOB_MANAGER_RPC_ADDRESS:-$(hostname -f)}

# ---------------------------------------------------------------------------------------
# Which file Flink reads and the rewrite writes: 1.19/1.20 prefer a legacy flink-conf.yaml
# when one exists (config-parser-utils.sh 1.20, GlobalConfiguration); 2.x reads only
# config.yaml.
config_file() {
    if [ "$flink_major" = 1 ] && [ -e "$1/flink-conf.yaml" ]; then
        echo "$1/flink-conf.yaml"
    else
        echo "$1/config.yaml"
    fi
}

# bash-java-utils.sh setJavaHome/setJavaRun: env.java.home is read from the file with sed
# (flat keys only, the value cut at '#'), else JAVA_HOME, else java on the PATH.
set_java_run() {
    local file java_home
    file=$(config_file "$1")
    java_home=$(sed -n "s/^[ ]*env.java.home[ ]*: \([^#]*\).*$/\1/p" "$file" | sed "s/^ *//;s/ *$//" | tail -n 1)
    [ -z "$java_home" ] && java_home=$JAVA_HOME
    if [ -z "$java_home" ] && ! type java >/dev/null 2>&1; then
        echo "Please specify JAVA_HOME. Either in Flink config ./conf/config.yaml or as system-wide JAVA_HOME."
        exit 1
    fi
    export JAVA_HOME=$java_home
    if [ -d "$JAVA_HOME" ]; then
        java_run=$JAVA_HOME/bin/java
    else
        java_run=java
    fi
}

# One run of Flink's BashJavaUtils (bash-java-utils.sh runBashJavaUtilsCmd): stdout and stderr
# together, the last 1000 lines. Its exit status is lost, as upstream's is (`local output=...`
# reports the status of `local`). The arguments are joined and split again on whitespace (and
# globbed), as upstream passes them; Flink's FlinkConfigLoader keeps the -D and option tokens.
# Upstream's classpath is bin/bash-java-utils.jar (log4j plus this log4j configuration) and
# flink-dist.jar; this image has no flink-dist, so it is lib/, where flink-runtime holds the
# class.
bash_java_utils() {
    local cmd=$1
    shift
    local dynamic_args="$*"
    # shellcheck disable=SC2086
    "$java_run" -Dlog4j.configurationFile="file:$flink_home/bin/log4j-bash-utils.properties" \
        -classpath "$lib_dir/*" org.apache.flink.runtime.util.bash.BashJavaUtils "$cmd" \
        --configDir "$conf_dir" $dynamic_args 2>&1 | tail -n 1000
}

# The configuration as UPDATE_AND_GET_FLINK_CONFIGURATION returns it (the file's content with
# the -D overrides applied, -flatten: flat "key: value" lines). On failure this is the text
# bash-java-utils.sh parseConfigurationAndExportLogs prints instead: its caller,
# updateAndGetFlinkConfiguration, echoes it and returns 0, so the failure is swallowed and
# the text takes the configuration's place.
updated_configuration() {
    local output results
    output=$(bash_java_utils UPDATE_AND_GET_FLINK_CONFIGURATION "$@")
    if results=$(echo "$output" | grep "$result_prefix"); then
        echo "${results//$result_prefix/}"
    else
        echo "[ERROR] Could not parse configurations properly."
        echo "[ERROR] Raw output from BashJavaUtils:"
        echo "$output"
    fi
}

# config-parser-utils.sh: rewrite the configuration file with the overrides. Flink's dump
# (YamlParserUtils.convertAndDumpYamlFromFlatMap) writes it nested; a key that is a dotted
# prefix of another (state.backend + state.backend.incremental) makes the dump fail, and the
# error text is written into the file. A file that cannot be written gets the shell's
# error, and the start goes on.
rewrite_configuration() {
    local result
    set_java_run "$conf_dir"
    result=$(updated_configuration "$@")
    echo "$result" >"$(config_file "$conf_dir")"
}

# docker-entrypoint.sh process_flink_properties: one override per non-empty line. Every
# whitespace character in a line is deleted (so "key: a b" becomes "key:ab"), the line is
# split at its first ':', and the value goes through envsubst. The unquoted echoes are
# upstream's too (a line or value is also subject to globbing).
apply_flink_properties() {
    local overrides=() prop key value saved_ifs=$IFS
    IFS=$'\n'
    for prop in $1; do
        # shellcheck disable=SC2086
        prop=$(echo $prop | tr -d '[:space:]')
        [ -z "$prop" ] && continue
        IFS=':' read -r key value <<<"$prop"
        # shellcheck disable=SC2086
        value=$(echo $value | envsubst)
        overrides+=("-D$key=$value")
    done
    IFS=$saved_ifs
    [ ${#overrides[@]} -ne 0 ] && rewrite_configuration "${overrides[@]}"
}

# docker-entrypoint.sh prepare_configuration: the fixed options first (one rewrite), then
# FLINK_PROPERTIES (a second one), so FLINK_PROPERTIES can override the fixed ones.
prepare_configuration() {
    local overrides=("-Djobmanager.rpc.address=$JOB_MANAGER_RPC_ADDRESS" "-Dblob.server.port=6124" "-Dquery.server.port=6125")
    if [ -n "$TASK_MANAGER_NUMBER_OF_TASK_SLOTS" ]; then
        overrides+=("-Dtaskmanager.numberOfTaskSlots=$TASK_MANAGER_NUMBER_OF_TASK_SLOTS")
    fi
    rewrite_configuration "${overrides[@]}"
    if [ -n "$FLINK_PROPERTIES" ]; then
        apply_flink_properties "$FLINK_PROPERTIES"
    fi
}

# docker-entrypoint.sh maybe_enable_jemalloc. Debian's libjemalloc2 (the official image
# installs Ubuntu's libjemalloc-dev and preloads libjemalloc.so).
maybe_enable_jemalloc() {
    [ "${DISABLE_JEMALLOC:-false}" == "false" ] || return 0
    local lib=/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2
    if [ -f "$lib" ]; then
        export LD_PRELOAD=$LD_PRELOAD:$lib
    else
        echo "WARNING: attempted to load jemalloc from $lib but the library couldn't be found. glibc will be used instead."
    fi
}

# docker-entrypoint.sh copy_plugins_if_required: ';'-separated jar names of /opt/flink/opt,
# each linked into plugins/<name>/; a missing jar stops the start (this image's opt/ is
# empty).
copy_plugins_if_required() {
    [ -n "$ENABLE_BUILT_IN_PLUGINS" ] || return 0
    echo "Enabling required built-in plugins"
    local jar name
    for jar in $(echo "$ENABLE_BUILT_IN_PLUGINS" | tr ';' ' '); do
        echo "Linking $jar to plugin directory"
        name=${jar%.jar}
        mkdir -p "$flink_home/plugins/$name"
        if [ ! -e "$flink_home/opt/$jar" ]; then
            echo "Plugin $jar does not exist. Exiting."
            exit 1
        fi
        ln -fs "$flink_home/opt/$jar" "$flink_home/plugins/$name"
        echo "Successfully enabled $jar"
    done
}

# 1.20 starts as root and steps down to flink (gosu) for what it runs; 2.2 images run as
# USER flink and only warn when started as root (FLINK-37881).
drop_privs_cmd() {
    if [ "$flink_major" = 1 ] && [ "$(id -u)" = 0 ]; then
        echo gosu flink
    fi
}

# ---------------------------------------------------------------------------------------
# config.sh: what the start scripts read from the configuration, as a flat dump of it
# (UPDATE_AND_GET_FLINK_CONFIGURATION -flatten). readFromConfig greps "key:" (the key is a
# regular expression, unescaped) and keeps the last match.
read_from_config() {
    local value
    value=$(echo "$flat_config" | grep "^[ ]*$1[ ]*:" | cut -d ':' -f2- | sed "s/^ *//;s/ *$//" | tail -n 1)
    [ -z "$value" ] && echo "$2" || echo "$value"
}

strip_quotes() { echo "$1" | sed -e 's/^"//' -e 's/"$//'; }

# config.sh: the JVM options and logging settings of a start. A variable already set in the
# environment wins over the configuration, as there.
load_start_settings() {
    set_java_run "$run_conf_dir"
    flat_config=$(updated_configuration -flatten)
    if [ -z "$MAX_LOG_FILE_NUMBER" ]; then
        MAX_LOG_FILE_NUMBER=$(read_from_config env.log.max 10)
        # 2.x strips single quotes around it (the nested dump quotes it); 1.20 does not.
        [ "$flink_major" = 1 ] || MAX_LOG_FILE_NUMBER=$(echo "$MAX_LOG_FILE_NUMBER" | sed -e "s/^'//" -e "s/'$//")
        export MAX_LOG_FILE_NUMBER
    fi
    if [ -z "$ROOT_LOG_LEVEL" ]; then
        ROOT_LOG_LEVEL=$(read_from_config env.log.level INFO)
        export ROOT_LOG_LEVEL
    fi
    [ -n "$STD_REDIRECT_TO_FILE" ] || STD_REDIRECT_TO_FILE=$(read_from_config env.stdout-err.redirect-to-file false)
    [ -n "$FLINK_LOG_DIR" ] || FLINK_LOG_DIR=$(read_from_config env.log.dir "$flink_home/log")
    [ -n "$FLINK_PID_DIR" ] || FLINK_PID_DIR=$(read_from_config env.pid.dir /tmp)
    [ -n "$HADOOP_CONF_DIR" ] || HADOOP_CONF_DIR=$(read_from_config env.hadoop.conf.dir "")
    [ -n "$YARN_CONF_DIR" ] || YARN_CONF_DIR=$(read_from_config env.yarn.conf.dir "")
    if [ -z "$FLINK_ENV_JAVA_OPTS" ]; then
        # env.java.default-opts.all, then env.java.opts.all (or the legacy env.java.opts when
        # that is empty), always led by -XX:+IgnoreUnrecognizedVMOptions.
        local defaults opts
        defaults=$(read_from_config env.java.default-opts.all "")
        opts=$(read_from_config env.java.opts.all "")
        [ -n "$opts" ] || opts=$(read_from_config env.java.opts "")
        FLINK_ENV_JAVA_OPTS="-XX:+IgnoreUnrecognizedVMOptions $(strip_quotes "$defaults $opts")"
    fi
    if [ -z "$FLINK_ENV_JAVA_OPTS_JM" ]; then
        FLINK_ENV_JAVA_OPTS_JM=$(strip_quotes "$(read_from_config env.java.default-opts.jobmanager "") $(read_from_config env.java.opts.jobmanager "")")
    fi
    if [ -z "$FLINK_ENV_JAVA_OPTS_TM" ]; then
        FLINK_ENV_JAVA_OPTS_TM=$(strip_quotes "$(read_from_config env.java.default-opts.taskmanager "") $(read_from_config env.java.opts.taskmanager "")")
    fi
    [ -n "$HOSTNAME" ] || HOSTNAME=$(hostname)
}

# bash-java-utils.sh parseResourceParamsAndExportLogs: Flink's memory model
# (GET_JM_RESOURCE_PARAMS / GET_TM_RESOURCE_PARAMS) gives two lines, the JVM parameters
# (-Xmx, -Xms, -XX:MaxDirectMemorySize, -XX:MaxMetaspaceSize) and the dynamic configuration
# (-D ...) that the process then gets. A configuration Flink refuses ends the start, with
# Flink's exception in the raw output.
resource_params() {
    local cmd=$1
    shift
    local output results lines
    output=$(bash_java_utils "$cmd" "$@")
    results=$(echo "$output" | grep "$result_prefix")
    lines=$(echo "$results" | wc -l)
    if [ -z "$results" ] || [ "$lines" -ne 2 ]; then
        if [ -z "$results" ]; then
            echo "[ERROR] The execution result is empty." 1>&2
        else
            echo "[ERROR] The execution results has unexpected number of lines, expected: 2, actual: $lines." 1>&2
            echo "[ERROR] An execution result line is expected following the prefix '$result_prefix'" 1>&2
            echo "$output" 1>&2
        fi
        echo "[ERROR] Could not get JVM parameters and dynamic configurations properly."
        echo "[ERROR] Raw output from BashJavaUtils:"
        echo "$output"
        exit 1
    fi
    results=${results//$result_prefix/}
    JVM_ARGS="$JVM_ARGS $(echo "$results" | head -n 1)"
    dynamic_parameters=$(echo "$results" | tail -n 1)
}

# flink-console.sh: run the service's class in the foreground, in place of this shell (exec),
# so that signals reach the JVM. Log4j reads conf/log4j-console.properties; the rolling file
# is flink-$USER-<service>-<n>-<host>.log under the log directory.
run_console() {
    local service=$1 class
    shift
    case $service in
    standalonesession) class=org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint ;;
    taskexecutor) class=org.apache.flink.runtime.taskexecutor.TaskManagerRunner ;;
    esac
    local classpath jar
    # config.sh constructFlinkClassPath: every jar of lib/, sorted (flink-dist last; none here).
    while IFS= read -r -d '' jar; do
        classpath=${classpath:+$classpath:}$jar
    done < <(find "$lib_dir" ! -type d -name '*.jar' -print0 | sort -z)
    classpath="$classpath:$HADOOP_CLASSPATH:$HADOOP_CONF_DIR:$YARN_CONF_DIR"

    local ident=${FLINK_IDENT_STRING:-$USER}
    local pid_file=$FLINK_PID_DIR/flink-$ident-$service.pid id=0
    mkdir -p "$FLINK_PID_DIR"
    [ -f "$pid_file" ] && id=$(wc -l <"$pid_file")
    local log=$FLINK_LOG_DIR/flink-$ident-$service-$id-$HOSTNAME.log
    local log_setting=("-Dlog.file=$log" "-Dlog4j.configuration=file:$run_conf_dir/log4j-console.properties"
        "-Dlog4j.configurationFile=file:$run_conf_dir/log4j-console.properties"
        "-Dlogback.configurationFile=file:$run_conf_dir/logback-console.xml")
    echo "Starting $service as a console application on host $HOSTNAME."
    echo $$ >>"$pid_file" 2>/dev/null
    # flink-console.sh: "Evaluate user options for local variable expansion".
    FLINK_ENV_JAVA_OPTS=$(eval echo ${FLINK_ENV_JAVA_OPTS})
    if [ "$STD_REDIRECT_TO_FILE" == "true" ]; then
        log_setting=("-Dconsole.log.level=OFF" "${log_setting[@]}")
        exec 1>"${log%.log}.out"
        exec 2>"${log%.log}.err"
    fi
    # shellcheck disable=SC2086
    exec $(drop_privs_cmd) "$java_run" $JVM_ARGS $FLINK_ENV_JAVA_OPTS "${log_setting[@]}" -classpath "$classpath" "$class" "$@"
}

# jobmanager.sh start-foreground [host [webui-port]] [-D ...]. Its argument test is
# unquoted: only an empty second word or a literal "-D" means "no host", so
# `jobmanager -Dk=v` takes "-Dk=v" as the host, as upstream does.
start_jobmanager() {
    local host port args
    # shellcheck disable=SC2086
    if [ -z $1 ] || [[ $1 == "-D" ]]; then
        args=("$@")
    elif [ -z $2 ] || [[ $2 == "-D" ]]; then
        host=$1
        args=("${@:2}")
    else
        host=$1
        port=$2
        args=("${@:3}")
    fi
    load_start_settings
    FLINK_ENV_JAVA_OPTS="$FLINK_ENV_JAVA_OPTS $FLINK_ENV_JAVA_OPTS_JM"
    resource_params GET_JM_RESOURCE_PARAMS "${args[@]}"
    if [ "$flink_major" = 1 ]; then
        args=("--configDir" "$run_conf_dir" "--executionMode" "cluster" "${args[@]}")
        [ -z "$host" ] || args+=("--host" "$host")
        [ -z "$port" ] || args+=("--webui-port" "$port")
    else
        args=("--configDir" "$run_conf_dir" "${args[@]}")
        [ -z "$host" ] || args+=("-D" "jobmanager.rpc.address=$host")
        [ -z "$port" ] || args+=("-D" "rest.port=$port")
    fi
    # shellcheck disable=SC2206
    [ -z "$dynamic_parameters" ] || args=($dynamic_parameters "${args[@]}")
    run_console standalonesession "${args[@]}"
}

# taskmanager.sh start-foreground [args].
start_taskmanager() {
    local args=("$@")
    load_start_settings
    # taskmanager.sh adds G1 when no JVM options are set; config.sh always sets some
    # (-XX:+IgnoreUnrecognizedVMOptions), so it never does. Kept to show the rule.
    if [ -z "$FLINK_ENV_JAVA_OPTS" ] && [ -z "$FLINK_ENV_JAVA_OPTS_TM" ]; then
        JVM_ARGS="$JVM_ARGS -XX:+UseG1GC"
    fi
    FLINK_ENV_JAVA_OPTS="$FLINK_ENV_JAVA_OPTS $FLINK_ENV_JAVA_OPTS_TM"
    resource_params GET_TM_RESOURCE_PARAMS "${args[@]}"
    # shellcheck disable=SC2206
    [ -z "$dynamic_parameters" ] || args=($dynamic_parameters "${args[@]}")
    args=("--configDir" "$run_conf_dir" "${args[@]}")
    run_console taskexecutor "${args[@]}"
}

# ---------------------------------------------------------------------------------------
if [ "$flink_major" != 1 ] && [ "$(id -u)" = 0 ]; then
    echo "WARNING: Running as root user is not recommended. Please use a non-root user to run Flink."
fi
maybe_enable_jemalloc
copy_plugins_if_required
prepare_configuration

case $1 in
help)
    printf 'Usage: %s (jobmanager|standalone-job|taskmanager|history-server)\n' "$(basename "$0")"
    printf '    Or %s help\n\n' "$(basename "$0")"
    printf "By default, Flink image adopts jemalloc as default memory allocator. This behavior can be disabled by setting the 'DISABLE_JEMALLOC' environment variable to 'true'.\n"
    exit 0
    ;;
jobmanager)
    echo "Starting Job Manager"
    start_jobmanager "${@:2}"
    ;;
taskmanager)
    echo "Starting Task Manager"
    start_taskmanager "${@:2}"
    ;;
standalone-job | history-server)
    echo "flink-real: '$1' is not part of this test image (only jobmanager and taskmanager are)" >&2
    exit 1
    ;;
esac

# Pass-through: anything else runs as given.
exec $(drop_privs_cmd) "$@"
