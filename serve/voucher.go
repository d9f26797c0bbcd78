package serve

import (
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/drctl/drctl/internal/keys"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/workflows"
)

// voucher is drctl serve's key, when the environments file gives one: it
// signs, for the Slack user or API token owner serve checked, what they
// decided, so a run that takes only signed decisions takes theirs and the
// report can prove them later. Without one, serve's decisions go unsigned.
type voucher struct{ signer ssh.Signer }

func loadVoucher(ctx context.Context, cfg *runbooks.Config) (*voucher, error) {
	if cfg.Voucher == nil || cfg.Voucher.Key == "" {
		return &voucher{}, nil
	}
	pem, err := cfg.Voucher.Key.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: voucher: key: %v", cfg.File, err)
	}
	s, err := ssh.ParsePrivateKey([]byte(pem))
	if err != nil {
		return nil, fmt.Errorf("%s: voucher: key (%s): %v", cfg.File, cfg.Voucher.Key, err)
	}
	if fp := ssh.FingerprintSHA256(s.PublicKey()); !slices.Contains(keys.Fingerprints(cfg.Voucher.SSHKeys), fp) {
		return nil, fmt.Errorf("%s: voucher: the private key (%s) is not among voucher: ssh_keys", cfg.File, fp)
	}
	return &voucher{signer: s}, nil
}

func (v *voucher) active() bool { return v != nil && v.signer != nil }

// sign signs st as decided via (slack or api); nil without a key.
func (v *voucher) sign(st workflows.Statement, via string) (*workflows.Signature, error) {
	if !v.active() {
		return nil, nil
	}
	st.At, st.Nonce = time.Now().UTC(), keys.Nonce()
	return workflows.Sign(v.signer, st, via)
}
