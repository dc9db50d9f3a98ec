// Package httpapi serves the scaffolder's /v2 routes (mounted at
// /api/scaffolder) with Backstage's status codes, bodies and key order:
// templates' parameter schemas, actions, tasks and their events (SSE and
// long poll), cancel, retry, dry runs, autocomplete and templating
// extensions.
package httpapi

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/backend/openapiquery"
	"github.com/understage/understage/plugins/permission"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/tasks"
)

// defaultExtensions is GET /v2/templating-extensions of a stock backend
// (Backstage's four filters, no globals), recorded from the 1.55 oracle.
//
//go:embed templating_extensions.json
var defaultExtensions []byte

// Caller is who makes a request.
type Caller struct {
	User  scaffolder.UserInfo // Ref "" for anonymous callers
	Token string              // the Backstage token, kept as secrets.backstageToken
}

// AutocompleteFunc answers POST /v2/autocomplete/<provider>/<resource>.
type AutocompleteFunc = scaffolder.AutocompleteFunc

// Options configures Register.
type Options struct {
	Service *scaffolder.Service
	// Caller identifies the request's user; nil means anonymous (auth disabled).
	Caller func(c echo.Context) (Caller, error)
	// Permissions enforces the scaffolder's permissions (permissions.go);
	// nil allows everything. Template read decisions are applied by
	// Service.FilterTemplate, action decisions by Runner.AuthorizeAction.
	Permissions permission.Authorizer
	// Registry, when set, supplies the autocomplete providers and the
	// template filters and globals GET /v2/templating-extensions lists
	// after Backstage's own.
	Registry *scaffolder.Registry
	// Autocomplete maps providers ("github") to handlers, besides those of
	// Registry; others answer 400.
	Autocomplete map[string]AutocompleteFunc
	// TemplatingExtensions overrides the templating-extensions body.
	TemplatingExtensions json.RawMessage
	// PollInterval is how often event readers look for events written by
	// other replicas (default 1s); LongPollTimeout bounds /events (30s);
	// KeepAlive is the SSE comment interval (15s).
	PollInterval, LongPollTimeout, KeepAlive time.Duration
}

type api struct{ o Options }

// Register mounts the routes on g (the /api/scaffolder group).
func Register(g *echo.Group, o Options) {
	if o.Permissions == nil {
		o.Permissions = permission.Disabled{}
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.LongPollTimeout <= 0 {
		o.LongPollTimeout = 30 * time.Second
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 15 * time.Second
	}
	a := &api{o: o}
	g.GET("/v2/templates/:namespace/:kind/:name/parameter-schema", a.parameterSchema)
	g.GET("/v2/actions", a.actions)
	g.POST("/v2/tasks", a.createTask)
	g.GET("/v2/tasks", a.listTasks)
	g.GET("/v2/tasks/:taskId", a.getTask)
	g.POST("/v2/tasks/:taskId/cancel", a.cancel)
	g.POST("/v2/tasks/:taskId/retry", a.retry)
	g.GET("/v2/tasks/:taskId/eventstream", a.eventStream)
	g.GET("/v2/tasks/:taskId/events", a.events)
	g.POST("/v2/dry-run", a.dryRun)
	g.POST("/v2/autocomplete/:provider/:resource", a.autocomplete)
	g.GET("/v2/templating-extensions", a.templatingExtensions)
}

func (a *api) caller(c echo.Context) (Caller, error) {
	if a.o.Caller == nil {
		return Caller{}, nil
	}
	return a.o.Caller(c)
}

func writeJSON(c echo.Context, status int, v any) error {
	b, err := ojson.Marshal(v)
	if err != nil {
		return err
	}
	return httpserver.WriteJSON(c, status, b)
}

func readJSON(c echo.Context) (*ojson.Object, error) {
	b, err := httpserver.ReadBody(c, httpserver.ScaffolderBodyLimit)
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return ojson.NewObject(), nil
	}
	o, err := ojson.DecodeObject(b)
	if err != nil {
		return nil, backend.Input("%s", err.Error())
	}
	return o, nil
}

