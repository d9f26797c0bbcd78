package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
)

// TestSegmentNames checks the names prefetch counts forward in against
// Postgres's numbering: the low part wraps at 4 GiB of WAL, which is 256
// segments of 16 MiB, 4096 of 1 MiB, 4 of 1 GiB.
func TestSegmentNames(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name    string
		n, size uint64
		want    string
	}{
		{"000000010000000000000003", 1, 16 * mib, "000000010000000000000004"},
		{"0000000100000000000000FE", 2, 16 * mib, "000000010000000100000000"},
		{"0000000300000A1F000000FF", 1, 16 * mib, "0000000300000A2000000000"},
		{"000000010000000000000FFF", 1, mib, "000000010000000100000000"},
		{"000000010000000000000003", 1, 1024 * mib, "000000010000000100000000"},
		{"000000010000000000000002", 1, 1024 * mib, "000000010000000000000003"},
		{"00000002.history", 1, 16 * mib, ""},
		{"000000010000000000000003.partial", 1, 16 * mib, ""},
		{"000000010000000000000003.00000028.backup", 1, 16 * mib, ""},
		{"00000001000000000000000g", 1, 16 * mib, ""},
		{"00000001000000000000000a", 1, 16 * mib, ""},
	} {
		if got := postgres.SegmentAfter(c.name, c.n, c.size); got != c.want {
			t.Errorf("%d after %s (%d MiB segments) = %q, want %q", c.n, c.name, c.size/mib, got, c.want)
		}
	}
}

// TestFetchWALPrefetches archives five 1 MiB segments across a wrap of the
// low part and fetches them as recovery does, one name at a time: the
// first call brings the next two into the spool, the calls for those are
// answered from it (their objects are gone from the store by then), and
// what the spool does not hold comes from the store, with its error when
// it is damaged or the end of the archive when it is not there.
func TestFetchWALPrefetches(t *testing.T) {
	ctx := context.Background()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	storeDir := t.TempDir()
	s, err := backup.Open(ctx, &backup.StoreConfig{Type: "local", Path: storeDir})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"000000010000000000000FFE", "000000010000000000000FFF", "000000010000000100000000",
		"000000010000000100000001", "000000010000000100000002"}
	segment := func(name string) []byte { return bytes.Repeat([]byte(name[16:]), (1<<20)/8) }
	src := t.TempDir()
	for _, name := range names {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, segment(name), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := postgres.PushWAL(ctx, s, []string{id.Recipient().String()}, "production", p); err != nil {
			t.Fatal(err)
		}
	}
	object := func(name string) string { return filepath.Join(storeDir, "production", "wal", name+".age") }
	pgWAL := t.TempDir()
	spool := filepath.Join(pgWAL, ".drctl-prefetch")
	dest := filepath.Join(pgWAL, "RECOVERYXLOG")
	fetch := func(name string) error {
		os.Remove(dest)
		return postgres.FetchWAL(ctx, s, id.String(), "production", name, dest, 2)
	}
	restored := func(name string) {
		t.Helper()
		if err := fetch(name); err != nil {
			t.Fatalf("fetching %s: %v", name, err)
		}
		if got, err := os.ReadFile(dest); err != nil || !bytes.Equal(got, segment(name)) {
			t.Fatalf("%s restored as %d bytes (%v), not the archived segment", name, len(got), err)
		}
	}
	spooled := func(want ...string) {
		t.Helper()
		entries, _ := os.ReadDir(spool)
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		if !slices.Equal(got, want) {
			t.Fatalf("the spool holds %v, want %v", got, want)
		}
	}

	restored(names[0])
	spooled(names[1], names[2])
	for _, name := range names[1:3] {
		if err := s.Delete(ctx, "production/wal/"+name+".age"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "production/wal/"+name+".age.meta.json"); err != nil {
			t.Fatal(err)
		}
	}
	restored(names[1])
	spooled(names[2])
	restored(names[2])
	spooled()
	// Damaged in the store before it is prefetched: the prefetch fails
	// quietly and recovery's own call tells why, naming the object.
	if err := os.Truncate(object(names[4]), 100); err != nil {
		t.Fatal(err)
	}
	restored(names[3])
	spooled()
	if err := fetch(names[4]); err == nil || !strings.Contains(err.Error(), names[4]) {
		t.Fatalf("a truncated segment fetched with error %v", err)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Fatal("a truncated segment was handed to recovery")
	}
	if err := fetch("000000010000000100000003"); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("past the end of the archive: %v, want not found", err)
	}

	// A segment of another timeline is never answered from the spool, and
	// history files are fetched one at a time.
	for _, name := range names[1:3] {
		if err := postgres.PushWAL(ctx, s, []string{id.Recipient().String()}, "production", filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	restored(names[0])
	spooled(names[1], names[2])
	if err := fetch("000000020000000000000FFF"); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("a segment of timeline 2: %v, want not found", err)
	}
	spooled()
	if err := fetch("00000002.history"); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("a history file: %v, want not found", err)
	}
	if _, err := os.Stat(spool); err == nil {
		t.Fatal("a history file's fetch made a spool")
	}

	// The spool never holds more than its cap, however far ahead asked.
	postgres.SetPrefetchBytes(t, 1<<20)
	restored(names[0])
	spooled(names[1])
	postgres.SetPrefetchBytes(t, 1<<20-1)
	restored(names[0])
	spooled()
}
