package httpapi

import (
	"context"
	"encoding/base64"
	"math"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/locations"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/backend/openapiquery"
)

// LocationService is what the locations routes need (locations.Service).
type LocationService interface {
	Create(ctx context.Context, in locations.Input, dryRun, refresh bool) (locations.CreateResult, error)
	List(ctx context.Context) ([]catalog.Location, error)
	Get(ctx context.Context, id string) (catalog.Location, error)
	Update(ctx context.Context, id string, in locations.Input) (catalog.Location, error)
	Delete(ctx context.Context, id string) error
	Query(ctx context.Context, q locations.Query) (locations.QueryResult, error)
	ByEntity(ctx context.Context, kind, namespace, name string) (catalog.Location, error)
	Analyze(ctx context.Context, typ, target, catalogFilename string) (locations.AnalyzeResult, error)
}

// defaultLocationsLimit is by-query's page size for locations.
const defaultLocationsLimit = 1000

var (
	createLocationParams = []openapiquery.Param{{Name: "dryRun", Kind: openapiquery.String}, {Name: "onConflict", Kind: openapiquery.String}}
	createLocationBody   = bObject([]string{"target", "type"}, false,
		bProp{"target", bType("string")}, bProp{"type", bType("string")})
	locationInputBody = bObject([]string{"type", "target"}, true,
		bProp{"type", bType("string")}, bProp{"target", bType("string")})
	locationsQueryBody = bObject(nil, false,
		bProp{"cursor", bType("string")}, bProp{"limit", bType("number")}, bProp{"query", bType("object")})
	analyzeLocationBody = bObject([]string{"location"}, false,
		bProp{"catalogFileName", bType("string")}, bProp{"location", locationInputBody})
)

type locationsAPI struct{ svc LocationService }

// RegisterLocations mounts the locations routes and /analyze-location on g
// (normally /api/catalog).
func RegisterLocations(g *echo.Group, svc LocationService) {
	a := &locationsAPI{svc}
	g.POST("/locations", a.create)
	g.GET("/locations", a.list)
	g.POST("/locations/by-query", a.query)
	g.GET("/locations/by-entity/:kind/:namespace/:name", a.byEntity)
	g.GET("/locations/:id", a.get)
	g.PUT("/locations/:id", a.update)
	g.DELETE("/locations/:id", a.remove)
	g.POST("/analyze-location", a.analyze)
}

// locationJSON is a Location in the key order of the row routes.
func locationJSON(l catalog.Location) *ojson.Object {
	return ojson.NewObject("id", l.ID, "type", l.Type, "target", l.Target, "entityRef", l.EntityRef())
}

func writeJSON(c echo.Context, status int, v any) error {
	return c.Blob(status, jsonContentType, ojson.MustMarshal(v))
}

// ynBool reads a query flag the way the yn package does (default false).
func ynBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "y", "yes", "true", "1", "on":
		return true
	}
	return false
}

func (a *locationsAPI) create(c echo.Context) error {
	body, q, err := readBody(c, createLocationParams, createLocationBody)
	if err != nil {
		return err
	}
	if oc := q.First("onConflict"); q.Has("onConflict") && oc != "refresh" && oc != "reject" {
		return backend.Input("request/query/onConflict must be equal to one of the allowed values: refresh, reject")
	}
	if issues := locationInputIssues(body); len(issues) > 0 {
		text, _ := zodErrorText(issues, 0)
		return backend.Input("Malformed request: %s", text)
	}
	dryRun := ynBool(q.First("dryRun"))
	res, err := a.svc.Create(c.Request().Context(),
		locations.Input{Type: body.String("type"), Target: body.String("target")},
		dryRun, q.First("onConflict") == "refresh")
	if err != nil {
		return err
	}
	if ev := auditor.EventFrom(c.Request().Context()); ev != nil {
		ev.Annotate("location", map[string]any{"id": res.Location.ID, "type": res.Location.Type, "target": auditor.RedactURL(res.Location.Target)})
		ev.Annotate("dryRun", dryRun)
	}
	ents := make([]any, len(res.Entities))
	for i, e := range res.Entities {
		ents[i] = e
	}
	if res.Exists != nil {
		loc := ojson.NewObject("type", res.Location.Type, "target", res.Location.Target,
			"id", res.Location.ID, "entityRef", res.Location.EntityRef())
		return writeJSON(c, http.StatusCreated, ojson.NewObject("exists", *res.Exists, "location", loc, "entities", ents))
	}
	return writeJSON(c, http.StatusCreated, ojson.NewObject("location", locationJSON(res.Location), "entities", ents))
}

