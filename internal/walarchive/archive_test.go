package walarchive_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/internal/walarchive"
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
		if got := walarchive.SegmentAfter(c.name, c.n, c.size); got != c.want {
			t.Errorf("%d after %s (%d MiB segments) = %q, want %q", c.n, c.name, c.size/mib, got, c.want)
		}
	}
}

// TestFetchWALPrefetches archives five 1 MiB segments across a wrap of the
// low part and fetches them as recovery does, one name at a time, with a
// background fetch that reads a second copy of the archive: a call for a
// segment the background fetched is answered from the spool without
// opening the store (whose copy has lost it), a call for one in flight
// waits for it, a call for any other does not, and what the spool does
// not hold comes from the store, with its error when it is damaged or the
// end of the archive when it is not there; a segment asked for again, as
// at recovery's end, fetches nothing ahead.
func TestFetchWALPrefetches(t *testing.T) {
	ctx := context.Background()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"000000010000000000000FFE", "000000010000000000000FFF", "000000010000000100000000",
		"000000010000000100000001", "000000010000000100000002"}
	segment := func(name string) []byte { return bytes.Repeat([]byte(name[16:]), (1<<20)/8) }
	src := t.TempDir()
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(src, name), segment(name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	archive := func() (string, backup.Store) {
		dir := t.TempDir()
		s, err := backup.Open(ctx, &backup.StoreConfig{Type: "local", Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		return dir, s
	}
	push := func(s backup.Store, names ...string) {
		t.Helper()
		for _, name := range names {
			if err := walarchive.PushSegment(ctx, s, []string{id.Recipient().String()}, "production", filepath.Join(src, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	unarchive := func(s backup.Store, names ...string) {
		t.Helper()
		for _, name := range names {
			for _, key := range []string{"production/wal/" + name + ".age", "production/wal/" + name + ".age.meta.json"} {
				if err := s.Delete(ctx, key); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	fgDir, fg := archive()
	bgDir, bg := archive()
	push(fg, names...)
	push(bg, names...)

	// The background fetch runs in a goroutine, held back while gate is
	// open.
	var inFlight sync.WaitGroup
	gate := make(chan struct{})
	close(gate)
	opens := 0
	f := walarchive.Fetcher{
		Env:   "production",
		Ahead: 2,
		Open: func(context.Context) (backup.Store, string, error) {
			opens++
			return fg, id.String(), nil
		},
		Background: func(lock *os.File, spool string, names []string) error {
			g := gate
			inFlight.Go(func() {
				defer lock.Close()
				<-g
				walarchive.Prefetch(ctx, bg, id.String(), "production", spool, names)
			})
			return nil
		},
	}
	// Each recovery has a pg_wal of its own.
	var spool, dest string
	newRecovery := func() {
		pgWAL := t.TempDir()
		spool, dest = filepath.Join(pgWAL, ".drctl-prefetch"), filepath.Join(pgWAL, "RECOVERYXLOG")
	}
	newRecovery()
	fetch := func(name string) error {
		os.Remove(dest)
		return f.Fetch(ctx, name, dest)
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
		inFlight.Wait()
		entries, _ := os.ReadDir(spool)
		var got []string
		for _, e := range entries {
			if e.Name() != ".lock" && e.Name() != ".last" {
				got = append(got, e.Name())
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("the spool holds %v, want %v", got, want)
		}
	}

	restored(names[0])
	spooled(names[1], names[2])
	unarchive(fg, names[1:4]...)
	restored(names[1])
	spooled(names[2], names[3])
	restored(names[2])
	spooled(names[3], names[4])
	restored(names[3])
	spooled(names[4])
	if opens != 1 {
		t.Fatalf("the store was opened %d times; only the first call needed it", opens)
	}

	// In flight: the call for a segment it fetches waits for it (the
	// store's copy has lost it); a call for another segment does not.
	gate = make(chan struct{})
	newRecovery()
	restored(names[0])
	fetched := make(chan error, 1)
	go func() {
		if err := fetch("000000020000000000000FFF"); !errors.Is(err, backup.ErrNotFound) {
			fetched <- fmt.Errorf("a segment of timeline 2 while another fetch is in flight: %v, want not found", err)
		} else {
			fetched <- nil
		}
	}()
	select {
	case err := <-fetched:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a segment the fetch in flight does not fetch waited on it")
	}
	// A fetch in flight that is stuck is waited on only so long.
	walarchive.SetSpoolWait(t, 20*time.Millisecond)
	if err := fetch(names[1]); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("%s while the fetch in flight is stuck: %v, want the store's own answer", names[1], err)
	}
	walarchive.SetSpoolWait(t, time.Hour)
	waited := false
	walarchive.OnSpoolWait(t, func() {
		if !waited {
			waited = true
			close(gate)
		}
	})
	restored(names[1])
	if !waited {
		t.Fatal("the call for a segment in flight did not wait for it")
	}
	inFlight.Wait()

	// Damaged in the store before it is fetched ahead: the background
	// fails quietly and recovery's own call tells why, naming the object.
	push(fg, names[1:4]...)
	for _, dir := range []string{fgDir, bgDir} {
		if err := os.Truncate(filepath.Join(dir, "production", "wal", names[4]+".age"), 100); err != nil {
			t.Fatal(err)
		}
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

	// The spool never holds more than its cap, however far ahead asked.
	walarchive.SetPrefetchBytes(t, 1<<20)
	newRecovery()
	restored(names[0])
	spooled(names[1])
	// Asked again for a segment it had, as at its end, recovery will ask
	// for no more: nothing is fetched ahead, and the spool is emptied.
	restored(names[0])
	spooled()
	walarchive.SetPrefetchBytes(t, 1<<20-1)
	newRecovery()
	restored(names[0])
	spooled()

	// History files are fetched one at a time, without a spool.
	dest = filepath.Join(t.TempDir(), "RECOVERYHISTORY")
	if err := fetch("00000002.history"); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("a history file: %v, want not found", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dest), ".drctl-prefetch")); err == nil {
		t.Fatal("a history file's fetch made a spool")
	}
}

// TestPushWALTwice: archiving a segment again succeeds when it is the same
// segment, and fails, overwriting nothing, when another of that name is
// archived already; a segment archived without a checksum (by an older
// drctl) is taken as archived.
func TestPushWALTwice(t *testing.T) {
	ctx := context.Background()
	id, recipients, s := folderArchive(t)
	const name = "000000010000000000000003"
	file := filepath.Join(t.TempDir(), name)
	ours := bytes.Repeat([]byte("ours"), 1<<18)
	if err := os.WriteFile(file, ours, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := walarchive.PushSegment(ctx, s, recipients, "production", file); err != nil {
			t.Fatalf("archiving %s: %v", name, err)
		}
	}
	theirs := bytes.Repeat([]byte("hers"), 1<<18)
	if err := os.WriteFile(file, theirs, 0o600); err != nil {
		t.Fatal(err)
	}
	err := walarchive.PushSegment(ctx, s, recipients, "production", file)
	if err == nil || !strings.Contains(err.Error(), "different "+name) || !strings.Contains(err.Error(), "another cluster") {
		t.Fatalf("archiving another %s: %v", name, err)
	}
	fetch := walarchive.Fetcher{Env: "production", Open: func(context.Context) (backup.Store, string, error) { return s, id.String(), nil }}
	got := filepath.Join(t.TempDir(), name)
	if err := fetch.Fetch(ctx, name, got); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, ours) {
		t.Fatalf("the archive's %s was overwritten", name)
	}
	// Recorded before checksums were kept: nothing to compare, so taken.
	old := "000000010000000000000004"
	if _, err := (backup.Writer{Store: s, Recipients: recipients}).Write(ctx, bytes.NewReader(ours), backup.Entry{
		Key: "production/wal/" + old + ".age", Env: "production", Datastore: "wal", Format: "wal"}, nil); err != nil {
		t.Fatal(err)
	}
	oldFile := filepath.Join(filepath.Dir(file), old)
	if err := os.WriteFile(oldFile, theirs, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := walarchive.PushSegment(ctx, s, recipients, "production", oldFile); err != nil {
		t.Fatalf("archiving %s, recorded without a checksum: %v", old, err)
	}
}

// A rebuilt instance starts its WAL at the names the lost one used: each
// cluster archives under its own system identifier, beside the other, and
// recovery fetches its own cluster's segment, or one of the flat archive
// older drctl kept.
func TestClustersArchiveApart(t *testing.T) {
	ctx := context.Background()
	id, recipients, s := folderArchive(t)
	const name = "000000010000000000000001"
	cluster := func(sysid uint64, contents string) string {
		data := t.TempDir()
		for _, d := range []string{"global", "pg_wal"} {
			if err := os.MkdirAll(filepath.Join(data, d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		control := make([]byte, 64)
		binary.LittleEndian.PutUint64(control, sysid)
		if err := os.WriteFile(filepath.Join(data, "global", "pg_control"), control, 0o600); err != nil {
			t.Fatal(err)
		}
		if contents != "" {
			if err := os.WriteFile(filepath.Join(data, "pg_wal", name), bytes.Repeat([]byte(contents), 1<<16), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return data
	}
	lost, rebuilt := cluster(7001, "lost"), cluster(7002, "rebuilt")
	for _, data := range []string{lost, rebuilt} {
		if err := walarchive.PushSegment(ctx, s, recipients, "production", filepath.Join(data, "pg_wal", name)); err != nil {
			t.Fatalf("archiving %s of %s: %v", name, data, err)
		}
	}
	fetch := walarchive.Fetcher{Env: "production", Open: func(context.Context) (backup.Store, string, error) { return s, id.String(), nil }}
	for data, want := range map[string]string{lost: "lost", rebuilt: "rebuilt"} {
		dest := filepath.Join(data, "pg_wal", "RECOVERYXLOG")
		if err := fetch.Fetch(ctx, name, dest); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(dest); !bytes.HasPrefix(b, []byte(want)) {
			t.Fatalf("%s recovered %.8q, want its own %q", data, b, want)
		}
	}
	// A segment of the flat archive, from before clusters were kept apart.
	const flat = "000000010000000000000002"
	if _, err := (backup.Writer{Store: s, Recipients: recipients}).Write(ctx, bytes.NewReader([]byte("flat")), backup.Entry{
		Key: "production/wal/" + flat + ".age", Env: "production", Datastore: "wal", Format: "wal"}, nil); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(lost, "pg_wal", "RECOVERYXLOG")
	if err := fetch.Fetch(ctx, flat, dest); err != nil {
		t.Fatalf("a segment of the flat archive: %v", err)
	}
}
