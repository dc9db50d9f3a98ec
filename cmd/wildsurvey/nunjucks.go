package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	reExpr      = regexp.MustCompile(`(?s)\$\{\{-?(.*?)-?\}\}`)
	reTag       = regexp.MustCompile(`(?s)\{%(-?)\s*(.*?)\s*(-?)%\}`)
	reComment   = regexp.MustCompile(`(?s)\{#.*?#\}`)
	reCookie    = regexp.MustCompile(`(?s)\{\{-?\s*(cookiecutter\..*?)-?\}\}`)
	reStringLit = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	reFilter    = regexp.MustCompile(`(^|[^|])\|\s*([A-Za-z_][A-Za-z0-9_]*)`)
	reMethod    = regexp.MustCompile(`\.([A-Za-z_][A-Za-z0-9_]*)\s*\(`)
	reRoot      = regexp.MustCompile(`^\s*\(?\s*([A-Za-z_][A-Za-z0-9_]*)`)
	reLoopVar   = regexp.MustCompile(`\bloop\.(index0|index|revindex0|revindex|first|last|length)\b`)
	reWholeExpr = regexp.MustCompile(`(?m):\s*["']?\$\{\{[^}]*\}\}["']?\s*$`)
	reRawHash   = regexp.MustCompile(`\$\{\{\s*[^}]*\}\}`)
	reIndented  = regexp.MustCompile(`(?m)^[ \t]+\{%`)
)

// knownTags are the Nunjucks tag names the table reports one by one.
var knownTags = []string{"if", "elif", "elseif", "else", "for", "set", "raw", "verbatim", "macro", "call", "filter", "include", "import", "from", "extends", "block"}

// nunjucksFeatures scans one template file (template.yaml or skeleton file).
func nunjucksFeatures(text string, cookiecutter bool) map[string]bool {
	f := map[string]bool{}
	add := func(s string) { f[s] = true }

	// Text inside raw/verbatim is not template syntax.
	body := text
	for _, kw := range []string{"raw", "verbatim"} {
		re := regexp.MustCompile(`(?s)\{%-?\s*` + kw + `\s*-?%\}.*?\{%-?\s*end` + kw + `\s*-?%\}`)
		if re.MatchString(body) {
			add("tag: " + kw)
			for _, m := range re.FindAllString(body, -1) {
				if strings.HasPrefix(m, "{%-") || strings.Contains(m[:strings.Index(m, "%}")+2], "-%}") {
					add("whitespace control on raw/verbatim")
				}
			}
			body = re.ReplaceAllString(body, "")
		}
	}
	if reComment.MatchString(body) {
		add("comment {# #}")
	}
	var stack []string
	for _, m := range reTag.FindAllStringSubmatch(body, -1) {
		if m[1] == "-" {
			add("whitespace control {%- (left)")
		}
		if m[3] == "-" {
			add("whitespace control -%} (right)")
		}
		inner := m[2]
		name := inner
		if i := strings.IndexAny(inner, " \t\n("); i >= 0 {
			name = inner[:i]
		}
		switch name {
		case "set":
			if strings.Contains(reStringLit.ReplaceAllString(inner, `""`), "=") {
				add("tag: set (assignment)")
			} else {
				add("tag: set block ({% set x %}...{% endset %})")
			}
		case "for":
			add("tag: for")
			head := strings.SplitN(inner, " in ", 2)[0]
			if strings.Contains(head, ",") {
				add("for over object (k, v in ...)")
			}
			stack = append(stack, "for")
		case "if":
			add("tag: if")
			if strings.Contains(inner, " in ") {
				add("if with `in` operator")
			}
			stack = append(stack, "if")
		case "else":
			if len(stack) > 0 && stack[len(stack)-1] == "for" {
				add("for ... else")
			} else {
				add("tag: else")
			}
		case "endfor", "endif":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case "elif", "elseif", "macro", "call", "filter", "include", "import", "from", "extends", "block":
			add("tag: " + name)
		default:
			if !strings.HasPrefix(name, "end") {
				add("tag: other (" + name + ")")
			}
		}
		scanExpr(inner[len(name):], f)
	}
	if reIndented.MatchString(body) {
		add("block tag on an indented line")
	}
	for _, m := range reLoopVar.FindAllStringSubmatch(body, -1) {
		add("loop." + m[1])
	}
	exprs := reExpr.FindAllStringSubmatch(body, -1)
	if len(exprs) > 0 {
		add("${{ }} expression")
	}
	if strings.Contains(body, "${{-") || regexp.MustCompile(`-\}\}`).MatchString(body) && strings.Contains(body, "${{") {
		if strings.Contains(body, "${{-") {
			add("whitespace control ${{- / -}}")
		}
	}
	for _, m := range exprs {
		scanExpr(m[1], f)
	}
	if reWholeExpr.MatchString(body) {
		add("${{ }} as a whole YAML value")
	}
	for _, m := range reCookie.FindAllStringSubmatch(body, -1) {
		add("cookiecutter {{ cookiecutter.x }}")
		scanExpr(m[1], f)
	}
	if cookiecutter && strings.Contains(body, "{{") {
		add("{{ }} variables (cookiecutterCompat)")
	}
	return f
}