func (a *api) parameterSchema(c echo.Context) error {
	t, _, err := a.o.Service.FindTemplate(c.Request().Context(), c.Param("kind"), c.Param("namespace"), c.Param("name"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, t.ParameterSchema())
}

func (a *api) actions(c echo.Context) error {
	list := []any{}
	for _, act := range a.o.Service.Runner.Actions.List() {
		o := ojson.NewObject("id", act.ID)
		if act.Description != "" {
			o.Set("description", act.Description)
		}
		if act.Examples != nil {
			ex := make([]any, len(act.Examples))
			for i, e := range act.Examples {
				ex[i] = ojson.NewObject("description", e.Description, "example", e.Example)
			}
			o.Set("examples", ex)
		}
		schema := ojson.NewObject()
		for _, s := range []struct {
			k string
			v json.RawMessage
		}{{"input", act.Input}, {"output", act.Output}} {
			if len(s.v) > 0 {
				v, err := ojson.Decode(s.v)
				if err != nil {
					return fmt.Errorf("action %s %s schema: %w", act.ID, s.k, err)
				}
				schema.Set(s.k, v)
			}
		}
		o.Set("schema", schema)
		list = append(list, o)
	}
	return writeJSON(c, http.StatusOK, list)
}

func validationFailed(c echo.Context, err error) (bool, error) {
	var ve *scaffolder.ValidationError
	if errors.As(err, &ve) {
		errs := make([]any, len(ve.Errors))
		for i, e := range ve.Errors {
			errs[i] = e
		}
		return true, writeJSON(c, http.StatusBadRequest, ojson.NewObject("errors", errs))
	}
	return false, err
}

func secretsOf(body *ojson.Object) (map[string]string, error) {
	v, ok := body.Get("secrets")
	if !ok || v == nil {
		return nil, nil
	}
	o, ok := v.(*ojson.Object)
	if !ok {
		return nil, backend.Input("request/body/secrets must be object")
	}
	out := map[string]string{}
	for _, m := range o.Members {
		s, ok := m.Value.(string)
		if !ok {
			return nil, backend.Input("request/body/secrets/%s must be string", m.Key)
		}
		out[m.Key] = s
	}
	return out, nil
}

func (a *api) createTask(c echo.Context) error {
	body, err := readJSON(c)
	if err != nil {
		return err
	}
	ref, ok := body.Get("templateRef")
	refStr, isStr := ref.(string)
	if !ok || !isStr {
		return backend.Input("request/body must have required property 'templateRef'")
	}
	if _, ok := body.Get("values"); !ok {
		return backend.Input("request/body must have required property 'values'")
	}
	secrets, err := secretsOf(body)
	if err != nil {
		return err
	}
	if err := a.authorizeBasic(c, permission.ScaffolderTaskCreate); err != nil {
		return err
	}
	who, err := a.caller(c)
	if err != nil {
		return err
	}
	values, _ := body.Get("values")
	id, err := a.o.Service.CreateTask(c.Request().Context(), scaffolder.CreateRequest{
		TemplateRef: refStr, Values: values, Secrets: secrets, User: who.User, Token: who.Token,
	})
	if handled, err := validationFailed(c, err); handled || err != nil {
		return err
	}
	// The task's values and secrets stay out of the audit log.
	if ev := auditor.EventFrom(c.Request().Context()); ev != nil {
		ev.Annotate("templateRef", refStr)
		ev.Annotate("taskId", id)
	}
	return writeJSON(c, http.StatusCreated, ojson.NewObject("id", id))
}

// isoTime formats a timestamp as Backstage reads SQLite's CURRENT_TIMESTAMP
// back: whole seconds, milliseconds ".000", UTC.
func isoTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05.000Z")
}

func serializeTask(t *tasks.Task) (*ojson.Object, error) {
	spec, err := ojson.Decode(t.Spec)
	if err != nil {
		return nil, fmt.Errorf("Failed to parse spec of task '%s', %w", t.ID, err)
	}
	o := ojson.NewObject("id", t.ID, "spec", spec, "status", t.Status, "createdAt", isoTime(t.CreatedAt))
	if t.LastHeartbeatAt != nil {
		o.Set("lastHeartbeatAt", isoTime(*t.LastHeartbeatAt))
	} else {
		o.Set("lastHeartbeatAt", nil)
	}
	if t.CreatedBy != "" {
		o.Set("createdBy", t.CreatedBy)
	}
	return o, nil
}

