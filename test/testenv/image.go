package testenv

import (
	"fmt"
	"strings"
)

// SplitImage splits an image reference "registry/repository:tag" the way a SessionCluster
// spells it (spec.flinkImageRegistry, flinkImageRepository, flinkImageTag), for tests that
// write the image SimImageOf returns into a spec.
func SplitImage(ref string) (registry, repository, tag string, err error) {
	slash := strings.Index(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if slash <= 0 || colon < slash {
		return "", "", "", fmt.Errorf("image %q: want registry/repository:tag, such as localhost/flink-sim:1.20", ref)
	}
	return ref[:slash], ref[slash+1 : colon], ref[colon+1:], nil
}
