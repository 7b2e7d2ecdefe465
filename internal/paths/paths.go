// Package paths holds flinkd's per-user default locations, shared by flinkd and flinkctl.
package paths

import (
	"os"
	"path/filepath"
)

// SocketEnv overrides the socket path for both programs.
const SocketEnv = "FLINKD_SOCKET"

// Socket returns the API socket path: $FLINKD_SOCKET, else $XDG_RUNTIME_DIR/flinkd.sock, else
// flinkd.sock in the per-user state folder (see Data).
func Socket() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "flinkd.sock")
	}
	return filepath.Join(Data(), "flinkd.sock")
}

// Data returns the per-user data folder: $XDG_STATE_HOME/flinkd, else ~/.local/state/flinkd
// (or ./.flinkd when there is no home folder).
func Data() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "flinkd")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ".flinkd"
	}
	return filepath.Join(home, ".local", "state", "flinkd")
}
