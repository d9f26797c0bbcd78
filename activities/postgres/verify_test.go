package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/testsuite"
)

// TestVerify passes on good data and fails, naming the table, on an empty
// or stale restore.
func TestVerify(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Stg, 100)
	in := postgres.VerifyInput{Database: "register", Expected: map[string]int64{"public.users": 100, "public.events": 500},
		Events: &postgres.EventCheck{Table: "events", Column: "created_at", MaxAge: stepio.Duration(time.Hour)}, Objects: []string{"public.users"},
		Run: testsuite.RunContext("staging")}
	var out postgres.VerifyOutput
	f.Must(f.PG.Verify, in, &out)
	if !out.OK || out.RPO <= 0 || out.RPO > stepio.Duration(5*time.Minute) || len(out.Checks) != 5 {
		t.Fatalf("good data: %+v", out)
	}

	sql(t, f.Stg, "register", "delete from users")
	err := f.Run(f.PG.Verify, in, nil)
	if errType(err) != "VerifyFailed" || !strings.Contains(err.Error(), "rows in public.users: expected 100 ± 0, found 0") {
		t.Fatalf("empty table: %v", err)
	}

	sql(t, f.Stg, "register", "update events set created_at = created_at - interval '3 days'")
	in.Expected = nil
	err = f.Run(f.PG.Verify, in, nil)
	if errType(err) != "VerifyFailed" || !strings.Contains(err.Error(), "newest event in events") {
		t.Fatalf("stale events: %v", err)
	}
}

// TestVerifyMarksTheBackup: a verification that names the backup it
// checks records a pass on that backup, which retention then keeps; a
// failed one records nothing.
func TestVerifyMarksTheBackup(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Prod, 50)
	var b postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Run: testsuite.RunContext("production")}, &b)
	f.Must(f.PG.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Run: testsuite.RunContext("staging")}, nil)
	s, err := backup.Open(context.Background(), f.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	verifiedAt := func() *time.Time {
		t.Helper()
		list, err := backup.Entries(context.Background(), s, "production/")
		if err != nil || len(list) != 1 {
			t.Fatalf("%v: %+v", err, list)
		}
		return list[0].VerifiedAt
	}

	in := postgres.VerifyInput{Database: "register", Expected: b.RowCounts, MinRows: 1, Backup: b.Key, From: "production", Run: testsuite.RunContext("staging")}
	sql(t, f.Stg, "register", "delete from events")
	if err := f.Run(f.PG.Verify, in, nil); errType(err) != "VerifyFailed" {
		t.Fatalf("verify of a damaged restore: %v", err)
	}
	if at := verifiedAt(); at != nil {
		t.Fatalf("a failed verification marked the backup verified at %v", at)
	}

	sql(t, f.Stg, "postgres", "drop database register with (force)")
	f.Must(f.PG.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Run: testsuite.RunContext("staging")}, nil)
	before := time.Now()
	f.Must(f.PG.Verify, in, nil)
	if at := verifiedAt(); at == nil || at.Before(before.Add(-time.Second)) {
		t.Fatalf("a passed verification left the backup verified at %v", at)
	}
}
