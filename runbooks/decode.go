package runbooks

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/workflows"
)

// The decoder walks yaml.Node trees against Go types itself, because
// Node.Decode reports neither unknown nor duplicate keys and its type errors
// carry no column. Keys are the fields' yaml tag, else their json tag; the
// tag drctl:"required" marks a field that must be present, enum:"a,b" lists
// its allowed values, format:"date" asks for yyyy-mm-dd, format:"name" for
// a name that may become a path, a key or an identifier (stepio.NameProblem). A struct field
// named Node of type *yaml.Node receives the struct's own mapping node.

var (
	nodeType     = reflect.TypeFor[*yaml.Node]()
	refType      = reflect.TypeFor[secret.Ref]()
	durationType = reflect.TypeFor[workflows.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
	dateRE       = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

type fieldInfo struct {
	key      string
	index    int
	required bool
	enum     []string
	format   string
}

func fieldsOf(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := range t.NumField() {
		f := t.Field(i)
		// drctl:"internal" fields are filled in by the interpreter (the
		// run's environment), never written in a runbook.
		if !f.IsExported() || f.Name == "Node" && f.Type == nodeType || f.Tag.Get("drctl") == "internal" {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "" {
			tag = f.Tag.Get("json")
		}
		key, _, _ := strings.Cut(tag, ",")
		if key == "-" {
			continue
		}
		if key == "" {
			key = strings.ToLower(f.Name)
		}
		fi := fieldInfo{key: key, index: i, required: f.Tag.Get("drctl") == "required", format: f.Tag.Get("format")}
		if e := f.Tag.Get("enum"); e != "" {
			fi.enum = strings.Split(e, ",")
		}
		out = append(out, fi)
	}
	return out
}

func keysOf(fields []fieldInfo) []string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return keys
}

// resolve follows aliases and unwraps documents.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// kindName says what a node is, for "must be X, not Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	case "!!null":
		return "null"
	}
	return strconv.Quote(n.Value)
}

// pairs yields a mapping's key and value nodes, reporting duplicate keys.
func pairs(r reporter, n *yaml.Node, what string) (keys, vals []*yaml.Node) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			r.at(k, "duplicate key %q in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		keys, vals = append(keys, k), append(vals, v)
	}
	return keys, vals
}

// valueOf returns the value node of key in mapping n, or nil.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// keyOf returns the key node of key in mapping n, or n itself.
func keyOf(n *yaml.Node, key string) *yaml.Node {
	if m := resolve(n); m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i]
			}
		}
	}
	return n
}

