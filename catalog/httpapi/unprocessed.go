package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/permission"
)

// The unprocessed-entities routes, as
// @backstage/plugin-catalog-backend-module-unprocessed serves them:
//
//	GET    /entities/unprocessed/failed[?owner=]
//	GET    /entities/unprocessed/pending[?owner=]
//	DELETE /entities/unprocessed/delete/:entity_id
//
// Each answer lists the entities' processing state rows. Where Backstage
// differs in a way no client could want, Understage does not follow: its
// rows carry their real entity_id and entity_ref (Backstage's join leaves
// both null in pending rows), and failed lists the entities whose last
// processing failed or that lost an entity they emitted to another location
// (Backstage 1.55 always answers an empty list there).

// UnprocessedEntitiesRead is the module's permission to list.
func UnprocessedEntitiesRead() permission.Permission {
	return permission.Permission{Type: permission.TypeBasic, Name: "catalog.entities.unprocessed.read", Action: "read"}
}

// UnprocessedEntitiesDelete is the module's permission to delete.
func UnprocessedEntitiesDelete() permission.Permission {
	return permission.Permission{Type: permission.TypeBasic, Name: "catalog.entities.unprocessed.delete", Action: "delete"}
}

// UnprocessedPermissions are the module's permissions, in the order the
// catalog's permission metadata lists them (before the catalog's own).
func UnprocessedPermissions() []permission.Permission {
	return []permission.Permission{UnprocessedEntitiesRead(), UnprocessedEntitiesDelete()}
}

type unprocessedAPI struct {
	store catalog.UnprocessedStore
	perms permission.Authorizer
}

// RegisterUnprocessed mounts the unprocessed-entities routes on g
// (normally /api/catalog). A nil perms allows everything.
func RegisterUnprocessed(g *echo.Group, store catalog.UnprocessedStore, perms permission.Authorizer) {
	if perms == nil {
		perms = permission.Disabled{}
	}
	a := &unprocessedAPI{store: store, perms: perms}
	g.GET("/entities/unprocessed/failed", func(c echo.Context) error { return a.list(c, catalog.UnprocessedFailed) })
	g.GET("/entities/unprocessed/pending", func(c echo.Context) error { return a.list(c, catalog.UnprocessedPending) })
	g.DELETE("/entities/unprocessed/delete/:entity_id", a.remove)
}

// authorize refuses only a DENY, as the module does (its permissions are
// basic, so a policy cannot make them conditional).
func (a *unprocessedAPI) authorize(c echo.Context, perm permission.Permission) error {
	d, err := a.perms.Decide(c.Request().Context(), perm, nil)
	if err != nil {
		return err
	}
	if d.Result == permission.Deny {
		return backend.NotAllowed("Unauthorized")
	}
	return nil
}

func (a *unprocessedAPI) list(c echo.Context, reason catalog.UnprocessedReason) error {
	if err := a.authorize(c, UnprocessedEntitiesRead()); err != nil {
		return err
	}
	// Only a single owner filters; owner=a&owner=b is an array in
	// Backstage's query parser, which the module ignores.
	var owner string
	if vs := c.QueryParams()["owner"]; len(vs) == 1 {
		owner = vs[0]
	}
	rows, err := a.store.UnprocessedEntities(c.Request().Context(), reason)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(`{"type":"` + string(reason) + `","entities":[`)
	first := true
	for _, r := range rows {
		if owner != "" && !ownedBy(r.Unprocessed, owner) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		if err := writeUnprocessedRow(&b, r); err != nil {
			return err
		}
	}
	b.WriteString(`]}`)
	return c.Blob(http.StatusOK, jsonContentType, b.Bytes())
}

func (a *unprocessedAPI) remove(c echo.Context) error {
	if err := a.authorize(c, UnprocessedEntitiesDelete()); err != nil {
		return err
	}
	if err := a.store.DeleteUnprocessedEntity(c.Request().Context(), c.Param("entity_id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ownedBy is the module's filter: spec.owner equal to owner.
func ownedBy(unprocessed []byte, owner string) bool {
	var e struct {
		Spec struct {
			Owner any `json:"owner"`
		} `json:"spec"`
	}
	if json.Unmarshal(unprocessed, &e) != nil {
		return false
	}
	return e.Spec.Owner == owner
}

// writeUnprocessedRow writes a row with the keys, in the order, of the
// module's answer: the refresh_state columns followed by those of
// final_entities, JSON columns parsed, unset ones null.
func writeUnprocessedRow(b *bytes.Buffer, r catalog.UnprocessedEntity) error {
	var cache, errs, result any
	if r.WasProcessed {
		cache, errs, result = map[string]any{}, r.Errors, r.ResultHash
		if r.Errors == nil {
			errs = []catalog.SerializedError{}
		}
	} else {
		errs = "" // Backstage inserts the row with an empty errors text
	}
	var err error
	field := func(key string, v any) {
		if err != nil {
			return
		}
		if key != "entity_id" {
			b.WriteByte(',')
		}
		b.WriteString(`"` + key + `":`)
		err = writeJSONValue(b, v)
	}
	b.WriteByte('{')
	field("entity_id", r.EntityID)
	field("entity_ref", r.EntityRef)
	field("unprocessed_entity", json.RawMessage(r.Unprocessed))
	field("processed_entity", rawOrNull(r.Processed))
	field("cache", cache)
	field("errors", errs)
	field("next_update_at", r.NextUpdateAt)
	field("last_discovery_at", r.LastDiscoveryAt)
	field("location_key", stringOrNull(r.LocationKey))
	field("result_hash", result)
	field("unprocessed_hash", r.UnprocessedHash)
	field("hash", stringOrNull(r.FinalHash))
	// final_entities keeps the entity as text, which the module leaves as is.
	var final any
	if r.Final != nil {
		final = string(r.Final)
	}
	field("final_entity", final)
	field("last_updated_at", stringOrNull(r.LastUpdatedAt))
	b.WriteByte('}')
	if err != nil {
		return fmt.Errorf("unprocessed entity %s: %w", r.EntityRef, err)
	}
	return nil
}

func rawOrNull(raw []byte) any {
	if raw == nil {
		return nil
	}
	return json.RawMessage(raw)
}

func stringOrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeJSONValue writes v as JSON without escaping HTML characters, as
// JSON.stringify does.
func writeJSONValue(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}
