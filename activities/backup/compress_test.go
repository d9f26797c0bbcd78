package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/testsuite"
)

// rows is a compressible stream of n bytes, like a dump's COPY data.
func rows(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d\tuser%d@example.org\t2026-11-%02d 10:%02d:00+00\n", i, i*7, i%28+1, i%60)
	}
	return b.Bytes()[:n]
}

func writeCompressed(t *testing.T, s backup.Store, recipient, compression string, body []byte) (backup.Entry, error) {
	t.Helper()
	stopped := time.Now()
	return backup.Writer{Store: s, Recipients: []string{recipient}}.Write(context.Background(), bytes.NewReader(body), backup.Entry{
		Key: backup.DataKey("production", "register", stopped, "dump.zst.age"), Env: "production", Datastore: "register",
		Date: stopped.UTC().Format(time.DateOnly), Format: "pg_dump-custom", Compression: compression, StoppedAt: stopped}, nil)
}

// TestCompressedRoundTrip: a backup compressed with zstd is stored smaller
// than its plain bytes, records how many there were, and reads back as
// them; a damaged one fails naming the object.
func TestCompressedRoundTrip(t *testing.T) {
	id, recipient := testsuite.NewIdentity(t)
	s := testsuite.OpenStore(t, &backup.StoreConfig{Type: "local", Path: t.TempDir()})
	body := rows(20 << 20)
	e, err := writeCompressed(t, s, recipient, backup.Zstd, body)
	if err != nil {
		t.Fatal(err)
	}
	if e.Compression != backup.Zstd || e.PlainSize != int64(len(body)) || e.Size > e.PlainSize/3 {
		t.Fatalf("record of a compressed backup: compression %q, %d plain bytes of %d, stored in %d", e.Compression, e.PlainSize, len(body), e.Size)
	}
	listed, err := backup.Entries(context.Background(), s, "production/")
	if err != nil || len(listed) != 1 || listed[0].Compression != backup.Zstd || listed[0].PlainSize != e.PlainSize {
		t.Fatalf("listed: %+v, %v", listed, err)
	}
	r, err := backup.Read(context.Background(), s, listed[0], id.String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(body))
	}

	stored := readAll(t, s, e.Key)
	stored[len(stored)/2] ^= 0x01
	if _, err := s.Put(context.Background(), e.Key, bytes.NewReader(stored)); err != nil {
		t.Fatal(err)
	}
	if err := readFully(s, e, id.String()); err == nil || !strings.Contains(err.Error(), e.Key) {
		t.Errorf("flipped byte in a compressed backup: %v", err)
	}

	// A restore that gives up half-way leaves no goroutine behind: not
	// Abandon's, which closes in the background, nor any a download or
	// decoder started.
	plain := body[:len(body)/2]
	e2, err := writeCompressed(t, s, recipient, backup.Zstd, plain)
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	r, err = backup.Read(context.Background(), s, e2, id.String())
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, plain[:len(head)]) {
		t.Fatalf("first MiB: %v", err)
	}
	r.Abandon()
	r.Abandon()
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines still run after Abandon, %d before the read", runtime.NumGoroutine(), before)
		}
	}
}

// TestUnknownCompression: a compression this drctl does not know is
// refused on write, and a record naming one (from a newer drctl) is
// refused on read, before anything is downloaded.
func TestUnknownCompression(t *testing.T) {
	id, recipient := testsuite.NewIdentity(t)
	s := testsuite.OpenStore(t, &backup.StoreConfig{Type: "local", Path: t.TempDir()})
	if _, err := writeCompressed(t, s, recipient, "lz5", rows(1000)); err == nil || !strings.Contains(err.Error(), `compression "lz5"`) {
		t.Fatalf("writing with compression lz5: %v", err)
	}
	if entries, _ := backup.Entries(context.Background(), s, "production/"); len(entries) != 0 {
		t.Fatalf("a refused write left %d backups", len(entries))
	}
	e, err := writeCompressed(t, s, recipient, "", rows(1000))
	if err != nil {
		t.Fatal(err)
	}
	e.Compression = "lz5"
	if _, err := backup.Read(context.Background(), s, e, id.String()); err == nil || !strings.Contains(err.Error(), `compression "lz5"`) || !strings.Contains(err.Error(), e.Key) {
		t.Fatalf("reading a record with compression lz5: %v", err)
	}
}
