package scaffolder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder/render"
)

// Runner executes task specs: it renders each step's input, runs the
// action in the task's workspace, and reports progress as Backstage's
// NunjucksWorkflowRunner does (the same log event bodies, in the same order).
type Runner struct {
	Actions *Actions
	// WorkingDirectory holds task workspaces (<dir>/<taskId>); default os.TempDir().
	WorkingDirectory string
	// Filters and Globals extend the template language (templating-extensions).
	Filters map[string]render.Filter
	Globals map[string]any
	// LogLimit bounds the log of each task and dry run.
	LogLimit LogLimit
	// Environment is scaffolder.defaultEnvironment (parameters and secrets).
	Environment Environment
	// Integrations resolves SCM hosts for parseRepoUrl (render's default when nil).
	Integrations render.IntegrationType
	Reader       Reader
	Catalog      CatalogClient
	Logger       *slog.Logger
	// AuthorizeAction, when set, decides scaffolder.action.execute for the
	// run's user, per iteration of a step, on the action id and rendered
	// input, after input validation and before anything runs (Backstage's
	// order). false fails the step with a NotAllowedError (see authorize.go).
	AuthorizeAction func(ctx context.Context, run *Run, actionID string, input *ojson.Object) (bool, error)
	// TemplateLimits bound each render of a step input or output (zero
	// fields take render's defaults).
	TemplateLimits render.Limits
}

// Environment is the config-provided `environment` template variable.
type Environment struct {
	Parameters *ojson.Object
	Secrets    map[string]string
}

// Run is one execution of a task spec.
type Run struct {
	// TaskID is context.task.id and the workspace directory name.
	TaskID string
	Spec   *ojson.Object
	// Secrets are the task's secrets (request secrets plus backstageToken).
	Secrets map[string]string
	DryRun  bool
	// Completed maps the ids of steps finished by an earlier attempt to their
	// outputs; those steps are not run again.
	Completed map[string]*ojson.Object
	// Emit writes a log event body ({message, stepId?, status?}).
	Emit func(ctx context.Context, body *ojson.Object) error
	// StepCompleted records a finished step and its output durably, before
	// the step's "Finished" event, so that a resumed run skips it.
	StepCompleted func(ctx context.Context, stepID string, output *ojson.Object) error
	// User is the spec's user, for actions.
	User UserInfo
	// Catalog overrides Runner.Catalog for this run (the caller's credentials).
	Catalog CatalogClient

	extra map[string]Action // run-private actions (the dry run's extractor)
}

// errorKind is the Backstage kind of a step error: the backend kind the
// action gave it, TemplateRenderError for render failures, nil for an
// unclassified error (Backstage's plain Error, 500).
func errorKind(err error) *backend.Kind {
	if k := backend.KindOf(err); k != nil {
		return k
	}
	var tre *render.TemplateRenderError
	if errors.As(err, &tre) {
		return backend.ErrTemplateRender
	}
	var tle *render.TemplateLimitError
	if errors.As(err, &tle) {
		return backend.ErrTemplateLimit
	}
	return nil
}

// ErrorName is the name Backstage would give err (InputError, Error, ...).
func ErrorName(err error) string {
	if k := errorKind(err); k != nil {
		return k.Name
	}
	return "Error"
}

// ErrorMessage is err's message as Backstage shows it.
func ErrorMessage(err error) string {
	return backend.MessageOf(err)
}

type runState struct {
	r        *Runner
	run      *Run
	opts     render.Options
	failed   bool
	invoked  bool
	vars     map[string]any
	steps    *ojson.Object
	wsPath   string
	redSecrs []string
}

func (r *Runner) workingDir() string {
	if r.WorkingDirectory != "" {
		return r.WorkingDirectory
	}
	return os.TempDir()
}

// Execute runs every step and renders spec.output. It returns the first step
// error (after later always()/failure() steps ran). The workspace
// <WorkingDirectory>/<TaskID> is removed when it returns.
func (r *Runner) Execute(ctx context.Context, run *Run) (*ojson.Object, error) {
	return r.execute(ctx, run, nil)
}

