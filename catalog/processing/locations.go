package processing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/catalog/ojson"
	"github.com/understage/understage/plugins/backend"
)

// LocationFile is one file read from a location target.
type LocationFile struct {
	// Location is the type:target ref of the file itself (the value of the
	// managed-by-location annotation of what it contains).
	Type, Target string
	Data         []byte
}

// LocationReader reads a location target of one type. A target that
// matches nothing returns an error wrapping backend.ErrNotFound.
type LocationReader interface {
	ReadLocation(ctx context.Context, target string) ([]LocationFile, error)
	// Resolve resolves a target relative to the file base (for Location
	// entities with relative targets and for placeholders).
	Resolve(base, target string) (string, error)
}

// FileReader reads `file` locations from the local disk, with globs.
type FileReader struct{}

// ReadLocation reads the file, or every file matching a glob pattern.
func (FileReader) ReadLocation(ctx context.Context, target string) ([]LocationFile, error) {
	if !hasGlob(target) {
		data, err := os.ReadFile(target)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, backend.Errorf(backend.ErrNotFound, "file %s does not exist", target)
			}
			return nil, fmt.Errorf("read %s: %w", target, err)
		}
		return []LocationFile{{Type: "file", Target: target, Data: data}}, nil
	}
	matches, err := globFiles(target)
	if err != nil {
		return nil, err
	}
	var out []LocationFile
	for _, m := range matches {
		data, err := os.ReadFile(m)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", m, err)
		}
		out = append(out, LocationFile{Type: "file", Target: m, Data: data})
	}
	return out, nil
}

// Resolve joins a relative target onto the directory of base.
func (FileReader) Resolve(base, target string) (string, error) {
	if filepath.IsAbs(target) {
		return filepath.Clean(target), nil
	}
	return filepath.Join(filepath.Dir(base), target), nil
}

func hasGlob(p string) bool { return strings.ContainsAny(p, "*?[{") }

// globFiles supports `*`, `?`, `[..]` per segment and `**` for any depth.
func globFiles(pattern string) ([]string, error) {
	if !strings.Contains(pattern, "**") {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("bad glob %q: %w", pattern, err)
		}
		return onlyFiles(m), nil
	}
	i := strings.Index(pattern, "**")
	root := filepath.Dir(pattern[:i] + "x")
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if globMatch(pattern, p) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func onlyFiles(paths []string) []string {
	var out []string
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// globMatch matches path segments, with ** matching zero or more segments.
func globMatch(pattern, path string) bool {
	ps := strings.Split(filepath.ToSlash(pattern), "/")
	ss := strings.Split(filepath.ToSlash(path), "/")
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for i < len(ps) {
			if ps[i] == "**" {
				for k := j; k <= len(ss); k++ {
					if match(i+1, k) {
						return true
					}
				}
				return false
			}
			if j >= len(ss) {
				return false
			}
			ok, err := filepath.Match(ps[i], ss[j])
			if err != nil || !ok {
				return false
			}
			i++
			j++
		}
		return j == len(ss)
	}
	return match(0, 0)
}

// readLocationEntity reads every target of a Location entity and returns
// the entities found, annotated with where they came from.
func (e *Engine) readLocationEntity(ctx context.Context, loc *ojson.Object, locRef string) ([]catalog.DeferredEntity, []error) {
	spec := loc.Object("spec")
	self := locationOf(loc)
	typ := spec.String("type")
	if typ == "" {
		typ = self.Type
	}
	targets := locationTargets(spec)
	optional := spec.String("presence") == "optional"
	origin := originOf(loc)
	if origin == "" {
		origin = self.String()
	}
	reader, ok := e.o.Readers[typ]
	if !ok {
		return nil, []error{newInputError(fmt.Sprintf("Unknown location type %s", typ))}
	}
	var out []catalog.DeferredEntity
	var errs []error
	seen := map[string]bool{}
	for _, target := range targets {
		if self.Type == typ && self.Target != "" {
			resolved, err := reader.Resolve(self.Target, target)
			if err != nil {
				errs = append(errs, newInputError(fmt.Sprintf("Unable to resolve %s relative to %s, %v", target, self.Target, err)))
				continue
			}
			target = resolved
		}
		files, err := reader.ReadLocation(ctx, target)
		if err != nil {
			if errors.Is(err, backend.ErrNotFound) {
				if optional {
					continue
				}
				// Backstage: NotFoundError "file <path> does not exist".
				errs = append(errs, newNotFoundError(messageOf(err)))
				continue
			}
			// Backstage serializes this one without a cause.
			errs = append(errs, &namedError{name: "Error", msg: fmt.Sprintf("Unable to read %s, %s", typ, messageOf(err))})
			continue
		}
		for _, f := range files {
			ents, ferrs, thrown := e.parseLocationFile(f, origin, locRef)
			errs = append(errs, ferrs...)
			for _, ent := range ents {
				ref := model.EntityRef(ent.Entity)
				if seen[ref] {
					continue
				}
				seen[ref] = true
				out = append(out, ent)
			}
			if thrown != nil {
				// Backstage's readers stop at an error thrown while
				// parsing (excessive aliases) and word it themselves.
				if typ == "file" {
					errs = append(errs, &namedError{name: "Error", msg: fmt.Sprintf("%s %s could not be read, %s", typ, target, thrown)})
				} else {
					errs = append(errs, &namedError{name: "Error", msg: fmt.Sprintf("Unable to read %s, %s", typ, thrown.Message)})
				}
				break
			}
		}
	}
	return out, errs
}

