package pgdump

import (
	"bufio"
	"errors"
	"io"
)

// pg_dump without compression, as a backup runs it, writes each row of a
// table as a chunk of its own: a length, then the row. A restore pays for
// that twice. pg_restore hands every chunk to the server as a message of
// its own, and pg_restore -j, looking for a table in a file whose TOC holds
// no offsets (a dump written to a pipe), seeks past every row before it,
// one system call each (docs/benchmarks.md has what that costs). So a
// restore rewrites the dump it is given with each table's rows in chunks
// of up to mergedChunk bytes: the same archive, byte for byte the same
// data, that pg_restore reads as it reads any other (COPY data is a
// stream; where its pieces end does not matter).

// mergedChunk is the size a block's chunks are merged up to.
const mergedChunk = 1 << 20

// Rechunk copies the custom-format archive in src to dst, the data of each
// block merged into chunks of up to mergedChunk bytes. It copies the rest
// of the archive as it is from the first thing it does not understand: a
// layout it does not know, data that pg_dump compressed (in chunks large
// already), or an archive that ends early, which pg_restore then reports.
// It returns the first error of src or dst.
func Rechunk(dst io.Writer, src io.Reader) error {
	in := &headTap{r: src, keep: true, dst: dst}
	a := &archiveReader{r: bufio.NewReaderSize(in, 1<<20)}
	in.read = func() int64 { return a.off }
	head, err := a.readHead()
	if in.err != nil {
		return in.err
	}
	if in.werr != nil {
		return in.werr
	}
	if err != nil || head.compressed || a.intSize < 4 {
		// As it came: what was read already and not yet written (the
		// reader's buffer is in there too), then the rest from the source.
		if _, err := dst.Write(in.buf); err != nil {
			return err
		}
		_, err := io.Copy(dst, src)
		return err
	}
	if _, err := dst.Write(in.buf[:head.tocEnd-in.written]); err != nil {
		return err
	}
	in.keep, in.buf = false, nil
	c := &chunker{a: a, dst: dst, pending: make([]byte, 0, mergedChunk)}
	a.keepRaw = true
	err = c.blocks(head)
	if in.err != nil {
		return in.err
	}
	var notUnderstood *rawRest
	if errors.As(err, &notUnderstood) {
		// The chunks merged so far, the field that was not understood as
		// it was, and the rest as it comes.
		if err := c.flush(); err != nil {
			return err
		}
		if _, err := dst.Write(notUnderstood.raw); err != nil {
			return err
		}
		if _, err := io.Copy(dst, a.r); err != nil {
			return err
		}
		return in.err
	}
	return err
}

// headTap passes on what the archive reader reads, keeping a copy while
// keep is set (the header and TOC, to copy out as they were), and the
// source's first error, to tell a failed source from an archive that
// ends early. A TOC can be large (a definition of megabytes, or thousands
// of tables): once the copy passes headKept, what the archive reader has
// read of it is written to dst, since it is written as it is whatever
// comes after.
type headTap struct {
	r       io.Reader
	keep    bool
	buf     []byte
	dst     io.Writer
	read    func() int64 // how far the archive reader has read
	written int64        // how much of the stream was written from buf
	err     error
	werr    error
}

const headKept = 8 << 20

func (t *headTap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if t.keep {
		t.buf = append(t.buf, p[:n]...)
		if len(t.buf) > headKept && t.werr == nil {
			done := t.read() - t.written
			if _, t.werr = t.dst.Write(t.buf[:done]); t.werr != nil {
				return n, t.werr
			}
			t.buf = append(t.buf[:0], t.buf[done:]...)
			t.written += done
		}
	}
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// rawRest is a field rechunk does not understand, with the bytes it was
// read from: they and the rest of the archive are copied out as they are.
type rawRest struct{ raw []byte }

func (r *rawRest) Error() string { return "not understood" }

// chunker writes the data blocks with their chunks merged.
type chunker struct {
	a       *archiveReader
	dst     io.Writer
	pending []byte // the data of chunks read and not yet written
}

// blocks copies every block, until the archive ends.
func (c *chunker) blocks(head *archiveHead) error {
	a := c.a
	for {
		a.raw = a.raw[:0]
		typ, _, err := a.nextBlock(head)
		if err == io.EOF { // only ever between blocks
			return nil
		}
		if err != nil {
			return c.stop()
		}
		if _, err := c.dst.Write(a.raw); err != nil {
			return err
		}
		if typ == blockData {
			if err := c.chunks(true); err != nil {
				return err
			}
			continue
		}
		for { // large objects: each an oid, then its chunks; an oid of 0 ends them
			a.raw = a.raw[:0]
			oid, err := a.intInBlock()
			if err != nil {
				return c.stop()
			}
			if _, err := c.dst.Write(a.raw); err != nil {
				return err
			}
			if oid == 0 {
				break
			}
			if err := c.chunks(false); err != nil {
				return err
			}
		}
	}
}

// chunks copies the chunks of one piece of data (a table's rows, a large
// object) up to its end, a chunk of length 0, merging them if asked. A
// large object's are left as they are: pg_restore makes a call of each,
// and its script, unlike COPY's, shows where they end.
func (c *chunker) chunks(merge bool) error {
	a := c.a
	for {
		a.raw = a.raw[:0]
		n, err := a.intInBlock()
		if err != nil || n < 0 {
			return c.stop()
		}
		if n == 0 {
			if err := c.flush(); err != nil {
				return err
			}
			_, err := c.dst.Write(a.raw)
			return err
		}
		if int64(len(c.pending))+n > mergedChunk {
			if err := c.flush(); err != nil {
				return err
			}
		}
		if !merge || n >= mergedChunk {
			// Large already, or to keep: straight through.
			if _, err := c.dst.Write(a.raw); err != nil {
				return err
			}
			copied, err := io.CopyN(c.dst, a.r, n)
			a.off += copied
			if err == io.EOF {
				return nil // ends early: as it came
			}
			if err != nil {
				return err
			}
			continue
		}
		before := len(c.pending)
		got, err := io.ReadFull(a.r, c.pending[before:before+int(n)])
		a.off += int64(got)
		if err != nil {
			// Ends inside the chunk: the chunks before, then this one's
			// length and what there is of it.
			part := append(append([]byte(nil), a.raw...), c.pending[before:before+got]...)
			c.pending = c.pending[:before]
			return &rawRest{raw: part}
		}
		c.pending = c.pending[:before+int(n)]
	}
}

// stop ends the merging at a field not understood, whose bytes are in
// a.raw.
func (c *chunker) stop() error {
	return &rawRest{raw: append([]byte(nil), c.a.raw...)}
}

// flush writes the pending data as one chunk.
func (c *chunker) flush() error {
	if len(c.pending) == 0 {
		return nil
	}
	n := len(c.pending)
	field := make([]byte, 1+c.a.intSize) // sign, then the length, least significant byte first
	for i := range c.a.intSize {
		field[1+i] = byte(n >> (8 * i))
	}
	if _, err := c.dst.Write(field); err != nil {
		return err
	}
	_, err := c.dst.Write(c.pending)
	c.pending = c.pending[:0]
	return err
}