func (r *Runner) execute(ctx context.Context, run *Run, beforeCleanup func(ws string) error) (*ojson.Object, error) {
	if v, _ := run.Spec.Get("apiVersion"); v != APIVersion {
		return nil, backend.Input("Wrong template version executed with the workflow engine")
	}
	s := &runState{r: r, run: run, steps: ojson.NewObject()}
	s.opts = render.Options{Filters: r.Filters, Integrations: r.Integrations, Globals: map[string]any{}, Limits: r.TemplateLimits}
	for k, v := range r.Globals {
		s.opts.Globals[k] = v
	}
	s.opts.Globals["always"] = render.Func(func(...any) (any, error) { s.invoked = true; return true, nil })
	s.opts.Globals["failure"] = render.Func(func(...any) (any, error) { s.invoked = true; return s.failed, nil })
	envParams := r.Environment.Parameters
	if envParams == nil {
		envParams = ojson.NewObject()
	}
	s.vars = map[string]any{
		"parameters":  orUndefined(get(run.Spec, "parameters")),
		"environment": ojson.NewObject("parameters", envParams, "secrets", ojson.NewObject()),
		"steps":       s.steps,
		"user":        orUndefined(get(run.Spec, "user")),
		"context":     ojson.NewObject("task", ojson.NewObject("id", run.TaskID)),
	}
	for _, v := range run.Secrets {
		s.redSecrs = append(s.redSecrs, v)
	}
	for _, v := range r.Environment.Secrets {
		s.redSecrs = append(s.redSecrs, v)
	}
	s.wsPath = filepath.Join(r.workingDir(), run.TaskID)
	defer os.RemoveAll(s.wsPath)

	steps, _ := get(run.Spec, "steps").([]any)
	if err := s.emit(ctx, ojson.NewObject("message", fmt.Sprintf("Starting up task with %d steps", len(steps)))); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.wsPath, 0o755); err != nil {
		return nil, fmt.Errorf("create workspace: %w", err)
	}
	if n := len(run.Completed); n > 0 {
		_ = s.emit(ctx, ojson.NewObject("message", fmt.Sprintf("Task recovered - resuming from last known good state. %d step(s) already completed.", n)))
	}
	var firstErr error
	for _, raw := range steps {
		step, _ := raw.(*ojson.Object)
		if step == nil {
			continue
		}
		id := step.String("id")
		if out, done := run.Completed[id]; done {
			if out == nil {
				out = ojson.NewObject()
			}
			s.steps.Set(id, ojson.NewObject("output", out))
			_ = s.emit(ctx, ojson.NewObject("message", fmt.Sprintf("Skipping step %s because it was already completed in a previous run", id), "stepId", id, "status", "completed"))
			continue
		}
		if s.failed {
			ifv, isStr := get(step, "if").(string)
			skip := !isStr
			if isStr {
				s.invoked = false
				_, _ = render.RenderValue(ctx, ifv, s.vars, s.opts)
				skip = !s.invoked
			}
			if skip {
				_ = s.emit(ctx, ojson.NewObject("message", fmt.Sprintf("Skipping step %s because a previous step failed", id), "stepId", id, "status", "skipped"))
				continue
			}
		}
		if err := s.executeStep(ctx, step); err != nil {
			if firstErr == nil {
				firstErr = err
			} else {
				_ = s.emit(ctx, ojson.NewObject("message", "Additional error occurred: "+ErrorMessage(err)+"\n"+ErrorName(err)+": "+ErrorMessage(err), "stepId", id, "status", "failed"))
			}
			s.failed = true
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	out, _ := s.render(ctx, get(run.Spec, "output"), s.vars)
	output, _ := out.(*ojson.Object)
	if output == nil {
		output = ojson.NewObject()
	}
	for _, k := range []string{"links", "text"} {
		if arr, ok := get(output, k).([]any); ok {
			output.Set(k, filterConditionalItems(arr))
		}
	}
	if beforeCleanup != nil {
		if err := beforeCleanup(s.wsPath); err != nil {
			return nil, err
		}
	}
	return output, nil
}

func orUndefined(v any) any {
	if v == nil {
		return ojson.Undefined
	}
	return v
}

func (s *runState) emit(ctx context.Context, body *ojson.Object) error {
	if s.run.Emit == nil {
		return nil
	}
	return s.run.Emit(context.WithoutCancel(ctx), body)
}

// render renders a value like Backstage's runner: every string is rendered,
// and a string that fails to render is kept as it was.
func (s *runState) render(ctx context.Context, v any, vars map[string]any) (any, error) {
	if v == nil {
		return ojson.Undefined, nil
	}
	return render.RenderValue(ctx, v, vars, s.opts)
}

func withVars(base map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(base)+len(kv)/2)
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func secretsObject(m map[string]string, redacted bool) *ojson.Object {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	o := ojson.NewObject()
	for _, k := range keys {
		v := m[k]
		if redacted {
			v = "***"
		}
		o.Set(k, v)
	}
	return o
}

// IsTruthy is the scaffolder's truthiness: a non-empty array, or a JavaScript-truthy value.
func IsTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case []any:
		return len(x) > 0
	case bool:
		return x
	case string:
		return x != ""
	case ojson.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return err == nil && f != 0 && !math.IsNaN(f)
	case *ojson.Object:
		return true
	}
	return !ojson.IsUndefined(v)
}

