package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/flinkmem"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits on names. Derived names must fit 63 characters (a Kubernetes object or DNS label):
// "<name>-taskmanager-<id>" leaves 45 characters for the name with a 5-character id, and
// Docker's "flinkd_<namespace>_<name>..." stays readable with the namespace held to 45 too.
const (
	MaxNameLength      = 45
	MaxNamespaceLength = 45
	// MaxTaskManagers bounds spec.numberOfTaskManagers.
	MaxTaskManagers = 1000
	// MinCPUMillis is the smallest cpu per instance, Ververica's 0.1 cores.
	MinCPUMillis = 100
)

// Log4jLevels returns Log4j's levels, which spec.logging.log4jLoggers accepts in any case.
func Log4jLevels() []string {
	return []string{"OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL"}
}

var (
	nameRE         = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	labelRE        = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	flinkVersionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`)
	envNameRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// Flink keys are dotted words; nothing here needs quoting in config.yaml or flink-conf.yaml.
	configKeyRE = regexp.MustCompile(`^[A-Za-z0-9_$][A-Za-z0-9_$.-]*$`)
	// Logger names are Java package or class names; nothing here needs escaping in a
	// properties file.
	loggerNameRE = regexp.MustCompile(`^[\p{L}\p{N}_$][\p{L}\p{N}_$.-]*$`)
	registryRE   = regexp.MustCompile(`^(?:` + domainAndPort + `|` + pathComponent + `)(?:/` + pathComponent + `)*$`)
	repositoryRE = regexp.MustCompile(`^` + pathComponent + `(?:/` + pathComponent + `)*$`)
	tagRE        = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
)

// Image reference grammar of the distribution project (the one Docker uses).
const (
	pathComponent = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	domainAndPort = `(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
)

// Validate checks a defaulted SessionCluster and returns every error and warning. Decode calls
// it; call Default first when building a SessionCluster another way.
func Validate(c *SessionCluster) (field.ErrorList, []Warning) {
	v := &validator{}
	v.tls(c)
	v.envelope(c)
	v.metadata(&c.Metadata, field.NewPath("metadata"))
	v.spec(&c.Spec, field.NewPath("spec"))
	v.flinkdAnnotations(c)
	return v.errs, v.warns
}

type validator struct {
	errs  field.ErrorList
	warns []Warning
}

func (v *validator) errorf(p *field.Path, typ field.ErrorType, value any, format string, a ...any) {
	v.errs = append(v.errs, &field.Error{Type: typ, Field: p.String(), BadValue: value, Detail: fmt.Sprintf(format, a...)})
}

func (v *validator) required(p *field.Path, detail string) {
	v.errs = append(v.errs, field.Required(p, detail))
}

func (v *validator) warnf(p *field.Path, format string, a ...any) {
	v.warns = append(v.warns, Warning{Field: p.String(), Message: fmt.Sprintf(format, a...)})
}

func (v *validator) envelope(c *SessionCluster) {
	switch c.Kind {
	case "SessionCluster":
	case "":
		v.required(field.NewPath("kind"), "write kind: SessionCluster")
	default:
		v.errorf(field.NewPath("kind"), field.ErrorTypeNotSupported, c.Kind, "%q is not supported; flinkd reads kind: SessionCluster", c.Kind)
	}
	switch c.APIVersion {
	case "v1":
	case "":
		v.required(field.NewPath("apiVersion"), "write apiVersion: v1")
	default:
		v.errorf(field.NewPath("apiVersion"), field.ErrorTypeNotSupported, c.APIVersion, "%q is not supported; flinkd reads apiVersion: v1", c.APIVersion)
	}
}

// validKey reports whether namespace and name are valid metadata.namespace and metadata.name.
func validKey(namespace, name string) bool {
	return validName(name) && validNamespace(namespace)
}

func validName(s string) bool { return len(s) <= MaxNameLength && nameRE.MatchString(s) }

func validNamespace(s string) bool { return len(s) <= MaxNamespaceLength && labelRE.MatchString(s) }

func (v *validator) metadata(m *Metadata, p *field.Path) {
	switch {
	case m.Name == "":
		v.required(p.Child("name"), "")
	case !validName(m.Name):
		v.errorf(p.Child("name"), field.ErrorTypeInvalid, m.Name,
			"%.80q is not a valid name: use at most %d lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
			m.Name, MaxNameLength)
	}
	switch {
	case m.Namespace == "":
		v.required(p.Child("namespace"), "")
	case !validNamespace(m.Namespace):
		v.errorf(p.Child("namespace"), field.ErrorTypeInvalid, m.Namespace,
			"%.80q is not a valid namespace: use at most %d lowercase letters, digits and '-', starting and ending with a letter or digit",
			m.Namespace, MaxNamespaceLength)
	}
	v.labels(m.Labels, p.Child("labels"))
	v.annotations(m.Annotations, p.Child("annotations"))
}

func (v *validator) spec(s *Spec, p *field.Path) {
	switch s.State {
	case StateRunning, StateStopped:
	case "":
		v.required(p.Child("state"), "write RUNNING or STOPPED")
	default:
		v.errorf(p.Child("state"), field.ErrorTypeNotSupported, string(s.State), "%.40q is not a state: write RUNNING or STOPPED", s.State)
	}

	switch {
	case s.DeploymentTargetName == "":
		v.required(p.Child("deploymentTargetName"), "")
	case len(s.DeploymentTargetName) > 63 || !labelRE.MatchString(s.DeploymentTargetName):
		v.errorf(p.Child("deploymentTargetName"), field.ErrorTypeInvalid, s.DeploymentTargetName,
			"%.80q is not a valid deployment target name: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
			s.DeploymentTargetName)
	}

	switch {
	case s.FlinkVersion == "":
		v.required(p.Child("flinkVersion"), `the Flink minor version, quoted: "1.20"`)
	case !flinkVersionRE.MatchString(s.FlinkVersion):
		v.errorf(p.Child("flinkVersion"), field.ErrorTypeInvalid, s.FlinkVersion,
			`%.40q is not a Flink version: write major.minor, quoted ("1.20"), or major.minor.patch`, s.FlinkVersion)
	}
	v.image(s, p)

	if n := s.NumberOfTaskManagers; n == nil {
		v.required(p.Child("numberOfTaskManagers"), "")
	} else if *n < 0 || *n > MaxTaskManagers {
		v.errorf(p.Child("numberOfTaskManagers"), field.ErrorTypeInvalid, *n,
			"%d is out of range: use 0 (a JobManager alone) to %d", *n, MaxTaskManagers)
	}

	rp := p.Child("resources")
	resOK := v.resources(s.Resources.JobManager, rp.Child("jobmanager"))
	resOK = v.resources(s.Resources.TaskManager, rp.Child("taskmanager")) && resOK

	confOK := v.flinkConfiguration(s.FlinkConfiguration, &s.Resources, p.Child("flinkConfiguration"))
	if fv, ok := flinkconf.ParseVersion(s.FlinkVersion); ok && flinkVersionRE.MatchString(s.FlinkVersion) && confOK {
		if v.configurationFile(s, fv, p) && resOK {
			v.memory(s, fv, p)
		}
	}
	v.logging(&s.Logging, p.Child("logging"))

	kp := p.Child("kubernetes")
	v.labels(s.Kubernetes.Labels, kp.Child("labels"))
	pp := kp.Child("pods")
	v.labels(s.Kubernetes.Pods.Labels, pp.Child("labels"))
	v.annotations(s.Kubernetes.Pods.Annotations, pp.Child("annotations"))
	v.envVars(s.Kubernetes.Pods.EnvVars, pp.Child("envVars"))
}

func (v *validator) image(s *Spec, p *field.Path) {
	if r := s.FlinkImageRegistry; r != "" && (len(r) > 255 || !registryRE.MatchString(r)) {
		v.errorf(p.Child("flinkImageRegistry"), field.ErrorTypeInvalid, r,
			"%.80q is not a registry: write a host with an optional port and path, such as registry.example.com/flink-images", r)
	}
	switch r := s.FlinkImageRepository; {
	case r == "":
		v.required(p.Child("flinkImageRepository"), "")
	case len(r) > 255 || !repositoryRE.MatchString(r):
		v.errorf(p.Child("flinkImageRepository"), field.ErrorTypeInvalid, r,
			"%.80q is not a repository: use lowercase letters, digits and the separators '.', '_', '-' and '/', such as flink", r)
	}
	switch t := s.FlinkImageTag; {
	case t == "":
		if s.FlinkVersion != "" { // else flinkVersion is reported, and the tag would default from it
			v.required(p.Child("flinkImageTag"), "")
		}
	case !tagRE.MatchString(t):
		v.errorf(p.Child("flinkImageTag"), field.ErrorTypeInvalid, t,
			"%.80q is not an image tag: use at most 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", t)
	}
	switch pp := p.Child("flinkImagePullPolicy"); s.FlinkImagePullPolicy {
	case PullIfNotPresent, PullAlways, PullNever:
	case "":
		v.required(pp, "")
	default:
		v.errorf(pp, field.ErrorTypeNotSupported, s.FlinkImagePullPolicy,
			"%.40q is not a pull policy: write IfNotPresent, Always or Never", s.FlinkImagePullPolicy)
	}
}

// resources checks cpu and memory; memory Flink cannot start with is memory's concern.
func (v *validator) resources(r ResourceSpec, p *field.Path) bool {
	n := len(v.errs)
	cp := p.Child("cpu")
	if r.CPU == "" {
		v.required(cp, "")
	} else if m, err := ParseCPU(r.CPU); err != nil {
		v.errorf(cp, field.ErrorTypeInvalid, r.CPU, "%s", err)
	} else if m < MinCPUMillis {
		v.errorf(cp, field.ErrorTypeInvalid, r.CPU, "%s is below the minimum of %s cores", r.CPU, FormatCPU(MinCPUMillis))
	}
	mp := p.Child("memory")
	if r.Memory == "" {
		v.required(mp, "")
	} else if b, err := ParseMemory(r.Memory); err != nil {
		v.errorf(mp, field.ErrorTypeInvalid, r.Memory, "%s", err)
	} else if b == 0 {
		v.errorf(mp, field.ErrorTypeInvalid, r.Memory, "must be more than 0")
	}
	return len(v.errs) == n
}

func (v *validator) flinkConfiguration(conf map[string]string, res *Resources, p *field.Path) bool {
	n := len(v.errs)
	for _, k := range sortedKeys(conf) {
		kp := p.Key(k)
		switch by, owned := flinkconf.Owned(k); {
		case k == "":
			v.errorf(kp, field.ErrorTypeInvalid, k, "the key is empty")
			continue
		case !configKeyRE.MatchString(k):
			v.errorf(kp, field.ErrorTypeInvalid, k, "%.80q is not a Flink configuration key: use letters, digits, '.', '-', '_' and '$'", k)
			continue
		case owned:
			v.errorf(kp, field.ErrorTypeForbidden, k, "%s; remove it", by)
			continue
		case k == flinkmem.KeyJobManagerProcessSize:
			v.processSize(kp, conf[k], res.JobManager, "jobmanager")
		case k == flinkmem.KeyTaskManagerProcessSize:
			v.processSize(kp, conf[k], res.TaskManager, "taskmanager")
		}
		if strings.ContainsAny(conf[k], "\n\r\x00") {
			v.errorf(kp, field.ErrorTypeInvalid, conf[k], "the value must be one line")
		}
	}
	return len(v.errs) == n
}

// processSize checks a Flink process size the user set instead of the one flinkd derives from
// spec.resources: it must be a Flink memory size, and one above the container's limit is
// warned about (the process would be killed for running out of memory).
func (v *validator) processSize(p *field.Path, value string, r ResourceSpec, component string) {
	b, err := flinkmem.ParseSize(value)
	if err != nil {
		v.errorf(p, field.ErrorTypeInvalid, value, "%s", err)
		return
	}
	if limit, err := ParseMemory(r.Memory); err == nil && b > limit {
		v.warnf(p, "%s is more than spec.resources.%s.memory (%s), the container's memory limit; the process would be killed for running out of memory",
			value, component, r.Memory)
	}
}

// configurationFile checks that the configuration file Flink fv reads can carry the spec's
// configuration as written, after the legacy keys' renames (each a warning): no legacy key
// next to its successor, and then
//   - from 1.19 on, where the entrypoint rewrites config.yaml as nested YAML at every start:
//     no key that is a dotted prefix of another, the keys flinkd and the entrypoint write
//     included (flinkconf.PrefixPairs), and no empty key segment;
//   - before 1.19, where Flink reads flink-conf.yaml after the entrypoint's envsubst: no
//     value that envsubst or Flink's legacy reader would change (flinkconf.LegacyProblem).
//     flinkd refuses these rather than making them safe: the legacy reader has no quoting, so
//     a '#' cannot be written at all, and a '$' could only survive envsubst through another
//     variable that flinkd would have to add to every container.
func (v *validator) configurationFile(s *Spec, fv flinkconf.Version, p *field.Path) bool {
	n := len(v.errs)
	cp := p.Child("flinkConfiguration")
	expanded, renamed := s.FlinkConfig()
	_, _, clashes := flinkconf.RenameLegacy(fv, s.FlinkConfiguration)
	sources := map[string]string{}
	for _, s := range flinkconf.Successors() {
		sources[s.Legacy] = s.Source
	}
	for _, r := range renamed {
		v.warnf(cp.Key(r.From), "flinkd writes it as %s, its successor (%s): Flink %s's entrypoint rewrites config.yaml as nested YAML at every start, "+
			"which cannot hold %s next to the keys under it", r.To, sources[r.From], fv, r.From)
	}
	for _, c := range clashes {
		for _, k := range []string{c.From, c.To} {
			v.errorf(cp.Key(k), field.ErrorTypeInvalid, k, "%s and %s are both set; %s is the successor of %s, which Flink %s ignores and its nested rewrite of config.yaml cannot hold: keep only %s",
				cp.Key(c.From), cp.Key(c.To), c.To, c.From, fv, c.To)
		}
	}
	if len(clashes) > 0 {
		return false
	}
	if !fv.StandardYAML() {
		for _, k := range sortedKeys(s.FlinkConfiguration) {
			if why := flinkconf.LegacyProblem(expanded[k], true); why != "" {
				v.errorf(cp.Key(k), field.ErrorTypeInvalid, s.FlinkConfiguration[k],
					"Flink %s reads flink-conf.yaml, and this value %s; flinkd cannot write it so that Flink reads it as written", fv, why)
			}
		}
		return len(v.errs) == n
	}
	// The spec's keys as written, by the key flinkd writes.
	written := map[string]string{}
	for k := range s.FlinkConfiguration {
		written[k] = k
	}
	for _, r := range renamed {
		delete(written, r.From)
		written[r.To] = r.From
	}
	keys := make([]string, 0, len(written))
	for k := range written {
		keys = append(keys, k)
		if !flinkconf.Nestable(k) {
			v.errorf(cp.Key(k), field.ErrorTypeInvalid, k, "has an empty segment, which Flink %s's nested rewrite of config.yaml cannot hold", fv)
		}
	}
	ours := map[string]string{}
	for _, o := range flinkconf.OwnedKeys() {
		ours[o.Key] = "flinkd"
	}
	for _, k := range flinkconf.EntrypointKeys() {
		ours[k] = "the image's entrypoint"
	}
	for k := range ours {
		if _, user := written[k]; !user {
			keys = append(keys, k)
		}
	}
	for _, pair := range flinkconf.PrefixPairs(keys) {
		short, long := pair[0], pair[1]
		us, ul := written[short], written[long]
		why := fmt.Sprintf("Flink %s's entrypoint rewrites config.yaml as nested YAML at every start, which cannot hold a key next to the keys under it "+
			"(the rewrite fails and the processes crash-loop, or one key is dropped)", fv)
		switch {
		case us != "" && ul != "":
			for _, k := range []string{us, ul} {
				v.errorf(cp.Key(k), field.ErrorTypeInvalid, k, "%s is a dotted prefix of %s: %s; rename or remove one", cp.Key(us), cp.Key(ul), why)
			}
		case us != "":
			v.errorf(cp.Key(us), field.ErrorTypeInvalid, us, "is a dotted prefix of %s, which %s writes: %s; remove it", long, ours[long], why)
		case ul != "":
			v.errorf(cp.Key(ul), field.ErrorTypeInvalid, ul, "is under %s, which %s writes: %s; remove it", short, ours[short], why)
		}
	}
	return len(v.errs) == n
}

// memory runs Flink's memory model (flinkmem) on the configuration flinkd writes, as the
// JobManager's and each TaskManager's start would: a size Flink refuses is an error with
// Flink's reason and the smallest size that works; a JobManager heap below Flink's
// recommended minimum is a warning with the smallest size that leaves it.
func (v *validator) memory(s *Spec, fv flinkconf.Version, p *field.Path) {
	conf, _ := s.FlinkConfig()
	rp, cp := p.Child("resources"), p.Child("flinkConfiguration")
	where := func(component, processKey string) (*field.Path, string, bool) {
		if raw, set := s.FlinkConfiguration[processKey]; set {
			return cp.Key(processKey), raw, true
		}
		r := s.Resources.TaskManager
		if component == "jobmanager" {
			r = s.Resources.JobManager
		}
		return rp.Child(component).Child("memory"), r.Memory, false
	}
	smallest := func(b int64, flinkUnits bool) string {
		if flinkUnits {
			return fmt.Sprintf("%dm", (b+flinkmem.MiB-1)/flinkmem.MiB)
		}
		return roundUpMemory(b)
	}

	if _, err := flinkmem.DeriveTaskManager(conf, fv); err != nil {
		fp, val, flinkUnits := where("taskmanager", flinkmem.KeyTaskManagerProcessSize)
		msg := fmt.Sprintf("Flink %s refuses this TaskManager memory and every TaskManager would exit at start: %v", fv, err)
		if min, ok := flinkmem.MinTaskManagerProcess(conf, fv); ok {
			msg += "; the smallest size that works is " + smallest(min, flinkUnits)
		} else {
			msg += "; no size works with the taskmanager.memory options of spec.flinkConfiguration"
		}
		v.errorf(fp, field.ErrorTypeInvalid, val, "%s", msg)
	}
	jm, err := flinkmem.DeriveJobManager(conf, fv)
	fp, val, flinkUnits := where("jobmanager", flinkmem.KeyJobManagerProcessSize)
	switch {
	case err != nil:
		msg := fmt.Sprintf("Flink %s refuses this JobManager memory and the JobManager would exit at start: %v", fv, err)
		if min, ok := flinkmem.MinJobManagerProcess(conf, fv, false); ok {
			msg += "; the smallest size that works is " + smallest(min, flinkUnits)
		} else {
			msg += "; no size works with the jobmanager.memory options of spec.flinkConfiguration"
		}
		v.errorf(fp, field.ErrorTypeInvalid, val, "%s", msg)
	case len(jm.Warnings) > 0:
		msg := fmt.Sprintf("%s starts, but Flink warns: %s", val, jm.Warnings[0])
		if min, ok := flinkmem.MinJobManagerProcess(conf, fv, true); ok {
			msg += "; " + smallest(min, flinkUnits) + " leaves the recommended heap"
		}
		v.warnf(fp, "%s", msg)
	}
}

// roundUpMemory renders b as the Ververica size, in powers of ten, that is at least b with
// at most three significant digits: "604m", "1.03g".
func roundUpMemory(b int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"t", 1e12}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}} {
		if b < u.size {
			continue
		}
		// Three significant digits: 1.03g, 10.3g, 103g.
		step := u.size / 100
		for n := b / u.size; n >= 10 && step < u.size; n /= 10 {
			step *= 10
		}
		up := (b + step - 1) / step * step
		whole, frac := up/u.size, (up%u.size)/step
		digits := 0
		for s := step; s < u.size; s *= 10 {
			digits++
		}
		if frac == 0 || digits == 0 {
			return fmt.Sprintf("%d%s", whole, u.suffix)
		}
		out := fmt.Sprintf("%d.%0*d", whole, digits, frac)
		return strings.TrimRight(out, "0") + u.suffix
	}
	return fmt.Sprintf("%d", b)
}

