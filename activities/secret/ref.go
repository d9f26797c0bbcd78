// Package secret resolves secret references. A reference names where a secret
// lives ("env:NAME" or "file:/path"); only the activity that needs the value
// resolves it, so the value never reaches a plan, workflow history, a log
// line, a chat message or a report.
package secret

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
)

// Ref is a secret reference such as "env:PGPASSWORD" or "file:/run/secrets/pg".
type Ref string

// Check reports why r is not a well-formed reference, or nil.
func (r Ref) Check() error {
	scheme, rest, ok := strings.Cut(string(r), ":")
	switch {
	case !ok || rest == "":
		return errors.New(`must be a secret reference ("env:NAME" or "file:/path"), not a literal value`)
	case scheme == "env":
		for i, c := range rest {
			if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
				return fmt.Errorf("env:%s is not a valid environment variable name", rest)
			}
		}
		return nil
	case scheme == "file":
		if !strings.HasPrefix(rest, "/") {
			return fmt.Errorf("file:%s must be an absolute path", rest)
		}
		return nil
	}
	return fmt.Errorf(`unknown secret scheme %q: use "env:NAME" or "file:/path"`, scheme)
}

// Resolve reads the secret's value. Errors name the reference, never a value.
func (r Ref) Resolve(context.Context) (string, error) {
	if err := r.Check(); err != nil {
		return "", err
	}
	scheme, rest, _ := strings.Cut(string(r), ":")
	if scheme == "env" {
		v, ok := os.LookupEnv(rest)
		if !ok {
			return "", fmt.Errorf("secret %s: environment variable %s is not set", r, rest)
		}
		return v, nil
	}
	b, err := os.ReadFile(rest)
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", r, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// MinEntropyBits is the least a key that signs or authenticates must carry,
// as estimated from its own characters.
const MinEntropyBits = 64

// CheckStrength reports why value is too weak to sign or authenticate with:
// shorter than minLen, or made of too few distinct characters to be
// guessed hard (an empty value, sixteen times the same letter). The error
// describes the value without showing it.
func CheckStrength(value string, minLen int) error {
	if strings.TrimSpace(value) == "" {
		return errors.New("is empty")
	}
	if len(value) < minLen {
		return fmt.Errorf("is %d characters; it must be at least %d (e.g. openssl rand -hex 32)", len(value), minLen)
	}
	if bits := entropyBits(value); bits < MinEntropyBits {
		return fmt.Errorf("repeats too few characters to be hard to guess (about %.0f bits, at least %d needed; e.g. openssl rand -hex 32)", bits, MinEntropyBits)
	}
	return nil
}

// entropyBits estimates a string's entropy from its character frequencies.
func entropyBits(s string) float64 {
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	var perChar float64
	for _, c := range counts {
		p := float64(c) / float64(n)
		perChar -= p * math.Log2(p)
	}
	return perChar * float64(n)
}
