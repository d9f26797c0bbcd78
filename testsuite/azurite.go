package testsuite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// Azurite's well-known development account; its key is public.
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Azurite is a running Azurite blob service.
type Azurite struct {
	*Proc
	Addr string // host:port it serves on
}

// Endpoint is the blob endpoint of the development account.
func (a *Azurite) Endpoint() string {
	return fmt.Sprintf("http://%s/%s", a.Addr, AzuriteAccount)
}

// ConnectionString is the connection string of the development account.
func (a *Azurite) ConnectionString() string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;", AzuriteAccount, AzuriteKey, a.Endpoint())
}

// StartAzurite starts Azurite's blob service on a free loopback port, with
// its data in a temporary folder.
func StartAzurite(t testing.TB) *Azurite {
	t.Helper()
	bin := Need(t, "azurite-blob", "npm install --prefix ~/.cache/drctl/tools azurite",
		filepath.Join(ToolsDir(), "node_modules", ".bin", "azurite-blob"))
	port := FreePort(t)
	// The azblob SDK sends a newer API version than Azurite knows.
	p := Command(t, bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
		"--location", t.TempDir(), "--skipApiVersionCheck", "--loose", "--silent")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	WaitPort(t, addr, 30*time.Second, p.Output)
	return &Azurite{Proc: p, Addr: addr}
}

// CreateContainer makes a container named name in the development account.
func (a *Azurite) CreateContainer(t testing.TB, name string) {
	t.Helper()
	c, err := azblob.NewClientFromConnectionString(a.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateContainer(context.Background(), name, nil); err != nil {
		t.Fatal(err)
	}
}
