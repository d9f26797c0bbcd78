package postgres

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/activities/backup"
)

// TestCheckScratch: a parallel restore of a backup larger than the free
// space of its download folder is refused with the way out; one that fits
// is not.
func TestCheckScratch(t *testing.T) {
	dir := t.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if err := checkScratch(dir, backup.Entry{Key: "production/2026-11-20/register-020000Z.dump.age", Size: 1 << 20}); err != nil {
		t.Errorf("a 1 MiB backup with %d MiB free: %v", free>>20, err)
	}
	err := checkScratch(dir, backup.Entry{Key: "production/2026-11-20/register-020000Z.dump.age", Size: free + 1<<30})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != "NoScratchSpace" || !appErr.NonRetryable() ||
		!strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "register-020000Z") || !strings.Contains(err.Error(), "jobs: 1") {
		t.Errorf("a backup 1 GiB larger than the free space: %v", err)
	}
	// A compressed dump needs room for what it decompresses to.
	err = checkScratch(dir, backup.Entry{Key: "production/2026-11-20/register-020000Z.dump.zst.age", Size: 1 << 20,
		Compression: backup.Zstd, PlainSize: free + 1<<30})
	if !errors.As(err, &appErr) || appErr.Type() != "NoScratchSpace" {
		t.Errorf("a 1 MiB backup that decompresses to 1 GiB more than the free space: %v", err)
	}
}