// scanExpr records the expression forms inside one ${{ }} or tag body.
func scanExpr(e string, f map[string]bool) {
	add := func(s string) { f[s] = true }
	if reStringLit.MatchString(e) {
		add("expr: string literal")
	}
	s := reStringLit.ReplaceAllString(e, `""`)
	for _, m := range reFilter.FindAllStringSubmatch(s, -1) {
		add("filter: " + m[2])
	}
	for _, m := range reMethod.FindAllStringSubmatch(s, -1) {
		add("method: ." + m[1] + "()")
	}
	if m := reRoot.FindStringSubmatch(s); m != nil {
		switch m[1] {
		case "values", "parameters", "steps", "user", "secrets", "each", "context", "cookiecutter", "loop", "range", "true", "false", "not":
			add("expr root: " + m[1])
		case "github", "env", "inputs", "needs", "matrix", "vars", "runner", "job":
			add("GitHub Actions ${{ }} left templated (github/env/inputs/...)")
		}
	}
	if strings.Contains(s, "[\"\"]") || strings.Contains(s, "['") || strings.Contains(s, `[""`) {
		add("expr: bracket access [\"key\"]")
	}
	if regexp.MustCompile(`\[\s*-?\d+\s*\]`).MatchString(s) {
		add("expr: index [n]")
	}
	for _, op := range []struct{ re, name string }{
		{`==|!=|===|!==`, "expr: == / != comparison"},
		{`\s(and|or)\s`, "expr: and / or"},
		{`(^|\s)not\s`, "expr: not"},
		{`\sif\s.*\selse\s|\sif\s`, "expr: inline if/else"},
		{`\s~\s`, "expr: ~ concatenation"},
		{`[^\s]\s*\+\s*[^\s]`, "expr: + (concat or add)"},
		{`\sin\s`, "expr: in"},
		{`[<>]=?`, "expr: < > comparison"},
		{`\?\s*[^:]+:`, "expr: JS ternary ? : (not Nunjucks)"},
		{`\|\|`, "expr: || (not Nunjucks)"},
		{`&&`, "expr: && (not Nunjucks)"},
	} {
		if regexp.MustCompile(op.re).MatchString(s) {
			add(op.name)
		}
	}
}

// templateDoc is what the survey needs from one Template entity.
type templateDoc struct {
	skeletons    []string
	copyGlobs    []string
	cookiecutter bool
	actions      map[string]bool
	copyWithout  bool
	templateName bool
	replace      bool
	each         bool
	stepIf       bool
}

