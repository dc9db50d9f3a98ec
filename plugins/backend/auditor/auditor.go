// Package auditor is the audit log service, in the shape of Backstage's
// auditor core service: a plugin records security-relevant events
// (mutations, access decisions) as structured log lines apart from its
// ordinary logging.
//
// An event has an id (kebab-case, unique within its plugin, e.g.
// "entity-mutate"), a severity (low, medium, high, critical), the actor
// (the principal of the request's credentials, and the client's address,
// the host it called and its user agent), the request (method and URL path, never headers or
// body), metadata, and a status: an event is logged once as "initiated"
// when it starts and once more as "succeeded" or "failed" (with the error)
// when it ends. Every line carries isAuditEvent=true, so a log pipeline
// can route audit lines apart; its message is "<plugin>.<event id>".
//
// Severities map to log levels (backend.auditor.severityLogLevelMappings;
// by default low is debug, the others info), so low events (reads) are
// off unless configured.
package auditor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/config"
)

// Severity is an event's importance.
type Severity string

// The severities, lowest first.
const (
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Status is where an event is: started, or ended well or badly.
type Status string

// The statuses.
const (
	Initiated Status = "initiated"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
)

// Actor is who caused an event: the principal's id (a user entity ref or
// a service's subject; empty for anonymous callers) and its type.
type Actor struct {
	ID   string
	Type string // "user", "service" or "none"
}

// ActorFunc resolves the actor of ctx's request (from the credentials the
// auth middleware put in the context).
type ActorFunc func(ctx context.Context) Actor

// Options configure New.
type Options struct {
	// Logger receives the audit lines; nil is slog.Default().
	Logger *slog.Logger
	// Actor resolves the caller; nil records no actor id.
	Actor ActorFunc
	// Levels maps severities to log levels; missing severities get the
	// defaults (see Levels).
	Levels map[Severity]slog.Level
}

// Service is the root auditor of a backend; each plugin records through
// its own Auditor (ForPlugin). A nil *Service gives nil Auditors, which
// record nothing.
type Service struct {
	log    *slog.Logger
	actor  ActorFunc
	levels map[Severity]slog.Level
}

// New builds the root auditor.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	levels := DefaultLevels()
	for k, v := range o.Levels {
		levels[k] = v
	}
	return &Service{log: o.Logger.With("isAuditEvent", true), actor: o.Actor, levels: levels}
}

// DefaultLevels are Backstage's default severity mappings: low is debug,
// medium, high and critical are info.
func DefaultLevels() map[Severity]slog.Level {
	return map[Severity]slog.Level{Low: slog.LevelDebug, Medium: slog.LevelInfo, High: slog.LevelInfo, Critical: slog.LevelInfo}
}

// Levels reads backend.auditor.severityLogLevelMappings: for each
// severity, one of debug, info, warn, error.
func Levels(cfg *config.Config) (map[Severity]slog.Level, error) {
	out := DefaultLevels()
	if cfg == nil {
		return out, nil
	}
	for _, sev := range []Severity{Low, Medium, High, Critical} {
		key := "backend.auditor.severityLogLevelMappings." + string(sev)
		s, ok, err := cfg.ReadString(key)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var l slog.Level
		switch s {
		case "debug":
			l = slog.LevelDebug
		case "info":
			l = slog.LevelInfo
		case "warn":
			l = slog.LevelWarn
		case "error":
			l = slog.LevelError
		default:
			return nil, fmt.Errorf("the configuration value for '%s' was given an invalid value: '%s'; expected one of debug, info, warn, error", key, s)
		}
		out[sev] = l
	}
	return out, nil
}

// ForPlugin is the auditor of plugin pluginID.
func (s *Service) ForPlugin(pluginID string) *Auditor {
	if s == nil {
		return nil
	}
	return &Auditor{s: s, plugin: pluginID}
}

// Auditor records one plugin's events. A nil *Auditor records nothing.
type Auditor struct {
	s      *Service
	plugin string
}