// locationInputIssues applies Backstage's strict zod schema of the body
// ({type, target, presence?: 'required' | 'optional'}) after the OpenAPI
// checks, returning zod's issues.
func locationInputIssues(body *ojson.Object) []any {
	var issues []any
	if p, ok := body.Get("presence"); ok && p != "required" && p != "optional" {
		alt := func(lit string) any {
			issue := ojson.NewObject("received", p, "code", "invalid_literal", "expected", lit,
				"path", []any{"presence"}, "message", "Invalid literal value, expected \""+lit+"\"")
			return ojson.NewObject("issues", []any{issue}, "name", "ZodError")
		}
		issues = append(issues, ojson.NewObject("code", "invalid_union",
			"unionErrors", []any{alt("required"), alt("optional")}, "path", []any{"presence"}, "message", "Invalid input"))
	}
	var extra []any
	var quoted []string
	for _, k := range jsKeys(body) {
		if k != "type" && k != "target" && k != "presence" {
			extra = append(extra, k)
			quoted = append(quoted, "'"+k+"'")
		}
	}
	if len(extra) > 0 {
		issues = append(issues, ojson.NewObject("code", "unrecognized_keys", "keys", extra, "path", []any{},
			"message", "Unrecognized key(s) in object: "+strings.Join(quoted, ", ")))
	}
	return issues
}

func (a *locationsAPI) list(c echo.Context) error {
	if err := openapiquery.Parse(c.Request().URL.RawQuery).Validate(nil); err != nil {
		return err
	}
	rows, err := a.svc.List(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]any, len(rows))
	for i, l := range rows {
		out[i] = ojson.NewObject("data", locationJSON(l))
	}
	return writeJSON(c, http.StatusOK, out)
}

func (a *locationsAPI) get(c echo.Context) error {
	if err := openapiquery.Parse(c.Request().URL.RawQuery).Validate(nil); err != nil {
		return err
	}
	l, err := a.svc.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, locationJSON(l))
}

func (a *locationsAPI) update(c echo.Context) error {
	body, _, err := readBody(c, nil, locationInputBody)
	if err != nil {
		return err
	}
	l, err := a.svc.Update(c.Request().Context(), c.Param("id"),
		locations.Input{Type: body.String("type"), Target: body.String("target")})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, locationJSON(l))
}

