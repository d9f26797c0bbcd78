package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/internal/childio"
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

// overlapAbove is how long the rest of the download must be projected to
// take for loading to start before it ends; 0 starts it at once.
var overlapAbove = 2 * time.Second

// earlyWork is what a restore did before its download ended: the tables
// it loaded, and the indexes and constraints it built.
type earlyWork struct {
	tables   []int
	postData []int
}

// parallelRestore restores the dump of about size bytes that download
// writes into g, which it finishes, into db. It returns the error lines of
// every pg_restore, and what was done while downloading.
func parallelRestore(ctx context.Context, ep *endpoint, db string, jobs int, size int64, g *growingFile, download func() error) ([]string, earlyWork, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := time.Now()
	go func() { g.finish(download()) }()
	// A failed download explains whatever pg_restore then says about its
	// input, so it comes first; a pg_restore that failed outright stops
	// the others and the download.
	fail := func(err error) ([]string, earlyWork, error) {
		cancel()
		g.abandon()
		if derr := g.wait(); derr != nil && !errors.Is(derr, errAbandoned) {
			return nil, earlyWork{}, derr
		}
		return nil, earlyWork{}, err
	}
	// An archive whose layout is not understood is restored all the same,
	// by pg_restore -j once it is downloaded.
	archive := &archiveReader{r: bufio.NewReaderSize(g.reader(), 1<<20)}
	head, headErr := archive.readHead()
	var schema io.Reader = g.reader()
	if headErr == nil {
		schema = io.NewSectionReader(g.f, 0, head.tocEnd)
	}
	errs, err := runRestore(ctx, ep, db, schema, "--section=pre-data")
	if err != nil {
		return fail(err)
	}

	g.waitUnlessSlow(ctx, started, size)
	var early earlyWork
	if headErr == nil && !g.finished() {
		var lines []string
		early, lines, err = loadArriving(ctx, ep, db, jobs, g, archive, head)
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
	args := []string{"--section=data", "--section=post-data", "--jobs", fmt.Sprint(jobs)}
	if done := slices.Concat(early.tables, early.postData); len(done) > 0 {
		list, err := writeList(g.dir(), listAllBut(head, done))
		if err != nil {
			return nil, early, err
		}
		defer os.Remove(list)
		args = append(args, "--use-list="+list)
	}
	rest, err := runRestore(ctx, ep, db, nil, append(args, g.name())...)
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
func loadArriving(ctx context.Context, ep *endpoint, db string, jobs int, g *growingFile, archive *archiveReader, head *archiveHead) (earlyWork, []string, error) {
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
			l, err := loadTable(ctx, ep, db, g, head.tocEnd, b.start, b.id)
			if err == nil && !g.finished() {
				// Once the download is complete, pg_restore -j builds the
				// rest as fast as anything here could, and does not wait.
				if ready := post.load(b.id); len(ready) > 0 {
					var built []string
					built, err = buildPostData(ctx, ep, db, g, head.tocEnd, ready)
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
	return earlyWork{tables: loaded, postData: post.builtEarly()}, lines, failed
}

// buildPostData builds the post-data entries ids with a single-job
// pg_restore given the archive's head, in which their definitions are.
func buildPostData(ctx context.Context, ep *endpoint, db string, g *growingFile, tocEnd int64, ids []int) ([]string, error) {
	list, err := writeList(g.dir(), listOf(ids))
	if err != nil {
		return nil, err
	}
	defer os.Remove(list)
	return runRestore(ctx, ep, db, io.NewSectionReader(g.f, 0, tocEnd), "--section=post-data", "--use-list="+list)
}

// loadTable runs one loader: a single-job pg_restore of the data of entry
// id, reading the archive's head (up to tocEnd) and then the file from
// start, where the entry's block begins. pg_restore stops reading once
// the block is loaded; the pipe lets it end without waiting for the rest
// of the download to be offered to it.
func loadTable(ctx context.Context, ep *endpoint, db string, g *growingFile, tocEnd, start int64, id int) ([]string, error) {
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
	return runRestore(ctx, ep, db, r, "--section=data", "--use-list="+list)
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

// runRestore runs pg_restore into db, reading the dump from stdin unless
// args name a file. pg_restore goes on after an SQL error; those errors
// are returned for the caller to sort, and err is only for a pg_restore
// that failed without saying which statement did.
func runRestore(ctx context.Context, ep *endpoint, db string, stdin io.Reader, args ...string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "pg_restore", append([]string{"--dbname=" + db, "--no-password"}, args...)...)
	childio.Bind(cmd)
	cmd.Env = childio.Env(ep.toolEnv(db)...)
	cmd.Stdin = stdin
	stderr := &lineCollector{}
	cmd.Stderr = stderr
	err := cmd.Run()
	if err != nil && len(stderr.errors) == 0 {
		return nil, fmt.Errorf("pg_restore into %s: %w: %s", db, err, capOutput(stderr.all.String()))
	}
	if err != nil && ctx.Err() == nil {
		// Its errors are for the caller to sort, unless the instance itself
		// is gone: then nothing else can load, and that is the cause.
		if gone := ep.answers(ctx); gone != nil {
			// Retryable: an instance that comes back takes a resumed restore.
			return nil, temporal.NewApplicationError(fmt.Sprintf("pg_restore into %s stopped: %v (its last error: %s)",
				db, gone, stderr.errors[len(stderr.errors)-1]), "InstanceGone")
		}
	}
	return stderr.errors, nil
}

// growingFile is a temporary file that one goroutine writes while others
// read it from the start, each waiting at the end for more until the
// writer finishes.
type growingFile struct {
	f         *os.File
	mu        sync.Mutex
	grew      *sync.Cond
	size      int64
	done      bool
	err       error
	abandoned bool
}

var errAbandoned = errors.New("the restore stopped reading the download")

func newGrowingFile(dir string) (*growingFile, error) {
	f, err := os.CreateTemp(dir, "restore-*.dump")
	if err != nil {
		return nil, err
	}
	g := &growingFile{f: f}
	g.grew = sync.NewCond(&g.mu)
	return g, nil
}

func (g *growingFile) name() string { return g.f.Name() }

// dir is the folder the file is in, where its lists go too.
func (g *growingFile) dir() string { return filepath.Dir(g.f.Name()) }

// Write appends p and wakes the readers; once the file is abandoned, it
// fails, which stops the download.
func (g *growingFile) Write(p []byte) (int, error) {
	g.mu.Lock()
	abandoned := g.abandoned
	g.mu.Unlock()
	if abandoned {
		return 0, errAbandoned
	}
	n, err := g.f.Write(p)
	g.mu.Lock()
	g.size += int64(n)
	g.mu.Unlock()
	g.grew.Broadcast()
	return n, err
}

// finish marks the file complete, or, with an error, never to be.
func (g *growingFile) finish(err error) {
	g.mu.Lock()
	g.done, g.err = true, err
	g.mu.Unlock()
	g.grew.Broadcast()
}

// waitUnlessSlow returns once the writer finished, or as soon as the rest
// of the file, at the rate it has grown since started, will take longer
// than overlapAbove to arrive.
func (g *growingFile) waitUnlessSlow(ctx context.Context, started time.Time, size int64) {
	const look = 100 * time.Millisecond
	for overlapAbove > 0 && ctx.Err() == nil {
		g.mu.Lock()
		done, have := g.done, g.size
		g.mu.Unlock()
		if done {
			return
		}
		if elapsed := time.Since(started); elapsed >= 2*look {
			rate := float64(have) / elapsed.Seconds() // bytes a second
			if rate == 0 || float64(size-have)/rate > overlapAbove.Seconds() {
				return
			}
		}
		time.Sleep(look)
	}
}

// abandon fails the writer's next write, and the readers waiting for it:
// no one reads on.
func (g *growingFile) abandon() {
	g.mu.Lock()
	g.abandoned = true
	g.mu.Unlock()
	g.grew.Broadcast()
}

// wait returns once the writer finished, with its error.
func (g *growingFile) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.done {
		g.grew.Wait()
	}
	return g.err
}

// remove deletes the file; the writer must have finished.
func (g *growingFile) remove() {
	g.f.Close()
	os.Remove(g.f.Name())
}

// reader reads the file from the start; at its end it waits for more, and
// it fails as the writer did.
func (g *growingFile) reader() io.Reader { return &follower{g: g} }

// readerAt is a reader from offset off on.
func (g *growingFile) readerAt(off int64) io.Reader { return &follower{g: g, off: off} }

// finished tells whether the writer finished.
func (g *growingFile) finished() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.done
}

type follower struct {
	g   *growingFile
	off int64
}

// available waits until the file holds more than the reader has read, and
// returns how much more; 0 with the writer's error (or io.EOF) at the end.
func (r *follower) available() (int64, error) {
	g := r.g
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.size == r.off && !g.done && !g.abandoned {
		g.grew.Wait()
	}
	if g.size > r.off {
		return g.size - r.off, nil
	}
	if !g.done {
		return 0, errAbandoned
	}
	if g.err != nil {
		return 0, g.err
	}
	return 0, io.EOF
}

func (r *follower) Read(p []byte) (int, error) {
	n, err := r.available()
	if err != nil {
		return 0, err
	}
	read, err := r.g.f.ReadAt(p[:min(int64(len(p)), n)], r.off)
	r.off += int64(read)
	if err == io.EOF {
		err = nil // the file is at least that long
	}
	return read, err
}

// WriteTo passes on what the file has in large pieces: exec copies a
// command's stdin with it, and small pieces cost a wake-up each.
func (r *follower) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 1<<20)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			written, werr := w.Write(buf[:n])
			total += int64(written)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
