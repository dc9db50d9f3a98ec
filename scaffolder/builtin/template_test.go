package builtin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/render"
	"github.com/understage/understage/scaffolder/workspace"
)

func TestFetchTemplate(t *testing.T) {
	skel := map[string]string{
		"sk/README.md":                       "# ${{ values.name }}\n",
		"sk/${{ values.name }}/main.go":      "package ${{ values.name | lower }}\n",
		"sk/${{ 'opt.txt' if values.flag }}": "optional",
		"sk/.github/ci.yaml":                 "on: ${{ values.name }}",
		"sk/static/raw.txt":                  "${{ values.name }}",
		"sk/run.sh":                          "+x echo ${{ values.name }}",
		"sk/img.bin":                         "\x00\x01${{ values.name }}",
		"sk/link":                            "->README.md",
		"sk/blocks.txt":                      "{% if true %}\n  x\n{% endif %}\n",
	}
	tests := []struct {
		name    string
		input   string
		pre     map[string]string
		want    map[string]string
		wantErr string
	}{
		{
			name:  "values, names, dotfiles, binary, symlink, mode",
			input: `{"url":"./sk","values":{"name":"Demo","flag":false}}`,
			want: map[string]string{
				"README.md": "# Demo\n", "Demo/main.go": "package demo\n", ".github/ci.yaml": "on: Demo",
				"static/raw.txt": "Demo", "run.sh": "+x echo Demo", "img.bin": "\x00\x01${{ values.name }}",
				"link": "->README.md", "blocks.txt": "\n  x\n\n",
			},
		},
		{
			name:  "conditional file kept, targetPath",
			input: `{"url":"./sk","targetPath":"out","values":{"name":"a","flag":true}}`,
			want: map[string]string{
				"out/README.md": "# a\n", "out/a/main.go": "package a\n", "out/opt.txt": "optional", "out/.github/ci.yaml": "on: a",
				"out/static/raw.txt": "a", "out/run.sh": "+x echo a", "out/img.bin": "\x00\x01${{ values.name }}",
				"out/link": "->README.md", "out/blocks.txt": "\n  x\n\n",
			},
		},
		{
			name:  "copyWithoutTemplating keeps contents, renders paths",
			input: `{"url":"./sk","values":{"name":"n"},"copyWithoutTemplating":["static","**/main.go"],"trimBlocks":true,"lstripBlocks":true}`,
			want: map[string]string{
				"README.md": "# n\n", "n/main.go": "package ${{ values.name | lower }}\n", ".github/ci.yaml": "on: n",
				"static/raw.txt": "${{ values.name }}", "run.sh": "+x echo n", "img.bin": "\x00\x01${{ values.name }}",
				"link": "->README.md", "blocks.txt": "  x\n",
			},
		},
		{
			name:  "existing files kept without replace",
			input: `{"url":"./sk","values":{"name":"n"},"copyWithoutTemplating":["static","img.bin","link","run.sh", "README.md","blocks.txt",".github"]}`,
			pre:   map[string]string{"n/main.go": "mine"},
			want: map[string]string{
				"README.md": "# ${{ values.name }}\n", "n/main.go": "mine", ".github/ci.yaml": "on: ${{ values.name }}",
				"static/raw.txt": "${{ values.name }}", "run.sh": "+x echo ${{ values.name }}", "img.bin": "\x00\x01${{ values.name }}",
				"link": "->README.md", "blocks.txt": "{% if true %}\n  x\n{% endif %}\n",
			},
		},
		{
			name:    "extension with copyWithoutTemplating",
			input:   `{"url":"./sk","templateFileExtension":true,"copyWithoutTemplating":["x"]}`,
			wantErr: "Fetch action input extension incompatible with copyWithoutTemplating and cookiecutterCompat",
		},
		{
			name:    "extension with cookiecutter",
			input:   `{"url":"./sk","templateFileExtension":".j2","cookiecutterCompat":true}`,
			wantErr: "Fetch action input extension incompatible with copyWithoutTemplating and cookiecutterCompat",
		},
		{name: "targetPath escape", input: `{"url":"./sk","targetPath":"../x"}`, wantErr: workspace.EscapeMessage},
		{name: "absolute targetPath", input: `{"url":"./sk","targetPath":"/etc"}`, wantErr: workspace.EscapeMessage},
		{name: "url escaping the template dir", input: `{"url":"../"}`, wantErr: workspace.EscapeMessage},
		{name: "rendered name escapes", input: `{"url":"./sk","values":{"name":"../../evil"}}`, wantErr: workspace.EscapeMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, skel)
			writeTree(t, e.ws, tc.pre)
			err := e.run(t, "fetch:template", tc.input)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			equalTrees(t, readTree(t, e.ws), tc.want)
		})
	}
}

