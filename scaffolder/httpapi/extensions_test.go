package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
	"github.com/understage/understage/scaffolder/httpapi"
)

// TestRegisteredExtensions registers a filter, two globals and an
// autocomplete provider through the scaffolder registry, as a module would,
// and uses them through the API: templates render with them (in a step
// input and in a fetch:template skeleton), GET /v2/templating-extensions
// lists them after Backstage's own, and the provider answers.
func TestRegisteredExtensions(t *testing.T) {
	reg := scaffolder.NewRegistry()
	shout := func(in any, _ ...any) (any, error) {
		s, _ := in.(string)
		return strings.ToUpper(s) + "!", nil
	}
	if err := reg.AddTemplateFilters(scaffolder.TemplateFilter{Name: "shout", Description: "Upper-cases a string.", Fn: shout}); err != nil {
		t.Fatal(err)
	}
	greet := func(args ...any) (any, error) {
		s, _ := args[0].(string)
		return "hello " + s, nil
	}
	if err := reg.AddTemplateGlobals(
		scaffolder.TemplateGlobal{Name: "greet", Description: "Greets.", Fn: greet},
		scaffolder.TemplateGlobal{Name: "team", Value: "fernwood"},
	); err != nil {
		t.Fatal(err)
	}
	acme := func(ctx context.Context, resource, token string, c map[string]string) ([]any, error) {
		if resource != "things" {
			return nil, backend.Input("Invalid resource: %s", resource)
		}
		return []any{ojson.NewObject("id", c["prefix"]+"-1")}, nil
	}
	if err := reg.AddAutocompleteProvider(scaffolder.AutocompleteProvider{ID: "acme", Handler: acme}); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddActions(builtin.Actions(builtin.Options{Filters: reg.Filters(), Globals: reg.Globals()})...); err != nil {
		t.Fatal(err)
	}
	svc := &scaffolder.Service{Runner: &scaffolder.Runner{Actions: reg.Actions(), Filters: reg.Filters(), Globals: reg.Globals(),
		WorkingDirectory: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}}
	hs := httpserver.New(httpserver.Options{})
	hs.SetReady()
	httpapi.Register(hs.Plugin("scaffolder"), httpapi.Options{Service: svc, Registry: reg})
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	do := func(t *testing.T, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/api/scaffolder"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	t.Run("templating-extensions", func(t *testing.T) {
		code, out := do(t, "GET", "/v2/templating-extensions", "")
		ext, err := ojson.DecodeObject([]byte(out))
		if code != 200 || err != nil {
			t.Fatalf("%d %s", code, out)
		}
		if got := strings.Join(ext.Object("filters").Keys(), ","); got != "parseRepoUrl,parseEntityRef,pick,projectSlug,shout" {
			t.Errorf("filters %s", got)
		}
		for _, c := range []struct{ path, want string }{
			{"filters.shout", `{"description":"Upper-cases a string."}`},
			{"globals.functions", `{"greet":{"description":"Greets."}}`},
			{"globals.values", `{"team":{"value":"fernwood"}}`},
		} {
			var v any = ext
			for _, k := range strings.Split(c.path, ".") {
				v, _ = v.(*ojson.Object).Get(k)
			}
			if b, _ := ojson.Marshal(v); string(b) != c.want {
				t.Errorf("%s = %s, want %s", c.path, b, c.want)
			}
		}
	})

	t.Run("templates use them", func(t *testing.T) {
		req := `{"template":{"apiVersion":"scaffolder.backstage.io/v1beta3","kind":"Template","metadata":{"name":"d"},"spec":{"type":"service",
"steps":[{"id":"log","action":"debug:log","input":{"message":"${{ parameters.name | shout }} ${{ greet(team) }}"}},
{"id":"skel","action":"fetch:template","input":{"url":"./skeleton","values":{"name":"${{ parameters.name }}"}}}]}},
"values":{"name":"jane"},"directoryContents":[{"path":"skeleton/out.txt","base64Content":"JHt7IHZhbHVlcy5uYW1lIHwgc2hvdXQgfX0gJHt7IGdyZWV0KHRlYW0pIH19"}]}`
		code, out := do(t, "POST", "/v2/dry-run", req)
		if code != 200 || !strings.Contains(out, `JANE! hello fernwood`) {
			t.Fatalf("%d %s", code, out)
		}
		res, _ := ojson.DecodeObject([]byte(out))
		files, _ := res.Get("directoryContents")
		list, _ := files.([]any)
		if len(list) != 1 || list[0].(*ojson.Object).String("path") != "out.txt" ||
			list[0].(*ojson.Object).String("base64Content") != "SkFORSEgaGVsbG8gZmVybndvb2Q=" {
			t.Errorf("skeleton %s", out)
		}
	})

	t.Run("autocomplete provider", func(t *testing.T) {
		code, out := do(t, "POST", "/v2/autocomplete/acme/things", `{"token":"t","context":{"prefix":"p"}}`)
		if code != 200 || out != `{"results":[{"id":"p-1"}]}` {
			t.Errorf("%d %s", code, out)
		}
		code, out = do(t, "POST", "/v2/autocomplete/nope/things", `{"token":"t","context":{}}`)
		if code != 400 || !strings.Contains(out, `"message":"Unsupported provider: nope"`) {
			t.Errorf("%d %s", code, out)
		}
	})
}

