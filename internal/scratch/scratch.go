// Package scratch hands out room on the worker's disk for a step that
// must download before it loads (a parallel restore): a folder per
// attempt, named by run and step, with the space it needs reserved, so two
// restores on one disk cannot both pass the check and both run out. An
// attempt's folder is removed when it ends, and swept when its worker
// died: the next attempt, on the next worker start, finds the space free.
package scratch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Dir is where attempts' folders live, below base (the worker's TMPDIR).
func Dir(base string) string { return filepath.Join(base, "drctl-scratch") }

const (
	lockName = ".lock" // held while folders are reserved or swept
	heldName = ".held" // held by the attempt that owns the folder
	needName = ".need" // the bytes the attempt reserved
)

// ErrNoSpace is wrapped by the error of a reservation the disk cannot
// hold beside the others.
var ErrNoSpace = errors.New("not enough free space")

// Space is one attempt's folder; Release removes it.
type Space struct {
	Path string
	held *os.File
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Reserve makes the folder of attempt (run, step and attempt number) below
// base, reserving need bytes: refused when the free space, less what the
// other live attempts still need, is short. Folders of attempts whose
// worker died are swept first.
func Reserve(base, run, step string, attempt int, need int64) (*Space, error) {
	dir := Dir(base)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockFile(filepath.Join(dir, lockName), true)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if _, err := sweep(dir); err != nil {
		return nil, err
	}
	others, err := pending(dir)
	if err != nil {
		return nil, err
	}
	free, err := Free(dir)
	if err != nil {
		return nil, err
	}
	if free-others < need {
		return nil, fmt.Errorf("%w in %s: %d MiB free, %d MiB of it reserved by other restores, %d MiB needed", ErrNoSpace, base, free>>20, others>>20, need>>20)
	}
	name := unsafe.ReplaceAllString(fmt.Sprintf("%s.%s.%d", run, step, attempt), "_")
	path := filepath.Join(dir, name)
	if err := os.RemoveAll(path); err != nil {
		return nil, err
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		return nil, err
	}
	held, err := lockFile(filepath.Join(path, heldName), false)
	if err != nil {
		os.RemoveAll(path)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(path, needName), []byte(strconv.FormatInt(need, 10)), 0o600); err != nil {
		held.Close()
		os.RemoveAll(path)
		return nil, err
	}
	return &Space{Path: path, held: held}, nil
}

// Fits says whether need bytes fit below base beside what live attempts
// reserved, reserving nothing: a check before the step.
func Fits(base string, need int64) error {
	dir := Dir(base)
	others := int64(0)
	if _, err := os.Stat(dir); err == nil {
		if others, err = pending(dir); err != nil {
			return err
		}
	}
	free, err := Free(base)
	if err != nil {
		return err
	}
	if free-others < need {
		return fmt.Errorf("%w in %s: %d MiB free, %d MiB of it reserved by other restores, %d MiB needed", ErrNoSpace, base, free>>20, others>>20, need>>20)
	}
	return nil
}

// Free is how many bytes an unprivileged writer may still put on the
// file system that holds path.
func Free(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("checking the free space in %s: %w", path, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// Release removes the attempt's folder and what is in it.
func (s *Space) Release() error {
	err := os.RemoveAll(s.Path)
	s.held.Close()
	return err
}

// Sweep removes the folders of attempts whose worker is gone (no process
// holds them) and returns their names: run at a worker's start.
func Sweep(base string) ([]string, error) {
	dir := Dir(base)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	lock, err := lockFile(filepath.Join(dir, lockName), true)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	return sweep(dir)
}

func sweep(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var swept []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if f, err := tryLock(filepath.Join(path, heldName)); err == nil {
			// Nobody holds it: its attempt is over.
			f.Close()
			if err := os.RemoveAll(path); err != nil {
				return swept, err
			}
			swept = append(swept, e.Name())
		}
	}
	return swept, nil
}

// pending is what the live attempts reserved and have not written yet.
func pending(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(filepath.Join(path, needName))
		if err != nil {
			continue
		}
		need, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		used, _ := usage(path)
		total += max(need-used, 0)
	}
	return total, nil
}

func usage(path string) (int64, error) {
	var n int64
	err := filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}

// lockFile opens path and takes its lock, waiting for it when wait.
func lockFile(path string, wait bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}

// tryLock takes path's lock if no one holds it; the file must exist.
func tryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// A folder without its lock file never got going.
			return os.Open(os.DevNull)
		}
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
