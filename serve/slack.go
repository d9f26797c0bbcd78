package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/drctl/drctl/activities/chat"
	secretpkg "github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/runs"
	"github.com/drctl/drctl/workflows"
)

// slackHandler is the endpoint Slack sends button clicks, modal
// submissions and slash commands to. Every request must carry the app's
// signature, made less than five minutes ago; anything else gets 401 and
// changes nothing.
type slackHandler struct {
	cl     *runs.Client
	cfg    *runbooks.Config
	secret string
	api    *slack.Client
	http   *http.Client

	mu   sync.Mutex
	seen map[string]time.Time // clicks already handled (Slack retries)

	vouch *voucher
}

func newSlackHandler(ctx context.Context, cl *runs.Client, cfg *runbooks.Config, vouch *voucher) (*slackHandler, error) {
	app := cfg.Slack
	if app == nil {
		return nil, fmt.Errorf("%s has no slack: section (signing_secret, token)", cfg.File)
	}
	secret, err := app.SigningSecret.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	// Slack's signing secrets are 32 hex characters; anything weaker (an
	// empty variable above all) would let anyone sign requests.
	if err := secretpkg.CheckStrength(secret, 32); err != nil {
		return nil, fmt.Errorf("%s: slack: signing_secret (%s) %v", cfg.File, app.SigningSecret, err)
	}
	token, err := app.Token.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	var opts []slack.Option
	if u := chat.APIURL(); u != "" {
		opts = append(opts, slack.OptionAPIURL(u))
	}
	return &slackHandler{cl: cl, cfg: cfg, secret: secret, api: slack.New(token, opts...),
		http: &http.Client{Timeout: 10 * time.Second}, seen: map[string]time.Time{}, vouch: vouch}, nil
}

func (h *slackHandler) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /slack/interactions", h.interactions)
	mux.HandleFunc("POST /slack/commands", h.commands)
}

// maxSlackBody is more than any interaction Slack sends drctl: its
// messages and forms are small.
const maxSlackBody = 128 << 10

// verified reads the body and checks its signature and age.
func (h *slackHandler) verified(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	body, err := readBody(w, r, maxSlackBody)
	if err != nil {
		http.Error(w, "cannot read the request", http.StatusBadRequest)
		return nil, false
	}
	sv, err := slack.NewSecretsVerifier(r.Header, h.secret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		// Forged, stale or replayed from long ago: refused, nothing done.
		http.Error(w, "request not signed by the Slack app (or older than five minutes)", http.StatusUnauthorized)
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return nil, false
	}
	// The signature covers the timestamp and the body; together they name
	// this request, so a copy of it sent again is known as such.
	sum := sha256.Sum256(append([]byte(r.Header.Get("X-Slack-Request-Timestamp")+":"), body...))
	form.Set(requestDigest, hex.EncodeToString(sum[:]))
	return form, true
}

// readBody reads a body of at most limit bytes into one buffer of the
// size it announced, not a growing one, so a half-sent body holds no more
// memory than it declared.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength < 0 {
		return io.ReadAll(rd)
	}
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	body := make([]byte, r.ContentLength)
	_, err := io.ReadFull(rd, body)
	return body, err
}

// requestDigest is the form key verified files the request's digest under;
// Slack's own keys never start with a dot.
const requestDigest = ".digest"

// identity is the approver name of a Slack user: from the users map, else
// the profile's email (identity: email), else the Slack id.
func (h *slackHandler) identity(ctx context.Context, slackID string) string {
	if name, ok := h.cfg.Slack.Users[slackID]; ok {
		return name
	}
	if h.cfg.Slack.Identity == "email" {
		if u, err := h.api.GetUserInfoContext(ctx, slackID); err == nil && u.Profile.Email != "" {
			return u.Profile.Email
		}
	}
	return slackID
}

// once records a click; false when Slack already delivered it (a retry).
func (h *slackHandler) once(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, at := range h.seen {
		if time.Since(at) > time.Hour {
			delete(h.seen, k)
		}
	}
	if _, ok := h.seen[key]; ok {
		return false
	}
	h.seen[key] = time.Now()
	return true
}

