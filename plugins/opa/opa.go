// Package opa decides Understage permissions with Open Policy Agent Rego
// policies, evaluated in process (github.com/open-policy-agent/opa/v1/rego).
//
// # The policy contract
//
// Policies are Rego modules (Rego v1 syntax) listed in config:
//
//	permission:
//	  enabled: true
//	  opa:
//	    policies: [./policies/catalog.rego, ./policies/scaffolder.rego]
//	    pollInterval: { seconds: 2 }   # how often the files are checked for changes
//
// Together they define data.understage.authz.decision, an object:
//
//	{"result": "ALLOW"} | {"result": "DENY"}
//	| {"result": "CONDITIONAL", "conditions": <criteria>}
//
// where criteria are Backstage's permission criteria: {"allOf": [...]},
// {"anyOf": [...]}, {"not": {...}} or a rule
// {"rule": "IS_ENTITY_OWNER", "resourceType": "catalog-entity", "params": {"claims": [...]}}.
// Conditional decisions are only valid for resource permissions and must use
// rules of the permission's resource type (plugins/permission/RULES.md,
// generated from the rules' declarations). An undefined decision is DENY.
//
// The input document is:
//
//	{"permission": {"name": "catalog.entity.delete", "type": "resource",
//	                "attributes": {"action": "delete"}, "resourceType": "catalog-entity"},
//	 "user": {"ref": "user:default/jane", "ownershipRefs": ["user:default/jane", "group:default/team-a"],
//	          "claims": {...token claims...}} | null,
//	 "resource": <the entity, template page/step, {"action", "input"} or
//	              {"createdBy"} when the caller knows it> | null}
//
// Modules are compiled once into a prepared query and recompiled when a file
// changes (size or modification time, checked at most every pollInterval
// when decisions are asked for); a module that fails to compile keeps the
// previous policy in force and is logged.
package opa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/understage/understage/plugins/permission"
)

// DefaultQuery is the rule policies define.
const DefaultQuery = "data.understage.authz.decision"

// Options configures New.
type Options struct {
	// Policies are the Rego files.
	Policies []string
	// PollInterval bounds how often the files are checked for changes
	// (default 2s; negative disables reloading).
	PollInterval time.Duration
	// Query overrides DefaultQuery.
	Query  string
	Logger *slog.Logger
}

type stamp struct {
	mod  time.Time
	size int64
}

type compiled struct {
	query  rego.PreparedEvalQuery
	stamps []stamp
}

// Engine is a permission.Policy backed by Rego modules. It is safe for
// concurrent use.
type Engine struct {
	o         Options
	cur       atomic.Pointer[compiled]
	lastCheck atomic.Int64 // unix nanos of the last file check
	reloadMu  sync.Mutex
}

// New reads and compiles the policies; an unreadable or invalid policy is
// an error.
func New(ctx context.Context, o Options) (*Engine, error) {
	if len(o.Policies) == 0 {
		return nil, errors.New("opa: no policies given")
	}
	if o.PollInterval == 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Query == "" {
		o.Query = DefaultQuery
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	e := &Engine{o: o}
	c, err := e.compile(ctx)
	if err != nil {
		return nil, err
	}
	e.cur.Store(c)
	e.lastCheck.Store(time.Now().UnixNano())
	return e, nil
}

func (e *Engine) stat() ([]stamp, error) {
	out := make([]stamp, len(e.o.Policies))
	for i, p := range e.o.Policies {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("opa policy: %w", err)
		}
		out[i] = stamp{fi.ModTime(), fi.Size()}
	}
	return out, nil
}

func (e *Engine) compile(ctx context.Context) (*compiled, error) {
	stamps, err := e.stat()
	if err != nil {
		return nil, err
	}
	opts := []func(*rego.Rego){rego.Query(e.o.Query)}
	for _, p := range e.o.Policies {
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("opa policy: %w", err)
		}
		opts = append(opts, rego.Module(p, string(src)))
	}
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("opa policy: %w", err)
	}
	return &compiled{query: q, stamps: stamps}, nil
}

// Reload recompiles the policies if a file changed since the last compile;
// it reports whether it did. On error the previous policy stays in force.
func (e *Engine) Reload(ctx context.Context) (bool, error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	e.lastCheck.Store(time.Now().UnixNano())
	stamps, err := e.stat()
	if err != nil {
		return false, err
	}
	cur := e.cur.Load()
	same := len(stamps) == len(cur.stamps)
	for i := range stamps {
		if same && (!stamps[i].mod.Equal(cur.stamps[i].mod) || stamps[i].size != cur.stamps[i].size) {
			same = false
		}
	}
	if same {
		return false, nil
	}
	c, err := e.compile(ctx)
	if err != nil {
		return false, err
	}
	e.cur.Store(c)
	return true, nil
}

// maybeReload checks the files when the poll interval has passed; the
// caller that wins the swap does the work while the others keep using the
// current policy.
func (e *Engine) maybeReload(ctx context.Context) {
	if e.o.PollInterval < 0 {
		return
	}
	last := e.lastCheck.Load()
	now := time.Now().UnixNano()
	if now-last < int64(e.o.PollInterval) || !e.lastCheck.CompareAndSwap(last, now) {
		return
	}
	changed, err := e.Reload(context.WithoutCancel(ctx))
	switch {
	case err != nil:
		e.o.Logger.Error("permission policy not reloaded, the previous one stays in force", "err", err)
	case changed:
		e.o.Logger.Info("permission policy reloaded", "policies", e.o.Policies)
	}
}

// Decide evaluates the policy (a permission.Policy).
func (e *Engine) Decide(ctx context.Context, in permission.Input) (permission.Decision, error) {
	e.maybeReload(ctx)
	c := e.cur.Load()
	rs, err := c.query.Eval(ctx, rego.EvalInput(in.Value()))
	if err != nil {
		return permission.Decision{}, fmt.Errorf("opa: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return permission.Decision{Result: permission.Deny}, nil
	}
	return decode(rs[0].Expressions[0].Value)
}

func decode(v any) (permission.Decision, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return permission.Decision{}, fmt.Errorf("opa: decision: %w", err)
	}
	var out struct {
		Result     string               `json:"result"`
		Conditions *permission.Criteria `json:"conditions"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return permission.Decision{}, fmt.Errorf("opa: decision %s: %w", raw, err)
	}
	d := permission.Decision{Result: permission.Result(out.Result), Conditions: out.Conditions}
	switch d.Result {
	case permission.Allow, permission.Deny:
		d.Conditions = nil
	case permission.Conditional:
		if d.Conditions == nil {
			return permission.Decision{}, fmt.Errorf("opa: conditional decision without conditions: %s", raw)
		}
	default:
		return permission.Decision{}, fmt.Errorf("opa: decision must have result ALLOW, DENY or CONDITIONAL: %s", raw)
	}
	return d, nil
}
