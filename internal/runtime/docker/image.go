package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
)

// Pull policies of runtime.Cluster.PullPolicy.
const (
	pullIfNotPresent = "IfNotPresent"
	pullAlways       = "Always"
	pullNever        = "Never"
)

// pullEventInterval spaces out Progress events for one pull: per-layer lines in between
// go to the log only.
const pullEventInterval = 2 * time.Second

// ensureImage makes c.Image present, honouring c.PullPolicy, and returns the image to run:
// c.Image, or the configured fallback when c.Image is neither present nor pullable. An
// unusable image is an error wrapping runtime.ErrImageUnavailable that names the image and
// the reason.
func (r *Runtime) ensureImage(ctx context.Context, c runtime.Cluster, progress runtime.Progress) (string, error) {
	ref := c.Image
	if ref == "" {
		return "", fmt.Errorf("image is empty: %w", runtime.ErrImageUnavailable)
	}
	policy := c.PullPolicy
	if policy == "" {
		policy = pullIfNotPresent
	}
	present, err := r.imagePresent(ctx, ref)
	if err != nil {
		return "", err
	}
	var reason error
	switch policy {
	case pullNever:
		if present {
			return ref, nil
		}
		reason = errors.New("not present and the pull policy is Never")
	case pullIfNotPresent:
		if present {
			return ref, nil
		}
		reason = r.pull(ctx, ref, progress)
	case pullAlways:
		reason = r.pull(ctx, ref, progress)
		if reason != nil && present && ctx.Err() == nil {
			emit(progress, "PullFailed", fmt.Sprintf("pull %s: %v; using the image present locally", ref, reason))
			r.log.Warn("pull failed, using local image", "image", ref, "err", reason)
			return ref, nil
		}
	default:
		return "", fmt.Errorf("unknown pull policy %q (want %s, %s or %s)", policy, pullIfNotPresent, pullAlways, pullNever)
	}
	if reason == nil {
		return ref, nil
	}
	if ctx.Err() != nil {
		// Shutting down or out of time for the whole Apply: not a fact about the image.
		return "", fmt.Errorf("pull image %s: %w", ref, reason)
	}
	if r.fallback != "" && r.fallback != ref {
		ok, err := r.imagePresent(ctx, r.fallback)
		if err != nil {
			return "", err
		}
		if ok {
			emit(progress, "ImageFallback", fmt.Sprintf("image %s unavailable (%v); running the fallback image %s instead", ref, reason, r.fallback))
			r.log.Warn("image unavailable, using fallback", "image", ref, "fallback", r.fallback, "err", reason)
			return r.fallback, nil
		}
		return "", fmt.Errorf("image %s: %w: %w (and the fallback image %s is not present)", ref, runtime.ErrImageUnavailable, reason, r.fallback)
	}
	return "", fmt.Errorf("image %s: %w: %w", ref, runtime.ErrImageUnavailable, reason)
}

func (r *Runtime) imagePresent(ctx context.Context, ref string) (bool, error) {
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	_, err := r.cli.ImageInspect(cctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("inspect image %s: %w", ref, err)
}

// pull pulls ref within the pull budget, rendering the engine's progress stream with the
// Docker CLI's own renderer into log lines and (spaced out) Progress events.
func (r *Runtime) pull(ctx context.Context, ref string, progress runtime.Progress) error {
	ctx, cancel := context.WithTimeout(ctx, r.pullTimeout)
	defer cancel()
	emit(progress, "Pulling", "pulling image "+ref)
	r.log.Info("pulling image", "image", ref)
	start := time.Now()
	lastEvent := start
	rc, err := r.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	defer rc.Close()
	lw := &lineWriter{fn: func(line string) {
		layer := strings.Contains(line, ": ") && !strings.HasPrefix(line, "Digest:") && !strings.HasPrefix(line, "Status:")
		if layer {
			r.log.Debug("pull progress", "image", ref, "line", line)
		} else {
			r.log.Info("pull progress", "image", ref, "line", line)
		}
		now := time.Now()
		if !layer || now.Sub(lastEvent) >= pullEventInterval {
			lastEvent = now
			emit(progress, "Pulling", ref+": "+line)
		}
	}}
	err = jsonmessage.DisplayJSONMessagesStream(rc, lw, 0, false, nil)
	lw.flush()
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	ok, err := r.imagePresent(ctx, ref)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("pull finished but the image is not present")
	}
	emit(progress, "Pulled", "pulled image "+ref)
	r.log.Info("pulled image", "image", ref, "took", time.Since(start))
	return nil
}

func emit(progress runtime.Progress, reason, message string) {
	if progress != nil {
		progress(reason, message)
	}
}

