package processing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/ojson"
)

// placeholderScope is where an entity's placeholders may read from: paths
// are resolved against loc, the entity's own file, and a file location's
// placeholder may only read below folder.
type placeholderScope struct {
	loc    locationRef
	folder string
}

// resolvePlaceholders replaces `{$text: path}`, `{$json: path}` and
// `{$yaml: path}` objects in entity with the content of the file they name.
// An absolute URL is read through the URL readers (with their host rules);
// a relative path is resolved against loc, the entity's own location. In a
// file location that path must stay inside the folder of the entity's
// origin location (the one registered or configured), or of loc itself when
// the origin is not a file location. Unknown `$` keys are left alone.
func (e *Engine) resolvePlaceholders(ctx context.Context, entity any, loc locationRef) (any, []error) {
	sc := placeholderScope{loc: loc}
	if loc.Type == "file" {
		sc.folder = locationFolder(loc.Target)
		if o, ok := entity.(*ojson.Object); ok {
			if origin, ok := parseLocationRef(originOf(o)); ok && origin.Type == "file" {
				sc.folder = locationFolder(origin.Target)
			}
		}
	}
	return e.resolveValue(ctx, entity, sc)
}

func (e *Engine) resolveValue(ctx context.Context, v any, sc placeholderScope) (any, []error) {
	switch t := v.(type) {
	case *ojson.Object:
		if len(t.Members) == 1 && strings.HasPrefix(t.Members[0].Key, "$") {
			key := t.Members[0].Key
			switch key {
			case "$text", "$json", "$yaml":
				out, err := e.placeholder(ctx, key, t.Members[0].Value, sc)
				if err != nil {
					// Backstage reports a processor's failure wrapped in its
					// name. A resolver's own failures are Errors; an error
					// converting YAML (aliases) keeps its class.
					name, msg := "Error", messageOf(err)
					var ye *ojson.YAMLError
					if errors.As(err, &ye) {
						name, msg = ye.Name, ye.Message
					}
					return v, []error{&namedError{name: "InputError",
						msg:   "Processor PlaceholderProcessor threw an error while preprocessing; caused by " + name + ": " + msg,
						cause: &namedError{name: name, msg: msg}}}
				}
				return out, nil
			}
		}
		var errs []error
		out := &ojson.Object{Members: make([]ojson.Member, len(t.Members))}
		for i, m := range t.Members {
			r, es := e.resolveValue(ctx, m.Value, sc)
			errs = append(errs, es...)
			out.Members[i] = ojson.Member{Key: m.Key, Value: r}
		}
		return out, errs
	case []any:
		var errs []error
		out := make([]any, len(t))
		for i, el := range t {
			r, es := e.resolveValue(ctx, el, sc)
			errs = append(errs, es...)
			out[i] = r
		}
		return out, errs
	default:
		return v, nil
	}
}

// absoluteURL matches what JavaScript's URL constructor takes without a
// base: a scheme, then anything.
var absoluteURL = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*:`)

// placeholder reads and decodes one placeholder; its errors are worded as
// Backstage's PlaceholderProcessor words them.
func (e *Engine) placeholder(ctx context.Context, key string, arg any, sc placeholderScope) (any, error) {
	value, ok := arg.(string)
	if !ok {
		return nil, newInputError(fmt.Sprintf("Placeholder %s expected a string value parameter, in the form of an absolute URL or a relative path", key))
	}
	data, err := e.readPlaceholder(ctx, key, value, sc)
	if err != nil {
		return nil, err
	}
	switch key {
	case "$text":
		return string(data), nil
	case "$json":
		if !json.Valid(data) {
			return nil, newInputError(fmt.Sprintf("Placeholder $json failed to parse JSON data at %s", value))
		}
		v, err := ojson.Decode(data)
		if err != nil {
			return nil, newInputError(fmt.Sprintf("Placeholder $json failed to parse JSON data at %s, %v", value, err))
		}
		return v, nil
	default:
		// Backstage counts the documents (empty ones too), then reports the
		// first one's parse error, then converts it, which may throw.
		docs, err := ojson.DecodeYAMLDocuments(data)
		found := len(docs)
		if err != nil {
			found++ // the document yaml.v3 stopped in
		}
		if found != 1 {
			return nil, newInputError(fmt.Sprintf("Placeholder $yaml expected to find exactly one document of data at %s, found %d", value, found))
		}
		if err == nil {
			err = docs[0].Err
		}
		var ye *ojson.YAMLError
		if errors.As(err, &ye) && ye.Thrown() {
			return nil, ye
		}
		if err != nil {
			return nil, newInputError(fmt.Sprintf("Placeholder $yaml found an error in the data at %s, %s", value, err))
		}
		return docs[0].Value, nil
	}
}

// readPlaceholder reads the file a placeholder names, at most the
// placeholder size limit.
func (e *Engine) readPlaceholder(ctx context.Context, key, value string, sc placeholderScope) ([]byte, error) {
	readErr := func(err error) error {
		return newInputError(fmt.Sprintf("Placeholder %s could not read location %s, %s", key, value, jsErrorString(err)))
	}
	max := e.o.Limits.PlaceholderBytes
	if absoluteURL.MatchString(value) {
		r, ok := e.o.Readers["url"]
		if !ok {
			return nil, readErr(catalog.NotAllowedURL(value))
		}
		data, err := r.ReadFile(ctx, value, "", max)
		if err != nil {
			return nil, readErr(err)
		}
		return data, nil
	}
	reader, ok := e.o.Readers[sc.loc.Type]
	if !ok || sc.loc.Target == "" {
		return nil, newInputError(fmt.Sprintf("Placeholder %s could not resolve %s: the entity has no readable location", key, value))
	}
	target, err := reader.Resolve(sc.loc.Target, value)
	if err != nil {
		return nil, newInputError(fmt.Sprintf("Placeholder %s could not form a URL out of %s and %s, %s", key, sc.loc.Target, value, jsErrorString(err)))
	}
	data, err := reader.ReadFile(ctx, target, sc.folder, max)
	if err != nil {
		return nil, readErr(err)
	}
	return data, nil
}

// jsErrorString is how JavaScript prints an error inside a message:
// "<Name>: <message>".
func jsErrorString(err error) string {
	if name := errorName(err); name != "" {
		return name + ": " + messageOf(err)
	}
	return messageOf(err)
}
