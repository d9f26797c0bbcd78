// Package runbooks is the runbook language: it parses YAML runbooks and the
// environments file, checks every key, type, reference and expression, and
// compiles a runbook into a workflows.Plan bound to one environment.
package runbooks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/workflows"
)

// Options bind a runbook to an environment and its parameters. Without a
// Config (drctl validate) the checks that need an environment are skipped.
type Options struct {
	Config *Config
	Env    string
	Params map[string]string
}

// Runbook kinds. A recovery runbook restores an environment after a
// disaster, so it is the one kind allowed to restore into a source
// environment, and only behind an approval gate.
var runbookKinds = []string{"recovery", "drill", "backup", "check"}

const (
	defaultApprovalTimeout = time.Hour
	// defaultAttempts is the attempt count of a step that sets none: a
	// retry is something a runbook author asks for.
	defaultAttempts = 1
)

type runbookSrc struct {
	Runbook     string     `yaml:"runbook" drctl:"required"`
	Description string     `yaml:"description"`
	Kind        string     `yaml:"kind" enum:"recovery,drill,backup,check"`
	Params      *yaml.Node `yaml:"params"`
	Targets     struct {
		RTO workflows.Duration `yaml:"rto"`
		RPO workflows.Duration `yaml:"rpo"`
		// LostAt is a template of params, e.g. ${{ params.failure_time }}.
		LostAt *yaml.Node `yaml:"lost_at"`
	} `yaml:"targets"`
	Steps     []*stepSrc `yaml:"steps" drctl:"required"`
	OnFailure []*stepSrc `yaml:"on_failure"`
	Finally   []*stepSrc `yaml:"finally"`
	Node      *yaml.Node `yaml:"-"`
}

type stepSrc struct {
	ID             string                 `yaml:"id" drctl:"required"`
	Name           string                 `yaml:"name"`
	Uses           string                 `yaml:"uses"`
	With           *yaml.Node             `yaml:"with"`
	Approval       *approvalSrc           `yaml:"approval"`
	Parallel       *parallelSrc           `yaml:"parallel"`
	If             *yaml.Node             `yaml:"if"`
	Timeout        *workflows.Duration    `yaml:"timeout"`
	Retry          *retrySrc              `yaml:"retry"`
	OnError        string                 `yaml:"on_error" enum:"abort,continue,pause"`
	ExpectedErrors []stepio.ExpectedError `yaml:"expected_errors"`
	Destructive    bool                   `yaml:"destructive"`
	Node           *yaml.Node             `yaml:"-"`
}

type approvalSrc struct {
	Prompt         string              `yaml:"prompt" drctl:"required"`
	Approvers      []string            `yaml:"approvers"`
	Quorum         int                 `yaml:"quorum"`
	AllowInitiator *bool               `yaml:"allow_initiator"`
	Timeout        *workflows.Duration `yaml:"timeout"`
	Show           string              `yaml:"show"`
	Node           *yaml.Node          `yaml:"-"`
}

type parallelSrc struct {
	Limit int        `yaml:"limit"`
	Steps []*stepSrc `yaml:"steps" drctl:"required"`
	Node  *yaml.Node `yaml:"-"`
}

type retrySrc struct {
	Attempts   int                `yaml:"attempts"`
	Backoff    workflows.Duration `yaml:"backoff"`
	MaxBackoff workflows.Duration `yaml:"max_backoff"`
	Node       *yaml.Node         `yaml:"-"`
}

type compiler struct {
	r          reporter
	opts       Options
	kind       string
	env        *Environment
	envName    string
	params     map[string]*paramSrc
	paramNames []string
	// values holds resolved params; nil when only validating.
	values map[string]any
	allIDs map[string]bool
	// where names the step being compiled, for messages.
	where string
}

// Validate checks a runbook on its own, without an environment or params.
func Validate(file string, src []byte) Diagnostics {
	_, diags := Compile(file, src, Options{})
	return diags
}

