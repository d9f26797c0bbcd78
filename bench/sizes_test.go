package bench_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drctl/drctl/testsuite"
)

// Sample is one restore of BenchmarkRestoreBySize: what bench/plot draws.
type Sample struct {
	MB      int     `json:"mb"`
	Way     string  `json:"way"`
	Seconds float64 `json:"seconds"`
	// PeakMiB is the peak memory of the program that restored: drctl's
	// growth while it restored, or pg_restore's.
	PeakMiB float64 `json:"peak_mib"`
}

// sizeWays are the ways plotted against the database's size: drctl, the
// manual procedure (copy, then one pg_restore) and raw pg_restore -j2 of
// a local file, on loopback and across a link of LinkMBps.
var sizeWays = []string{"ours-sftp", "ours-sftp-slow", "manual-sftp", "manual-sftp-slow", "raw-j"}

// BenchmarkRestoreBySize restores databases of each size in
// DRCTL_BENCH_SIZES_MB (default 1024,2048,4096) each way of sizeWays, once
// a round, and appends a Sample a restore to DRCTL_BENCH_OUT (default
// bench/out/restore-by-size.jsonl), which `go run ./bench/plot` draws.
func BenchmarkRestoreBySize(b *testing.B) {
	sizes := []int{1024, 2048, 4096}
	if v := os.Getenv("DRCTL_BENCH_SIZES_MB"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("DRCTL_BENCH_SIZES_MB: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	out := os.Getenv("DRCTL_BENCH_OUT")
	if out == "" {
		out = filepath.Join(testsuite.Root(), "bench", "out", "restore-by-size.jsonl")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, mb := range sizes {
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) {
			for _, s := range restoreBySize(b, mb, b.N) {
				if err := enc.Encode(s); err != nil {
					b.Fatal(err)
				}
				b.Logf("%d MB %s: %.1f s, peak %.0f MiB", s.MB, s.Way, s.Seconds, s.PeakMiB)
			}
		})
	}
}

// restoreBySize restores a database of mb MB rounds times each way.
func restoreBySize(t testing.TB, mb, rounds int) []Sample {
	rb := newRestoreBench(t, mb)
	rb.warmUp(t)
	var out []Sample
	for i := range rounds {
		dbs := databases(fmt.Sprintf("_%d", i))
		for _, way := range sizeWays {
			testsuite.SQL(t, rb.f.Stg.URL("postgres"), "checkpoint")
			var took time.Duration
			var peak int64
			store := strings.TrimPrefix(strings.TrimPrefix(way, "ours-"), "manual-")
			switch {
			case strings.HasPrefix(way, "ours-"):
				peak = int64(testsuite.PeakRSS(func() { took = rb.ours(t, store, dbs[way]) }))
			case strings.HasPrefix(way, "manual-"):
				took, peak = rb.copyThenRestore(t, store, dbs[way], 1), rb.pgRestoreRSS
			default:
				took, peak = rb.pgRestore(t, dbs[way], rb.jobs, rb.plain), rb.pgRestoreRSS
			}
			testsuite.SQL(t, rb.f.Stg.URL("postgres"), "drop database "+dbs[way]+" with (force)")
			out = append(out, Sample{MB: mb, Way: way, Seconds: took.Seconds(), PeakMiB: float64(peak) / (1 << 20)})
		}
	}
	return out
}

// TestRestoreBySizeTiny keeps a round of 4 MB in the tests so the
// benchmark cannot rot; it asserts nothing about speed.
func TestRestoreBySizeTiny(t *testing.T) {
	for _, s := range restoreBySize(t, 4, 1) {
		if s.Seconds <= 0 || s.PeakMiB <= 0 && s.Way != "ours-sftp" && s.Way != "ours-sftp-slow" {
			t.Errorf("%+v did not run", s)
		}
	}
}
