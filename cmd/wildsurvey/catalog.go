package main

import (
	"bytes"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// relationFields are the spec fields that hold entity references, in the
// order the table lists them.
var relationFields = []string{
	"owner", "system", "domain", "subdomainOf", "subcomponentOf", "providesApis", "consumesApis",
	"dependsOn", "dependencyOf", "parent", "children", "memberOf", "members", "implementsApis",
}

// notableAnnotations are listed even when rare, so the table shows the ones
// Backstage itself reads.
var notableAnnotations = []string{
	"backstage.io/techdocs-ref", "backstage.io/techdocs-entity", "github.com/project-slug", "backstage.io/source-location",
	"backstage.io/view-url", "backstage.io/edit-url", "backstage.io/managed-by-location",
	"backstage.io/managed-by-origin-location", "backstage.io/orphan", "backstage.io/kubernetes-id",
	"backstage.io/kubernetes-label-selector", "backstage.io/kubernetes-namespace",
	"github.com/team-slug", "gitlab.com/project-slug", "sonarqube.org/project-key",
	"backstage.io/code-coverage", "backstage.io/adr-location", "jenkins.io/job-full-name",
	"pagerduty.com/service-id", "pagerduty.com/integration-key", "argocd/app-name",
	"backstage.io/linguist",
}

var (
	reMultiKindRef = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*):(.+)$`)
	reCatalogAPI   = regexp.MustCompile(`(?m)^\s*-?\s*apiVersion:\s*["']?(backstage\.io|scaffolder\.backstage\.io)/`)
	reURLScheme    = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://`)
)

// isCatalogFile says whether a YAML file is a catalog descriptor rather
// than a skeleton that still holds template syntax.
func isCatalogFile(data []byte) bool {
	if !reCatalogAPI.Match(data) {
		return false
	}
	if bytes.Contains(data, []byte("{%")) || bytes.Contains(data, []byte("cookiecutter")) {
		return false
	}
	if bytes.Contains(data, []byte("${{")) && !bytes.Contains(data, []byte("kind: Template")) {
		return false
	}
	return true
}

// catalogFeatures returns the set of feature names one file shows.
func catalogFeatures(data []byte) map[string]bool {
	f := map[string]bool{}
	add := func(s string) { f[s] = true }

	// Byte-level shapes.
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		add("yaml: BOM")
		data = data[3:]
	}
	if bytes.Contains(data, []byte("\r\n")) {
		add("yaml: CRLF line ends")
	}
	noFinalNL := len(data) > 0 && data[len(data)-1] != '\n'
	if noFinalNL {
		add("yaml: no final newline")
	}
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("---")) {
		add("yaml: leading ---")
	}
	lines := strings.Split(string(data), "\n")
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "...") && strings.TrimRight(t, ". \r") == "" {
			add("yaml: document end marker ...")
		}
		if strings.HasPrefix(l, "\t") {
			add("yaml: tab at line start")
		}
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	ndocs := 0
	var last *yaml.Node
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if err.Error() != "EOF" {
				add("yaml: does not parse (yaml.v3)")
			}
			break
		}
		ndocs++
		walkNode(&doc, lines, f, &last)
		var m map[string]any
		if err := doc.Decode(&m); err == nil && m != nil {
			entityFeatures(m, f)
		} else if doc.Kind == yaml.DocumentNode && len(doc.Content) == 0 {
			add("yaml: empty document")
		}
	}
	if ndocs > 1 {
		add("yaml: multi-document file")
	}
	if noFinalNL && last != nil && (last.Style&(yaml.LiteralStyle|yaml.FoldedStyle)) != 0 {
		add("yaml: block scalar at EOF without final newline")
	}
	return f
}

