package pgdump

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// A restore with jobs > 1 loads while it downloads. pg_restore -j needs a
// file it can seek in, so the dump goes to a temporary file as it arrives;
// meanwhile
//
//  1. the schema (pg_restore's pre-data section) is created from the
//     archive's table of contents, which pg_dump writes at its head;
//  2. while the download goes on, each table's data is loaded as it
//     arrives, by up to jobs loaders at a time: a loader is a single-job
//     pg_restore of that one table, given the archive's head and then the
//     table's data straight from where it begins in the file (archive.go
//     finds where);
//  3. a loaded table's indexes and constraints are built as soon as its
//     data is in, if the download is still going on (postdata.go);
//  4. once the file is complete, pg_restore -j loads the tables not
//     started yet and builds the rest of the indexes and constraints, each
//     table's as soon as its data is in, as it does from any file.
//
// So the load need not wait for the whole download, which on a real
// network is most of a restore's time. When the rest of the download will
// take only moments, though, the restore waits for it and leaves it all
// to pg_restore -j: loading beside the download would gain little and,
// where the CPU is the limit, slow both. The database is marked restored
// only after the download's size and authentication were verified.

// Parallel is how a parallel restore goes: jobs at a time, of a dump of
// about Size bytes once downloaded, loading beside the download only when
// its rest is projected to take longer than OverlapAbove (0: at once).
type Parallel struct {
	Jobs         int
	Size         int64
	OverlapAbove time.Duration
}

// DefaultOverlapAbove is the OverlapAbove of restores: below it, loading
// beside the download gains less than it costs.
const DefaultOverlapAbove = 2 * time.Second

// Early is what a restore did before its download ended: the dump ids of
// the tables it loaded, and of the indexes and constraints it built.
type Early struct {
	Tables   []int
	PostData []int
}

// ParallelRestore restores into t the dump that download writes into g,
// which it finishes. It returns the error lines of every pg_restore, and
// what was done while downloading.
func ParallelRestore(ctx context.Context, t Target, how Parallel, g *GrowingFile, download func() error) ([]string, Early, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := time.Now()
	go func() { g.finish(download()) }()
	// A failed download explains whatever pg_restore then says about its
	// input, so it comes first; a pg_restore that failed outright stops
	// the others and the download.
	fail := func(err error) ([]string, Early, error) {
		cancel()
		g.abandon()
		if derr := g.wait(); derr != nil && !errors.Is(derr, errAbandoned) {
			return nil, Early{}, derr
		}
		return nil, Early{}, err
	}
	// An archive whose layout is not understood is restored all the same,
	// by pg_restore -j once it is downloaded.
	archive := &archiveReader{r: bufio.NewReaderSize(g.reader(), 1<<20)}
	head, headErr := archive.readHead()
	var schema io.Reader = g.reader()
	if headErr == nil {
		schema = io.NewSectionReader(g.f, 0, head.tocEnd)
	}
	errs, err := Restore(ctx, t, schema, "--section=pre-data")
	if err != nil {
		return fail(err)
	}

	g.waitUnlessSlow(ctx, started, how.Size, how.OverlapAbove)
	var early Early
	if headErr == nil && !g.finished() {
		var lines []string
		early, lines, err = loadArriving(ctx, t, how.Jobs, g, archive, head)
		if err != nil {
			return fail(err)
		}
		errs = append(errs, lines...)
	}
	if err := ctx.Err(); err != nil {
		return fail(err) // cancelled: stop the download rather than wait for it
	}
	if err := g.wait(); err != nil {
		return nil, early, err
	}
	args := []string{"--section=data", "--section=post-data", "--jobs", fmt.Sprint(how.Jobs)}
	if done := slices.Concat(early.Tables, early.PostData); len(done) > 0 {
		list, err := writeList(g.dir(), listAllBut(head, done))
		if err != nil {
			return nil, early, err
		}
		defer os.Remove(list)
		args = append(args, "--use-list="+list)
	}
	rest, err := Restore(ctx, t, nil, append(args, g.name())...)
	if err != nil {
		return nil, early, err
	}
	return append(errs, rest...), early, nil
}

