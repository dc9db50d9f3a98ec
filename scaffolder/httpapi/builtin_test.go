package httpapi_test

import (
	"os"
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
)

// TestBuiltinsMatchOracle lists the built-in actions and dry-runs a template
// using them (debug:log with a secret, catalog:register skipped in dry-run
// mode, a step reading its output), comparing with the oracle's answers.
func TestBuiltinsMatchOracle(t *testing.T) {
	b := setup(t, sqliteDB, true)
	acts := scaffolder.NewActions()
	if err := acts.Add(builtin.Actions(builtin.Options{})...); err != nil {
		t.Fatal(err)
	}
	b.svc.Runner.Actions = acts
	req, _ := os.ReadFile("testdata/oracle/dry_run_request.json")
	raw, _ := os.ReadFile("testdata/oracle/dry_run_response.json")
	want, _ := ojson.Decode(raw)
	if code, got := b.do(t, "POST", "/v2/dry-run", string(req)); code != 200 || string(got) != string(ojson.MustMarshal(want)) {
		t.Errorf("dry run %d\n got %s\nwant %s", code, got, ojson.MustMarshal(want))
	}
	if _, got := b.do(t, "GET", "/v2/actions", ""); len(got) < 1000 || got[0] != '[' {
		t.Errorf("actions %s", got)
	}
}
