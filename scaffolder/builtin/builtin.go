// Package builtin implements the scaffolder's built-in actions, the twelve
// that Backstage 1.55 registers by default: fetch:plain, fetch:plain:file,
// fetch:template, fetch:template:file, fs:delete, fs:rename, fs:readdir,
// debug:log, debug:wait, catalog:register, catalog:write and catalog:fetch.
//
// Each action is declared once, beside its code (the <name>Action methods):
// id, description, examples and input/output JSON Schemas (embedded from
// schemas/, as Backstage 1.55 publishes them on GET /v2/actions), dry-run
// support and the function that runs it. Behaviour follows Backstage's
// handlers. Every path an action touches is confined to the task workspace
// by package workspace (paths resolved through symlinks, writes through
// os.Root), so neither `..`, absolute paths nor symlinks (planted in the
// workspace or shipped in a skeleton) let an action read or write outside it.
package builtin

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/render"
)

// Options configure the built-in actions.
type Options struct {
	// Integrations maps a host to its SCM integration type; it drives
	// parseRepoUrl/projectSlug in skeletons and how catalog:register and
	// relative fetch URLs resolve repository-root paths ("/x"). Nil means
	// render.DefaultIntegrations.
	Integrations render.IntegrationType
	// Filters and Globals are extra template filters and globals offered
	// to fetch:template and fetch:template:file (templating extensions).
	Filters map[string]render.Filter
	Globals map[string]any
	// MaxWait caps debug:wait (Backstage's default: 10 minutes).
	MaxWait time.Duration
	// TemplateLimits bound each file fetch:template renders (zero fields
	// take render's defaults).
	TemplateLimits render.Limits
}

// Actions returns the built-in actions in Backstage's listing order.
func Actions(o Options) []scaffolder.Action {
	if o.Integrations == nil {
		o.Integrations = render.DefaultIntegrations
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 10 * time.Minute
	}
	return []scaffolder.Action{
		o.catalogFetchAction(),
		o.catalogRegisterAction(),
		o.catalogWriteAction(),
		o.debugLogAction(),
		o.debugWaitAction(),
		o.fetchPlainAction(),
		o.fetchPlainFileAction(),
		o.fetchTemplateAction(),
		o.fetchTemplateFileAction(),
		o.fsDeleteAction(),
		o.fsReaddirAction(),
		o.fsRenameAction(),
	}
}

// ---- small helpers over the action context ----

// logf writes one log message (which may span lines) in a single Write.
func logf(ac *scaffolder.ActionContext, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if ac.Log != nil {
		_, _ = io.WriteString(ac.Log, msg+"\n")
	}
	if ac.Logger != nil {
		ac.Logger.Debug(msg, slog.String("task", ac.TaskID))
	}
}

// Input is the action's input object, empty rather than nil. The helpers
// below are exported for actions written in other packages (plugins/github).
func Input(ac *scaffolder.ActionContext) *ojson.Object {
	if ac.Input == nil {
		return ojson.NewObject()
	}
	return ac.Input
}

// StringInput reads an optional string input; present but not a string is
// an InputError.
func StringInput(in *ojson.Object, key string) (string, bool, error) {
	v, ok := in.Get(key)
	if !ok || v == nil {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, backend.Input("%s must be a string", key)
	}
	return s, true, nil
}

// RequiredStringInput reads a string input that must be present.
func RequiredStringInput(in *ojson.Object, key string) (string, error) {
	s, ok, err := StringInput(in, key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", backend.Input("%s is required", key)
	}
	return s, nil
}

func boolean(in *ojson.Object, key string) bool {
	v, _ := in.Get(key)
	b, _ := v.(bool)
	return b
}

// strList reads an optional array of strings.
func strList(in *ojson.Object, key string) ([]string, bool, error) {
	v, ok := in.Get(key)
	if !ok || v == nil {
		return nil, false, nil
	}
	arr, isArr := v.([]any)
	if !isArr {
		return nil, true, backend.Input("%s must be an Array", key)
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, isStr := e.(string)
		if !isStr {
			return nil, true, backend.Input("%s must be an array of strings", key)
		}
		out = append(out, s)
	}
	return out, true, nil
}

func number(in *ojson.Object, key string) float64 {
	v, _ := in.Get(key)
	switch n := v.(type) {
	case ojson.Number:
		return n.Float()
	case float64:
		return n
	case int:
		return float64(n)
	}
	return 0
}
