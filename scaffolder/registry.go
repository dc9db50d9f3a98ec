package scaffolder

import (
	"sort"
	"sync"

	"github.com/understage/understage/plugins/backend"
)

// Actions is the registry of template actions. Modules add to it while the
// backend is wired; the runner and GET /v2/actions read it.
type Actions struct {
	mu sync.RWMutex
	m  map[string]Action
}

// NewActions returns an empty registry.
func NewActions() *Actions { return &Actions{m: map[string]Action{}} }

// Add registers an action. A duplicate id is a conflict, as in Backstage's
// TemplateActionRegistry, so that two modules cannot silently shadow each other.
func (a *Actions) Add(acts ...Action) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, act := range acts {
		if act.ID == "" {
			return backend.Input("action without an id")
		}
		if act.Run == nil {
			return backend.Input("action %s has no Run", act.ID)
		}
		if _, dup := a.m[act.ID]; dup {
			return backend.Conflict("Template action with ID '%s' has already been registered", act.ID)
		}
		a.m[act.ID] = act
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
