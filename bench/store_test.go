package bench_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/bench"
	"github.com/drctl/drctl/testsuite"
)

// rawStore moves the same bytes with the bare client, no layer of ours: the
// baseline our store layer (age encryption, hashing, atomic commit) is
// measured against.
type rawStore struct {
	put func(key string, r io.Reader) error
	get func(key string) (io.ReadCloser, error)
	del func(key string) error
}

func rawAzure(t testing.TB, az *testsuite.Azurite, container string) rawStore {
	c, err := azblob.NewClientFromConnectionString(az.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	return rawStore{
		put: func(key string, r io.Reader) error {
			_, err := c.UploadStream(ctx, container, "raw/"+key, r, &azblob.UploadStreamOptions{BlockSize: 8 << 20, Concurrency: 4})
			return err
		},
		get: func(key string) (io.ReadCloser, error) {
			resp, err := c.DownloadStream(ctx, container, "raw/"+key, nil)
			return resp.Body, err
		},
		del: func(key string) error {
			_, err := c.DeleteBlob(ctx, container, "raw/"+key, nil)
			return err
		}}
}

// rawSFTP is pkg/sftp's client as it comes, or, given packet, with that
// packet size: our store asks OpenSSH for 255 KiB packets, and this
// baseline shows what of the difference is the packet size alone.
func rawSFTP(t testing.TB, s *testsuite.SSHServer, packet int) rawStore {
	keyPEM, err := os.ReadFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", fmt.Sprintf("%s:%d", s.Host, s.Port), &ssh.ClientConfig{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk})
	if err != nil {
		t.Fatal(err)
	}
	opts := []sftp.ClientOption{sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true), sftp.MaxConcurrentRequestsPerFile(64)}
	if packet > 0 {
		opts = append(opts, sftp.MaxPacketUnchecked(packet))
	}
	c, err := sftp.NewClient(conn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return rawStore{
		put: func(key string, r io.Reader) error {
			f, err := c.Create(path.Join(s.Base, "raw-"+key))
			if err != nil {
				return err
			}
			if _, err := f.ReadFrom(r); err != nil {
				return err
			}
			return f.Close()
		},
		get: func(key string) (io.ReadCloser, error) { return c.Open(path.Join(s.Base, "raw-"+key)) },
		del: func(key string) error { return c.Remove(path.Join(s.Base, "raw-"+key)) }}
}

// result is what a store's run measured: MB/s of the sums over all rounds,
// the median of the rounds' ratios raw/ours (robust to the one round a busy
// machine spoils), and our peak RSS growth.
type result struct {
	oursUp, rawUp, oursDown, rawDown float64
	upRatio, downRatio               float64
	peak                             uint64
	// cpu is the CPU each of ours up, raw up, ours down and raw down used
	// in all rounds, by part of the machine: the server's and the
	// client's share of the cores they have in common.
	cpu [4]testsuite.CPU
}

// throughput moves size bytes up and down through our layer and the raw
// client, rounds times. Who goes first alternates from round to round, so
// neither always pays for the disk's write-back of the other's upload.
func throughput(t testing.TB, s backup.Store, raw rawStore, size int64, rounds int) result {
	t.Helper()
	id, recipient := testsuite.NewIdentity(t)
	var r result
	var sum [4]time.Duration // ours up, raw up, ours down, raw down
	var upRatios, downRatios []float64
	for i := range rounds {
		var d [4]time.Duration
		var e backup.Entry
		oursUp := func() {
			r.peak = max(r.peak, testsuite.PeakRSS(func() {
				start := time.Now()
				var err error
				e, err = backup.Writer{Store: s, Recipients: []string{recipient}}.Write(context.Background(), testsuite.Stream(size, uint64(i)), backup.Entry{
					Key: backup.DataKey("bench", "db", time.Now().Add(time.Duration(i)*time.Second), "dump.age"), Env: "bench", Datastore: "db", StoppedAt: time.Now()}, nil)
				if err != nil {
					t.Fatal(err)
				}
				d[0] = time.Since(start)
			}))
		}
		oursDown := func() {
			r.peak = max(r.peak, testsuite.PeakRSS(func() {
				start := time.Now()
				rd, err := backup.Read(context.Background(), s, e, id.String())
				if err != nil {
					t.Fatal(err)
				}
				if n, _ := io.Copy(io.Discard, rd); n != size {
					t.Fatalf("read %d of %d bytes", n, size)
				}
				if err := rd.Close(); err != nil {
					t.Fatal(err)
				}
				d[2] = time.Since(start)
			}))
		}
		key := strconv.Itoa(i)
		rawUp := func() {
			start := time.Now()
			if err := raw.put(key, testsuite.Stream(size, uint64(i))); err != nil {
				t.Fatal(err)
			}
			d[1] = time.Since(start)
		}
		rawDown := func() {
			start := time.Now()
			rc, err := raw.get(key)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := io.Copy(io.Discard, rc); n != size {
				t.Fatalf("raw read %d of %d bytes", n, size)
			}
			rc.Close()
			d[3] = time.Since(start)
		}
		steps := [4]func(){oursUp, rawUp, oursDown, rawDown} // as d
		order := []int{0, 1, 2, 3}
		if i%2 == 1 {
			order = []int{1, 0, 3, 2}
		}
		for _, k := range order {
			before := testsuite.ReadCPU(t)
			steps[k]()
			r.cpu[k] = r.cpu[k].Add(testsuite.ReadCPU(t).Since(before))
		}
		// Both objects go at the end of the round, so that each round's
		// uploads write into memory the server's page cache used before.
		// Left in place, ours (a new name each round) would take memory
		// the machine never touched, which costs a virtual machine more
		// CPU, while raw (the same names in every row) overwrote its own.
		if err := s.Delete(context.Background(), e.Key); err != nil {
			t.Fatal(err)
		}
		if err := raw.del(key); err != nil {
			t.Fatal(err)
		}
		for k := range d {
			sum[k] += d[k]
		}
		upRatios = append(upRatios, d[0].Seconds()/d[1].Seconds())
		downRatios = append(downRatios, d[2].Seconds()/d[3].Seconds())
	}
	mbps := func(d time.Duration) float64 { return float64(size*int64(rounds)) / 1e6 / d.Seconds() }
	r.oursUp, r.rawUp, r.oursDown, r.rawDown = mbps(sum[0]), mbps(sum[1]), mbps(sum[2]), mbps(sum[3])
	r.upRatio, r.downRatio = bench.Median(upRatios), bench.Median(downRatios)
	return r
}

// storeCase is one row of the benchmark: a store of ours and the raw
// client it is compared with.
type storeCase struct {
	name  string
	store backup.Store
	raw   rawStore
	link  *testsuite.Link // what the row's bytes cross, if not loopback
}

// storeCases starts Azurite and an SFTP server and returns the rows.
func storeCases(t testing.TB) []storeCase {
	sshd := testsuite.StartSSHD(t)
	az := testsuite.StartAzurite(t)
	container := az.NewContainer(t)
	// The same Azurite across a link of LinkMBps, as a worker reaches a
	// cloud store: on loopback both sides share the CPU with the server,
	// across a network the bandwidth is the limit.
	link := testsuite.SlowLink(t, az.Addr, testsuite.LinkMBps()*1e6)
	linked := az.Behind(link)
	t.Setenv("DRCTL_BENCH_AZURE", az.ConnectionString())
	t.Setenv("DRCTL_BENCH_AZURE_LINKED", linked.ConnectionString())
	sftpCfg := &backup.StoreConfig{Type: "sftp", Host: sshd.Host, Port: sshd.Port, User: sshd.User, Key: secret.Ref("file:" + sshd.KeyFile),
		KnownHosts: sshd.KnownHosts, Path: sshd.Base}
	azureCfg := func(concurrency int, connection secret.Ref) *backup.StoreConfig {
		return &backup.StoreConfig{Type: "azure", Container: container, Connection: connection, Concurrency: concurrency}
	}
	return []storeCase{
		{"azure", testsuite.OpenStore(t, azureCfg(0, "env:DRCTL_BENCH_AZURE")), rawAzure(t, az, container), nil},
		{"azure-one-stream", testsuite.OpenStore(t, azureCfg(1, "env:DRCTL_BENCH_AZURE")), rawAzure(t, az, container), nil},
		{"azure-across-link", testsuite.OpenStore(t, azureCfg(0, "env:DRCTL_BENCH_AZURE_LINKED")), rawAzure(t, linked, container), link},
		{"sftp", testsuite.OpenStore(t, sftpCfg), rawSFTP(t, sshd, 0), nil},
		{"sftp-raw-255k-packets", testsuite.OpenStore(t, sftpCfg), rawSFTP(t, sshd, 255<<10), nil},
	}
}

// BenchmarkStoreThroughput moves 500 MB (DRCTL_BENCH_MB to change) up and
// down through Azurite and SFTP, our layer and the raw client side by side,
// and reports the throughput ratios (target: ours within 1.10 of raw) and
// our peak RSS growth. One row reaches Azurite across a link of
// DRCTL_BENCH_LINK_MBPS (100 MB/s by default) instead of loopback. Run
// with `make bench`; one row with -bench=StoreThroughput/sftp.
func BenchmarkStoreThroughput(b *testing.B) {
	mb := 500
	if v := os.Getenv("DRCTL_BENCH_MB"); v != "" {
		mb, _ = strconv.Atoi(v)
	}
	for _, c := range storeCases(b) {
		b.Run(c.name, func(b *testing.B) {
			r := throughput(b, c.store, c.raw, int64(mb)<<20, b.N)
			b.ReportMetric(r.upRatio, "upload-ratio")
			b.ReportMetric(r.downRatio, "download-ratio")
			b.Logf("%d MB x%d: upload ours %.1f MB/s, raw %.1f MB/s (time ratio %.3f, median of rounds %.3f); download ours %.1f MB/s, raw %.1f MB/s (time ratio %.3f, median %.3f); peak RSS +%d MiB",
				mb, b.N, r.oursUp, r.rawUp, r.rawUp/r.oursUp, r.upRatio, r.oursDown, r.rawDown, r.rawDown/r.oursDown, r.downRatio, r.peak>>20)
			b.Logf("a round's %s: upload ours %s; raw %s; download ours %s; raw %s", c.name, r.cpu[0].Div(b.N), r.cpu[1].Div(b.N), r.cpu[2].Div(b.N), r.cpu[3].Div(b.N))
		})
	}
}

// TestStoreThroughputTiny keeps a 1 MB run of the benchmark in the tests so
// it cannot rot; it asserts nothing about speed.
func TestStoreThroughputTiny(t *testing.T) {
	for _, c := range storeCases(t) {
		r := throughput(t, c.store, c.raw, 1<<20, 1)
		if r.oursUp <= 0 || r.rawUp <= 0 || r.oursDown <= 0 || r.rawDown <= 0 {
			t.Errorf("%s: %+v", c.name, r)
		}
		// Both downloads of the row crossed its link, not loopback.
		if c.link != nil && c.link.Delivered() < 2<<20 {
			t.Errorf("%s: its link carried %d bytes from Azurite, less than the two downloads", c.name, c.link.Delivered())
		}
	}
}