// loadArriving walks the blocks of the archive as they arrive and starts a
// loader for each table's data, up to jobs at a time, until the download
// is complete; a loader that is done before the download builds what of
// the post-data section its table made ready. It returns what the loaders
// did, once they ended, and their error lines.
func loadArriving(ctx context.Context, t Target, jobs int, g *GrowingFile, archive *archiveReader, head *archiveHead) (Early, []string, error) {
	// A loader that fails (its target gone, say) stops the others and the
	// wait for the next block at once, not when that block arrives.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type block struct {
		id    int
		start int64
	}
	arrived := make(chan block)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(arrived)
		// At the end, at a layout not understood, or once stopped, the rest
		// is pg_restore -j's.
		_ = archive.blocks(head, func(id int, start int64) bool {
			select {
			case arrived <- block{id, start}:
				return true
			case <-stop:
				return false
			}
		})
	}()
	slots := make(chan struct{}, jobs)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		lines  []string
		failed error
		loaded []int
		post   = newPostData(head)
	)
	for {
		var b block
		var more bool
		select {
		case b, more = <-arrived:
		case <-ctx.Done():
		}
		if !more {
			break
		}
		if head.byID[b.id].desc != "TABLE DATA" {
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		mu.Lock()
		stopped := failed != nil
		mu.Unlock()
		if ctx.Err() != nil || stopped || g.finished() {
			break
		}
		loaded = append(loaded, b.id)
		wg.Go(func() {
			defer func() { <-slots }()
			l, err := loadTable(ctx, t, g, head.tocEnd, b.start, b.id)
			if err == nil && !g.finished() {
				// Once the download is complete, pg_restore -j builds the
				// rest as fast as anything here could, and does not wait.
				if ready := post.load(b.id); len(ready) > 0 {
					var built []string
					built, err = buildPostData(ctx, t, g, head.tocEnd, ready)
					l = append(l, built...)
					if err == nil {
						post.done(ready)
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, l...)
			if err != nil && failed == nil {
				failed = err
				cancel()
			}
		})
	}
	wg.Wait()
	return Early{Tables: loaded, PostData: post.builtEarly()}, lines, failed
}

// buildPostData builds the post-data entries ids with a single-job
// pg_restore given the archive's head, in which their definitions are.
func buildPostData(ctx context.Context, t Target, g *GrowingFile, tocEnd int64, ids []int) ([]string, error) {
	list, err := writeList(g.dir(), listOf(ids))
	if err != nil {
		return nil, err
	}
	defer os.Remove(list)
	return Restore(ctx, t, io.NewSectionReader(g.f, 0, tocEnd), "--section=post-data", "--use-list="+list)
}

// loadTable runs one loader: a single-job pg_restore of the data of entry
// id, reading the archive's head (up to tocEnd) and then the file from
// start, where the entry's block begins. pg_restore stops reading once
// the block is loaded; the pipe lets it end without waiting for the rest
// of the download to be offered to it.
func loadTable(ctx context.Context, t Target, g *GrowingFile, tocEnd, start int64, id int) ([]string, error) {
	list, err := writeList(g.dir(), listOf([]int{id}))
	if err != nil {
		return nil, err
	}
	defer os.Remove(list)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	go func() {
		_, _ = io.Copy(w, io.MultiReader(io.NewSectionReader(g.f, 0, tocEnd), g.readerAt(start)))
		w.Close()
	}()
	defer r.Close()
	return Restore(ctx, t, r, "--section=data", "--use-list="+list)
}

// listAllBut is a list for pg_restore -L of every entry of the archive but
// those loaded already.
func listAllBut(head *archiveHead, loaded []int) string {
	skip := map[int]bool{}
	for _, id := range loaded {
		skip[id] = true
	}
	var b strings.Builder
	for _, e := range head.entries {
		if skip[e.id] {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, "%d; %s\n", e.id, e.desc)
	}
	return b.String()
}

// listOf is a list for pg_restore -L of entries ids, restored in that
// order.
func listOf(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%d;\n", id)
	}
	return b.String()
}

// writeList writes a list for pg_restore -L into a temporary file and
// returns its name, for the caller to remove.
func writeList(dir, list string) (string, error) {
	f, err := os.CreateTemp(dir, "restore-*.list")
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(list)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
