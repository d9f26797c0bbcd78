package bench_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/bench"
	"github.com/drctl/drctl/internal/walarchive"
	"github.com/drctl/drctl/testsuite"
)

// pushBench is a backlog of WAL segments for an archiver to catch up on,
// and the stores it archives into.
type pushBench struct {
	segments   string // the segments, to be linked into each way's pg_wal
	names      []string
	mb         int
	recipients []string
	stores     map[string]*backup.StoreConfig
}

func newPushBench(t testing.TB, segments, segmentMB int) *pushBench {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	b := &pushBench{segments: t.TempDir(), mb: segments * segmentMB, recipients: []string{id.Recipient().String()}}
	// A quarter random, the rest repeated: WAL compresses about that much.
	data := make([]byte, segmentMB<<20)
	for i := range segments {
		name := fmt.Sprintf("%024X", 1<<32+i+1)
		rand.Read(data[:len(data)/4])
		for j := len(data) / 4; j < len(data); j += 64 {
			copy(data[j:], name)
		}
		if err := os.WriteFile(filepath.Join(b.segments, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		b.names = append(b.names, name)
	}
	sshd := testsuite.StartSSHD(t)
	az := testsuite.StartAzurite(t)
	az.CreateContainer(t, "archive")
	t.Setenv("DRCTL_BENCH_AZURE", az.ConnectionString())
	b.stores = map[string]*backup.StoreConfig{
		"folder": {Type: "local", Path: t.TempDir(), Recipients: b.recipients},
		"sftp": {Type: "sftp", Host: sshd.Host, Port: sshd.Port, User: sshd.User, Key: secret.Ref("file:" + sshd.KeyFile),
			KnownHosts: sshd.KnownHosts, Path: sshd.Base, Recipients: b.recipients},
		"azure": {Type: "azure", Container: "archive", Connection: "env:DRCTL_BENCH_AZURE", Recipients: b.recipients},
	}
	return b
}

// archive plays Postgres's archiver over a fresh pg_wal holding the whole
// backlog, ready: it calls for the oldest ready file until none is left,
// and each call opens the store as `drctl wal-push` does. It returns how
// long that took and how many times the store was opened.
func (b *pushBench) archive(t testing.TB, store, env string, batch int) (time.Duration, int) {
	ctx := context.Background()
	pgWAL := t.TempDir()
	status := filepath.Join(pgWAL, "archive_status")
	if err := os.Mkdir(status, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range b.names {
		if err := os.Link(filepath.Join(b.segments, name), filepath.Join(pgWAL, name)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(status, name+".ready"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opens := 0
	p := walarchive.Pusher{Env: env, Batch: batch, Open: func(ctx context.Context) (backup.Store, []string, error) {
		opens++
		s, err := backup.Open(ctx, b.stores[store])
		return s, b.recipients, err
	}}
	start := time.Now()
	for _, name := range b.names {
		if err := p.Push(ctx, filepath.Join(pgWAL, name)); err != nil {
			t.Fatalf("%s: archiving %s: %v", store, name, err)
		}
		if err := os.Rename(filepath.Join(status, name+".ready"), filepath.Join(status, name+".done")); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	// Everything is in the archive, and each way's archive is removed
	// so that none writes over what the machine already used.
	s, err := backup.Open(ctx, b.stores[store])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	objects, err := s.List(ctx, env+"/wal/")
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	for _, o := range objects {
		if strings.HasSuffix(o.Key, ".meta.json") {
			records++
		}
		if err := s.Delete(ctx, o.Key); err != nil {
			t.Fatal(err)
		}
	}
	if records != len(b.names) {
		t.Fatalf("%s: %d of %d segments archived", store, records, len(b.names))
	}
	return took, opens
}

// round archives the backlog once in each way, in the random order of a
// map, each into an archive of its own.
func (b *pushBench) round(t testing.TB, suffix string) map[string]time.Duration {
	ways := map[string]int{}
	for store := range b.stores {
		ways[store+"/batch"] = 8
		ways[store+"/one-by-one"] = 0
	}
	out := map[string]time.Duration{}
	for way, batch := range ways {
		store, _, _ := strings.Cut(way, "/")
		env := strings.ReplaceAll(way, "/", "-") + suffix
		took, opens := b.archive(t, store, env, batch)
		if batch > 0 && opens > (len(b.names)+batch)/(batch+1) {
			t.Errorf("%s opened the store %d times for %d segments", way, opens, len(b.names))
		}
		out[way] = took
	}
	return out
}

// BenchmarkWALPush times an archiver catching up on a backlog of WAL
// (DRCTL_BENCH_WAL_SEGMENTS segments of 16 MiB, default 32), as after an
// outage of the store or a burst of writes, into a folder, over SFTP and
// into Azurite: wal-push archiving up to 8 more ready files with each call
// against one file a call, side by side in each round. Each call opens the
// store, as a wal-push process does; starting the process is not counted.
func BenchmarkWALPush(b *testing.B) {
	segments := 32
	if v, err := strconv.Atoi(os.Getenv("DRCTL_BENCH_WAL_SEGMENTS")); err == nil && v > 0 {
		segments = v
	}
	pb := newPushBench(b, segments, 16)
	sum := map[string]time.Duration{}
	ratios := map[string][]float64{}
	for i := range b.N {
		times := pb.round(b, fmt.Sprintf("-%d", i))
		for way, d := range times {
			sum[way] += d
		}
		for store := range pb.stores {
			ratios[store] = append(ratios[store], times[store+"/batch"].Seconds()/times[store+"/one-by-one"].Seconds())
		}
	}
	var lines []string
	for _, store := range slices.Sorted(maps.Keys(pb.stores)) {
		batch, one := sum[store+"/batch"]/time.Duration(b.N), sum[store+"/one-by-one"]/time.Duration(b.N)
		m := bench.Median(ratios[store])
		b.ReportMetric(m, store+"/batch-vs-one-by-one")
		lines = append(lines, fmt.Sprintf("%s: in batches %s (%.0f MB/s), one a call %s (%.0f MB/s): %.2f (median of rounds %.2f)",
			store, batch.Round(time.Millisecond), float64(pb.mb)/batch.Seconds(), one.Round(time.Millisecond), float64(pb.mb)/one.Seconds(),
			batch.Seconds()/one.Seconds(), m))
	}
	b.Logf("archiving %d segments (%d MB): %s", segments, pb.mb, strings.Join(lines, "; "))
}

// TestWALPushBenchmarkTiny keeps a round of the benchmark, 5 segments of
// 1 MiB, in the tests so it cannot rot; nothing is asserted about speed.
func TestWALPushBenchmarkTiny(t *testing.T) {
	b := newPushBench(t, 5, 1)
	for way, d := range b.round(t, "") {
		if d <= 0 {
			t.Errorf("%s did not run", way)
		}
	}
}
