package model

import (
	"errors"
	"strings"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

func rel(source, typ, target string) catalog.Relation {
	return catalog.Relation{Source: source, Type: typ, Target: target}
}

func mustObj(t *testing.T, s string) *ojson.Object {
	t.Helper()
	o, err := ojson.DecodeObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		name, in string
		d        RefDefaults
		want     Ref
		wantErr  string
	}{
		{"full", "Component:NS/Name", RefDefaults{}, Ref{"Component", "NS", "Name"}, ""},
		{"default kind and ns", "team-a", RefDefaults{Kind: "Group", Namespace: "other"}, Ref{"Group", "other", "team-a"}, ""},
		{"ns falls back to default", "user:jdoe", RefDefaults{}, Ref{"user", "default", "jdoe"}, ""},
		{"slash before colon: no kind", "ns/a:b", RefDefaults{Kind: "Component"}, Ref{"Component", "ns", "a:b"}, ""},
		{"missing kind", "foo", RefDefaults{}, Ref{}, `Entity reference "foo" had missing or empty kind (e.g. did not start with "component:" or similar)`},
		{"empty kind", ":foo", RefDefaults{Kind: "X"}, Ref{}, `Entity reference ":foo" was not on the form [<kind>:][<namespace>/]<name>`},
		{"empty name", "group:", RefDefaults{}, Ref{}, `Entity reference "group:" was not on the form [<kind>:][<namespace>/]<name>`},
		{"empty namespace", "group:/x", RefDefaults{}, Ref{}, `Entity reference "group:/x" was not on the form [<kind>:][<namespace>/]<name>`},
		{"empty", "", RefDefaults{Kind: "X"}, Ref{}, "Entity reference must not be empty"},
		{"case kept", "Template:Default/My-Tpl", RefDefaults{}, Ref{"Template", "Default", "My-Tpl"}, ""},
		{"explicit parts beat defaults", "api:ns/x", RefDefaults{Kind: "Component", Namespace: "other"}, Ref{"api", "ns", "x"}, ""},
		{"default namespace only", "x", RefDefaults{Kind: "template"}, Ref{"template", "default", "x"}, ""},
		{"second colon is in the name", "a:b:c", RefDefaults{}, Ref{"a", "default", "b:c"}, ""},
		{"second slash is in the name", "a:b/c/d", RefDefaults{}, Ref{"a", "b", "c/d"}, ""},
		{"no kind, slashes", "a/b/c", RefDefaults{Kind: "K"}, Ref{"K", "a", "b/c"}, ""},
		{"slash before colon without default kind", "ns/a:b", RefDefaults{}, Ref{}, `Entity reference "ns/a:b" had missing or empty kind (e.g. did not start with "component:" or similar)`},
		{"leading slash", "/x", RefDefaults{Kind: "K"}, Ref{}, `Entity reference "/x" was not on the form [<kind>:][<namespace>/]<name>`},
		{"trailing slash", "x/", RefDefaults{Kind: "K"}, Ref{}, `Entity reference "x/" was not on the form [<kind>:][<namespace>/]<name>`},
		{"colon only", ":", RefDefaults{Kind: "K"}, Ref{}, `Entity reference ":" was not on the form [<kind>:][<namespace>/]<name>`},
		{"kind and slash only", "k:/", RefDefaults{}, Ref{}, `Entity reference "k:/" was not on the form [<kind>:][<namespace>/]<name>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRef(tt.in, tt.d)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRef = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if s := NewRef("Component", "", "Name").String(); s != "component:default/name" {
		t.Fatalf("NewRef.String = %q", s)
	}
	if s := (Ref{"Component", "NS", "Name"}).String(); s != "component:ns/name" {
		t.Fatalf("String = %q", s)
	}
	if s := EntityRef(mustObj(t, `{"kind":"API","metadata":{"name":"Foo"}}`)); s != "api:default/foo" {
		t.Fatalf("EntityRef = %q", s)
	}
}

func TestApplyPoliciesKeyOrder(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"namespace absent moves metadata first",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"a","title":"A"},"spec":{"type":"t","lifecycle":"l","owner":"o"}}`,
			`{"metadata":{"namespace":"default","name":"a","title":"A"},"apiVersion":"backstage.io/v1alpha1","kind":"Component","spec":{"type":"t","lifecycle":"l","owner":"o"}}`},
		{"namespace present keeps order",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"a","namespace":"x"},"spec":{"type":"t","lifecycle":"l","owner":"o"}}`,
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"a","namespace":"x"},"spec":{"type":"t","lifecycle":"l","owner":"o"}}`},
		{"relation arrays sorted",
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"namespace":"x","name":"a","tags":["b","a"]},"spec":{"type":"t","lifecycle":"l","owner":"o","providesApis":["z","b","a"]}}`,
			`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"namespace":"x","name":"a","tags":["b","a"]},"spec":{"type":"t","lifecycle":"l","owner":"o","providesApis":["a","b","z"]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustObj(t, tt.in)
			before := string(ojson.MustMarshal(in))
			out, err := ApplyPolicies(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(ojson.MustMarshal(out)); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if string(ojson.MustMarshal(in)) != before {
				t.Fatal("input was modified")
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	_, err := ApplyPolicies(mustObj(t, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"a!"}}`))
	if !errors.Is(err, backend.ErrInput) || backend.KindOf(err) != backend.ErrInput {
		t.Fatalf("policy error kind = %v", backend.KindOf(err))
	}
	if !strings.HasPrefix(backend.MessageOf(err), "Policy check failed for component:default/a!; caused by Error: ") {
		t.Fatalf("message = %q", backend.MessageOf(err))
	}
	err = Validate(mustObj(t, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"a"},"foo":1}`))
	if backend.KindOf(err) != backend.ErrConflict {
		t.Fatalf("validate error kind = %v (%v)", backend.KindOf(err), err)
	}
}