func (a *locationsAPI) remove(c echo.Context) error {
	if err := openapiquery.Parse(c.Request().URL.RawQuery).Validate(nil); err != nil {
		return err
	}
	if err := a.svc.Delete(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *locationsAPI) byEntity(c echo.Context) error {
	if err := openapiquery.Parse(c.Request().URL.RawQuery).Validate(nil); err != nil {
		return err
	}
	l, err := a.svc.ByEntity(c.Request().Context(), c.Param("kind"), c.Param("namespace"), c.Param("name"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, locationJSON(l))
}

func (a *locationsAPI) query(c echo.Context) error {
	body, _, err := readBody(c, nil, locationsQueryBody)
	if err != nil {
		return err
	}
	q, err := parseLocationsQuery(body)
	if err != nil {
		return err
	}
	res, err := a.svc.Query(c.Request().Context(), q)
	if err != nil {
		return err
	}
	items := make([]any, len(res.Items))
	for i, l := range res.Items {
		items[i] = ojson.NewObject("id", l.ID, "target", l.Target, "type", l.Type, "entityRef", l.EntityRef())
	}
	page := &ojson.Object{}
	if res.More && len(res.Items) > 0 {
		cur := ojson.NewObject("limit", q.Limit, "afterId", res.Items[len(res.Items)-1].ID)
		if q.Predicate != nil {
			cur.Set("query", q.Predicate)
		}
		page.Set("nextCursor", base64.StdEncoding.EncodeToString(ojson.MustMarshal(cur)))
	}
	return writeJSON(c, http.StatusOK, ojson.NewObject("items", items, "totalItems", res.TotalItems, "pageInfo", page))
}

// parseLocationsQuery reads a by-query body: a cursor carries the whole
// request (limit, afterId, query); without one, limit defaults to 1000.
func parseLocationsQuery(body *ojson.Object) (locations.Query, error) {
	if cv, ok := body.Get("cursor"); ok {
		cs, _ := cv.(string)
		if cs == "" {
			return locations.Query{}, backend.Input("Cursor cannot be empty")
		}
		text := decodeUTF8JS(decodeBase64Lenient(cs))
		if v8JSONParseError(text) != "" {
			return locations.Query{}, backend.Input("Malformed cursor, unknown encoding")
		}
		v, err := ojson.Decode([]byte(text.String()))
		if err != nil {
			return locations.Query{}, backend.Input("Malformed cursor, unknown encoding")
		}
		return parseLocationsCursor(v)
	}
	q := locations.Query{Limit: defaultLocationsLimit}
	if lv, ok := body.Get("limit"); ok {
		n, _ := lv.(ojson.Number)
		f := n.Float()
		if f != math.Trunc(f) || f < 1 || math.IsInf(f, 0) {
			return q, backend.Input("Limit must be a positive integer >= 1")
		}
		q.Limit = int32Clamp(f)
	}
	if pv, ok := body.Get("query"); ok {
		out, msg, err := validatePredicate(pv, nil)
		if err != nil {
			return q, err
		}
		if msg != "" {
			return q, backend.Input("Invalid query: %s", msg)
		}
		if _, isObj := out.(*ojson.Object); !isObj {
			return q, backend.Input("Query must be an object")
		}
		q.Predicate = out
	}
	return q, nil
}

func parseLocationsCursor(v any) (locations.Query, error) {
	// Backstage's locations cursor schema: {limit: int >= 1, afterId?,
	// query?}, its issues in zod-validation-error's one-line form.
	if err := membersDepthError(v, "query"); err != nil {
		return locations.Query{}, err
	}
	schema := zObject(false,
		zfield{"limit", zInt(1)},
		zfield{"afterId", zOptional(zString(nil))},
		zfield{"query", zOptional(newPredicateSchemas().predicate)},
	)
	out, issues := zValidate(schema, v, nil)
	if issues != nil {
		return locations.Query{}, backend.Input("Malformed cursor: %s", formatZodIssues(issues))
	}
	parsed := out.(*ojson.Object)
	limit, _ := parsed.Get("limit")
	q := locations.Query{Limit: int32Clamp(limit.(ojson.Number).Float()), AfterID: parsed.String("afterId")}
	if p, present := parsed.Get("query"); present {
		q.Predicate = p
	}
	if q.Predicate != nil {
		if _, isObj := q.Predicate.(*ojson.Object); !isObj {
			return q, backend.Input("Query must be an object")
		}
	}
	return q, nil
}

func (a *locationsAPI) analyze(c echo.Context) error {
	body, _, err := readBody(c, nil, analyzeLocationBody)
	if err != nil {
		return err
	}
	loc := body.Object("location")
	// The handler's own schema spells it catalogFilename (the spec's
	// catalogFileName passes validation but is not read).
	filename, _ := getOr(body, "catalogFilename").(string)
	res, err := a.svc.Analyze(c.Request().Context(), loc.String("type"), loc.String("target"), filename)
	if err != nil {
		return err
	}
	existing := make([]any, len(res.Existing))
	for i, f := range res.Existing {
		existing[i] = ojson.NewObject(
			"location", ojson.NewObject("type", "url", "target", f.Target),
			"isRegistered", f.IsRegistered,
			"entity", f.Entity)
	}
	generated := make([]any, len(res.Generated))
	for i, g := range res.Generated {
		generated[i] = ojson.NewObject("entity", g.Entity, "fields", []any{})
	}
	return writeJSON(c, http.StatusOK, ojson.NewObject("existingEntityFiles", existing, "generateEntities", generated))
}
