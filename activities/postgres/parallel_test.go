package postgres

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestShareData: the tables' data is dealt out largest first to the
// loader with the fewest rows; every loader's list keeps the archive's
// order, with the others' entries commented out, and the rest of the data
// section (a sequence's value here) goes to the first loader alone.
func TestShareData(t *testing.T) {
	toc := strings.Split(`;
; Archive created at 2026-11-22 05:00:00 UTC
;
215; 1259 16385 TABLE public small postgres
216; 1259 16390 TABLE public big postgres
217; 1259 16395 TABLE public mid postgres
3320; 0 16385 TABLE DATA public small postgres
3321; 0 16390 TABLE DATA public big postgres
3322; 0 16395 TABLE DATA public mid postgres
3323; 0 0 SEQUENCE SET public small_id_seq postgres
3210; 2606 16391 CONSTRAINT public big big_pkey postgres
`, "\n")
	rows := map[string]int64{"public.small": 500, "public.big": 1000, "public.mid": 600}
	shares := shareData(toc, 2, rows)
	if len(shares) != 2 {
		t.Fatalf("%d shares, want 2", len(shares))
	}
	active := func(share []string) []string {
		var ids []string
		for _, line := range share {
			if !strings.HasPrefix(line, ";") {
				ids = append(ids, line[:strings.IndexByte(line, ';')])
			}
		}
		return ids
	}
	// big (1000) to the first, mid (600) to the second, small (500) to the
	// second again, which has fewer rows than the first.
	if got, want := active(shares[0]), []string{"215", "216", "217", "3321", "3323", "3210"}; !slices.Equal(got, want) {
		t.Errorf("first loader runs %v, want %v", got, want)
	}
	if got, want := active(shares[1]), []string{"3320", "3322"}; !slices.Equal(got, want) {
		t.Errorf("second loader runs %v, want %v", got, want)
	}
	for k, share := range shares {
		if len(share) != 8 {
			t.Errorf("loader %d's list has %d entries, want all 8 of the archive", k, len(share))
		}
		for i, line := range share {
			if strings.TrimPrefix(line, ";") != toc[i+3] {
				t.Errorf("loader %d, entry %d: %q is out of the archive's order", k, i, line)
			}
		}
	}

	// More loaders than tables: one per table. No recorded counts (a
	// record of an older backup): one row each, so dealt out in turn.
	if n := len(shareData(toc, 8, rows)); n != 3 {
		t.Errorf("%d loaders for 3 tables", n)
	}
	shares = shareData(toc, 3, nil)
	for k, share := range shares {
		tables := 0
		for _, line := range share {
			if !strings.HasPrefix(line, ";") && strings.Contains(line, " TABLE DATA ") {
				tables++
			}
		}
		if tables != 1 {
			t.Errorf("without counts, loader %d loads %d tables", k, tables)
		}
	}
}

// TestGrowingFile: readers that start before the writer get every byte,
// waiting at the end while the file grows; they end as the writer ended;
// an abandoned file fails the writer.
func TestGrowingFile(t *testing.T) {
	g, err := newGrowingFile()
	if err != nil {
		t.Fatal(err)
	}
	defer g.remove()
	want := strings.Repeat("0123456789", 100_000)
	got := make(chan string, 3)
	for i := range 3 {
		r := g.reader()
		go func() {
			// As a Reader, and as exec copies a command's stdin (WriteTo).
			var b bytes.Buffer
			var err error
			if i == 0 {
				_, err = b.ReadFrom(struct{ io.Reader }{r})
			} else {
				_, err = io.Copy(&b, r)
			}
			if err != nil {
				b.WriteString(err.Error())
			}
			got <- b.String()
		}()
	}
	for i := 0; i < len(want); i += 4096 {
		if _, err := g.Write([]byte(want[i:min(i+4096, len(want))])); err != nil {
			t.Fatal(err)
		}
	}
	g.finish(nil)
	for range 3 {
		if s := <-got; s != want {
			t.Fatalf("a reader got %d bytes, want %d", len(s), len(want))
		}
	}
	if err := g.wait(); err != nil {
		t.Fatal(err)
	}

	failed, err := newGrowingFile()
	if err != nil {
		t.Fatal(err)
	}
	defer failed.remove()
	r := failed.reader()
	failed.Write([]byte("part"))
	broken := errors.New("the download broke")
	failed.finish(broken)
	if b, err := io.ReadAll(r); string(b) != "part" || !errors.Is(err, broken) {
		t.Fatalf("reader of a failed download: %q, %v", b, err)
	}
	failed.abandon()
	if _, err := failed.Write([]byte("more")); !errors.Is(err, errAbandoned) {
		t.Fatalf("write to an abandoned file: %v", err)
	}
}

// TestWaitUnlessSlow: loaders wait for a download whose rest will come in
// moments, and start at once beside one whose rest will take long.
func TestWaitUnlessSlow(t *testing.T) {
	slow, err := newGrowingFile()
	if err != nil {
		t.Fatal(err)
	}
	defer slow.remove()
	slow.Write(make([]byte, 1<<10)) // 1 KiB of 1 GiB: the rest is far off
	slow.waitUnlessSlow(context.Background(), time.Now(), 1<<30)
	slow.finish(nil)

	fast, err := newGrowingFile()
	if err != nil {
		t.Fatal(err)
	}
	defer fast.remove()
	fast.Write(make([]byte, 1<<20)) // all of it: nothing is left to wait for but the end
	go func() {
		time.Sleep(300 * time.Millisecond)
		fast.finish(nil)
	}()
	fast.waitUnlessSlow(context.Background(), time.Now(), 1<<20)
	fast.mu.Lock()
	done := fast.done
	fast.mu.Unlock()
	if !done {
		t.Error("loaders did not wait for a download about to end")
	}
}
