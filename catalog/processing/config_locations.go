package processing

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/ojson"
)

// LocationSpec is a location as configured or registered: type and target.
type LocationSpec struct {
	Type     string
	Target   string
	Presence string // "" or "optional"
}

// LocationEntity builds the Location entity Backstage generates for a
// location: named generated-<sha1 of "type:target">, with both location
// annotations pointing at the location itself.
func LocationEntity(l LocationSpec) *ojson.Object {
	ref := l.Type + ":" + l.Target
	sum := sha1.Sum([]byte(ref))
	spec := ojson.NewObject("type", l.Type, "target", l.Target)
	if l.Presence != "" {
		spec.Set("presence", l.Presence)
	}
	return ojson.NewObject(
		"apiVersion", "backstage.io/v1alpha1",
		"kind", "Location",
		"metadata", ojson.NewObject(
			"annotations", ojson.NewObject(
				annotationLocation, ref,
				annotationOriginLocation, ref,
			),
			"name", "generated-"+hex.EncodeToString(sum[:]),
		),
		"spec", spec,
	)
}

// ConfigLocationsProvider is the entity provider for catalog.locations:
// on start it replaces its set with one Location entity per configured
// location. File targets are made absolute against the working directory,
// as Backstage does.
type ConfigLocationsProvider struct {
	Locations []LocationSpec
	// WorkDir resolves relative file targets; "" = the process's directory.
	WorkDir string
}

// Name is the provider's stable id (it keys the rows the provider owns).
func (p *ConfigLocationsProvider) Name() string { return "ConfigLocationProvider" }

// Entities lists the provider's entities.
func (p *ConfigLocationsProvider) Entities() ([]catalog.DeferredEntity, error) {
	var out []catalog.DeferredEntity
	for _, l := range p.Locations {
		if l.Type == "file" && !filepath.IsAbs(l.Target) {
			base := p.WorkDir
			if base == "" {
				var err error
				if base, err = filepath.Abs("."); err != nil {
					return nil, fmt.Errorf("resolve working directory: %w", err)
				}
			}
			l.Target = filepath.Join(base, l.Target)
		}
		out = append(out, catalog.DeferredEntity{Entity: LocationEntity(l), LocationKey: l.Type + ":" + l.Target})
	}
	return out, nil
}

// Connect applies the full set once.
func (p *ConfigLocationsProvider) Connect(ctx context.Context, s catalog.ProcessingStore) error {
	ents, err := p.Entities()
	if err != nil {
		return err
	}
	if err := s.ApplyFullMutation(ctx, p.Name(), ents); err != nil {
		return fmt.Errorf("apply config locations: %w", err)
	}
	return nil
}
