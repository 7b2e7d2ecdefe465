// Command flinkctl inspects and controls the Flink session clusters that flinkd runs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/flinkd/flinkd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}
