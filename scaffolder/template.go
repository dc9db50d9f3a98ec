package scaffolder

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// APIVersion is the only template apiVersion the v2 API runs.
const APIVersion = "scaffolder.backstage.io/v1beta3"

// Template is a scaffolder.backstage.io/v1beta3 Template entity, read
// from the catalog or posted to /v2/dry-run.
type Template struct {
	Entity   *ojson.Object
	Metadata *ojson.Object
	Spec     *ojson.Object
	// Pages are the parameter pages (spec.parameters as one object or an
	// array), each a JSON Schema that may carry `when` and
	// `backstage:permissions`.
	Pages []*ojson.Object
	// Steps are spec.steps as written.
	Steps []*ojson.Object
}

// ParseTemplate checks the apiVersion and splits the entity into its parts.
func ParseTemplate(entity *ojson.Object) (*Template, error) {
	if entity == nil {
		return nil, backend.Input("Input template is not a template")
	}
	if v, _ := entity.Get("apiVersion"); v != APIVersion {
		return nil, backend.Input("Unsupported apiVersion field in schema entity, %s", jsString(v))
	}
	t := &Template{Entity: entity, Metadata: entity.Object("metadata"), Spec: entity.Object("spec")}
	if t.Metadata == nil {
		t.Metadata = ojson.NewObject()
	}
	if t.Spec == nil {
		t.Spec = ojson.NewObject()
	}
	switch p := get(t.Spec, "parameters").(type) {
	case *ojson.Object:
		t.Pages = []*ojson.Object{p}
	case []any:
		for _, page := range p {
			if o, ok := page.(*ojson.Object); ok {
				t.Pages = append(t.Pages, o)
			}
		}
	}
	if steps, ok := get(t.Spec, "steps").([]any); ok {
		for _, s := range steps {
			if o, ok := s.(*ojson.Object); ok {
				t.Steps = append(t.Steps, o)
			}
		}
	}
	return t, nil
}

// Ref is "template:<namespace>/<name>" (lowercased, as stringifyEntityRef does).
func (t *Template) Ref() string {
	ns := t.Metadata.String("namespace")
	if ns == "" {
		ns = "default"
	}
	kind, _ := t.Entity.Get("kind")
	return strings.ToLower(fmt.Sprintf("%s:%s/%s", jsString(kind), ns, t.Metadata.String("name")))
}

// ParameterSchema is the body of GET /v2/templates/.../parameter-schema.
func (t *Template) ParameterSchema() *ojson.Object {
	out := ojson.NewObject()
	if title, ok := t.Metadata.Get("title"); ok && title != nil {
		out.Set("title", title)
	} else {
		out.Set("title", t.Metadata.String("name"))
	}
	if p, ok := t.Spec.Get("presentation"); ok && p != nil {
		out.Set("presentation", p)
	}
	setDefined(out, "description", t.Metadata, "description")
	setDefined(out, "ui:options", t.Metadata, "ui:options")
	steps := make([]any, 0, len(t.Pages))
	for _, page := range t.Pages {
		s := ojson.NewObject()
		if title, ok := page.Get("title"); ok && title != nil {
			s.Set("title", title)
		} else {
			s.Set("title", "Please enter the following information")
		}
		setDefined(s, "description", page, "description")
		s.Set("schema", page)
		steps = append(steps, s)
	}
	out.Set("steps", steps)
	if fd, ok := t.Spec.Get("formDecorators"); ok && fd != nil {
		out.Set("formDecorators", fd)
	} else {
		setDefined(out, "formDecorators", t.Spec, "EXPERIMENTAL_formDecorators")
	}
	return out
}

// NormalizedSteps gives every step its default id ("step-<n>", 1-based) and
// name (the action id). Existing keys keep their place; defaults are appended,
// as the object spread in Backstage's router does.
func (t *Template) NormalizedSteps() []any {
	out := make([]any, 0, len(t.Steps))
	for i, s := range t.Steps {
		c := s.Clone()
		if v, ok := c.Get("id"); !ok || v == nil {
			c.Set("id", fmt.Sprintf("step-%d", i+1))
		}
		if v, ok := c.Get("name"); !ok || v == nil {
			a, _ := c.Get("action")
			c.Set("name", a)
		}
		out = append(out, c)
	}
	return out
}