// TestRegistryRefuses: each extension point refuses, naming it, a
// duplicate or incomplete registration, and adds nothing of a refused call.
func TestRegistryRefuses(t *testing.T) {
	id := func(in any, _ ...any) (any, error) { return in, nil }
	fn := func(...any) (any, error) { return nil, nil }
	ac := func(context.Context, string, string, map[string]string) ([]any, error) { return nil, nil }
	newReg := func(t *testing.T) *scaffolder.Registry {
		r := scaffolder.NewRegistry()
		if err := r.AddTemplateFilters(scaffolder.TemplateFilter{Name: "f", Fn: id}); err != nil {
			t.Fatal(err)
		}
		if err := r.AddTemplateGlobals(scaffolder.TemplateGlobal{Name: "g", Fn: fn}); err != nil {
			t.Fatal(err)
		}
		if err := r.AddAutocompleteProvider(scaffolder.AutocompleteProvider{ID: "p", Handler: ac}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	cases := []struct {
		name string
		add  func(r *scaffolder.Registry) error
		kind error
		msg  string
	}{
		{"filter twice", func(r *scaffolder.Registry) error {
			return r.AddTemplateFilters(scaffolder.TemplateFilter{Name: "f", Fn: id})
		}, backend.ErrConflict, "Template filter with name 'f' has already been registered"},
		{"filter twice in one call", func(r *scaffolder.Registry) error {
			return r.AddTemplateFilters(scaffolder.TemplateFilter{Name: "x", Fn: id}, scaffolder.TemplateFilter{Name: "x", Fn: id})
		}, backend.ErrConflict, "Template filter with name 'x' has already been registered"},
		{"Backstage's filter", func(r *scaffolder.Registry) error {
			return r.AddTemplateFilters(scaffolder.TemplateFilter{Name: "parseRepoUrl", Fn: id})
		}, backend.ErrConflict, "Template filter with name 'parseRepoUrl' is one of Backstage's built-in filters"},
		{"filter without function", func(r *scaffolder.Registry) error {
			return r.AddTemplateFilters(scaffolder.TemplateFilter{Name: "x"})
		}, backend.ErrInput, "template filter x: no function"},
		{"filter without name", func(r *scaffolder.Registry) error {
			return r.AddTemplateFilters(scaffolder.TemplateFilter{Description: "d", Fn: id})
		}, backend.ErrInput, `template filter without a name (description "d")`},
		{"global twice", func(r *scaffolder.Registry) error {
			return r.AddTemplateGlobals(scaffolder.TemplateGlobal{Name: "g", Value: 1})
		}, backend.ErrConflict, "Template global with name 'g' has already been registered"},
		{"runner's global", func(r *scaffolder.Registry) error {
			return r.AddTemplateGlobals(scaffolder.TemplateGlobal{Name: "always", Fn: fn})
		}, backend.ErrConflict, "Template global with name 'always' is reserved by the workflow runner"},
		{"global without name", func(r *scaffolder.Registry) error {
			return r.AddTemplateGlobals(scaffolder.TemplateGlobal{Value: 1})
		}, backend.ErrInput, `template global without a name (description "")`},
		{"provider twice", func(r *scaffolder.Registry) error {
			return r.AddAutocompleteProvider(scaffolder.AutocompleteProvider{ID: "p", Handler: ac})
		}, backend.ErrConflict, "Autocomplete provider with id 'p' has already been registered"},
		{"provider without handler", func(r *scaffolder.Registry) error {
			return r.AddAutocompleteProvider(scaffolder.AutocompleteProvider{ID: "q"})
		}, backend.ErrInput, "autocomplete provider q: no handler"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newReg(t)
			err := c.add(r)
			if backend.KindOf(err) != c.kind || backend.MessageOf(err) != c.msg {
				t.Errorf("got %v, want %v %q", err, c.kind, c.msg)
			}
			if len(r.Filters()) != 1 || len(r.Globals()) != 1 || len(r.AutocompleteProviders()) != 1 {
				t.Errorf("a refused call registered something: %d filters, %d globals, %d providers",
					len(r.Filters()), len(r.Globals()), len(r.AutocompleteProviders()))
			}
		})
	}
}
