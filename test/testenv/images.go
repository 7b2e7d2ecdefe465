package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// LabelTestImage marks the throwaway images DerivedImage builds.
const LabelTestImage = "flinkd.io/test-image"

// DerivedImage builds a throwaway image from dockerfile and files (name to content) with the
// engine's classic builder, which pulls nothing when every FROM names a local image (the
// stand-in, or scratch). It returns the image's tag, localhost/<name>:<random>, and removes
// the image when the test ends. Tests use it for images that differ from the official one in
// a way the stand-in image does not: an extra file in conf/, no conf/, another user.
func DerivedImage(tb testing.TB, cli *client.Client, name, dockerfile string, files map[string]string) string {
	tb.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	tag := "localhost/" + name + ":" + hex.EncodeToString(b)
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	all := map[string]string{"Dockerfile": dockerfile}
	for n, c := range files {
		all[n] = c
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(all[n])), Typeflag: tar.TypeReg}); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.Copy(tw, strings.NewReader(all[n])); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	resp, err := cli.ImageBuild(tb.Context(), &ctxTar, build.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true, Version: build.BuilderV1,
		Labels: map[string]string{LabelTestImage: "true"},
	})
	if err != nil {
		tb.Fatalf("build image %s: %v", tag, err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, &out, 0, false, nil); err != nil {
		tb.Fatalf("build image %s: %v\n%s", tag, err, out.String())
	}
	tb.Cleanup(func() {
		// Cleanups run last first: build the image before whatever starts containers from it,
		// so that those are gone when it is removed.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			tb.Logf("remove image %s: %v", tag, err)
		}
	})
	return tag
}

// SimImageOf is SimImageFor for version, honouring $FLINK_SIM_REPOSITORY: a branch that
// changes the stand-in builds its own tags of each version (FLINK_SIM_IMAGE=<repo>:<version>
// bash hack/sim-image.sh <version>) and runs these tests against them with
// FLINK_SIM_REPOSITORY=<repo>. Such an image must exist; the default ones are built when
// missing.
func SimImageOf(tb testing.TB, cli *client.Client, version string) string {
	tb.Helper()
	repo := os.Getenv("FLINK_SIM_REPOSITORY")
	if repo == "" {
		return SimImageFor(tb, cli, version)
	}
	img := repo + ":" + version
	if _, err := cli.ImageInspect(tb.Context(), img); err != nil {
		tb.Fatalf("FLINK_SIM_REPOSITORY is %s, but image %s: %v", repo, img, err)
	}
	return img
}
