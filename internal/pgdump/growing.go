package pgdump

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// GrowingFile is the temporary file a parallel restore downloads into,
// which one goroutine writes while others read it from the start, each
// waiting at the end for more until the writer finishes.
type GrowingFile struct {
	f         *os.File
	mu        sync.Mutex
	grew      *sync.Cond
	size      int64
	done      bool
	err       error
	abandoned bool
}

var errAbandoned = errors.New("the restore stopped reading the download")

// NewGrowingFile makes the file in dir; the caller removes it.
func NewGrowingFile(dir string) (*GrowingFile, error) {
	f, err := os.CreateTemp(dir, "restore-*.dump")
	if err != nil {
		return nil, err
	}
	g := &GrowingFile{f: f}
	g.grew = sync.NewCond(&g.mu)
	return g, nil
}

func (g *GrowingFile) name() string { return g.f.Name() }

// dir is the folder the file is in, where its lists go too.
func (g *GrowingFile) dir() string { return filepath.Dir(g.f.Name()) }

// Write appends p and wakes the readers; once the file is abandoned, it
// fails, which stops the download.
func (g *GrowingFile) Write(p []byte) (int, error) {
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
func (g *GrowingFile) finish(err error) {
	g.mu.Lock()
	g.done, g.err = true, err
	g.mu.Unlock()
	g.grew.Broadcast()
}

// waitUnlessSlow returns once the writer finished, or as soon as the rest
// of the file of about size bytes, at the rate it has grown since started,
// will take longer than overlapAbove to arrive.
func (g *GrowingFile) waitUnlessSlow(ctx context.Context, started time.Time, size int64, overlapAbove time.Duration) {
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
func (g *GrowingFile) abandon() {
	g.mu.Lock()
	g.abandoned = true
	g.mu.Unlock()
	g.grew.Broadcast()
}

// wait returns once the writer finished, with its error.
func (g *GrowingFile) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.done {
		g.grew.Wait()
	}
	return g.err
}

// Remove deletes the file; the writer must have finished.
func (g *GrowingFile) Remove() {
	g.f.Close()
	os.Remove(g.f.Name())
}

// reader reads the file from the start; at its end it waits for more, and
// it fails as the writer did.
func (g *GrowingFile) reader() io.Reader { return &follower{g: g} }

// readerAt is a reader from offset off on.
func (g *GrowingFile) readerAt(off int64) io.Reader { return &follower{g: g, off: off} }

// finished tells whether the writer finished.
func (g *GrowingFile) finished() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.done
}

type follower struct {
	g   *GrowingFile
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