func TestBuildRelations(t *testing.T) {
	tests := []struct {
		name, entity string
		want         []catalog.Relation
		wantErr      string
	}{
		{"component in other namespace", `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"namespace":"Ns","name":"Svc"},"spec":{"owner":"Team","system":"default/sys","dependsOn":["resource:db"]}}`,
			[]catalog.Relation{
				rel("component:ns/svc", "ownedBy", "group:ns/team"), rel("group:ns/team", "ownerOf", "component:ns/svc"),
				rel("component:ns/svc", "dependsOn", "resource:ns/db"), rel("resource:ns/db", "dependencyOf", "component:ns/svc"),
				rel("component:ns/svc", "partOf", "system:default/sys"), rel("system:default/sys", "hasPart", "component:ns/svc"),
			}, ""},
		{"group", `{"apiVersion":"backstage.io/v1alpha1","kind":"Group","metadata":{"name":"g"},"spec":{"parent":"p","children":["c"],"members":["m"]}}`,
			[]catalog.Relation{
				rel("group:default/g", "childOf", "group:default/p"), rel("group:default/p", "parentOf", "group:default/g"),
				rel("group:default/g", "parentOf", "group:default/c"), rel("group:default/c", "childOf", "group:default/g"),
				rel("group:default/g", "hasMember", "user:default/m"), rel("user:default/m", "memberOf", "group:default/g"),
			}, ""},
		{"template owner", `{"apiVersion":"scaffolder.backstage.io/v1beta3","kind":"Template","metadata":{"name":"t"},"spec":{"owner":"user:me"}}`,
			[]catalog.Relation{rel("template:default/t", "ownedBy", "user:default/me"), rel("user:default/me", "ownerOf", "template:default/t")}, ""},
		{"dependsOn without kind", `{"apiVersion":"backstage.io/v1alpha1","kind":"Resource","metadata":{"name":"r"},"spec":{"dependsOn":["x"]}}`, nil,
			`Processor BuiltinKindsEntityProcessor threw an error while postprocessing; caused by Error: Entity reference "x" had missing or empty kind (e.g. did not start with "component:" or similar)`},
		{"unknown kind", `{"apiVersion":"x/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"owner":"o"}}`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BuildRelations(mustObj(t, tt.entity))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("relation %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestSearchRows(t *testing.T) {
	long := strings.Repeat("x", 201)
	e := mustObj(t, `{"apiVersion":"v1","kind":"Component","metadata":{"name":"A","uid":"u1","etag":"e","tags":["Java","java","Go"]},
		"spec":{"n":1.5,"b":false,"z":null,"nested":[{"a":1},{"a":"Q"}],"long":"`+long+`","empty":""},
		"relations":[{"type":"ownedBy","targetRef":"group:default/t"}],"status":{"items":[]}}`)
	rows, err := SearchRows(e)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range rows {
		v := "<null>"
		if r.Value != nil {
			v = *r.Value + "|" + *r.OriginalValue
		}
		got[r.Key] = append(got[r.Key], v)
	}
	want := map[string][]string{
		"apiversion":         {"v1|v1"},
		"kind":               {"component|Component"},
		"metadata.tags":      {"java|Java", "go|Go"},
		"metadata.tags.java": {"true|true"},
		"metadata.tags.go":   {"true|true"},
		"spec.n":             {"1.5|1.5"},
		"spec.b":             {"false|false"},
		"spec.z":             {"<null>"},
		"spec.nested.a":      {"1|1", "q|Q"},
		"spec.long":          {"<null>"},
		"spec.empty":         {"|"},
		"metadata.name":      {"a|A"},
		"metadata.namespace": {"<null>", "default|default"},
		"metadata.uid":       {"u1|u1"},
		"relations.ownedby":  {"group:default/t|group:default/t"},
	}
	if len(got) != len(want) {
		t.Fatalf("got keys %v", got)
	}
	for k, w := range want {
		if strings.Join(got[k], ",") != strings.Join(w, ",") {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}

	_, err = SearchRows(mustObj(t, `{"kind":"C","metadata":{"name":"a"},"spec":{"Foo":1,"foo":2,"FOO":3}}`))
	if err == nil || err.Error() != "Entity has duplicate keys that vary only in casing, 'spec.foo', 'spec.foo'" {
		t.Fatalf("err = %v", err)
	}
	if backend.KindOf(err) != backend.ErrInput {
		t.Fatalf("kind = %v", backend.KindOf(err))
	}
}

func TestStitch(t *testing.T) {
	p := mustObj(t, `{"apiVersion":"v1","kind":"Component","metadata":{"name":"a","etag":"keep","annotations":{"backstage.io/view-url":" JaVa\tscript:alert(1)","backstage.io/edit-url":"https://ok"}},"status":{"items":[{"type":"x","level":"info","message":"m"}]}}`)
	before := string(ojson.MustMarshal(p))
	final, hash := Stitch(StitchInput{
		Processed: p, UID: "u", Orphan: true,
		Relations: []catalog.Relation{rel("c", "partOf", "s:b"), rel("c", "ownedBy", "g:z"), rel("c", "ownedBy", "g:a"), rel("c", "ownedBy", "g:a")},
		Errors:    []catalog.SerializedError{{Name: "InputError", Message: "bad; caused by Error: x", Cause: &catalog.SerializedError{Name: "Error", Message: "x"}}},
	})
	want := `{"apiVersion":"v1","kind":"Component","metadata":{"name":"a","etag":"keep","annotations":{"backstage.io/view-url":"https://backstage.io/annotation-rejected-for-security-reasons","backstage.io/edit-url":"https://ok","backstage.io/orphan":"true"},"uid":"u"},` +
		`"status":{"items":[{"type":"x","level":"info","message":"m"},{"type":"backstage.io/catalog-processing","level":"error","message":"InputError: bad; caused by Error: x","error":{"name":"InputError","message":"bad; caused by Error: x","cause":{"name":"Error","message":"x"}}}]},` +
		`"relations":[{"type":"ownedBy","targetRef":"g:a"},{"type":"ownedBy","targetRef":"g:z"},{"type":"partOf","targetRef":"s:b"}]}`
	if got := string(ojson.MustMarshal(final)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if len(hash) != 40 {
		t.Fatalf("hash = %q", hash)
	}
	if string(ojson.MustMarshal(p)) != before {
		t.Fatal("processed entity was modified")
	}
	empty, _ := Stitch(StitchInput{Processed: mustObj(t, `{"kind":"X","metadata":{"name":"a"}}`), UID: "u"})
	if got := string(ojson.MustMarshal(empty)); !strings.Contains(got, `"relations":[]`) {
		t.Fatalf("no relations: %s", got)
	}
}

func TestProject(t *testing.T) {
	e := mustObj(t, `{"apiVersion":"v1","kind":"K","metadata":{"name":"a","annotations":{"backstage.io/view-url":"u","x":"y"},"tags":["t"]},"spec":{"n":null}}`)
	tests := []struct {
		name   string
		fields []string
		want   string
	}{
		{"nesting kept, field order", []string{"metadata.name", "kind"}, `{"metadata":{"name":"a"},"kind":"K"}`},
		{"dotted key", []string{"metadata.annotations.backstage.io/view-url"}, `{"metadata":{"annotations":{"backstage.io/view-url":"u"}}}`},
		{"missing omitted, null kept", []string{"spec.n", "spec.missing", "nope"}, `{"spec":{"n":null}}`},
		{"whole subtree then child", []string{"metadata", "metadata.name"}, `{"metadata":{"name":"a","annotations":{"backstage.io/view-url":"u","x":"y"},"tags":["t"]}}`},
		{"array index", []string{"metadata.tags.0"}, `{"metadata":{"tags":{"0":"t"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(ojson.MustMarshal(Project(e, tt.fields))); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRules(t *testing.T) {
	comp := mustObj(t, `{"kind":"Component","spec":{"type":"Service"}}`)
	user := mustObj(t, `{"kind":"User","spec":{}}`)
	res := mustObj(t, `{"kind":"Resource","spec":{"type":"database"}}`)
	def, err := NewRules(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	custom, err := NewRules([]Rule{
		{Allow: []RuleKind{{Kind: "component", SpecType: "service"}}},
		{Allow: []RuleKind{{Kind: "Resource"}}, Locations: []RuleLocation{{Type: "url", Pattern: "https://github.com/org/*/blob/main/res.yaml"}}},
	}, []ConfigLocation{{Type: "url", Target: "https://x/users.yaml", Rules: [][]string{{"User", "Group"}}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		rules       Rules
		e           *ojson.Object
		typ, target string
		want        bool
	}{
		{"default allows component", def, comp, "url", "https://a", true},
		{"default denies user", def, user, "url", "https://a", false},
		{"spec.type matches case-insensitively", custom, comp, "file", "/x", true},
		{"pattern match", custom, res, "url", "https://github.com/org/repo/blob/main/res.yaml", true},
		{"pattern mismatch", custom, res, "url", "https://github.com/org/repo/blob/dev/res.yaml", false},
		{"location rule exact", custom, user, "url", "https://x/users.yaml", true},
		{"location rule other target", custom, user, "url", "https://x/other.yaml", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rules.IsAllowed(tt.e, tt.typ, tt.target); got != tt.want {
				t.Fatalf("IsAllowed = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := NewRules([]Rule{{Locations: []RuleLocation{{Type: "url", Exact: "a", Pattern: "b"}}}}, nil); err == nil {
		t.Fatal("exact+pattern accepted")
	}
	err = NotAllowedError("user:default/x", "url:https://a/b.yaml", "url:https://a/c.yaml")
	if backend.KindOf(err) != backend.ErrNotAllowed ||
		err.Error() != "Entity user:default/x at url:https://a/b.yaml, originated at url:https://a/c.yaml, is not of an allowed kind for that location" {
		t.Fatalf("NotAllowedError = %v", err)
	}
}
