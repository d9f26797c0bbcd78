package postgres

import (
	"bufio"
	"io"
	"testing"
	"time"
)

// SetOverlapAbove changes overlapAbove until the test ends: 0 makes a
// parallel restore load while it downloads however fast the download, an
// hour makes it wait for the download.
func SetOverlapAbove(t testing.TB, d time.Duration) {
	old := overlapAbove
	overlapAbove = d
	t.Cleanup(func() { overlapAbove = old })
}

// ArchiveBlocks walks a whole custom-format archive as a restore walks
// one that grows: where its TOC ends, how many entries the TOC has, the
// dump ids of its data blocks in order, and the offset where the walk
// ended.
func ArchiveBlocks(r io.Reader) (tocEnd int64, entries int, blocks []int, end int64, err error) {
	tocEnd, entries, end, err = walkArchive(r, func(id int) { blocks = append(blocks, id) })
	return tocEnd, entries, blocks, end, err
}

// walkArchive reads the head of the archive in r and then walks its
// blocks as a restore does, telling block the dump id of each.
func walkArchive(r io.Reader, block func(id int)) (tocEnd int64, entries int, end int64, err error) {
	a := &archiveReader{r: bufio.NewReader(r)}
	head, err := a.readHead()
	if err != nil {
		return 0, 0, a.off, err
	}
	err = a.blocks(head, func(id int, _ int64) bool { block(id); return true })
	return head.tocEnd, len(head.entries), a.off, err
}

// Rechunk is rechunk: the archive in src copied to dst with its rows in
// merged chunks.
func Rechunk(dst io.Writer, src io.Reader) error { return rechunk(dst, src) }

// PostDataAsLoaded reads the head of the archive in r and loads the data
// entries loads in turn, as the early loaders of a parallel restore would:
// for each, the post-data entries it made ready to build then.
func PostDataAsLoaded(r io.Reader, loads []int) ([][]int, error) {
	head, err := (&archiveReader{r: bufio.NewReader(r)}).readHead()
	if err != nil {
		return nil, err
	}
	p := newPostData(head)
	var out [][]int
	for _, id := range loads {
		ready := p.load(id)
		p.done(ready)
		out = append(out, ready)
	}
	return out, nil
}

// SegmentAfter names the WAL segment n after name, for segments of size
// bytes; "" when name is not a segment's.
func SegmentAfter(name string, n, size uint64) string {
	s, ok := parseSegment(name)
	if !ok {
		return ""
	}
	return s.after(n, size)
}

// ShellQuote quotes argv for sh, as restore_command is written.
var ShellQuote = shellQuote

// SetPrefetchBytes changes the cap on wal-fetch's spool until the test
// ends.
func SetPrefetchBytes(t testing.TB, n int64) {
	old := prefetchBytes
	prefetchBytes = n
	t.Cleanup(func() { prefetchBytes = old })
}

// SetSpoolWait changes how long wal-fetch waits on a fetch in flight until
// the test ends.
func SetSpoolWait(t testing.TB, d time.Duration) {
	old := spoolWait
	spoolWait = d
	t.Cleanup(func() { spoolWait = old })
}

// OnSpoolWait calls f each time wal-fetch waits on a fetch in flight,
// until the test ends.
func OnSpoolWait(t testing.TB, f func()) {
	spoolWaiting = f
	t.Cleanup(func() { spoolWaiting = nil })
}
