package pgdump

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// A parallel restore that loads while it downloads needs to know where in
// the growing dump each table's data begins, so that a loader can be given
// the archive's head followed directly by its table's data instead of
// every byte before it (which, over many tables, would be read again and
// again). pg_dump writes a custom-format archive as: a header, the table
// of contents (TOC), then one data block per entry that has data, in TOC
// order. Written to a pipe, as a backup is, the TOC holds no offsets, so
// they are found here by walking the blocks as they arrive. The layout is
// pg_dump's (pg_backup_archiver.c and pg_backup_custom.c); an archive this
// code does not understand is restored without it.

// Archive versions that changed what is read here.
const (
	archV112 = 1<<16 | 12<<8 // the oldest understood (PostgreSQL 9.0)
	archV114 = 1<<16 | 14<<8 // table access method in each entry
	archV115 = 1<<16 | 15<<8 // compression as a byte in the header
	archV116 = 1<<16 | 16<<8 // relkind in each entry
)

// Block types of the custom format.
const (
	blockData = 1
	blockLOs  = 3
)

var errArchive = errors.New("not a custom-format archive this restore understands")

// Sections of the TOC that a restore tells apart (pg_backup.h's
// teSection).
const (
	sectionData     = 3
	sectionPostData = 4
)

// archiveEntry is one entry of the TOC.
type archiveEntry struct {
	id      int
	desc    string // e.g. "TABLE DATA"
	section int
	deps    []int // the dump ids it depends on
}

// archiveHead is what the header and TOC say.
type archiveHead struct {
	tocEnd     int64 // where the first data block begins
	entries    []archiveEntry
	byID       map[int]archiveEntry
	compressed bool // the data is compressed by pg_dump
}

// archiveReader reads the archive's fields in order, counting bytes.
type archiveReader struct {
	r       *bufio.Reader
	off     int64
	intSize int
	offSize int
	// keepRaw keeps in raw the bytes that byte (and so int) read, for a
	// caller that copies them out as they were.
	keepRaw bool
	raw     []byte
}

func (a *archiveReader) byte() (byte, error) {
	b, err := a.r.ReadByte()
	if err == nil {
		a.off++
		if a.keepRaw {
			a.raw = append(a.raw, b)
		}
	}
	return b, err
}

