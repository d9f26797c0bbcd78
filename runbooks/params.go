package runbooks

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drctl/drctl/workflows"
)

// paramTypes are the types a runbook parameter may have.
var paramTypes = []string{"string", "int", "bool", "enum", "duration", "date", "timestamp", "environment"}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// exprIdentRE is stricter: params and step ids are read in expressions,
// where "-" would parse as a minus.
var exprIdentRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// paramSrc is a parameter declaration as written.
type paramSrc struct {
	Type        string     `yaml:"type" drctl:"required" enum:"string,int,bool,enum,duration,date,timestamp,environment"`
	Description string     `yaml:"description"`
	Required    bool       `yaml:"required"`
	Default     *yaml.Node `yaml:"default"`
	// Values are the choices of an enum.
	Values []string `yaml:"values"`
	// Zone names a param holding the IANA zone for timestamps written
	// without one.
	Zone string     `yaml:"zone"`
	Node *yaml.Node `yaml:"-"`
	name string
	key  *yaml.Node
}

// checkDecl checks a declaration on its own and against the other params.
func (c *compiler) checkDecl(p *paramSrc) {
	if !exprIdentRE.MatchString(p.name) {
		c.r.at(p.key, "param name %q must be letters, digits and _ (it is read as params.%s)", p.name, p.name)
	}
	if p.Type == "enum" && len(p.Values) == 0 {
		c.r.at(keyOf(p.Node, "type"), "param %q is an enum but lists no values", p.name)
	}
	if p.Type != "enum" && len(p.Values) > 0 {
		c.r.at(keyOf(p.Node, "values"), "param %q lists values, but only enum params have values", p.name)
	}
	if p.Zone != "" {
		z, ok := c.params[p.Zone]
		switch {
		case p.Type != "timestamp":
			c.r.at(valueOf(p.Node, "zone"), "param %q: only timestamp params take a zone", p.name)
		case !ok:
			c.r.at(valueOf(p.Node, "zone"), "param %q: zone names param %q, which is not declared%s", p.name, p.Zone, didYouMean(p.Zone, c.paramNames))
		case z.Type != "string" && z.Type != "enum":
			c.r.at(valueOf(p.Node, "zone"), "param %q: zone param %q must be a string or enum holding a zone name such as Europe/London", p.name, p.Zone)
		}
	}
	if p.Required && p.Default != nil {
		c.r.at(keyOf(p.Node, "default"), "param %q is required and has a default; drop one of them", p.name)
	}
	if d := resolve(p.Default); d != nil && p.Type != "timestamp" && p.Type != "environment" {
		if d.Kind != yaml.ScalarNode {
			c.r.at(d, "param %q: default must be a single value, not %s", p.name, kindName(d))
		} else if _, _, err := c.parseParam(p, d.Value, ""); err != nil {
			c.r.at(d, "param %q: default %v", p.name, err)
		}
	}
}

// parseParam converts text to a param's typed value. zone is the value of
// the param's zone param, if any. The second result is the original text
// when the value was normalised (timestamps), for showing both.
func (c *compiler) parseParam(p *paramSrc, s, zone string) (any, string, error) {
	switch p.Type {
	case "string":
		return s, "", nil
	case "int":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("%q is not a whole number", s)
		}
		return n, "", nil
	case "bool":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, "", fmt.Errorf("%q is not true or false", s)
		}
		return b, "", nil
	case "enum":
		if !slices.Contains(p.Values, s) {
			return nil, "", fmt.Errorf("%q is not one of %s%s", s, strings.Join(p.Values, ", "), didYouMean(s, p.Values))
		}
		return s, "", nil
	case "duration":
		d, err := workflows.ParseDuration(s)
		if err != nil {
			return nil, "", err
		}
		return workflows.Duration(d).String(), "", nil
	case "date":
		if _, err := time.Parse(time.DateOnly, s); err != nil || !dateRE.MatchString(s) {
			return nil, "", fmt.Errorf("%q is not a date (yyyy-mm-dd)", s)
		}
		return s, "", nil
	case "timestamp":
		t, err := ParseTimestamp(s, zone)
		if err != nil {
			return nil, "", err
		}
		return t.Format(time.RFC3339Nano), s, nil
	case "environment":
		if c.opts.Config != nil {
			if _, ok := c.opts.Config.Environments[s]; !ok {
				names := slices.Sorted(maps.Keys(c.opts.Config.Environments))
				return nil, "", fmt.Errorf("%q is not an environment of %s (they are %s)%s", s, c.opts.Config.File, strings.Join(names, ", "), didYouMean(s, names))
			}
		}
		return s, "", nil
	}
	return nil, "", fmt.Errorf("unknown type %q", p.Type)
}

// bindParams resolves every param from --param values and defaults, in
// declaration order, zone params before the timestamps that use them.
func (c *compiler) bindParams(decls []*paramSrc) []workflows.ParamValue {
	for name := range c.opts.Params {
		if _, ok := c.params[name]; !ok {
			c.r.at(nil, "--param %s: the runbook has no param %q%s", name, name, didYouMean(name, c.paramNames))
		}
	}
	raw := map[string]string{}
	for _, p := range decls {
		if v, ok := c.opts.Params[p.name]; ok {
			raw[p.name] = v
		} else if d := resolve(p.Default); d != nil && d.Kind == yaml.ScalarNode {
			raw[p.name] = d.Value
		}
	}
	var out []workflows.ParamValue
	for _, p := range decls {
		s, ok := raw[p.name]
		if !ok {
			if p.Required {
				c.r.at(p.key, "param %q is required: pass --param %s=...", p.name, p.name)
			} else {
				c.values[p.name] = nil
				out = append(out, workflows.ParamValue{Name: p.name, Type: p.Type})
			}
			continue
		}
		v, orig, err := c.parseParam(p, s, raw[p.Zone])
		if err != nil {
			c.r.at(p.key, "param %q: %v", p.name, err)
			continue
		}
		c.values[p.name] = v
		out = append(out, workflows.ParamValue{Name: p.name, Type: p.Type, Value: v, Original: orig})
	}
	return out
}