var orderRe = regexp.MustCompile(`^(asc|desc):(.+)$`)

// knexInt is what knex's limit() and offset(), which Backstage's task store
// hands the validated number to, make of it: parseInt(String(f)). That is
// NaN for ±Infinity, which knex ignores (ok false), and from 1e21 on,
// where String() writes an exponent ("1e+21"), only the first digit.
func knexInt(f float64) (n float64, ok bool) {
	if math.IsInf(f, 0) {
		return 0, false
	}
	if f >= 1e21 {
		return float64(strconv.FormatFloat(f, 'e', -1, 64)[0] - '0'), true
	}
	return math.Abs(f), true // -0 is "0"
}

// pageParam is limit or offset of GET /v2/tasks as Backstage applies it:
// nil when knex ignores it.
func pageParam(q *openapiquery.Values, name string) (*int, error) {
	f, ok := q.Number(name)
	if !ok {
		return nil, nil
	}
	n, ok := knexInt(f)
	if !ok {
		return nil, nil
	}
	// Backstage's query fails here in the database (SQLite: datatype
	// mismatch; PostgreSQL: bigint out of range), an internal error.
	if n >= math.MaxInt64 {
		return nil, fmt.Errorf("task list %s %.0f is beyond a 64-bit integer", name, n)
	}
	i := int(n)
	return &i, nil
}

func (a *api) listTasks(c echo.Context) error {
	q := openapiquery.Parse(c.Request().URL.RawQuery)
	if err := q.Validate([]openapiquery.Param{{Name: "createdBy", Kind: openapiquery.Array},
		{Name: "limit", Kind: openapiquery.Integer}, {Name: "offset", Kind: openapiquery.Integer},
		{Name: "order", Kind: openapiquery.Array}, {Name: "status", Kind: openapiquery.Array}}); err != nil {
		return err
	}
	opts := tasks.ListOptions{CreatedBy: q.List("createdBy"), Status: q.List("status")}
	for _, item := range q.List("order") {
		m := orderRe.FindStringSubmatch(item)
		if m == nil {
			return backend.Input("Invalid order parameter %q, expected \"<asc or desc>:<field name>\"", item)
		}
		switch m[2] {
		case "created_at", "status", "created_by":
		default:
			return backend.Input("Invalid order field %q", m[2])
		}
		opts.Order = append(opts.Order, tasks.Order{Field: m[2], Desc: m[1] == "desc"})
	}
	keep, err := a.taskReadDecision(c.Request().Context())
	if err != nil {
		return err
	}
	// After the permission check: where Backstage fails on these, it is in
	// the database.
	if opts.Limit, err = pageParam(q, "limit"); err != nil {
		return err
	}
	if opts.Offset, err = pageParam(q, "offset"); err != nil {
		return err
	}
	var list []*tasks.Task
	var total int
	if keep != nil {
		list, total, err = a.listAllowed(c.Request().Context(), opts, keep)
	} else {
		list, total, err = a.o.Service.Queue.Store.ListTasks(c.Request().Context(), opts)
	}
	if err != nil {
		return err
	}
	out := make([]any, 0, len(list))
	for _, t := range list {
		o, err := serializeTask(t)
		if err != nil {
			return err
		}
		out = append(out, o)
	}
	return writeJSON(c, http.StatusOK, ojson.NewObject("tasks", out, "totalTasks", ojson.Number(strconv.Itoa(total))))
}

func (a *api) getTask(c echo.Context) error {
	t, err := a.o.Service.Queue.Store.GetTask(c.Request().Context(), c.Param("taskId"))
	if err != nil {
		return err
	}
	if err := a.authorizeTask(c.Request().Context(), permission.ScaffolderTaskRead, t); err != nil {
		return err
	}
	o, err := serializeTask(t)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, o)
}