func TestFetchTemplateExtensionAndCookiecutter(t *testing.T) {
	e := newEnv(t, map[string]string{
		"sk/a.txt.njk":               "${{ values.x }}",
		"sk/b.txt":                   "${{ values.x }}",
		"sk/${{values.x}}.j":         "",
		"cc/{{ cookiecutter.x }}.md": "{{ cookiecutter.x | upper }}",
	})
	if err := e.run(t, "fetch:template", `{"url":"./sk","values":{"x":"v"},"templateFileExtension":true}`); err != nil {
		t.Fatal(err)
	}
	if err := e.run(t, "fetch:template", `{"url":"./cc","targetPath":"cc","values":{"x":"v"},"cookiecutterCompat":true}`); err != nil {
		t.Fatal(err)
	}
	equalTrees(t, readTree(t, e.ws), map[string]string{
		"a.txt": "v", "b.txt": "${{ values.x }}", "v.j": "", "cc/v.md": "V",
	})
}

func TestFetchTemplateReplace(t *testing.T) {
	e := newEnv(t, map[string]string{"sk/f.txt": "new ${{ values.v }}"})
	writeTree(t, e.ws, map[string]string{"f.txt": "old"})
	if err := e.run(t, "fetch:template", `{"url":"./sk","values":{"v":1},"replace":true}`); err != nil {
		t.Fatal(err)
	}
	equalTrees(t, readTree(t, e.ws), map[string]string{"f.txt": "new 1"})
}

// Skeletons read through the URL reader (remote templates) resolve
// relative URLs against the template's base URL.
func TestFetchThroughReader(t *testing.T) {
	e := newEnv(t, map[string]string{"sk/a/${{ values.n }}.txt": "${{ values.n }}", "one.txt": "${{ values.n }}!"})
	// A base URL that is not file:// forces the reader; the reader maps
	// it back to the folder.
	base := "file://" + filepath.ToSlash(e.tmpl) + "/"
	// Absolute URLs skip the local shortcut and go through the reader.
	if err := e.run(t, "fetch:template", `{"url":"`+base+`sk","values":{"n":"x"}}`); err != nil {
		t.Fatal(err)
	}
	if err := e.run(t, "fetch:template:file", `{"url":"`+base+`one.txt","targetPath":"sub/one.txt","values":{"n":"y"}}`); err != nil {
		t.Fatal(err)
	}
	if err := e.run(t, "fetch:plain", `{"url":"`+base+`sk","targetPath":"plain"}`); err != nil {
		t.Fatal(err)
	}
	if err := e.run(t, "fetch:plain:file", `{"url":"`+base+`one.txt","targetPath":"p/one.txt"}`); err != nil {
		t.Fatal(err)
	}
	equalTrees(t, readTree(t, e.ws), map[string]string{
		"a/x.txt": "x", "sub/one.txt": "y!", "plain/a/${{ values.n }}.txt": "${{ values.n }}", "p/one.txt": "${{ values.n }}!",
	})
	if len(e.reader.reads) != 4 {
		t.Errorf("reader reads = %v", e.reader.reads)
	}
	// The reader's allow-list applies to absolute URLs.
	err := e.run(t, "fetch:plain", `{"url":"file:///etc"}`)
	if !errors.Is(err, backend.ErrNotAllowed) {
		t.Errorf("reading /etc: %v", err)
	}
}

func TestRelativeURLResolution(t *testing.T) {
	o := Options{}
	tests := []struct{ base, ref, want string }{
		{"https://github.com/o/r/blob/main/templates/t/template.yaml", "./skeleton", "https://github.com/o/r/blob/main/templates/t/skeleton"},
		{"https://github.com/o/r/blob/main/templates/t/", "../shared", "https://github.com/o/r/blob/main/templates/shared"},
		{"https://github.com/o/r/blob/main/templates/t/template.yaml", "/root.txt", "https://github.com/o/r/blob/main/root.txt"},
		{"https://github.com/o/r/tree/main", "/catalog-info.yaml", "https://github.com/o/r/tree/main/catalog-info.yaml"},
		{"https://gitlab.com/g/r/-/blob/main/x/t.yaml", "/c.yaml", "https://gitlab.com/g/r/-/blob/main/c.yaml"},
		{"https://h/x/t.yaml?ref=dev", "./sk", "https://h/x/sk?ref=dev"},
		{"https://h/x/t.yaml", "https://other/y", "https://other/y"},
	}
	for _, tc := range tests {
		got, err := o.resolveURL(tc.base, tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("resolve(%s, %s) = %s, %v; want %s", tc.base, tc.ref, got, err, tc.want)
		}
	}
	e := newEnv(t, nil)
	err := e.runBase(t, "fetch:plain", `{"url":"./x"}`, "")
	if err == nil || err.Error() != "Failed to fetch, template location could not be determined and the fetch URL is relative, ./x" {
		t.Errorf("no base: %v", err)
	}
}

