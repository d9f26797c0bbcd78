package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/internal/walarchive"
)

// backupsConfig writes an environments file whose production backs up
// into a local folder, and returns the file and the opened store.
func backupsConfig(t *testing.T) (string, backup.Store, string) {
	t.Helper()
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	recipient := id.Recipient().String()
	cfg := filepath.Join(dir, "drctl.yaml")
	folder := filepath.Join(dir, "backups")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`environments:
  production:
    role: source
    database: {name: register, url: "env:NO_SUCH_URL"}
    stores:
      backups: {type: local, path: %q, recipients: [%q]}
      offsite: {type: local, path: %q, recipients: [%q]}
`, folder, recipient, filepath.Join(dir, "unmounted"), recipient)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := backup.Open(context.Background(), &backup.StoreConfig{Type: "local", Path: folder})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return cfg, s, recipient
}

func TestBackupsListsWhatIsThereAndFlagsEmpty(t *testing.T) {
	cfg, s, recipient := backupsConfig(t)
	w := backup.Writer{Store: s, Recipients: []string{recipient}}
	day := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	for i, counts := range []map[string]int64{{"users": 5000, "events": 20000}, {"users": 0, "events": 0}} {
		at := day.AddDate(0, 0, i)
		if _, err := w.Write(context.Background(), strings.NewReader(strings.Repeat("x", 3000)), backup.Entry{
			Key: backup.DataKey("production", "register", at, "dump.age"), Env: "production", Datastore: "register",
			StartedAt: at, StoppedAt: at.Add(time.Minute), RowCounts: counts}, nil); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := drctl(t, "--config", cfg, "backups", "--env", "production", "--store", "backups")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != "store backups:" || !strings.HasPrefix(lines[1], "STOPPED (UTC)") {
		t.Fatalf("want the store, a header and two backups:\n%s", out)
	}
	lines = lines[1:]
	for i, want := range [][]string{{"2026-11-30 02:01:00", "register", "25000", "production/2026-11-30/register-"},
		{"2026-12-01 02:01:00", "0 EMPTY", "production/2026-12-01/register-"}} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("line %d lacks %q: %s", i+1, w, lines[i+1])
			}
		}
	}

	code, out, _ = drctl(t, "--config", cfg, "backups", "--env", "production", "--store", "backups", "--from", "2026-12-01", "--json")
	var lists map[string]backup.ListOutput
	if err := json.Unmarshal([]byte(out), &lists); code != 0 || err != nil || lists["backups"].Count != 1 ||
		lists["backups"].Entries[0].RowCounts["users"] != 0 {
		t.Fatalf("exit %d, JSON of one day (%v):\n%s", code, err, out)
	}
	code, out, _ = drctl(t, "--config", cfg, "backups", "--env", "production", "--store", "backups", "--to", "2026-11-01")
	if code != 0 || !strings.Contains(out, "store backups: no complete backups of production") {
		t.Fatalf("exit %d, an empty range:\n%s", code, out)
	}

	// With a base backup and an archived WAL segment, it says how far back
	// and how far forward a point-in-time recovery can go.
	if strings.Contains(out, "point in time") {
		t.Fatalf("a store without base backups or WAL shows a window:\n%s", out)
	}
	base := day.Add(time.Hour)
	if _, err := w.Write(context.Background(), strings.NewReader("tar"), backup.Entry{
		Key: backup.DataKey("production/base", "register", base, "tar.zst.age"), Env: "production", Datastore: "register",
		StartedAt: base, StoppedAt: base.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	code, out, _ = drctl(t, "--config", cfg, "backups", "--env", "production", "--store", "backups")
	if code != 0 || !strings.Contains(out, "point in time: none yet (base backups: 1, but no archived WAL)") || strings.Count(out, "production/20") != 2 {
		t.Fatalf("exit %d, a base backup and no WAL:\n%s", code, out)
	}
	segment := filepath.Join(t.TempDir(), "000000010000000000000003")
	if err := os.WriteFile(segment, []byte("wal"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := walarchive.PushSegment(context.Background(), s, []string{recipient}, "production", segment); err != nil {
		t.Fatal(err)
	}
	code, out, _ = drctl(t, "--config", cfg, "backups", "--env", "production", "--store", "backups")
	want := fmt.Sprintf("point in time: from 2026-11-30 03:01:00 to %s", time.Now().UTC().Format(time.DateOnly))
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "base backups: 1, WAL segments: 1") {
		t.Fatalf("exit %d, want %q:\n%s", code, want, out)
	}

	// Every store by default; one that cannot be read is named and the
	// others are still listed.
	code, out, errs = drctl(t, "--config", cfg, "backups", "--env", "production")
	if code != exitFailed || strings.Count(out, "production/20") != 2 || !strings.Contains(errs, "offsite") ||
		!strings.Contains(errs, "1 of 2 stores could not be read: offsite") {
		t.Fatalf("exit %d, one store unreadable:\n%s\n%s", code, out, errs)
	}
}

func TestBackupsRefusals(t *testing.T) {
	cfg, _, _ := backupsConfig(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--env", "production", "--from", "30/11/2026"}, exitUsage, `"30/11/2026" is not a date`},
		{[]string{"--env", "staging"}, exitFailed, "staging"},
		{[]string{"--env", "production", "--store", "tape"}, exitFailed, `no store "tape" (it has backups, offsite)`},
		{[]string{"--env", "production", "--store", "offsite"}, exitFailed, "unmounted: folder not found"},
		{[]string{}, exitUsage, `"env" not set`},
	} {
		code, _, errs := drctl(t, append([]string{"--config", cfg, "backups"}, c.args...)...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}

// TestWALFetchRefusals: a negative prefetch or batch is a usage error, so
// is wal-fetch's background command run without the spool's lock; a file
// to archive that is not there fails, naming it; and a
// segment the archive does not hold fails, naming it, so recovery takes
// it as the archive's end.
func TestWALFetchRefusals(t *testing.T) {
	cfg, _, _ := backupsConfig(t)
	dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	code, _, errs := drctl(t, "--config", cfg, "wal-fetch", "--env", "production", "--store", "backups", "--prefetch", "-1", "000000010000000000000003", dest)
	if code != exitUsage || !strings.Contains(errs, "--prefetch -1") {
		t.Errorf("--prefetch -1: exit %d, stderr %q", code, errs)
	}
	code, _, errs = drctl(t, "--config", cfg, "wal-push", "--env", "production", "--store", "backups", "--batch", "-1", dest)
	if code != exitUsage || !strings.Contains(errs, "--batch -1") {
		t.Errorf("wal-push --batch -1: exit %d, stderr %q", code, errs)
	}
	code, _, errs = drctl(t, "--config", cfg, "wal-push", "--env", "production", "--store", "backups", dest)
	if code != exitFailed || !strings.Contains(errs, "archiving RECOVERYXLOG") {
		t.Errorf("wal-push of a file not there: exit %d, stderr %q", code, errs)
	}
	// The background fetch's command is wal-fetch's alone.
	code, _, errs = drctl(t, "--config", cfg, "wal-prefetch", "--env", "production", t.TempDir(), "000000010000000000000004")
	if code != exitUsage || !strings.Contains(errs, "wal-prefetch is wal-fetch's own") {
		t.Errorf("wal-prefetch run by hand: exit %d, stderr %q", code, errs)
	}
	code, _, errs = drctl(t, "--config", cfg, "wal-fetch", "--env", "production", "--store", "backups", "000000010000000000000003", dest)
	if code != exitFailed || !strings.Contains(errs, "store backups of environment production has no identity") {
		t.Errorf("a store without an identity: exit %d, stderr %q", code, errs)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DRCTL_TEST_IDENTITY", id.String())
	withID := strings.Replace(string(doc), "]}", `], identity: "env:DRCTL_TEST_IDENTITY"}`, 1)
	if err := os.WriteFile(cfg, []byte(withID), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = drctl(t, "--config", cfg, "wal-fetch", "--env", "production", "--store", "backups", "000000010000000000000003", dest)
	if code != exitFailed || !strings.Contains(errs, "000000010000000000000003") {
		t.Errorf("a segment not archived: exit %d, stderr %q", code, errs)
	}
}

// TestWALFetchFetchesAheadInTheBackground: wal-fetch returns its segment
// and leaves a process of its own fetching the next ones into the spool,
// holding the spool's lock until it is done; recovery's next call is
// answered from the spool once the archive has lost the segment.
func TestWALFetchFetchesAheadInTheBackground(t *testing.T) {
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DRCTL_TEST_IDENTITY", id.String())
	t.Setenv("DRCTL_TEST_AS_DRCTL", "1")
	folder := filepath.Join(dir, "backups")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "drctl.yaml")
	doc := fmt.Sprintf(`environments:
  production:
    role: source
    database: {name: register, url: "env:NO_SUCH_URL"}
    stores:
      backups: {type: local, path: %q, recipients: [%q], identity: "env:DRCTL_TEST_IDENTITY"}
`, folder, id.Recipient().String())
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	segments := []string{"000000010000000000000001", "000000010000000000000002", "000000010000000000000003"}
	content := func(name string) []byte { return bytes.Repeat([]byte(name[16:]), (1<<20)/8) }
	for _, name := range segments {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content(name), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, _, errs := drctl(t, "--config", cfg, "wal-push", "--env", "production", p); code != 0 {
			t.Fatalf("wal-push %s: exit %d, %s", name, code, errs)
		}
	}
	pgWAL := t.TempDir()
	spool := filepath.Join(pgWAL, ".drctl-prefetch")
	dest := filepath.Join(pgWAL, "RECOVERYXLOG")
	// Postgres names the file relative to the data folder it runs in.
	relDest, err := filepath.Rel(repoRoot, dest)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(name string) {
		t.Helper()
		os.Remove(dest)
		code, _, errs := drctl(t, "--config", cfg, "wal-fetch", "--env", "production", "--prefetch", "2", name, relDest)
		if got, err := os.ReadFile(dest); code != 0 || err != nil || !bytes.Equal(got, content(name)) {
			t.Fatalf("wal-fetch %s: exit %d, %s; restored %d bytes (%v)", name, code, errs, len(got), err)
		}
	}
	settled := func() {
		t.Helper()
		lock, err := os.Open(filepath.Join(spool, ".lock"))
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if err == nil {
				return
			}
			if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
				t.Fatalf("the background fetch still holds the spool after a minute (%v)", err)
			}
		}
	}

	fetch(segments[0])
	settled()
	for _, name := range segments[1:] {
		if got, err := os.ReadFile(filepath.Join(spool, name)); err != nil || !bytes.Equal(got, content(name)) {
			t.Fatalf("%s spooled as %d bytes (%v)", name, len(got), err)
		}
	}
	if err := os.RemoveAll(filepath.Join(folder, "production", "wal")); err != nil {
		t.Fatal(err)
	}
	fetch(segments[1])
	settled()
}

// A base backup that ended after the newest archived WAL leaves no moment
// to recover to: drctl backups says so, never a window that ends before
// it begins.
func TestBackupsShowsNoImpossibleWindow(t *testing.T) {
	cfg, s, recipient := backupsConfig(t)
	segment := filepath.Join(t.TempDir(), "000000010000000000000003")
	if err := os.WriteFile(segment, []byte("wal"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := walarchive.PushSegment(context.Background(), s, []string{recipient}, "production", segment); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Add(time.Hour)
	w := backup.Writer{Store: s, Recipients: []string{recipient}}
	if _, err := w.Write(context.Background(), strings.NewReader("tar"), backup.Entry{
		Key: backup.DataKey("production/base", "register", base, "tar.zst.age"), Env: "production", Datastore: "register",
		StartedAt: base.Add(-time.Minute), StoppedAt: base}, nil); err != nil {
		t.Fatal(err)
	}
	code, out, _ := drctl(t, "--config", cfg, "backups", "--env", "production", "--store", "backups")
	if code != 0 || strings.Contains(out, "point in time: from") || !strings.Contains(out, "point in time: none yet (base backups: 1, the oldest ended") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// drctl backups lists a damaged backup with its reason and exits 1.
func TestBackupsNamesDamage(t *testing.T) {
	cfg, s, recipient := backupsConfig(t)
	e := writeDump(t, s, recipient)
	if err := s.Delete(context.Background(), e.Key); err != nil {
		t.Fatal(err)
	}
	code, out, errs := drctl(t, "--config", cfg, "backups", "--env", "production", "--store", "backups")
	if code != exitFailed || !strings.Contains(out, "DAMAGED 2026-11-30 02:00:00  "+e.Key+": its data object is missing") || !strings.Contains(errs, "1 damaged backups") {
		t.Fatalf("exit %d:\n%s%s", code, out, errs)
	}
}

// drctl backups --verify reads every backup back: one whose bytes changed
// (a flipped byte, same size) is listed as damaged.
func TestBackupsVerifyReadsBack(t *testing.T) {
	cfg, s, recipient := backupsConfig(t)
	e := writeDump(t, s, recipient)
	if code, out, errs := drctl(t, "--config", cfg, "backups", "--env", "production", "--store", "backups", "--verify"); code != 0 {
		t.Fatalf("an intact backup: exit %d\n%s%s", code, out, errs)
	}
	folder := filepath.Join(filepath.Dir(cfg), "backups")
	b, err := os.ReadFile(filepath.Join(folder, e.Key))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(filepath.Join(folder, e.Key), b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := drctl(t, "--config", cfg, "backups", "--env", "production", "--store", "backups")
	if code != 0 {
		t.Fatalf("without --verify the size still matches: exit %d\n%s", code, out)
	}
	code, out, errs := drctl(t, "--config", cfg, "backups", "--env", "production", "--store", "backups", "--verify")
	if code != exitFailed || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, "its bytes changed since it was written") {
		t.Fatalf("a changed backup: exit %d\n%s%s", code, out, errs)
	}
}

// writeDump stores one intact production dump ended 2026-11-30 02:00 UTC.
func writeDump(t *testing.T, s backup.Store, recipient string) backup.Entry {
	t.Helper()
	at := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	e, err := backup.Writer{Store: s, Recipients: []string{recipient}}.Write(context.Background(), strings.NewReader(strings.Repeat("x", 3000)),
		backup.Entry{Key: backup.DataKey("production", "register", at, "dump.age"), Env: "production", Datastore: "register", StartedAt: at, StoppedAt: at}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestBackupsSaysWhenDrillsWentUnchecked: the stores are listed without a
// server; the drills cannot be, and the listing says so.
func TestBackupsSaysWhenDrillsWentUnchecked(t *testing.T) {
	cfg, _, _ := backupsConfig(t)
	code, _, errs := drctl(t, "--config", cfg, "backups", "--env", "production", "--store", "backups", "--temporal-address", "127.0.0.1:1")
	if code != 0 || !strings.Contains(errs, "drills not checked: cannot reach Temporal at 127.0.0.1:1") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

func TestOverdueIsTwoPeriodsWithoutASuccess(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	daily := []time.Time{now.Add(15 * time.Hour), now.Add(39 * time.Hour)}
	for _, tc := range []struct {
		name              string
		success, firstRun time.Time
		next              []time.Time
		paused, wantLate  bool
	}{
		{"passed yesterday", now.Add(-30 * time.Hour), now.Add(-90 * 24 * time.Hour), daily, false, false},
		{"last passed three days ago", now.Add(-72 * time.Hour), now.Add(-90 * 24 * time.Hour), daily, false, true},
		{"never passed, first ran three days ago", time.Time{}, now.Add(-72 * time.Hour), daily, false, true},
		{"never passed, first ran today", time.Time{}, now.Add(-time.Hour), daily, false, false},
		{"never ran", time.Time{}, time.Time{}, daily, false, false},
		{"paused", now.Add(-72 * time.Hour), now.Add(-90 * 24 * time.Hour), daily, true, false},
		{"no further runs", now.Add(-72 * time.Hour), now.Add(-90 * 24 * time.Hour), daily[:1], false, false},
	} {
		if got := overdue(tc.success, tc.firstRun, tc.next, tc.paused, now); got != tc.wantLate {
			t.Errorf("%s: overdue %v, want %v", tc.name, got, tc.wantLate)
		}
	}
}
