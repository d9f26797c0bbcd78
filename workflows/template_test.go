package workflows

import (
	"reflect"
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
