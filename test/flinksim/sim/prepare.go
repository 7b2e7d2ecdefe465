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

// prepareConfiguration does what the image's docker-entrypoint.sh does before it runs any
// command (even help): write jobmanager.rpc.address ($JOB_MANAGER_RPC_ADDRESS or the
// host name), blob.server.port 6124, query.server.port 6125,
// taskmanager.numberOfTaskSlots ($TASK_MANAGER_NUMBER_OF_TASK_SLOTS) and FLINK_PROPERTIES
// into the configuration file in $FLINK_HOME/conf.
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
	parser := filepath.Join(home, "bin", "config-parser-utils.sh")
	configParserUtils(parser, confDir, v, fixed, stdout, stderr)
	if props != "" {
		if opts := flinkPropertiesOptions(props, v, env); len(opts) > 0 {
			configParserUtils(parser, confDir, v, opts, stdout, stderr)
		}
	}
}

// configParserUtils emulates bin/config-parser-utils.sh (Flink 1.19 on): Flink loads the
// configuration, applies the options as dynamic properties and prints the whole result,
// which the script writes over flink-conf.yaml when that file exists, else config.yaml.
func configParserUtils(script, confDir string, v Version, opts []option, stdout, stderr io.Writer) {
	c, _, err := loadConfig(confDir, v, func(string) {})
	if err != nil {
		fmt.Fprintf(stdout, "[ERROR] Could not get configurations properly, the result is :\n%s\n", err)
		return
	}
	for _, o := range opts {
		c.set(o.key, o.value)
	}
	target := filepath.Join(confDir, LegacyConfigYAML)
	data := renderStandardYAML(c)
	if exists(target) {
		if v.Major == 1 {
			data = renderLegacy(c)
		}
	} else {
		target = filepath.Join(confDir, ConfigYAML)
	}
	// Bash's '>' truncates the file in place: it needs write permission on the file, or on
	// the directory when the file does not exist yet.
	if err := os.WriteFile(target, data, 0o644); err != nil {
		fmt.Fprintln(stderr, shellError(script+": line 45", target, err))
	}
}

// legacyPrepare emulates the entrypoint of Flink 1.18 and before: sed edits of
// flink-conf.yaml (an existing "key:" line is replaced through a temporary file in conf/,
// a missing one appended), FLINK_PROPERTIES appended verbatim, and then the whole file
// passed through envsubst into flink-conf.yaml.tmp and moved over the original.
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

// setConfigOption is the old entrypoint's set_config_option: grep -E "^key:" decides
// between sed -i -e "s/key:.*/key: value/g" and an append.
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
