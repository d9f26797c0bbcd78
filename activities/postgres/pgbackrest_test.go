package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/testsuite"
)

// TestPITRBothBackends archives production's WAL both through drctl and
// through pgBackRest, then recovers to the same moment before a
// destructive DELETE with each backend: both bring back exactly the rows
// of that moment. BenchmarkPITR times them.
func TestPITRBothBackends(t *testing.T) {
	f, _ := testsuite.NewArchivingFixture(t)
	conf := testsuite.ArchiveThroughPgBackRest(t, f)

	testsuite.Seed(t, f.Prod, 100)
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Base: true, Run: testsuite.RunContext("production")}, nil)
	testsuite.AsPostgres(t, "pgbackrest", "--config="+conf, "--stanza=register", "backup", "--type=full")
	sql(t, f.Prod, "register", "insert into users (email, name) select 'late'||g||'@example.org', 'Late '||g from generate_series(1, 100) g")
	good := testsuite.DBNow(t, f.Prod)
	testsuite.PastTheSecondOf(t, f.Prod, good)
	sql(t, f.Prod, "register", "delete from users where id > 10")
	testsuite.SwitchAndWaitArchived(t, f.Prod)

	for _, backend := range []string{"native", "pgbackrest"} {
		var out postgres.PITROutput
		f.Must(f.PG.PITR, postgres.PITRInput{Target: good, Instance: "pitr-" + backend, Database: "register", Backend: backend, Run: testsuite.RunContext("production")}, &out)
		l, ok, _ := pglocal.Open(f.Targets["production"].Instance.DataDir, "pitr-"+backend)
		if !ok || !out.Promoted {
			t.Fatalf("%s: %+v", backend, out)
		}
		t.Cleanup(func() { l.Destroy(context.Background()) })
		if n := testsuite.QueryInt(t, l, "register", "select count(*) from users"); n != 200 {
			t.Fatalf("%s recovered %d users, want 200", backend, n)
		}
	}
	err := f.Run(f.PG.PITR, postgres.PITRInput{Target: time.Now().Add(time.Hour), Instance: "late", Backend: "pgbackrest", Run: testsuite.RunContext("production")}, nil)
	if errType(err) != "TargetTooLate" {
		t.Fatalf("pgbackrest, target after the archive: %v", err)
	}
}