func walkNode(n *yaml.Node, lines []string, f map[string]bool, last **yaml.Node) {
	add := func(s string) { f[s] = true }
	if n.HeadComment != "" || n.LineComment != "" || n.FootComment != "" {
		add("yaml: comments")
	}
	if n.Anchor != "" {
		add("yaml: anchors (&)")
	}
	switch n.Kind {
	case yaml.AliasNode:
		add("yaml: aliases (*)")
	case yaml.MappingNode, yaml.SequenceNode:
		if n.Style&yaml.FlowStyle != 0 && len(n.Content) > 0 {
			add("yaml: flow style ({} / [])")
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "<<" && n.Content[i].Tag == "!!merge" {
					add("yaml: merge key <<")
				}
			}
		}
	case yaml.ScalarNode:
		if *last == nil || n.Line > (*last).Line || (n.Line == (*last).Line && n.Column > (*last).Column) {
			*last = n
		}
		switch {
		case n.Style&yaml.LiteralStyle != 0:
			add("yaml: literal block | " + chomping(n, lines))
		case n.Style&yaml.FoldedStyle != 0:
			add("yaml: folded block > " + chomping(n, lines))
		case n.Style&yaml.DoubleQuotedStyle != 0:
			add("yaml: double-quoted scalars")
		case n.Style&yaml.SingleQuotedStyle != 0:
			add("yaml: single-quoted scalars")
		}
		if n.Style&yaml.TaggedStyle != 0 {
			add("yaml: explicit tag (!!str etc.)")
		}
		if n.Tag == "!!str" && n.Style == 0 && strings.Contains(n.Value, "\n") {
			add("yaml: multi-line plain scalar")
		}
		if n.Tag == "!!bool" || n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!null" {
			// Plain non-string values in fields usually typed string are counted by entityFeatures.
		}
	}
	for _, c := range n.Content {
		walkNode(c, lines, f, last)
	}
}

// chomping reads the block header from the source, which yaml.v3 does not expose.
func chomping(n *yaml.Node, lines []string) string {
	if n.Line-1 >= len(lines) {
		return "(clip)"
	}
	l := strings.TrimRight(lines[n.Line-1], "\r")
	if n.Column-1 >= len(l) {
		return "(clip)"
	}
	h := l[n.Column-1:]
	if len(h) > 0 && (h[0] == '|' || h[0] == '>') {
		h = h[1:]
	}
	switch {
	case strings.HasPrefix(h, "-") || (len(h) > 1 && h[0] >= '1' && h[0] <= '9' && h[1] == '-'):
		return "(strip -)"
	case strings.HasPrefix(h, "+") || (len(h) > 1 && h[0] >= '1' && h[0] <= '9' && h[1] == '+'):
		return "(keep +)"
	}
	return "(clip)"
}

func entityFeatures(m map[string]any, f map[string]bool) {
	add := func(s string) { f[s] = true }
	kind, _ := m["kind"].(string)
	api, _ := m["apiVersion"].(string)
	if kind == "" && api == "" {
		return
	}
	add("kind: " + kind)
	add("apiVersion: " + api)
	md, _ := m["metadata"].(map[string]any)
	spec, _ := m["spec"].(map[string]any)
	if md != nil {
		for _, k := range []string{"title", "description", "namespace", "labels", "annotations", "tags", "links", "uid", "etag"} {
			if _, ok := md[k]; ok {
				add("metadata." + k)
			}
		}
		if ns, ok := md["namespace"].(string); ok && ns != "default" {
			add("metadata.namespace other than default")
		}
		if name, ok := md["name"].(string); ok && strings.ToLower(name) != name {
			add("metadata.name with capitals")
		}
		if _, ok := md["name"].(string); !ok {
			if _, has := md["name"]; has {
				add("metadata.name not a string (number/bool)")
			}
		}
		if ann, ok := md["annotations"].(map[string]any); ok {
			for k, v := range ann {
				if isNotable(k) {
					add("annotation: " + k)
				} else {
					add("annotation: any other key (plugin-specific)")
				}
				if _, isStr := v.(string); !isStr {
					add("annotation value not a string")
				}
			}
		}
		if links, ok := md["links"].([]any); ok {
			for _, l := range links {
				if lm, ok := l.(map[string]any); ok {
					for _, k := range []string{"icon", "type", "title"} {
						if _, ok := lm[k]; ok {
							add("metadata.links[]." + k)
						}
					}
				}
			}
		}
		if tags, ok := md["tags"].([]any); ok {
			for _, t := range tags {
				if s, ok := t.(string); ok && strings.ToLower(s) != s {
					add("metadata.tags with capitals (invalid)")
				}
			}
		}
		if lb, ok := md["labels"].(map[string]any); ok {
			for k := range lb {
				if strings.Contains(k, "/") {
					add("metadata.labels with prefix/")
				}
			}
		}
	}
	findPlaceholders(m, f)
	if spec == nil {
		return
	}
	for _, rf := range relationFields {
		v, ok := spec[rf]
		if !ok {
			continue
		}
		add("spec." + rf)
		var refs []string
		switch x := v.(type) {
		case string:
			refs = []string{x}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok {
					refs = append(refs, s)
				} else {
					add("ref not a string")
				}
			}
		default:
			add("ref not a string")
		}
		for _, r := range refs {
			add("ref form: " + refForm(r))
		}
	}
	if lc, ok := spec["lifecycle"].(string); ok {
		switch lc {
		case "production", "experimental", "deprecated":
			add("spec.lifecycle: " + lc)
		default:
			add("spec.lifecycle: other value")
		}
	}
	if _, ok := spec["type"]; ok {
		add("spec.type")
	}
	if t, ok := spec["type"].(string); ok && kind == "API" {
		add("API type: " + t)
	}
	if d, ok := spec["definition"]; ok {
		switch d.(type) {
		case string:
			add("spec.definition inline string")
		case map[string]any:
			if isPlaceholder(d) {
				add("spec.definition via placeholder")
			} else {
				add("spec.definition as YAML mapping (invalid)")
			}
		}
	}
	if kind == "Location" {
		var targets []string
		if t, ok := spec["target"].(string); ok {
			add("Location spec.target")
			targets = append(targets, t)
		}
		if ts, ok := spec["targets"].([]any); ok {
			add("Location spec.targets")
			for _, t := range ts {
				if s, ok := t.(string); ok {
					targets = append(targets, s)
				}
			}
		}
		if t, ok := spec["type"].(string); ok {
			add("Location spec.type: " + t)
		} else {
			add("Location spec.type omitted")
		}
		if _, ok := spec["presence"]; ok {
			add("Location spec.presence")
		}
		for _, t := range targets {
			switch {
			case reURLScheme.MatchString(t) && strings.ContainsAny(t, "*"):
				add("Location target: URL with glob")
			case reURLScheme.MatchString(t):
				add("Location target: URL")
			case strings.ContainsAny(t, "*"):
				add("Location target: relative glob")
			case strings.HasPrefix(t, "../"):
				add("Location target: relative ../")
			case strings.HasPrefix(t, "/"):
				add("Location target: absolute path")
			default:
				add("Location target: relative path")
			}
		}
	}
	if kind == "Group" {
		if p, ok := spec["profile"].(map[string]any); ok {
			add("Group spec.profile")
			for k := range p {
				add("Group spec.profile." + k)
			}
		}
	}
	if kind == "User" {
		if _, ok := spec["profile"]; ok {
			add("User spec.profile")
		}
	}
}

