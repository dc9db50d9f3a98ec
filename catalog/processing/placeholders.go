package processing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/understage/understage/catalog/ojson"
)

// resolvePlaceholders replaces `{$text: path}`, `{$json: path}` and
// `{$yaml: path}` objects with the content of the file they name, read
// relative to the entity's own location. Unknown `$` keys are left alone.
func (e *Engine) resolvePlaceholders(ctx context.Context, v any, loc locationRef) (any, []error) {
	switch t := v.(type) {
	case *ojson.Object:
		if len(t.Members) == 1 && strings.HasPrefix(t.Members[0].Key, "$") {
			key := t.Members[0].Key
			switch key {
			case "$text", "$json", "$yaml":
				out, err := e.placeholder(ctx, key, t.Members[0].Value, loc)
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
			r, es := e.resolvePlaceholders(ctx, m.Value, loc)
			errs = append(errs, es...)
			out.Members[i] = ojson.Member{Key: m.Key, Value: r}
		}
		return out, errs
	case []any:
		var errs []error
		out := make([]any, len(t))
		for i, el := range t {
			r, es := e.resolvePlaceholders(ctx, el, loc)
			errs = append(errs, es...)
			out[i] = r
		}
		return out, errs
	default:
		return v, nil
	}
}

func (e *Engine) placeholder(ctx context.Context, key string, arg any, loc locationRef) (any, error) {
	target, ok := arg.(string)
	if !ok {
		return nil, newInputError(fmt.Sprintf("Placeholder %s expected a string value, got %s", key, jsType(arg)))
	}
	reader, ok := e.o.Readers[loc.Type]
	if !ok || loc.Target == "" {
		return nil, newInputError(fmt.Sprintf("Placeholder %s could not resolve %s: the entity has no readable location", key, target))
	}
	abs, err := reader.Resolve(loc.Target, target)
	if err != nil {
		return nil, newInputError(fmt.Sprintf("Placeholder %s could not resolve %s, %v", key, target, err))
	}
	files, err := reader.ReadLocation(ctx, abs)
	if err != nil || len(files) != 1 {
		if err == nil {
			err = fmt.Errorf("expected exactly one file")
		}
		return nil, newInputError(fmt.Sprintf("Placeholder %s could not read location %s, %s", key, target, jsErrorString(err)))
	}
	data := files[0].Data
	switch key {
	case "$text":
		return string(data), nil
	case "$json":
		if !json.Valid(data) {
			return nil, newInputError(fmt.Sprintf("Placeholder $json failed to parse JSON data at %s", target))
		}
		v, err := ojson.Decode(data)
		if err != nil {
			return nil, newInputError(fmt.Sprintf("Placeholder $json failed to parse JSON data at %s, %v", target, err))
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
			return nil, newInputError(fmt.Sprintf("Placeholder $yaml expected to find exactly one document of data at %s, found %d", target, found))
		}
		if err == nil {
			err = docs[0].Err
		}
		var ye *ojson.YAMLError
		if errors.As(err, &ye) && ye.Thrown() {
			return nil, ye
		}
		if err != nil {
			return nil, newInputError(fmt.Sprintf("Placeholder $yaml found an error in the data at %s, %s", target, err))
		}
		return docs[0].Value, nil
	}
}

// jsErrorString is how JavaScript prints an error inside a message:
// "<Name>: <message>".
func jsErrorString(err error) string {
	if name := errorName(err); name != "" {
		return name + ": " + messageOf(err)
	}
	return messageOf(err)
}
