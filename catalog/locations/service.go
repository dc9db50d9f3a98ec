// Package locations is the catalog's Locations service: registering,
// listing, querying and removing locations (Backstage's DefaultLocationService
// and DefaultLocationStore), the dry run that shows what a registration
// would ingest, and analyze-location for the "Register existing component"
// page.
//
// A registered location is a row (catalog.LocationStore) plus a Location
// entity that this service, as the entity provider "DefaultLocationStore",
// adds with a delta mutation; the processing engine then reads its target.
// Connect re-applies the full set from the rows at start, so a crash
// between the row write and the mutation heals on restart.
package locations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// ProviderName keys the Location entities of registered locations, as
// Backstage's provider of the same name does.
const ProviderName = "DefaultLocationStore"

// Processor runs the processing steps on one entity without storing
// anything (the engine's Process).
type Processor interface {
	Process(ctx context.Context, it catalog.ProcessingItem) catalog.ProcessingResult
}

// Options are the service's dependencies.
type Options struct {
	Rows      catalog.LocationStore
	Mutations catalog.ProcessingStore
	Processor Processor
	// Reader serves by-entity lookups and analyze's isRegistered; Refresher
	// schedules a registered location again (onConflict=refresh).
	Reader    catalog.Reader
	Refresher interface {
		RequestRefresh(ctx context.Context, ref string) error
	}
	// Wake makes the engine look for due work now (nil = no-op).
	Wake func()
	// URLs reads repositories for analyze-location.
	URLs catalog.URLReader
	// Repos recognise repository URLs of the configured SCM integrations.
	Repos []RepoHost
	// AllowedTypes are the location types POST /locations accepts
	// (default ["url"], Backstage's default).
	AllowedTypes []string
	// ReadOnly is catalog.readonly: registrations, updates and deletions
	// are refused.
	ReadOnly bool
	Logger   *slog.Logger
}

// RepoHost is an SCM integration's view of repository URLs (Backstage's
// ScmIntegrations.byUrl plus what its GitHub analyzer asks GitHub).
type RepoHost interface {
	// Kind is the integration type ("github").
	Kind() string
	// Repo parses a repository, file or directory URL of this host.
	Repo(rawURL string) (owner, repo string, ok bool)
	// DefaultBranch asks the host for the repository's default branch.
	DefaultBranch(ctx context.Context, owner, repo string) (string, error)
	// BlobURL is the web URL of a file on a branch.
	BlobURL(owner, repo, ref, path string) string
}

// Service implements the locations routes.
type Service struct {
	o Options
}

