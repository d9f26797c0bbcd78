package postgres_test

import (
	"strings"
	"testing"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/testsuite"
)

// TestScrubAndPromote scrubs personal data on staging (none of it is left,
// and a second run is harmless), refuses production, and promotes test
// accounts by parameter.
func TestScrubAndPromote(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Stg, 50)
	testsuite.Seed(t, f.Prod, 5)
	in := postgres.ScrubInput{Database: "register", Run: testsuite.RunContext("staging"), Rules: []postgres.ScrubRule{
		{Table: "users", Column: "email", Action: "fake_email"}, {Table: "users", Column: "name", Action: "fake_name"},
		{Table: "users", Column: "phone", Action: "null"}, {Table: "public.users", Column: "role", Action: "fixed", Value: "user"}}}
	var out postgres.ScrubOutput
	f.Must(f.PG.Scrub, in, &out)
	if out.Tables != 2 || out.Rows != 200 {
		t.Fatalf("scrub: %+v", out)
	}
	if n := testsuite.QueryInt(t, f.Stg, "register", "select count(*) from users where email = 'person'||id||'@example.org' or name = 'Person '||id or phone is not null"); n != 0 {
		t.Fatalf("%d rows still hold original data", n)
	}
	f.Must(f.PG.Scrub, in, &out)
	in.Run = testsuite.RunContext("production")
	if err := f.Run(f.PG.Scrub, in, nil); errType(err) != "Refused" {
		t.Fatalf("scrub on production: %v", err)
	}
	if n := testsuite.QueryInt(t, f.Prod, "register", "select count(*) from users where email like '%@example.org'"); n != 5 {
		t.Fatal("production was touched")
	}

	sql(t, f.Stg, "register", "update users set email = 'qa@example.org' where id = 1")
	var p postgres.PromoteAccountsOutput
	pin := postgres.PromoteAccountsInput{Database: "register", Table: "users", MatchColumn: "email", RoleColumn: "role", Role: "admin",
		Accounts: []string{"qa@example.org", "nobody@example.org", "x' or '1'='1"}, Run: testsuite.RunContext("staging")}
	// A missing account fails the step, and nothing is promoted.
	if err := f.Run(f.PG.PromoteAccounts, pin, nil); errType(err) != "MissingAccounts" || !strings.Contains(err.Error(), "nobody@example.org") {
		t.Fatalf("promote with missing accounts: %v", err)
	}
	if n := testsuite.QueryInt(t, f.Stg, "register", "select count(*) from users where role = 'admin'"); n != 0 {
		t.Fatalf("%d admins after a refused promotion", n)
	}
	pin.AllowMissing = true
	f.Must(f.PG.PromoteAccounts, pin, &p)
	if p.Updated != 1 || len(p.Missing) != 2 {
		t.Fatalf("promote: %+v", p)
	}
	if n := testsuite.QueryInt(t, f.Stg, "register", "select count(*) from users where role = 'admin'"); n != 1 {
		t.Fatalf("%d admins: the injection attempt was not literal", n)
	}
	var ev postgres.LatestEventsOutput
	f.Must(f.PG.LatestEvents, postgres.LatestEventsInput{Database: "register", Table: "events", OrderBy: "created_at", Limit: 3, Run: testsuite.RunContext("staging")}, &ev)
	if len(ev.Rows) != 3 || ev.Rows[0]["kind"] != "login" {
		t.Fatalf("latest events: %+v", ev)
	}
}

// The drill promotes the test accounts before it scrubs, and the scrub
// keeps them: promotion finds every account, and QA logs in with the same
// address afterwards, while everyone else's is faked.
func TestPromoteThenScrubKeepsTheTestAccounts(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Stg, 20)
	sql(t, f.Stg, "register", "update users set email = 'qa.admin@example.org' where id = 3")
	accounts := []string{"qa.admin@example.org"}
	var p postgres.PromoteAccountsOutput
	f.Must(f.PG.PromoteAccounts, postgres.PromoteAccountsInput{Database: "register", Table: "users", MatchColumn: "email", RoleColumn: "role",
		Role: "admin", Accounts: accounts, Run: testsuite.RunContext("staging")}, &p)
	if p.Updated != 1 || len(p.Missing) != 0 {
		t.Fatalf("promote: %+v", p)
	}
	f.Must(f.PG.Scrub, postgres.ScrubInput{Database: "register", Run: testsuite.RunContext("staging"),
		Rules: []postgres.ScrubRule{{Table: "users", Column: "email", Action: "fake_email"}, {Table: "users", Column: "name", Action: "fake_name"}},
		Keep:  []postgres.ScrubKeep{{Table: "users", Column: "email", Values: accounts}}}, nil)
	if n := testsuite.QueryInt(t, f.Stg, "register", "select count(*) from users where email = 'qa.admin@example.org' and role = 'admin'"); n != 1 {
		t.Fatal("the test account lost its address or its role")
	}
	if n := testsuite.QueryInt(t, f.Stg, "register", "select count(*) from users where id <> 3 and (email = 'person'||id||'@example.org' or name = 'Person '||id)"); n != 0 {
		t.Fatalf("%d rows besides the kept one still hold original data", n)
	}
}
