package backup

import (
	"context"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// confined holds a store to keys below its root: whatever a runbook or a
// metadata record names, no key reaches a parent folder, an absolute path
// or another container. Every store Open returns is one.
type confined struct{ Store }

// keyProblem says what makes key unusable, or "". A prefix may be empty
// or end in "/".
func keyProblem(key string, prefix bool) string {
	switch {
	case key == "" && prefix:
		return ""
	case key == "":
		return "an empty key"
	case strings.HasPrefix(key, "/"):
		return "an absolute path"
	case strings.ContainsAny(key, "\\\x00"):
		return "a backslash or NUL"
	}
	segs := strings.Split(key, "/")
	if prefix && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	for _, seg := range segs {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Sprintf("a path segment %q", seg)
		}
	}
	return ""
}

func (c confined) check(key string, prefix bool) error {
	if p := keyProblem(key, prefix); p != "" {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("key %q in %s is refused: it has %s, and keys stay below the store's root", key, c.Store, p), "BadKey", nil)
	}
	return nil
}

func (c confined) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := c.check(key, false); err != nil {
		return 0, err
	}
	return c.Store.Put(ctx, key, r)
}

func (c confined) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := c.check(key, false); err != nil {
		return nil, err
	}
	return c.Store.Get(ctx, key)
}

func (c confined) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := c.check(prefix, true); err != nil {
		return nil, err
	}
	return c.Store.List(ctx, prefix)
}

func (c confined) Delete(ctx context.Context, key string) error {
	if err := c.check(key, false); err != nil {
		return err
	}
	return c.Store.Delete(ctx, key)
}
