package main

import (
	"errors"
	"time"

	"github.com/drctl/drctl/internal/keys"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/workflows"
)

// signDecision signs a decision as st.User: with keyFile, or the key in
// ssh-agent that the environments file lists for them. With no key to
// sign with, the decision goes unsigned: a run that takes only signed
// decisions refuses it and says how to sign.
func signDecision(g *globals, keyFile string, st workflows.Statement) (*workflows.Signature, error) {
	var listed []string
	if cfg, err := runbooks.LoadConfig(g.config); err == nil && cfg.Users[st.User] != nil {
		listed = cfg.Users[st.User].SSHKeys
	}
	signer, done, err := keys.Signer(keyFile, listed)
	if errors.Is(err, keys.ErrNone) {
		return nil, nil
	}
	if err != nil {
		return nil, failed("signing the decision: %v", err)
	}
	defer done()
	st.At, st.Nonce = time.Now().UTC(), keys.Nonce()
	sig, err := workflows.Sign(signer, st, workflows.ViaCLI)
	if err != nil {
		return nil, failed("signing the decision: %v", err)
	}
	return sig, nil
}