// Compile parses and checks a runbook and, when opts name an environment,
// binds it into a plan. Every problem is reported, sorted; the plan is nil
// when there is any.
func Compile(file string, src []byte, opts Options) (plan *workflows.Plan, diags Diagnostics) {
	defer func() {
		// The checks are written not to panic; this keeps a bug in them
		// from ever showing an operator a stack trace instead of a message.
		if p := recover(); p != nil {
			plan = nil
			diags = append(diags, Diagnostic{File: file, Msg: fmt.Sprintf("internal error while checking this file: %v", p)})
		}
		diags = diags.sorted()
	}()
	c := &compiler{r: reporter{file: file, diags: &diags}, opts: opts, params: map[string]*paramSrc{}, allIDs: map[string]bool{}}
	root := parseYAML(c.r, src)
	if root == nil {
		return nil, diags
	}
	var rb runbookSrc
	decodeInto(c.r, root, reflect.ValueOf(&rb).Elem(), "")
	c.kind = rb.Kind
	if opts.Config != nil {
		c.envName = opts.Env
		c.env = opts.Config.Environments[opts.Env]
		if c.env == nil {
			names := slices.Sorted(maps.Keys(opts.Config.Environments))
			c.r.at(nil, "--env %s: no such environment in %s (it has %s)%s", opts.Env, opts.Config.File, strings.Join(names, ", "), didYouMean(opts.Env, names))
			return nil, diags
		}
		c.values = map[string]any{}
	}
	decls := c.declareParams(rb.Params)
	for _, p := range decls {
		c.checkDecl(p)
	}
	c.collectIDs(rb.Steps, rb.OnFailure, rb.Finally)

	plan = &workflows.Plan{Version: workflows.PlanVersion, Runbook: rb.Runbook, Description: rb.Description,
		Kind: rb.Kind, Source: file,
		Targets: workflows.Targets{RTO: rb.Targets.RTO, RPO: rb.Targets.RPO}}
	if c.values != nil {
		plan.Environment, plan.Role, plan.Env = c.envName, c.env.Role, c.env.Settings(c.envName)
		plan.PauseTimeout, plan.Alarm = c.env.Policy.PauseTimeout, c.env.Policy.Alarm != nil
		plan.Params = c.bindParams(decls)
		c.opts.Config.deciders(c.env).set(plan)
	}
	plan.Targets.LostAt = c.lostAt(rb.Targets.LostAt)
	main := scope{before: map[string]reflect.Type{}}
	plan.Steps = c.steps(rb.Steps, &main, "")
	// on_failure and finally may read any main step: one that did not get
	// to run has no outputs, which expressions see as nil.
	after := scope{before: map[string]reflect.Type{}}
	for id, t := range main.before {
		after.before[id] = t
	}
	failScope := after
	// Clean-up steps go on past a failure by default: one failed clean-up
	// must not stop the next (the pipeline is always unfrozen).
	plan.OnFailure = c.steps(rb.OnFailure, &failScope, workflows.OnErrorContinue)
	plan.Finally = c.steps(rb.Finally, &after, workflows.OnErrorContinue)
	if c.env != nil {
		c.checkEnvironmentRules(plan)
	}
	if len(diags) > 0 {
		return nil, diags
	}
	markPreflight(plan)
	plan.Hash = HashPlan(plan)
	return plan, nil
}