// EventOptions describe an event.
type EventOptions struct {
	// ID names the event within its plugin, in kebab-case
	// ("entity-mutate"); the plugin id is not repeated.
	ID string
	// Severity defaults to Low.
	Severity Severity
	// Request is the HTTP request the event is about, if any: its method,
	// URL path and the client's address and user agent are recorded.
	Request *http.Request
	// Meta is event-specific detail (JSON values); no secrets.
	Meta map[string]any
	// Actor, when set, is the actor instead of the request's caller (work
	// done for a user outside a request, such as a task's steps).
	Actor *Actor
}

// Event is a started event; end it with Success or Fail. A nil *Event
// (from a nil Auditor, or a severity whose level is off) does nothing.
type Event struct {
	a     *Auditor
	o     EventOptions
	actor Actor
	level slog.Level

	mu    sync.Mutex
	meta  map[string]any
	ended bool
}

// Create starts an event and logs it as initiated.
func (a *Auditor) Create(ctx context.Context, o EventOptions) *Event {
	if a == nil {
		return nil
	}
	if o.Severity == "" {
		o.Severity = Low
	}
	level, ok := a.s.levels[o.Severity]
	if !ok {
		level = slog.LevelInfo
	}
	if !a.s.log.Enabled(ctx, level) {
		return nil
	}
	e := &Event{a: a, o: o, level: level, meta: map[string]any{}}
	for k, v := range o.Meta {
		e.meta[k] = v
	}
	switch {
	case o.Actor != nil:
		e.actor = *o.Actor
	case a.s.actor != nil:
		e.actor = a.s.actor(ctx)
	}
	e.log(ctx, Initiated, nil)
	return e
}

// Record logs an event that has no duration (a decision) once, with its
// outcome: succeeded, or failed with err.
func (a *Auditor) Record(ctx context.Context, o EventOptions, err error) {
	if a == nil {
		return
	}
	if o.Severity == "" {
		o.Severity = Low
	}
	level, ok := a.s.levels[o.Severity]
	if !ok {
		level = slog.LevelInfo
	}
	if !a.s.log.Enabled(ctx, level) {
		return
	}
	e := &Event{a: a, o: o, level: level, meta: o.Meta}
	switch {
	case o.Actor != nil:
		e.actor = *o.Actor
	case a.s.actor != nil:
		e.actor = a.s.actor(ctx)
	}
	e.end(ctx, err)
}

// Annotate adds meta to the event's final line (the permission that
// denied it, the id of what it created).
func (e *Event) Annotate(key string, value any) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.meta[key] = value
}

// Success logs the event as succeeded.
func (e *Event) Success(ctx context.Context) { e.end(ctx, nil) }

// Fail logs the event as failed with err.
func (e *Event) Fail(ctx context.Context, err error) {
	if err == nil {
		err = errors.New("failed")
	}
	e.end(ctx, err)
}

func (e *Event) end(ctx context.Context, err error) {
	if e == nil {
		return
	}
	e.mu.Lock()
	if e.ended {
		e.mu.Unlock()
		return
	}
	e.ended = true
	e.mu.Unlock()
	status := Succeeded
	if err != nil {
		status = Failed
	}
	e.log(ctx, status, err)
}

