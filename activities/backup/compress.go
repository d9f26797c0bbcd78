package backup

import (
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"go.temporal.io/sdk/temporal"
)

// Zstd is the compression a record names when its plain bytes went
// through zstd before age (encrypted bytes do not compress). It is what a
// Postgres dump uses: pg_dump's own gzip costs most of a backup's CPU and,
// on restore, a good share of pg_restore's, where zstd at its fastest
// level is several times cheaper both ways (docs/benchmarks.md). By hand:
// age -d -i key <object> | zstd -d | pg_restore.
const Zstd = "zstd"

// checkCompression refuses a compression this version cannot undo: a
// record from a newer drctl, or a typo in a caller.
func checkCompression(e Entry) error {
	if e.Compression != "" && e.Compression != Zstd {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: compression %q is not one this drctl knows (it knows %q)", e.Key, e.Compression, Zstd), "UnknownCompression", nil)
	}
	return nil
}

// compress returns the writer the plain bytes of e go through on their way
// to w, and the close that ends its stream.
func compress(e Entry, w io.Writer) (io.Writer, func() error, error) {
	if e.Compression == "" {
		return w, func() error { return nil }, nil
	}
	z, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, nil, err
	}
	return z, z.Close, nil
}

// decompress returns the reader of e's plain bytes from r, and the stop
// (which may be called more than once) that releases the decoder.
//
// The decoder runs in the reader's goroutine, with its buffers made up
// front: the default, a pipeline of goroutines and buffers allocated as
// needed, took 0.56-0.58 CPU-seconds for 300 MB of a dump here, against
// 0.31-0.36, and a restore, whose pg_restore keeps every core busy, is
// short of CPU, not of goroutines.
func decompress(e Entry, r io.Reader) (io.Reader, func(), error) {
	if e.Compression == "" {
		return r, func() {}, nil
	}
	z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
	if err != nil {
		return nil, nil, err
	}
	return z, sync.OnceFunc(z.Close), nil
}