func isNotable(k string) bool {
	for _, a := range notableAnnotations {
		if a == k {
			return true
		}
	}
	return false
}

func refForm(r string) string {
	form := ""
	if m := reMultiKindRef.FindStringSubmatch(r); m != nil && !strings.Contains(m[1], "/") {
		if strings.Contains(m[2], "/") {
			form = "kind:namespace/name"
		} else {
			form = "kind:name"
		}
		if strings.ToLower(m[1]) != m[1] {
			form += " (capitalised kind)"
		}
	} else if strings.Contains(r, "/") {
		form = "namespace/name"
	} else {
		form = "bare name"
	}
	if strings.ToLower(r) != r && !strings.Contains(form, "capitalised") {
		form += " (capitals in name)"
	}
	return form
}

func isPlaceholder(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	for k := range m {
		return strings.HasPrefix(k, "$")
	}
	return false
}

func findPlaceholders(v any, f map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if isPlaceholder(x) {
			for k, val := range x {
				f["placeholder: "+k] = true
				if s, ok := val.(string); ok {
					if reURLScheme.MatchString(s) {
						f["placeholder target: URL"] = true
					} else {
						f["placeholder target: relative path"] = true
					}
				}
			}
			return
		}
		for _, e := range x {
			findPlaceholders(e, f)
		}
	case []any:
		for _, e := range x {
			findPlaceholders(e, f)
		}
	}
}

// catalogTable lists the features in a fixed order: the named ones first,
// then whatever else the sample showed.
func catalogOrder(all map[string]bool) []string {
	var order []string
	seen := map[string]bool{}
	push := func(s string) {
		if !seen[s] {
			seen[s] = true
			order = append(order, s)
		}
	}
	prefixes := []string{"kind: ", "apiVersion: ", "spec.", "ref form: ", "ref not", "metadata.", "annotation: ", "annotation value", "placeholder", "Location ", "Group ", "User ", "API type: ", "yaml: "}
	for _, rf := range relationFields {
		push("spec." + rf)
	}
	for _, a := range notableAnnotations {
		push("annotation: " + a)
	}
	for _, p := range prefixes {
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