func (h *slackHandler) interactions(w http.ResponseWriter, r *http.Request) {
	form, ok := h.verified(w, r)
	if !ok {
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		if len(cb.ActionCallback.BlockActions) == 0 {
			w.WriteHeader(http.StatusOK)
			return
		}
		a := cb.ActionCallback.BlockActions[0]
		var v chat.ButtonValue
		if json.Unmarshal([]byte(a.Value), &v) != nil || v.Run == "" {
			w.WriteHeader(http.StatusOK)
			return
		}
		if !h.once(strings.Join([]string{cb.User.ID, a.ActionID, a.ActionTs, v.Run, v.Gate}, "|")) {
			w.WriteHeader(http.StatusOK) // a retry of a click already counted
			return
		}
		user := h.identity(ctx, cb.User.ID)
		if a.ActionID == chat.ActionReject {
			h.openRejectModal(ctx, cb, v)
			w.WriteHeader(http.StatusOK)
			return
		}
		g, err := h.vote(ctx, v, user, true, "approved in Slack")
		w.WriteHeader(http.StatusOK)
		if err != nil {
			h.respond(cb.ResponseURL, map[string]any{"response_type": "ephemeral", "replace_original": false, "text": "Your approval did not count: " + err.Error()})
			return
		}
		h.respond(cb.ResponseURL, map[string]any{"replace_original": true, "text": summary(g),
			"blocks": chat.GateBlocks(gateInput(v, g), summary(g), g.Open)})
	case slack.InteractionTypeViewSubmission:
		var meta struct {
			chat.ButtonValue
			ResponseURL string `json:"response_url"`
		}
		_ = json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta)
		reason := cb.View.State.Values["reason"]["reason_input"].Value
		g, err := h.vote(ctx, meta.ButtonValue, h.identity(ctx, cb.User.ID), false, reason)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"response_action": "errors", "errors": map[string]string{"reason": err.Error()}})
			return
		}
		w.WriteHeader(http.StatusOK)
		h.respond(meta.ResponseURL, map[string]any{"replace_original": true, "text": summary(g),
			"blocks": chat.GateBlocks(gateInput(meta.ButtonValue, g), summary(g), false)})
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// openRejectModal asks the rejecter why; the answer goes in the timeline.
func (h *slackHandler) openRejectModal(ctx context.Context, cb slack.InteractionCallback, v chat.ButtonValue) {
	meta, _ := json.Marshal(map[string]string{"run": v.Run, "gate": v.Gate, "response_url": cb.ResponseURL})
	input := slack.NewPlainTextInputBlockElement(slack.NewTextBlockObject(slack.PlainTextType, "why", false, false), "reason_input")
	input.Multiline = true
	view := slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false),
		Submit:          slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false),
		Close:           slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false),
		PrivateMetadata: string(meta),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("reason", slack.NewTextBlockObject(slack.PlainTextType, "Why reject?", false, false), nil, input),
		}},
	}
	if _, err := h.api.OpenViewContext(ctx, cb.TriggerID, view); err != nil {
		h.respond(cb.ResponseURL, map[string]any{"response_type": "ephemeral", "replace_original": false,
			"text": "Could not open the reason form (" + err.Error() + "); reject with drctl reject instead."})
	}
}

// vote sends the vote as the gate's workflow update; a refusal comes back
// with the validator's reason.
func (h *slackHandler) vote(ctx context.Context, v chat.ButtonValue, user string, approve bool, comment string) (workflows.GateStatus, error) {
	var g workflows.GateStatus
	vote := workflows.VoteInput{Gate: v.Gate, User: user, Approve: approve, Comment: comment}
	var err error
	if vote.Signature, err = h.vouch.sign(workflows.VoteStatement(v.Run, vote), workflows.ViaSlack); err != nil {
		return g, err
	}
	err = h.cl.Update(ctx, v.Run, workflows.UpdateVote, vote, &g)
	if err != nil {
		return g, fmt.Errorf("%s", plainReason(err))
	}
	return g, nil
}

// plainReason strips Temporal's wrapping from a refused update.
func plainReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 && strings.Contains(msg[:i], "(") {
		msg = msg[i+3:]
	}
	return msg
}

func gateInput(v chat.ButtonValue, g workflows.GateStatus) chat.ApprovalInput {
	return chat.ApprovalInput{Gate: v.Gate, Prompt: g.Prompt, Show: g.Show, Users: g.Users, Quorum: g.Quorum,
		Run: stepio.RunContext{ID: v.Run}}
}

func summary(g workflows.GateStatus) string {
	var parts []string
	n := 0
	for _, v := range g.Votes {
		if v.Approve {
			n++
			parts = append(parts, "approved by "+v.User)
		} else {
			parts = append(parts, fmt.Sprintf("rejected by %s: %s", v.User, v.Comment))
		}
	}
	return fmt.Sprintf("%s (%d of %d)", strings.Join(parts, ", "), n, g.Quorum)
}