// HashPlan is the sha256 of the plan's JSON with Hash empty.
func HashPlan(p *workflows.Plan) string {
	cp := *p
	cp.Hash = ""
	b, err := json.Marshal(cp)
	if err != nil {
		// A plan holds only JSON values; this cannot happen.
		panic(fmt.Sprintf("hashing plan: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// maxNodes bounds the tree the checks walk. Aliases are expanded by those
// walks, so nested anchors ("billion laughs") could otherwise make a small
// file take forever to check.
const maxNodes = 100_000

// expandedSize counts the nodes of n with aliases expanded, stopping early
// once past maxNodes.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int, depth int) int {
	if n == nil {
		return 0
	}
	if v, ok := memo[n]; ok {
		return v
	}
	if depth > 1000 {
		return maxNodes + 1
	}
	memo[n] = maxNodes + 1 // a cycle counts as too big
	size := 1
	if n.Kind == yaml.AliasNode {
		size += expandedSize(n.Alias, memo, depth+1)
	}
	for _, c := range n.Content {
		if size > maxNodes {
			break
		}
		size += expandedSize(c, memo, depth+1)
	}
	memo[n] = size
	return size
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// parseYAML reads exactly one YAML document, turning the parser's errors
// into diagnostics.
func parseYAML(r reporter, src []byte) (root *yaml.Node) {
	defer func() {
		if p := recover(); p != nil {
			r.at(nil, "invalid YAML: %v", p)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			r.at(nil, "the file is empty")
			return nil
		}
		msg := err.Error()
		d := Diagnostic{File: r.file, Line: 1, Col: 1}
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			if m[1] != "" {
				d.Line, _ = strconv.Atoi(m[1])
			}
			msg = msg[len(m[0]):]
		}
		d.Msg = "invalid YAML: " + msg
		*r.diags = append(*r.diags, d)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		r.at(&extra, "a file holds one document; found a second one here")
	}
	if size := expandedSize(&doc, map[*yaml.Node]int{}, 0); size > maxNodes {
		r.at(nil, "the file expands to more than %d YAML nodes through its aliases; write it out instead of nesting anchors", maxNodes)
		return nil
	}
	root = resolve(&doc)
	if root == nil || isNull(root) {
		r.at(nil, "the file is empty")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		r.at(root, "the file must be a mapping of keys, not %s", kindName(root))
		return nil
	}
	return root
}

func (c *compiler) declareParams(n *yaml.Node) []*paramSrc {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		c.r.at(n, "params must be a mapping of name: {type: ...}, not %s", kindName(n))
		return nil
	}
	keys, vals := pairs(c.r, n, "params")
	var decls []*paramSrc
	for i, k := range keys {
		p := &paramSrc{name: k.Value, key: k}
		decodeInto(c.r, vals[i], reflect.ValueOf(p).Elem(), "params."+k.Value)
		if p.Node == nil {
			p.Node = vals[i]
		}
		c.params[p.name] = p
		c.paramNames = append(c.paramNames, p.name)
		decls = append(decls, p)
	}
	return decls
}

// collectIDs records every step id, reporting duplicates and ids that
// expressions could not name.
func (c *compiler) collectIDs(blocks ...[]*stepSrc) {
	var walk func([]*stepSrc)
	walk = func(list []*stepSrc) {
		for _, s := range list {
			if s == nil || s.ID == "" {
				continue
			}
			idNode := valueOf(s.Node, "id")
			if !exprIdentRE.MatchString(s.ID) {
				c.r.at(idNode, "step id %q must be letters, digits and _ (it is read as steps.%s)", s.ID, s.ID)
			}
			if c.allIDs[s.ID] {
				c.r.at(idNode, "duplicate step id %q", s.ID)
			}
			c.allIDs[s.ID] = true
			if s.Parallel != nil {
				walk(s.Parallel.Steps)
			}
		}
	}
	for _, b := range blocks {
		walk(b)
	}
}

// steps compiles a block; onError is the block's default on_error ("": the
// environment's).
func (c *compiler) steps(list []*stepSrc, sc *scope, onError string) []workflows.Step {
	var out []workflows.Step
	for _, s := range list {
		if s == nil {
			continue
		}
		out = append(out, c.step(s, sc, false, onError))
	}
	return out
}

func (c *compiler) step(s *stepSrc, sc *scope, inParallel bool, onError string) workflows.Step {
	st := workflows.Step{ID: s.ID, Name: s.Name, Destructive: s.Destructive,
		Pos:   workflows.Pos{File: c.r.file, Line: s.Node.Line, Col: s.Node.Column},
		Retry: workflows.Retry{Attempts: defaultAttempts}}
	where := fmt.Sprintf("step %q", s.ID)
	c.where = where

	forms := 0
	for _, set := range []bool{s.Uses != "", s.Approval != nil, s.Parallel != nil} {
		if set {
			forms++
		}
	}
	if forms != 1 {
		c.r.at(s.Node, "%s must have exactly one of uses, approval or parallel", where)
	}
	if s.With != nil && s.Uses == "" {
		c.r.at(keyOf(s.Node, "with"), "%s has with: but no uses: (with gives a step type its inputs)", where)
	}
	st.If = c.condition(s.If, *sc)
	st.OnError = s.OnError
	if st.OnError == "" {
		st.OnError = onError
	}
	if st.OnError == "" && c.env != nil {
		st.OnError = c.env.Policy.OnError
		if st.OnError == "" {
			st.OnError = workflows.OnErrorAbort
		}
	}
	if s.Timeout != nil {
		if *s.Timeout <= 0 {
			c.r.at(valueOf(s.Node, "timeout"), "%s: timeout must be positive", where)
		}
		st.Timeout = *s.Timeout
	}
	if s.Retry != nil {
		c.retry(s.Retry, &st, where)
	}

	var output reflect.Type
	switch {
	case s.Uses != "":
		t, ok := lookupStepType(s.Uses)
		if !ok {
			c.r.at(valueOf(s.Node, "uses"), "unknown step type %q%s", s.Uses, didYouMean(s.Uses, stepTypeNames()))
			break
		}
		st.Uses, st.Activity, st.Check, output = t.Name, t.Name, t.Check, t.Output
		st.Gets = t.Gets
		st.Destructive = st.Destructive || t.Destructive
		if st.Timeout == 0 {
			st.Timeout = workflows.Duration(t.Timeout)
		}
		st.HeartbeatTimeout = workflows.Duration(t.Heartbeat)
		with := c.input(s.With, s.Node, t.Input, *sc)
		if m, ok := with.(map[string]any); ok && len(m) > 0 {
			st.With = m
		}
		// A wait with only a duration needs no worker: a durable timer.
		st.Timer = t.Timer && len(st.With) == 1 && st.With["duration"] != nil
		c.expectedErrors(s, &st, t)
	case s.Approval != nil:
		if inParallel {
			c.r.at(keyOf(s.Node, "approval"), "%s: an approval gate cannot run inside parallel", where)
		}
		st.Approval = c.approval(s.Approval, *sc, where)
		output = typeOf[approvalOutputs]()
	case s.Parallel != nil:
		st.Parallel = c.parallel(s.Parallel, sc, where, onError)
		c.where = where
	}
	if len(s.ExpectedErrors) > 0 && s.Uses == "" {
		c.r.at(keyOf(s.Node, "expected_errors"), "%s: expected_errors belong on a step that uses a step type", where)
	}
	if s.ID != "" {
		sc.before[s.ID] = output
	}
	return st
}

func (c *compiler) retry(r *retrySrc, st *workflows.Step, where string) {
	st.Retry = workflows.Retry{Attempts: r.Attempts, Backoff: r.Backoff, MaxBackoff: r.MaxBackoff}
	if r.Attempts == 0 {
		st.Retry.Attempts = defaultAttempts
	}
	if r.Attempts < 0 {
		c.r.at(valueOf(r.Node, "attempts"), "%s: retry attempts must be at least 1", where)
	}
	if r.MaxBackoff > 0 && r.Backoff > r.MaxBackoff {
		c.r.at(valueOf(r.Node, "backoff"), "%s: backoff %s is longer than max_backoff %s", where, r.Backoff, r.MaxBackoff)
	}
}

func (c *compiler) expectedErrors(s *stepSrc, st *workflows.Step, t StepType) {
	if len(s.ExpectedErrors) == 0 {
		return
	}
	if !hasField(t.Input, "expected_errors") {
		c.r.at(keyOf(s.Node, "expected_errors"), "step %q: %s does not report errors that can be expected", s.ID, t.Name)
		return
	}
	list := resolve(valueOf(s.Node, "expected_errors"))
	for i, e := range s.ExpectedErrors {
		var item *yaml.Node
		if list != nil && i < len(list.Content) {
			item = list.Content[i]
		}
		if _, err := regexp.Compile(e.Pattern); err != nil {
			c.r.at(valueOf(item, "pattern"), "step %q: expected error pattern %q is not a regular expression: %v", s.ID, e.Pattern, err)
		}
		if e.Max < 1 {
			c.r.at(item, "step %q: expected error %q needs max: the most occurrences that are still harmless (at least 1)", s.ID, e.Pattern)
		}
		st.ExpectedErrors = append(st.ExpectedErrors, workflows.ExpectedError{Pattern: e.Pattern, Max: e.Max})
	}
}

func hasField(t reflect.Type, key string) bool {
	for _, f := range fieldsOf(t) {
		if f.key == key {
			return true
		}
	}
	return false
}

func (c *compiler) parallel(p *parallelSrc, sc *scope, where, onError string) *workflows.Parallel {
	if p.Limit < 0 {
		c.r.at(valueOf(p.Node, "limit"), "%s: parallel limit must be 0 (no limit) or more", where)
	}
	if len(p.Steps) == 0 {
		c.r.at(p.Node, "%s: parallel needs at least one step", where)
	}
	out := &workflows.Parallel{Limit: p.Limit}
	// Branches see what ran before the block, never each other.
	var ran []map[string]reflect.Type
	for _, s := range p.Steps {
		if s == nil {
			continue
		}
		branch := scope{before: map[string]reflect.Type{}}
		for id, t := range sc.before {
			branch.before[id] = t
		}
		out.Steps = append(out.Steps, c.step(s, &branch, true, onError))
		ran = append(ran, branch.before)
	}
	for _, b := range ran {
		for id, t := range b {
			sc.before[id] = t
		}
	}
	return out
}

func (c *compiler) approval(a *approvalSrc, sc scope, where string) *workflows.Approval {
	out := &workflows.Approval{Prompt: c.text(valueOf(a.Node, "prompt"), a.Prompt, sc), Approvers: a.Approvers, Quorum: a.Quorum,
		Timeout: workflows.Duration(defaultApprovalTimeout)}
	if a.Timeout != nil {
		if *a.Timeout <= 0 {
			c.r.at(valueOf(a.Node, "timeout"), "%s: approval timeout must be positive", where)
		}
		out.Timeout = *a.Timeout
	}
	if a.AllowInitiator != nil {
		out.AllowInitiator = *a.AllowInitiator
	}
	if a.Show != "" {
		out.Show = c.text(valueOf(a.Node, "show"), a.Show, sc)
	}
	for _, e := range a.Approvers {
		if kind, name, ok := strings.Cut(e, ":"); !ok || name == "" || kind != "user" && kind != "group" {
			c.r.at(valueOf(a.Node, "approvers"), "%s: approver %q must be written user:NAME or group:NAME", where, e)
		}
	}
	if a.Quorum < 0 {
		c.r.at(valueOf(a.Node, "quorum"), "%s: quorum must be at least 1", where)
	}
	if c.env == nil {
		if out.Quorum == 0 {
			out.Quorum = 1
		}
		return out
	}
	var policy ApprovalPolicy
	if c.env.Policy.Approval != nil {
		policy = *c.env.Policy.Approval
	}
	if len(out.Approvers) == 0 {
		out.Approvers = policy.Approvers
	}
	if out.Quorum == 0 {
		out.Quorum = max(policy.Quorum, 1)
	}
	if a.AllowInitiator == nil {
		out.AllowInitiator = policy.AllowInitiator
	}
	// The environment's policy is a floor: a gate may ask for more, never
	// for less, nor for other people.
	if c.env.Policy.Approval != nil && out.Quorum < policy.Quorum {
		c.r.at(valueOf(a.Node, "quorum"), "%s: quorum %d is below the %d that environment %q demands", where, out.Quorum, policy.Quorum, c.envName)
	}
	if c.env.Policy.Approval != nil && out.AllowInitiator && !policy.AllowInitiator {
		c.r.at(valueOf(a.Node, "allow_initiator"), "%s: environment %q does not let the initiator approve", where, c.envName)
	}
	users, problems := c.opts.Config.resolveApprovers(out.Approvers)
	for _, p := range problems {
		c.r.at(valueOf(a.Node, "approvers"), "%s: %s", where, p)
	}
	if allowed, _ := c.opts.Config.resolveApprovers(policy.Approvers); len(policy.Approvers) > 0 && len(problems) == 0 {
		var outside []string
		for _, u := range users {
			if !slices.Contains(allowed, u) {
				outside = append(outside, u)
			}
		}
		if len(outside) > 0 {
			c.r.at(valueOf(a.Node, "approvers"), "%s: %s may not approve on %s: its policy's approvers are %s", where,
				strings.Join(outside, ", "), c.envName, strings.Join(policy.Approvers, ", "))
		}
	}
	out.Users = users
	switch {
	case len(out.Approvers) == 0:
		c.r.at(a.Node, "%s: no approvers: list them, or give environment %q an approval policy with approvers", where, c.envName)
	case len(problems) == 0 && len(users) < out.Quorum:
		c.r.at(a.Node, "%s: quorum %d can never be reached: only %d approvers (%s)", where, out.Quorum, len(users), strings.Join(users, ", "))
	}
	return out
}

// condition compiles an if: into an expression; "" means always.
func (c *compiler) condition(n *yaml.Node, sc scope) string {
	n = resolve(n)
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		c.r.at(n, "if must be an expression, not %s", kindName(n))
		return ""
	}
	code := strings.TrimSpace(n.Value)
	if segs, err := workflows.ParseTemplate(code); err == nil && len(segs) == 1 && segs[0].IsExpr {
		code = segs[0].Text
	} else if workflows.IsTemplate(code) {
		c.r.at(n, "if must be one expression, e.g. ${{ params.dry_run }} or params.dry_run, not text around one")
		return ""
	}
	chains, err := exprRefs(code)
	if err != nil {
		c.r.at(n, "%v", err)
		return ""
	}
	if !c.checkChains(n, chains, sc) || c.values == nil || !resolvable(chains) {
		return code
	}
	v, err := workflows.EvalExpr(code, c.vars())
	if err != nil {
		c.r.at(n, "if %s: %v", code, err)
		return code
	}
	b, ok := v.(bool)
	if !ok {
		c.r.at(n, "if %s must be true or false, but is %v", code, v)
		return code
	}
	if b {
		return ""
	}
	return "false"
}

func (c *compiler) checkChains(n *yaml.Node, chains [][]string, sc scope) bool {
	ok := true
	for _, ch := range chains {
		if msg := c.checkChain(ch, sc); msg != "" {
			c.r.at(n, "%s", msg)
			ok = false
		}
	}
	return ok
}

func (c *compiler) vars() map[string]any {
	return map[string]any{"params": c.values, "env": c.env.Settings(c.envName)}
}

// lostAt resolves targets.lost_at, which reads only params: the moment
// the data was lost.
func (c *compiler) lostAt(n *yaml.Node) *time.Time {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.ScalarNode || !workflows.IsTemplate(n.Value) {
		c.r.at(n, "targets.lost_at must be a timestamp param, e.g. ${{ params.failure_time }}")
		return nil
	}
	v := c.template(n, n.Value, scope{before: map[string]reflect.Type{}})
	if c.values == nil {
		return nil
	}
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		c.r.at(n, "targets.lost_at must be a timestamp known when the run is planned (a param), not %v", v)
		return nil
	}
	return &t
}