// templateFeatures counts a template.yaml: its Nunjucks use and its steps.
func templateFeatures(data []byte, docs []templateDoc) map[string]bool {
	feats := nunjucksFeatures(string(data), false)
	feats["file: template.yaml"] = true
	for _, d := range docs {
		if d.each {
			feats["step each:"] = true
		}
		if d.stepIf {
			feats["step if:"] = true
		}
		if d.cookiecutter {
			feats["fetch:template cookiecutterCompat: true"] = true
		}
		if d.copyWithout {
			feats["fetch:template copyWithoutTemplating"] = true
		}
		if d.templateName {
			feats["fetch:template templateFileExtension"] = true
		}
		if d.replace {
			feats["fetch:template replace"] = true
		}
	}
	return feats
}

// matchesAny reports whether a skeleton path matches one of the
// copyWithoutTemplating globs (a "dir/**"-style glob matches the subtree).
func matchesAny(rel string, globs []string) bool {
	rel = filepath.ToSlash(rel)
	for _, g := range globs {
		g = strings.TrimPrefix(g, "./")
		if ok, _ := path.Match(g, rel); ok {
			return true
		}
		base := strings.TrimSuffix(strings.TrimSuffix(g, "/**"), "/*")
		base = strings.TrimSuffix(base, "/**/*")
		if !strings.ContainsAny(base, "*?[") && (rel == base || strings.HasPrefix(rel, base+"/")) {
			return true
		}
		if strings.HasPrefix(g, "**/") {
			if ok, _ := path.Match(strings.TrimPrefix(g, "**/"), path.Base(rel)); ok {
				return true
			}
		}
	}
	return false
}

func parseTemplate(data []byte) []templateDoc {
	var out []templateDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			break
		}
		spec, _ := m["spec"].(map[string]any)
		// Our dry-run cases carry only the spec of a Template.
		if k, _ := m["kind"].(string); k != "Template" && (k != "" || spec["steps"] == nil) {
			continue
		}
		steps, _ := spec["steps"].([]any)
		td := templateDoc{actions: map[string]bool{}}
		for _, st := range steps {
			sm, _ := st.(map[string]any)
			action, _ := sm["action"].(string)
			td.actions[action] = true
			if _, ok := sm["each"]; ok {
				td.each = true
			}
			if _, ok := sm["if"]; ok {
				td.stepIf = true
			}
			in, _ := sm["input"].(map[string]any)
			if action != "fetch:template" && action != "fetch:template:file" && action != "fetch:plain" {
				continue
			}
			if u, ok := in["url"].(string); ok && action == "fetch:template" && !strings.Contains(u, "${{") && !strings.Contains(u, "://") {
				td.skeletons = append(td.skeletons, u)
			}
			if c, _ := in["cookiecutterCompat"].(bool); c {
				td.cookiecutter = true
			}
			for _, key := range []string{"copyWithoutTemplating", "copyWithoutRender"} {
				if globs, ok := in[key].([]any); ok {
					td.copyWithout = true
					for _, g := range globs {
						if s, ok := g.(string); ok {
							td.copyGlobs = append(td.copyGlobs, s)
						}
					}
				}
			}
			if _, ok := in["templateFileExtension"]; ok {
				td.templateName = true
			}
			if _, ok := in["replace"]; ok {
				td.replace = true
			}
		}
		out = append(out, td)
	}
	return out
}

