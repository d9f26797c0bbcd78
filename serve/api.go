package serve

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/runs"
	"github.com/drctl/drctl/workflows"
)

// apiHandler serves drctl's HTTP API, for tools that decide without Slack
// or the CLI (a paging tool's buttons, an internal portal):
//
//	GET  /api/runs/{run}          the run's status, as drctl status --json
//	POST /api/runs/{run}/approve  {"gate": "...", "comment": "..."}
//	POST /api/runs/{run}/reject   {"gate": "...", "comment": "..."}
//
// Every request carries "Authorization: Bearer TOKEN"; the token says who
// calls, and a vote is that caller's: the body cannot name anyone else.
// Answers are JSON; an error is {"error": "..."} with 400 (bad request),
// 401 (no or unknown token), 404 (no such run) or 409 (the run refused the
// vote, with its reason: not an approver, a second vote, a closed gate).
type apiHandler struct {
	cl      *runs.Client
	callers []caller
	vouch   *voucher
}

// caller is one configured caller, kept by the hash of their token so
// every comparison takes the same time whatever the token's length.
type caller struct {
	name string
	sum  [sha256.Size]byte
}

// minTokenLength keeps out tokens short enough to guess.
const minTokenLength = 24

func newAPIHandler(ctx context.Context, cl *runs.Client, cfg *runbooks.Config, vouch *voucher) (*apiHandler, error) {
	h := &apiHandler{cl: cl, vouch: vouch}
	seen := map[[sha256.Size]byte]string{}
	for _, name := range slices.Sorted(maps.Keys(cfg.API.Users)) {
		tok, err := cfg.API.Users[name].Resolve(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: api: user %s: %v", cfg.File, name, err)
		}
		if err := secret.CheckStrength(tok, minTokenLength); err != nil {
			return nil, fmt.Errorf("%s: api: user %s: the token (%s) %v", cfg.File, name, cfg.API.Users[name], err)
		}
		sum := sha256.Sum256([]byte(tok))
		if other, ok := seen[sum]; ok {
			return nil, fmt.Errorf("%s: api: users %s and %s have the same token; each caller needs their own", cfg.File, other, name)
		}
		seen[sum] = name
		h.callers = append(h.callers, caller{name: name, sum: sum})
	}
	return h, nil
}

func (h *apiHandler) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/runs/{run}", h.status)
	mux.HandleFunc("POST /api/runs/{run}/approve", func(w http.ResponseWriter, r *http.Request) { h.vote(w, r, true) })
	mux.HandleFunc("POST /api/runs/{run}/reject", func(w http.ResponseWriter, r *http.Request) { h.vote(w, r, false) })
}

// who is the caller a request's token names; "" when it names none.
func (h *apiHandler) who(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(tok))
	name := ""
	for _, c := range h.callers {
		if subtle.ConstantTimeCompare(sum[:], c.sum[:]) == 1 {
			name = c.name
		}
	}
	return name
}

func answer(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func refuse(w http.ResponseWriter, code int, format string, args ...any) {
	answer(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// authorized answers 401 to a request without a known token.
func (h *apiHandler) authorized(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := h.who(r)
	if name == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="drctl"`)
		refuse(w, http.StatusUnauthorized, "no known token: send Authorization: Bearer TOKEN, a token of a user under api: users in the environments file")
	}
	return name, name != ""
}

func (h *apiHandler) status(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.authorized(w, r); !ok {
		return
	}
	run := r.PathValue("run")
	st, _, err := h.cl.Status(r.Context(), run)
	if err != nil {
		h.failed(w, run, err)
		return
	}
	answer(w, http.StatusOK, st)
}

// voteBody is what a vote request may send: which gate (the open one
// when empty) and why. Who votes is the token's.
type voteBody struct {
	Gate    string `json:"gate"`
	Comment string `json:"comment"`
}

func (h *apiHandler) vote(w http.ResponseWriter, r *http.Request, approve bool) {
	user, ok := h.authorized(w, r)
	if !ok {
		return
	}
	var b voteBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil && !errors.Is(err, io.EOF) {
		refuse(w, http.StatusBadRequest, "the body must be JSON with gate and comment (the voter is the token's): %v", err)
		return
	}
	run := r.PathValue("run")
	vote := workflows.VoteInput{Gate: b.Gate, User: user, Approve: approve, Comment: b.Comment}
	if h.vouch.active() {
		// What serve signs names the gate.
		if vote.Gate == "" {
			gate, err := h.cl.OpenGate(r.Context(), run)
			if err != nil {
				h.failed(w, run, fmt.Errorf("run %s: %w", run, err))
				return
			}
			vote.Gate = gate
		}
		sig, err := h.vouch.sign(workflows.VoteStatement(run, vote), workflows.ViaAPI)
		if err != nil {
			refuse(w, http.StatusInternalServerError, "signing the vote: %v", err)
			return
		}
		vote.Signature = sig
	}
	var g workflows.GateStatus
	if err := h.cl.Update(r.Context(), run, workflows.UpdateVote, vote, &g); err != nil {
		h.failed(w, run, fmt.Errorf("run %s: %w", run, err))
		return
	}
	answer(w, http.StatusOK, g)
}

// failed answers a run's error: 404 when there is no such run, 409 with
// the reason when the run refused, 502 when Temporal could not be asked
// (err names the run).
func (h *apiHandler) failed(w http.ResponseWriter, run string, err error) {
	var nf *serviceerror.NotFound
	var refused *temporal.ApplicationError
	switch {
	case errors.As(err, &nf):
		refuse(w, http.StatusNotFound, "no run %s", run)
	case errors.As(err, &refused):
		refuse(w, http.StatusConflict, "%s", refused.Message())
	default:
		refuse(w, http.StatusBadGateway, "%v", err)
	}
}
