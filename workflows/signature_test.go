package workflows

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"golang.org/x/crypto/ssh"
)

// people makes an SSH key for each name: their signers, and the keys a
// plan lists for them.
func people(t *testing.T, names ...string) (map[string]ssh.Signer, map[string][]string) {
	t.Helper()
	signers, listed := map[string]ssh.Signer{}, map[string][]string{}
	for _, n := range names {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		signers[n] = s
		listed[n] = []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))}
	}
	return signers, listed
}

// signedAt sends an update at workflow time after whose argument make
// builds then, so its statement can carry that time.
func (h *harness) signedAt(after time.Duration, name string, make func(now time.Time) any, outcome *error) {
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { *outcome = err },
			OnComplete: func(any, error) {},
		}, make(h.env.Now()))
	}, after)
}

func signed(t *testing.T, key ssh.Signer, st Statement) *Signature {
	t.Helper()
	if st.Nonce == "" {
		st.Nonce = fmt.Sprint(time.Now().UnixNano())
	}
	sig, err := Sign(key, st, "cli")
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestSignedVotes: on a policy that takes only signed votes, a vote is
// refused unsigned, signed with another person's key, signed for another
// run, made an hour before it is sent, or sent again on another gate; a
// vote signed by the voter's own key for this gate, now, counts.
func TestSignedVotes(t *testing.T) {
	keys, listed := people(t, "ana", "ben", "chen")
	h := newHarness(t)
	h.on("test.Op", echo)
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "run-a"})
	vote := func(user string, key ssh.Signer, edit func(*Statement)) func(time.Time) any {
		return func(now time.Time) any {
			st := Statement{Run: "run-a", Action: DecideApprove, Target: "gate", User: user, At: now}
			if edit != nil {
				edit(&st)
			}
			return VoteInput{Gate: "gate", User: user, Approve: true, Signature: signed(t, key, st)}
		}
	}
	var unsigned, asBen, otherRun, stale, first, second error
	h.update(time.Minute, UpdateVote, VoteInput{Gate: "gate", User: "ben", Approve: true}, &unsigned)
	h.signedAt(2*time.Minute, UpdateVote, vote("ben", keys["ana"], nil), &asBen)
	h.signedAt(3*time.Minute, UpdateVote, vote("ben", keys["ben"], func(s *Statement) { s.Run = "run-b" }), &otherRun)
	h.signedAt(4*time.Minute, UpdateVote, vote("ben", keys["ben"], func(s *Statement) { s.At = s.At.Add(-time.Hour) }), &stale)
	var sent VoteInput
	h.signedAt(5*time.Minute, UpdateVote, func(now time.Time) any { sent = vote("ben", keys["ben"], nil)(now).(VoteInput); return sent }, &first)
	h.signedAt(6*time.Minute, UpdateVote, vote("chen", keys["chen"], nil), &second)
	var onGate2 error
	// ben's signed vote sent again, for the second gate, once it opens.
	h.signedAt(7*time.Minute, UpdateVote, func(time.Time) any { v := sent; v.Gate = "gate2"; return v }, &onGate2)
	h.signedAt(8*time.Minute, UpdateVote, func(now time.Time) any {
		return VoteInput{Gate: "gate2", User: "chen", Approve: true,
			Signature: signed(t, keys["chen"], Statement{Run: "run-a", Action: DecideApprove, Target: "gate2", User: "chen", At: now})}
	}, new(error))
	p := gatePlan(2, false)
	p.Steps = append(p.Steps, Step{ID: "gate2", Approval: &Approval{Prompt: "drop?", Users: []string{"ben", "chen"}, Quorum: 1, Timeout: Duration(time.Hour)}})
	p.Signed, p.Signers = true, listed
	res, st := h.run(p, "ana")
	for want, err := range map[string]error{
		"takes only signed decisions":            unsigned,
		"is not one the environments file lists": asBen,
		"for run run-b":                          otherRun,
		"more than 10m0s from now":               stale,
		"to approve gate, not to approve gate2":  onGate2,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a vote that should be refused with %q: %v", want, err)
		}
	}
	if first != nil || second != nil {
		t.Fatalf("signed votes refused: %v; %v", first, second)
	}
	if res.State != StateSucceeded {
		t.Fatalf("%+v", res)
	}
	v := st.Gates[0].Votes[0]
	if v.User != "ben" || v.Signer != ssh.FingerprintSHA256(keys["ben"].PublicKey()) || v.Signature == nil {
		t.Fatalf("the vote does not record its signer: %+v", v)
	}
}