// TaskSpec builds the spec stored with a task (Backstage's router:
// apiVersion, steps, EXPERIMENTAL_recovery, output, parameters, user,
// templateInfo). Undefined members are left out, as JSON.stringify does.
func (t *Template) TaskSpec(values any, user UserInfo, templateRef, baseURL string) *ojson.Object {
	spec := ojson.NewObject("apiVersion", APIVersion, "steps", t.NormalizedSteps())
	setDefined(spec, "EXPERIMENTAL_recovery", t.Spec, "EXPERIMENTAL_recovery")
	if o, ok := t.Spec.Get("output"); ok && o != nil {
		spec.Set("output", o)
	} else {
		spec.Set("output", ojson.NewObject())
	}
	if values != nil {
		spec.Set("parameters", values)
	}
	spec.Set("user", userObject(user))
	ti := ojson.NewObject("entityRef", templateRef)
	if baseURL != "" {
		ti.Set("baseUrl", baseURL)
	}
	ti.Set("entity", ojson.NewObject("metadata", t.Metadata))
	spec.Set("templateInfo", ti)
	return spec
}

func userObject(u UserInfo) *ojson.Object {
	o := ojson.NewObject()
	if u.Entity != nil {
		o.Set("entity", u.Entity)
	}
	if u.Ref != "" {
		o.Set("ref", u.Ref)
	}
	return o
}

// EntityBaseURL is templateInfo.baseUrl: the template's source-location
// annotation, else its managed-by-location, as a URL (file locations become
// file:// URLs). Relative `url` inputs resolve against it.
func EntityBaseURL(entity *ojson.Object) string {
	ann := entity.Object("metadata")
	if ann != nil {
		ann = ann.Object("annotations")
	}
	if ann == nil {
		return ""
	}
	loc := ann.String("backstage.io/source-location")
	if loc == "" {
		loc = ann.String("backstage.io/managed-by-location")
	}
	typ, target, ok := strings.Cut(loc, ":")
	if !ok {
		return ""
	}
	switch typ {
	case "url":
		return target
	case "file":
		return "file://" + target
	}
	return ""
}

// FileURL turns an absolute path into a file:// URL (Node's pathToFileURL).
func FileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: path}).String()
}

func get(o *ojson.Object, key string) any {
	if o == nil {
		return nil
	}
	v, _ := o.Get(key)
	return v
}

func setDefined(dst *ojson.Object, key string, src *ojson.Object, srcKey string) {
	if src == nil {
		return
	}
	if v, ok := src.Get(srcKey); ok && v != nil {
		dst.Set(key, v)
	}
}

// jsString renders a value as JavaScript's String() would, for messages.
func jsString(v any) string {
	switch x := v.(type) {
	case nil:
		return "undefined"
	case string:
		return x
	case ojson.Number:
		return string(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			if e != nil {
				parts[i] = jsString(e)
			}
		}
		return strings.Join(parts, ",")
	case *ojson.Object:
		return "[object Object]"
	}
	return fmt.Sprint(v)
}

// PermissionTags are the `backstage:permissions.tags` of a parameter page or
// step, which scaffolder.template.parameter.read / .step.read conditions
// (rule HAS_TAG) match.
func PermissionTags(o *ojson.Object) []string {
	p := o.Object("backstage:permissions")
	if p == nil {
		return nil
	}
	arr, _ := get(p, "tags").([]any)
	var out []string
	for _, t := range arr {
		if s, ok := t.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Filter keeps the parameter pages and steps the caller may read, as
// Backstage's router does with the parameter and step read decisions. A nil
// function keeps everything.
func (t *Template) Filter(pageOK, stepOK func(*ojson.Object) bool) {
	if pageOK != nil {
		kept := t.Pages[:0:0]
		for _, p := range t.Pages {
			if pageOK(p) {
				kept = append(kept, p)
			}
		}
		t.Pages = kept
	}
	if stepOK != nil {
		kept := t.Steps[:0:0]
		for _, s := range t.Steps {
			if stepOK(s) {
				kept = append(kept, s)
			}
		}
		t.Steps = kept
	}
}
