package postgres_test

import (
	"bytes"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/drctl/drctl/activities/postgres"
)

// TestArchiveLayout walks archives that pg_dump wrote to a pipe, as a
// backup is written, with and without its gzip: the walk finds a data
// block for each entry that pg_restore --list says has data, in the same
// order, and ends exactly at the end. A cut archive is an error, never a
// panic.
func TestArchiveLayout(t *testing.T) {
	f := newFixture(t)
	seed(t, f.prod, 500)
	sql(t, f.prod, "register",
		"create table empty (x int)",
		`create table "Odd Name" (v text)`,
		`insert into "Odd Name" select repeat('v', g) from generate_series(1, 200) g`,
		"create sequence numbers start 10",
		"select lo_from_bytea(0, 'a large object')",
		"select lo_from_bytea(0, 'another')")
	for _, args := range [][]string{{"-Fc"}, {"-Fc", "--compress=0"}} {
		var dump, stderr bytes.Buffer
		cmd := exec.Command("pg_dump", append(args, f.prod.URL("register"))...)
		cmd.Stdout, cmd.Stderr = &dump, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("pg_dump: %v\n%s", err, stderr.String())
		}
		list := exec.Command("pg_restore", "--list")
		list.Stdin = bytes.NewReader(dump.Bytes())
		toc, err := list.Output()
		if err != nil {
			t.Fatal(err)
		}
		var want []int
		for _, line := range strings.Split(string(toc), "\n") {
			if strings.Contains(line, " TABLE DATA ") || strings.Contains(line, " BLOBS ") {
				id, _ := strconv.Atoi(line[:strings.IndexByte(line, ';')])
				want = append(want, id)
			}
		}
		tocEnd, entries, blocks, end, err := postgres.ArchiveBlocks(bytes.NewReader(dump.Bytes()))
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if len(want) < 5 || !slices.Equal(blocks, want) {
			t.Errorf("%v: data blocks %v, pg_restore lists %v", args, blocks, want)
		}
		if end != int64(dump.Len()) || tocEnd <= 0 || tocEnd >= end || entries < len(want) {
			t.Errorf("%v: the TOC of %d entries ends at %d, the walk at %d of %d bytes", args, entries, tocEnd, end, dump.Len())
		}
		for _, cut := range []int64{3, 20, tocEnd - 1, tocEnd + 3, end - 1} {
			if _, _, _, _, err := postgres.ArchiveBlocks(bytes.NewReader(dump.Bytes()[:cut])); err == nil {
				t.Errorf("%v: an archive cut at %d of %d bytes walked without an error", args, cut, end)
			}
		}
	}
}
