package permissionservice

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/permission"
)

// Register mounts the permission backend's routes on g (/api/permission):
// POST /authorize and GET /health.
func (s *Service) Register(g *echo.Group) {
	g.GET("/health", func(c echo.Context) error {
		return httpserver.WriteJSON(c, http.StatusOK, []byte(`{"status":"ok"}`))
	})
	g.POST("/authorize", s.authorize)
}

// authorizeItem is one item of an /authorize request.
type authorizeItem struct {
	ID          string
	Permission  permission.Permission
	ResourceRef []string // nil when absent
	RefIsList   bool
}

func (s *Service) authorize(c echo.Context) error {
	cred, err := auth.Require(c, auth.PrincipalUser, auth.PrincipalNone)
	if err != nil {
		return err
	}
	raw, err := httpserver.ReadBody(c, httpserver.DefaultBodyLimit)
	if err != nil {
		return err
	}
	items, err := parseAuthorize(raw)
	if err != nil {
		return err
	}
	if (cred.IsNone() && !s.o.DisabledDefaultAuthPolicy) || cred.IsUser() {
		for _, it := range items {
			if it.Permission.IsResource() && it.ResourceRef == nil {
				return backend.Input("Resource permissions require a resourceRef to be set. Direct user requests without a resourceRef are not allowed.")
			}
		}
	}
	ctx := c.Request().Context()
	user, err := s.UserOf(ctx, cred)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := s.authorizeOne(ctx, &b, user, it); err != nil {
			return err
		}
	}
	b.WriteString("]}")
	return httpserver.WriteJSON(c, http.StatusOK, b.Bytes())
}

func (s *Service) authorizeOne(ctx context.Context, b *bytes.Buffer, user *permission.User, it authorizeItem) error {
	d, err := s.DecideFor(ctx, user, it.Permission, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, `{"id":%s,"result":`, jsonString(it.ID))
	if d.Result != permission.Conditional {
		fmt.Fprintf(b, `%q}`, d.Result)
		return nil
	}
	if it.ResourceRef == nil {
		cond, err := d.Conditions.MarshalJSON()
		if err != nil {
			return err
		}
		fmt.Fprintf(b, `"CONDITIONAL","pluginId":%s,"resourceType":%s,"conditions":%s}`, jsonString(d.PluginID), jsonString(d.ResourceType), cond)
		return nil
	}
	results, err := s.ApplyConditions(ctx, d.ResourceType, it.ResourceRef, d.Conditions)
	if err != nil {
		return err
	}
	writeResults(b, results, it.RefIsList)
	b.WriteByte('}')
	return nil
}

func writeResults(b *bytes.Buffer, results []bool, list bool) {
	word := func(ok bool) string {
		if ok {
			return `"ALLOW"`
		}
		return `"DENY"`
	}
	if !list {
		b.WriteString(word(results[0]))
		return
	}
	b.WriteByte('[')
	for i, r := range results {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(word(r))
	}
	b.WriteByte(']')
}

// ApplyConditions decides validated-or-not conditions for stored resources
// of resourceType through the owning plugin's integration (in process, what
// Backstage does over HTTP).
func (s *Service) ApplyConditions(ctx context.Context, resourceType string, refs []string, c *permission.Criteria) ([]bool, error) {
	_, rt := s.integrationFor(resourceType)
	if rt == nil {
		return nil, backend.Input("Unexpected resource types: %s.", resourceType)
	}
	if err := rt.Validate(c); err != nil {
		return nil, err
	}
	if rt.Check == nil {
		return nil, backend.Errorf(backend.ErrNotImplemented, "This plugin does not expose any permission rule or can't evaluate the conditions request for %s", resourceType)
	}
	return rt.Check(ctx, refs, c)
}

// zodIssue is one issue of a zod error as Backstage prints it.
type zodIssue struct {
	Code     string `json:"code"`
	Expected string `json:"expected"`
	Received string `json:"received"`
	Path     []any  `json:"path"`
	Message  string `json:"message"`
}

func zodError(issues ...zodIssue) error {
	out, _ := json.MarshalIndent(issues, "", "  ")
	return backend.Input("%s", out)
}

func jsType(v any, present bool) string {
	switch v.(type) {
	case nil:
		if !present {
			return "undefined"
		}
		return "null"
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	}
	return "object"
}

func typeIssue(path []any, expected string, v any, present bool) zodIssue {
	got := jsType(v, present)
	msg := "Required"
	if present {
		msg = fmt.Sprintf("Expected %s, received %s", expected, got)
	}
	return zodIssue{Code: "invalid_type", Expected: expected, Received: got, Path: path, Message: msg}
}

// parseAuthorize reads an /authorize body with the checks of Backstage's
// schema; the messages of the common mistakes are zod's.
func parseAuthorize(raw []byte) ([]authorizeItem, error) {
	var body any = map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, backend.Input("%s", err.Error())
		}
	}
	obj, ok := body.(map[string]any)
	if !ok {
		return nil, zodError(typeIssue([]any{}, "object", body, true))
	}
	rawItems, present := obj["items"]
	list, ok := rawItems.([]any)
	if !ok {
		return nil, zodError(typeIssue([]any{"items"}, "array", rawItems, present))
	}
	out := make([]authorizeItem, 0, len(list))
	for i, el := range list {
		it, err := parseItem(el)
		if err != nil {
			return nil, backend.Input("Invalid request: items[%d]: %s", i, err.Error())
		}
		out = append(out, it)
	}
	return out, nil
}