// TestSignedStatementCountsOnce: a statement whose nonce was used is
// refused, whatever it says.
func TestSignedStatementCountsOnce(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	st := Statement{Run: "r", Action: ActionRetry, Target: "restore", User: "ben", At: now, Nonce: "n1"}
	if err := st.proves(st, now, map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	if err := st.proves(st, now, map[string]bool{"n1": true}); err == nil || !strings.Contains(err.Error(), "used already") {
		t.Fatalf("a replayed statement: %v", err)
	}
}

// TestActionsOnASourceNeedAnApproverSignature: retrying a paused step of a
// source environment with other inputs is refused from someone who is not
// an approver, and accepted signed by an approver; the changed inputs are
// in the timeline.
func TestActionsOnASourceNeedAnApproverSignature(t *testing.T) {
	keys, listed := people(t, "ana", "ben", "mallory")
	h := newHarness(t)
	var tries atomic.Int32
	h.on("test.Op", func(_ context.Context, in map[string]any) (map[string]any, error) {
		if in["id"] == "fragile" && tries.Add(1) == 1 {
			return nil, temporal.NewNonRetryableApplicationError("disk full", "Test", nil)
		}
		return in, nil
	})
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "run-a"})
	retry := func(user string) func(time.Time) any {
		return func(now time.Time) any {
			with := map[string]any{"size": 2}
			return ActionInput{Step: "fragile", Action: ActionRetry, By: user, With: with,
				Signature: signed(t, keys[user], Statement{Run: "run-a", Action: ActionRetry, Target: "fragile", User: user, With: with, At: now})}
		}
	}
	var byMallory, byBen error
	h.signedAt(time.Minute, UpdateAction, retry("mallory"), &byMallory)
	h.signedAt(2*time.Minute, UpdateAction, retry("ben"), &byBen)
	s := op("fragile", map[string]any{"size": 1})
	s.OnError = OnErrorPause
	p := Plan{Role: "source", Environment: "production", Signed: true, Signers: listed, Approvers: []string{"ana", "ben"},
		Steps: []Step{s}}
	// Signed runs on a source need a signed start: given here.
	h.env.ExecuteWorkflow(Runbook, RunInput{Plan: withVersion(p), Initiator: "ana",
		Signature: signed(t, keys["ana"], Statement{Run: "run-a", Action: DecideStart, User: "ana", At: h.env.Now()})})
	res := runResult(t, h.env.GetWorkflowResult)
	if byMallory == nil || !strings.Contains(byMallory.Error(), "mallory is not an approver of environment production") {
		t.Errorf("mallory's retry: %v", byMallory)
	}
	if byBen != nil || res.State != StateSucceeded {
		t.Fatalf("ben's retry: %v; run %+v", byBen, res)
	}
	st := status(t, h)
	if !hasEvent(st, "fragile", "retry", "ben") || !strings.Contains(fmt.Sprint(st.Timeline), `with {"size":2} [signed SHA256:`) {
		t.Fatalf("the retry and its inputs are not in the timeline: %+v", st.Timeline)
	}
}