func (a *api) cancel(c echo.Context) error {
	if a.o.Permissions.Enabled() {
		t, err := a.o.Service.Queue.Store.GetTask(c.Request().Context(), c.Param("taskId"))
		if err != nil {
			return err
		}
		// Backstage asks task.cancel and task.read, both on this task.
		for _, perm := range []permission.Permission{permission.ScaffolderTaskCancel, permission.ScaffolderTaskRead} {
			if err := a.authorizeTask(c.Request().Context(), perm, t); err != nil {
				return err
			}
		}
	}
	if err := a.o.Service.Queue.Cancel(c.Request().Context(), c.Param("taskId")); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, ojson.NewObject("status", "cancelled"))
}

func (a *api) retry(c echo.Context) error {
	id := c.Param("taskId")
	body, err := readJSON(c)
	if err != nil {
		return err
	}
	secrets, err := secretsOf(body)
	if err != nil {
		return err
	}
	// As Backstage's router: the task must exist (404), then the caller
	// needs task.create and task.read on this task (its IS_TASK_OWNER
	// conditions), so nobody reruns a task they may not see.
	t, err := a.o.Service.Queue.Store.GetTask(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if err := a.authorizeBasic(c, permission.ScaffolderTaskCreate); err != nil {
		return err
	}
	if err := a.authorizeTask(c.Request().Context(), permission.ScaffolderTaskRead, t); err != nil {
		return err
	}
	who, err := a.caller(c)
	if err != nil {
		return err
	}
	err = a.o.Service.Retry(c.Request().Context(), id, secrets, who.Token)
	if handled, err := validationFailed(c, err); handled || err != nil {
		return err
	}
	return writeJSON(c, http.StatusCreated, ojson.NewObject("id", id))
}

// eventList reads a task's events after `after` as Backstage serializes
// them, trimmed to the last startOver recovery.
func (a *api) eventList(ctx context.Context, t *tasks.Task, after *int64) ([]*ojson.Object, error) {
	evs, err := a.o.Service.Queue.Store.ListEvents(ctx, t.ID, after)
	if err != nil {
		return nil, err
	}
	recoverable := tasks.IsRecoverable(t.Spec)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type != tasks.EventRecovered {
			continue
		}
		var b struct {
			Strategy string `json:"recoverStrategy"`
		}
		if json.Unmarshal(evs[i].Body, &b) == nil && b.Strategy == "startOver" {
			if i == len(evs)-1 {
				evs = nil
			} else {
				evs = evs[i:]
			}
		}
		break
	}
	out := make([]*ojson.Object, 0, len(evs))
	for _, e := range evs {
		body, err := ojson.Decode(e.Body)
		if err != nil {
			return nil, fmt.Errorf("Failed to parse event body from event taskId=%s id=%d, %w", t.ID, e.ID, err)
		}
		out = append(out, ojson.NewObject("id", ojson.Number(strconv.FormatInt(e.ID, 10)), "isTaskRecoverable", recoverable,
			"taskId", t.ID, "body", body, "type", e.Type, "createdAt", isoTime(e.CreatedAt)))
	}
	return out, nil
}

