package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/catalog/processing"
)

// errProblems makes validate exit 1 without printing a second message.
type errProblems struct{ n int }

func (e errProblems) Error() string { return fmt.Sprintf("%d problem(s)", e.n) }

// validate checks catalog-info files (and the Locations they reference) as
// the catalog would, printing each problem as file:line: message.
func validate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	allowAll := fs.Bool("allow-all-kinds", true, "accept every built-in kind (as catalog.rules allowing all); false applies Backstage's default rules (Component, API, Location)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("usage: understage validate [--allow-all-kinds=false] PATH...")
	}
	var rules model.Rules
	if *allowAll {
		var kinds []model.RuleKind
		for _, k := range []string{"Component", "API", "Resource", "System", "Domain", "Group", "User", "Location", "Template"} {
			kinds = append(kinds, model.RuleKind{Kind: k})
		}
		rules, _ = model.NewRules([]model.Rule{{Allow: kinds}}, nil)
	}
	problems, n, err := processing.ValidateFiles(ctx, fs.Args(), rules)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p.String())
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "%d entities checked, %d problem(s)\n", n, len(problems))
		return errProblems{len(problems)}
	}
	fmt.Fprintf(stdout, "%d entities checked, no problems\n", n)
	return nil
}
