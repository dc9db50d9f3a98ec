package processing

import (
	"context"
	"fmt"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend/ojson"
)

// ValidateEntity runs the whole processing pipeline on one entity as if it
// had been read from location (which must be "url:<target>"), the way
// Backstage's POST /validate-entity does: the envelope, the location ref,
// then placeholders, policies, kind schemas, reading a Location's targets
// and relations. It returns the serialized errors, none when valid.
func (e *Engine) ValidateEntity(ctx context.Context, entity *ojson.Object, location string) []catalog.SerializedError {
	if err := model.ValidateEnvelope(entity); err != nil {
		return []catalog.SerializedError{model.SerializeError(err)}
	}
	typ, target, ok := strings.Cut(location, ":")
	if !ok || typ == "" || target == "" {
		return []catalog.SerializedError{{Name: "TypeError", Message: fmt.Sprintf("Unable to parse location ref '%s', expected '<type>:<target>', e.g. 'url:https://host/path'", location)}}
	}
	if typ != "url" {
		return []catalog.SerializedError{{Name: "TypeError", Message: fmt.Sprintf("Invalid location ref %s, only 'url:<target>' is supported, e.g. url:https://host/path", location)}}
	}
	// Client-supplied location annotations are overridden, as in Backstage.
	annotated := annotate(entity, location, location)
	raw, err := ojson.Marshal(annotated)
	if err != nil {
		return []catalog.SerializedError{{Name: "Error", Message: err.Error()}}
	}
	res := e.Process(ctx, catalog.ProcessingItem{EntityRef: model.EntityRef(annotated), Unprocessed: raw})
	if res.Ok {
		return nil
	}
	return res.Errors
}
