package builtin

import (
	"context"
	_ "embed"
	"errors"
	"strings"

	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/workspace"
)

// ---- catalog:write ----

//go:embed schemas/catalog_write.input.json
var catalogWriteInput []byte

// catalogWriteAction declares catalog:write: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) catalogWriteAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "catalog:write",
		Description: "Writes the catalog-info.yaml for your template",
		Examples: []scaffolder.ActionExample{
			{Description: "Write a catalog yaml file",
				Example: `steps:
  - action: catalog:write
    id: create-catalog-info-file
    name: Create catalog file
    input:
      entity:
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: test
          annotations: {}
        spec:
          type: service
          lifecycle: production
          owner: default/owner
`},
		},
		Input:          catalogWriteInput,
		SupportsDryRun: true,
		Run:            o.catalogWrite,
	}
}

func (o Options) catalogWrite(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := Input(ac)
	filePath, ok, err := StringInput(in, "filePath")
	if err != nil {
		return err
	}
	if !ok {
		filePath = "catalog-info.yaml"
	}
	ev, _ := in.Get("entity")
	entity, isObj := ev.(*ojson.Object)
	if !isObj {
		return backend.Input("entity must be an object")
	}
	logf(ac, "Writing %s", filePath)
	out := entity.Clone()
	// {...entity, metadata: {...entity.metadata, annotations: {...}}}: the
	// keys keep their places, new ones go last.
	md := ojson.NewObject()
	if m, ok := entity.Get("metadata"); ok {
		if mo, ok := m.(*ojson.Object); ok {
			md = mo.Clone()
		}
	}
	if ref := ac.TemplateInfo.EntityRef; ref != "" {
		orig, hasMD := entity.Get("metadata")
		if !hasMD || orig == nil {
			return errors.New("Cannot read properties of undefined (reading 'annotations')")
		}
		ann := ojson.NewObject()
		if a, ok := md.Get("annotations"); ok {
			if ao, ok := a.(*ojson.Object); ok {
				ann = ao.Clone()
			}
		}
		ann.Set("backstage.io/source-template", ref)
		md.Set("annotations", ann)
	}
	out.Set("metadata", md)
	dst, err := workspace.ResolveSafeChildPath(ac.Workspace, filePath)
	if err != nil {
		return err
	}
	return workspace.WriteFile(ac.Workspace, dst, []byte(toYAML(out)), 0o644, false)
}

// ---- catalog:fetch ----

//go:embed schemas/catalog_fetch.input.json
var catalogFetchInput []byte

//go:embed schemas/catalog_fetch.output.json
var catalogFetchOutput []byte

// catalogFetchAction declares catalog:fetch: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) catalogFetchAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "catalog:fetch",
		Description: "Returns entity or entities from the catalog by entity reference(s)",
		Examples: []scaffolder.ActionExample{
			{Description: "Fetch entity by reference",
				Example: `steps:
  - action: catalog:fetch
    id: fetch
    name: Fetch catalog entity
    input:
      entityRef: component:default/name
`},
			{Description: "Fetch multiple entities by reference",
				Example: `steps:
  - action: catalog:fetch
    id: fetchMultiple
    name: Fetch catalog entities
    input:
      entityRefs:
        - component:default/name
`},
		},
		Input:          catalogFetchInput,
		Output:         catalogFetchOutput,
		SupportsDryRun: true,
		Run:            o.catalogFetch,
	}
}

