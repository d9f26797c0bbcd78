package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// azureStore is a container (and prefix) in Azure Blob Storage. Block blobs
// are uploaded as staged blocks and committed at the end, so a blob exists
// only once complete.
type azureStore struct {
	c           *azblob.Client
	container   string
	prefix      string
	name        string
	concurrency int
}

// Transfer tuning: 8 MiB blocks up and 8 MiB ranges down (Azurite serves
// 4 MiB ones at half the speed), 4 at a time unless configured: a bounded
// buffer whatever the backup's size.
const (
	azureBlockSize   = 8 << 20
	azureRangeSize   = 8 << 20
	azureConcurrency = 4
)

func openAzure(ctx context.Context, cfg *StoreConfig) (Store, error) {
	if cfg.Container == "" {
		return nil, errors.New("an azure store needs a container")
	}
	var (
		c   *azblob.Client
		err error
	)
	switch {
	case cfg.Connection != "":
		conn, rerr := cfg.Connection.Resolve(ctx)
		if rerr != nil {
			return nil, rerr
		}
		c, err = azblob.NewClientFromConnectionString(conn, nil)
	case cfg.Account != "":
		// No secret given: the default credential chain (managed identity,
		// workload identity, az login).
		cred, cerr := azidentity.NewDefaultAzureCredential(nil)
		if cerr != nil {
			return nil, fmt.Errorf("azure credential for account %s: %w", cfg.Account, cerr)
		}
		c, err = azblob.NewClient(fmt.Sprintf("https://%s.blob.core.windows.net/", cfg.Account), cred, nil)
	default:
		return nil, errors.New("an azure store needs connection (a secret reference) or account")
	}
	if err != nil {
		// The SDK's message could quote the connection string; say what
		// failed without it.
		return nil, fmt.Errorf("the azure connection string %s is not valid", cfg.Connection)
	}
	concurrency := cfg.Concurrency
	if concurrency == 0 {
		concurrency = azureConcurrency
	}
	s := &azureStore{c: c, container: cfg.Container, prefix: strings.Trim(cfg.Prefix, "/"), concurrency: concurrency,
		name: fmt.Sprintf("azure://%s/%s", cfg.Container, strings.Trim(cfg.Prefix, "/"))}
	if _, err := c.ServiceClient().NewContainerClient(cfg.Container).GetProperties(ctx, nil); err != nil {
		return nil, s.wrap("opening", "", err)
	}
	return s, nil
}

func (s *azureStore) String() string { return s.name }
func (s *azureStore) Close() error   { return nil }

func (s *azureStore) blob(key string) string {
	if s.prefix == "" {
		return key
	}
	return path.Join(s.prefix, key)
}

func (s *azureStore) wrap(verb, key string, err error) error {
	switch {
	case bloberror.HasCode(err, bloberror.ContainerNotFound):
		return fmt.Errorf("%s %s: container %s %w", verb, s, s.container, ErrNotFound)
	case bloberror.HasCode(err, bloberror.BlobNotFound):
		return fmt.Errorf("%s %s in %s: %w", verb, key, s, ErrNotFound)
	case bloberror.HasCode(err, bloberror.ConditionNotMet):
		return fmt.Errorf("%s %s in %s: the blob was replaced during the download", verb, key, s)
	case bloberror.HasCode(err, bloberror.AuthorizationFailure, bloberror.AuthenticationFailed, bloberror.AuthorizationPermissionMismatch, bloberror.InsufficientAccountPermissions):
		return fmt.Errorf("%s %s %s: permission denied (%v)", verb, key, s, firstLine(err))
	}
	return fmt.Errorf("%s %s %s: %v", verb, key, s, firstLine(err))
}

// firstLine keeps the SDK's long multi-line errors readable.
func firstLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

func (s *azureStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	cr := &countingReader{r: r}
	_, err := s.c.UploadStream(ctx, s.container, s.blob(key), cr, &azblob.UploadStreamOptions{
		BlockSize: azureBlockSize, Concurrency: azureConcurrency})
	if err != nil {
		return cr.n, s.wrap("writing", key, err)
	}
	return cr.n, nil
}

