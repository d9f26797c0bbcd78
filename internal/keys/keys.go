// Package keys finds the SSH key a person signs their decisions with: a
// key file they name, or the key in their ssh-agent that the environments
// file lists for them. The private key never leaves the agent or this
// process.
package keys

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// ErrNone says there is no key to sign with: no file named, and no agent
// or none of the listed keys in it.
var ErrNone = errors.New("no SSH key to sign with")

// Signer returns the signer of file, when given; else of the first key in
// ssh-agent (SSH_AUTH_SOCK) among listed (authorized_keys lines), or the
// agent's first key when nothing is listed. The returned closer releases
// the agent connection.
func Signer(file string, listed []string) (ssh.Signer, func(), error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the key: %w", err)
		}
		s, err := ssh.ParsePrivateKey(b)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, nil, fmt.Errorf("%s is protected by a passphrase: add it to ssh-agent (ssh-add %s) and leave out --key", file, file)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		return s, func() {}, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, ErrNone
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("reaching ssh-agent at %s: %w", sock, err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("asking ssh-agent for its keys: %w", err)
	}
	want := Fingerprints(listed)
	for _, s := range signers {
		if len(want) == 0 || slices.Contains(want, ssh.FingerprintSHA256(s.PublicKey())) {
			return s, func() { conn.Close() }, nil
		}
	}
	conn.Close()
	return nil, nil, ErrNone
}

// Fingerprints are the SHA256 fingerprints of the keys that parse among
// authorized_keys lines.
func Fingerprints(lines []string) []string {
	var out []string
	for _, l := range lines {
		if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(l)); err == nil {
			out = append(out, ssh.FingerprintSHA256(k))
		}
	}
	return out
}

// Nonce is a fresh random value that makes one signed decision unique.
func Nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Public returns the public keys, in authorized_keys form, of file (a
// public or an unencrypted private key), or else of every key in
// ssh-agent.
func Public(file string) ([]string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if pub, comment, _, _, err := ssh.ParseAuthorizedKey(b); err == nil {
			return []string{authorized(pub, comment)}, nil
		}
		if pub, err := os.ReadFile(file + ".pub"); err == nil {
			if k, comment, _, _, err := ssh.ParseAuthorizedKey(pub); err == nil {
				return []string{authorized(k, comment)}, nil
			}
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s holds no SSH key drctl can read: %w", file, err)
		}
		return []string{authorized(s.PublicKey(), "")}, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, errors.New("no ssh-agent (SSH_AUTH_SOCK is not set): name a key with --key")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("reaching ssh-agent at %s: %w", sock, err)
	}
	defer conn.Close()
	list, err := agent.NewClient(conn).List()
	if err != nil {
		return nil, fmt.Errorf("asking ssh-agent for its keys: %w", err)
	}
	var out []string
	for _, k := range list {
		out = append(out, authorized(k, k.Comment))
	}
	if len(out) == 0 {
		return nil, errors.New("ssh-agent holds no keys: ssh-add one, or name a key with --key")
	}
	return out, nil
}

func authorized(k ssh.PublicKey, comment string) string {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	if comment != "" {
		line += " " + comment
	}
	return line
}
