package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
	"github.com/understage/understage/scaffolder/workspace"
)

const templateUsage = `usage:
  understage template dry-run TEMPLATE.yaml [--values FILE] [--secrets FILE] [--output DIR] [--json]
`

// template runs the template subcommands (only dry-run for now).
func template(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "dry-run" {
		fmt.Fprint(stderr, templateUsage)
		return errUsage
	}
	return templateDryRun(ctx, args[1:], stdout, stderr)
}

// dryRunFlags are template dry-run's options.
type dryRunFlags struct {
	template, values, secrets, output string
	json                              bool
}

// parseDryRunFlags accepts the template path before, between or after the
// flags (the flag package alone stops at the first argument).
func parseDryRunFlags(args []string, stderr io.Writer) (*dryRunFlags, error) {
	f := &dryRunFlags{}
	fs := flag.NewFlagSet("template dry-run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.values, "values", "", "YAML or JSON file with the template's parameter values (default: none)")
	fs.StringVar(&f.secrets, "secrets", "", "YAML or JSON file with secrets (a map of strings)")
	fs.StringVar(&f.output, "output", "", "directory to write the resulting workspace files to")
	fs.BoolVar(&f.json, "json", false, "print the dry-run response body as POST /v2/dry-run answers it")
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) != 1 {
		fmt.Fprint(stderr, templateUsage)
		return nil, errUsage
	}
	f.template = positional[0]
	return f, nil
}

// templateDryRun renders a template locally as POST /v2/dry-run does: the
// template's folder is the dry run's directoryContents, so relative URLs
// such as ./skeleton resolve against it.
func templateDryRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseDryRunFlags(args, stderr)
	if err != nil {
		return err
	}
	tmpl, err := loadTemplateFile(f.template)
	if err != nil {
		return err
	}
	values := any(ojson.NewObject())
	if f.values != "" {
		v, err := decodeFile(f.values)
		if err != nil {
			return err
		}
		if _, ok := v.(*ojson.Object); !ok {
			return fmt.Errorf("%s: values must be an object", f.values)
		}
		values = v
	}
	secrets, err := loadSecrets(f.secrets)
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.template)
	var skip string
	if f.output != "" {
		skip, _ = filepath.Abs(f.output)
	}
	files, err := readTemplateDir(dir, skip)
	if err != nil {
		return err
	}
	if errs := scaffolder.ValidateParameters(tmpl.Pages, values); errs != nil {
		return printValidation(stdout, errs)
	}
	if errs := scaffolder.ValidateSecrets(tmpl, secrets); errs != nil {
		return printValidation(stdout, errs)
	}

	work, err := os.MkdirTemp("", "understage-dry-run-*")
	if err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	defer os.RemoveAll(work)
	actions := scaffolder.NewActions()
	if err := actions.Add(builtin.Actions(builtin.Options{})...); err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	// The GitHub actions too, so templates that publish dry-run as in
	// Backstage (they declare dry-run support and make no request then).
	if err := actions.Add(github.Actions(github.ActionOptions{})...); err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	runner := &scaffolder.Runner{
		Actions:          actions,
		WorkingDirectory: work,
		Logger:           slog.New(slog.DiscardHandler),
	}
	res, err := runner.DryRun(ctx, scaffolder.DryRunInput{Template: tmpl, Values: values, Secrets: secrets, Files: files})
	if err != nil {
		return fmt.Errorf("dry run failed: %s: %s", scaffolder.ErrorName(err), scaffolder.ErrorMessage(err))
	}
	if f.json {
		if err := printDryRunJSON(stdout, res); err != nil {
			return err
		}
	} else {
		printDryRun(stdout, res)
	}
	if f.output != "" {
		if err := writeWorkspace(f.output, res.Files); err != nil {
			return err
		}
		if !f.json {
			fmt.Fprintf(stdout, "\n%d file(s) written to %s\n", len(res.Files), f.output)
		}
	}
	return nil
}

