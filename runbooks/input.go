package runbooks

import (
	"fmt"
	"math"
	"reflect"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/drctl/drctl/workflows"
)

// input checks a step's with: against the step type's input struct and
// returns it as a JSON value. Templates are checked for their references;
// those that read only params and env are resolved now and their values
// type-checked, the rest are left for run time. step is the step's node,
// where a missing with: is reported.
func (c *compiler) input(n, step *yaml.Node, t reflect.Type, sc scope) any {
	if isNull(resolve(n)) {
		for _, fi := range fieldsOf(t) {
			if fi.required {
				c.r.at(step, "%s: with is missing the required field %q", c.where, fi.key)
			}
		}
		return nil
	}
	return c.inputValue(n, t, fieldInfo{}, sc, "with")
}

func (c *compiler) inputValue(n *yaml.Node, t reflect.Type, f fieldInfo, sc scope, path string) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	what := c.where + ": " + path
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && workflows.IsTemplate(n.Value) {
		v := c.template(n, n.Value, sc)
		if s, ok := v.(string); ok && workflows.IsTemplate(s) {
			return s
		}
		out, msg := resolvedValue(v, t, f)
		if msg != "" {
			c.r.at(n, "%s: %s", what, msg)
		}
		return out
	}
	switch {
	case t.Kind() == reflect.Struct && t != timeType:
		if n.Kind != yaml.MappingNode {
			c.r.at(n, "%s must be a mapping, not %s", what, kindName(n))
			return nil
		}
		fields := fieldsOf(t)
		keys, vals := pairs(c.r, n, what)
		out := map[string]any{}
		for i, k := range keys {
			j := slices.IndexFunc(fields, func(fi fieldInfo) bool { return fi.key == k.Value })
			if j < 0 {
				c.r.at(k, "%s: unknown input %q%s", c.where, sub(path, k.Value), didYouMean(k.Value, keysOf(fields)))
				continue
			}
			fi := fields[j]
			out[fi.key] = c.inputValue(vals[i], t.Field(fi.index).Type, fi, sc, sub(path, fi.key))
		}
		for _, fi := range fields {
			if _, ok := out[fi.key]; fi.required && !ok {
				c.r.at(n, "%s is missing the required field %q", what, fi.key)
			}
		}
		return out
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.r.at(n, "%s must be a list, not %s", what, kindName(n))
			return nil
		}
		out := make([]any, len(n.Content))
		for i, e := range n.Content {
			out[i] = c.inputValue(e, t.Elem(), fieldInfo{}, sc, fmt.Sprintf("%s[%d]", path, i))
		}
		return out
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.r.at(n, "%s must be a mapping, not %s", what, kindName(n))
			return nil
		}
		keys, vals := pairs(c.r, n, what)
		out := map[string]any{}
		for i, k := range keys {
			out[k.Value] = c.inputValue(vals[i], t.Elem(), fieldInfo{}, sc, sub(path, k.Value))
		}
		return out
	case t.Kind() == reflect.Interface:
		return c.freeValue(n, sc)
	}
	if n.Kind != yaml.ScalarNode {
		c.r.at(n, "%s must be %s, not %s", what, typeName(t), kindName(n))
		return nil
	}
	v, msg := scalarValue(n, t)
	if msg == "" {
		msg = checkTextRules(n.Value, f)
	}
	if msg != "" {
		c.r.at(n, "%s: %s", what, msg)
		return nil
	}
	switch t {
	case refType, durationType, timeType:
		return n.Value
	}
	return v
}

// freeValue converts a free-form value (a request body, say), still
// checking the templates inside it.
func (c *compiler) freeValue(n *yaml.Node, sc scope) any {
	n = resolve(n)
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.MappingNode:
		keys, vals := pairs(c.r, n, "a mapping")
		out := map[string]any{}
		for i, k := range keys {
			out[k.Value] = c.freeValue(vals[i], sc)
		}
		return out
	case n.Kind == yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, e := range n.Content {
			out[i] = c.freeValue(e, sc)
		}
		return out
	case n.Tag == "!!str" && workflows.IsTemplate(n.Value):
		return c.template(n, n.Value, sc)
	}
	return genericScalar(n)
}

// resolvedValue checks a value computed from params or env against the
// field's type, converting it to the form the activity decodes.
func resolvedValue(v any, t reflect.Type, f fieldInfo) (any, string) {
	if v == nil {
		return nil, ""
	}
	switch t {
	case refType, durationType, timeType:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Sprintf("must be %s, but the expression gives %v", typeName(t), v)
		}
		if _, err := parseSpecial(s, t); err != nil {
			return nil, err.Error()
		}
		return s, ""
	}
	switch t.Kind() {
	case reflect.String:
		s := fmt.Sprint(v)
		return s, checkTextRules(s, f)
	case reflect.Int, reflect.Int64, reflect.Int32:
		switch x := v.(type) {
		case int:
			return int64(x), ""
		case int64:
			return x, ""
		case float64:
			if x == math.Trunc(x) {
				return int64(x), ""
			}
		}
		return nil, fmt.Sprintf("must be a whole number, but the expression gives %v", v)
	case reflect.Float64:
		switch x := v.(type) {
		case int:
			return float64(x), ""
		case int64:
			return float64(x), ""
		case float64:
			return x, ""
		}
		return nil, fmt.Sprintf("must be a number, but the expression gives %v", v)
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return nil, fmt.Sprintf("must be true or false, but the expression gives %v", v)
		}
		return v, ""
	case reflect.Slice:
		if _, ok := v.([]any); !ok {
			return nil, fmt.Sprintf("must be a list, but the expression gives %v", v)
		}
	case reflect.Map, reflect.Struct:
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Sprintf("must be a mapping, but the expression gives %v", v)
		}
	}
	return v, ""
}
