package backup

import (
	"errors"
	"io"
	"sync"
)

// Read-ahead: a download runs in its own goroutine, a few MiB ahead of the
// consumer, so the network and the decrypting and hashing overlap instead
// of taking turns. A download of any size holds (aheadDepth+2) × aheadChunk
// bytes at most. Buffers are taken as first needed, so a small object (a
// metadata record, of which a listing reads many) costs one, and they go
// back to a pool shared by all downloads.
const aheadChunk, aheadDepth = 1 << 20, 4

var aheadPool = sync.Pool{New: func() any { return make([]byte, 0, aheadChunk) }}

var errReaderClosed = errors.New("the reader was closed")

// readAhead returns a reader of what fill writes into its writer; fill
// runs in a goroutine. Closing the reader stops fill (its next write fails),
// closes src (if any), the download's own handle, and waits for fill to
// end.
func readAhead(fill func(w *aheadWriter) error, src io.Closer) io.ReadCloser {
	r := &aheadReader{
		full: make(chan []byte, aheadDepth),
		free: make(chan []byte, aheadDepth+2),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		src:  src,
	}
	for range aheadDepth + 2 {
		r.free <- nil // a buffer not taken from the pool yet
	}
	go func() {
		defer close(r.done)
		w := &aheadWriter{r: r}
		err := fill(w)
		if ferr := w.flush(); err == nil { // the bytes before an error too
			err = ferr
		}
		if err == nil {
			err = io.EOF
		}
		r.err = err // published by closing full
		close(r.full)
	}()
	return r
}

type aheadReader struct {
	full, free chan []byte
	stop, done chan struct{}
	cur        []byte // the unread rest of the buffer being read
	curBuf     []byte // that buffer, to hand back once read
	err        error  // the producer's end: io.EOF or why it stopped
	src        io.Closer
	closeOnce  sync.Once
}

func (r *aheadReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.curBuf != nil {
			r.free <- r.curBuf[:0]
			r.curBuf = nil
		}
		b, ok := <-r.full
		if !ok {
			return 0, r.err
		}
		r.cur, r.curBuf = b, b
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *aheadReader) Close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.stop)
		if r.src != nil {
			err = r.src.Close() // ends a read of the network that fill waits in
		}
		<-r.done
		// The free buffers go back to the pool; one still queued or being
		// read is left to the collector.
		for drained := false; !drained; {
			select {
			case b := <-r.free:
				if b != nil {
					//lint:ignore SA6002 a slice header per MiB returned is nothing
					aheadPool.Put(b[:0])
				}
			default:
				drained = true
			}
		}
	})
	return err
}

// aheadWriter fills the reader's free buffers and queues them in order.
type aheadWriter struct {
	r   *aheadReader
	buf []byte
}

func (w *aheadWriter) take() error {
	if w.buf != nil {
		return nil
	}
	select {
	case w.buf = <-w.r.free:
		if w.buf == nil {
			w.buf = aheadPool.Get().([]byte)
		}
		return nil
	case <-w.r.stop:
		return errReaderClosed
	}
}

func (w *aheadWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	select {
	case w.r.full <- w.buf:
		w.buf = nil
		return nil
	case <-w.r.stop:
		return errReaderClosed
	}
}

func (w *aheadWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := w.take(); err != nil {
			return written, err
		}
		n := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+n]
		written += n
		p = p[n:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// ReadFrom reads straight into the buffers, saving a copy when the source
// is a plain reader such as an HTTP body.
func (w *aheadWriter) ReadFrom(src io.Reader) (int64, error) {
	var total int64
	for {
		if err := w.take(); err != nil {
			return total, err
		}
		n, err := src.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		total += int64(n)
		if len(w.buf) == cap(w.buf) {
			if ferr := w.flush(); ferr != nil {
				return total, ferr
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
