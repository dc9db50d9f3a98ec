package processing

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Problem is one thing wrong in a catalog file, for authors and CI.
type Problem struct {
	File    string
	Line    int    // 1-based; 0 when unknown
	Entity  string // the entity's ref, when it has one
	Message string // Backstage's message, as the catalog would report it
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Entity != "" {
		b.WriteString(p.Entity + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidateFiles checks catalog files the way the catalog would process
// them: YAML syntax, the envelope, Backstage's policies and kind schemas,
// relations, and the rules; Location entities are followed to the files
// they name. Directories are searched for *.yaml and *.yml files. It
// returns every problem found, ordered by file and line, and the number of
// entities checked.
func ValidateFiles(ctx context.Context, paths []string, rules model.Rules) ([]Problem, int, error) {
	if rules.IsZero() {
		rules, _ = model.NewRules(nil, nil)
	}
	v := &validator{rules: rules, seen: map[string]bool{},
		engine: New(Options{Readers: map[string]LocationReader{"file": FileReader{}}, Rules: rules})}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, 0, err
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", p, err)
		}
		if !st.IsDir() {
			v.file(ctx, abs, "file:"+abs, true)
			continue
		}
		err = filepath.WalkDir(abs, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if !d.IsDir() && (strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".yml")) {
				v.file(ctx, f, "file:"+f, false)
			}
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	sort.SliceStable(v.problems, func(i, j int) bool {
		a, b := v.problems[i], v.problems[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return v.problems, v.entities, nil
}

type validator struct {
	engine   *Engine // for placeholder resolution, exactly as processing does it
	rules    model.Rules
	seen     map[string]bool
	problems []Problem
	entities int
}

func (v *validator) add(file string, line int, ref, msg string) {
	v.problems = append(v.problems, Problem{File: file, Line: line, Entity: ref, Message: msg})
}

// file validates one file; strict files must hold entities (a directory
// walk skips YAML files that are not catalog files).
func (v *validator) file(ctx context.Context, path, origin string, strict bool) {
	if v.seen[path] || ctx.Err() != nil {
		return
	}
	v.seen[path] = true
	data, err := os.ReadFile(path)
	if err != nil {
		v.add(path, 0, "", err.Error())
		return
	}
	docs, err := ojson.DecodeYAMLDocumentsWithNodes(data)
	for _, d := range docs {
		if d.Err != nil {
			// The catalog's words for the document's error; an error
			// thrown while converting a document (aliases) ends the file.
			var ye *ojson.YAMLError
			if errors.As(d.Err, &ye) && ye.Thrown() {
				line := d.Line
				if d.Node != nil && len(d.Node.Content) > 0 {
					line = d.Node.Content[0].Line // the content, not the "---" before it
				}
				v.add(path, line, "", fmt.Sprintf("file %s could not be read, %s", path, ye))
				return
			}
			v.add(path, yamlErrorLine(d.Err, d.Line), "", "YAML error at file:"+path+", "+d.Err.Error())
			continue
		}
		obj, ok := d.Value.(*ojson.Object)
		if d.Value == nil {
			continue
		}
		if !ok || (!strict && !obj.Has("apiVersion") && !obj.Has("kind")) {
			if strict {
				v.add(path, d.Line, "", "Expected object at root, got "+jsType(d.Value))
			}
			continue
		}
		v.entity(ctx, path, origin, d.Node, obj)
	}
	if err != nil {
		v.add(path, yamlErrorLine(err, 0), "", "YAML error at file:"+path+", "+err.Error())
	}
}

// yamlErrorLine is the line a YAML error names, or fallback.
func yamlErrorLine(err error, fallback int) int {
	var ye *ojson.YAMLError
	if errors.As(err, &ye) && ye.Line > 0 {
		return ye.Line
	}
	return fallback
}

func (v *validator) entity(ctx context.Context, path, origin string, n *yaml.Node, obj *ojson.Object) {
	v.entities++
	line := n.Line
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		line = n.Content[0].Line // the entity, not the "---" before it
	}
	if err := model.ValidateEnvelope(obj); err != nil {
		v.add(path, line, "", err.Error())
		return
	}
	e := annotate(obj, "file:"+path, origin)
	ref := model.EntityRef(e)
	resolved, errs := v.engine.resolvePlaceholders(ctx, e, locationRef{"file", path})
	for _, err := range errs {
		v.add(path, line, ref, err.Error())
	}
	if len(errs) > 0 {
		return
	}
	e = resolved.(*ojson.Object)
	if !v.rules.IsAllowed(e, "file", path) {
		v.add(path, line, ref, model.NotAllowedError(ref, "file:"+path, origin).Error())
	}
	processed, err := model.ApplyPolicies(e)
	if err != nil {
		v.add(path, fieldLine(n, err.Error(), line), ref, err.Error())
		return
	}
	if err := model.Validate(processed); err != nil {
		v.add(path, fieldLine(n, err.Error(), line), ref, err.Error())
		return
	}
	if _, err := model.BuildRelations(processed); err != nil {
		v.add(path, fieldLine(n, err.Error(), line), ref, err.Error())
	}
	if kindOf(processed) != "location" {
		return
	}
	spec := processed.Object("spec")
	if t := spec.String("type"); t != "" && t != "file" {
		return // other location types are read by the running catalog
	}
	targets := locationTargets(spec)
	optional := spec.String("presence") == "optional"
	for _, t := range targets {
		target, _ := FileReader{}.Resolve(path, t)
		files, err := FileReader{}.ReadLocation(ctx, target)
		if err != nil {
			if !optional {
				v.add(path, fieldLine(n, `"spec.targets"`, line), ref, fmt.Sprintf("file:%s could not be read, %s", target, messageOf(err)))
			}
			continue
		}
		for _, f := range files {
			v.file(ctx, f.Target, origin, true)
		}
	}
}

var quotedField = regexp.MustCompile(`"((?:metadata|spec|apiVersion|kind)[A-Za-z0-9_.\-/]*)"|(?:^|\s)/((?:metadata|spec)[A-Za-z0-9_/\-]*)`)

// fieldLine finds the line of the field a message names ("metadata.name",
// /spec/owner), falling back to the document's line.
func fieldLine(doc *yaml.Node, msg string, fallback int) int {
	m := quotedField.FindStringSubmatch(msg)
	if m == nil {
		return fallback
	}
	var parts []string
	if m[1] != "" {
		parts = strings.Split(m[1], ".")
	} else {
		parts = strings.Split(m[2], "/")
	}
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	best := fallback
	for _, p := range parts {
		if n.Kind != yaml.MappingNode {
			break
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p {
				best = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			break
		}
	}
	return best
}
