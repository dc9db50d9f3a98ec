package scaffolder

import (
	"context"
	"sort"
	"sync"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/scaffolder/render"
)

// TemplatingRegistry is the scaffolder's templating extension point
// (Backstage's scaffolderTemplatingExtensionPoint): filters and globals
// that templates may use, in step inputs and in fetch:template skeletons,
// beyond Backstage's own (parseRepoUrl, parseEntityRef, pick, projectSlug).
type TemplatingRegistry interface {
	AddTemplateFilters(filters ...TemplateFilter) error
	AddTemplateGlobals(globals ...TemplateGlobal) error
}

// AutocompleteRegistry is the scaffolder's autocomplete extension point
// (Backstage's scaffolderAutocompleteExtensionPoint): providers answering
// POST /v2/autocomplete/<provider>/<resource> for the frontend's pickers.
type AutocompleteRegistry interface {
	AddAutocompleteProvider(p AutocompleteProvider) error
}

// TemplateFilter is one template filter: `${{ value | name(args) }}`.
type TemplateFilter struct {
	Name        string
	Description string // listed on GET /v2/templating-extensions
	Fn          render.Filter
}

// TemplateGlobal is one template global: a function when Fn is set
// (`${{ name(args) }}`), a value otherwise (`${{ name }}`).
type TemplateGlobal struct {
	Name        string
	Description string // listed on GET /v2/templating-extensions
	Fn          render.Func
	Value       any // ojson values; used when Fn is nil
}

// AutocompleteFunc answers POST /v2/autocomplete/<provider>/<resource>
// with the user's SCM token and the picker's context.
type AutocompleteFunc func(ctx context.Context, resource, token string, context map[string]string) ([]any, error)

// AutocompleteProvider is one autocomplete provider ("github").
type AutocompleteProvider struct {
	ID      string
	Handler AutocompleteFunc
}

// Registry holds everything plugins and modules add to the scaffolder: it
// is the ActionRegistry, TemplatingRegistry and AutocompleteRegistry the
// backend offers them. Every Add refuses an empty name, a missing function
// and a name already registered, naming it, so that a clash stops start-up
// rather than one module silently shadowing another.
type Registry struct {
	actions *Actions

	mu           sync.RWMutex
	filters      map[string]TemplateFilter
	globals      map[string]TemplateGlobal
	autocomplete map[string]AutocompleteFunc
}

var (
	_ ActionRegistry       = (*Registry)(nil)
	_ TemplatingRegistry   = (*Registry)(nil)
	_ AutocompleteRegistry = (*Registry)(nil)
)

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{actions: NewActions(), filters: map[string]TemplateFilter{},
		globals: map[string]TemplateGlobal{}, autocomplete: map[string]AutocompleteFunc{}}
}

// Actions is the action registry, for the runner and GET /v2/actions.
func (r *Registry) Actions() *Actions { return r.actions }

// AddActions implements ActionRegistry (see Actions.Add).
func (r *Registry) AddActions(acts ...Action) error { return r.actions.Add(acts...) }

// AddTemplateFilters implements TemplatingRegistry; all or none are added.
func (r *Registry) AddTemplateFilters(filters ...TemplateFilter) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	backstage := render.BackstageFilters(nil)
	for _, f := range filters {
		_, ours := backstage[f.Name]
		switch {
		case f.Name == "":
			return backend.Input("template filter without a name (description %q)", f.Description)
		case f.Fn == nil:
			return backend.Input("template filter %s: no function", f.Name)
		case ours:
			return backend.Conflict("Template filter with name '%s' is one of Backstage's built-in filters", f.Name)
		case seen[f.Name]:
			return backend.Conflict("Template filter with name '%s' has already been registered", f.Name)
		}
		if _, dup := r.filters[f.Name]; dup {
			return backend.Conflict("Template filter with name '%s' has already been registered", f.Name)
		}
		seen[f.Name] = true
	}
	for _, f := range filters {
		r.filters[f.Name] = f
	}
	return nil
}

// reservedGlobals are set by the runner for every step (`if: ${{ always() }}`).
var reservedGlobals = map[string]bool{"always": true, "failure": true}

// AddTemplateGlobals implements TemplatingRegistry; all or none are added.
func (r *Registry) AddTemplateGlobals(globals ...TemplateGlobal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, g := range globals {
		switch {
		case g.Name == "":
			return backend.Input("template global without a name (description %q)", g.Description)
		case reservedGlobals[g.Name]:
			return backend.Conflict("Template global with name '%s' is reserved by the workflow runner", g.Name)
		case seen[g.Name]:
			return backend.Conflict("Template global with name '%s' has already been registered", g.Name)
		}
		if _, dup := r.globals[g.Name]; dup {
			return backend.Conflict("Template global with name '%s' has already been registered", g.Name)
		}
		seen[g.Name] = true
	}
	for _, g := range globals {
		r.globals[g.Name] = g
	}
	return nil
}

// AddAutocompleteProvider implements AutocompleteRegistry.
func (r *Registry) AddAutocompleteProvider(p AutocompleteProvider) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case p.ID == "":
		return backend.Input("autocomplete provider without an id")
	case p.Handler == nil:
		return backend.Input("autocomplete provider %s: no handler", p.ID)
	}
	if _, dup := r.autocomplete[p.ID]; dup {
		return backend.Conflict("Autocomplete provider with id '%s' has already been registered", p.ID)
	}
	r.autocomplete[p.ID] = p.Handler
	return nil
}

// Filters returns the registered filters as the renderer takes them.
func (r *Registry) Filters() map[string]render.Filter {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]render.Filter, len(r.filters))
	for n, f := range r.filters {
		out[n] = f.Fn
	}
	return out
}

// Globals returns the registered globals as the renderer takes them
// (functions as render.Func).
func (r *Registry) Globals() map[string]any {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]any, len(r.globals))
	for n, g := range r.globals {
		if g.Fn != nil {
			out[n] = g.Fn
		} else {
			out[n] = g.Value
		}
	}
	return out
}

// TemplateFilterList returns the filter declarations sorted by name, for
// GET /v2/templating-extensions.
func (r *Registry) TemplateFilterList() []TemplateFilter {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]TemplateFilter, 0, len(r.filters))
	for _, f := range r.filters {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TemplateGlobalList returns the global declarations sorted by name, for
// GET /v2/templating-extensions.
func (r *Registry) TemplateGlobalList() []TemplateGlobal {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]TemplateGlobal, 0, len(r.globals))
	for _, g := range r.globals {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// AutocompleteProviders returns the registered providers by id.
func (r *Registry) AutocompleteProviders() map[string]AutocompleteFunc {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]AutocompleteFunc, len(r.autocomplete))
	for id, h := range r.autocomplete {
		out[id] = h
	}
	return out
}
