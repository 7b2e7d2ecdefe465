package sim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// prepareConfiguration does what the image's docker-entrypoint.sh (apache/flink-docker,
// per version; prepare_configuration) does before it runs any command, even help: write
// jobmanager.rpc.address ($JOB_MANAGER_RPC_ADDRESS, else `hostname -f`), blob.server.port
// 6124, query.server.port 6125, taskmanager.numberOfTaskSlots
// ($TASK_MANAGER_NUMBER_OF_TASK_SLOTS, when set) and then each FLINK_PROPERTIES line into
// the configuration file in $FLINK_HOME/conf: through two runs of bin/config-parser-utils.sh
// from 1.19 on (set_config_options, process_flink_properties), by sed and envsubst before.
//
// Like the real script it has no "set -e": a failed write prints the shell's error and the
// command still starts, with the file as it was (so the edits are silently lost).
func prepareConfiguration(home string, v Version, env map[string]string, hostname string, stdout, stderr io.Writer) {
	confDir := filepath.Join(home, "conf")
	rpc := env["JOB_MANAGER_RPC_ADDRESS"]
	if rpc == "" {
		rpc = hostname
	}
	fixed := []option{{"jobmanager.rpc.address", rpc}, {"blob.server.port", "6124"}, {"query.server.port", "6125"}}
	if s := env["TASK_MANAGER_NUMBER_OF_TASK_SLOTS"]; s != "" {
		fixed = append(fixed, option{"taskmanager.numberOfTaskSlots", s})
	}
	props := env["FLINK_PROPERTIES"]

	if !v.AtLeast(1, 19) {
		legacyPrepare(confDir, fixed, props, env, stderr)
		return
	}
	configParserUtils(home, v, fixed, stderr)
	if props != "" {
		if opts := flinkPropertiesOptions(props, env); len(opts) > 0 {
			configParserUtils(home, v, opts, stderr)
		}
	}
}

// configParserUtils is bin/config-parser-utils.sh of flink-dist (1.19 on) with
// "-Dkey=value" arguments: BashJavaUtils UPDATE_AND_GET_FLINK_CONFIGURATION
// (FlinkConfigLoader.loadAndModifyConfiguration, ConfigurationParserUtils
// .loadAndModifyConfiguration) loads the configuration with the options as dynamic
// properties and prints it back (ConfigurationUtils.convertConfigToWritableLines: nested
// by YamlParserUtils.convertAndDumpYamlFromFlatMap for config.yaml, flat "key: value"
// lines for a flink-conf.yaml read by 1.19/1.20); the script writes what it printed over
// the file.
//
// Failures are swallowed as bin/bash-java-utils.sh swallows them: runBashJavaUtilsCmd's
// `local output=...` hides the JVM's exit code, parseConfigurationAndExportLogs prints
// "[ERROR] Could not parse configurations properly." and the raw output from inside a
// command substitution, and the script's own exit-code check tests the status of an echo.
// So a file Flink cannot load, or a dump that throws (a prefix pair, see dumpNested),
// leaves the error text itself in the configuration file, and every later start fails on
// it (a crash loop).
//
// The file written: conf/config.yaml from 2.2 on; before, conf/flink-conf.yaml when it
// exists, else conf/config.yaml. Bash's '>' truncates the file in place: it needs write
// permission on the file (or, when the file is missing, on conf/); a failure is the shell's
// message, with the script line of its version, on stderr.
func configParserUtils(home string, v Version, opts []option, stderr io.Writer) {
	confDir := filepath.Join(home, "conf")
	script := filepath.Join(home, "bin", "config-parser-utils.sh")
	target, line := filepath.Join(confDir, ConfigYAML), 42
	if !v.AtLeast(2, 2) {
		line = 45
		if legacy := filepath.Join(confDir, LegacyConfigYAML); exists(legacy) {
			target = legacy
		}
	}
	result := bashJavaUtilsUpdate(confDir, v, opts)
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		_, err = f.Write(result)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fmt.Fprintln(stderr, shellError(fmt.Sprintf("%s: line %d", script, line), target, err))
	}
}

