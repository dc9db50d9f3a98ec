package processing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"syscall"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/glob"
	"github.com/understage/understage/plugins/backend/ojson"
)

// LocationFile is one file read from a location target.
type LocationFile struct {
	// Location is the type:target ref of the file itself (the value of the
	// managed-by-location annotation of what it contains).
	Type, Target string
	Data         []byte
}

// LocationReader reads a location target of one type. A target that
// matches nothing returns an error wrapping backend.ErrNotFound; a file over
// maxBytes returns a *LimitError.
type LocationReader interface {
	// Read reads the file at target, or every file a glob pattern matches.
	Read(ctx context.Context, target string, maxBytes int64) ([]LocationFile, error)
	// ReadFile reads the single file at target, which a placeholder names;
	// over maxBytes it returns a *LimitError naming the placeholder limit.
	// scope is the folder of the location the placeholder comes from, for
	// readers whose targets have folders: nothing outside it is read.
	ReadFile(ctx context.Context, target, scope string, maxBytes int64) ([]byte, error)
	// Resolve resolves a target relative to the file base (for Location
	// entities with relative targets and for placeholders).
	Resolve(base, target string) (string, error)
}

// FileReader reads `file` locations from the local disk, with globs.
type FileReader struct{}

// ReadLocation reads target with the default file size limit.
func (r FileReader) ReadLocation(ctx context.Context, target string) ([]LocationFile, error) {
	return r.Read(ctx, target, DefaultLimits().FileBytes)
}

// Read reads the file, or every file matching a glob pattern.
func (FileReader) Read(ctx context.Context, target string, maxBytes int64) ([]LocationFile, error) {
	if !glob.HasMeta(target) {
		data, err := readFileMax(target, maxBytes)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, backend.Errorf(backend.ErrNotFound, "file %s does not exist", target)
			}
			return nil, err
		}
		return []LocationFile{{Type: "file", Target: target, Data: data}}, nil
	}
	matches, err := globFiles(ctx, target)
	if err != nil {
		return nil, err
	}
	var out []LocationFile
	for _, m := range matches {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := readFileMax(m, maxBytes)
		if err != nil {
			return nil, err
		}
		out = append(out, LocationFile{Type: "file", Target: m, Data: data})
	}
	return out, nil
}

// readFileMax reads a whole file, refusing one over maxBytes without
// reading more of it than that.
func readFileMax(path string, maxBytes int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := readAllMax(f, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if data == nil {
		return nil, &LimitError{What: "file:" + path, Limit: maxBytes, Unit: "bytes", Key: LimitKeyFileSize}
	}
	return data, nil
}

// readAllMax reads r to its end; nil data (and no error) means r holds
// more than maxBytes.
func readAllMax(r io.Reader, maxBytes int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxBytes {
		return nil, nil
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// ReadFile reads the file at target if it lies in the folder tree scope.
// The file is opened through os.Root, so neither "..", an absolute path
// nor a symbolic link can lead outside scope, and nothing is checked apart
// from the open that could change in between.
func (FileReader) ReadFile(_ context.Context, target, scope string, maxBytes int64) ([]byte, error) {
	outside := backend.NotAllowed("the file is outside the folder of the entity's location")
	if scope == "" {
		return nil, outside
	}
	rel, err := filepath.Rel(scope, target)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, outside
	}
	root, err := os.OpenRoot(scope)
	if err != nil {
		return nil, backend.Errorf(backend.ErrNotFound, "the folder of the entity's location cannot be read")
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		var errno syscall.Errno
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, backend.Errorf(backend.ErrNotFound, "no such file")
		case !errors.As(err, &errno):
			// os.Root's own refusal: a link or path leading out of scope.
			return nil, outside
		}
		return nil, fmt.Errorf("cannot open the file: %w", errno)
	}
	defer f.Close()
	data, err := readAllMax(f, maxBytes)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is the host's, not the author's
		}
		return nil, fmt.Errorf("cannot read the file: %w", err)
	}
	if data == nil {
		return nil, &LimitError{What: "the file", Limit: maxBytes, Unit: "bytes", Key: LimitKeyPlaceholderSize}
	}
	return data, nil
}

// Resolve joins a relative target onto the directory of base.
func (FileReader) Resolve(base, target string) (string, error) {
	if filepath.IsAbs(target) {
		return filepath.Clean(target), nil
	}
	return filepath.Join(filepath.Dir(base), target), nil
}

// locationFolder is the folder a file location target spans: the
// directory of its file, or of a glob pattern's fixed part.
func locationFolder(target string) string {
	dir := filepath.Dir(target)
	for glob.HasMeta(dir) {
		dir = filepath.Dir(dir)
	}
	return dir
}

// fileGlob matches file location targets: segment globs with "**" for any
// depth, and "*" taking dotfiles as Go's filepath.Match does.
var fileGlob = glob.Options{Dot: true}

