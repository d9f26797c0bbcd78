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
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// azureStore is a container (and prefix) in Azure Blob Storage. Block blobs
// are uploaded as staged blocks and committed at the end, so a blob exists
// only once complete.
type azureStore struct {
	c         *azblob.Client
	container string
	prefix    string
	name      string
}

// Upload tuning: 8 MiB blocks, 4 in flight — at most 32 MiB buffered per
// upload whatever the backup's size.
const (
	azureBlockSize   = 8 << 20
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
	s := &azureStore{c: c, container: cfg.Container, prefix: strings.Trim(cfg.Prefix, "/"),
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

func (s *azureStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	resp, err := s.c.DownloadStream(ctx, s.container, s.blob(key), nil)
	if err != nil {
		return nil, s.wrap("reading", key, err)
	}
	body := resp.Body
	return readAhead(func(w *aheadWriter) error {
		_, err := w.ReadFrom(body)
		return err
	}, body), nil
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
