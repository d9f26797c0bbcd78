package runbooks

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/agnivade/levenshtein"
	"go.yaml.in/yaml/v3"
)

// Diagnostic is one problem found in a runbook or environments file, with the
// exact place it was found so an editor (or a tired operator) can jump to it.
type Diagnostic struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Msg  string `json:"message"`
}

func (d Diagnostic) String() string {
	if d.Line == 0 {
		return fmt.Sprintf("%s: %s", d.File, d.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Col, d.Msg)
}

// Diagnostics collects every problem of a compilation so that all of them are
// reported at once, sorted by position, in the manner of go/scanner.ErrorList.
type Diagnostics []Diagnostic

func (l Diagnostics) sorted() Diagnostics {
	out := slices.Clone(l)
	slices.SortStableFunc(out, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.Compact(out)
}

// Err returns nil when there are no diagnostics, else the sorted list.
func (l Diagnostics) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l.sorted()
}

// Error prints the first problem and how many follow; callers that want all of
// them range over the list.
func (l Diagnostics) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].String()
	}
	return fmt.Sprintf("%s (and %d more errors)", l[0], len(l)-1)
}

// Lines renders every diagnostic, one per line.
func (l Diagnostics) Lines() string {
	var b strings.Builder
	for _, d := range l.sorted() {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// reporter accumulates diagnostics for one file.
type reporter struct {
	file  string
	diags *Diagnostics
}

func (r reporter) at(n *yaml.Node, format string, args ...any) {
	d := Diagnostic{File: r.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		d.Line, d.Col = n.Line, n.Column
	}
	*r.diags = append(*r.diags, d)
}

// didYouMean suggests the closest candidate when it is a plausible typo
// (edit distance below 3, as hashicorp/hcl does), else "".
func didYouMean(got string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.ComputeDistance(strings.ToLower(got), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}