func afterParam(c echo.Context) *int64 {
	s := c.QueryParam("after")
	if s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

func lastID(evs []*ojson.Object) *int64 {
	if len(evs) == 0 {
		return nil
	}
	n, _ := strconv.ParseInt(string(evs[len(evs)-1].Members[0].Value.(ojson.Number)), 10, 64)
	return &n
}

func (a *api) eventStream(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := a.o.Service.Queue.Store.GetTask(ctx, c.Param("taskId"))
	if err != nil {
		return err
	}
	if err := a.authorizeTask(ctx, permission.ScaffolderTaskRead, t); err != nil {
		return err
	}
	sub, unsub := a.o.Service.Queue.Subscribe(t.ID)
	defer unsub()
	w := c.Response()
	w.Header().Set("Connection", "keep-alive")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.Flush()
	after := afterParam(c)
	poll := time.NewTicker(a.o.PollInterval)
	defer poll.Stop()
	keep := time.NewTicker(a.o.KeepAlive)
	defer keep.Stop()
	for {
		evs, err := a.eventList(ctx, t, after)
		if err != nil {
			return nil // the response has started; end it
		}
		if len(evs) > 0 {
			after = lastID(evs)
			end := false
			for _, e := range evs {
				fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.String("type"), ojson.MustMarshal(e))
				if r, _ := e.Get("isTaskRecoverable"); e.String("type") == tasks.EventCompletion && r != true {
					end = true
				}
			}
			w.Flush()
			if end {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-sub:
		case <-poll.C:
		case <-keep.C:
			// A comment line: ignored by EventSource clients, keeps proxies from closing an idle stream.
			fmt.Fprint(w, ": keep-alive\n\n")
			w.Flush()
		}
	}
}

func (a *api) events(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := a.o.Service.Queue.Store.GetTask(ctx, c.Param("taskId"))
	if err != nil {
		return err
	}
	if err := a.authorizeTask(ctx, permission.ScaffolderTaskRead, t); err != nil {
		return err
	}
	sub, unsub := a.o.Service.Queue.Subscribe(t.ID)
	defer unsub()
	after := afterParam(c)
	timeout := time.NewTimer(a.o.LongPollTimeout)
	defer timeout.Stop()
	poll := time.NewTicker(a.o.PollInterval)
	defer poll.Stop()
	for {
		evs, err := a.eventList(ctx, t, after)
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			out := make([]any, len(evs))
			for i, e := range evs {
				out[i] = e
			}
			return writeJSON(c, http.StatusOK, out)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timeout.C:
			return writeJSON(c, http.StatusOK, []any{})
		case <-sub:
		case <-poll.C:
		}
	}
}

func (a *api) dryRun(c echo.Context) error {
	body, err := readJSON(c)
	if err != nil {
		return err
	}
	values, ok := body.Get("values")
	if _, isObj := values.(*ojson.Object); !ok || !isObj {
		return backend.Input("Malformed request: values must be an object")
	}
	secrets, err := secretsOf(body)
	if err != nil {
		return err
	}
	var files []scaffolder.File
	dcv, _ := body.Get("directoryContents")
	dc, ok := dcv.([]any)
	if !ok {
		return backend.Input("Malformed request: directoryContents must be an array")
	}
	for _, f := range dc {
		fo, _ := f.(*ojson.Object)
		if fo == nil {
			return backend.Input("Malformed request: directoryContents items must be objects")
		}
		content, err := base64.StdEncoding.DecodeString(fo.String("base64Content"))
		if err != nil {
			return backend.Input("Malformed request: %s", err.Error())
		}
		files = append(files, scaffolder.File{Path: fo.String("path"), Content: content})
	}
	if err := a.authorizeBasic(c, permission.ScaffolderTemplateDryRun); err != nil {
		return err
	}
	if err := a.authorizeBasic(c, permission.ScaffolderTaskCreate); err != nil {
		return err
	}
	tmpl, _ := body.Get("template")
	tobj, _ := tmpl.(*ojson.Object)
	if !isTemplateEntity(tobj) {
		return backend.Input("Input template is not a template")
	}
	t, err := scaffolder.ParseTemplate(tobj)
	if err != nil {
		return err
	}
	if errs := scaffolder.ValidateParameters(t.Pages, values); errs != nil {
		_, err := validationFailed(c, &scaffolder.ValidationError{Errors: errs})
		return err
	}
	if errs := scaffolder.ValidateSecrets(t, secrets); errs != nil {
		_, err := validationFailed(c, &scaffolder.ValidationError{Errors: errs})
		return err
	}
	who, err := a.caller(c)
	if err != nil {
		return err
	}
	allSecrets := map[string]string{}
	for k, v := range secrets {
		allSecrets[k] = v
	}
	if who.Token != "" {
		allSecrets["backstageToken"] = who.Token
	}
	res, err := a.o.Service.Runner.DryRun(c.Request().Context(), scaffolder.DryRunInput{
		Template: t, Values: values, Secrets: allSecrets, Files: files, User: who.User,
	})
	if err != nil {
		return err
	}
	logs := make([]any, len(res.Log))
	for i, l := range res.Log {
		logs[i] = l
	}
	out := make([]any, len(res.Files))
	for i, f := range res.Files {
		out[i] = ojson.NewObject("path", f.Path, "executable", f.Executable, "base64Content", base64.StdEncoding.EncodeToString(f.Content))
	}
	return writeJSON(c, http.StatusOK, ojson.NewObject("log", logs, "directoryContents", out, "output", res.Output, "steps", res.Steps))
}