func (v *validator) logging(l *Logging, p *field.Path) {
	profiles := flinkconf.Profiles()
	switch lp := p.Child("loggingProfile"); {
	case l.LoggingProfile == "":
		v.required(lp, "")
	case !slices.Contains(profiles, l.LoggingProfile):
		v.errorf(lp, field.ErrorTypeNotSupported, l.LoggingProfile, "%.40q is not a logging profile: flinkd has %s",
			l.LoggingProfile, strings.Join(profiles, ", "))
	}
	levels := Log4jLevels()
	for _, name := range sortedKeys(l.Log4jLoggers) {
		np := p.Child("log4jLoggers").Key(name)
		if name != flinkconf.RootLogger && !loggerNameRE.MatchString(name) {
			v.errorf(np, field.ErrorTypeInvalid, name,
				"%.80q is not a logger name: write a Java package or class name, such as org.apache.flink, or \"\" for the root logger", name)
			continue
		}
		if lvl := l.Log4jLoggers[name]; !slices.Contains(levels, strings.ToUpper(lvl)) {
			v.errorf(np, field.ErrorTypeNotSupported, lvl, "%.40q is not a Log4j level: write one of %s", lvl, strings.Join(levels, ", "))
		}
	}
}

func (v *validator) labels(labels map[string]string, p *field.Path) {
	for _, k := range sortedKeys(labels) {
		kp := p.Key(k)
		for _, msg := range content.IsLabelKey(k) {
			v.errorf(kp, field.ErrorTypeInvalid, k, "%.80q is not a valid label key: %s", k, msg)
		}
		for _, msg := range content.IsLabelValue(labels[k]) {
			v.errorf(kp, field.ErrorTypeInvalid, labels[k], "%.80q is not a valid label value: %s", labels[k], msg)
		}
	}
}