func filterConditionalItems(items []any) []any {
	out := make([]any, 0, len(items))
	for _, it := range items {
		o, ok := it.(*ojson.Object)
		if !ok {
			out = append(out, it)
			continue
		}
		if v, has := o.Get("if"); has && !IsTruthy(v) {
			continue
		}
		c := o.Clone()
		c.Delete("if")
		out = append(out, c)
	}
	return out
}

func (s *runState) cancelled(step *ojson.Object) error {
	return fmt.Errorf("Step %s (%s) of task %s has been cancelled.",
		step.String("id"), jsString(get(step, "name")), s.run.TaskID)
}

type iteration struct {
	each      *ojson.Object // nil without each
	input     any
	shouldRun bool
}

func (s *runState) executeStep(ctx context.Context, step *ojson.Object) (err error) {
	id, name := step.String("id"), jsString(get(step, "name"))
	_ = s.emit(ctx, ojson.NewObject("message", "Beginning step "+name, "stepId", id, "status", "processing"))
	red := newRedactor()
	red.add(s.redSecrs...)
	log := &stepLog{ctx: ctx, emit: s.run.Emit, stepID: id, red: red}
	if log.emit == nil {
		log.emit = func(context.Context, *ojson.Object) error { return nil }
	}
	logger := slog.New(log.handler())
	defer func() {
		if err != nil {
			// The step's error keeps its kind (so a dry run answers with
			// its status and a task's completion event with its name);
			// only the message is redacted.
			err = &backend.Error{Kind: errorKind(err), Message: red.redact(ErrorMessage(err)), Cause: err}
			_ = s.emit(ctx, ojson.NewObject("message", ErrorName(err)+": "+ErrorMessage(err), "stepId", id, "status", "failed"))
		}
	}()
	if ctx.Err() != nil {
		return s.cancelled(step)
	}
	ifv, hasIf := step.Get("if")
	_, hasEach := step.Get("each")
	if hasIf && (ifv == false || (isString(ifv) && !hasEach && !IsTruthy(mustRender(s.render(ctx, ifv, s.vars))))) {
		_ = s.emit(ctx, ojson.NewObject("message", fmt.Sprintf("Skipping step %s because its if condition was false", id), "stepId", id, "status", "skipped"))
		return nil
	}
	actionID := step.String("action")
	action, ok := s.run.extra[actionID]
	if !ok {
		action, ok = s.r.Actions.Get(actionID)
	}
	if !ok {
		return backend.NotFound("Template action with ID '%s' is not registered. See https://backstage.io/docs/features/software-templates/builtin-actions/ on how to add a new action module.", actionID)
	}
	rawInput, hasInput := step.Get("input")
	if s.run.DryRun {
		dryVars := withVars(s.vars,
			"environment", ojson.NewObject("parameters", get(s.vars["environment"].(*ojson.Object), "parameters"), "secrets", secretsObject(s.r.Environment.Secrets, true)),
			"secrets", secretsObject(s.run.Secrets, true))
		debug := any(ojson.NewObject())
		if hasInput {
			if v, _ := s.render(ctx, rawInput, dryVars); v != ojson.Undefined && v != nil {
				debug = v
			}
		}
		logger.Info("Running " + action.ID + " in dry-run mode with inputs (secrets redacted): " + indentJSON(debug))
		if !action.SupportsDryRun {
			_ = s.emit(ctx, ojson.NewObject("message", "Skipping because "+action.ID+" does not support dry-run", "stepId", id, "status", "skipped"))
			out := ojson.NewObject()
			if len(action.Output) > 0 {
				if schema, err := ojson.DecodeObject(action.Output); err == nil {
					if o, ok := exampleOutput(schema).(*ojson.Object); ok {
						out = o
					}
				}
			}
			s.steps.Set(id, ojson.NewObject("output", out))
			return nil
		}
	}
	envSecrets := secretsObject(s.r.Environment.Secrets, false)
	if s.run.DryRun {
		envSecrets = ojson.NewObject()
	}
	full := withVars(s.vars,
		"environment", ojson.NewObject("parameters", get(s.vars["environment"].(*ojson.Object), "parameters"), "secrets", envSecrets),
		"secrets", secretsObject(s.run.Secrets, false))
	noSecrets := withVars(s.vars,
		"environment", ojson.NewObject("parameters", get(s.vars["environment"].(*ojson.Object), "parameters"), "secrets", ojson.NewObject()),
		"secrets", ojson.NewObject())
	hasSecrets := len(s.run.Secrets) > 0 || len(s.r.Environment.Secrets) > 0

	var iters []iteration
	if hasEach {
		rawEach, _ := step.Get("each")
		each, _ := s.render(ctx, rawEach, full)
		var entries []ojson.Member
		switch e := each.(type) {
		case []any:
			for i, v := range e {
				entries = append(entries, ojson.Member{Key: strconv.Itoa(i), Value: v})
			}
		case *ojson.Object:
			entries = e.Members
		default:
			if each == ojson.Undefined {
				return backend.Input("Invalid value on action %s.each parameter, \"%s\" cannot be resolved to a value", action.ID, jsString(rawEach))
			}
			return backend.Input("Invalid value on action %s.each parameter, must resolve to an array or object", action.ID)
		}
		if hasSecrets {
			eachNo, _ := s.render(ctx, rawEach, noSecrets)
			red.add(collectSecretRedactions(each, eachNo)...)
		}
		for _, en := range entries {
			ev := ojson.NewObject("key", en.Key, "value", en.Value)
			vars := withVars(full, "each", ev)
			it := iteration{each: ev, shouldRun: true}
			if hasIf && isString(ifv) {
				it.shouldRun = IsTruthy(mustRender(s.render(ctx, ifv, vars)))
			}
			it.input = ojson.NewObject()
			if hasInput {
				it.input, _ = s.render(ctx, rawInput, vars)
				if hasSecrets {
					no, _ := s.render(ctx, rawInput, withVars(noSecrets, "each", ev))
					red.add(collectSecretRedactions(it.input, no)...)
				}
			}
			iters = append(iters, it)
		}
	} else {
		it := iteration{shouldRun: true, input: ojson.NewObject()}
		if hasInput {
			it.input, _ = s.render(ctx, rawInput, full)
			if hasSecrets {
				no, _ := s.render(ctx, rawInput, noSecrets)
				red.add(collectSecretRedactions(it.input, no)...)
			}
		}
		iters = append(iters, it)
	}
	if len(action.Input) > 0 {
		schema, err := ojson.DecodeObject(action.Input)
		if err == nil {
			for _, it := range iters {
				if !it.shouldRun {
					continue
				}
				if errs := ValidateJSON(it.input, schema); len(errs) > 0 {
					aid := action.ID
					if it.each != nil {
						aid += "[" + it.each.String("key") + "]"
					}
					stacks := make([]string, len(errs))
					for i, e := range errs {
						stacks[i] = e.String("stack")
					}
					return backend.Input("Invalid input passed to action %s, %s", aid, strings.Join(stacks, ", "))
				}
			}
		}
	}
	if err := s.authorizeIterations(ctx, action.ID, iters); err != nil {
		return err
	}
	stepOutput := ojson.NewObject()
	catalog := s.r.Catalog
	if s.run.Catalog != nil {
		catalog = s.run.Catalog
	}
	for _, it := range iters {
		if it.each != nil {
			word := "Running"
			if !it.shouldRun {
				word = "Skipping"
			}
			logger.Info(word + " step each: " + eachLogJSON(it.each))
			if !it.shouldRun {
				continue
			}
		}
		in, _ := it.input.(*ojson.Object)
		if in == nil {
			in = ojson.NewObject()
		}
		ac := &ActionContext{
			Input:        in,
			Workspace:    s.wsPath,
			Log:          log,
			Logger:       logger,
			TemplateInfo: templateInfo(s.run.Spec),
			Secrets:      s.run.Secrets,
			User:         s.run.User,
			IsDryRun:     s.run.DryRun,
			TaskID:       s.run.TaskID,
			Reader:       s.r.Reader,
			Catalog:      catalog,
			Output: func(name string, value any) {
				value = ojson.FromGo(value)
				if hasEach {
					arr, _ := get(stepOutput, name).([]any)
					stepOutput.Set(name, append(arr, value))
				} else {
					stepOutput.Set(name, value)
				}
			},
		}
		if err := action.Run(ctx, ac); err != nil {
			if ctx.Err() != nil {
				return s.cancelled(step)
			}
			return err
		}
	}
	s.steps.Set(id, ojson.NewObject("output", stepOutput))
	if ctx.Err() != nil {
		return s.cancelled(step)
	}
	if s.run.StepCompleted != nil {
		if err := s.run.StepCompleted(ctx, id, stepOutput); err != nil {
			if ctx.Err() != nil {
				return s.cancelled(step)
			}
			return fmt.Errorf("record step %s: %w", id, err)
		}
	}
	_ = s.emit(ctx, ojson.NewObject("message", "Finished step "+name, "stepId", id, "status", "completed"))
	return nil
}