// TestSignedStartOnASource: a run on a source whose decisions are signed
// is refused, before any step, when its start is not signed by its
// initiator.
func TestSignedStartOnASource(t *testing.T) {
	keys, listed := people(t, "ana", "ben")
	for name, sig := range map[string]func(now time.Time) *Signature{
		"unsigned": func(time.Time) *Signature { return nil },
		"signed by ben": func(now time.Time) *Signature {
			return signed(t, keys["ben"], Statement{Run: "run-a", Action: DecideStart, User: "ana", At: now})
		},
		"for another plan": func(now time.Time) *Signature {
			return signed(t, keys["ana"], Statement{Run: "run-a", Action: DecideStart, Target: "other", User: "ana", At: now})
		},
	} {
		h := newHarness(t)
		h.on("test.Op", echo)
		h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "run-a"})
		p := withVersion(Plan{Role: "source", Environment: "production", Signed: true, Signers: listed, Steps: []Step{op("change", nil)}})
		h.env.ExecuteWorkflow(Runbook, RunInput{Plan: p, Initiator: "ana", Signature: sig(h.env.Now())})
		res := runResult(t, h.env.GetWorkflowResult)
		if res.State != StateRefused || !strings.Contains(res.Error, "the run's start is not proven") || len(h.calls) != 0 {
			t.Errorf("a start %s: %+v, ran %v", name, res, h.calls)
		}
	}
}

func withVersion(p Plan) Plan {
	p.Version = PlanVersion
	return p
}

func status(t *testing.T, h *harness) Status {
	t.Helper()
	v, err := h.env.QueryWorkflow(QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestVouchedVotes: a vote that came through drctl serve (Slack, the API)
// is proven by serve's key, never by the voter's own nor relabelled.
func TestVouchedVotes(t *testing.T) {
	keys, listed := people(t, "ana", "ben", "serve")
	h := newHarness(t)
	h.on("test.Op", echo)
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "run-a"})
	vote := func(user string, key ssh.Signer, via string, relabel string) func(time.Time) any {
		return func(now time.Time) any {
			sig, err := Sign(key, Statement{Run: "run-a", Action: DecideApprove, Target: "gate", User: user, At: now, Nonce: fmt.Sprint(now.UnixNano())}, via)
			if err != nil {
				t.Fatal(err)
			}
			if relabel != "" {
				sig.Via = relabel
			}
			return VoteInput{Gate: "gate", User: user, Approve: true, Signature: sig}
		}
	}
	var ownKey, relabelled, vouched error
	h.signedAt(time.Minute, UpdateVote, vote("ben", keys["ben"], ViaSlack, ""), &ownKey)
	h.signedAt(2*time.Minute, UpdateVote, vote("ben", keys["ben"], ViaCLI, ViaSlack), &relabelled)
	h.signedAt(3*time.Minute, UpdateVote, vote("ben", keys["serve"], ViaSlack, ""), &vouched)
	p := gatePlan(1, false)
	p.Signed, p.Signers, p.Vouchers = true, map[string][]string{"ana": listed["ana"], "ben": listed["ben"]}, listed["serve"]
	res, st := h.run(p, "ana")
	if ownKey == nil || relabelled == nil {
		t.Errorf("a Slack vote signed by the voter: %v; a CLI vote relabelled as Slack: %v", ownKey, relabelled)
	}
	if vouched != nil || res.State != StateSucceeded {
		t.Fatalf("serve's vote for ben: %v; run %+v", vouched, res)
	}
	if !strings.Contains(fmt.Sprint(st.Timeline), "via slack]") {
		t.Errorf("the timeline does not say the vote came via Slack: %+v", st.Timeline)
	}
}

