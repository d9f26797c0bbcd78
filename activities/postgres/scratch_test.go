package postgres

import (
	"testing"

	"github.com/drctl/drctl/activities/backup"
)

// A compressed dump needs room on disk for what it decompresses to.
func TestPlainSize(t *testing.T) {
	if n := plainSize(backup.Entry{Size: 1 << 20, Compression: backup.Zstd, PlainSize: 5 << 30}); n != 5<<30 {
		t.Errorf("a compressed dump of 5 GiB needs %d", n)
	}
	if n := plainSize(backup.Entry{Size: 1 << 20}); n < 1<<20 {
		t.Errorf("an uncompressed dump of 1 MiB needs %d", n)
	}
}