func isString(v any) bool { _, ok := v.(string); return ok }

func mustRender(v any, _ error) any { return v }

func templateInfo(spec *ojson.Object) TemplateInfo {
	ti := spec.Object("templateInfo")
	if ti == nil {
		return TemplateInfo{}
	}
	return TemplateInfo{EntityRef: ti.String("entityRef"), BaseURL: ti.String("baseUrl"), Entity: ti.Object("entity")}
}

// indentJSON is JSON.stringify(v, undefined, 2).
func indentJSON(v any) string {
	b, err := ojson.Marshal(v)
	if err != nil {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return string(b)
	}
	return buf.String()
}

// eachLogJSON is how Backstage logs an iteration: {"key":..,"value":..} with
// nested values flattened to strings (arrays joined by commas, objects as
// "[object Object]").
func eachLogJSON(each *ojson.Object) string {
	o := ojson.NewObject()
	for _, m := range each.Members {
		o.Set(m.Key, stringifyEachLogValue(m.Value))
	}
	return string(ojson.MustMarshal(o))
}

func stringifyEachLogValue(v any) string {
	if arr, ok := v.([]any); ok {
		parts := make([]string, len(arr))
		for i, e := range arr {
			if e != nil {
				parts[i] = stringifyEachLogValue(e)
			}
		}
		return strings.Join(parts, ",")
	}
	if v == nil {
		return "null"
	}
	return jsString(v)
}

// exampleOutput makes an example value from an output schema, for actions
// skipped in dry runs (Backstage's generateExampleOutput).
func exampleOutput(schema *ojson.Object) any {
	if ex, ok := get(schema, "examples").([]any); ok {
		if len(ex) > 0 {
			return ex[0]
		}
		return nil
	}
	switch schema.String("type") {
	case "object":
		o := ojson.NewObject()
		if props := schema.Object("properties"); props != nil {
			for _, m := range props.Members {
				if ps, ok := m.Value.(*ojson.Object); ok {
					o.Set(m.Key, exampleOutput(ps))
				} else {
					o.Set(m.Key, "<unknown>")
				}
			}
		}
		return o
	case "array":
		var first *ojson.Object
		switch it := get(schema, "items").(type) {
		case *ojson.Object:
			first = it
		case []any:
			if len(it) > 0 {
				first, _ = it[0].(*ojson.Object)
			}
		}
		if first != nil {
			return []any{exampleOutput(first)}
		}
		return []any{}
	case "string":
		return "<example>"
	case "number":
		return ojson.Number("0")
	case "boolean":
		return false
	}
	return "<unknown>"
}
