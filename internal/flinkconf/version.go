package flinkconf

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a Flink major.minor version. It decides the configuration file, whether the
// image's entrypoint rewrites that file at every start, and which key names Flink reads.
type Version struct{ Major, Minor int }

// Newest returns the newest Flink line flinkd knows; an unparsable version is read as it.
func Newest() Version { return Version{2, 2} }

// ParseVersion reads "1.20", "1.20.1" or "2.1".
func ParseVersion(s string) (Version, bool) {
	a, b, found := strings.Cut(s, ".")
	if !found {
		return Version{}, false
	}
	b, _, _ = strings.Cut(b, ".")
	ma, err1 := strconv.Atoi(a)
	mi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || ma < 0 || mi < 0 {
		return Version{}, false
	}
	return Version{ma, mi}, true
}

// VersionOf is ParseVersion with Newest for what it cannot read (validation reports that).
func VersionOf(s string) Version {
	if v, ok := ParseVersion(s); ok {
		return v
	}
	return Newest()
}

// AtLeast reports whether v is major.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// StandardYAML reports whether Flink v reads conf/config.yaml as standard YAML (FLIP-366,
// 1.19 on). From 1.19 on the image's docker-entrypoint.sh also runs
// bin/config-parser-utils.sh at every start, which writes the file back nested; before, it
// edits flink-conf.yaml with sed and passes it through envsubst.
func (v Version) StandardYAML() bool { return v.AtLeast(1, 19) }

// ReadsLegacyFirst reports whether Flink v reads conf/flink-conf.yaml instead of config.yaml
// when both exist: 1.19 and 1.20 do (GlobalConfiguration's fallback for FLIP-366), 2.x
// reads only config.yaml, and before 1.19 only flink-conf.yaml exists.
func (v Version) ReadsLegacyFirst() bool { return v.Major == 1 && v.AtLeast(1, 19) }