// skip passes over n bytes, which must be there, a MiB at a time so that
// off follows: rechunk writes out a long TOC as far as off says it is read.
func (a *archiveReader) skip(n int64) error {
	for n > 0 {
		step := int(min(n, 1<<20))
		d, err := a.r.Discard(step)
		a.off += int64(d)
		n -= int64(d)
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// int reads an integer: a sign byte, then intSize bytes, least
// significant first.
func (a *archiveReader) int() (int64, error) {
	sign, err := a.byte()
	if err != nil {
		return 0, err
	}
	var v int64
	for i := range a.intSize {
		b, err := a.byte()
		if err != nil {
			return 0, err
		}
		v |= int64(b) << (8 * i)
	}
	if sign != 0 {
		v = -v
	}
	return v, nil
}

// str reads a string: its length, then its bytes; a negative length is
// SQL NULL, returned as ok false. Only short strings are kept (an entry's
// kind); skip passes over the others, such as definitions, unread.
func (a *archiveReader) str(skip bool) (s string, ok bool, err error) {
	n, err := a.int()
	if err != nil || n < 0 {
		return "", false, err
	}
	if skip {
		return "", true, a.skip(n)
	}
	if n > 1<<10 {
		return "", false, fmt.Errorf("%w: a string of %d bytes where a short one belongs", errArchive, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(a.r, b); err != nil {
		return "", false, err
	}
	a.off += n
	return string(b), true, nil
}

// readHead reads the header and the TOC.
func (a *archiveReader) readHead() (*archiveHead, error) {
	magic := make([]byte, 5)
	if _, err := io.ReadFull(a.r, magic); err != nil {
		return nil, err
	}
	a.off += 5
	if string(magic) != "PGDMP" {
		return nil, errArchive
	}
	var hdr [6]byte // major, minor, revision, int size, offset size, format
	if _, err := io.ReadFull(a.r, hdr[:]); err != nil {
		return nil, err
	}
	a.off += 6
	version := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	a.intSize, a.offSize = int(hdr[3]), int(hdr[4])
	if version < archV112 || version > archV116|0xff || a.intSize < 1 || a.intSize > 8 || a.offSize < 1 || a.offSize > 8 || hdr[5] != 1 {
		return nil, fmt.Errorf("%w: version %d.%d.%d, format %d", errArchive, hdr[0], hdr[1], hdr[2], hdr[5])
	}
	head := &archiveHead{byID: map[int]archiveEntry{}}
	if version >= archV115 {
		algorithm, err := a.byte()
		if err != nil {
			return nil, err
		}
		head.compressed = algorithm != 0
	} else {
		level, err := a.int()
		if err != nil {
			return nil, err
		}
		head.compressed = level != 0 // -1 is zlib's default level
	}
	for range 7 { // the time the archive was made
		if _, err := a.int(); err != nil {
			return nil, err
		}
	}
	for range 3 { // database name, server version, pg_dump version
		if _, _, err := a.str(true); err != nil {
			return nil, err
		}
	}
	count, err := a.int()
	if err != nil {
		return nil, err
	}
	if count < 0 || count > 1<<24 {
		return nil, errArchive
	}
	for range count {
		e, err := a.readEntry(version)
		if err != nil {
			return nil, err
		}
		head.entries = append(head.entries, e)
		head.byID[e.id] = e
	}
	head.tocEnd = a.off
	return head, nil
}

// readEntry reads one TOC entry, keeping its dump id and kind.
func (a *archiveReader) readEntry(version int) (archiveEntry, error) {
	id, err := a.int()
	if err != nil {
		return archiveEntry{}, err
	}
	if _, err := a.int(); err != nil { // had a data dumper
		return archiveEntry{}, err
	}
	e := archiveEntry{id: int(id)}
	// table oid, oid, tag, desc, then (an int) the section
	for i := range 4 {
		s, _, err := a.str(i != 3)
		if err != nil {
			return archiveEntry{}, err
		}
		if i == 3 {
			e.desc = s
		}
	}
	section, err := a.int()
	if err != nil {
		return archiveEntry{}, err
	}
	e.section = int(section)
	// definition, drop statement, copy statement, namespace, tablespace
	strs := 5
	if version >= archV114 {
		strs++ // table access method
	}
	for range strs {
		if _, _, err := a.str(true); err != nil {
			return archiveEntry{}, err
		}
	}
	if version >= archV116 {
		if _, err := a.int(); err != nil { // relkind
			return archiveEntry{}, err
		}
	}
	for range 2 { // owner, "with oids"
		if _, _, err := a.str(true); err != nil {
			return archiveEntry{}, err
		}
	}
	for { // dependencies, each a dump id as a string, ended by a NULL
		dep, ok, err := a.str(false)
		if err != nil {
			return archiveEntry{}, err
		}
		if !ok {
			break
		}
		n, err := strconv.Atoi(dep)
		if err != nil {
			return archiveEntry{}, fmt.Errorf("%w: entry %d depends on %q", errArchive, id, dep)
		}
		e.deps = append(e.deps, n)
	}
	// The custom format's own part: whether the data's offset is known,
	// and the offset.
	if _, err := a.byte(); err != nil {
		return archiveEntry{}, err
	}
	if err := a.skip(int64(a.offSize)); err != nil {
		return archiveEntry{}, err
	}
	return e, nil
}

// blocks walks the data blocks after the head, telling each the dump id
// of a block's entry and the offset where the block starts, until each
// says to stop or the archive ends; an error is a layout not understood
// or a failed read.
func (a *archiveReader) blocks(head *archiveHead, each func(id int, start int64) bool) error {
	for {
		start := a.off
		typ, id, err := a.nextBlock(head)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !each(id, start) {
			return nil
		}
		if err := a.skipBlock(typ); err != nil {
			return err
		}
	}
}

// nextBlock reads the header of the next data block: its type and the
// dump id of its entry. At the end of the archive it returns io.EOF.
func (a *archiveReader) nextBlock(head *archiveHead) (typ byte, id int, err error) {
	typ, err = a.byte()
	if err != nil {
		return 0, 0, err
	}
	n, err := a.intInBlock()
	if err != nil {
		return 0, 0, err
	}
	if _, known := head.byID[int(n)]; !known || (typ != blockData && typ != blockLOs) {
		return 0, 0, fmt.Errorf("%w: a block of type %d for entry %d", errArchive, typ, n)
	}
	return typ, int(n), nil
}

// skipBlock passes over the rest of a block: chunks, each its length then
// its bytes, until a length of 0; a block of large objects is a run of
// such, each after its oid, until an oid of 0.
func (a *archiveReader) skipBlock(typ byte) error {
	chunks := func() error {
		for {
			n, err := a.intInBlock()
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			if n < 0 {
				return errArchive
			}
			if err := a.skip(n); err != nil {
				return err
			}
		}
	}
	if typ == blockData {
		return chunks()
	}
	for {
		oid, err := a.intInBlock()
		if err != nil {
			return err
		}
		if oid == 0 {
			return nil
		}
		if err := chunks(); err != nil {
			return err
		}
	}
}

// intInBlock reads an integer inside a block, where the end of the
// archive is an error.
func (a *archiveReader) intInBlock() (int64, error) {
	n, err := a.int()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
