package scratch

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Two restores on a disk that fits one: the first reserves its room and
// the second is refused up front, until the first releases it.
func TestReservationsDoNotOverlap(t *testing.T) {
	base := t.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(base, &st); err != nil {
		t.Fatal(err)
	}
	need := int64(st.Bavail) * st.Bsize * 6 / 10
	a, err := Reserve(base, "run-a", "restore", 1, need)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Reserve(base, "run-b", "restore", 1, need); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("a second restore beside the first: %v", err)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.Path); !os.IsNotExist(err) {
		t.Fatalf("released folder still there: %v", err)
	}
	b, err := Reserve(base, "run-b", "restore", 1, need)
	if err != nil {
		t.Fatalf("after the first released its room: %v", err)
	}
	b.Release()
}

// A folder whose worker died (no process holds it) is swept, with its
// half-downloaded dump; a live attempt's is not.
func TestSweepTakesWhatDeadAttemptsLeft(t *testing.T) {
	base := t.TempDir()
	live, err := Reserve(base, "run-live", "restore", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Release()
	dead := filepath.Join(Dir(base), "run-dead.restore.1")
	if err := os.MkdirAll(dead, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{heldName, needName, "restore-1.dump"} {
		if err := os.WriteFile(filepath.Join(dead, f), []byte("363000000"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	swept, err := Sweep(base)
	if err != nil || len(swept) != 1 || swept[0] != "run-dead.restore.1" {
		t.Fatalf("swept %v, %v", swept, err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatalf("the dead attempt's folder is still there: %v", err)
	}
	if _, err := os.Stat(live.Path); err != nil {
		t.Fatalf("the live attempt's folder was swept: %v", err)
	}
}