// Get streams a blob. With concurrency above 1 (4 unless configured) it
// downloads the blob as ranges of azureRangeSize, that many at a time,
// delivered in order: several streams are faster than one. Either way the
// blob must keep the ETag it had when the download began (If-Match on
// every request, retries included), so a blob replaced meanwhile fails the
// download instead of splicing two backups together.
func (s *azureStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	bc := s.c.ServiceClient().NewContainerClient(s.container).NewBlobClient(s.blob(key))
	props, err := bc.GetProperties(ctx, nil)
	if err != nil {
		return nil, s.wrap("reading", key, err)
	}
	var size int64
	if props.ContentLength != nil {
		size = *props.ContentLength
	}
	wrap := func(err error) error { return s.wrap("reading", key, err) }
	ctx, cancel := context.WithCancel(ctx)
	open := func(off, count int64) (io.ReadCloser, error) {
		resp, err := bc.DownloadStream(ctx, &blob.DownloadStreamOptions{
			Range:            blob.HTTPRange{Offset: off, Count: count},
			AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: props.ETag}},
		})
		if err != nil {
			return nil, err
		}
		return resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 3}), nil
	}
	if s.concurrency <= 1 || size <= azureRangeSize {
		return readAhead(func(w *aheadWriter) error {
			body, err := open(0, 0)
			if err != nil {
				return wrap(err)
			}
			defer body.Close()
			if _, err := w.ReadFrom(body); err != nil {
				return wrap(err)
			}
			return nil
		}, closerFunc(cancel)), nil
	}
	r := &rangeReader{cancel: cancel, wrap: wrap}
	r.start(ctx, size, s.concurrency, func(off, count int64, buf []byte) error {
		body, err := open(off, count)
		if err != nil {
			return err
		}
		defer body.Close()
		_, err = io.ReadFull(body, buf)
		return err
	})
	return r, nil
}

// closerFunc closes by calling itself.
type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }

// rangeReader reads an object of known size as ranges fetched ahead, in
// parallel, into `concurrency` reused buffers: while the consumer reads
// one, the others are being filled.
type rangeReader struct {
	parts  []chan rangePart
	next   int
	bufs   chan []byte
	cur    []byte // the unread rest of the range being read
	curBuf []byte // its buffer, to hand back once read
	err    error
	cancel context.CancelFunc
	wrap   func(error) error
}

type rangePart struct {
	buf []byte
	err error
}

func (r *rangeReader) start(ctx context.Context, size int64, concurrency int, fetch func(off, count int64, buf []byte) error) {
	n := int((size + azureRangeSize - 1) / azureRangeSize)
	r.parts = make([]chan rangePart, n)
	for i := range r.parts {
		r.parts[i] = make(chan rangePart, 1)
	}
	// Buffers are made as first needed, then reused.
	r.bufs = make(chan []byte, concurrency)
	for range concurrency {
		r.bufs <- nil
	}
	go func() {
		for i := range n {
			var buf []byte
			select {
			case buf = <-r.bufs:
			case <-ctx.Done():
				return
			}
			if buf == nil {
				buf = make([]byte, azureRangeSize)
			}
			off := int64(i) * azureRangeSize
			buf = buf[:min(azureRangeSize, size-off)]
			go func() { r.parts[i] <- rangePart{buf: buf, err: fetch(off, int64(len(buf)), buf)} }()
		}
	}()
}

func (r *rangeReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.curBuf != nil {
			r.bufs <- r.curBuf
			r.curBuf = nil
		}
		if r.next == len(r.parts) {
			return 0, io.EOF
		}
		part := <-r.parts[r.next]
		r.next++
		if part.err != nil {
			r.err = r.wrap(part.err)
			r.cancel()
			return 0, r.err
		}
		r.cur, r.curBuf = part.buf, part.buf[:cap(part.buf)]
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close stops the fetches still under way.
func (r *rangeReader) Close() error {
	r.cancel()
	return nil
}

func (s *azureStore) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	pager := s.c.NewListBlobsFlatPager(s.container, &azblob.ListBlobsFlatOptions{Prefix: ptr(s.blob(prefix))})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, s.wrap("listing", prefix, err)
		}
		for _, b := range page.Segment.BlobItems {
			key := strings.TrimPrefix(strings.TrimPrefix(*b.Name, s.prefix), "/")
			o := Object{Key: key}
			if b.Properties != nil {
				if b.Properties.ContentLength != nil {
					o.Size = *b.Properties.ContentLength
				}
				if b.Properties.LastModified != nil {
					o.ModTime = b.Properties.LastModified.UTC()
				}
			}
			out = append(out, o)
		}
	}
	return out, nil
}

func (s *azureStore) Delete(ctx context.Context, key string) error {
	_, err := s.c.DeleteBlob(ctx, s.container, s.blob(key), nil)
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return s.wrap("deleting", key, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