func (v *validator) annotations(annotations map[string]string, p *field.Path) {
	total := 0
	for _, k := range sortedKeys(annotations) {
		total += len(k) + len(annotations[k])
		// Kubernetes' rule: a label key, ignoring case.
		for _, msg := range content.IsLabelKey(strings.ToLower(k)) {
			v.errorf(p.Key(k), field.ErrorTypeInvalid, k, "%.80q is not a valid annotation key: %s", k, msg)
		}
	}
	if total > 256<<10 {
		v.errorf(p, field.ErrorTypeTooLong, nil, "the annotations take %d bytes; at most 256 KiB", total)
	}
}

func (v *validator) envVars(env []EnvVar, p *field.Path) {
	seen := map[string]int{}
	for i, e := range env {
		ip := p.Index(i)
		np := ip.Child("name")
		switch {
		case e.Name == "":
			v.required(np, "")
		case !envNameRE.MatchString(e.Name):
			v.errorf(np, field.ErrorTypeInvalid, e.Name,
				"%.80q is not an environment variable name: use letters, digits and '_', not starting with a digit", e.Name)
		default:
			if first, dup := seen[e.Name]; dup {
				v.errorf(np, field.ErrorTypeDuplicate, e.Name, "%q is already set by envVars[%d]", e.Name, first)
			} else {
				seen[e.Name] = i
			}
		}
		if strings.ContainsRune(e.Value, 0) {
			v.errorf(ip.Child("value"), field.ErrorTypeInvalid, nil, "the value contains a NUL character")
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
