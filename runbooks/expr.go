package runbooks

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"

	"github.com/drctl/drctl/workflows"
)

// Expression roots and what each may read.
var (
	exprRoots = []string{"params", "env", "steps", "run"}
	runKeys   = []string{"id", "initiator", "started_at", "incident"}
	stepKeys  = []string{"outputs", "outcome"}
)

// scope is what an expression may see at one point of the runbook.
type scope struct {
	// before holds the steps that have run (or been skipped) before this
	// point, with their output types.
	before map[string]reflect.Type
}

// exprRefs returns the member chains (params.x, steps.a.outputs.b) that an
// expression reads, or its syntax error.
func exprRefs(code string) (chains [][]string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cannot parse expression: %v", p)
		}
	}()
	tree, err := parser.Parse(code)
	if err != nil {
		if fe, ok := err.(*file.Error); ok {
			return nil, fmt.Errorf("bad expression %q: %s", code, fe.Message)
		}
		return nil, fmt.Errorf("bad expression %q: %v", code, err)
	}
	v := &chainCollector{found: map[ast.Node][]string{}, local: map[string]bool{}}
	ast.Walk(&tree.Node, v)
	for _, n := range v.order {
		if c, ok := v.found[n]; ok && !v.local[c[0]] {
			chains = append(chains, c)
		}
	}
	return chains, nil
}

// chainCollector keeps the longest member chains: ast.Walk visits children
// before their parent, so a parent's chain replaces its child's.
type chainCollector struct {
	found map[ast.Node][]string
	order []ast.Node
	local map[string]bool
}

func (c *chainCollector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		c.add(n, []string{n.Value})
	case *ast.MemberNode:
		if inner, ok := c.found[n.Node]; ok {
			if prop, ok := n.Property.(*ast.StringNode); ok {
				delete(c.found, n.Node)
				c.add(n, append(slices.Clone(inner), prop.Value))
			}
		}
	case *ast.ChainNode:
		if inner, ok := c.found[n.Node]; ok {
			delete(c.found, n.Node)
			c.add(n, inner)
		}
	case *ast.CallNode:
		delete(c.found, n.Callee)
	case *ast.VariableDeclaratorNode:
		c.local[n.Name] = true
	}
}

func (c *chainCollector) add(n ast.Node, chain []string) {
	c.found[n] = chain
	c.order = append(c.order, n)
}

// checkChain says what is wrong with one reference, or "".
func (c *compiler) checkChain(chain []string, sc scope) string {
	ref := strings.Join(chain, ".")
	switch chain[0] {
	case "params":
		if len(chain) < 2 {
			return ""
		}
		if _, ok := c.params[chain[1]]; !ok {
			return fmt.Sprintf("%s: unknown param %q%s", ref, chain[1], didYouMean(chain[1], c.paramNames))
		}
	case "env":
		if len(chain) < 2 {
			return ""
		}
		if !slices.Contains(envKeys, chain[1]) {
			return fmt.Sprintf("%s: environments have no setting %q (they have %s)%s", ref, chain[1], strings.Join(envKeys, ", "), didYouMean(chain[1], envKeys))
		}
		if chain[1] == "vars" && len(chain) > 2 && c.env != nil {
			if _, ok := c.env.Vars[chain[2]]; !ok {
				return fmt.Sprintf("%s: environment %q has no var %q%s", ref, c.envName, chain[2], didYouMean(chain[2], slices.Sorted(maps.Keys(c.env.Vars))))
			}
		}
	case "run":
		if len(chain) > 1 && !slices.Contains(runKeys, chain[1]) {
			return fmt.Sprintf("%s: runs have no field %q (they have %s)%s", ref, chain[1], strings.Join(runKeys, ", "), didYouMean(chain[1], runKeys))
		}
	case "steps":
		if len(chain) < 2 {
			return ""
		}
		id := chain[1]
		out, ok := sc.before[id]
		if !ok {
			if c.allIDs[id] {
				return fmt.Sprintf("%s uses %s, but step %q does not run before it", c.where, ref, id)
			}
			return fmt.Sprintf("%s uses %s, but there is no step %q%s", c.where, ref, id, didYouMean(id, slices.Sorted(maps.Keys(c.allIDs))))
		}
		if len(chain) < 3 {
			return ""
		}
		if !slices.Contains(stepKeys, chain[2]) {
			return fmt.Sprintf("%s: a step has %s, not %q%s", ref, strings.Join(stepKeys, " and "), chain[2], didYouMean(chain[2], stepKeys))
		}
		if chain[2] == "outputs" && len(chain) > 3 {
			return checkOutputPath(ref, id, out, chain[3:])
		}
	default:
		return fmt.Sprintf("unknown name %q in expression: expressions read %s%s", chain[0], strings.Join(exprRoots, ", "), didYouMean(chain[0], exprRoots))
	}
	return ""
}

// checkOutputPath checks outputs.<a>.<b>... against the step's output type as
// far as the type is known (free-form values such as parsed JSON end it).
func checkOutputPath(ref, id string, t reflect.Type, path []string) string {
	for _, name := range path {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct || t == timeType {
			return ""
		}
		fields := fieldsOf(t)
		i := slices.IndexFunc(fields, func(f fieldInfo) bool { return f.key == name })
		if i < 0 {
			return fmt.Sprintf("%s: step %q has no output %q%s", ref, id, name, didYouMean(name, keysOf(fields)))
		}
		t = t.Field(fields[i].index).Type
	}
	return ""
}

// resolvable reports whether every chain reads only what is known when the
// plan is made (params and env), so the value can be computed now.
func resolvable(chains [][]string) bool {
	for _, ch := range chains {
		if ch[0] != "params" && ch[0] != "env" {
			return false
		}
	}
	return true
}

// templateRefs parses a template string and returns the chains of all its
// expressions.
func templateRefs(s string) ([][]string, error) {
	segs, err := workflows.ParseTemplate(s)
	if err != nil {
		return nil, err
	}
	var all [][]string
	for _, seg := range segs {
		if !seg.IsExpr {
			continue
		}
		chains, err := exprRefs(seg.Text)
		if err != nil {
			return nil, err
		}
		all = append(all, chains...)
	}
	return all, nil
}
