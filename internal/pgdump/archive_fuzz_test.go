package pgdump

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
)

// FuzzArchiveWalk: whatever bytes a restore is handed, walking them as a
// custom-format archive ends with a layout or an error, never a panic or
// an allocation the size of a bogus length. The seed, testdata/small.dump,
// is pg_dump -Fc --compress=0 of a database with a table, an empty table,
// a sequence and a large object; it walks to its last byte.
func FuzzArchiveWalk(f *testing.F) {
	seed, err := os.ReadFile("testdata/small.dump")
	if err != nil {
		f.Fatal(err)
	}
	if _, _, end, err := walkArchive(bytes.NewReader(seed), func(int) {}); err != nil || end != int64(len(seed)) {
		f.Fatalf("the seed walks to %d of %d bytes: %v", end, len(seed), err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, end, err := walkArchive(bytes.NewReader(b), func(int) {})
		if err == nil && end != int64(len(b)) {
			t.Fatalf("a walk without an error ended at %d of %d bytes", end, len(b))
		}
	})
}

// FuzzRechunk: whatever bytes a restore is handed, merging their chunks
// never fails on a source that does not, never panics, and changes
// nothing but where chunks end: the archive joined (each piece of data's
// chunks made one) is the same before and after.
func FuzzRechunk(f *testing.F) {
	seed, err := os.ReadFile("testdata/small.dump")
	if err != nil {
		f.Fatal(err)
	}
	var merged bytes.Buffer
	if err := Rechunk(&merged, bytes.NewReader(seed)); err != nil || merged.Len() >= len(seed) {
		f.Fatalf("the seed of %d bytes merges into %d: %v", len(seed), merged.Len(), err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add(seed[:len(seed)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		if err := Rechunk(&out, bytes.NewReader(b)); err != nil {
			t.Fatalf("rechunk: %v", err)
		}
		if got, want := joined(out.Bytes()), joined(b); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes became %d, and joined they differ", len(b), out.Len())
		}
	})
}

// joined is the archive in b with each piece of data's chunks joined into
// one, up to the first field not understood, and from there b as it is.
func joined(b []byte) []byte {
	a := &archiveReader{r: bufio.NewReader(bytes.NewReader(b))}
	head, err := a.readHead()
	if err != nil || head.compressed || a.intSize < 4 {
		return b
	}
	out := bytes.NewBuffer(append([]byte(nil), b[:head.tocEnd]...))
	rest := func(at int64) []byte { return append(append(out.Bytes(), "rest:"...), b[at:]...) }
	// data reads chunks up to a length of 0 and adds them joined.
	data := func() bool {
		var piece []byte
		for {
			at := a.off
			n, err := a.intInBlock()
			if err != nil || n < 0 || n > int64(len(b))-a.off {
				fmt.Fprintf(out, "data %d:%s", len(piece), piece)
				a.off = at
				return false
			}
			if n == 0 {
				fmt.Fprintf(out, "data %d:%s", len(piece), piece)
				return true
			}
			chunk := make([]byte, n)
			io.ReadFull(a.r, chunk)
			a.off += n
			piece = append(piece, chunk...)
		}
	}
	for {
		at := a.off
		typ, id, err := a.nextBlock(head)
		if err == io.EOF && a.off == at {
			return out.Bytes()
		}
		if err != nil {
			return rest(at)
		}
		fmt.Fprintf(out, "block %d %d;", typ, id)
		if typ == blockData {
			if !data() {
				return rest(a.off)
			}
			continue
		}
		for {
			at := a.off
			oid, err := a.intInBlock()
			if err != nil {
				return rest(at)
			}
			fmt.Fprintf(out, "object %d;", oid)
			if oid == 0 {
				break
			}
			if !data() {
				return rest(a.off)
			}
		}
	}
}