// TestLastVoteFromTheCLI: where the policy says so, the vote that passes a
// gate is signed by the voter's own key; earlier votes may come via serve.
func TestLastVoteFromTheCLI(t *testing.T) {
	keys, listed := people(t, "ana", "ben", "chen", "serve")
	h := newHarness(t)
	h.on("test.Op", echo)
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "run-a"})
	vote := func(user string, key ssh.Signer, via string) func(time.Time) any {
		return func(now time.Time) any {
			sig, err := Sign(key, Statement{Run: "run-a", Action: DecideApprove, Target: "gate", User: user, At: now, Nonce: fmt.Sprint(now.UnixNano())}, via)
			if err != nil {
				t.Fatal(err)
			}
			return VoteInput{Gate: "gate", User: user, Approve: true, Signature: sig}
		}
	}
	var first, lastViaSlack, lastViaCLI error
	h.signedAt(time.Minute, UpdateVote, vote("ben", keys["serve"], ViaSlack), &first)
	h.signedAt(2*time.Minute, UpdateVote, vote("chen", keys["serve"], ViaSlack), &lastViaSlack)
	h.signedAt(3*time.Minute, UpdateVote, vote("chen", keys["chen"], ViaCLI), &lastViaCLI)
	p := gatePlan(2, false)
	p.Signed, p.LastVoteCLI, p.Vouchers = true, true, listed["serve"]
	p.Signers = map[string][]string{"ana": listed["ana"], "ben": listed["ben"], "chen": listed["chen"]}
	res, _ := h.run(p, "ana")
	if first != nil || lastViaCLI != nil || res.State != StateSucceeded {
		t.Fatalf("ben via Slack: %v; chen via the CLI: %v; run %+v", first, lastViaCLI, res)
	}
	if lastViaSlack == nil || !strings.Contains(lastViaSlack.Error(), "signed with the voter's own key") {
		t.Fatalf("the last vote via Slack: %v", lastViaSlack)
	}
}

// TestActionsAreAnnouncedInTheThread: where the environment keeps a board,
// an operator's action and its changed inputs are posted in the run's
// thread.
func TestActionsAreAnnouncedInTheThread(t *testing.T) {
	h := newHarness(t)
	var tries atomic.Int32
	h.on("test.Op", func(_ context.Context, in map[string]any) (map[string]any, error) {
		if in["id"] == "fragile" && tries.Add(1) == 1 {
			return nil, temporal.NewNonRetryableApplicationError("disk full", "Test", nil)
		}
		return in, nil
	})
	var posts []string
	for _, name := range []string{"chat.Post", "chat.Board"} {
		h.env.RegisterActivityWithOptions(func(_ context.Context, in map[string]any) (map[string]any, error) {
			if text, ok := in["text"].(string); ok {
				posts = append(posts, text)
			}
			return map[string]any{"thread": "1.1"}, nil
		}, activity.RegisterOptions{Name: name})
	}
	h.update(time.Minute, UpdateAction, ActionInput{Step: "fragile", Action: ActionRetry, By: "ben", With: map[string]any{"size": 2}}, new(error))
	s := op("fragile", map[string]any{"size": 1})
	s.OnError = OnErrorPause
	res, _ := h.run(Plan{Env: map[string]any{"board": true}, Steps: []Step{s}}, "ana")
	if res.State != StateSucceeded || !strings.Contains(strings.Join(posts, "\n"), `ben decided to retry step fragile with {"size":2} (unsigned)`) {
		t.Fatalf("%+v; posts %q", res, posts)
	}
}

// TestVersion1PlansRunAsTheyRan: a plan recorded before plans carried step
// flags runs its wait as a timer and hands report.write the run's status,
// as the interpreter then did by the step types' names.
func TestVersion1PlansRunAsTheyRan(t *testing.T) {
	h := newHarness(t)
	var got map[string]any
	h.env.RegisterActivityWithOptions(func(_ context.Context, in map[string]any) (map[string]any, error) {
		got = in
		return map[string]any{}, nil
	}, activity.RegisterOptions{Name: "report.Write"})
	p := Plan{Version: 1, Steps: []Step{
		{ID: "pause", Uses: "wait", Activity: "ops.Wait", With: map[string]any{"duration": "2h"}, Retry: Retry{Attempts: 1}},
		{ID: "report", Uses: "report.write", Activity: "report.Write", Retry: Retry{Attempts: 1}},
	}}
	h.env.ExecuteWorkflow(Runbook, RunInput{Plan: p, Initiator: "ana"})
	if res := runResult(t, h.env.GetWorkflowResult); res.State != StateSucceeded {
		t.Fatalf("%+v", res)
	}
	if got[GetsRunStatus] == nil {
		t.Fatalf("report.write of a version 1 plan did not get the run's status: %v", got)
	}
}
