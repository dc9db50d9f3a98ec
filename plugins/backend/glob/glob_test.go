package glob_test

import (
	"slices"
	"strings"
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
		// 2^11 alternatives: past the bound, nothing.
		{strings.Repeat("{a,b}", 11), nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := glob.ExpandBraces(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("ExpandBraces(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCompileRefusesBraceBombs(t *testing.T) {
	if _, err := glob.Compile(strings.Repeat("{a,b}", 40), glob.Options{}); err == nil {
		t.Fatal("2^40 alternatives compiled")
	}
	if _, err := glob.Compile(strings.Repeat("{a,b}", 40), glob.Options{NoBrace: true}); err != nil {
		t.Fatalf("NoBrace: %v", err)
	}
}

// Each flavour is the option set of one kind of caller.
var (
	pathMatch = glob.Options{Dot: true}                         // path.Match-like segments (readers, webhook, file locations, fast-glob dot:true)
	minimatch = glob.Options{}                                  // minimatch defaults
	fastGlob  = glob.Options{Dot: true, ChildrenGlobstar: true} // globby {dot: true} over a tree
	rules     = glob.Options{NoCase: true, Dot: true}           // catalog rules: minimatch {nocase, dot}
	cors      = glob.Options{NoCase: true, NoGlobstar: true}    // CORS origins: minimatch {nocase, noglobstar}
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name          string
		o             glob.Options
		pattern, path string
		want          bool
	}{
		{"literal", pathMatch, "catalog-info.yaml", "catalog-info.yaml", true},
		{"star", pathMatch, "*.yaml", "a.yaml", true},
		{"star stays in segment", pathMatch, "*.yaml", "dir/a.yaml", false},
		{"globstar zero", pathMatch, "**/*.yaml", "a.yaml", true},
		{"globstar many", pathMatch, "**/*.yaml", "a/b/c.yaml", true},
		{"trailing globstar zero", pathMatch, "a/**", "a", true},
		{"trailing globstar many", pathMatch, "a/**", "a/b/c", true},
		{"inner globstar zero", pathMatch, "a/**/c", "a/c", true},
		{"inner globstar many", pathMatch, "a/**/c", "a/x/y/c", true},
		{"inner globstar wrong end", pathMatch, "a/**/c", "a/x/y/d", false},
		{"globstar is whole segments", pathMatch, "a/**/b", "a/xb", false},
		{"double globstar", pathMatch, "**/x/**/y", "a/x/b/c/y", true},
		{"globstar inside segment is star", pathMatch, "a**b", "axyb", true},
		{"globstar inside segment stays", pathMatch, "a**b", "ax/yb", false},
		{"qmark", pathMatch, "a/?.txt", "a/b.txt", true},
		{"qmark one char", pathMatch, "a/?.txt", "a/bc.txt", false},
		{"class", pathMatch, "a/[bc].txt", "a/c.txt", true},
		{"class miss", pathMatch, "a/[bc].txt", "a/d.txt", false},
		{"class range", pathMatch, "v[0-9]", "v7", true},
		{"negated class bang", pathMatch, "[!a]x", "bx", true},
		{"negated class bang miss", pathMatch, "[!a]x", "ax", false},
		{"negated class caret", pathMatch, "[^a]x", "ax", false},
		{"posix class", pathMatch, "[[:digit:]]x", "5x", true},
		{"unclosed class is literal", pathMatch, "a/[", "a/[", true},
		{"escape", pathMatch, `a\*b`, "a*b", true},
		{"escape is not a wildcard", pathMatch, `a\*b`, "axb", false},
		{"escape in class", pathMatch, `[\]]`, "]", true},
		{"longer path", pathMatch, "a/b", "a/b/c", false},
		{"shorter path", pathMatch, "a/b/c", "a/b", false},
		{"braces", pathMatch, "src/*.{js,ts}", "src/a.ts", true},
		{"braces miss", pathMatch, "src/*.{js,ts}", "src/a.go", false},
		{"trailing globstar takes the folder itself", pathMatch, "static/**", "static", true},
		{"children globstar skips the folder itself", fastGlob, "static/**", "static", false},
		{"children globstar takes children", fastGlob, "static/**", "static/a/b", true},
		{"children globstar leading is zero or more", fastGlob, "**/x", "x", true},
		{"children globstar inner is zero or more", fastGlob, "a/**/x", "a/x", true},
		{"nobrace literal", glob.Options{Dot: true, NoBrace: true}, "{a,b}", "{a,b}", true},
		{"regexp metacharacters are literal", pathMatch, "a+(b).c$", "a+(b).c$", true},
		{"newline in name", pathMatch, "a*", "a\nb", true},

		{"dot: star takes dotfiles", pathMatch, "*", ".env", true},
		{"dot: globstar enters dot dirs", pathMatch, "**/x", ".git/x", true},
		{"no dot: star skips dotfiles", minimatch, "*", ".env", false},
		{"no dot: qmark skips dotfiles", minimatch, "?env", ".env", false},
		{"no dot: literal dot matches", minimatch, ".*", ".env", true},
		{"no dot: globstar skips dot dirs", minimatch, "**/x", ".git/x", false},
		{"no dot: globstar never dot-dot", pathMatch, "a/**/b", "a/../b", false},

		{"case sensitive", pathMatch, "README.md", "readme.md", false},
		{"nocase literal", rules, "README.md", "readme.md", true},
		{"nocase wildcard", rules, "https://GitHub.com/*/x", "https://github.com/Org/X", true},
		{"rules globstar", rules, "https://github.com/org/**", "https://github.com/org/r/blob/main/c.yaml", true},
		{"rules star", rules, "https://github.com/org/*", "https://github.com/org/r/blob", false},

		{"cors subdomain", cors, "https://*.example.com", "https://api.EXAMPLE.com", true},
		{"cors port class", cors, "http://localhost:700[0-9]", "http://localhost:7007", true},
		{"cors no globstar", cors, "https://**", "https://a.com/x", false},
		{"cors double star is star", cors, "https://**.com", "https://a.com", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := glob.Match(tc.pattern, tc.path, tc.o); got != tc.want {
				t.Errorf("Match(%q, %q, %+v) = %v, want %v", tc.pattern, tc.path, tc.o, got, tc.want)
			}
		})
	}
}

func TestCouldContain(t *testing.T) {
	tests := []struct {
		pattern, dir string
		want         bool
	}{
		{"a/*/c.yaml", "a", true},
		{"a/*/c.yaml", "a/b", true},
		{"a/*/c.yaml", "a/b/c.yaml", false},
		{"a/*/c.yaml", "x", false},
		{"a/**/c.yaml", "a/b/c/d", true},
		{"**", "anything/at/all", true},
		{"*.yaml", "dir", false},
		{"{a,b}/x", "b", true},
	}
	for _, tc := range tests {
		p, err := glob.Compile(tc.pattern, pathMatch)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.CouldContain(tc.dir); got != tc.want {
			t.Errorf("CouldContain(%q, %q) = %v, want %v", tc.pattern, tc.dir, got, tc.want)
		}
	}
}

// Many globstars against a deep path stay linear: the old recursive
// matcher backtracked exponentially on this.
func TestMatchManyGlobstars(t *testing.T) {
	pattern := strings.Repeat("**/a/", 40) + "b"
	path := strings.Repeat("a/", 200) + "c"
	if glob.Match(pattern, path, pathMatch) {
		t.Fatal("matched")
	}
}

func TestHasMeta(t *testing.T) {
	for p, want := range map[string]bool{"a/b.yaml": false, "a/*.yaml": true, "a?": true, "[ab]": true, "{a,b}": true} {
		if got := glob.HasMeta(p); got != want {
			t.Errorf("HasMeta(%q) = %v", p, got)
		}
	}
}
