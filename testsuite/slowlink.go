package testsuite

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Link is a SlowLink: the loopback port it listens on, and what it has
// carried from the server.
type Link struct {
	Port int
	down *pacer
}

// Delivered is how many bytes the link has carried from the server so
// far, over all its connections.
func (l *Link) Delivered() int64 {
	l.down.mu.Lock()
	defer l.down.mu.Unlock()
	return l.down.carried
}

// LinkMBps is the bandwidth, in MB/s, of the links benchmarks put between
// a store and its client: DRCTL_BENCH_LINK_MBPS, 100 by default.
func LinkMBps() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("DRCTL_BENCH_LINK_MBPS"), 64); err == nil && v > 0 {
		return v
	}
	return 100
}

// SlowLink forwards connections from a loopback port to addr, each way at
// most bytesPerSec for all connections together: a real server as seen
// across a network of that bandwidth rather than across loopback.
func SlowLink(t testing.TB, addr string, bytesPerSec float64) *Link {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up, down := newPacer(bytesPerSec), newPacer(bytesPerSec)
	var conns sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		conns.Wait()
	})
	go func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", addr)
			if err != nil {
				client.Close()
				continue
			}
			conns.Add(2)
			go func() { defer conns.Done(); pace(server, client, up) }()
			go func() { defer conns.Done(); pace(client, server, down) }()
		}
	}()
	return &Link{Port: l.Addr().(*net.TCPAddr).Port, down: down}
}

// pace copies src to dst no faster than p allows; when either side ends,
// it closes both, as the servers here never half-close.
func pace(dst, src net.Conn, p *pacer) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.wait(n)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pacer spaces out the bytes of one direction of the link.
type pacer struct {
	mu      sync.Mutex
	rate    float64   // bytes a second
	next    time.Time // when the link is free again
	carried int64     // bytes let through
	now     func() time.Time
	sleep   func(time.Duration)
}

func newPacer(bytesPerSec float64) *pacer {
	return &pacer{rate: bytesPerSec, now: time.Now, sleep: time.Sleep}
}

// slack is how far the link may fall behind its schedule and still catch
// up. A sleep ends late, often by a good part of a millisecond, while a
// piece of 64 KiB at 100 MB/s is due every 0.66 ms: were each piece timed
// from when the one before was let through, one connection would get
// half the rate.
const slack = 10 * time.Millisecond

func (p *pacer) wait(n int) {
	p.mu.Lock()
	now := p.now()
	if earliest := now.Add(-slack); p.next.Before(earliest) {
		p.next = earliest // an idle link saves up no more than slack
	}
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	p.carried += int64(n)
	until := p.next
	p.mu.Unlock()
	if d := until.Sub(now); d > 0 {
		p.sleep(d)
	}
}

// Behind is the server as reached through a SlowLink to it: the same
// server, with a known_hosts file that names it at the link's port.
func (s *SSHServer) Behind(t testing.TB, link *Link) *SSHServer {
	port := link.Port
	t.Helper()
	known := filepath.Join(t.TempDir(), "known_hosts")
	mustWrite(t, known, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(s.HostKey))), 0o644)
	behind := *s
	behind.Port, behind.KnownHosts = port, known
	return &behind
}

// Behind is Azurite as reached through a SlowLink to it.
func (a *Azurite) Behind(link *Link) *Azurite {
	behind := *a
	behind.Addr = fmt.Sprintf("127.0.0.1:%d", link.Port)
	return &behind
}
