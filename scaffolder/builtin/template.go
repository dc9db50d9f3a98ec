package builtin

import (
	"context"
	_ "embed"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/glob"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/render"
	"github.com/understage/understage/scaffolder/workspace"
)

// templateSettings are fetch:template's validated inputs.
type templateSettings struct {
	outputDir   string
	copyOnly    []string
	hasCopyOnly bool
	extension   string // "" when templateFileExtension is off
	opts        render.Options
	vars        map[string]any
	replace     bool
}

func (o Options) renderOptions(in interface{ Get(string) (any, bool) }) render.Options {
	b := func(k string) bool { v, _ := in.Get(k); x, _ := v.(bool); return x }
	return render.Options{
		CookiecutterCompat: b("cookiecutterCompat"),
		TrimBlocks:         b("trimBlocks"),
		LstripBlocks:       b("lstripBlocks"),
		Filters:            o.Filters,
		Globals:            o.Globals,
		Integrations:       o.Integrations,
		Limits:             o.TemplateLimits,
	}
}

// templateVars exposes `values` as `values`, or as `cookiecutter` in
// cookiecutter mode; absent values stay undefined.
func templateVars(ac *scaffolder.ActionContext, cookiecutter bool) map[string]any {
	vars := map[string]any{}
	if v, ok := Input(ac).Get("values"); ok {
		name := "values"
		if cookiecutter {
			name = "cookiecutter"
		}
		vars[name] = v
	}
	return vars
}

func (o Options) templateSettings(ac *scaffolder.ActionContext) (templateSettings, error) {
	in := Input(ac)
	var s templateSettings
	target, ok, err := StringInput(in, "targetPath")
	if err != nil {
		return s, err
	}
	if !ok {
		target = "./"
	}
	if s.outputDir, err = workspace.ResolveSafeChildPath(ac.Workspace, target); err != nil {
		return s, err
	}
	// copyWithoutRender is still accepted by the schema but, as in
	// Backstage 1.55, no longer has any effect.
	if s.copyOnly, s.hasCopyOnly, err = strList(in, "copyWithoutTemplating"); err != nil {
		return s, backend.Input("Fetch action input copyWithoutTemplating must be an Array")
	}
	s.opts = o.renderOptions(in)
	if ext, ok := in.Get("templateFileExtension"); ok && truthy(ext) {
		if s.hasCopyOnly || s.opts.CookiecutterCompat {
			return s, backend.Input("Fetch action input extension incompatible with copyWithoutTemplating and cookiecutterCompat")
		}
		switch e := ext.(type) {
		case bool:
			s.extension = ".njk"
		case string:
			s.extension = e
		default:
			return s, backend.Input("templateFileExtension must be a string or a boolean")
		}
		if !strings.HasPrefix(s.extension, ".") {
			s.extension = "." + s.extension
		}
	}
	s.vars = templateVars(ac, s.opts.CookiecutterCompat)
	s.replace = boolean(in, "replace")
	return s, nil
}

func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	}
	return true
}

//go:embed schemas/fetch_template.input.json
var fetchTemplateInput []byte

// fetchTemplateAction declares fetch:template: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) fetchTemplateAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "fetch:template",
		Description: "Downloads a skeleton, templates variables into file and directory names and content, and places the result in the workspace, or optionally in a subdirectory specified by the `targetPath` input option.",
		Examples: []scaffolder.ActionExample{
			{Description: "Downloads a skeleton directory that lives alongside the template file and fill it out with values.",
				Example: `steps:
  - action: fetch:template
    id: fetch-template
    name: Fetch template
    input:
      url: ./skeleton
      targetPath: ./target
      values:
        name: test-project
        count: 1234
        itemList:
          - first
          - second
          - third
        showDummyFile: false
`},
		},
		Input:          fetchTemplateInput,
		SupportsDryRun: true,
		Run:            o.fetchTemplate,
	}
}

