package testsuite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// TestStorageCompareThroughTheCLI runs the shipped storage-compare runbook
// as the example environments file sets it up: production's uploaded
// images in Azure (Azurite), their copy on the SSH backup server. A copy
// missing an image fails the run, its alarm fires and the image is named;
// a whole copy passes; a copy whose bytes differ fails again.
func TestStorageCompareThroughTheCLI(t *testing.T) {
	az := StartAzurite(t)
	az.CreateContainer(t, "images")
	sshd := StartSSHD(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "drctl.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`environments:
  production:
    role: source
    database: {name: register, url: "env:DRCTL_TEST_PROD_URL"}
    stores:
      images: {type: azure, container: images, connection: "env:DRCTL_TEST_AZURE"}
      images_backup: {type: sftp, host: %q, port: %d, user: %q, key: %q, known_hosts: %q, path: %q}
    policy: {on_error: abort}
`, sshd.Host, sshd.Port, sshd.User, "file:"+sshd.KeyFile, sshd.KnownHosts, sshd.Base)), 0o644)
	env := []string{"DRCTL_CONFIG=" + cfg, "DRCTL_TEST_AZURE=" + az.ConnectionString(), "DRCTL_TEST_PROD_URL=postgres://unused/register"}
	dev := StartDevEnv(t, env, filepath.Join(dir, "temporal.db"), 0)
	env = append(env, dev.Env()...)

	blobs, err := azblob.NewClientFromConnectionString(az.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	copyOf := func(name, body string) {
		t.Helper()
		p := filepath.Join(sshd.Base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		name := fmt.Sprintf("img/%03d.jpg", i)
		if _, err := blobs.UploadBuffer(context.Background(), "images", name, []byte("picture "+name), nil); err != nil {
			t.Fatal(err)
		}
		if i != 3 {
			copyOf(name, "picture "+name)
		}
	}
	compare := func() (int, string) {
		return Run(t, env, "run", "runbooks/library/storage-compare.yaml", "--env", "production", "--as", "cron", "--wait")
	}

	code, out := compare()
	if code != 1 || !strings.Contains(out, "1 objects of") || !strings.Contains(out, "img/003.jpg") {
		t.Fatalf("a copy missing an image: exit %d\n%s", code, out)
	}
	if !strings.Contains(dev.Output(), "the backup copy of production's images is incomplete") {
		t.Errorf("the runbook's alarm did not fire:\n%s", dev.Output())
	}

	copyOf("img/003.jpg", "picture img/003.jpg")
	if code, out := compare(); code != 0 {
		t.Fatalf("a whole copy: exit %d\n%s", code, out)
	}
	if !strings.Contains(dev.Output(), "images: 20 in production, 0 missing from the copy, 0 changed.") {
		t.Errorf("the summary is not in the worker's log:\n%s", dev.Output())
	}

	copyOf("img/011.jpg", "PICTURE img/011.jpg") // same size, other bytes
	if code, out := compare(); code != 1 || !strings.Contains(out, "1 differ") || !strings.Contains(out, "img/011.jpg") {
		t.Fatalf("a copy with an image's bytes changed: exit %d\n%s", code, out)
	}
}
