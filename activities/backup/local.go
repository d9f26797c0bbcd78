package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// local is a folder on this host, opened as an os.Root for each operation:
// no key, however written, and no symlink inside the folder reaches
// outside it.
type local struct{ dir string }

func openLocal(cfg *StoreConfig) (Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("a local store needs a path")
	}
	st, err := os.Stat(cfg.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("local store %s: folder %w", cfg.Path, ErrNotFound)
		}
		return nil, fmt.Errorf("local store %s: %w", cfg.Path, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("local store %s is not a folder", cfg.Path)
	}
	return &local{dir: cfg.Path}, nil
}

func (l *local) String() string { return "file://" + l.dir }
func (l *local) Close() error   { return nil }

// open opens the folder; each operation closes what it opened.
func (l *local) open() (*os.Root, error) {
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		return nil, fmt.Errorf("local store %s: %w", l.dir, err)
	}
	return root, nil
}

// name is a key as a name inside the root.
func name(key string) string { return filepath.FromSlash(key) }

// tmpPrefix marks objects being written; listings never show them.
const tmpPrefix = ".part-"

func tmpName(p string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return path.Join(path.Dir(p), tmpPrefix+hex.EncodeToString(b)+"-"+path.Base(p))
}

func (l *local) Put(_ context.Context, key string, r io.Reader) (int64, error) {
	root, err := l.open()
	if err != nil {
		return 0, err
	}
	defer root.Close()
	if err := root.MkdirAll(name(path.Dir(key)), 0o750); err != nil {
		return 0, fmt.Errorf("creating the folder of %s: %w", key, err)
	}
	tmp := name(tmpName(key))
	f, err := root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return 0, fmt.Errorf("writing %s: %w", key, err)
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name(key))
	}
	if err != nil {
		root.Remove(tmp)
		return n, fmt.Errorf("writing %s: %w", key, err)
	}
	return n, nil
}

func (l *local) Get(_ context.Context, key string) (io.ReadCloser, error) {
	root, err := l.open()
	if err != nil {
		return nil, err
	}
	// An open file outlives the root it was opened through.
	defer root.Close()
	f, err := root.Open(name(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s in %s: %w", key, l, ErrNotFound)
	}
	return f, err
}

func (l *local) List(_ context.Context, prefix string) ([]Object, error) {
	root, err := l.open()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var out []Object
	err = fs.WalkDir(root.FS(), ".", func(key string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), tmpPrefix) || !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, Object{Key: key, Size: info.Size(), ModTime: info.ModTime().UTC()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s in %s: %w", prefix, l, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (l *local) Delete(_ context.Context, key string) error {
	root, err := l.open()
	if err != nil {
		return err
	}
	defer root.Close()
	err = root.Remove(name(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
