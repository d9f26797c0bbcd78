package pgdump_test

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/drctl/drctl/internal/pgdump"
)

// TestArchiveLayout walks archives that pg_dump wrote to a pipe, as a
// backup is written, with and without its gzip: the walk finds a data
// block for each entry that pg_restore --list says has data, in the same
// order, and ends exactly at the end. A cut archive is an error, never a
// panic.
func TestArchiveLayout(t *testing.T) {
	for _, d := range layoutDumps(t) {
		args, dump := d.args, d.dump
		list := exec.Command("pg_restore", "--list")
		list.Stdin = bytes.NewReader(dump)
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
		tocEnd, entries, blocks, end, err := pgdump.ArchiveBlocks(bytes.NewReader(dump))
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if len(want) < 5 || !slices.Equal(blocks, want) {
			t.Errorf("%v: data blocks %v, pg_restore lists %v", args, blocks, want)
		}
		if end != int64(len(dump)) || tocEnd <= 0 || tocEnd >= end || entries < len(want) {
			t.Errorf("%v: the TOC of %d entries ends at %d, the walk at %d of %d bytes", args, entries, tocEnd, end, len(dump))
		}
		for _, cut := range []int64{3, 20, tocEnd - 1, tocEnd + 3, end - 1} {
			if _, _, _, _, err := pgdump.ArchiveBlocks(bytes.NewReader(dump[:cut])); err == nil {
				t.Errorf("%v: an archive cut at %d of %d bytes walked without an error", args, cut, end)
			}
		}
	}
}

// layoutDump is an archive pg_dump wrote to a pipe, and how it was asked.
type layoutDump struct {
	args []string
	dump []byte
}

// layoutDumps dumps, with and without pg_dump's gzip, a database with
// what an archive's layout varies by: tables, an empty table, a table
// named with a space and a comment of 9 MB (a TOC larger than rechunk
// keeps), a row larger than a merged chunk, a sequence and large objects.
func layoutDumps(t *testing.T) []layoutDump {
	pg := cluster(t)
	sql(t, pg, "register",
		"create table users (id serial primary key, email text unique, name text)",
		"insert into users (email, name) select 'person'||g||'@example.org', 'Person '||g from generate_series(1, 500) g",
		"create table events (id bigserial primary key, created_at timestamptz not null default now(), kind text)",
		"insert into events (kind) select 'login' from generate_series(1, 500) g",
		"create table empty (x int)",
		`create table "Odd Name" (v text)`,
		`insert into "Odd Name" select repeat('v', g) from generate_series(1, 200) g`,
		`do $$ begin execute format('comment on table "Odd Name" is %L', repeat('c', 9000000)); end $$`,
		"create table wide (v text)",
		"insert into wide select string_agg(md5(g::text), '') from generate_series(1, 40000) g",
		"create sequence numbers start 10",
		"select lo_from_bytea(0, 'a large object')",
		"select lo_from_bytea(0, 'another')")
	var out []layoutDump
	for _, args := range [][]string{{"-Fc"}, {"-Fc", "--compress=0"}} {
		var dump, stderr bytes.Buffer
		cmd := exec.Command("pg_dump", append(args, pg.URL("register"))...)
		cmd.Stdout, cmd.Stderr = &dump, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("pg_dump: %v\n%s", err, stderr.String())
		}
		out = append(out, layoutDump{args, dump.Bytes()})
	}
	return out
}

// TestRechunk: a restore merges the rows of a dump without pg_dump's gzip
// into large chunks, and pg_restore makes the very same SQL script of the
// merged archive as of pg_dump's, every row included. A gzipped dump,
// whose chunks are large already, passes unchanged. A cut archive passes
// through without an error, shorter and still cut, for pg_restore to
// report; a failing source is an error.
func TestRechunk(t *testing.T) {
	for _, d := range layoutDumps(t) {
		var out bytes.Buffer
		if err := pgdump.Rechunk(&out, bytes.NewReader(d.dump)); err != nil {
			t.Fatalf("%v: %v", d.args, err)
		}
		merged := out.Bytes()
		if gzipped := len(d.args) == 1; gzipped && !bytes.Equal(merged, d.dump) {
			t.Errorf("%v: %d bytes became %d", d.args, len(d.dump), len(merged))
		} else if !gzipped && len(merged) > len(d.dump)-5*500 {
			t.Errorf("%v: %d bytes became %d: the 500 rows of a table alone are 500 chunks", d.args, len(d.dump), len(merged))
		}
		if got, want := restoreScript(t, merged), restoreScript(t, d.dump); got != want {
			t.Errorf("%v: pg_restore makes a script of %d bytes of the merged archive, of %d of pg_dump's", d.args, len(got), len(want))
		}
		tocEnd, _, _, _, err := pgdump.ArchiveBlocks(bytes.NewReader(d.dump))
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range []int64{20, tocEnd - 1, tocEnd + 3, tocEnd + 200, int64(len(d.dump)) - 1} {
			var out bytes.Buffer
			if err := pgdump.Rechunk(&out, bytes.NewReader(d.dump[:cut])); err != nil {
				t.Errorf("%v: cut at %d: %v", d.args, cut, err)
			}
			if _, _, _, _, err := pgdump.ArchiveBlocks(bytes.NewReader(out.Bytes())); err == nil || int64(out.Len()) > cut {
				t.Errorf("%v: cut at %d, %d bytes came out, and they walk without an error", d.args, cut, out.Len())
			}
		}
		failed := errors.New("the download failed")
		src := io.MultiReader(bytes.NewReader(d.dump[:len(d.dump)/2]), iotest.ErrReader(failed))
		if err := pgdump.Rechunk(io.Discard, src); !errors.Is(err, failed) {
			t.Errorf("%v: a source that fails half-way: %v", d.args, err)
		}
	}
}

// restoreScript is the SQL script pg_restore makes of an archive, without
// the \restrict lines, whose key is new each time.
func restoreScript(t *testing.T, archive []byte) string {
	t.Helper()
	cmd := exec.Command("pg_restore", "--file=-")
	cmd.Stdin = bytes.NewReader(archive)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, stderr.String())
	}
	var script strings.Builder
	for line := range strings.Lines(string(out)) {
		if !strings.HasPrefix(line, `\restrict `) && !strings.HasPrefix(line, `\unrestrict `) {
			script.WriteString(line)
		}
	}
	return script.String()
}
