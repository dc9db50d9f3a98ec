package glob_test

import (
	"slices"
	"testing"

	"github.com/understage/understage/plugins/backend/glob"
)

func TestExpandBraces(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"plain", []string{"plain"}},
		{"{a,b}", []string{"a", "b"}},
		{"src/{a,b}.{js,ts}", []string{"src/a.js", "src/a.ts", "src/b.js", "src/b.ts"}},
		{"x{a,b{1,2}}y", []string{"xay", "xb1y", "xb2y"}},
		{"{single}", []string{"{single}"}},
		{"{}", []string{"{}"}},
		{"unclosed{a,b", []string{"unclosed{a,b"}},
		{`\{a,b}`, []string{`\{a,b}`}},
		{`{a\,b,c}`, []string{`a\,b`, "c"}},
		{"{,x}", []string{"", "x"}},
		{"https://{foo,bar}.example.com", []string{"https://foo.example.com", "https://bar.example.com"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := glob.ExpandBraces(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("ExpandBraces(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"catalog-info.yaml", "catalog-info.yaml", true},
		{"*.yaml", "a.yaml", true},
		{"*.yaml", "dir/a.yaml", false},
		{"**/*.yaml", "a.yaml", true},
		{"**/*.yaml", "a/b/c.yaml", true},
		{"a/**", "a", true},
		{"a/**", "a/b/c", true},
		{"a/**/c", "a/c", true},
		{"a/**/c", "a/x/y/c", true},
		{"a/**/c", "a/x/y/d", false},
		{"a/?.txt", "a/b.txt", true},
		{"a/[bc].txt", "a/c.txt", true},
		{"a/[bc].txt", "a/d.txt", false},
		{"a/[", "a/[", false}, // malformed
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.path, func(t *testing.T) {
			if got := glob.Match(tc.pattern, tc.path); got != tc.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
			}
		})
	}
}
