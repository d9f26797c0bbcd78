package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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
//  2. jobs loaders, each a single-job pg_restore reading the growing file
//     from the start as a stream, load their share of the tables' data;
//  3. once the file is complete and the data loaded, pg_restore -j builds
//     the indexes and constraints (post-data) from the file.
//
// So the load need not wait for the whole download, which on a real
// network is most of a restore's time. When the rest of the download will
// take only moments, though, the loaders wait for it: they would gain
// little, and where the CPU is the limit they slow the download and each
// other (on two cores, a restore from a store on the same machine took a
// fifth longer). The database is marked restored only after the
// download's size and authentication were verified.

// overlapAbove is how long the rest of the download must be projected to
// take for the loaders to start before it ends; 0 starts them at once.
var overlapAbove = 2 * time.Second

// parallelRestore restores the dump of about size bytes that download
// writes into g, which it finishes, into db, and returns the error lines
// of every pg_restore.
func parallelRestore(ctx context.Context, ep *endpoint, db string, jobs int, size int64, rows map[string]int64, g *growingFile, download func() error) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := time.Now()
	go func() { g.finish(download()) }()
	// A failed download explains whatever pg_restore then says about its
	// input, so it comes first; a pg_restore that failed outright stops
	// the others and the download.
	fail := func(err error) ([]string, error) {
		cancel()
		g.abandon()
		if derr := g.wait(); derr != nil && !errors.Is(derr, errAbandoned) {
			return nil, derr
		}
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "pg_restore", "--list")
	cmd.Stdin = g.reader()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	toc, err := cmd.Output()
	if err != nil {
		return fail(fmt.Errorf("reading the dump's table of contents: %w: %s", err, capOutput(stderr.String())))
	}
	var errs []string
	pre, err := runRestore(ctx, ep, db, g.reader(), "--section=pre-data")
	if err != nil {
		return fail(err)
	}
	errs = append(errs, pre...)

	g.waitUnlessSlow(ctx, started, size)
	shares := shareData(strings.Split(string(toc), "\n"), jobs, rows)
	var wg sync.WaitGroup
	var first sync.Once
	var failed error
	loaded := make([][]string, len(shares))
	for i, list := range shares {
		wg.Go(func() {
			var err error
			if loaded[i], err = loadShare(ctx, ep, db, g.reader(), list); err != nil {
				first.Do(func() { failed = err })
				cancel()
			}
		})
	}
	wg.Wait()
	if failed != nil {
		return fail(failed)
	}
	for _, l := range loaded {
		errs = append(errs, l...)
	}
	if err := g.wait(); err != nil {
		return nil, err
	}
	post, err := runRestore(ctx, ep, db, nil, "--section=post-data", "--jobs", fmt.Sprint(jobs), g.name())
	if err != nil {
		return nil, err
	}
	return append(errs, post...), nil
}

// loadShare runs one loader: a single-job pg_restore of the data section
// restricted to list, reading the dump as a stream.
func loadShare(ctx context.Context, ep *endpoint, db string, dump io.Reader, list []string) ([]string, error) {
	f, err := os.CreateTemp("", "drctl-restore-*.list")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(strings.Join(list, "\n") + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return runRestore(ctx, ep, db, dump, "--section=data", "--use-list="+f.Name())
}

// runRestore runs pg_restore into db, reading the dump from stdin unless
// args name a file. pg_restore goes on after an SQL error; those errors
// are returned for the caller to sort, and err is only for a pg_restore
// that failed without saying which statement did.
func runRestore(ctx context.Context, ep *endpoint, db string, stdin io.Reader, args ...string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "pg_restore", append([]string{"--dbname=" + db, "--no-password"}, args...)...)
	cmd.Env = append(os.Environ(), ep.toolEnv(db)...)
	cmd.Stdin = stdin
	stderr := &lineCollector{}
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil && len(stderr.errors) == 0 {
		return nil, fmt.Errorf("pg_restore into %s: %w: %s", db, err, capOutput(stderr.all.String()))
	}
	return stderr.errors, nil
}

// shareData splits the data of the archive's tables, as pg_restore --list
// names them in toc, among at most n loaders: largest first, by the rows
// the backup's record counted, each to the loader with the fewest rows so
// far. A loader's list is the whole table of contents with the entries of
// the others commented out, so it keeps the archive's order (a loader
// reading a stream cannot go back). The rest of the data section, such as
// sequence values and large objects, goes to the first loader alone.
func shareData(toc []string, n int, rows map[string]int64) [][]string {
	type table struct {
		line int
		rows int64
	}
	var tables []table
	for i, line := range toc {
		if _, rest, ok := strings.Cut(line, " TABLE DATA "); ok && !strings.HasPrefix(line, ";") {
			// rest is "<schema> <table> <owner>".
			name := rest
			if j := strings.LastIndexByte(rest, ' '); j > 0 {
				name = rest[:j]
			}
			tables = append(tables, table{line: i, rows: max(rows[strings.Replace(name, " ", ".", 1)], 1)})
		}
	}
	n = max(1, min(n, len(tables)))
	owner := make(map[int]int, len(tables)) // toc line -> loader
	load := make([]int64, n)
	slices.SortStableFunc(tables, func(a, b table) int { return cmp.Compare(b.rows, a.rows) })
	for _, t := range tables {
		least := 0
		for k := range load {
			if load[k] < load[least] {
				least = k
			}
		}
		owner[t.line] = least
		load[least] += t.rows
	}
	shares := make([][]string, n)
	for k := range shares {
		for i, line := range toc {
			if line == "" || strings.HasPrefix(line, ";") {
				continue
			}
			if o, isTable := owner[i]; (isTable && o != k) || (!isTable && k != 0) {
				line = ";" + line
			}
			shares[k] = append(shares[k], line)
		}
	}
	return shares
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

func newGrowingFile() (*growingFile, error) {
	f, err := os.CreateTemp("", "drctl-restore-*.dump")
	if err != nil {
		return nil, err
	}
	g := &growingFile{f: f}
	g.grew = sync.NewCond(&g.mu)
	return g, nil
}

func (g *growingFile) name() string { return g.f.Name() }

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

// abandon fails the writer's next write: no one reads on.
func (g *growingFile) abandon() {
	g.mu.Lock()
	g.abandoned = true
	g.mu.Unlock()
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
	for g.size == r.off && !g.done {
		g.grew.Wait()
	}
	if g.size > r.off {
		return g.size - r.off, nil
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
