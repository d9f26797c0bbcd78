package workflows

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"
)

// Who decided is proven, not declared: a decision (a vote, an operator's
// action, the start of a run) carries a statement of what was decided,
// signed with one of the person's SSH keys that the environments file
// lists. The signed data is OpenSSH's SSHSIG form (PROTOCOL.sshsig, as git
// uses it): a namespace and the statement's SHA-512, so a signature made
// for drctl is never one for anything else, and any SSH key or agent can
// make it. Verifying is pure computation, so the workflow's validators do
// it deterministically.

// SignatureNamespace keeps drctl's signatures apart from any other use of
// the same key.
const SignatureNamespace = "drctl-decision@drctl"

// SignatureMaxSkew is how far a statement's time may be from the run's:
// a signed decision is used when made, never kept to be sent later.
const SignatureMaxSkew = 10 * time.Minute

// Channels a signed decision arrives by: the decider's own key through the
// CLI, or drctl serve vouching, with its key, for the Slack user or API
// token owner it checked.
const (
	ViaCLI   = "cli"
	ViaSlack = "slack"
	ViaAPI   = "api"
)

// Vouched says whether a decision that came via was signed by a voucher
// (drctl serve) rather than by the decider.
func Vouched(via string) bool { return via == ViaSlack || via == ViaAPI }

// Decisions a statement may record.
const (
	DecideApprove = "approve"
	DecideReject  = "reject"
	DecideStart   = "start"
)

// Statement is what a person signs: one decision about one run.
type Statement struct {
	Run    string `json:"run"`
	Action string `json:"action"` // approve, reject, retry, skip, abort, start
	// Target is the gate or step decided on; for start, the plan's hash.
	Target  string         `json:"target"`
	User    string         `json:"user"`
	Comment string         `json:"comment,omitempty"`
	With    map[string]any `json:"with,omitempty"`
	At      time.Time      `json:"at"`
	Nonce   string         `json:"nonce"`
	// Via is how the decision came: signed, so a voucher's signature is
	// never taken for the decider's own, nor the other way round.
	Via string `json:"via,omitempty"`
}

// Signature is a signed statement as it travels: the exact bytes signed,
// the public key (authorized_keys form) and the SSH signature (wire form,
// base64). Via says how it arrived: cli, or the service that vouched.
type Signature struct {
	Statement string `json:"statement"`
	Key       string `json:"key"`
	Sig       string `json:"sig"`
	Via       string `json:"via,omitempty"`
}

// SignedData is the SSHSIG blob a key signs for a statement.
func SignedData(statement []byte) []byte {
	sum := sha512.Sum512(statement)
	blob := []byte("SSHSIG")
	return append(blob, ssh.Marshal(struct {
		Namespace, Reserved, Hash string
		Digest                    []byte
	}{SignatureNamespace, "", "sha512", sum[:]})...)
}

// Sign signs st with signer, as a person's CLI or a vouching service does.
func Sign(signer ssh.Signer, st Statement, via string) (*Signature, error) {
	st.Via = via
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(rand.Reader, SignedData(b))
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return &Signature{Statement: string(b), Key: string(trimNewline(ssh.MarshalAuthorizedKey(signer.PublicKey()))),
		Sig: base64.StdEncoding.EncodeToString(ssh.Marshal(sig)), Via: via}, nil
}

// Verify checks that s is a valid signature by one of keys (authorized
// keys form: the decider's, or for a vouched decision the vouchers') and
// returns its statement and the key's fingerprint.
func (s *Signature) Verify(keys []string) (Statement, string, error) {
	var st Statement
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s.Key))
	if err != nil {
		return st, "", fmt.Errorf("the signature's key does not parse: %v", err)
	}
	fp := ssh.FingerprintSHA256(pub)
	listed := slices.ContainsFunc(keys, func(k string) bool {
		other, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
		return err == nil && ssh.FingerprintSHA256(other) == fp
	})
	if !listed {
		return st, fp, fmt.Errorf("key %s is not one the environments file lists for this person", fp)
	}
	raw, err := base64.StdEncoding.DecodeString(s.Sig)
	if err != nil {
		return st, fp, errors.New("the signature is not base64")
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(raw, &sig); err != nil {
		return st, fp, errors.New("the signature does not parse")
	}
	if err := pub.Verify(SignedData([]byte(s.Statement)), &sig); err != nil {
		return st, fp, fmt.Errorf("the signature does not match its statement: %v", err)
	}
	if err := json.Unmarshal([]byte(s.Statement), &st); err != nil {
		return st, fp, fmt.Errorf("the signed statement does not parse: %v", err)
	}
	if st.Via != s.Via {
		return st, fp, fmt.Errorf("the statement came via %q, not via %q", st.Via, s.Via)
	}
	return st, fp, nil
}

// proves checks that a verified statement says what a decision claims:
// this run, this action on this target, by this user, with this comment
// and these inputs, made now-ish and not seen before.
func (st Statement) proves(want Statement, now time.Time, seen map[string]bool) error {
	switch {
	case st.Run != want.Run:
		return fmt.Errorf("the signed statement is for run %s, not this one", st.Run)
	case st.Action != want.Action || st.Target != want.Target:
		return fmt.Errorf("the signed statement is to %s %s, not to %s %s", st.Action, st.Target, want.Action, want.Target)
	case st.User != want.User:
		return fmt.Errorf("the signed statement is %s's, not %s's", st.User, want.User)
	case st.Comment != want.Comment || !sameJSON(st.With, want.With):
		return errors.New("the signed statement's comment or inputs differ from the decision sent")
	case st.Nonce == "":
		return errors.New("the signed statement has no nonce")
	case seen[st.Nonce]:
		return errors.New("this signed statement was used already: a decision counts once")
	case st.At.Before(now.Add(-SignatureMaxSkew)) || st.At.After(now.Add(SignatureMaxSkew)):
		return fmt.Errorf("the signed statement was made at %s, more than %s from now (%s): sign the decision when you make it",
			st.At.UTC().Format(time.RFC3339), SignatureMaxSkew, now.UTC().Format(time.RFC3339))
	}
	return nil
}

func sameJSON(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	var x, y any
	return err1 == nil && err2 == nil && json.Unmarshal(ja, &x) == nil && json.Unmarshal(jb, &y) == nil && reflect.DeepEqual(x, y)
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// VoteStatement is what a vote on run says, as it is signed.
func VoteStatement(run string, v VoteInput) Statement {
	st := Statement{Run: run, Action: DecideApprove, Target: v.Gate, User: v.User, Comment: v.Comment}
	if !v.Approve {
		st.Action = DecideReject
	}
	return st
}