// bashJavaUtilsUpdate returns what config-parser-utils.sh writes: the configuration of
// confDir with opts applied, or the error text.
func bashJavaUtilsUpdate(confDir string, v Version, opts []option) []byte {
	l, err := loadConfig(confDir, v, func(string) {})
	out := l.log
	var data []byte
	if err == nil {
		// GlobalConfiguration.loadConfiguration(dir, dynamicProperties): the file's
		// configuration, then configuration.addAll(dynamicProperties).
		dyn := dynamicConf(opts)
		for _, k := range dyn.keys() {
			out = append(out, fmt.Sprintf("INFO  [] - Loading dynamic configuration property: %s, %s", k, masked(v, k, dyn.vals[k])))
		}
		l.conf.addAll(dyn)
		if l.legacy {
			data = renderFlat(l.conf, true)
		} else {
			data, err = dumpNested(l.conf, v)
		}
	}
	if err != nil {
		out = append(out, "Exception in thread \"main\" "+err.Error())
		return []byte("[ERROR] Could not parse configurations properly.\n[ERROR] Raw output from BashJavaUtils:\n" + strings.Join(out, "\n") + "\n")
	}
	return data
}

// legacyPrepare is the entrypoint of the 1.18 image and before (apache/flink-docker
// 1.18/*/docker-entrypoint.sh, prepare_configuration and set_config_option): sed edits of
// flink-conf.yaml (an existing "key:" line is replaced through a temporary file in conf/,
// a missing one appended), FLINK_PROPERTIES appended verbatim (echo "${FLINK_PROPERTIES}"
// >> file), and then `envsubst < file > file.tmp && mv file.tmp file` over the whole file:
// every $NAME or ${NAME} in it, comments included, becomes the variable's value or nothing.
func legacyPrepare(confDir string, fixed []option, props string, env map[string]string, stderr io.Writer) {
	file := filepath.Join(confDir, LegacyConfigYAML)
	for _, o := range fixed {
		setConfigOption(file, o, stderr)
	}
	if props != "" {
		if err := appendFile(file, props+"\n"); err != nil {
			fmt.Fprintln(stderr, shellError("/docker-entrypoint.sh: line 78", file, err))
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(stderr, shellError("/docker-entrypoint.sh: line 89", file, err))
		return
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(envsubst(string(data), env)), 0o644); err != nil {
		fmt.Fprintln(stderr, shellError("/docker-entrypoint.sh: line 89", tmp, err))
		return
	}
	if err := os.Rename(tmp, file); err != nil {
		fmt.Fprintf(stderr, "mv: cannot move '%s' to '%s': %s\n", tmp, file, errnoText(err))
	}
}

// setConfigOption is the 1.18 entrypoint's set_config_option: grep -E "^key:.*" decides
// between `sed -i -e "s/key:.*/key: value/g"` (unanchored: it edits every line that holds
// "key:", a comment too) and an append.
func setConfigOption(file string, o option, stderr io.Writer) {
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(stderr, "grep: %s: %s\n", file, errnoText(err))
	}
	anchored := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(o.key) + `:`)
	if err != nil || !anchored.Match(data) {
		if err := appendFile(file, o.key+": "+o.value+"\n"); err != nil {
			fmt.Fprintln(stderr, shellError("/docker-entrypoint.sh: line 73", file, err))
		}
		return
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if idx := strings.Index(l, o.key+":"); idx >= 0 {
			lines[i] = l[:idx] + o.key + ": " + o.value
		}
	}
	dir := filepath.Dir(file)
	f, err := os.CreateTemp(dir, "sed")
	if err != nil {
		fmt.Fprintf(stderr, "sed: couldn't open temporary file %s/sed%s: %s\n", dir, newID(3), errnoText(err))
		return
	}
	_, werr := f.WriteString(strings.Join(lines, "\n"))
	cerr := f.Close()
	if werr != nil || cerr != nil {
		_ = os.Remove(f.Name())
		fmt.Fprintf(stderr, "sed: couldn't write %s: %s\n", f.Name(), errnoText(errors.Join(werr, cerr)))
		return
	}
	if err := os.Rename(f.Name(), file); err != nil {
		_ = os.Remove(f.Name())
		fmt.Fprintf(stderr, "sed: cannot rename %s: %s\n", f.Name(), errnoText(err))
	}
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(s)
	return errors.Join(werr, f.Close())
}

func errnoText(err error) string {
	s := shellError("", "", err)
	return strings.TrimPrefix(s, ": : ")
}