func TestIsBinary(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"hello\nworld\t\r\n", false},
		{"héllo wörld ✓ 😀", false},
		{"\xef\xbb\xbfbom", false},
		{"a\x00b", true},
		{"%PDF-1.4", true},
		{strings.Repeat("\x01\x02\x03x", 40), true},
		{"\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 8), true},
	}
	for _, tc := range tests {
		if got := isBinary([]byte(tc.in)); got != tc.want {
			t.Errorf("isBinary(%q) = %v", tc.in, got)
		}
	}
}

func TestGlobs(t *testing.T) {
	entries := []entry{{Path: "static", Dir: true}, {Path: "static/sub", Dir: true}}
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"static", []string{"static/a.txt", "static/sub/b.txt"}, []string{"c.txt", "staticx"}},
		{"*.txt", []string{"c.txt", ".hidden.txt"}, []string{"d/c.txt"}},
		{"**/*.txt", []string{"c.txt", "d/e/c.txt"}, []string{"c.md"}},
		{"static/*", []string{"static/a.txt"}, []string{"static/sub/b.txt"}},
		{"{c,d}.txt", []string{"c.txt", "d.txt"}, []string{"e.txt"}},
		{"./c.txt", nil, []string{"c.txt"}},
		{"[ab]?.md", []string{"a1.md", "bz.md"}, []string{"c1.md", "a/1.md"}},
	}
	for _, tc := range tests {
		g := newGlobSet([]string{tc.pattern}, entries)
		for _, m := range tc.match {
			if !g.match(m) {
				t.Errorf("%s should match %s", tc.pattern, m)
			}
		}
		for _, m := range tc.noMatch {
			if g.match(m) {
				t.Errorf("%s should not match %s", tc.pattern, m)
			}
		}
	}
	g := newGlobSet([]string{"**/*.txt", "!secret.txt"}, nil)
	if g.match("secret.txt") || !g.match("open.txt") {
		t.Error("negation")
	}
}

func TestFetchPlainKeepsModesAndLinks(t *testing.T) {
	e := newEnv(t, map[string]string{
		"sk/run.sh": "+x #!/bin/sh", "sk/d/f": "${{ x }}", "sk/l": "->d/f", "sk/empty/": "",
		"sk/out": "->../../../../../../etc/passwd", "outside.txt": "secret", "sk/up": "->../outside.txt",
	})
	if err := e.run(t, "fetch:plain", `{"url":"./sk","targetPath":"p"}`); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, e.ws)
	equalTrees(t, got, map[string]string{"p/run.sh": "+x #!/bin/sh", "p/d/f": "${{ x }}", "p/l": "->d/f"})
	if _, ok := got["p/empty/"]; !ok {
		t.Error("empty directory not copied")
	}
	if err := os.Remove(filepath.Join(e.ws, "p", "d", "f")); err != nil {
		t.Fatal(err)
	}
}

// fetch:template renders each file under Options.TemplateLimits.
func TestFetchTemplateLimits(t *testing.T) {
	e := newEnv(t, map[string]string{"sk/big.txt": "${{ values.s }}${{ values.s }}"})
	var fetch scaffolder.Action
	for _, a := range Actions(Options{TemplateLimits: render.Limits{Output: 10}}) {
		if a.ID == "fetch:template" {
			fetch = a
		}
	}
	in, _ := ojson.DecodeObject([]byte(`{"url":"./sk","values":{"s":"123456"}}`))
	err := fetch.Run(context.Background(), &scaffolder.ActionContext{
		Input: in, Workspace: e.ws, Log: &e.log, Output: func(string, any) {},
		TemplateInfo: scaffolder.TemplateInfo{EntityRef: "template:default/t", BaseURL: e.baseURL()}, Reader: e.reader,
	})
	want := "Template evaluation exceeded the output code unit limit of 10 (observed 12) at line 1, column 16"
	if err == nil || err.Error() != want || scaffolder.ErrorName(err) != "TemplateLimitError" {
		t.Fatalf("got %v (%s), want %s", err, scaffolder.ErrorName(err), want)
	}
}