func (e *Event) log(ctx context.Context, status Status, err error) {
	actor := []any{}
	if e.actor.ID != "" {
		actor = append(actor, slog.String("actorId", e.actor.ID))
	}
	if e.actor.Type != "" {
		actor = append(actor, slog.String("actorType", e.actor.Type))
	}
	attrs := []slog.Attr{
		slog.String("plugin", e.a.plugin),
		slog.String("eventId", e.o.ID),
		slog.String("severityLevel", string(e.o.Severity)),
	}
	if r := e.o.Request; r != nil {
		if ip := clientIP(r); ip != "" {
			actor = append(actor, slog.String("ip", ip))
		}
		if host := hostname(r.Host); host != "" {
			actor = append(actor, slog.String("hostname", host))
		}
		if ua := r.UserAgent(); ua != "" {
			actor = append(actor, slog.String("userAgent", ua))
		}
	}
	attrs = append(attrs, slog.Group("actor", actor...))
	if r := e.o.Request; r != nil {
		// The path only: a query string may carry values the caller did not
		// mean for a log (a token in a query, a search term).
		attrs = append(attrs, slog.Group("request", slog.String("url", r.URL.Path), slog.String("method", r.Method)))
	}
	if status != Initiated {
		e.mu.Lock()
		meta := metaAttrs(e.meta)
		e.mu.Unlock()
		if len(meta) > 0 {
			attrs = append(attrs, slog.Group("meta", meta...))
		}
	} else if meta := metaAttrs(e.o.Meta); len(meta) > 0 {
		attrs = append(attrs, slog.Group("meta", meta...))
	}
	attrs = append(attrs, slog.String("status", string(status)))
	if err != nil {
		attrs = append(attrs, slog.String("error", errorString(err)))
	}
	// The line outlives a request that was cancelled as it ended.
	e.a.s.log.LogAttrs(context.WithoutCancel(ctx), e.level, e.a.plugin+"."+e.o.ID, attrs...)
}

func metaAttrs(m map[string]any) []any {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, slog.Any(k, m[k]))
	}
	return out
}

// errorString is the error as Backstage's String(error): "<name>: <message>".
func errorString(err error) string {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return fmt.Sprintf("HTTPError %d: %v", he.Code, he.Message)
	}
	name, msg := backend.NameOf(err), backend.MessageOf(err)
	if msg == "" || msg == name {
		return name
	}
	return name + ": " + msg
}

// clientIP is the address the request came from (the connection's peer:
// understage trusts no forwarding header).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// hostname is the Host header's name, without its port.
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

type eventKey struct{}

// WithEvent is ctx carrying e, for code below the handler that adds to the
// request's event (Annotate).
func WithEvent(ctx context.Context, e *Event) context.Context {
	return context.WithValue(ctx, eventKey{}, e)
}

// EventFrom is the event of ctx's request, or nil.
func EventFrom(ctx context.Context) *Event {
	e, _ := ctx.Value(eventKey{}).(*Event)
	return e
}

// Route is the event of one route: Path is the route pattern under the
// plugin's mount ("/entities/by-uid/:uid").
type Route struct {
	Method   string
	Path     string
	ID       string
	Severity Severity
	// Meta is the event's fixed meta (its actionType, queryType...); the
	// route's path parameters are added to it.
	Meta map[string]any
}

// Middleware records an event for every request to one of routes: it is
// initiated before the handler, and succeeds, or fails with the handler's
// error (or its 4xx/5xx status). Other requests pass through. It goes
// after the auth middleware, so the actor is known, and before the
// permission checks, so denials are recorded.
func (a *Auditor) Middleware(routes []Route) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if a == nil {
				return next(c)
			}
			r := c.Request()
			rt := match(routes, r.Method, c.Path())
			if rt == nil {
				return next(c)
			}
			meta := map[string]any{}
			for k, v := range rt.Meta {
				meta[k] = v
			}
			for i, name := range c.ParamNames() {
				if i < len(c.ParamValues()) {
					meta[name] = c.ParamValues()[i]
				}
			}
			ctx := r.Context()
			ev := a.Create(ctx, EventOptions{ID: rt.ID, Severity: rt.Severity, Request: r, Meta: meta})
			if ev == nil {
				return next(c)
			}
			c.SetRequest(r.WithContext(WithEvent(ctx, ev)))
			err := next(c)
			switch {
			case err != nil:
				ev.Fail(ctx, err)
			case c.Response().Status >= 400:
				ev.Fail(ctx, fmt.Errorf("status %d", c.Response().Status))
			default:
				ev.Success(ctx)
			}
			return err
		}
	}
}

func match(routes []Route, method, path string) *Route {
	for i := range routes {
		rt := &routes[i]
		if rt.Method == method && strings.HasSuffix(path, rt.Path) {
			return rt
		}
	}
	return nil
}

// RedactURL is target without the parts that may hold credentials (user
// info, query, fragment), for an event's meta.
func RedactURL(target string) string {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" {
		return target
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
