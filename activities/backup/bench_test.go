package backup_test

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
	"github.com/drctl/drctl/testsuite"
)

// rawStore moves the same bytes with the bare client, no layer of ours: the
// baseline our store layer (age encryption, hashing, atomic commit) is
// measured against.
type rawStore struct {
	put func(key string, r io.Reader) error
	get func(key string) (io.ReadCloser, error)
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
		get: func(key string) (io.ReadCloser, error) { return c.Open(path.Join(s.Base, "raw-"+key)) }}
}

// throughput moves size bytes up and down through our layer and the raw
// client, alternately, rounds times, and returns MB/s of each plus our peak
// RSS growth.
type result struct {
	oursUp, rawUp, oursDown, rawDown float64
	peak                             uint64
}

func throughput(t testing.TB, s backup.Store, raw rawStore, size int64, rounds int) result {
	t.Helper()
	id, recipient := newIdentity(t)
	var r result
	var oursUp, rawUp, oursDown, rawDown time.Duration
	for i := range rounds {
		var e backup.Entry
		r.peak = max(r.peak, peakRSS(func() {
			start := time.Now()
			var err error
			e, err = backup.Writer{Store: s, Recipients: []string{recipient}}.Write(context.Background(), stream(size, uint64(i)), backup.Entry{
				Key: backup.DataKey("bench", "db", time.Now().Add(time.Duration(i)*time.Second), "dump.age"), Env: "bench", Datastore: "db", StoppedAt: time.Now()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			oursUp += time.Since(start)
			start = time.Now()
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
			oursDown += time.Since(start)
		}))
		start := time.Now()
		key := strconv.Itoa(i)
		if err := raw.put(key, stream(size, uint64(i))); err != nil {
			t.Fatal(err)
		}
		rawUp += time.Since(start)
		start = time.Now()
		rc, err := raw.get(key)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := io.Copy(io.Discard, rc); n != size {
			t.Fatalf("raw read %d of %d bytes", n, size)
		}
		rc.Close()
		rawDown += time.Since(start)
	}
	mbps := func(d time.Duration) float64 { return float64(size*int64(rounds)) / 1e6 / d.Seconds() }
	r.oursUp, r.rawUp, r.oursDown, r.rawDown = mbps(oursUp), mbps(rawUp), mbps(oursDown), mbps(rawDown)
	return r
}

func benchStores(t testing.TB, size int64, rounds int) map[string]result {
	sshd := testsuite.StartSSHD(t)
	az := testsuite.StartAzurite(t)
	container := createContainer(t, az)
	t.Setenv("DRCTL_BENCH_AZURE", az.ConnectionString())
	out := map[string]result{}
	sftpCfg := &backup.StoreConfig{Type: "sftp", Host: sshd.Host, Port: sshd.Port, User: sshd.User, Key: secret.Ref("file:" + sshd.KeyFile),
		KnownHosts: sshd.KnownHosts, Path: sshd.Base}
	azureCfg := func(concurrency int) *backup.StoreConfig {
		return &backup.StoreConfig{Type: "azure", Container: container, Connection: "env:DRCTL_BENCH_AZURE", Concurrency: concurrency}
	}
	for _, c := range []struct {
		name string
		cfg  *backup.StoreConfig
		raw  rawStore
	}{
		{"azure", azureCfg(0), rawAzure(t, az, container)},
		{"azure-one-stream", azureCfg(1), rawAzure(t, az, container)},
		{"sftp", sftpCfg, rawSFTP(t, sshd, 0)},
		{"sftp-raw-255k-packets", sftpCfg, rawSFTP(t, sshd, 255<<10)},
	} {
		out[c.name] = throughput(t, open(t, c.cfg), c.raw, size, rounds)
	}
	return out
}

// BenchmarkStoreThroughput moves 500 MB (DRCTL_BENCH_MB to change) up and
// down through Azurite and SFTP, our layer and the raw client side by side,
// and reports the throughput ratios (target: ours within 1.10 of raw) and
// our peak RSS growth. Run with `make bench`.
func BenchmarkStoreThroughput(b *testing.B) {
	mb := 500
	if v := os.Getenv("DRCTL_BENCH_MB"); v != "" {
		mb, _ = strconv.Atoi(v)
	}
	for name, r := range benchStores(b, int64(mb)<<20, b.N) {
		b.ReportMetric(r.rawUp/r.oursUp, name+"-upload-ratio")
		b.ReportMetric(r.rawDown/r.oursDown, name+"-download-ratio")
		b.Logf("%-5s %d MB x%d: upload ours %.1f MB/s, raw %.1f MB/s (ratio %.3f); download ours %.1f MB/s, raw %.1f MB/s (ratio %.3f); peak RSS +%d MiB",
			name, mb, b.N, r.oursUp, r.rawUp, r.rawUp/r.oursUp, r.oursDown, r.rawDown, r.rawDown/r.oursDown, r.peak>>20)
	}
}

// TestStoreThroughputTiny keeps a 1 MB run of the benchmark in the tests so
// it cannot rot; it asserts nothing about speed.
func TestStoreThroughputTiny(t *testing.T) {
	for name, r := range benchStores(t, 1<<20, 1) {
		if r.oursUp <= 0 || r.rawUp <= 0 || r.oursDown <= 0 || r.rawDown <= 0 {
			t.Errorf("%s: %+v", name, r)
		}
	}
}
