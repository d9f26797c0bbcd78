package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Store is a place objects live: an Azure container, a folder on an SSH
// backup server, a local folder. Keys are slash-separated paths below the
// store's base. Put makes an object visible only once it is complete.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the complete objects below prefix, in key order.
	List(ctx context.Context, prefix string) ([]Object, error)
	Delete(ctx context.Context, key string) error
	// String names the store for messages: "azure://account/container/prefix".
	String() string
	Close() error
}

// Object is one stored object.
type Object struct {
	Key     string    `json:"key"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// ErrNotFound is returned (wrapped) for a missing object, container or
// folder.
var ErrNotFound = errors.New("not found")

// Open connects to the store a config describes. Secrets named by the
// config are resolved here, inside the activity.
func Open(ctx context.Context, cfg *StoreConfig) (Store, error) {
	if cfg == nil {
		return nil, errors.New("no store configured")
	}
	var (
		s   Store
		err error
	)
	switch cfg.Type {
	case "local":
		s, err = openLocal(cfg)
	case "sftp":
		s, err = openSFTP(ctx, cfg)
	case "azure":
		s, err = openAzure(ctx, cfg)
	default:
		return nil, fmt.Errorf("unknown store type %q", cfg.Type)
	}
	if err != nil {
		return nil, err
	}
	return confined{s}, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
