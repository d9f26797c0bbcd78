package walarchive_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/internal/walarchive"
)

// TestWALPushBatches plays Postgres's archiver on a pg_wal of its own: a
// call archives its file and the next ready ones, whose calls then return
// without opening the store; a file changed since it was archived, or one
// the archive holds another of, is not taken as archived; notes of files
// no longer ready are cleared.
func TestWALPushBatches(t *testing.T) {
	ctx := context.Background()
	id, recipients, s := folderArchive(t)
	pgWAL := t.TempDir()
	status := filepath.Join(pgWAL, "archive_status")
	if err := os.Mkdir(status, 0o700); err != nil {
		t.Fatal(err)
	}
	contents := func(name string) []byte { return bytes.Repeat([]byte(name), 1<<14) }
	var names []string
	for i := range 12 {
		names = append(names, fmt.Sprintf("0000000100000000000000%02X", i+1))
	}
	names = append(names, "00000002.history")
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(pgWAL, name), contents(name), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(status, name+".ready"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The archive holds another segment 0B already.
	other := filepath.Join(t.TempDir(), names[10])
	os.WriteFile(other, []byte("another cluster's"), 0o600)
	if err := walarchive.PushSegment(ctx, s, recipients, "production", other); err != nil {
		t.Fatal(err)
	}
	// A note of a file Postgres has no longer ready.
	notes := filepath.Join(pgWAL, ".drctl-pushed")
	os.Mkdir(notes, 0o700)
	os.WriteFile(filepath.Join(notes, "000000010000000000000000"), []byte("stale"), 0o600)

	opens := 0
	p := walarchive.Pusher{Env: "production", Batch: 8, Open: func(context.Context) (backup.Store, []string, error) {
		opens++
		return s, recipients, nil
	}}
	// archive is Postgres's call for name: on success the file is done.
	archive := func(name string) error {
		t.Helper()
		err := p.Push(ctx, filepath.Join(pgWAL, name))
		if err == nil {
			os.Rename(filepath.Join(status, name+".ready"), filepath.Join(status, name+".done"))
		}
		return err
	}
	if err := archive(names[0]); err != nil || opens != 1 {
		t.Fatalf("archiving %s: %v (store opened %d times)", names[0], err, opens)
	}
	if _, err := os.Stat(filepath.Join(notes, "000000010000000000000000")); err == nil {
		t.Error("the note of a file no longer ready was left")
	}
	// The batch took the history file first, then the oldest segments.
	for _, name := range append([]string{"00000002.history"}, names[1:8]...) {
		if err := archive(name); err != nil {
			t.Fatalf("archiving %s: %v", name, err)
		}
	}
	if opens != 1 {
		t.Fatalf("the calls for the batch's files opened the store %d more times", opens-1)
	}
	if entries, _ := os.ReadDir(notes); len(entries) != 0 {
		t.Errorf("notes left after their calls: %v", entries)
	}
	// The next call archives 09 and batches 0A and 0C; the archive's
	// other 0B is not noted, so its own call fails, naming why.
	if err := archive(names[8]); err != nil || opens != 2 {
		t.Fatalf("archiving %s: %v (store opened %d times)", names[8], err, opens)
	}
	if err := archive(names[9]); err != nil || opens != 2 {
		t.Fatalf("archiving %s, batched: %v (store opened %d times)", names[9], err, opens)
	}
	if err := archive(names[10]); err == nil || !strings.Contains(err.Error(), "different "+names[10]) || opens != 3 {
		t.Fatalf("archiving %s, which the archive holds another of: %v (store opened %d times)", names[10], err, opens)
	}
	// A batched file changed since is archived again, so refused.
	if err := os.WriteFile(filepath.Join(pgWAL, names[11]), []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := archive(names[11]); err == nil || !strings.Contains(err.Error(), "different "+names[11]) {
		t.Fatalf("archiving %s, changed since its batch: %v", names[11], err)
	}
	// What the batches archived reads back.
	fetch := walarchive.Fetcher{Env: "production", Open: func(context.Context) (backup.Store, string, error) { return s, id.String(), nil }}
	for _, name := range []string{"00000002.history", names[5], names[11]} {
		got := filepath.Join(t.TempDir(), name)
		if err := fetch.Fetch(ctx, name, got); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(got); !bytes.Equal(b, contents(name)) {
			t.Errorf("the archive's %s is not the file archived", name)
		}
	}
}

// folderArchive is a WAL archive in a folder, and the key to it.
func folderArchive(t *testing.T) (*age.X25519Identity, []string, backup.Store) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	s, err := backup.Open(context.Background(), &backup.StoreConfig{Type: "local", Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return id, []string{id.Recipient().String()}, s
}
