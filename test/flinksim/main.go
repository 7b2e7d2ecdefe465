// Command flink-sim is the entrypoint of the localhost/flink-sim image, a stand-in for the
// official Flink image in tests (see package sim). Build it with hack/sim-image.sh.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/flinkd/flinkd/test/flinksim/sim"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	e := &sim.Entrypoint{
		Args:    os.Args[1:],
		Env:     os.Environ(),
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Signals: sigs,
		// gosu flink: supplementary groups cleared, then gid and uid 9999 (Go applies
		// setuid to every thread of the process).
		DropPrivileges: func() error {
			if err := syscall.Setgroups([]int{9999}); err != nil {
				return err
			}
			if err := syscall.Setgid(9999); err != nil {
				return err
			}
			return syscall.Setuid(9999)
		},
	}
	os.Exit(e.Run(context.Background()))
}
