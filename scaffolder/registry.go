package scaffolder

import (
	"bytes"
	"encoding/json"
	neturl "net/url"
	"sort"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/understage/understage/plugins/backend"
)

// ActionRegistry is the scaffolder's actions extension point (Backstage's
// scaffolderActionsExtensionPoint): plugins and modules add template
// actions to it while the backend starts.
type ActionRegistry interface {
	// AddActions registers actions; it fails, naming the action, on a
	// duplicate id or an incomplete declaration, and then the backend
	// must not start.
	AddActions(actions ...Action) error
}

// Actions is the registry of template actions. Modules add to it while the
// backend is wired; the runner and GET /v2/actions read it.
type Actions struct {
	mu sync.RWMutex
	m  map[string]Action
}

// NewActions returns an empty registry.
func NewActions() *Actions { return &Actions{m: map[string]Action{}} }

// AddActions implements ActionRegistry.
func (a *Actions) AddActions(acts ...Action) error { return a.Add(acts...) }

// Add registers actions, all or none. An action must have an id, a Run
// function and an input schema that compiles (the runner validates every
// step's input against it and GET /v2/actions publishes it); an output
// schema is optional but must compile too. A duplicate id is a conflict,
// as in Backstage's TemplateActionRegistry, so that two modules cannot
// silently shadow each other.
func (a *Actions) Add(acts ...Action) error {
	for _, act := range acts {
		if err := checkAction(act); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[string]bool{}
	for _, act := range acts {
		if _, dup := a.m[act.ID]; dup || seen[act.ID] {
			return backend.Conflict("Template action with ID '%s' has already been registered", act.ID)
		}
		seen[act.ID] = true
	}
	for _, act := range acts {
		a.m[act.ID] = act
	}
	return nil
}

// checkAction refuses an incomplete declaration, naming the action.
func checkAction(act Action) error {
	if act.ID == "" {
		return backend.Input("scaffolder action without an id (description %q)", act.Description)
	}
	if act.Run == nil {
		return backend.Input("scaffolder action %s: no Run function", act.ID)
	}
	if len(bytes.TrimSpace(act.Input)) == 0 {
		return backend.Input("scaffolder action %s: no input schema", act.ID)
	}
	if err := compileSchema(act.ID, "input", act.Input); err != nil {
		return err
	}
	if len(bytes.TrimSpace(act.Output)) > 0 {
		return compileSchema(act.ID, "output", act.Output)
	}
	return nil
}

// compileSchema checks that raw is a JSON object that compiles as a JSON
// Schema (draft 7 unless it says otherwise, as Backstage's schemas do).
func compileSchema(id, which string, raw json.RawMessage) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return backend.Input("scaffolder action %s: %s schema is not JSON: %v", id, which, err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return backend.Input("scaffolder action %s: %s schema is not a JSON object", id, which)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	url := "https://understage.invalid/actions/" + neturl.PathEscape(id) + "/" + which + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return backend.Input("scaffolder action %s: %s schema: %v", id, which, err)
	}
	if _, err := c.Compile(url); err != nil {
		return backend.Input("scaffolder action %s: %s schema does not compile: %v", id, which, err)
	}
	return nil
}

// Get returns the action with the given id.
func (a *Actions) Get(id string) (Action, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	act, ok := a.m[id]
	return act, ok
}

// List returns every action sorted by id.
func (a *Actions) List() []Action {
	a.mu.RLock()
	out := make([]Action, 0, len(a.m))
	for _, act := range a.m {
		out = append(out, act)
	}
	a.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
