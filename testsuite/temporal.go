package testsuite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TemporalInstall is how scripts/test installs the temporal CLI, whose dev
// server is a Temporal cluster of its own process, as teams run one.
const TemporalInstall = "go install github.com/temporalio/cli/cmd/temporal@v1.5.1"

// Temporal is a Temporal dev server started as its own process.
type Temporal struct {
	*Proc
	Address string
}

// StartTemporal starts the temporal CLI's dev server on a free loopback
// port with its state in a temporary file, and no Web UI.
func StartTemporal(t testing.TB) *Temporal {
	t.Helper()
	bin := Need(t, "temporal", TemporalInstall, filepath.Join(GoBin(), "temporal"))
	port := FreePort(t)
	p := Command(t, bin, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", fmt.Sprint(port),
		"--http-port", fmt.Sprint(FreePort(t)), "--metrics-port", fmt.Sprint(FreePort(t)),
		"--db-filename", filepath.Join(t.TempDir(), "temporal.db"), "--log-level", "error")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	WaitPort(t, addr, 60*time.Second, p.Output)
	return &Temporal{Proc: p, Address: addr}
}
