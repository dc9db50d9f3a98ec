package scaffolder

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// validationCase is one parameter set of testdata/validation_cases.yaml
// with the oracle's answer: the {"errors": [...]} body of its 400, or null
// when it accepted the values.
type validationCase struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters"`
	Values     json.RawMessage `json:"values"`
	Answer     json.RawMessage `json:"answer"`
}

func loadValidationCases(t *testing.T) []validationCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/validation_cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := ojson.DecodeYAML(raw)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := v.([]any)
	var out []validationCase
	for _, it := range list {
		o := it.(*ojson.Object)
		p, _ := o.Get("parameters")
		vals, _ := o.Get("values")
		out = append(out, validationCase{Name: o.String("name"), Parameters: ojson.MustMarshal(p), Values: ojson.MustMarshal(vals)})
	}
	return out
}

// TestRecordValidation records the oracle's answers to the parameter sets
// of testdata/validation_cases.yaml (POST /v2/dry-run validates values
// against each page with the jsonschema package, as task creation does):
//
//	UNDERSTAGE_RECORD_SCAFFOLDER=http://127.0.0.1:7150 go test ./scaffolder -run TestRecordValidation
func TestRecordValidation(t *testing.T) {
	base := os.Getenv("UNDERSTAGE_RECORD_SCAFFOLDER")
	if base == "" {
		t.Skip("set UNDERSTAGE_RECORD_SCAFFOLDER=http://127.0.0.1:7150 to record from the oracle")
	}
	cases := loadValidationCases(t)
	for i, c := range cases {
		body := `{"template":{"apiVersion":"scaffolder.backstage.io/v1beta3","kind":"Template","metadata":{"name":"v"},` +
			`"spec":{"type":"service","parameters":` + string(c.Parameters) + `,"steps":[]}},"values":` + string(c.Values) + `,"directoryContents":[]}`
		resp, err := http.Post(base+"/api/scaffolder/v2/dry-run", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		switch resp.StatusCode {
		case 200:
			cases[i].Answer = json.RawMessage("null")
		case 400:
			cases[i].Answer = raw
		default:
			t.Fatalf("%s: %d %s", c.Name, resp.StatusCode, raw)
		}
	}
	b, err := json.MarshalIndent(cases, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/validation_oracle.json", append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestValidateParametersMatchesOracle replays the recorded answers: our
// 400 body ({"errors": [...]} in the jsonschema package's shape, paths,
// messages and order) must be the oracle's byte for byte.
func TestValidateParametersMatchesOracle(t *testing.T) {
	raw, err := os.ReadFile("testdata/validation_oracle.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []validationCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if want := len(loadValidationCases(t)); len(cases) != want {
		t.Fatalf("%d recorded cases for %d inputs: re-record", len(cases), want)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			params, err := ojson.Decode(c.Parameters)
			if err != nil {
				t.Fatal(err)
			}
			tpl, err := ParseTemplate(ojson.NewObject("apiVersion", APIVersion, "kind", "Template", "spec", ojson.NewObject("parameters", params)))
			if err != nil {
				t.Fatal(err)
			}
			values, _ := ojson.Decode(c.Values)
			got := []byte("null")
			if errs := ValidateParameters(tpl.Pages, values); errs != nil {
				list := make([]any, len(errs))
				for i, e := range errs {
					list[i] = e
				}
				got = ojson.MustMarshal(ojson.NewObject("errors", list))
			}
			want, err := ojson.Decode(c.Answer)
			if err != nil {
				t.Fatal(err)
			}
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
	in := json.RawMessage(`{"type":"object","properties":{"x":{"type":"string"}}}`)
	for _, id := range []string{"z:last", "a:first", "m:mid"} {
		if err := a.Add(Action{ID: id, Input: in, Run: run}); err != nil {
			t.Fatal(err)
		}
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

// TestActionsRegistryRefuses: the registry refuses, naming the action,
// what would otherwise be found only when a template runs (or never).
func TestActionsRegistryRefuses(t *testing.T) {
	run := func(context.Context, *ActionContext) error { return nil }
	in := json.RawMessage(`{"type":"object"}`)
	cases := []struct {
		name string
		add  []Action
		kind error
		msg  string
	}{
		{"duplicate of a registered id", []Action{{ID: "m:mid", Input: in, Run: run}}, backend.ErrConflict,
			"Template action with ID 'm:mid' has already been registered"},
		{"duplicate within one call", []Action{{ID: "n:new", Input: in, Run: run}, {ID: "n:new", Input: in, Run: run}}, backend.ErrConflict,
			"Template action with ID 'n:new' has already been registered"},
		{"no input schema", []Action{{ID: "x:noschema", Run: run}}, backend.ErrInput,
			"scaffolder action x:noschema: no input schema"},
		{"blank input schema", []Action{{ID: "x:blank", Input: json.RawMessage(" \n"), Run: run}}, backend.ErrInput,
			"scaffolder action x:blank: no input schema"},
		{"input schema not JSON", []Action{{ID: "x:broken", Input: json.RawMessage(`{"type":`), Run: run}}, backend.ErrInput,
			"scaffolder action x:broken: input schema is not JSON"},
		{"input schema not an object", []Action{{ID: "x:array", Input: json.RawMessage(`[]`), Run: run}}, backend.ErrInput,
			"scaffolder action x:array: input schema is not a JSON object"},
		{"input schema does not compile", []Action{{ID: "x:bad", Input: json.RawMessage(`{"type":"nope"}`), Run: run}}, backend.ErrInput,
			"scaffolder action x:bad: input schema does not compile"},
		{"output schema does not compile", []Action{{ID: "x:out", Input: in, Output: json.RawMessage(`{"required":"a"}`), Run: run}}, backend.ErrInput,
			"scaffolder action x:out: output schema does not compile"},
		{"no run", []Action{{ID: "x:norun", Input: in}}, backend.ErrInput,
			"scaffolder action x:norun: no Run function"},
		{"no id", []Action{{Description: "Anonymous", Input: in, Run: run}}, backend.ErrInput,
			`scaffolder action without an id (description "Anonymous")`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := NewActions()
			if err := a.Add(Action{ID: "m:mid", Input: in, Run: run}); err != nil {
				t.Fatal(err)
			}
			err := a.AddActions(c.add...)
			if backend.KindOf(err) != c.kind || !strings.HasPrefix(backend.MessageOf(err), c.msg) {
				t.Errorf("got %v (%v), want %v %q", err, backend.KindOf(err), c.kind, c.msg)
			}
			// A refused call registers nothing.
			if got := len(a.List()); got != 1 {
				t.Errorf("%d actions registered after a refusal", got)
			}
		})
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
		// As catalog-model: a slash before the colon puts it in the name.
		"a/b:c": "template a b:c",
		// Malformed: catalog-model's TypeError.
		":":           "error",
		"template:/x": "error",
		"x/":          "error",
	} {
		k, n, name, err := ParseTemplateRef(ref)
		got := k + " " + n + " " + name
		if err != nil {
			got = "error"
			if !strings.Contains(err.Error(), "was not on the form") {
				t.Errorf("%s: %v", ref, err)
			}
		}
		if got != want {
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