// respond answers through Slack's response_url.
func (h *slackHandler) respond(responseURL string, body map[string]any) {
	if responseURL == "" {
		return
	}
	b, _ := json.Marshal(body)
	resp, err := h.http.Post(responseURL, "application/json", bytes.NewReader(b))
	if err == nil {
		resp.Body.Close()
	}
}

// commands handles /drctl run | status | list.
func (h *slackHandler) commands(w http.ResponseWriter, r *http.Request) {
	form, ok := h.verified(w, r)
	if !ok {
		return
	}
	reply := func(text string) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"response_type": "ephemeral", "text": text})
	}
	if !h.once("command|" + form.Get(requestDigest)) {
		// A signed command sent again (Slack does not retry commands):
		// it ran once already.
		reply("this command was already received; it is not run again")
		return
	}
	args := strings.Fields(form.Get("text"))
	ctx := r.Context()
	user := h.identity(ctx, form.Get("user_id"))
	switch {
	case len(args) >= 2 && args[0] == "run":
		reply(h.slashRun(ctx, user, form.Get("user_id"), args[1], args[2:]))
	case len(args) == 2 && args[0] == "status":
		st, _, err := h.cl.Status(ctx, args[1])
		if err != nil {
			reply(err.Error())
			return
		}
		var b strings.Builder
		runs.PrintStatus(&b, st)
		reply("```" + b.String() + "```")
	case len(args) == 1 && args[0] == "list":
		resp, err := h.cl.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: h.cl.Namespace, PageSize: 10,
			Query: fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowName)})
		if err != nil {
			reply("listing runs: " + err.Error())
			return
		}
		var b strings.Builder
		for _, e := range resp.Executions {
			fmt.Fprintf(&b, "%s  %s\n", e.GetExecution().GetWorkflowId(), strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_")))
		}
		reply("```" + b.String() + "```")
	default:
		reply("usage: /drctl run RUNBOOK env=NAME [param=value]... | /drctl status RUN | /drctl list")
	}
}

// slashRun starts a runbook for a Slack user allowed to start runbooks on
// that environment.
func (h *slackHandler) slashRun(ctx context.Context, user, slackID, name string, kv []string) string {
	params := map[string]string{}
	env := ""
	for _, p := range kv {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Sprintf("%q: write name=value", p)
		}
		if k == "env" {
			env = v
		} else {
			params[k] = v
		}
	}
	if env == "" {
		return "say which environment: env=NAME"
	}
	allowed := h.cfg.Slack.Starters[env]
	if !slices.Contains(allowed, "*") && !slices.Contains(allowed, user) && !slices.Contains(allowed, slackID) {
		return fmt.Sprintf("%s may not start runbooks on %s from Slack", user, env)
	}
	// Runbooks come from the configured folder, else the binary's library.
	dir, read := h.cfg.Slack.Runbooks, os.ReadFile
	if dir == "" {
		dir, read = "library", runbooks.Library.ReadFile
	}
	if stepio.NameProblem("runbook", name) != "" {
		return "a runbook is named by its file name in " + dir
	}
	file := path.Join(dir, name+".yaml")
	src, err := read(file)
	if err != nil {
		return fmt.Sprintf("no runbook %s in %s", name, dir)
	}
	plan, diags := runbooks.Compile(file, src, runbooks.Options{Config: h.cfg, Env: env, Params: params})
	if len(diags) > 0 {
		return "the plan is refused:\n" + diags.Lines()
	}
	id, err := h.cl.Start(ctx, plan, user, "", func(id string) (*workflows.Signature, error) {
		return h.vouch.sign(workflows.Statement{Run: id, Action: workflows.DecideStart, Target: plan.Hash, User: user}, workflows.ViaSlack)
	})
	if err != nil {
		return err.Error()
	}
	reply := fmt.Sprintf("started %s on %s as run %s: %s", name, env, id, h.cl.URL(id))
	if link := h.threadLink(ctx, id, h.cfg.Environments[env]); link != "" {
		reply += "\nits thread: " + link
	}
	return reply
}

// threadLink waits briefly for a new run's first post and returns a link
// to its thread, or "": Slack wants the reply within three seconds.
func (h *slackHandler) threadLink(ctx context.Context, id string, env *runbooks.Environment) string {
	if env == nil || env.Slack == nil {
		return ""
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if st, _, err := h.cl.Status(ctx, id); err == nil && st.Thread != "" {
			link, err := h.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: env.Slack.Channel, Ts: st.Thread})
			if err != nil {
				return ""
			}
			return link
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(200 * time.Millisecond):
		}
	}
	return ""
}
