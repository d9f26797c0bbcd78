package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/drctl/drctl/workflows"
)

// Checked is one decision of a run (a vote, an operator's action, the
// start) as checked again: Proven when its signature holds against the
// environments file's keys and says what the run recorded.
type Checked struct {
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Kind    string    `json:"kind"`
	Step    string    `json:"step,omitempty"`
	Signer  string    `json:"signer,omitempty"`
	Via     string    `json:"via,omitempty"`
	Proven  bool      `json:"proven"`
	Problem string    `json:"problem,omitempty"`
}

// actions are the statement's action for each kind of decision event.
var actions = map[string]string{"approved": "approve", "rejected": "reject", "retry": "retry", "skip": "skip", "abort": "abort", "initiator": "start"}

// VerifyDecisions checks every decision in the timeline of run id again,
// its signature against keys (each person's, from the environments file),
// or a vouched one against vouchers (drctl serve's): a report that was
// doctored, or a key that is not the person's, shows.
func VerifyDecisions(id string, s RunStatus, keys map[string][]string, vouchers []string) []Checked {
	var out []Checked
	for _, e := range s.Timeline {
		action, decision := actions[e.Kind]
		if !decision || e.Signature == nil && !strings.HasSuffix(e.Message, "[unsigned]") {
			continue
		}
		c := Checked{At: e.At, By: e.By, Kind: e.Kind, Step: e.Step}
		if e.Signature == nil {
			c.Problem = "unsigned: nothing proves who decided"
			out = append(out, c)
			continue
		}
		c.Via = e.Signature.Via
		signers := keys[e.By]
		if workflows.Vouched(e.Signature.Via) {
			signers = vouchers
		}
		st, fp, err := e.Signature.Verify(signers)
		c.Signer = fp
		switch {
		case err != nil:
			c.Problem = err.Error()
		case st.Run != id:
			c.Problem = fmt.Sprintf("signed for run %s", st.Run)
		case st.User != e.By:
			c.Problem = fmt.Sprintf("signed as %s", st.User)
		case st.Action != action || action != "start" && st.Target != e.Step:
			c.Problem = fmt.Sprintf("signed to %s %s, recorded as %s %s", st.Action, st.Target, e.Kind, e.Step)
		default:
			c.Proven = true
		}
		out = append(out, c)
	}
	return out
}
