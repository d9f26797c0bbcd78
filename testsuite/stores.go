package testsuite

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/drctl/drctl/activities/backup"
)

// What the tests and benchmarks of backup stores share: stores, keys,
// data to store, and how much memory storing it took.

// NewContainer makes a container of its own for a test, and names it.
func (az *Azurite) NewContainer(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("backups%d", containerSeq.Add(1))
	az.CreateContainer(t, name)
	return name
}

var containerSeq atomic.Int32

// OpenStore opens a store for the test's length.
func OpenStore(t testing.TB, cfg *backup.StoreConfig) backup.Store {
	t.Helper()
	s, err := backup.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewIdentity is a new key for backups, and its recipient.
func NewIdentity(t testing.TB) (*age.X25519Identity, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id, id.Recipient().String()
}

// Stream is a reproducible pseudo-random stream of n bytes, generated as it
// is read, so a test never holds it in memory.
func Stream(n int64, seed uint64) io.Reader {
	return io.LimitReader(&randReader{r: rand.NewChaCha8([32]byte{byte(seed)})}, n)
}

type randReader struct{ r *rand.ChaCha8 }

func (r *randReader) Read(p []byte) (int, error) { return r.r.Read(p) }

// rss is this process's resident memory, from /proc: it counts what the
// Go heap does not, such as the azblob SDK's memory-mapped upload buffers.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident uint64
	fmt.Sscan(string(b), &size, &resident)
	return resident * uint64(os.Getpagesize())
}

// PeakRSS samples resident memory while f runs and returns the peak growth.
func PeakRSS(f func()) uint64 {
	runtime.GC()
	base := rss()
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if v := rss(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	f()
	close(done)
	<-sampled
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}
