// Package config reads flinkd's configuration file: the deployment targets that
// spec.deploymentTargetName chooses between.
//
//	# flinkd.yaml
//	targets:
//	  default:                  # the local Docker engine
//	    docker: {}
//	  laptop-offline:
//	    docker:
//	      host: unix:///var/run/docker.sock
//	      imageFallback: localhost/flink-sim:1.20
//	      addressPools:         # cluster networks' subnets (default 10.200.0.0/14 in /22s)
//	        - {base: 10.200.0.0/14, size: 22}
//	  staging:                  # a Kubernetes namespace
//	    kubernetes:
//	      kubeconfig: ~/.kube/config
//	      context: staging
//	      namespace: flink
//	  in-cluster:               # flinkd itself runs in a pod
//	    kubernetes:
//	      inCluster: true
//	      namespace: flink
//
// Without a file, the only target is "default", the local Docker engine. A file that names
// no "default" target gets that one added. Errors name the file, the target and the field.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/flinkd/flinkd/internal/runtime/docker"
	"github.com/flinkd/flinkd/internal/spec"
)

// Config is flinkd's configuration.
type Config struct {
	Targets map[string]Target `json:"targets"`
}

// Target is one deployment target: exactly one of Docker or Kubernetes.
type Target struct {
	Docker     *Docker     `json:"docker,omitempty"`
	Kubernetes *Kubernetes `json:"kubernetes,omitempty"`
}

// Docker is a Docker engine.
type Docker struct {
	// Host is the engine address (unix:///var/run/docker.sock, tcp://host:2376); empty means
	// the environment (DOCKER_HOST) or the local default.
	Host string `json:"host,omitempty"`
	// ImageFallback is run when a spec's image is neither present nor pullable (offline
	// demos); each use is reported as an event.
	ImageFallback string `json:"imageFallback,omitempty"`
	// AddressPools are the ranges each cluster's network gets its own subnet from, as
	// dockerd's default-address-pools: base split into subnets of prefix length size. A
	// subnet is used only when it overlaps no network of the engine and, for a local
	// engine, no address or route of the host. Empty: flinkd --docker-address-pool, else
	// docker.DefaultAddressPools (10.200.0.0/14 in /22 subnets: 256 clusters).
	AddressPools []docker.AddressPool `json:"addressPools,omitempty"`
}

// Kubernetes is a namespace of a Kubernetes cluster.
type Kubernetes struct {
	Kubeconfig string `json:"kubeconfig,omitempty"` // empty: $KUBECONFIG or ~/.kube/config
	Context    string `json:"context,omitempty"`    // empty: the current context
	Namespace  string `json:"namespace,omitempty"`  // empty: the context's namespace, else "default"
	InCluster  bool   `json:"inCluster,omitempty"`  // use the pod's service account
}

// DefaultTarget is the target of specs that name none (spec's default, the one home of it).
const DefaultTarget = spec.DefaultDeploymentTargetName

// Default is the configuration without a file: the local Docker engine as "default".
func Default() *Config {
	return &Config{Targets: map[string]Target{DefaultTarget: {Docker: &Docker{}}}}
}

// Load reads and checks a configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	for name, t := range c.Targets {
		if k := t.Kubernetes; k != nil && strings.HasPrefix(k.Kubeconfig, "~/") {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("config %s: targets.%s.kubernetes.kubeconfig: %w", path, name, err)
			}
			k.Kubeconfig = filepath.Join(home, k.Kubeconfig[2:])
		}
	}
	return c, nil
}

// Parse decodes and checks a configuration document; every problem is reported.
func Parse(data []byte) (*Config, error) {
	var c Config
	var errs []string
	if len(bytes.TrimSpace(data)) > 0 {
		// Unknown keys first, with their full paths; then the typed decode.
		var raw any
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return nil, err
		}
		errs = unknownFields(raw)
		if len(errs) > 0 {
			return nil, errors.New(strings.Join(errs, "; "))
		}
		if err := yaml.UnmarshalStrict(data, &c); err != nil {
			return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "error unmarshaling JSON: while decoding JSON: "))
		}
	}
	if c.Targets == nil {
		c.Targets = map[string]Target{}
	}
	names := make([]string, 0, len(c.Targets))
	for n := range c.Targets {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		t := c.Targets[name]
		p := "targets." + name
		for _, msg := range validation.IsDNS1123Label(name) {
			errs = append(errs, fmt.Sprintf("%s: target name %q: %s", p, name, msg))
		}
		switch {
		case t.Docker == nil && t.Kubernetes == nil:
			errs = append(errs, p+": needs one of docker or kubernetes")
		case t.Docker != nil && t.Kubernetes != nil:
			errs = append(errs, p+": has both docker and kubernetes; a target is one of them")
		case t.Docker != nil:
			if err := docker.ValidatePools(t.Docker.AddressPools); err != nil {
				errs = append(errs, fmt.Sprintf("%s.docker.addressPools: %v", p, strings.ReplaceAll(err.Error(), "\n", "; ")))
			}
		case t.Kubernetes != nil:
			k := t.Kubernetes
			if k.InCluster && (k.Kubeconfig != "" || k.Context != "") {
				errs = append(errs, p+".kubernetes.inCluster: cannot be combined with kubeconfig or context")
			}
			if k.Namespace != "" {
				for _, msg := range validation.IsDNS1123Label(k.Namespace) {
					errs = append(errs, fmt.Sprintf("%s.kubernetes.namespace: %q: %s", p, k.Namespace, msg))
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	if _, ok := c.Targets[DefaultTarget]; !ok {
		c.Targets[DefaultTarget] = Target{Docker: &Docker{}}
	}
	return &c, nil
}

// Names returns the target names, sorted.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Targets))
	for n := range c.Targets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// unknownFields lists the keys the schema does not know, by path.
func unknownFields(raw any) []string {
	var errs []string
	check := func(v any, path string, known ...string) map[string]any {
		m, ok := v.(map[string]any)
		if !ok {
			if v != nil {
				errs = append(errs, fmt.Sprintf("%s: must be a mapping", strings.TrimPrefix(path, ".")))
			}
			return nil
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !slices.Contains(known, k) {
				errs = append(errs, fmt.Sprintf("unknown field %q (known: %s)", strings.TrimPrefix(path+"."+k, "."), strings.Join(known, ", ")))
			}
		}
		return m
	}
	top := check(raw, "", "targets")
	targets, _ := top["targets"].(map[string]any)
	names := make([]string, 0, len(targets))
	for n := range targets {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p := "targets." + n
		t := check(targets[n], p, "docker", "kubernetes")
		d := check(t["docker"], p+".docker", "host", "imageFallback", "addressPools")
		if pools, ok := d["addressPools"].([]any); ok {
			for i, pool := range pools {
				check(pool, fmt.Sprintf("%s.docker.addressPools[%d]", p, i), "base", "size")
			}
		}
		check(t["kubernetes"], p+".kubernetes", "kubeconfig", "context", "namespace", "inCluster")
	}
	return errs
}
