package pgdump

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestGrowingFile: readers that start before the writer get every byte,
// waiting at the end while the file grows; they end as the writer ended;
// an abandoned file fails the writer.
func TestGrowingFile(t *testing.T) {
	g, err := NewGrowingFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
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

	failed, err := NewGrowingFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer failed.Remove()
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
	slow, err := NewGrowingFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Remove()
	slow.Write(make([]byte, 1<<10)) // 1 KiB of 1 GiB: the rest is far off
	slow.waitUnlessSlow(context.Background(), time.Now(), 1<<30, DefaultOverlapAbove)
	slow.finish(nil)

	fast, err := NewGrowingFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Remove()
	fast.Write(make([]byte, 1<<20)) // all of it: nothing is left to wait for but the end
	go func() {
		time.Sleep(300 * time.Millisecond)
		fast.finish(nil)
	}()
	fast.waitUnlessSlow(context.Background(), time.Now(), 1<<20, DefaultOverlapAbove)
	fast.mu.Lock()
	done := fast.done
	fast.mu.Unlock()
	if !done {
		t.Error("loaders did not wait for a download about to end")
	}
}