// New returns the service.
func New(o Options) *Service {
	if len(o.AllowedTypes) == 0 {
		o.AllowedTypes = []string{"url"}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Wake == nil {
		o.Wake = func() {}
	}
	return &Service{o: o}
}

// Input is a location to register.
type Input struct {
	Type, Target string
}

// CreateResult is the answer to POST /locations. Exists is set on dry runs.
type CreateResult struct {
	Location catalog.Location
	Entities []*ojson.Object
	Exists   *bool
}

func readOnlyError() error {
	return backend.NotAllowed("This operation not allowed in readonly mode")
}

func (s *Service) checkType(typ string) error {
	if slices.Contains(s.o.AllowedTypes, typ) {
		return nil
	}
	quoted := make([]string, len(s.o.AllowedTypes))
	for i, t := range s.o.AllowedTypes {
		quoted[i] = string(ojson.MustMarshal(t))
	}
	return backend.Input("Registered locations must be of an allowed type [%s]", strings.Join(quoted, ","))
}

// locationEntity is the Location entity of a registered location, as its
// provider writes it: named after the location's entity ref, which a
// changed target keeps.
func locationEntity(l catalog.Location) catalog.DeferredEntity {
	e := processing.LocationEntity(processing.LocationSpec{Type: l.Type, Target: l.Target})
	if r, err := model.ParseRef(l.EntityRef(), model.RefDefaults{}); err == nil {
		e.Object("metadata").Set("name", r.Name)
	}
	return catalog.DeferredEntity{Entity: e, LocationKey: l.Type + ":" + l.Target}
}

// dryRunEntity is the Location entity a dry run processes. Backstage builds
// it apart from the provider's and its processing puts metadata first with
// the annotations leading, which shows in the dry run's answer; processing
// here keeps the order it is given, so it is built in that final order.
func dryRunEntity(l catalog.Location) catalog.DeferredEntity {
	ref := l.Type + ":" + l.Target
	e := ojson.NewObject(
		"metadata", ojson.NewObject(
			"annotations", ojson.NewObject(
				"backstage.io/managed-by-location", ref,
				"backstage.io/managed-by-origin-location", ref,
			),
			"name", catalog.GeneratedLocationName(l.Type, l.Target),
			"namespace", "default",
		),
		"apiVersion", "backstage.io/v1alpha1",
		"kind", "Location",
		"spec", ojson.NewObject("type", l.Type, "target", l.Target),
	)
	return catalog.DeferredEntity{Entity: e, LocationKey: ref}
}

// Connect applies the Location entities of every registered row as the
// provider's full set.
func (s *Service) Connect(ctx context.Context) error {
	rows, err := s.o.Rows.ListLocations(ctx)
	if err != nil {
		return err
	}
	ents := make([]catalog.DeferredEntity, 0, len(rows))
	for _, l := range rows {
		ents = append(ents, locationEntity(l))
	}
	if err := s.o.Mutations.ApplyFullMutation(ctx, ProviderName, ents); err != nil {
		return fmt.Errorf("apply registered locations: %w", err)
	}
	s.o.Wake()
	return nil
}

// Create registers a location, or with dryRun processes it without storing
// anything. refresh is onConflict=refresh: an existing registration is
// returned and re-read instead of being a conflict.
func (s *Service) Create(ctx context.Context, in Input, dryRun, refresh bool) (CreateResult, error) {
	if s.o.ReadOnly && !dryRun {
		return CreateResult{}, readOnlyError()
	}
	if err := s.checkType(in.Type); err != nil {
		return CreateResult{}, err
	}
	if dryRun {
		return s.dryRun(ctx, in)
	}
	l := catalog.Location{ID: uuid.NewString(), Type: in.Type, Target: in.Target}
	err := s.o.Rows.CreateLocation(ctx, l)
	if errors.Is(err, backend.ErrConflict) && refresh {
		existing, found, ferr := s.o.Rows.FindLocation(ctx, in.Type, in.Target)
		if ferr != nil {
			return CreateResult{}, ferr
		}
		if found {
			if rerr := s.o.Refresher.RequestRefresh(ctx, existing.EntityRef()); rerr != nil && !errors.Is(rerr, backend.ErrNotFound) {
				return CreateResult{}, rerr
			}
			s.o.Wake()
			return CreateResult{Location: existing, Entities: []*ojson.Object{}}, nil
		}
	}
	if err != nil {
		return CreateResult{}, err
	}
	if err := s.o.Mutations.ApplyDeltaMutation(ctx, ProviderName, []catalog.DeferredEntity{locationEntity(l)}, nil); err != nil {
		return CreateResult{}, fmt.Errorf("add location entity: %w", err)
	}
	s.o.Wake()
	return CreateResult{Location: l, Entities: []*ojson.Object{}}, nil
}

// dryRun processes the location's entity and, depth first, everything it
// emits, as Backstage's dry run does (a stack: the last emitted entity is
// processed first). Nothing is stored.
func (s *Service) dryRun(ctx context.Context, in Input) (CreateResult, error) {
	_, exists, err := s.o.Rows.FindLocation(ctx, in.Type, in.Target)
	if err != nil {
		return CreateResult{}, err
	}
	l := catalog.Location{ID: in.Type + ":" + in.Target, Type: in.Type, Target: in.Target}
	ents, err := s.processTree(ctx, dryRunEntity(l))
	if err != nil {
		return CreateResult{}, err
	}
	return CreateResult{Location: l, Entities: ents, Exists: &exists}, nil
}

func (s *Service) processTree(ctx context.Context, root catalog.DeferredEntity) ([]*ojson.Object, error) {
	stack := []catalog.DeferredEntity{root}
	out := []*ojson.Object{}
	seen := map[string]bool{}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		raw, err := ojson.Marshal(d.Entity)
		if err != nil {
			return nil, fmt.Errorf("encode entity: %w", err)
		}
		res := s.o.Processor.Process(ctx, catalog.ProcessingItem{
			EntityRef: model.EntityRef(d.Entity), Unprocessed: raw, LocationKey: d.LocationKey,
		})
		if !res.Ok {
			msgs := make([]string, len(res.Errors))
			for i, e := range res.Errors {
				msgs[i] = e.Name + ": " + e.Message
			}
			return nil, backend.Input("%s", strings.Join(msgs, ", "))
		}
		ref := model.EntityRef(res.Processed)
		if seen[ref] {
			return nil, backend.Input("Duplicate nested entity: %s", ref)
		}
		seen[ref] = true
		stack = append(stack, res.Children...)
		out = append(out, res.Processed)
	}
	return out, nil
}

