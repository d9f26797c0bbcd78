package workflows

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
)

// Expressions run inside the workflow (and in the compiler), where one
// that builds a string of gigabytes would take the whole worker down, and
// take it down again on every replay. So each evaluation has a budget:
// every value an operator or builtin that can grow data produces is
// measured, no value may exceed MaxExprValue bytes, and all of them together
// may not exceed MaxExprAlloc. The two builtins that multiply their input
// (repeat, replace) are checked before they allocate.
const (
	MaxExprValue = 1 << 20
	MaxExprAlloc = 16 << 20
	// MaxExprNodes bounds an expression's size; runbook expressions are a
	// few dozen nodes.
	MaxExprNodes = 500
)

// ErrExprBudget is wrapped by every error of an expression over its budget.
var ErrExprBudget = fmt.Errorf("expression over its memory budget (%d bytes a value, %d in all)", MaxExprValue, MaxExprAlloc)

// growing are the builtins whose result can be larger than their input.
var growing = map[string]bool{
	"concat": true, "join": true, "toJSON": true, "toBase64": true, "fromJSON": true,
	"fromBase64": true, "split": true, "splitAfter": true, "flatten": true, "map": true,
	"string": true, "groupBy": true, "sortBy": true, "sort": true, "uniq": true,
}

// guardName is the function every growing value passes through.
const guardName = "__budget"

// budget is one evaluation's allowance.
type budget struct{ used int }

func (b *budget) charge(v any) (any, error) {
	n := sizeOf(reflect.ValueOf(v), 0)
	if n > MaxExprValue {
		return nil, fmt.Errorf("a value of %d bytes: %w", n, ErrExprBudget)
	}
	b.used += n
	if b.used > MaxExprAlloc {
		return nil, ErrExprBudget
	}
	return v, nil
}

// sizeOf estimates the bytes a value holds: strings by length, collections
// by their elements plus a word each.
func sizeOf(v reflect.Value, depth int) int {
	if !v.IsValid() || depth > 32 {
		return 8
	}
	switch v.Kind() {
	case reflect.String:
		return v.Len()
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return 8
		}
		return 8 + sizeOf(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		n := 24
		for i := range v.Len() {
			n += 8 + sizeOf(v.Index(i), depth+1)
			if n > MaxExprAlloc {
				return n
			}
		}
		return n
	case reflect.Map:
		n := 48
		it := v.MapRange()
		for it.Next() {
			n += 16 + sizeOf(it.Key(), depth+1) + sizeOf(it.Value(), depth+1)
			if n > MaxExprAlloc {
				return n
			}
		}
		return n
	}
	return 8
}

// Visit wraps every "+" and every growing builtin in the guard, so what it
// produced is charged before anything else uses it.
func (b *budget) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator != "+" {
			return
		}
	case *ast.BuiltinNode:
		if !growing[n.Name] {
			return
		}
	default:
		return
	}
	ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: guardName}, Arguments: []ast.Node{*node}})
}

// options are the budget's functions and patch for one evaluation.
func (b *budget) options() []expr.Option {
	return []expr.Option{
		expr.MaxNodes(MaxExprNodes),
		expr.Function(guardName, func(args ...any) (any, error) { return b.charge(args[0]) }),
		expr.Function("repeat", func(args ...any) (any, error) {
			s, ok := args[0].(string)
			n, nok := args[1].(int)
			if !ok || !nok || n < 0 {
				return nil, fmt.Errorf("repeat(text, count) takes a string and a count of 0 or more")
			}
			if n > 0 && len(s) > MaxExprValue/n {
				return nil, fmt.Errorf("repeat of %d bytes %d times: %w", len(s), n, ErrExprBudget)
			}
			return b.charge(strings.Repeat(s, n))
		}, new(func(string, int) string)),
		expr.Function("replace", func(args ...any) (any, error) {
			s, _ := args[0].(string)
			old, _ := args[1].(string)
			repl, _ := args[2].(string)
			// The worst case: every position of s (or every old) replaced.
			times := len(s) + 1
			if old != "" {
				times = strings.Count(s, old)
			}
			if len(repl) > 0 && times > (MaxExprValue-len(s))/len(repl) {
				return nil, fmt.Errorf("replace would make %d copies of %d bytes: %w", times, len(repl), ErrExprBudget)
			}
			return b.charge(strings.ReplaceAll(s, old, repl))
		}, new(func(string, string, string) string)),
		expr.Patch(b),
	}
}