// text checks a template string and resolves it when it reads only params
// and env.
func (c *compiler) text(n *yaml.Node, s string, sc scope) string {
	v := c.template(n, s, sc)
	if str, ok := v.(string); ok {
		return str
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// template checks a template and returns its value: resolved when possible,
// else the template itself for the interpreter to resolve at run time.
func (c *compiler) template(n *yaml.Node, s string, sc scope) any {
	chains, err := templateRefs(s)
	if err != nil {
		c.r.at(n, "%v", err)
		return s
	}
	if !c.checkChains(n, chains, sc) || c.values == nil {
		return s
	}
	if !resolvable(chains) {
		return c.partial(n, s)
	}
	v, err := workflows.EvalString(s, c.vars())
	if err != nil {
		c.r.at(n, "%s: %v", s, err)
		return s
	}
	if workflows.HasTemplate(v) {
		// A value is data: were it written into the plan, the interpreter
		// would read a param's "${{ ... }}" as an expression of its own.
		// Left for run time, it is evaluated once, as data.
		return s
	}
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// partial resolves, in a template that also reads run-time values, the
// expressions that read only params and env, so the plan shows them.
func (c *compiler) partial(n *yaml.Node, s string) string {
	segs, _ := workflows.ParseTemplate(s)
	if len(segs) == 1 {
		return s
	}
	var b strings.Builder
	var kept []string
	for _, seg := range segs {
		if !seg.IsExpr {
			b.WriteString(seg.Text)
			continue
		}
		chains, _ := exprRefs(seg.Text)
		if !resolvable(chains) {
			b.WriteString("${{ " + seg.Text + " }}")
			kept = append(kept, seg.Text)
			continue
		}
		v, err := workflows.EvalExpr(seg.Text, c.vars())
		if err != nil {
			c.r.at(n, "%s: %v", seg.Text, err)
			return s
		}
		b.WriteString(workflows.Text(v))
	}
	// What was substituted is data: if it reads as (or joins the text
	// around it into) an expression, the whole template waits for run time.
	out := b.String()
	got, err := workflows.ParseTemplate(out)
	var exprs []string
	for _, seg := range got {
		if seg.IsExpr {
			exprs = append(exprs, seg.Text)
		}
	}
	if err != nil || !slices.Equal(exprs, kept) {
		return s
	}
	return out
}
