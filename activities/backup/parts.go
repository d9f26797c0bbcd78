package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
)

// An upload writes a ".part-" object and renames it when complete (folder
// and SFTP stores; Azure keeps uncommitted blocks out of sight and drops
// them itself). A worker killed mid-upload leaves its part behind, hidden
// from every listing; prune sweeps those older than abandonAfter, long
// past any upload still running.
const abandonAfter = 24 * time.Hour

// partSweeper is a store whose uploads can leave parts behind.
type partSweeper interface {
	// sweepParts removes the parts below prefix last written before
	// before, and returns their names.
	sweepParts(ctx context.Context, prefix string, before time.Time) ([]string, error)
}

// SweepAbandoned removes the abandoned parts below prefix, where the store
// can have any.
func SweepAbandoned(ctx context.Context, s Store, prefix string, now time.Time) ([]string, error) {
	if c, ok := s.(confined); ok {
		if err := c.check(prefix, true); err != nil {
			return nil, err
		}
		s = c.Store
	}
	sw, ok := s.(partSweeper)
	if !ok {
		return nil, nil
	}
	return sw.sweepParts(ctx, prefix, now.Add(-abandonAfter))
}

func (l *local) sweepParts(_ context.Context, prefix string, before time.Time) ([]string, error) {
	root, err := l.open()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var removed []string
	err = fs.WalkDir(root.FS(), ".", func(key string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tmpPrefix) || !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.ModTime().Before(before) {
			return err
		}
		if err := root.Remove(name(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed = append(removed, key)
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("sweeping abandoned uploads below %s in %s: %w", prefix, l, err)
	}
	return removed, nil
}

func (s *sftpStore) sweepParts(_ context.Context, prefix string, before time.Time) ([]string, error) {
	var removed []string
	w := s.c.Walk(s.base)
	for w.Step() {
		if err := w.Err(); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return removed, fmt.Errorf("sweeping abandoned uploads below %s on %s: %w", prefix, s, err)
		}
		st := w.Stat()
		key := strings.TrimPrefix(strings.TrimPrefix(w.Path(), s.base), "/")
		if st.IsDir() || !strings.HasPrefix(path.Base(key), tmpPrefix) || !strings.HasPrefix(key, prefix) || !st.ModTime().Before(before) {
			continue
		}
		if err := s.c.Remove(w.Path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("removing %s on %s: %w", key, s, err)
		}
		removed = append(removed, key)
	}
	return removed, nil
}