// List returns every registered location.
func (s *Service) List(ctx context.Context) ([]catalog.Location, error) {
	return s.o.Rows.ListLocations(ctx)
}

// Get returns one registered location.
func (s *Service) Get(ctx context.Context, id string) (catalog.Location, error) {
	return s.o.Rows.GetLocation(ctx, id)
}

// Update changes a registered location's type and target. Its Location
// entity keeps its name (the location's entityRef) and now reads the new
// target, so what the old target emitted is orphaned, as in Backstage.
func (s *Service) Update(ctx context.Context, id string, in Input) (catalog.Location, error) {
	if s.o.ReadOnly {
		return catalog.Location{}, readOnlyError()
	}
	if err := s.checkType(in.Type); err != nil {
		return catalog.Location{}, err
	}
	if err := s.o.Rows.UpdateLocation(ctx, catalog.Location{ID: id, Type: in.Type, Target: in.Target}); err != nil {
		return catalog.Location{}, err
	}
	l, err := s.o.Rows.GetLocation(ctx, id)
	if err != nil {
		return catalog.Location{}, err
	}
	if err := s.o.Mutations.ApplyDeltaMutation(ctx, ProviderName, []catalog.DeferredEntity{locationEntity(l)}, nil); err != nil {
		return catalog.Location{}, fmt.Errorf("update location entity: %w", err)
	}
	if err := s.o.Refresher.RequestRefresh(ctx, l.EntityRef()); err != nil && !errors.Is(err, backend.ErrNotFound) {
		return catalog.Location{}, err
	}
	s.o.Wake()
	return l, nil
}

// Delete unregisters a location: its Location entity goes, and what it
// emitted becomes orphaned.
func (s *Service) Delete(ctx context.Context, id string) error {
	if s.o.ReadOnly {
		return readOnlyError()
	}
	l, err := s.o.Rows.DeleteLocation(ctx, id)
	if err != nil {
		return err
	}
	if err := s.o.Mutations.ApplyDeltaMutation(ctx, ProviderName, nil, []string{l.EntityRef()}); err != nil {
		return fmt.Errorf("remove location entity: %w", err)
	}
	s.o.Wake()
	return nil
}

// ByEntity returns the registered location whose tree produced the entity
// (its managed-by-origin-location annotation).
func (s *Service) ByEntity(ctx context.Context, kind, namespace, name string) (catalog.Location, error) {
	ref := strings.ToLower(kind + ":" + namespace + "/" + name)
	raw, err := s.o.Reader.EntityByRef(ctx, ref, nil)
	if errors.Is(err, backend.ErrNotFound) {
		return catalog.Location{}, backend.NotFound("found no entity for ref %s", ref)
	}
	if err != nil {
		return catalog.Location{}, err
	}
	e, err := ojson.DecodeObject(raw)
	if err != nil {
		return catalog.Location{}, fmt.Errorf("decode entity %s: %w", ref, err)
	}
	origin := e.Object("metadata").Object("annotations").String("backstage.io/managed-by-origin-location")
	if origin == "" {
		return catalog.Location{}, backend.NotFound("found no origin annotation for ref %s", ref)
	}
	typ, target, _ := strings.Cut(origin, ":")
	l, found, err := s.o.Rows.FindLocation(ctx, typ, target)
	if err != nil {
		return catalog.Location{}, err
	}
	if !found {
		return catalog.Location{}, backend.NotFound("Found no location with type %s and target %s", typ, target)
	}
	return l, nil
}
