package docker

import (
	"strings"
	"testing"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/test/testenv"
)

// The image's own config.yaml is read once per image from the first container made from it:
// its defaults stay in flinkd's file (JVM options merged with the cluster's), its other conf
// files stay in place, and flinkd's files get the conf folder's owner.
func TestImageConfIsReadOnceAndKept(t *testing.T) {
	cli := engine(t)
	base := testenv.SimImageOf(t, cli, "1.20")
	image := testenv.DerivedImage(t, cli, "flinkd-test-image-conf",
		"FROM "+base+"\nCOPY --from="+base+" --chown=1000:1000 /opt/flink/ /opt/flink/\n"+
			"COPY --chown=1000:1000 config.yaml core-site.xml /opt/flink/conf/\nUSER 1000:1000\n",
		map[string]string{
			"config.yaml": "env:\n  java:\n    opts:\n      all: --add-opens=java.base/java.util=ALL-UNNAMED\n" +
				"image:\n  marker: kept\njobmanager:\n  memory:\n    process:\n      size: 1600m\n" +
				"taskmanager:\n  memory:\n    process:\n      size: 1728m\n",
			"core-site.xml": "<configuration/>\n",
		})
	r, _ := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 2, "hash-image-conf-0123456789")
	c.Image = image
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	obs := waitFor(t, r, k, "running", up(2, c.Hash))
	// Registered: the entrypoints have finished rewriting the files read below.
	waitOverview(t, obs.REST.URL, 2)
	if n := len(r.confs); n != 1 {
		t.Errorf("read %d images' conf folders for one image", n)
	}
	for _, id := range []string{"jobmanager", "taskmanager-2"} {
		name := containerName(k, id)
		hdr, text := copyFile(t, cli, name, flinkconf.Dir+"/"+flinkconf.ConfigYAML)
		if hdr.Uid != 1000 || hdr.Gid != 1000 {
			t.Errorf("%s: config.yaml owned by %d:%d, want the conf folder's 1000:1000", id, hdr.Uid, hdr.Gid)
		}
		conf := readConf(t, text)
		if want := "--add-opens=java.base/java.util=ALL-UNNAMED -Dfoo=bar -Dbaz=qux"; conf["env.java.opts.all"] != want {
			t.Errorf("%s: env.java.opts.all = %q, want %q", id, conf["env.java.opts.all"], want)
		}
		if conf["image.marker"] != "kept" || conf["taskmanager.numberOfTaskSlots"] != "2" {
			t.Errorf("%s: the image's or the cluster's keys are lost:\n%s", id, text)
		}
		if _, text := copyFile(t, cli, name, flinkconf.Dir+"/core-site.xml"); text != "<configuration/>\n" {
			t.Errorf("%s: the image's core-site.xml is %q", id, text)
		}
	}
}

// An image without /opt/flink/conf is refused, naming the image and the folder; nothing of
// it is started.
func TestImageWithoutConfFolderIsRefusedNamingIt(t *testing.T) {
	cli := engine(t)
	base := testenv.SimImageOf(t, cli, "1.20")
	image := testenv.DerivedImage(t, cli, "flinkd-test-no-conf",
		"FROM scratch\nCOPY --from="+base+" /docker-entrypoint.sh /docker-entrypoint.sh\nENTRYPOINT [\"/docker-entrypoint.sh\"]\n", nil)
	r, _ := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 1, "hash-no-conf-0123456789abc")
	c.Image = image
	err := r.Apply(t.Context(), c, nil)
	if err == nil || !strings.Contains(err.Error(), "image "+image+" has no "+flinkconf.Dir) {
		t.Fatalf("apply: %v; want an error naming the image and %s", err, flinkconf.Dir)
	}
	obs, oerr := r.Observe(t.Context(), k)
	if oerr != nil {
		t.Fatal(oerr)
	}
	if obs.JobManager != nil && obs.JobManager.State == "Running" {
		t.Errorf("the jobmanager runs: %+v", obs.JobManager)
	}
	// The next apply says the same (the image's layout is remembered, not retried blindly).
	if err := r.Apply(t.Context(), c, nil); err == nil || !strings.Contains(err.Error(), image) {
		t.Errorf("second apply: %v", err)
	}
}

// The image's own memory options count: a managed fraction in its config.yaml that leaves no
// task heap is refused before any TaskManager starts (validation cannot see the image).
func TestImageMemoryOptionsAreCheckedBeforeStart(t *testing.T) {
	cli := engine(t)
	base := testenv.SimImageOf(t, cli, "1.20")
	image := testenv.DerivedImage(t, cli, "flinkd-test-image-memory",
		"FROM "+base+"\nCOPY --chown=9999:9999 config.yaml /opt/flink/conf/\n",
		map[string]string{"config.yaml": "taskmanager:\n  memory:\n    managed:\n      fraction: 0.9\n"})
	r, _ := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 1, "hash-image-memory-01234567")
	c.Image = image
	err := r.Apply(t.Context(), c, nil)
	if err == nil || !strings.Contains(err.Error(), "with image "+image+"'s own configuration, Flink 1.20 refuses the taskmanager memory") {
		t.Fatalf("apply: %v", err)
	}
}