func surveyNunjucks(t *tally, sample string, ours []ourDir, corpus string) error {
	repos, err := os.ReadDir(sample)
	if err != nil {
		return fmt.Errorf("read sample: %w", err)
	}
	seen := map[[32]byte]bool{}
	count := func(repo, p string, data []byte, feats map[string]bool) {
		h := sha256.Sum256(data)
		if seen[h] {
			t.skip["duplicate content"]++
			return
		}
		seen[h] = true
		t.addSample(repo, p, h, feats)
	}
	for _, r := range repos {
		if !r.IsDir() {
			continue
		}
		root := filepath.Join(sample, r.Name())
		type skel struct {
			dir          string
			cookiecutter bool
			globs        []string
		}
		var skels []skel
		err := walkFiles(root, func(p string, data []byte) error {
			if !isYAML(p) || !bytes.Contains(data, []byte("kind: Template")) || !bytes.Contains(data, []byte("scaffolder.backstage.io/")) {
				return nil
			}
			docs := parseTemplate(data)
			if len(docs) == 0 {
				return nil
			}
			feats := templateFeatures(data, docs)
			for _, d := range docs {
				for _, s := range d.skeletons {
					skels = append(skels, skel{dir: filepath.Join(filepath.Dir(p), s), cookiecutter: d.cookiecutter, globs: d.copyGlobs})
				}
			}
			count(r.Name(), p, data, feats)
			return nil
		})
		if err != nil {
			return err
		}
		done := map[string]bool{}
		for _, s := range skels {
			if done[s.dir] || !strings.HasPrefix(s.dir, root) {
				continue
			}
			done[s.dir] = true
			if st, err := os.Stat(s.dir); err != nil || !st.IsDir() {
				t.skip["skeleton dir missing"]++
				continue
			}
			err := walkFiles(s.dir, func(p string, data []byte) error {
				if bytes.IndexByte(data, 0) >= 0 {
					return nil
				}
				rel, _ := filepath.Rel(s.dir, p)
				if matchesAny(rel, s.globs) {
					count(r.Name(), p, data, map[string]bool{"file: skeleton file": true, "file: skeleton file copied without templating": true})
					return nil
				}
				feats := nunjucksFeatures(string(data), s.cookiecutter)
				feats["file: skeleton file"] = true
				if strings.Contains(p, "${{") {
					feats["file name with ${{ }}"] = true
					for k := range nunjucksFeatures(filepath.Base(p), false) {
						feats[k] = true
					}
				}
				if len(feats) == 1 {
					feats["skeleton file without template syntax"] = true
				}
				count(r.Name(), p, data, feats)
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	if corpus != "" {
		if err := oursFromCorpus(t, corpus); err != nil {
			return err
		}
	}
	for _, d := range ours {
		err := walkFiles(d.dir, func(p string, data []byte) error {
			if bytes.IndexByte(data, 0) >= 0 || strings.HasSuffix(p, ".md") {
				return nil
			}
			if docs := parseTemplate(data); len(docs) > 0 {
				t.addOurs(ourName(d, p), templateFeatures(data, docs))
			} else {
				t.addOurs(ourName(d, p), nunjucksFeatures(string(data), bytes.Contains(data, []byte("cookiecutterCompat: true"))))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// oursFromCorpus attributes features to the oracle-recorded render corpus
// entries, named by their ids.
func oursFromCorpus(t *tally, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read corpus: %w", err)
	}
	var c struct {
		Entries []struct {
			ID       string `json:"id"`
			Kind     string `json:"kind"`
			Template string `json:"template"`
			Options  any    `json:"options"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("decode corpus: %w", err)
	}
	for _, e := range c.Entries {
		opts, _ := json.Marshal(e.Options)
		cc := bytes.Contains(opts, []byte("cookiecutter"))
		feats := nunjucksFeatures(e.Template, cc)
		switch e.Kind {
		case "filename":
			feats["file name with ${{ }}"] = true
		case "file":
			if len(feats) == 0 {
				feats["skeleton file without template syntax"] = true
			}
			feats["file: skeleton file"] = true
		}
		t.addOurs("render corpus.json\x00"+e.ID, feats)
	}
	return nil
}

func nunjucksOrder(all map[string]bool) []string {
	var order []string
	seen := map[string]bool{}
	push := func(s string) {
		if !seen[s] {
			seen[s] = true
			order = append(order, s)
		}
	}
	for _, kt := range knownTags {
		push("tag: " + kt)
	}
	for _, p := range []string{"file", "tag: ", "for", "loop.", "whitespace", "block tag", "comment", "filter: ", "method: ", "cookiecutter", "{{", "${{", "expr", "action: ", "step ", "fetch:template"} {
		for _, k := range sortedKeys(all) {
			if strings.HasPrefix(k, p) {
				push(k)
			}
		}
	}
	for _, k := range sortedKeys(all) {
		push(k)
	}
	return order
}