func (o Options) fetchTemplate(ctx context.Context, ac *scaffolder.ActionContext) error {
	s, err := o.templateSettings(ac)
	if err != nil {
		return err
	}
	fetchURL, err := RequiredStringInput(Input(ac), "url")
	if err != nil {
		return err
	}
	logf(ac, "Fetching template content from remote URL")
	entries, err := o.fetchTree(ctx, ac, fetchURL)
	if err != nil {
		return err
	}
	logf(ac, "Listing files and directories in template")
	copyOnly := newGlobSet(s.copyOnly, entries)
	logf(ac, "Processing %d template files/directories with input values%s", len(entries), valuesMeta(ac))
	if err := workspace.MkdirAll(ac.Workspace, s.outputDir); err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		location := e.Path
		if e.Dir {
			location += "/"
		}
		var renderContents bool
		outPath := location
		if s.extension != "" {
			renderContents = jsExtname(outPath) == s.extension
			if renderContents {
				outPath = outPath[:len(outPath)-len(s.extension)]
			}
		} else {
			renderContents = !copyOnly.match(e.Path)
		}
		if outPath, err = render.RenderString(ctx, outPath, s.vars, s.opts); err != nil {
			return err
		}
		// Conditional files: a name that renders empty, or with an empty
		// segment, is left out.
		if outPath == "" || strings.HasPrefix(outPath, "/") || strings.Contains(outPath, "//") {
			continue
		}
		dst, err := workspace.ResolveSafeChildPath(s.outputDir, filepath.FromSlash(outPath))
		if err != nil {
			return err
		}
		if exists(dst) && !s.replace {
			continue
		}
		if !renderContents && s.extension == "" {
			logf(ac, "Copying file/directory %s without processing.", location)
		}
		switch {
		case e.Dir:
			logf(ac, "Writing directory %s to template output path.", location)
			if err := workspace.MkdirAll(ac.Workspace, dst); err != nil {
				return err
			}
		case e.Link != "" || isBinary(e.Data):
			logf(ac, "Copying file binary or symbolic link at %s, to template output path.", location)
			if e.Link != "" {
				err = workspace.Symlink(ac.Workspace, dst, e.Link, true)
			} else {
				err = workspace.WriteFile(ac.Workspace, dst, e.Data, e.Mode, true)
			}
			if err != nil {
				return err
			}
		default:
			logf(ac, "Writing file %s to template output path with mode %d.", location, 0o100000|uint32(e.Mode.Perm()))
			contents := decodeUTF8(e.Data)
			if renderContents {
				if contents, err = render.RenderString(ctx, contents, s.vars, s.opts); err != nil {
					return err
				}
			}
			if err := workspace.WriteFile(ac.Workspace, dst, []byte(contents), e.Mode, false); err != nil {
				return err
			}
		}
	}
	logf(ac, "Template result written to %s", s.outputDir)
	return nil
}

//go:embed schemas/fetch_template_file.input.json
var fetchTemplateFileInput []byte

// fetchTemplateFileAction declares fetch:template:file: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) fetchTemplateFileAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "fetch:template:file",
		Description: "Downloads single file and places it in the workspace.",
		Examples: []scaffolder.ActionExample{
			{Description: "Downloads a template file and fill it out with values.",
				Example: `steps:
  - action: fetch:template:file
    id: fetch-template-file
    name: Fetch template file
    input:
      url: ./skeleton.txt
      targetPath: ./target/skeleton.txt
      values:
        name: test-project
        count: 1234
        itemList:
          - first
          - second
          - third
`},
		},
		Input:          fetchTemplateFileInput,
		SupportsDryRun: true,
		Run:            o.fetchTemplateFile,
	}
}

func (o Options) fetchTemplateFile(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := Input(ac)
	fetchURL, err := RequiredStringInput(in, "url")
	if err != nil {
		return err
	}
	target, err := RequiredStringInput(in, "targetPath")
	if err != nil {
		return err
	}
	dst, err := workspace.ResolveSafeChildPath(ac.Workspace, target)
	if err != nil {
		return err
	}
	if exists(dst) && !boolean(in, "replace") {
		logf(ac, "File %s already exists in workspace, not replacing.", target)
		return nil
	}
	logf(ac, "Fetching template file content from remote URL")
	data, _, err := o.fetchFile(ctx, ac, fetchURL)
	if err != nil {
		return err
	}
	opts := o.renderOptions(in)
	logf(ac, "Processing template file with input values%s", valuesMeta(ac))
	out, err := render.RenderString(ctx, decodeUTF8(data), templateVars(ac, opts.CookiecutterCompat), opts)
	if err != nil {
		return err
	}
	if err := workspace.WriteFile(ac.Workspace, dst, []byte(out), 0o644, false); err != nil {
		return err
	}
	logf(ac, "Template file has been written to %s", dst)
	return nil
}

// valuesMeta is how Backstage's step logger shows the values it is given
// as a log line's metadata: appended as JSON with sorted keys (winston's
// safe-stable-stringify) when they are a non-empty object.
func valuesMeta(ac *scaffolder.ActionContext) string {
	v, _ := Input(ac).Get("values")
	o, isObj := v.(*ojson.Object)
	if !isObj || o.Len() == 0 {
		return ""
	}
	b, err := ojson.MarshalSorted(o)
	if err != nil {
		return ""
	}
	return " " + string(b)
}

// jsExtname is Node's path.extname: the last ".x" of the last segment
// (a trailing slash ignored), "" for dotfiles without another dot.
func jsExtname(p string) string {
	p = strings.TrimRight(p, "/")
	base := path.Base(p)
	i := strings.LastIndexByte(base, '.')
	if i <= 0 {
		return ""
	}
	return base[i:]
}