func parseItem(el any) (authorizeItem, error) {
	m, ok := el.(map[string]any)
	if !ok {
		return authorizeItem{}, fmt.Errorf("must be an object")
	}
	var it authorizeItem
	if it.ID, ok = m["id"].(string); !ok {
		return it, fmt.Errorf("id must be a string")
	}
	p, ok := m["permission"].(map[string]any)
	if !ok {
		return it, fmt.Errorf("permission must be an object")
	}
	it.Permission.Type, _ = p["type"].(string)
	if it.Permission.Name, ok = p["name"].(string); !ok {
		return it, fmt.Errorf("permission.name must be a string")
	}
	attrs, ok := p["attributes"].(map[string]any)
	if !ok {
		return it, fmt.Errorf("permission.attributes must be an object")
	}
	if a, has := attrs["action"]; has {
		s, _ := a.(string)
		switch s {
		case "create", "read", "update", "delete":
			it.Permission.Action = s
		default:
			return it, fmt.Errorf("permission.attributes.action must be create, read, update or delete")
		}
	}
	switch it.Permission.Type {
	case permission.TypeBasic:
		if _, has := m["resourceRef"]; has {
			return it, fmt.Errorf("resourceRef is not allowed for a basic permission")
		}
	case permission.TypeResource:
		if it.Permission.ResourceType, ok = p["resourceType"].(string); !ok {
			return it, fmt.Errorf("permission.resourceType must be a string")
		}
		switch r := m["resourceRef"].(type) {
		case nil:
		case string:
			it.ResourceRef = []string{r}
		case []any:
			if len(r) == 0 {
				return it, fmt.Errorf("resourceRef must not be empty")
			}
			it.RefIsList = true
			for _, x := range r {
				s, ok := x.(string)
				if !ok {
					return it, fmt.Errorf("resourceRef must hold strings")
				}
				it.ResourceRef = append(it.ResourceRef, s)
			}
		default:
			return it, fmt.Errorf("resourceRef must be a string or an array of strings")
		}
	default:
		return it, fmt.Errorf("permission.type must be basic or resource")
	}
	return it, nil
}

// RegisterIntegration mounts a plugin's permission integration routes on
// g (the plugin's group): GET /.well-known/backstage/permissions/metadata and
// POST /.well-known/backstage/permissions/apply-conditions (service callers
// only, as in Backstage), and registers in with the service. A nil Service
// only mounts the routes.
func (s *Service) RegisterIntegration(g *echo.Group, in *permission.Integration) {
	if s != nil {
		s.AddIntegration(in)
	}
	meta := in.Metadata()
	g.GET("/.well-known/backstage/permissions/metadata", func(c echo.Context) error {
		return httpserver.WriteJSON(c, http.StatusOK, meta)
	})
	g.POST("/.well-known/backstage/permissions/apply-conditions", func(c echo.Context) error {
		cred, err := auth.CredentialsOf(c)
		if err != nil {
			return err
		}
		switch {
		case cred.IsNone():
			return backend.Authentication("Missing credentials")
		case !cred.IsService():
			return backend.NotAllowed("")
		}
		raw, err := httpserver.ReadBody(c, httpserver.DefaultBodyLimit)
		if err != nil {
			return err
		}
		var body struct {
			Items []struct {
				ID           *string              `json:"id"`
				ResourceRef  json.RawMessage      `json:"resourceRef"`
				ResourceType *string              `json:"resourceType"`
				Conditions   *permission.Criteria `json:"conditions"`
			} `json:"items"`
		}
		if err := json.Unmarshal(raw, &body); err != nil || body.Items == nil {
			msg := "items must be an array"
			if err != nil {
				msg = err.Error()
			}
			return backend.Input("Invalid request: %s", msg)
		}
		var unknown []string
		for _, it := range body.Items {
			if it.ID == nil || it.ResourceType == nil || it.Conditions == nil || len(it.ResourceRef) == 0 {
				return backend.Input("Invalid request: each item needs id, resourceRef, resourceType and conditions")
			}
			if in.Resource(*it.ResourceType) == nil {
				unknown = append(unknown, *it.ResourceType)
			}
		}
		if len(unknown) > 0 {
			return backend.Input("Unexpected resource types: %s.", joinComma(unknown))
		}
		ctx := c.Request().Context()
		var b bytes.Buffer
		b.WriteString(`{"items":[`)
		for i, it := range body.Items {
			var refs []string
			list := false
			var one string
			if json.Unmarshal(it.ResourceRef, &one) == nil {
				refs = []string{one}
			} else if json.Unmarshal(it.ResourceRef, &refs) == nil && len(refs) > 0 {
				list = true
			} else {
				return backend.Input("Invalid request: resourceRef must be a string or a non-empty array of strings")
			}
			rt := in.Resource(*it.ResourceType)
			if err := rt.Validate(it.Conditions); err != nil {
				return err
			}
			if rt.Check == nil {
				return backend.Errorf(backend.ErrNotImplemented, "This plugin does not expose any permission rule or can't evaluate the conditions request for %s", rt.Type)
			}
			results, err := rt.Check(ctx, refs, it.Conditions)
			if err != nil {
				return err
			}
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":%s,"result":`, jsonString(*it.ID))
			writeResults(&b, results, list)
			b.WriteByte('}')
		}
		b.WriteString("]}")
		return httpserver.WriteJSON(c, http.StatusOK, b.Bytes())
	})
}

func joinComma(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x)
	}
	return b.String()
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
