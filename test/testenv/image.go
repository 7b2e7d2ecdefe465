package testenv

import (
	"fmt"
	"os"
	"strings"
)

// Image is an image reference split the way a SessionCluster spells it
// (spec.flinkImageRegistry, flinkImageRepository, flinkImageTag).
type Image struct {
	Registry, Repository, Tag string
}

// String is the reference "registry/repository:tag".
func (i Image) String() string {
	if i.Registry == "" {
		return i.Repository + ":" + i.Tag
	}
	return i.Registry + "/" + i.Repository + ":" + i.Tag
}

// SimImageFromEnv is the stand-in image tests that need the current stand-in run: the
// FLINK_SIM_IMAGE of hack/sim-image.sh when set (an engineer's own build, such as
// localhost/flink-sim-auto:1.20), else localhost/flink-sim:<version>.
func SimImageFromEnv(version string) (Image, error) {
	ref := os.Getenv("FLINK_SIM_IMAGE")
	if ref == "" {
		ref = "localhost/flink-sim:" + version
	}
	slash := strings.Index(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if slash <= 0 || colon < slash {
		return Image{}, fmt.Errorf("FLINK_SIM_IMAGE=%q: want registry/repository:tag, such as localhost/flink-sim-auto:1.20", ref)
	}
	return Image{Registry: ref[:slash], Repository: ref[slash+1 : colon], Tag: ref[colon+1:]}, nil
}
