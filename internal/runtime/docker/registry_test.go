package docker

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// testRegistry serves one tiny image over the registry v2 API on 127.0.0.1, which the
// engine treats as an insecure registry: enough for a real pull without the internet.
// It returns the image reference and removes the pulled image in t.Cleanup.
func testRegistry(t *testing.T, cli *client.Client) string {
	t.Helper()
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	content := []byte("pulled by flinkd's docker runtime tests\n")
	if err := tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	tw.Write(content)
	tw.Close()
	var layer bytes.Buffer
	gz := gzip.NewWriter(&layer)
	gz.Write(layerTar.Bytes())
	gz.Close()
	digest := func(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }
	config, _ := json.Marshal(map[string]any{
		"architecture": goruntime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Cmd": []string{"/hello.txt"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{digest(layerTar.Bytes())}},
		"history":      []map[string]string{{"created_by": "flinkd test"}},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.v2+json",
		"config": map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json",
			"size": len(config), "digest": digest(config)},
		"layers": []map[string]any{{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
			"size": layer.Len(), "digest": digest(layer.Bytes())}},
	})
	blobs := map[string][]byte{digest(config): config, digest(layer.Bytes()): layer.Bytes()}

	mux := http.NewServeMux()
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		switch p := r.URL.Path; {
		case p == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.HasPrefix(p, "/v2/flinkd-pull-test/manifests/"):
			w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
			w.Header().Set("Docker-Content-Digest", digest(manifest))
			w.Write(manifest)
		case strings.HasPrefix(p, "/v2/flinkd-pull-test/blobs/"):
			b, ok := blobs[strings.TrimPrefix(p, "/v2/flinkd-pull-test/blobs/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	ref := ln.Addr().String() + "/flinkd-pull-test:1"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: remove image %s: %v", ref, err)
		}
	})
	return ref
}

func TestAbsentImageIsPulledWithProgressEvents(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	ref := testRegistry(t, cli)
	k := testKey(t, cli)
	c := testCluster(t, k, 1, "hash-one")
	c.Image = ref

	var ev recorder
	got, err := r.ensureImage(t.Context(), c, ev.progress)
	if err != nil || got != ref {
		t.Fatalf("ensureImage = %q, %v; want %q pulled", got, err, ref)
	}
	all := ev.all()
	reasons := ev.reasons()
	if len(reasons) < 3 || reasons[0] != "Pulling" || reasons[len(reasons)-1] != "Pulled" {
		t.Fatalf("progress %q: want Pulling, the engine's progress lines, then Pulled", all)
	}
	mustContain(t, "pull progress", strings.Join(all, "\n"), "pulling image "+ref, "Status: Downloaded newer image for "+ref, "pulled image "+ref)
	if _, err := cli.ImageInspect(t.Context(), ref); err != nil {
		t.Fatalf("image not present after the pull: %v", err)
	}

	// Present now: IfNotPresent does not pull again, Always does.
	var again recorder
	if _, err := r.ensureImage(t.Context(), c, again.progress); err != nil || len(again.all()) != 0 {
		t.Errorf("IfNotPresent with the image present: err %v, progress %q", err, again.all())
	}
	c.PullPolicy = "Always"
	var always recorder
	if _, err := r.ensureImage(t.Context(), c, always.progress); err != nil || len(always.reasons()) == 0 || always.reasons()[0] != "Pulling" {
		t.Errorf("Always with the image present: err %v, progress %q", err, always.all())
	}
}
