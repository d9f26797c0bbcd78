package workflows

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEvalValue(t *testing.T) {
	vars := map[string]any{
		"params": map[string]any{"n": 3, "name": "register"},
		"steps":  map[string]any{"find": map[string]any{"outputs": map[string]any{"key": "k1", "rows": map[string]any{"a": 1}}}},
	}
	in := map[string]any{
		"whole":  "${{ params.n * 2 }}",
		"mixed":  "db ${{ params.name }}-old (${{ params.n }})",
		"object": "${{ steps.find.outputs.rows }}",
		"list":   []any{"${{ steps.find.outputs.key }}", "plain", 7},
		"plain":  "no template {{ here }}",
	}
	got, err := EvalValue(in, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"whole":  6,
		"mixed":  "db register-old (3)",
		"object": map[string]any{"a": 1},
		"list":   []any{"k1", "plain", 7},
		"plain":  "no template {{ here }}",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
}

func TestEvalRefusesNondeterminism(t *testing.T) {
	// now() would differ on replay; keys() and friends follow map order.
	vars := map[string]any{"m": map[string]any{"a": 1, "b": 2}}
	for _, code := range []string{"now()", "keys(m)", "values(m)", "toPairs(m)"} {
		if _, err := EvalExpr(code, vars); err == nil {
			t.Errorf("%s evaluated; it must be disabled", code)
		}
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for _, s := range []string{"${{ a", "x ${{ }} y"} {
		if _, err := ParseTemplate(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestEvalKeepsToItsBudget(t *testing.T) {
	vars := map[string]any{"steps": map[string]any{"out": map[string]any{"outputs": map[string]any{"s": strings.Repeat("ab", 100000)}}}}
	for _, code := range []string{
		`repeat(repeat("ab", 100000), 100000)`,
		`repeat(steps.out.outputs.s, 100000)`,
		`reduce(1..100, #acc + #acc, "abcdefgh")`,
		`let a = steps.out.outputs.s + steps.out.outputs.s; let b = a + a; let c = b + b; c + c`,
		`replace(repeat("a", 1000), "a", repeat("b", 10000))`,
		`toJSON(reduce(1..40, toJSON(#acc), "\"q\""))`,
		`reduce(1..1000, #acc + len(string(steps.out.outputs.s)), 0)`,
	} {
		_, err := EvalExpr(code, vars)
		if !errors.Is(err, ErrExprBudget) {
			t.Errorf("%s: %v, want the budget refused", code, err)
		}
	}
	// Ordinary expressions stay within it.
	for code, want := range map[string]any{
		`1 + 2 > 2`:                      true,
		`upper("a" + "b")`:               "AB",
		`repeat("ab", 3)`:                "ababab",
		`replace("a-b", "-", "--")`:      "a--b",
		`len(split("a,b", ","))`:         2,
		`len(steps.out.outputs.s) + 1`:   200001,
		`join(map(1..3, string(#)), "")`: "123",
	} {
		got, err := EvalExpr(code, vars)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, %v; want %#v", code, got, err, want)
		}
	}
	if _, err := EvalExpr(strings.Repeat("1 + ", MaxExprNodes)+"1", vars); err == nil {
		t.Errorf("an expression of more than %d nodes evaluated", MaxExprNodes)
	}
}

// Values inside text read as JSON, and a gate shows an object as key: value
// lines: no Go maps, no float notation.
func TestValuesAsText(t *testing.T) {
	out := map[string]any{"plain_size": 1.4609152e+07, "tables": []any{"users", "events"}, "n": map[string]any{"r": 320.0}}
	vars := map[string]any{"steps": map[string]any{"plan": map[string]any{"outputs": out}}}
	got, err := EvalString("size ${{ steps.plan.outputs.plain_size }}, ${{ steps.plan.outputs.n }}", vars)
	if err != nil || got != `size 14609152, {"r":320}` {
		t.Fatalf("%q %v", got, err)
	}
	if s := ShowText(out); s != "n: {\"r\":320}\nplain_size: 14609152\ntables: [\"users\",\"events\"]" {
		t.Fatalf("show:\n%s", s)
	}
}