// globFiles lists the files (symbolic links to files included, folders
// never) matching an absolute pattern, sorted. The walk starts at the
// pattern's fixed prefix and skips folders nothing under which can match.
func globFiles(ctx context.Context, pattern string) ([]string, error) {
	pattern = filepath.ToSlash(pattern)
	pat, err := glob.Compile(pattern, fileGlob)
	if err != nil {
		return nil, backend.Input("bad glob %q: %v", pattern, err)
	}
	root := locationFolder(pattern)
	var out []string
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			// An unreadable folder is skipped, as a glob skips it.
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		slash := filepath.ToSlash(p)
		if d.IsDir() {
			if p != root && !pat.CouldContain(slash) {
				return filepath.SkipDir
			}
			return nil
		}
		if !pat.Match(slash) {
			return nil
		}
		if d.Type()&os.ModeSymlink != 0 {
			if st, err := os.Stat(p); err != nil || st.IsDir() {
				return nil
			}
		}
		out = append(out, p)
		return nil
	})
	sort.Strings(out)
	return out, err
}

// readLocationEntity reads every target of a Location entity and returns
// the entities found, annotated with where they came from. An entity met
// twice keeps its later document when both come from the same file, as in
// Backstage (the later write replaces the earlier); from different files,
// both are returned and the store keeps the first (a conflict).
func (e *Engine) readLocationEntity(ctx context.Context, loc *ojson.Object, locRef string) ([]catalog.DeferredEntity, []error) {
	spec := loc.Object("spec")
	self := locationOf(loc)
	typ := spec.String("type")
	if typ == "" {
		typ = self.Type
	}
	// Backstage: a Location may only switch to another type if that type
	// may be registered, so that a repository cannot make the catalog read
	// the host's files (type file) or hosts of another integration.
	if typ != self.Type && !slices.Contains(e.o.AllowedLocationTypes, typ) {
		allowed, _ := json.Marshal(e.o.AllowedLocationTypes)
		return nil, []error{newInputError(fmt.Sprintf("Registered locations must be of an allowed type %s", allowed))}
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
	seen := map[string]int{}
	for _, target := range targets {
		if self.Type == typ && self.Target != "" {
			resolved, err := reader.Resolve(self.Target, target)
			if err != nil {
				errs = append(errs, newInputError(fmt.Sprintf("Unable to resolve %s relative to %s, %v", target, self.Target, err)))
				continue
			}
			target = resolved
		}
		files, err := reader.Read(ctx, target, e.o.Limits.FileBytes)
		if err != nil {
			var le *LimitError
			switch {
			case errors.As(err, &le):
				errs = append(errs, le)
			case errors.Is(err, backend.ErrNotFound):
				if optional {
					continue
				}
				// Backstage: NotFoundError "file <path> does not exist".
				errs = append(errs, newNotFoundError(messageOf(err)))
			default:
				// Backstage serializes this one without a cause.
				errs = append(errs, &namedError{name: "Error", msg: fmt.Sprintf("Unable to read %s, %s", typ, messageOf(err))})
			}
			continue
		}
		for _, f := range files {
			ents, ferrs, thrown := e.parseLocationFile(f, origin, locRef)
			errs = append(errs, ferrs...)
			for _, ent := range ents {
				ref := model.EntityRef(ent.Entity)
				if i, ok := seen[ref]; ok && out[i].LocationKey == ent.LocationKey {
					out[i] = ent
					continue
				} else if !ok {
					seen[ref] = len(out)
				}
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

// firstRefused is Backstage's rules check of what a processed entity
// emits: each child must be of a kind the rules allow from the parent's
// origin location (so the rules of a configured location also cover what
// its nested Locations read). The first refused child is the parent's
// error, naming the parent's own location and its origin.
func (e *Engine) firstRefused(parent *ojson.Object, children []catalog.DeferredEntity) error {
	origin, _ := parseLocationRef(originOf(parent))
	for _, c := range children {
		if !e.o.Rules.IsAllowed(c.Entity, origin.Type, origin.Target) {
			return model.NotAllowedError(model.EntityRef(c.Entity), locationOf(parent).String(), origin.String())
		}
	}
	return nil
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
	n := 0
	for _, d := range docs {
		if d.Err == nil && d.Value != nil {
			n++
		}
	}
	if n > e.o.Limits.EntitiesPerFile {
		return nil, append(errs, &LimitError{What: fileRef, Limit: int64(e.o.Limits.EntitiesPerFile), Unit: "entities", Key: LimitKeyEntitiesPerFile}), nil
	}
	out := make([]catalog.DeferredEntity, 0, n)
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
		if model.EntityRef(annotated) == parentRef {
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

func messageOf(err error) string {
	var ne *namedError
	if errors.As(err, &ne) {
		return ne.msg
	}
	return backend.MessageOf(err)
}