// locationTargets lists a Location spec's target and targets, in order.
func locationTargets(spec *ojson.Object) []string {
	var targets []string
	if t := spec.String("target"); t != "" {
		targets = append(targets, t)
	}
	if arr, ok := mustGet(spec, "targets").([]any); ok {
		for _, t := range arr {
			if s, ok := t.(string); ok {
				targets = append(targets, s)
			}
		}
	}
	return targets
}

func mustGet(o *ojson.Object, key string) any {
	v, _ := o.Get(key)
	return v
}

// parseLocationFile turns each YAML document of a file into an entity. A
// document whose conversion throws in Backstage (excessive aliases) ends
// the file: it is returned as thrown, with what came before it.
func (e *Engine) parseLocationFile(f LocationFile, origin, parentRef string) ([]catalog.DeferredEntity, []error, *ojson.YAMLError) {
	fileRef := f.Type + ":" + f.Target
	docs, err := ojson.DecodeYAMLDocuments(f.Data)
	var errs []error
	// Backstage words a document's parse error "YAML error at <location>,
	// YAMLParseError: <parser message>".
	yamlErr := func(err error) error {
		return &namedError{name: "Error", msg: fmt.Sprintf("YAML error at %s, %s", fileRef, err)}
	}
	var out []catalog.DeferredEntity
	for _, d := range docs {
		if d.Err != nil {
			var ye *ojson.YAMLError
			if errors.As(d.Err, &ye) && ye.Thrown() {
				return out, errs, ye
			}
			errs = append(errs, yamlErr(d.Err))
			continue
		}
		if d.Value == nil {
			continue
		}
		obj, ok := d.Value.(*ojson.Object)
		if !ok {
			errs = append(errs, newInputError(fmt.Sprintf("Expected object at root, got %s", jsType(d.Value))))
			continue
		}
		if err := model.ValidateEnvelope(obj); err != nil {
			errs = append(errs, err)
			continue
		}
		annotated := annotate(obj, fileRef, origin)
		ref := model.EntityRef(annotated)
		if ref == parentRef {
			continue
		}
		if !e.o.Rules.IsAllowed(annotated, f.Type, f.Target) {
			errs = append(errs, model.NotAllowedError(model.EntityRef(annotated), fileRef, origin))
			continue
		}
		out = append(out, catalog.DeferredEntity{Entity: annotated, LocationKey: fileRef})
	}
	if err != nil {
		errs = append(errs, yamlErr(err))
	}
	return out, errs, nil
}

// annotate sets the two location annotations the way Backstage merges them:
// they come first in metadata.annotations and always win.
func annotate(entity *ojson.Object, location, origin string) *ojson.Object {
	out := &ojson.Object{}
	meta := &ojson.Object{}
	ann := ojson.NewObject(annotationLocation, location, annotationOriginLocation, origin)
	meta.Set("annotations", ann)
	out.Set("metadata", meta)
	for _, m := range entity.Members {
		if m.Key != "metadata" {
			out.Set(m.Key, ojson.Clone(m.Value))
			continue
		}
		src, ok := m.Value.(*ojson.Object)
		if !ok {
			continue
		}
		for _, mm := range src.Members {
			if mm.Key != "annotations" {
				meta.Set(mm.Key, ojson.Clone(mm.Value))
				continue
			}
			if a, ok := mm.Value.(*ojson.Object); ok {
				for _, am := range a.Members {
					if am.Key == annotationLocation || am.Key == annotationOriginLocation {
						continue
					}
					ann.Set(am.Key, ojson.Clone(am.Value))
				}
			}
		}
	}
	return out
}

func jsType(v any) string {
	switch v.(type) {
	case []any:
		return "object"
	case string:
		return "string"
	case ojson.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return "object"
}

func backendName(err error) string {
	if k := backend.KindOf(err); k != nil {
		return k.Name
	}
	return ""
}

func messageOf(err error) string {
	var ne *namedError
	if errors.As(err, &ne) {
		return ne.msg
	}
	return backend.MessageOf(err)
}
