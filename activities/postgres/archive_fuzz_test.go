package postgres

import (
	"bytes"
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
