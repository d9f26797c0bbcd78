package runbooks

import (
	"reflect"
	"time"
)

// The schema is generated from the same field tags (drctl:"required",
// enum, format) and step table the compiler checks against, so an editor
// and `drctl validate` can never disagree about what a field accepts. Any
// value may also be a ${{ }} template, which the schema has to allow next
// to each typed value — the reason it is built here rather than by a
// general struct reflector.

const (
	templatePattern = `\$\{\{.*\}\}`
	durationPattern = `^([0-9]+d|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`
)

// Schema returns the JSON Schema (draft-07) of the runbook format, for
// editors with yaml-language-server.
func Schema() map[string]any {
	var cases []any
	for _, st := range catalogue {
		cases = append(cases, obj(
			"if", obj("properties", obj("uses", obj("const", st.Name)), "required", []string{"uses"}),
			"then", obj("properties", obj("with", described(typeSchema(st.Input, fieldInfo{}), st.Summary))),
		))
	}
	ref := func(name string) map[string]any { return obj("$ref", "#/definitions/"+name) }
	steps := obj("type", "array", "items", ref("step"))
	step := obj(
		"type", "object", "additionalProperties", false, "required", []string{"id"},
		"properties", obj(
			"id", obj("type", "string", "pattern", exprIdentRE.String()),
			"name", obj("type", "string"),
			"uses", obj("enum", stepTypeNames()),
			"with", obj("type", "object"),
			"approval", obj("type", "object", "additionalProperties", false, "required", []string{"prompt"},
				"properties", obj("prompt", obj("type", "string"),
					"approvers", obj("type", "array", "items", obj("type", "string", "pattern", "^(user|group):.+$")),
					"quorum", obj("type", "integer", "minimum", 1), "allow_initiator", obj("type", "boolean"),
					"timeout", ref("duration"), "show", obj("type", "string"))),
			"parallel", obj("type", "object", "additionalProperties", false, "required", []string{"steps"},
				"properties", obj("limit", obj("type", "integer", "minimum", 0), "steps", steps)),
			"if", obj("type", []string{"string", "boolean"}),
			"timeout", ref("duration"),
			"retry", obj("type", "object", "additionalProperties", false, "properties", obj(
				"attempts", obj("type", "integer", "minimum", 1), "backoff", ref("duration"), "max_backoff", ref("duration"))),
			"on_error", obj("enum", []string{"abort", "continue", "pause"}),
			"expected_errors", obj("type", "array", "items", typeSchema(reflect.TypeFor[struct {
				Pattern string `json:"pattern" drctl:"required"`
				Max     int    `json:"max" drctl:"required"`
			}](), fieldInfo{})),
			"destructive", obj("type", "boolean"),
		),
		"oneOf", []any{obj("required", []string{"uses"}), obj("required", []string{"approval"}), obj("required", []string{"parallel"})},
		"allOf", cases,
	)
	param := obj("type", "object", "additionalProperties", false, "required", []string{"type"},
		"properties", obj("type", obj("enum", paramTypes), "description", obj("type", "string"),
			"required", obj("type", "boolean"), "default", obj(), "values", obj("type", "array", "items", obj("type", "string")),
			"zone", obj("type", "string")))
	return obj(
		"$schema", "http://json-schema.org/draft-07/schema#",
		"title", "drctl runbook",
		"type", "object", "additionalProperties", false, "required", []string{"runbook", "steps"},
		"properties", obj(
			"runbook", obj("type", "string"),
			"description", obj("type", "string"),
			"kind", obj("enum", runbookKinds),
			"params", obj("type", "object", "additionalProperties", param),
			"targets", obj("type", "object", "additionalProperties", false, "properties", obj("rto", ref("duration"), "rpo", ref("duration"), "lost_at", ref("template"))),
			"steps", steps, "on_failure", steps, "finally", steps,
		),
		"definitions", obj(
			"step", step,
			"duration", obj("type", "string", "pattern", durationPattern),
			"template", obj("type", "string", "pattern", templatePattern),
		),
	)
}

// described adds a description, when there is one, for an editor to show.
func described(s map[string]any, text string) map[string]any {
	if text != "" && s["description"] == nil {
		s["description"] = text
	}
	return s
}

func obj(kv ...any) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// typeSchema describes a step input type; every non-text value may instead
// be a template.
func typeSchema(t reflect.Type, f fieldInfo) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	orTemplate := func(s map[string]any) map[string]any {
		return obj("anyOf", []any{s, obj("$ref", "#/definitions/template")})
	}
	switch t {
	case refType:
		return obj("type", "string", "pattern", "^(env|file):.+$", "description", "a secret reference: env:NAME or file:/path")
	case durationType:
		return orTemplate(obj("type", "string", "pattern", durationPattern))
	case timeType:
		return obj("type", "string", "description", "an RFC 3339 timestamp, e.g. "+time.RFC3339)
	}
	switch t.Kind() {
	case reflect.String:
		s := obj("type", "string")
		if len(f.enum) > 0 {
			return orTemplate(obj("enum", f.enum))
		}
		if f.format == "date" {
			s["pattern"] = `^\d{4}-\d{2}-\d{2}$|` + templatePattern
		}
		return s
	case reflect.Int, reflect.Int64, reflect.Int32:
		return orTemplate(obj("type", "integer"))
	case reflect.Float64:
		return orTemplate(obj("type", "number"))
	case reflect.Bool:
		return orTemplate(obj("type", "boolean"))
	case reflect.Slice:
		return orTemplate(obj("type", "array", "items", typeSchema(t.Elem(), fieldInfo{})))
	case reflect.Map:
		return orTemplate(obj("type", "object", "additionalProperties", typeSchema(t.Elem(), fieldInfo{})))
	case reflect.Struct:
		props := map[string]any{}
		required := []string{}
		for _, fi := range fieldsOf(t) {
			props[fi.key] = described(typeSchema(t.Field(fi.index).Type, fi), fieldDoc(fieldDocs, t, fi.index))
			if fi.required {
				required = append(required, fi.key)
			}
		}
		return orTemplate(obj("type", "object", "additionalProperties", false, "properties", props, "required", required))
	}
	return obj()
}