// decodeUTF8 reads bytes as Node's utf-8 decoding does: invalid bytes
// become U+FFFD.
func decodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		sb.WriteRune(r)
		b = b[n:]
	}
	return sb.String()
}

// ---- globs ----

// templateGlob is globby's {dot: true}, which copyWithoutTemplating and
// fs:delete use: segment globs, "**" across segments, case-sensitive, and
// "dir/**" covering what is under dir but not dir itself.
var templateGlob = glob.Options{Dot: true, ChildrenGlobstar: true}

// globSet matches copyWithoutTemplating patterns against tree paths. As
// with globby, a pattern naming a directory of the tree covers everything
// under it, and "!pattern" excludes.
type globSet struct{ include, exclude []*glob.Pattern }

func newGlobSet(patterns []string, entries []entry) globSet {
	dirs := map[string]bool{}
	for _, e := range entries {
		if e.Dir {
			dirs[e.Path] = true
		}
	}
	var g globSet
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if d := strings.TrimSuffix(p, "/"); dirs[d] {
			p = d + "/**"
		}
		pat, err := glob.Compile(p, templateGlob)
		if err != nil {
			continue
		}
		if neg {
			g.exclude = append(g.exclude, pat)
		} else {
			g.include = append(g.include, pat)
		}
	}
	return g
}

func (g globSet) match(p string) bool {
	in := false
	for _, pat := range g.include {
		if pat.Match(p) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, pat := range g.exclude {
		if pat.Match(p) {
			return false
		}
	}
	return true
}

// ---- binary detection (the isbinaryfile package's heuristic) ----

// isBinary tells binary from text by the first 512 bytes: NULs, byte
// order marks, PDF, and the share of bytes that are neither printable
// ASCII nor valid UTF-8 sequences (with a protobuf sniff).
func isBinary(b []byte) bool {
	const maxBytes, reserve = 512, 3
	n := len(b)
	if n == 0 {
		return false
	}
	total := min(n, maxBytes+reserve)
	scan := min(total, maxBytes)
	switch {
	case n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf:
		return false
	case n >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0xfe && b[3] == 0xff:
		return false
	case n >= 4 && b[0] == 0xff && b[1] == 0xfe && b[2] == 0 && b[3] == 0:
		return false
	case n >= 4 && b[0] == 0x84 && b[1] == 0x31 && b[2] == 0x95 && b[3] == 0x33:
		return false
	case total >= 5 && string(b[:5]) == "%PDF-":
		return true
	case n >= 2 && b[0] == 0xfe && b[1] == 0xff:
		return false
	case n >= 2 && b[0] == 0xff && b[1] == 0xfe:
		return false
	}
	cont := func(i int) bool { return i < n && b[i] >= 0x80 && b[i] <= 0xbf }
	suspicious := 0
	for i := 0; i < scan; i++ {
		c := b[i]
		if c == 0 {
			return true
		}
		if (c < 7 || c > 14) && (c < 32 || c > 127) {
			if c >= 0xc0 && c <= 0xdf && i+1 < total {
				i++
				if cont(i) {
					continue
				}
			} else if c >= 0xe0 && c <= 0xef && i+2 < total {
				i++
				if cont(i) && cont(i+1) {
					i++
					continue
				}
			} else if c >= 0xf0 && c <= 0xf7 && i+3 < total {
				i++
				if cont(i) && cont(i+1) && cont(i+2) {
					i += 2
					continue
				}
			}
			suspicious++
			if i >= 32 && suspicious*100/scan > 10 {
				return true
			}
		}
	}
	if suspicious*100/scan > 10 {
		return true
	}
	return suspicious > 1 && isProto(b[:scan])
}

// isProto reports whether b parses as a sequence of protobuf fields.
func isProto(b []byte) bool {
	pos, bad := 0, false
	next := func() byte {
		if pos >= len(b) || bad {
			bad = true
			return 0xff
		}
		pos++
		return b[pos-1]
	}
	varint := func() uint64 {
		var v uint64
		for idx := 0; !bad; idx++ {
			c := next()
			if idx < 10 {
				v |= uint64(c&0x7f) << (7 * idx)
			}
			if c&0x80 == 0 {
				break
			}
			if idx >= 10 {
				bad = true
				break
			}
		}
		return v
	}
	skip := func(k uint64) {
		for i := uint64(0); i < k && !bad; i++ {
			next()
		}
	}
	messages := 0
	for {
		ok := true
		switch varint() & 7 {
		case 0:
			varint()
		case 1:
			skip(8)
		case 2:
			skip(varint())
		case 5:
			skip(4)
		default:
			ok = false
		}
		if !ok && !bad {
			return false
		}
		if bad {
			break
		}
		messages++
	}
	return messages > 0
}
