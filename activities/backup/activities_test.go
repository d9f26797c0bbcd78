package backup_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdktest "go.temporal.io/sdk/testsuite"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/testsuite"
)

// testActivityEnv runs b's activities as Temporal would (with heartbeats).
func testActivityEnv(t *testing.T, b *backup.Backup) *sdktest.TestActivityEnvironment {
	var s sdktest.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(b)
	return env
}

// run executes an activity method as Temporal would and decodes its result.
func run(t *testing.T, env *sdktest.TestActivityEnvironment, fn any, in any, out any) {
	t.Helper()
	v, err := env.ExecuteActivity(fn, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(out); err != nil {
		t.Fatal(err)
	}
}

func runErr(t *testing.T, env *sdktest.TestActivityEnvironment, fn any, in any) error {
	t.Helper()
	_, err := env.ExecuteActivity(fn, in)
	return err
}

// TestCompareAzureWithSFTP plants missing, extra and changed objects
// between an Azurite container (the images) and an SFTP folder (their
// copy).
func TestCompareAzureWithSFTP(t *testing.T) {
	all := stores(t)
	cfgs := map[string]*backup.StoreConfig{"images": all[2].cfg, "images_backup": all[1].cfg}
	b := &backup.Backup{Stores: func(env, store string) (*backup.StoreConfig, error) {
		if c, ok := cfgs[store]; ok {
			return c, nil
		}
		return nil, fmt.Errorf("no store %s", store)
	}}
	src, cp := testsuite.OpenStore(t, cfgs["images"]), testsuite.OpenStore(t, cfgs["images_backup"])
	put := func(s backup.Store, key, body string) {
		if _, err := s.Put(context.Background(), key, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		name := fmt.Sprintf("img/%03d.jpg", i)
		put(src, name, "picture "+name)
		switch i {
		case 3, 7: // missing from the copy
		case 11:
			put(cp, name, "picture "+name+" but longer") // size differs
		case 12:
			put(cp, name, "PICTURE "+name) // same size, other bytes
		default:
			put(cp, name, "picture "+name)
		}
	}
	put(cp, "img/999.jpg", "only in the copy")

	env := testActivityEnv(t, b)
	in := backup.CompareInput{Source: backup.Location{Env: "production", Store: "images", Prefix: "img/"},
		Copy: backup.Location{Env: "production", Store: "images_backup", Prefix: "img/"}, Tolerance: 5, MaxNames: 10}
	var out backup.CompareOutput
	run(t, env, b.Compare, in, &out)
	if out.SourceObjects != 20 || out.CopyObjects != 19 || out.Missing != 2 || out.Extra != 1 || out.Changed != 2 {
		t.Fatalf("counts: %+v", out)
	}
	if !slices.Equal(out.MissingNames, []string{"003.jpg", "007.jpg"}) || !slices.Equal(out.ChangedNames, []string{"011.jpg", "012.jpg"}) ||
		!slices.Equal(out.ExtraNames, []string{"999.jpg"}) {
		t.Fatalf("names: %+v", out)
	}

	// Differing objects count as much as missing ones.
	in.Tolerance = 3
	err := runErr(t, env, b.Compare, in)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != "Incomplete" || !strings.Contains(err.Error(), "2 objects") ||
		!strings.Contains(err.Error(), "2 differ") || !strings.Contains(err.Error(), "012.jpg") {
		t.Fatalf("beyond tolerance: %v", err)
	}

	in.Tolerance, in.SizeOnly, in.MaxNames = 5, true, 1
	run(t, env, b.Compare, in, &out)
	if out.Changed != 1 || len(out.MissingNames) != 1 || out.Missing != 2 {
		t.Fatalf("size only, one name per list: %+v", out)
	}
}

// TestPruneKeepsNewestAndVerified applies retention to a month of nightly
// backups.
func TestPruneKeepsNewestAndVerified(t *testing.T) {
	dir := t.TempDir()
	cfg := &backup.StoreConfig{Type: "local", Path: dir}
	s := testsuite.OpenStore(t, cfg)
	_, recipient := testsuite.NewIdentity(t)
	var verifiedKey string
	for d := 1; d <= 30; d++ {
		e := writeBackup(t, s, recipient, "production", "register", time.Date(2026, 10, d, 2, 0, 0, 0, time.UTC), strings.NewReader("x"))
		if d == 10 {
			verifiedKey = e.Key
		}
	}
	markVerified(t, s, verifiedKey)
	b := &backup.Backup{Stores: func(string, string) (*backup.StoreConfig, error) { return cfg, nil }}
	env := testActivityEnv(t, b)
	var out backup.PruneOutput
	// A staging run may not prune production's backups.
	if _, err := env.ExecuteActivity(b.Prune, backup.PruneInput{Env: "production", Datastore: "register", KeepDaily: 1,
		Run: stepio.RunContext{Env: "staging", ID: "r0"}}); err == nil || !strings.Contains(err.Error(), "may not prune the backups of environment \"production\"") {
		t.Fatalf("a staging run pruning production: %v", err)
	}
	run(t, env, b.Prune, backup.PruneInput{Env: "production", Datastore: "register", KeepDaily: 7, KeepWeekly: 2, Run: stepio.RunContext{Env: "production", ID: "r1"}}, &out)
	var left backup.ListOutput
	run(t, env, b.List, backup.ListInput{Env: "production"}, &left)
	keys := map[string]bool{}
	for _, e := range left.Entries {
		keys[e.Key] = true
	}
	if !keys[verifiedKey] {
		t.Error("pruned the newest verified backup")
	}
	for d := 24; d <= 30; d++ {
		if k := backup.DataKey("production", "register", time.Date(2026, 10, d, 2, 0, 0, 0, time.UTC), "dump.age"); !keys[k] {
			t.Errorf("pruned %s, one of the last 7 days", k)
		}
	}
	if left.Count != 8 || len(out.Deleted) != 22 || out.Kept != 8 {
		t.Fatalf("kept %d (%d by the output), deleted %d: %v", left.Count, out.Kept, len(out.Deleted), keys)
	}
	// Pruning again changes nothing.
	run(t, env, b.Prune, backup.PruneInput{Env: "production", Datastore: "register", KeepDaily: 7, KeepWeekly: 2, Run: stepio.RunContext{Env: "production", ID: "r1"}}, &out)
	if len(out.Deleted) != 0 {
		t.Fatalf("second prune deleted %v", out.Deleted)
	}
}

func markVerified(t *testing.T, s backup.Store, key string) {
	t.Helper()
	entries, err := backup.Entries(context.Background(), s, "production/")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Key == key {
			if err := backup.MarkVerified(context.Background(), s, e, time.Now()); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("%s not found", key)
}

// Damage is named, never hidden: a garbage record of an old backup hides
// none of the others; a truncated newest backup fails backup.latest,
// naming it, instead of the older one being restored in its place, unless
// the runbook allows falling back, and then the output says what it
// passed over.
func TestDamagedBackupsAreNamed(t *testing.T) {
	dir := t.TempDir()
	cfg := &backup.StoreConfig{Type: "local", Path: dir}
	s := testsuite.OpenStore(t, cfg)
	_, recipient := testsuite.NewIdentity(t)
	var keys []string
	for d := 1; d <= 3; d++ {
		e := writeBackup(t, s, recipient, "production", "register", time.Date(2026, 11, d, 2, 0, 0, 0, time.UTC), strings.NewReader("dump"))
		keys = append(keys, e.Key)
	}
	if err := os.WriteFile(filepath.Join(dir, keys[0]+".meta.json"), []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &backup.Backup{Stores: func(string, string) (*backup.StoreConfig, error) { return cfg, nil }}
	env := testActivityEnv(t, b)
	var latest backup.Entry
	run(t, env, b.Latest, backup.LatestInput{Env: "production", Datastore: "register"}, &latest)
	if latest.Key != keys[2] {
		t.Fatalf("latest is %s, want %s", latest.Key, keys[2])
	}
	var list backup.ListOutput
	run(t, env, b.List, backup.ListInput{Env: "production"}, &list)
	if list.Count != 2 || len(list.Damaged) != 1 || list.Damaged[0].Key != keys[0] || !strings.Contains(list.Damaged[0].Reason, "cannot be read") {
		t.Fatalf("list: %+v", list)
	}

	if err := os.Truncate(filepath.Join(dir, keys[2]), 1); err != nil {
		t.Fatal(err)
	}
	_, err := env.ExecuteActivity(b.Latest, backup.LatestInput{Env: "production", Datastore: "register"})
	if err == nil || !strings.Contains(err.Error(), keys[2]) || !strings.Contains(err.Error(), "is damaged: truncated") || !strings.Contains(err.Error(), keys[1]) {
		t.Fatalf("latest with a truncated newest backup: %v", err)
	}
	run(t, env, b.Latest, backup.LatestInput{Env: "production", Datastore: "register", AllowFallback: true}, &latest)
	if latest.Key != keys[1] || len(latest.SkippedDamaged) != 1 || !strings.HasPrefix(latest.SkippedDamaged[0], keys[2]) {
		t.Fatalf("latest allowed to fall back: %+v", latest)
	}
}
