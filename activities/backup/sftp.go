package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sftpConcurrency is how many requests are in flight per file;
// sftpOpenSSHPacket is OpenSSH's largest read or write payload (its
// messages are at most 256 KiB, headers included).
const sftpConcurrency, sftpOpenSSHPacket = 64, 255 << 10

// sftpStore is a folder on an SSH backup server.
type sftpStore struct {
	conn *ssh.Client
	c    *sftp.Client
	base string
	name string
}

func openSFTP(ctx context.Context, cfg *StoreConfig) (Store, error) {
	if cfg.Host == "" || cfg.User == "" || cfg.Key == "" || cfg.Path == "" {
		return nil, errors.New("an sftp store needs host, user, key and path")
	}
	if cfg.KnownHosts == "" {
		// No default that skips the check: a backup server that cannot be
		// recognised could be anyone's.
		return nil, errors.New("an sftp store needs known_hosts: the file that holds the server's host key")
	}
	keyPEM, err := cfg.Key.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey([]byte(keyPEM))
	if err != nil {
		return nil, fmt.Errorf("the ssh key %s is not a private key: %w", cfg.Key, err)
	}
	hostKeys, err := knownhosts.New(cfg.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("reading known_hosts %s: %w", cfg.KnownHosts, err)
	}
	port := cfg.Port
	if port == 0 {
		port = 22
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(port))
	conn, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User: cfg.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys, Timeout: 30 * time.Second,
	})
	if err != nil {
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			if len(ke.Want) > 0 {
				return nil, fmt.Errorf("the host key of %s does not match %s: the server changed or someone is in between; refusing to connect", addr, cfg.KnownHosts)
			}
			return nil, fmt.Errorf("%s is not in %s: add its host key (ssh-keyscan -p %d %s) after checking it", addr, cfg.KnownHosts, port, cfg.Host)
		}
		return nil, fmt.Errorf("connecting to the backup server %s as %s: %w", addr, cfg.User, err)
	}
	c, err := newSFTPClient(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("starting sftp on %s: %w", addr, err)
	}
	s := &sftpStore{conn: conn, c: c, base: cfg.Path, name: fmt.Sprintf("sftp://%s@%s%s", cfg.User, addr, cfg.Path)}
	if _, err := c.Stat(cfg.Path); err != nil {
		s.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: folder %w", s, ErrNotFound)
		}
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return s, nil
}

// newSFTPClient starts sftp with many requests in flight per file and, on
// a server that announces OpenSSH's limits extension (OpenSSH 8.6 and
// later), with packets of 255 KiB instead of the protocol's portable
// 32 KiB: an eighth of the requests, each one read() and one write() on
// the server, for the same bytes.
func newSFTPClient(conn *ssh.Client) (*sftp.Client, error) {
	opts := []sftp.ClientOption{sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true), sftp.MaxConcurrentRequestsPerFile(sftpConcurrency)}
	c, err := sftp.NewClient(conn, opts...)
	if err != nil {
		return nil, err
	}
	if _, ok := c.HasExtension("limits@openssh.com"); !ok {
		return c, nil
	}
	c.Close()
	return sftp.NewClient(conn, append(opts, sftp.MaxPacketUnchecked(sftpOpenSSHPacket))...)
}

func (s *sftpStore) String() string { return s.name }

// Close ends the SSH connection first: closing the SFTP client first waits
// for the answers to every read still in flight, which after an abandoned
// download across a slow link is seconds.
func (s *sftpStore) Close() error {
	err := s.conn.Close()
	s.c.Close()
	return err
}

func (s *sftpStore) path(key string) string { return path.Join(s.base, key) }

func (s *sftpStore) Put(_ context.Context, key string, r io.Reader) (int64, error) {
	final := s.path(key)
	if err := s.c.MkdirAll(path.Dir(final)); err != nil {
		return 0, fmt.Errorf("creating the folder of %s on %s: %w", key, s, err)
	}
	tmp := tmpName(final)
	f, err := s.c.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY)
	if err != nil {
		return 0, fmt.Errorf("writing %s on %s: %w", key, s, err)
	}
	// ReadFrom is only concurrent when it knows the length; a backup
	// stream's is unknown, so ask for concurrency outright.
	n, err := f.ReadFromWithConcurrency(r, sftpConcurrency)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// posix-rename replaces atomically; the object appears complete.
		err = s.c.PosixRename(tmp, final)
	}
	if err != nil {
		_ = s.c.Remove(tmp)
		return n, fmt.Errorf("writing %s on %s: %w", key, s, err)
	}
	return n, nil
}

func (s *sftpStore) Get(_ context.Context, key string) (io.ReadCloser, error) {
	f, err := s.c.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s on %s: %w", key, s, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s on %s: %w", key, s, err)
	}
	// WriteTo keeps many read requests in flight; Read would send one at
	// a time for each small read of the decrypter.
	return readAhead(func(w *aheadWriter) error {
		_, err := f.WriteTo(w)
		return err
	}, f), nil
}

func (s *sftpStore) List(_ context.Context, prefix string) ([]Object, error) {
	var out []Object
	w := s.c.Walk(s.base)
	for w.Step() {
		if err := w.Err(); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("listing %s on %s: %w", prefix, s, err)
		}
		st := w.Stat()
		if st.IsDir() || strings.HasPrefix(st.Name(), tmpPrefix) {
			continue
		}
		key := strings.TrimPrefix(strings.TrimPrefix(w.Path(), s.base), "/")
		if strings.HasPrefix(key, prefix) {
			out = append(out, Object{Key: key, Size: st.Size(), ModTime: st.ModTime().UTC()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *sftpStore) Delete(_ context.Context, key string) error {
	err := s.c.Remove(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