// loadTemplateFile reads the first Template document of a YAML file and
// checks what the dry-run API checks.
func loadTemplateFile(path string) (*scaffolder.Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	docs, err := ojson.DecodeYAMLDocuments(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, d := range docs {
		if d.Err != nil {
			return nil, fmt.Errorf("%s: %w", path, d.Err)
		}
		o, ok := d.Value.(*ojson.Object)
		if !ok || o.String("kind") != "Template" {
			continue
		}
		if !isTemplateEntity(o) {
			return nil, fmt.Errorf("%s: Input template is not a template", path)
		}
		t, err := scaffolder.ParseTemplate(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %s", path, scaffolder.ErrorMessage(err))
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s: no Template entity in the file", path)
}

// isTemplateEntity is the v1beta3 shape the API requires of a posted template.
func isTemplateEntity(o *ojson.Object) bool {
	if v, _ := o.Get("apiVersion"); v != scaffolder.APIVersion {
		return false
	}
	md, spec := o.Object("metadata"), o.Object("spec")
	if md == nil || md.String("name") == "" || spec == nil {
		return false
	}
	typ, _ := spec.Get("type")
	steps, _ := spec.Get("steps")
	_, okT := typ.(string)
	_, okS := steps.([]any)
	return okT && okS
}

func decodeFile(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	v, err := ojson.DecodeYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

func loadSecrets(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	v, err := decodeFile(path)
	if err != nil {
		return nil, err
	}
	o, ok := v.(*ojson.Object)
	if !ok {
		return nil, fmt.Errorf("%s: secrets must be an object", path)
	}
	out := make(map[string]string, o.Len())
	for _, m := range o.Members {
		s, ok := m.Value.(string)
		if !ok {
			return nil, fmt.Errorf("%s: secret %s must be a string", path, m.Key)
		}
		out[m.Key] = s
	}
	return out, nil
}

// readTemplateDir lists the template folder's files as directoryContents,
// leaving out .git and the output directory (when it lies inside).
func readTemplateDir(dir, skip string) ([]scaffolder.File, error) {
	var files []scaffolder.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			abs, _ := filepath.Abs(p)
			if p != dir && (d.Name() == ".git" || abs == skip) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, scaffolder.File{Path: filepath.ToSlash(rel), Content: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read template folder: %w", err)
	}
	return files, nil
}

func printValidation(w io.Writer, errs []*ojson.Object) error {
	fmt.Fprintln(w, "parameter validation failed:")
	for _, e := range errs {
		msg := e.String("stack")
		if msg == "" {
			msg = e.String("property") + " " + e.String("message")
		}
		fmt.Fprintln(w, "  "+msg)
	}
	return errProblems{len(errs)}
}

// ansi matches the colour codes of Backstage's log format, kept in the API's
// log but noise in a terminal or CI log.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// printDryRun shows the log, the steps and the rendered output for a person.
func printDryRun(w io.Writer, res *scaffolder.DryRunResult) {
	fmt.Fprintln(w, "Log:")
	for _, l := range res.Log {
		b := l.Object("body")
		if b == nil {
			continue
		}
		msg := ansi.ReplaceAllString(b.String("message"), "")
		msg = strings.ReplaceAll(strings.TrimRight(msg, "\n"), "\n", "\n    ")
		if id := b.String("stepId"); id != "" {
			fmt.Fprintf(w, "  [%s] %s\n", id, msg)
		} else {
			fmt.Fprintf(w, "  %s\n", msg)
		}
	}
	fmt.Fprintln(w, "\nSteps:")
	for _, s := range res.Steps {
		o, _ := s.(*ojson.Object)
		if o == nil {
			continue
		}
		fmt.Fprintf(w, "  %s: %s (%s)\n", o.String("id"), o.String("name"), o.String("action"))
	}
	fmt.Fprintln(w, "\nOutput:")
	if links, ok := get(res.Output, "links").([]any); ok {
		for _, l := range links {
			o, _ := l.(*ojson.Object)
			if o == nil {
				continue
			}
			target := o.String("url")
			if target == "" {
				target = o.String("entityRef")
			}
			fmt.Fprintf(w, "  link: %s -> %s\n", o.String("title"), target)
		}
	}
	if texts, ok := get(res.Output, "text").([]any); ok {
		for _, t := range texts {
			o, _ := t.(*ojson.Object)
			if o == nil {
				continue
			}
			fmt.Fprintf(w, "  text: %s\n    %s\n", o.String("title"), strings.ReplaceAll(strings.TrimRight(o.String("content"), "\n"), "\n", "\n    "))
		}
	}
	for _, m := range res.Output.Members {
		if m.Key == "links" || m.Key == "text" {
			continue
		}
		b, _ := ojson.Marshal(m.Value)
		fmt.Fprintf(w, "  %s: %s\n", m.Key, b)
	}
	fmt.Fprintln(w, "\nFiles:")
	for _, f := range res.Files {
		mode := ""
		if f.Executable {
			mode = " (executable)"
		}
		fmt.Fprintf(w, "  %s%s\n", f.Path, mode)
	}
}

func get(o *ojson.Object, key string) any {
	if o == nil {
		return nil
	}
	v, _ := o.Get(key)
	return v
}

// printDryRunJSON prints the body POST /v2/dry-run would answer.
func printDryRunJSON(w io.Writer, res *scaffolder.DryRunResult) error {
	logs := make([]any, len(res.Log))
	for i, l := range res.Log {
		logs[i] = l
	}
	files := make([]any, len(res.Files))
	for i, f := range res.Files {
		files[i] = ojson.NewObject("path", f.Path, "executable", f.Executable, "base64Content", base64.StdEncoding.EncodeToString(f.Content))
	}
	b, err := ojson.Marshal(ojson.NewObject("log", logs, "directoryContents", files, "output", res.Output, "steps", res.Steps))
	if err != nil {
		return fmt.Errorf("encode dry-run result: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeWorkspace writes the dry run's files under dir through the
// workspace layer: the output folder may hold symlinks already, and nothing
// is written outside dir (a symlink at a file's place is replaced).
func writeWorkspace(dir string, files []scaffolder.File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	for _, f := range files {
		mode := os.FileMode(0o644)
		if f.Executable {
			mode = 0o755
		}
		err := workspace.WriteFile(root, filepath.FromSlash(f.Path), f.Content, mode, true)
		if errors.Is(err, backend.ErrNotAllowed) {
			return fmt.Errorf("output %s: refusing to write outside %s", f.Path, dir)
		}
		if err != nil {
			return fmt.Errorf("output: %w", err)
		}
	}
	return nil
}
