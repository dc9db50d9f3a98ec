package scaffolder

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/understage/understage/catalog/ojson"
	"github.com/understage/understage/plugins/backend"
)

// TestValidateJSONMatchesOracle replays validation errors recorded from the
// oracle (the jsonschema npm package behind POST /v2/dry-run).
func TestValidateJSONMatchesOracle(t *testing.T) {
	raw, err := os.ReadFile("testdata/validation_oracle.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name   string
		Schema json.RawMessage
		Values json.RawMessage
		Errors json.RawMessage
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			schema, _ := ojson.DecodeObject(c.Schema)
			values, _ := ojson.Decode(c.Values)
			errs := ValidateParameters([]*ojson.Object{schema}, values)
			var got []byte = []byte("null")
			if errs != nil {
				list := make([]any, len(errs))
				for i, e := range errs {
					list[i] = e
				}
				got = ojson.MustMarshal(list)
			}
			want, _ := ojson.Decode(c.Errors)
			if string(got) != string(ojson.MustMarshal(want)) {
				t.Errorf("\n got %s\nwant %s", got, ojson.MustMarshal(want))
			}
		})
	}
}

func TestParameterSchemaMatchesOracle(t *testing.T) {
	raw, _ := os.ReadFile("testdata/t1_entity.json")
	ent, err := ojson.DecodeObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := ParseTemplate(ent)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("testdata/t1_parameter_schema.json")
	if got := ojson.MustMarshal(tpl.ParameterSchema()); string(got) != strings.TrimSpace(string(want)) {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	if got := EntityBaseURL(ent); got != "file:///tmp/scaf-tpl/t1.yaml" {
		t.Errorf("base URL %s", got)
	}
	if tpl.Ref() != "template:default/t1" {
		t.Errorf("ref %s", tpl.Ref())
	}
}

func TestParseTemplateRejectsOtherVersions(t *testing.T) {
	for _, c := range []struct{ doc, msg string }{
		{`{"apiVersion":"scaffolder.backstage.io/v1beta2","kind":"Template"}`, "Unsupported apiVersion field in schema entity, scaffolder.backstage.io/v1beta2"},
		{`{"kind":"Template"}`, "Unsupported apiVersion field in schema entity, undefined"},
	} {
		o, _ := ojson.DecodeObject([]byte(c.doc))
		_, err := ParseTemplate(o)
		if backend.KindOf(err) != backend.ErrInput || backend.MessageOf(err) != c.msg {
			t.Errorf("%s: %v", c.doc, err)
		}
	}
}

func TestActionsRegistry(t *testing.T) {
	a := NewActions()
	run := func(context.Context, *ActionContext) error { return nil }
	for _, id := range []string{"z:last", "a:first", "m:mid"} {
		if err := a.Add(Action{ID: id, Run: run}); err != nil {
			t.Fatal(err)
		}
	}
	err := a.Add(Action{ID: "m:mid", Run: run})
	if backend.KindOf(err) != backend.ErrConflict {
		t.Errorf("duplicate: %v", err)
	}
	var ids []string
	for _, act := range a.List() {
		ids = append(ids, act.ID)
	}
	if strings.Join(ids, ",") != "a:first,m:mid,z:last" {
		t.Errorf("list %v", ids)
	}
	if _, ok := a.Get("nope"); ok {
		t.Error("unknown action found")
	}
}

func TestRedactor(t *testing.T) {
	cases := []struct {
		name    string
		secrets []string
		in, out string
	}{
		{"plain", []string{"s3cret"}, "token s3cret here", "token *** here"},
		{"longest wins", []string{"abc", "abcdef"}, "xabcdefx", "x***x"},
		{"overlap merges", []string{"abcd", "cdef"}, "abcdef", "***"},
		{"adjacent stays apart", []string{"ab", "cd"}, "abcd", "******"},
		{"single characters ignored", []string{"a", " "}, "a a", "a a"},
		{"trimmed", []string{"  pw12  "}, "x pw12 y", "x *** y"},
		{"none", nil, "nothing", "nothing"},
	}
	for _, c := range cases {
		r := newRedactor()
		r.add(c.secrets...)
		if got := r.redact(c.in); got != c.out {
			t.Errorf("%s: %q → %q, want %q", c.name, c.in, got, c.out)
		}
	}
}

func TestCollectSecretRedactions(t *testing.T) {
	with, _ := ojson.Decode([]byte(`{"a":"x-SECRET","b":"same","c":["k","SECRET2"]}`))
	without, _ := ojson.Decode([]byte(`{"a":"x-","b":"same","c":["k",""]}`))
	got := collectSecretRedactions(with, without)
	if strings.Join(got, "|") != "x-SECRET|SECRET2" {
		t.Errorf("%q", got)
	}
}

func TestIsTruthy(t *testing.T) {
	for _, c := range []struct {
		v    any
		want bool
	}{
		{nil, false}, {false, false}, {"", false}, {ojson.Number("0"), false}, {[]any{}, false},
		{true, true}, {"false", true}, {ojson.Number("1"), true}, {[]any{nil}, true}, {ojson.NewObject(), true},
	} {
		if IsTruthy(c.v) != c.want {
			t.Errorf("IsTruthy(%#v) != %v", c.v, c.want)
		}
	}
}

func TestParseTemplateRef(t *testing.T) {
	for ref, want := range map[string]string{
		"t1":                      "template default t1",
		"Template:Default/My-Tpl": "template default my-tpl",
		"template:ns/x":           "template ns x",
		"component:default/thing": "component default thing",
		"ns/x":                    "template ns x",
	} {
		k, n, name := ParseTemplateRef(ref)
		if got := k + " " + n + " " + name; got != want {
			t.Errorf("%s → %s, want %s", ref, got, want)
		}
	}
}

func TestTemplateFilterByPermissionTags(t *testing.T) {
	ent, _ := ojson.DecodeObject([]byte(`{"apiVersion":"scaffolder.backstage.io/v1beta3","kind":"Template","metadata":{"name":"x"},
"spec":{"parameters":[{"title":"open"},{"title":"secret","backstage:permissions":{"tags":["admin"]}}],
"steps":[{"action":"a"},{"action":"b","backstage:permissions":{"tags":["admin"]}},{"action":"c"}]}}`))
	tpl, err := ParseTemplate(ent)
	if err != nil {
		t.Fatal(err)
	}
	noAdmin := func(o *ojson.Object) bool {
		for _, tag := range PermissionTags(o) {
			if tag == "admin" {
				return false
			}
		}
		return true
	}
	tpl.Filter(noAdmin, noAdmin)
	if len(tpl.Pages) != 1 || tpl.Pages[0].String("title") != "open" {
		t.Errorf("pages %v", tpl.Pages)
	}
	steps := ojson.MustMarshal(tpl.NormalizedSteps())
	if string(steps) != `[{"action":"a","id":"step-1","name":"a"},{"action":"c","id":"step-2","name":"c"}]` {
		t.Errorf("steps %s", steps)
	}
}