func (o Options) catalogFetch(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := Input(ac)
	entityRef, _, err := StringInput(in, "entityRef")
	if err != nil {
		return err
	}
	refs, hasRefs, err := strList(in, "entityRefs")
	if err != nil {
		return err
	}
	optional := boolean(in, "optional")
	defKind, _, _ := StringInput(in, "defaultKind")
	defNS, _, _ := StringInput(in, "defaultNamespace")
	if entityRef == "" && !hasRefs {
		if optional {
			return nil
		}
		return errors.New("Missing entity reference or references")
	}
	if ac.Catalog == nil {
		return errors.New("no catalog client available")
	}
	get := func(ref string) (*ojson.Object, error) {
		r, err := model.ParseRef(ref, model.RefDefaults{Kind: defKind, Namespace: defNS})
		if err != nil {
			return nil, err
		}
		e, err := ac.Catalog.EntityByRef(ctx, r.String())
		if errors.Is(err, backend.ErrNotFound) {
			return nil, nil
		}
		return e, err
	}
	if entityRef != "" {
		e, err := get(entityRef)
		if err != nil {
			return err
		}
		if e == nil && !optional {
			return errors.New("Entity " + entityRef + " not found")
		}
		if e == nil {
			ac.Output("entity", nil)
		} else {
			ac.Output("entity", e)
		}
	}
	if hasRefs {
		entities := make([]any, 0, len(refs))
		found := make([]*ojson.Object, len(refs))
		for i, ref := range refs {
			if found[i], err = get(ref); err != nil {
				return err
			}
		}
		for i, e := range found {
			if e == nil && !optional {
				return errors.New("Entity " + refs[i] + " not found")
			}
			if e == nil {
				entities = append(entities, nil)
			} else {
				entities = append(entities, e)
			}
		}
		ac.Output("entities", entities)
	}
	return nil
}

// ---- catalog:register ----

//go:embed schemas/catalog_register.input.json
var catalogRegisterInput []byte

// catalogRegisterAction declares catalog:register: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) catalogRegisterAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "catalog:register",
		Description: "Registers entities from a catalog descriptor file in the workspace into the software catalog.",
		Examples: []scaffolder.ActionExample{
			{Description: "Register with the catalog",
				Example: `steps:
  - action: catalog:register
    id: register-with-catalog
    name: Register with the catalog
    input:
      catalogInfoUrl: http://github.com/backstage/backstage/blob/master/catalog-info.yaml
`},
		},
		Input:          catalogRegisterInput,
		SupportsDryRun: false,
		Run:            o.catalogRegister,
	}
}

func (o Options) catalogRegister(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := Input(ac)
	optional := boolean(in, "optional")
	var catalogInfoURL string
	if in.Has("catalogInfoUrl") {
		s, _, err := StringInput(in, "catalogInfoUrl")
		if err != nil {
			return err
		}
		catalogInfoURL = s
	} else {
		repo, err := RequiredStringInput(in, "repoContentsUrl")
		if err != nil {
			return err
		}
		p, ok, err := StringInput(in, "catalogInfoPath")
		if err != nil {
			return err
		}
		if !ok {
			p = "/catalog-info.yaml"
		}
		if o.Integrations(hostOf(repo)) == "" {
			return backend.Input("No integration found for host %s", repo)
		}
		if catalogInfoURL, err = o.resolveURL(repo, p); err != nil {
			return err
		}
	}
	if ac.Catalog == nil {
		return errors.New("no catalog client available")
	}
	logf(ac, "Registering %s in the catalog", catalogInfoURL)
	if _, err := ac.Catalog.AddLocation(ctx, "url", catalogInfoURL, false); err != nil && !optional {
		return err
	}
	entities, err := ac.Catalog.AddLocation(ctx, "url", catalogInfoURL, true)
	if err != nil && !optional {
		return err
	}
	if err == nil && len(entities) > 0 {
		ac.Output("entityRef", model.EntityRef(pickRegistered(entities)))
	}
	ac.Output("catalogInfoUrl", catalogInfoURL)
	return nil
}

// pickRegistered prefers a Component, then any entity that is not the
// generated Location, then the first.
func pickRegistered(entities []*ojson.Object) *ojson.Object {
	generated := func(e *ojson.Object) bool {
		return strings.HasPrefix(e.Object("metadata").String("name"), "generated-")
	}
	for _, e := range entities {
		if !generated(e) && e.String("kind") == "Component" {
			return e
		}
	}
	for _, e := range entities {
		if !generated(e) {
			return e
		}
	}
	return entities[0]
}

func hostOf(raw string) string {
	s := raw
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	return s
}