// lineWriter calls fn for every complete, non-empty line written to it.
type lineWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	fn  func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimSpace(string(w.buf.Next(i + 1)))
		if line != "" {
			w.fn(line)
		}
	}
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if line := strings.TrimSpace(w.buf.String()); line != "" {
		w.fn(line)
	}
	w.buf.Reset()
}

// imageConf is what an image has in /opt/flink/conf before flinkd writes its files: read
// once per image ID from the first container created from it (CopyFromContainer), before
// flinkd's files are copied in, and kept for the life of the runtime. The official image
// ships its defaults there (2.x images the Java 17 module flags in env.java.opts.all); an
// image built on it may add files, or a flink-conf.yaml that Flink 1.19 and 1.20 then read
// instead of config.yaml.
type imageConf struct {
	// uid and gid own the folder: flinkd's files get the same owner, the image's Flink user
	// (9999 in the official image), so that its entrypoint can rewrite them and the Flink
	// user read the 0600 key material of a secure cluster. A root-owned folder keeps 9999.
	uid, gid int
	// standard and legacy are conf/config.yaml and conf/flink-conf.yaml; nil when absent.
	standard, legacy *flinkconf.Base
	// err is what makes the image unusable (no /opt/flink/conf), for every container of it.
	err error
}

// maxConfFile bounds what flinkd reads of one file of the image's conf folder.
const maxConfFile = 4 << 20

// imageConfOf returns the conf folder of the image container id was created from, reading it
// from that container on first use of the image.
func (r *Runtime) imageConfOf(ctx context.Context, id, image string) (*imageConf, error) {
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	ins, err := r.cli.ContainerInspect(cctx, id)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	if image == "" && ins.Config != nil {
		image = ins.Config.Image
	}
	r.confsMu.Lock()
	ic, ok := r.confs[ins.Image]
	r.confsMu.Unlock()
	if ok {
		return ic, nil
	}
	ic, err = readImageConf(cctx, r.cli, id, image)
	if err != nil {
		return nil, err // a failed read is not a fact about the image: try again next time
	}
	r.confsMu.Lock()
	r.confs[ins.Image] = ic
	r.confsMu.Unlock()
	r.log.Info("read the image's conf folder", "image", image, "image_id", ins.Image, "uid", ic.uid, "gid", ic.gid,
		"config.yaml", ic.standard != nil, "flink-conf.yaml", ic.legacy != nil, "unusable", ic.err)
	return ic, nil
}

// readImageConf reads the conf folder of created container id (image names it in errors).
func readImageConf(ctx context.Context, cli *client.Client, id, image string) (*imageConf, error) {
	rc, _, err := cli.CopyFromContainer(ctx, id, flinkconf.Dir)
	if cerrdefs.IsNotFound(err) {
		return &imageConf{err: fmt.Errorf("image %s has no %s, the folder the official Flink image reads its configuration from "+
			"and flinkd writes it to: build the image on the official flink image, or keep its layout (FLINK_HOME=/opt/flink)",
			image, flinkconf.Dir)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of image %s: %w", flinkconf.Dir, image, err)
	}
	defer rc.Close()
	ic := &imageConf{uid: flinkconf.ImageUID, gid: flinkconf.ImageUID}
	tr := tar.NewReader(rc)
	base := path.Base(flinkconf.Dir)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s of image %s: %w", flinkconf.Dir, image, err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		switch {
		case name == base && hdr.Typeflag == tar.TypeDir && hdr.Uid != 0:
			// A folder root owns says nothing of the user Flink runs as: keep the
			// official image's flink user, whom root can read for too.
			ic.uid, ic.gid = hdr.Uid, hdr.Gid
		case name == base && hdr.Typeflag == tar.TypeDir:
		case name == base:
			ic.err = fmt.Errorf("image %s has a %s that is not a folder; flinkd writes Flink's configuration into that folder", image, flinkconf.Dir)
		case hdr.Typeflag != tar.TypeReg:
		case name == base+"/"+flinkconf.ConfigYAML || name == base+"/"+flinkconf.LegacyConfigYAML:
			data, err := io.ReadAll(io.LimitReader(tr, maxConfFile))
			if err != nil {
				return nil, fmt.Errorf("read %s of image %s: %w", name, image, err)
			}
			if path.Base(name) == flinkconf.LegacyConfigYAML {
				ic.legacy = flinkconf.ParseLegacy(data)
				continue
			}
			if ic.standard, err = flinkconf.ParseStandard(data); err != nil {
				ic.err = fmt.Errorf("image %s: its %s/%s: %w", image, flinkconf.Dir, flinkconf.ConfigYAML, err)
			}
		}
	}
	return ic, nil
}
