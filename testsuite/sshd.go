package testsuite

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHServer is a real OpenSSH server on a loopback port, serving SFTP as an
// unprivileged user (so permissions are enforced as on a backup server).
type SSHServer struct {
	*Proc
	Host       string
	Port       int
	User       string
	KeyFile    string // the client's private key (PEM)
	KnownHosts string // a known_hosts file with the server's host key
	Base       string // a folder the user owns
	HostKey    ssh.PublicKey
}

// SSHUser is the account the SFTP tests log in as: the postgres user that
// Debian's postgresql package creates, already needed by the Postgres tests.
// Its password is locked, which sshd without PAM takes as a locked account;
// with PAM, key logins work, as for a real backup account.
const SSHUser = "postgres"

// StartSSHD starts sshd with a temporary host key and config.
func StartSSHD(t testing.TB) *SSHServer {
	t.Helper()
	sshd := Need(t, "sshd", "apt-get install -y openssh-server", "/usr/sbin/sshd")
	u, err := user.Lookup(SSHUser)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("user %s missing: apt-get install -y postgresql-15", SSHUser)
		}
		t.Skipf("user %s missing: apt-get install -y postgresql-15", SSHUser)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := t.TempDir()
	// sshd's privilege separation needs this folder.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	hostPub, hostKeyFile := writeKey(t, dir, "host_key")
	clientPub, clientKeyFile := writeKey(t, dir, "client_key")
	authorized := filepath.Join(dir, "authorized_keys")
	mustWrite(t, authorized, ssh.MarshalAuthorizedKey(clientPub), 0o644)
	base := filepath.Join(dir, "backups")
	if err := os.Mkdir(base, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(base, uid, gid); err != nil {
		t.Fatal(err)
	}
	// The temp folder must be reachable by the unprivileged user.
	for d := base; d != "/"; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(d, st.Mode().Perm()|0o711)
		}
	}
	port := FreePort(t)
	config := filepath.Join(dir, "sshd_config")
	mustWrite(t, config, []byte(fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers %s
StrictModes no
UsePAM yes
Subsystem sftp internal-sftp
`, port, hostKeyFile, filepath.Join(dir, "sshd.pid"), authorized, SSHUser)), 0o644)
	if out, err := exec.Command(sshd, "-t", "-f", config).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	p := Command(t, sshd, "-D", "-e", "-f", config)
	WaitPort(t, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second, p.Output)
	known := filepath.Join(dir, "known_hosts")
	mustWrite(t, known, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(hostPub))), 0o644)
	return &SSHServer{Proc: p, Host: "127.0.0.1", Port: port, User: SSHUser, KeyFile: clientKeyFile,
		KnownHosts: known, Base: base, HostKey: hostPub}
}

// OtherKnownHosts writes a known_hosts file that names this server with a
// different key, as after a server swap or with someone in between.
func (s *SSHServer) OtherKnownHosts(t testing.TB) string {
	t.Helper()
	pub, _ := writeKey(t, t.TempDir(), "other")
	p := filepath.Join(t.TempDir(), "known_hosts")
	mustWrite(t, p, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, ssh.MarshalAuthorizedKey(pub))), 0o644)
	return p
}

func writeKey(t testing.TB, dir, name string) (ssh.PublicKey, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name)
	mustWrite(t, file, pem.EncodeToMemory(block), 0o600)
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub, file
}

func mustWrite(t testing.TB, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
}

// PeopleWithKeys makes an SSH key for each person: their private key
// files, and their entries for an environments file's users: section.
func PeopleWithKeys(t testing.TB, names ...string) (files map[string]string, entries string) {
	t.Helper()
	dir := t.TempDir()
	files = map[string]string{}
	for _, name := range names {
		pub, file := writeKey(t, dir, name)
		files[name] = file
		entries += fmt.Sprintf("  %s: {ssh_keys: [%q]}\n", name, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))))
	}
	return files, entries
}
