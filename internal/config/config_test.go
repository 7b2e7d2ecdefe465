package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	c, err := Parse([]byte(`
targets:
  staging:
    kubernetes: {kubeconfig: /k/config, context: stg, namespace: flink}
  offline:
    docker: {imageFallback: localhost/flink-sim:1.20}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Names(), ","); got != "default,offline,staging" {
		t.Fatalf("targets = %s (default must be added)", got)
	}
	if k := c.Targets["staging"].Kubernetes; k == nil || k.Context != "stg" || k.Namespace != "flink" {
		t.Fatalf("staging = %+v", c.Targets["staging"])
	}
	if c.Targets["default"].Docker == nil {
		t.Fatal("added default target is not docker")
	}
}

func TestParseErrorsNameTargetAndField(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"targets:\n  staging:\n    kubernetes: {kubeconfg: x}\n", `unknown field "targets.staging.kubernetes.kubeconfg"`},
		{"targets:\n  staging: {}\n", "targets.staging: needs one of docker or kubernetes"},
		{"targets:\n  x:\n    docker: {}\n    kubernetes: {}\n", "targets.x: has both docker and kubernetes"},
		{"targets:\n  Bad_Name:\n    docker: {}\n", `targets.Bad_Name: target name "Bad_Name"`},
		{"targets:\n  s:\n    kubernetes: {namespace: NOPE}\n", `targets.s.kubernetes.namespace: "NOPE"`},
		{"targets:\n  s:\n    kubernetes: {inCluster: true, context: c}\n", "targets.s.kubernetes.inCluster: cannot be combined"},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "flinkd.yaml")
	if err := os.WriteFile(p, []byte("targets:\n  a: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "targets.a") {
		t.Fatalf("Load error = %v; want the file and targets.a", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Fatal("loading a missing file succeeded")
	}
}

func TestParseAddressPools(t *testing.T) {
	c, err := Parse([]byte(`
targets:
  default:
    docker:
      addressPools:
        - {base: 10.210.0.0/16, size: 24}
        - {base: 192.0.2.0/24, size: 26}
`))
	if err != nil {
		t.Fatal(err)
	}
	pools := c.Targets["default"].Docker.AddressPools
	if len(pools) != 2 || pools[0].String() != "base=10.210.0.0/16,size=24" || pools[1].String() != "base=192.0.2.0/24,size=26" {
		t.Fatalf("address pools = %v", pools)
	}
	for _, tc := range []struct{ doc, want string }{
		{"targets:\n  d:\n    docker: {addressPools: [{base: 10.210.0.0/16, size: 24, gateway: x}]}\n", `unknown field "targets.d.docker.addressPools[0].gateway"`},
		{"targets:\n  d:\n    docker: {addressPools: [{base: 10.210.0.0/16, size: 8}]}\n", "targets.d.docker.addressPools: address pool base=10.210.0.0/16,size=8: size must be from 16"},
		{"targets:\n  d:\n    docker: {addressPools: [{base: 10.210.0.0/16, size: 24}, {base: 10.210.4.0/22, size: 24}]}\n", "targets.d.docker.addressPools: address pools"},
		{"targets:\n  d:\n    docker: {addressPools: [{base: nonsense, size: 24}]}\n", "nonsense"},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}
