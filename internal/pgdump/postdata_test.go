package pgdump_test

import (
	"bytes"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/drctl/drctl/internal/pgdump"
)

// TestPostDataReadyEarly: as a restore loads tables while it downloads,
// each table's indexes and constraints become ready once its data is in,
// and not before; a foreign key, an index attached to a partitioned one,
// and what else of the post-data section is not a table's own index or
// constraint are never built early, and nothing is handed out twice.
func TestPostDataReadyEarly(t *testing.T) {
	pg := cluster(t)
	sql(t, pg, "register",
		"create table accounts (id int primary key, email text unique)",
		"create table orders (id int primary key, account int references accounts (id), total int check (total > 0))",
		"create index orders_account on orders (account)",
		"alter table orders add constraint positive_id check (id > 0) not valid",
		"create table readings (at date not null, v int) partition by range (at)",
		"create table readings_2026 partition of readings for values from ('2026-01-01') to ('2027-01-01')",
		"create index readings_at on readings (at)",
		"create function touch() returns trigger language plpgsql as 'begin return new; end'",
		"create trigger orders_touch before insert on orders for each row execute function touch()",
		"insert into accounts values (1, 'a@example.org')",
		"insert into orders values (1, 1, 5)")
	var dump bytes.Buffer
	cmd := exec.Command("pg_dump", "-Fc", pg.URL("register"))
	cmd.Stdout = &dump
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	// Each entry's kind and name, by dump id, as pg_restore lists them:
	// "id; tableoid oid KIND schema name owner".
	list := exec.Command("pg_restore", "--list")
	list.Stdin = bytes.NewReader(dump.Bytes())
	out, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	names, data := map[int]string{}, map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		id, rest, ok := strings.Cut(line, ";")
		n, err := strconv.Atoi(id)
		if !ok || err != nil {
			continue
		}
		fields := strings.Fields(rest)
		kind := fields[2]
		if w := fields[3]; w == strings.ToUpper(w) { // "TABLE DATA", "FK CONSTRAINT"
			kind += " " + w
		}
		names[n] = kind + " " + fields[len(fields)-2]
		if kind == "TABLE DATA" {
			data[fields[len(fields)-2]] = n
		}
	}
	loads := []int{data["orders"], data["readings_2026"], data["accounts"]}
	batches, err := pgdump.PostDataAsLoaded(bytes.NewReader(dump.Bytes()), loads)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	seen := map[int]bool{}
	for _, b := range batches {
		var named []string
		for _, id := range b {
			if seen[id] {
				t.Errorf("%s handed out twice", names[id])
			}
			seen[id] = true
			named = append(named, names[id])
		}
		slices.Sort(named)
		got = append(got, named)
	}
	want := [][]string{
		// orders first: its own key, check and index; the index on the
		// partitioned table depends on no data and comes with the first.
		{"CHECK CONSTRAINT positive_id", "CONSTRAINT orders_pkey", "INDEX orders_account", "INDEX readings_at"},
		{"INDEX readings_2026_at_idx"},
		{"CONSTRAINT accounts_email_key", "CONSTRAINT accounts_pkey"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("built early, load by load:\n%q\nwant\n%q", got, want)
	}
	for id, name := range names {
		own := strings.HasPrefix(name, "INDEX ") && !strings.HasPrefix(name, "INDEX ATTACH ") ||
			strings.HasPrefix(name, "CONSTRAINT ") || strings.HasPrefix(name, "CHECK CONSTRAINT ")
		if own != seen[id] {
			t.Errorf("%s: built early %v", name, seen[id])
		}
	}
}
