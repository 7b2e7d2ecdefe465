package e2e

import (
	"os/exec"
	"syscall"
)

// dieWithTests makes the kernel kill a started flinkd when the test binary dies (a test
// timeout, Ctrl-C), so that no daemon outlives its test. What it made stays labelled with
// its owner.
func dieWithTests(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