// isTemplateEntity checks what the v1beta3 template schema requires.
func isTemplateEntity(o *ojson.Object) bool {
	if o == nil {
		return false
	}
	if v, _ := o.Get("apiVersion"); v != scaffolder.APIVersion {
		return false
	}
	if v, _ := o.Get("kind"); v != "Template" {
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

func (a *api) autocomplete(c echo.Context) error {
	body, err := readJSON(c)
	if err != nil {
		return err
	}
	if _, ok := body.Get("token"); !ok {
		return backend.Input("request/body must have required property 'token'")
	}
	ctxObj, ok := body.Get("context")
	if !ok {
		return backend.Input("request/body must have required property 'context'")
	}
	token, _ := body.Get("token")
	tok, _ := token.(string)
	if tok == "" {
		return backend.Input("Missing token query parameter")
	}
	h := a.o.Autocomplete[c.Param("provider")]
	if h == nil && a.o.Registry != nil {
		h = a.o.Registry.AutocompleteProviders()[c.Param("provider")]
	}
	if h == nil {
		return backend.Input("Unsupported provider: %s", c.Param("provider"))
	}
	cm := map[string]string{}
	if o, ok := ctxObj.(*ojson.Object); ok {
		for _, m := range o.Members {
			if s, ok := m.Value.(string); ok {
				cm[m.Key] = s
			}
		}
	}
	results, err := h(c.Request().Context(), c.Param("resource"), tok, cm)
	if err != nil {
		return err
	}
	if results == nil {
		results = []any{}
	}
	return writeJSON(c, http.StatusOK, ojson.NewObject("results", results))
}

func (a *api) templatingExtensions(c echo.Context) error {
	b := a.o.TemplatingExtensions
	if b == nil {
		b = defaultExtensions
	}
	if a.o.Registry != nil {
		var err error
		if b, err = withRegistered(b, a.o.Registry); err != nil {
			return err
		}
	}
	return httpserver.WriteJSON(c, http.StatusOK, []byte(strings.TrimSpace(string(b))))
}

// withRegistered adds the registry's filters and globals to a
// templating-extensions body, as Backstage lists additional ones: filters
// by name, globals under functions or values ({description?, value}).
// Without any, the body is returned as it is.
func withRegistered(body []byte, reg *scaffolder.Registry) ([]byte, error) {
	filters, globals := reg.TemplateFilterList(), reg.TemplateGlobalList()
	if len(filters) == 0 && len(globals) == 0 {
		return body, nil
	}
	doc, err := ojson.DecodeObject(body)
	if err != nil {
		return nil, fmt.Errorf("templating extensions: %w", err)
	}
	sub := func(o *ojson.Object, key string) *ojson.Object {
		x := o.Object(key)
		if x == nil {
			x = ojson.NewObject()
			o.Set(key, x)
		}
		return x
	}
	meta := func(desc string) *ojson.Object {
		m := ojson.NewObject()
		if desc != "" {
			m.Set("description", desc)
		}
		return m
	}
	fs := sub(doc, "filters")
	for _, f := range filters {
		fs.Set(f.Name, meta(f.Description))
	}
	gs := sub(doc, "globals")
	for _, g := range globals {
		if g.Fn != nil {
			sub(gs, "functions").Set(g.Name, meta(g.Description))
			continue
		}
		m := meta(g.Description)
		m.Set("value", g.Value)
		sub(gs, "values").Set(g.Name, m)
	}
	return ojson.Marshal(doc)
}
