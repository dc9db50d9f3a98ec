package render

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
)

func TestRenderValueWalk(t *testing.T) {
	in, err := ojson.Decode([]byte(`{"keep":"${{ parameters.n }}","drop":"${{ parameters.none }}","list":["${{ parameters.none }}","x${{ parameters.n }}",true],"bad":"${{ parameters.n | nope }}","nested":{"obj":"${{ parameters.o }}"}}`))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{"parameters": ojson.NewObject("n", ojson.Number("2"), "o", ojson.NewObject("z", "1", "a", "2"))}
	out, err := RenderValue(context.Background(), in, vars, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := string(ojson.MustMarshal(out))
	want := `{"keep":2,"list":[null,"x2",true],"bad":"${{ parameters.n | nope }}","nested":{"obj":{"z":"1","a":"2"}}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestRenderStringErrors(t *testing.T) {
	tests := []struct{ tmpl, want string }{
		{`{% include "x" %}`, `Template error at line 1, column 1: Unsupported template-loading tag "include"`},
		{"a\n${{ x | nope }}", `Template error at line 2, column 9: Unknown template filter "nope"`},
		{"{% for x in y %}", `Template error at line 1, column 1: Missing endfor tag`},
	}
	for _, tt := range tests {
		_, err := RenderString(context.Background(), tt.tmpl, nil, Options{})
		var tre *TemplateRenderError
		if !errors.As(err, &tre) || err.Error() != tt.want {
			t.Errorf("%q: got %v, want %s", tt.tmpl, err, tt.want)
		}
	}
}

// Hostile templates must stop at a limit with an error, not hang or grow.
func TestLimits(t *testing.T) {
	tests := []struct{ name, tmpl string }{
		{"huge range", `{% for i in range(1e12) %}x{% endfor %}`},
		{"nested loops", `{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}x{% endfor %}{% endfor %}{% endfor %}`},
		{"recursion", `{% macro f() %}${{ f() }}{% endmacro %}${{ f() }}`},
		{"string doubling", `{% set s = "xxxxxxxxxxxxxxxx" %}{% for i in range(64) %}{% set s = s ~ s %}{% endfor %}${{ s | length }}`},
		{"replace growth", `{% set s = "abcdefgh" %}{% for i in range(40) %}{% set s = s | replace("", "-") %}{% endfor %}${{ s | length }}`},
		{"output", `{% for i in range(100000) %}${{ "y" * 1 }}{{ "z" | center(1000) }}{% endfor %}`},
		// Catastrophic backtracking, again and again: the regex time budget
		// of the render stops it.
		{"regex backtracking", `{% for i in range(1000) %}${{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" | replace(r/(a+)+$/, "x") }}{% endfor %}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderString(context.Background(), tt.tmpl, nil, Options{Limits: Limits{Steps: 200_000, Output: 1 << 20}})
			if err == nil {
				t.Fatal("expected a limit error")
			}
		})
	}
}

func TestContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := RenderString(ctx, `{% for i in range(100000) %}${{ i }}{% endfor %}`, nil, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, err := RenderValue(ctx, "${{ 1 }}", nil, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("RenderValue: got %v, want context.Canceled", err)
	}
}

func TestBackstageFilters(t *testing.T) {
	tests := []struct{ tmpl, want string }{
		{`${{ "github.com?owner=o&repo=r" | projectSlug }}`, "o/r"},
		{`${{ ("ghe.example.com?owner=o&repo=r" | parseRepoUrl).host }}`, "ghe.example.com"},
		{`${{ "group:team-a" | parseEntityRef | pick("kind") }}`, "group"},
	}
	opts := Options{Integrations: func(host string) string {
		if host == "ghe.example.com" {
			return "github"
		}
		return DefaultIntegrations(host)
	}}
	for _, tt := range tests {
		got, err := RenderString(context.Background(), tt.tmpl, nil, opts)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
	}
}

// FuzzRender renders fuzzed template text, seeded with the render goldens:
// the output stays within its limit and every error is a template error of
// Backstage's shape. The 800 seeds take about 8 s to replay under coverage:
// make fuzz: +10s
func FuzzRender(f *testing.F) {
	c, err := loadCorpusFile()
	if err == nil {
		for _, e := range c.Entries {
			f.Add(e.Template, false)
		}
	}
	f.Add(`{% for a, b in x %}{{ a }}{% else %}{% endfor %}`, true)
	f.Add(`${{ r/(a+)+$/g }}${{ "x".split(r//) }}{% raw %}{% endraw %}`, false)
	f.Add("  {%- raw -%}  {{ x }}  {% endraw %}\n{% verbatim %}${{ y }}{% endverbatim %}", false)
	f.Add("a:\r\n  {%- if x.k -%}\r\n  b\r\n  {%- endif -%}\r\n{#- c -#}", true)
	f.Add("{% switch x.k %}{% case 'v' %}V{% default %}D{% endswitch %}{% call m() %}{% endcall %}", false)
	f.Add("{{ values.a | jsonify(2) }}{{ True }}{{ values.s[::-1] }}{{ values.a.index(1) }}", true)
	f.Add("${{ values.s.replace(r/(?<=s)t/g, '$&') }}${{ values.s | replace(r/\\w+/, '-') }}", false)
	f.Add("${{ 1 < 2 < 3 }}${{ not 1 + 1 }}${{ 'a' ~ 1 + 2 }}${{ x is divisibleby(3) }}${{ (1, 2) }}", false)
	f.Add("${{ values.x.y() }}${{ values.s | uper }}{% iff %}{% endif x %}${{ 1abc }}#}", false)
	vars := map[string]any{"values": ojson.NewObject("s", "str", "a", []any{ojson.Number("1"), "b"}), "x": ojson.NewObject("k", "v")}
	f.Fuzz(func(t *testing.T, tmpl string, cookie bool) {
		opts := Options{CookiecutterCompat: cookie, TrimBlocks: cookie, Limits: Limits{Steps: 20_000, Output: 1 << 16}}
		out, err := RenderString(context.Background(), tmpl, vars, opts)
		if err == nil && len(out) > 1<<16+len(tmpl) {
			t.Fatalf("output %d bytes beyond the limit", len(out))
		}
		if _, err := RenderValue(context.Background(), tmpl, vars, opts); err != nil {
			t.Fatalf("RenderValue must keep failing strings, got %v", err)
		}
		var tre *TemplateRenderError
		var tle *TemplateLimitError
		if err != nil && !errors.As(err, &tre) && !errors.As(err, &tle) {
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "Template ") {
			t.Fatalf("unexpected error shape: %v", err)
		}
	})
}
