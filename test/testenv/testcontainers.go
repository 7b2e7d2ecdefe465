package testenv

import (
	"fmt"
	"net/url"
	"os"

	"github.com/docker/docker/client"
)

// Testcontainers prepares testcontainers-go to use the engine every other test of this
// project uses, and to reach its published ports where they are. It is the one place that
// does so; call it from TestMain before the first container is started.
//
// Why: testcontainers guesses on its own. It reads DOCKER_HOST, ~/.testcontainers.properties
// and the docker CLI's contexts to pick an engine, and for a local unix socket it decides
// where published ports are reached from the file /.dockerenv: when that file exists it
// assumes it runs inside a container and dials the default gateway (192.0.2.1 on one CI
// machine, where nothing listens), so every wait strategy times out although the container
// answers on 127.0.0.1. This project's machines may or may not have /.dockerenv. So:
//
//   - DOCKER_HOST is set to the engine the Docker client resolves from the environment (the
//     same client.FromEnv the runtime and testenv.Connect use), so both always agree;
//   - for a unix socket the engine publishes ports on this host, so TESTCONTAINERS_HOST_OVERRIDE
//     is 127.0.0.1: an address, not "localhost", whose resolution (IPv4 or IPv6 first)
//     differs between machines; for a TCP engine it is the engine's host name;
//   - Ryuk, testcontainers' reaper, is an image that must be pulled, which these machines
//     cannot do: it is off, and tests remove what they create themselves.
//
// A value the caller's environment already sets is kept (a developer's deliberate choice).
// It returns what it chose, for the test log.
func Testcontainers() (string, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv)
	if err != nil {
		return "", fmt.Errorf("docker client: %w", err)
	}
	daemon := cli.DaemonHost()
	_ = cli.Close()
	u, err := url.Parse(daemon)
	if err != nil {
		return "", fmt.Errorf("parse the engine address %q: %w", daemon, err)
	}
	var published string
	switch u.Scheme {
	case "unix", "npipe":
		published = "127.0.0.1"
	case "tcp", "http", "https":
		published = u.Hostname()
	default:
		return "", fmt.Errorf("engine address %q: unknown scheme %q", daemon, u.Scheme)
	}
	for _, kv := range []struct{ key, value string }{
		{"DOCKER_HOST", daemon},
		{"TESTCONTAINERS_HOST_OVERRIDE", published},
		{"TESTCONTAINERS_RYUK_DISABLED", "true"},
	} {
		if _, set := os.LookupEnv(kv.key); set {
			continue
		}
		if err := os.Setenv(kv.key, kv.value); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("engine %s, published ports reached on %s", os.Getenv("DOCKER_HOST"), os.Getenv("TESTCONTAINERS_HOST_OVERRIDE")), nil
}
