package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"go.temporal.io/sdk/workflow"
)

// Segment is a piece of a template string: literal text or an expression.
type Segment struct {
	Text   string
	IsExpr bool
	// Offset is where the segment starts in the template, for error columns.
	Offset int
}

// ParseTemplate splits s at its ${{ ... }} expressions.
func ParseTemplate(s string) ([]Segment, error) {
	var segs []Segment
	pos := 0
	for {
		i := strings.Index(s[pos:], "${{")
		if i < 0 {
			if pos < len(s) {
				segs = append(segs, Segment{Text: s[pos:], Offset: pos})
			}
			return segs, nil
		}
		if i > 0 {
			segs = append(segs, Segment{Text: s[pos : pos+i], Offset: pos})
		}
		start := pos + i + 3
		j := strings.Index(s[start:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("unclosed ${{ at offset %d: add the closing }}", pos+i)
		}
		body := strings.TrimSpace(s[start : start+j])
		if body == "" {
			return nil, fmt.Errorf("empty expression ${{ }} at offset %d", pos+i)
		}
		segs = append(segs, Segment{Text: body, IsExpr: true, Offset: pos + i})
		pos = start + j + 2
	}
}

// IsTemplate reports whether s holds an expression.
func IsTemplate(s string) bool { return strings.Contains(s, "${{") }

// HasTemplate reports whether a JSON-shaped value holds an expression
// anywhere in it.
func HasTemplate(v any) bool {
	switch t := v.(type) {
	case string:
		return IsTemplate(t)
	case []any:
		for _, e := range t {
			if HasTemplate(e) {
				return true
			}
		}
	case map[string]any:
		for _, k := range workflow.DeterministicKeys(t) {
			if HasTemplate(t[k]) {
				return true
			}
		}
	}
	return false
}

// ExprOptions are the expr-lang options used both when the compiler checks
// an expression and when the interpreter evaluates it. Evaluation is then a
// pure function of the expression and its variables, so it may run inside
// the workflow (workflowcheck cannot see this: expr-lang ranges over maps
// internally, for lookups only). The builtins that would break that are
// disabled: now() reads the clock (use run.started_at), and keys(),
// values() and toPairs() return a map's entries in random order. Each
// evaluation gets a budget of its own (see budget.go).
func ExprOptions(vars map[string]any) []expr.Option {
	return append([]expr.Option{expr.Env(vars), expr.DisableBuiltin("now"), expr.DisableBuiltin("keys"),
		expr.DisableBuiltin("values"), expr.DisableBuiltin("toPairs")}, new(budget).options()...)
}

// EvalExpr evaluates one expression against vars. Whatever the expression
// does, it returns an error, never a panic: a step fails, not the worker.
func EvalExpr(code string, vars map[string]any) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("evaluating %q: %v", code, p)
		}
	}()
	prog, err := expr.Compile(code, ExprOptions(vars)...)
	if err != nil {
		return nil, err
	}
	return expr.Run(prog, vars)
}

// EvalString resolves the expressions of a template string. A string that is
// exactly one expression keeps the expression's type (a number stays a
// number, an object stays an object); otherwise the parts are joined as text.
func EvalString(s string, vars map[string]any) (any, error) {
	segs, err := ParseTemplate(s)
	if err != nil {
		return nil, err
	}
	if len(segs) == 1 && segs[0].IsExpr {
		return EvalExpr(segs[0].Text, vars)
	}
	var b strings.Builder
	for _, seg := range segs {
		if !seg.IsExpr {
			b.WriteString(seg.Text)
			continue
		}
		v, err := EvalExpr(seg.Text, vars)
		if err != nil {
			return nil, err
		}
		b.WriteString(Text(v))
	}
	return b.String(), nil
}

// Text is how a value reads inside text: a string as it is, nothing for
// null, anything else as JSON (14609152, not 1.4609152e+07; {"a":1}, not
// map[a:1]).
func Text(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// ShowText is how a gate shows a value to its approvers: an object as one
// "key: value" line per key, in key order; anything else as Text.
func ShowText(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return Text(v)
	}
	var b strings.Builder
	for _, k := range workflow.DeterministicKeys(m) {
		fmt.Fprintf(&b, "%s: %s\n", k, Text(m[k]))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// EvalValue resolves every template string inside a JSON-shaped value.
// Object keys are visited in sorted order so that the first error reported
// is the same on every replay.
func EvalValue(v any, vars map[string]any) (any, error) {
	switch t := v.(type) {
	case string:
		if !IsTemplate(t) {
			return t, nil
		}
		return EvalString(t, vars)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			r, err := EvalValue(e, vars)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for _, k := range workflow.DeterministicKeys(t) {
			r, err := EvalValue(t[k], vars)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}