// sub extends a dotted path (environments.staging.vars) by key.
func sub(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// label names what a path points at, for messages.
func label(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

// decodeInto fills v from n, reporting every problem; path says where in
// the file v is ("steps[2].retry"), "" for the top.
func decodeInto(r reporter, n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	t := v.Type()
	switch {
	case t == nodeType:
		v.Set(reflect.ValueOf(n))
		return
	case t.Kind() == reflect.Pointer:
		e := reflect.New(t.Elem())
		before := len(*r.diags)
		decodeInto(r, n, e.Elem(), path)
		if len(*r.diags) == before {
			v.Set(e)
		}
		return
	case t.Kind() == reflect.Interface:
		v.Set(reflect.ValueOf(nodeValue(n)))
		return
	case t.Kind() == reflect.Struct && t != timeType:
		if n.Kind != yaml.MappingNode {
			r.at(n, "%s must be a mapping, not %s", label(path), kindName(n))
			return
		}
		if f, ok := t.FieldByName("Node"); ok && f.Type == nodeType {
			v.FieldByIndex(f.Index).Set(reflect.ValueOf(n))
		}
		fields := fieldsOf(t)
		keys, vals := pairs(r, n, label(path))
		got := map[string]bool{}
		for i, k := range keys {
			idx := slices.IndexFunc(fields, func(f fieldInfo) bool { return f.key == k.Value })
			if idx < 0 {
				in := ""
				if path != "" {
					in = " in " + path
				}
				r.at(k, "unknown field %q%s%s", k.Value, in, didYouMean(k.Value, keysOf(fields)))
				continue
			}
			f := fields[idx]
			got[f.key] = true
			if msg := checkScalarRules(resolve(vals[i]), f); msg != "" {
				r.at(vals[i], "%s: %s", sub(path, f.key), msg)
				continue
			}
			decodeInto(r, vals[i], v.Field(f.index), sub(path, f.key))
		}
		for _, f := range fields {
			if f.required && !got[f.key] {
				r.at(n, "%s is missing the required field %q", label(path), f.key)
			}
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			r.at(n, "%s must be a list, not %s", label(path), kindName(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			decodeInto(r, e, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			r.at(n, "%s must be a mapping, not %s", label(path), kindName(n))
			return
		}
		m := reflect.MakeMap(t)
		keys, vals := pairs(r, n, label(path))
		for i, k := range keys {
			e := reflect.New(t.Elem()).Elem()
			decodeInto(r, vals[i], e, sub(path, k.Value))
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), e)
		}
		v.Set(m)
	default:
		if n.Kind != yaml.ScalarNode {
			r.at(n, "%s must be %s, not %s", label(path), typeName(t), kindName(n))
			return
		}
		val, msg := scalarValue(n, t)
		if msg != "" {
			r.at(n, "%s: %s", label(path), msg)
			return
		}
		v.Set(reflect.ValueOf(val).Convert(t))
	}
}

// typeName says what a Go type expects, in the runbook author's words.
func typeName(t reflect.Type) string {
	switch t {
	case refType:
		return "a secret reference"
	case durationType:
		return "a duration"
	case timeType:
		return "a timestamp"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Pointer:
		return typeName(t.Elem())
	}
	return "a value"
}

// scalarValue converts a scalar node to a Go value assignable (after
// Convert) to t, or says why it cannot.
func scalarValue(n *yaml.Node, t reflect.Type) (any, string) {
	switch t {
	case refType, durationType, timeType:
		if n.Tag != "!!str" {
			return nil, fmt.Sprintf("must be %s, not %s", typeName(t), kindName(n))
		}
		v, err := parseSpecial(n.Value, t)
		if err != nil {
			return nil, err.Error()
		}
		return v, ""
	}
	switch t.Kind() {
	case reflect.String:
		return n.Value, ""
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Tag != "!!int" {
			return nil, fmt.Sprintf("must be a whole number, not %s", kindName(n))
		}
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			return nil, fmt.Sprintf("%s is out of range", n.Value)
		}
		return i, ""
	case reflect.Float64:
		if n.Tag != "!!int" && n.Tag != "!!float" {
			return nil, fmt.Sprintf("must be a number, not %s", kindName(n))
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Sprintf("%s is not a finite number", n.Value)
		}
		return f, ""
	case reflect.Bool:
		if n.Tag != "!!bool" {
			return nil, fmt.Sprintf("must be true or false, not %s", kindName(n))
		}
		return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", ""
	}
	return nil, fmt.Sprintf("cannot hold %s", kindName(n))
}

// parseSpecial parses the text forms of secret references, durations and
// timestamps.
func parseSpecial(s string, t reflect.Type) (any, error) {
	switch t {
	case refType:
		return secret.Ref(s), secret.Ref(s).Check()
	case durationType:
		d, err := workflows.ParseDuration(s)
		return int64(d), err
	case timeType:
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an RFC 3339 timestamp", s)
		}
		return ts, nil
	}
	return s, nil
}

// checkScalarRules applies a field's enum and format rules to a literal.
func checkScalarRules(n *yaml.Node, f fieldInfo) string {
	if n == nil || n.Kind != yaml.ScalarNode || workflows.IsTemplate(n.Value) {
		return ""
	}
	return checkTextRules(n.Value, f)
}

func checkTextRules(s string, f fieldInfo) string {
	if len(f.enum) > 0 && !slices.Contains(f.enum, s) {
		return fmt.Sprintf("%q is not one of %s%s", s, strings.Join(f.enum, ", "), didYouMean(s, f.enum))
	}
	if f.format == "name" {
		if msg := stepio.NameProblem(stepio.NameKind(f.key), s); msg != "" {
			return msg
		}
	}
	if f.format == "date" && s != "" {
		if _, err := time.Parse(time.DateOnly, s); err != nil || !dateRE.MatchString(s) {
			return fmt.Sprintf("%q is not a date (yyyy-mm-dd)", s)
		}
	}
	return ""
}

// genericScalar converts a scalar to the JSON value it denotes.
func genericScalar(n *yaml.Node) any {
	switch n.Tag {
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return i
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	case "!!bool":
		return strings.EqualFold(n.Value, "true")
	case "!!null":
		return nil
	}
	return n.Value
}

// nodeValue converts a free-form subtree to the JSON value it denotes.
func nodeValue(n *yaml.Node) any {
	n = resolve(n)
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = nodeValue(n.Content[i+1])
		}
		return out
	case n.Kind == yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, e := range n.Content {
			out[i] = nodeValue(e)
		}
		return out
	}
	return genericScalar(n)
}

// nodeAt returns item i of sequence n, or n itself.
func nodeAt(n *yaml.Node, i int) *yaml.Node {
	if s := resolve(n); s != nil && s.Kind == yaml.SequenceNode && i < len(s.Content) {
		return s.Content[i]
	}
	return n
}
