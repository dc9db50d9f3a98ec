// Package httpapi mounts the catalog's entity read API (Backstage's
// /api/catalog routes) on an echo group and parses its query languages.
package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/backend/openapiquery"
	"github.com/understage/understage/plugins/permission"
)

// Options are the dependencies of the routes.
type Options struct {
	Reader catalog.Reader
	Writer catalog.Writer
	// Validator serves POST /validate-entity; nil leaves the route out.
	Validator EntityValidator
	Logger    *slog.Logger
	// Permissions enforces the catalog's permissions (permissions.go); nil
	// allows everything.
	Permissions permission.Authorizer
}

// EntityValidator runs the catalog's processing on an entity without
// storing anything, returning Backstage's serialized errors (none = valid).
type EntityValidator interface {
	ValidateEntity(ctx context.Context, entity *ojson.Object, location string) []catalog.SerializedError
}

const jsonContentType = "application/json; charset=utf-8"

// defaultQueryLimit is by-query's page size when none is given (Backstage's code default).
const defaultQueryLimit = 200

type api struct {
	Options
	// lists are the buffers of entity lists being written (writeEntityList),
	// reused across requests: a page's buffer is as large as the page.
	lists sync.Pool
}

// Register mounts the entity routes on g (normally /api/catalog).
func Register(g *echo.Group, o Options) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Permissions == nil {
		o.Permissions = permission.Disabled{}
	}
	a := &api{Options: o}
	g.POST("/refresh", a.refresh)
	g.GET("/entities", a.listEntities)
	g.GET("/entities/by-query", a.queryEntitiesGet)
	g.POST("/entities/by-query", a.queryEntitiesPost)
	g.GET("/entities/by-uid/:uid", a.entityByUID)
	g.DELETE("/entities/by-uid/:uid", a.deleteByUID)
	g.GET("/entities/by-name/:kind/:namespace/:name", a.entityByName)
	g.GET("/entities/by-name/:kind/:namespace/:name/ancestry", a.ancestry)
	g.POST("/entities/by-refs", a.byRefs)
	g.GET("/entity-facets", a.facetsGet)
	g.POST("/entity-facets", a.facetsPost)
	if o.Validator != nil {
		g.POST("/validate-entity", a.validateEntity)
	}
}

// validateEntity answers 200 with no body for a valid entity, else 400
// with {"errors": [...]} (not the error envelope), as Backstage does.
func (a *api) validateEntity(c echo.Context) error {
	body, _, err := readBody(c, nil, validateEntityBody)
	if err != nil {
		return err
	}
	if err := a.authorizeBasic(c, permission.CatalogEntityValidate); err != nil {
		return err
	}
	entity := body.Object("entity")
	errs := a.Validator.ValidateEntity(c.Request().Context(), entity, body.String("location"))
	if len(errs) == 0 {
		return c.NoContent(http.StatusOK)
	}
	list := make([]any, len(errs))
	for i, e := range errs {
		list[i] = serializedError(e)
	}
	return c.Blob(http.StatusBadRequest, jsonContentType, ojson.MustMarshal(ojson.NewObject("errors", list)))
}

func serializedError(e catalog.SerializedError) *ojson.Object {
	o := ojson.NewObject("name", e.Name, "message", e.Message)
	if e.Cause != nil {
		o.Set("cause", serializedError(*e.Cause))
	}
	return o
}

// readBody decodes a JSON request body like express.json(): no body is an
// empty object; a body with another media type is rejected; text that is
// not JSON gets V8's message. The query string is checked against params
// after parsing and before the body's schema, Backstage's order.
func readBody(c echo.Context, params []openapiquery.Param, rule bodyRule) (*ojson.Object, *openapiquery.Values, error) {
	q := openapiquery.Parse(c.Request().URL.RawQuery)
	o, err := decodeBody(c, params, q, rule)
	return o, q, err
}

func decodeBody(c echo.Context, params []openapiquery.Param, q *openapiquery.Values, rule bodyRule) (*ojson.Object, error) {
	var v any = &ojson.Object{}
	ct := c.Request().Header.Get(echo.HeaderContentType)
	// body-parser parses only a JSON media type with well-formed parameters
	// (else the body stays {}); the route's validation then refuses any
	// other media type. The charset is checked before the body is read.
	parse, decode, utf8Body := true, decodeUTF8JS, true
	if ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return nil, backend.Input("unsupported media type %s", strings.ToLower(strings.TrimSpace(ct)))
		}
		if _, ps, err := mime.ParseMediaType(ct); err != nil {
			parse = false
		} else if decode, err = charsetDecoder(ps["charset"]); err != nil {
			return nil, err
		} else {
			utf8Body = isUTF8Charset(ps["charset"])
		}
	}
	if parse {
		// express.json()'s limit: a larger body is an InputError, read no further.
		raw, err := httpserver.ReadBody(c, httpserver.DefaultBodyLimit)
		if err != nil {
			return nil, err
		}
		if len(raw) > 0 && ct == "" {
			return nil, backend.Input("unsupported media type ")
		}
		// The body is decoded (a leading BOM dropped) before parsing. A
		// well-formed UTF-8 body without a BOM is its own decoding, and an
		// object or array Go finds valid JSON, strict body-parser does too:
		// only the others need the JavaScript-exact path, for its messages.
		var utf8Text []byte
		plain := utf8Body && plainJSONBody(raw)
		if plain {
			utf8Text = raw
		} else {
			text := decode(raw)
			if len(text) > 0 && text[0] == 0xFEFF {
				text = text[1:]
			}
			if len(text) > 0 {
				if msg := bodyParseError(text); msg != "" {
					return nil, backend.Input("%s", msg)
				}
				utf8Text = []byte(text.String())
			}
		}
		if len(utf8Text) > 0 {
			if bodyDepthExceeds(utf8Text, maxBodyDepth) {
				return nil, backend.Input("Request body nested deeper than %d levels is not supported", maxBodyDepth)
			}
			parseJSON := ojson.Decode
			if plain {
				parseJSON = ojson.DecodeValid
			}
			if v, err = parseJSON(utf8Text); err != nil {
				return nil, backend.Input("%s", err.Error())
			}
		}
	}
	if err := q.Validate(params); err != nil {
		return nil, err
	}
	if m := rule(v, "request/body"); m != "" {
		return nil, backend.Input("%s", m)
	}
	return v.(*ojson.Object), nil
}

// plainJSONBody reports whether b is well-formed UTF-8 without a BOM
// holding valid JSON that starts, after whitespace, an object or an array
// (body-parser's strict mode takes nothing else).
func plainJSONBody(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[') && plainJSON(b)
}

// plainJSON reports whether b is well-formed UTF-8 holding valid JSON: its
// own decoding, and valid to JSON.parse too, so that only other input needs
// the JavaScript-exact path (for its messages).
func plainJSON(b []byte) bool {
	return utf8.Valid(b) && json.Valid(b)
}

func stringList(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, el := range arr {
		s, _ := el.(string)
		out = append(out, s)
	}
	return out
}

func (a *api) refresh(c echo.Context) error {
	body, _, err := readBody(c, nil, refreshBody)
	if err != nil {
		return err
	}
	ref := body.String("entityRef")
	if err := a.authorizeEntity(c.Request().Context(), permission.CatalogEntityRefresh, ref, ""); err != nil {
		return err
	}
	if err := a.Writer.RequestRefresh(c.Request().Context(), ref); err != nil {
		if backend.KindOf(err) == backend.ErrNotFound {
			return &backend.Error{Kind: backend.ErrNotFound, Message: fmt.Sprintf("Entity %s not found", ref), Cause: err}
		}
		return fmt.Errorf("refresh %s: %w", ref, err)
	}
	return c.NoContent(http.StatusOK)
}

func (a *api) listEntities(c echo.Context) error {
	q := openapiquery.Parse(c.Request().URL.RawQuery)
	if err := q.Validate(entitiesParams); err != nil {
		return err
	}
	filter, err := ParseFilterParams(q.List("filter"))
	if err != nil {
		return err
	}
	fields, err := ParseFields(q.List("fields"))
	if err != nil {
		return err
	}
	order, err := ParseOrderParams(q.List("order"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	perm, deny, err := a.readFilter(ctx)
	if err != nil {
		return err
	}
	if deny {
		return a.writeEntityList(c, nil, nil, "", "")
	}
	filter = and(filter, perm)
	paginated := q.Has("limit") || q.Has("offset") || q.Has("after")
	if !paginated {
		// Backstage streams the unpaginated listing through its by-query
		// engine, which honours only the first order field.
		if len(order) > 1 {
			order = order[:1]
		}
		res, err := a.Reader.ListEntities(ctx, catalog.EntitiesRequest{Filter: filter, Order: order})
		if err != nil {
			return fmt.Errorf("list entities: %w", err)
		}
		return a.writeEntityList(c, res.Entities, fields, "", "")
	}
	limit, hasLimit := queryInt(q, "limit")
	if inf, ok := queryInf(q, "limit"); ok {
		// Infinity reads every row; -Infinity is refused just below.
		limit, hasLimit = math.MaxInt32, true
		if inf < 0 {
			limit = -1
		}
	}
	if hasLimit && limit <= 0 {
		return backend.Input("Invalid limit, must be greater than zero")
	}
	// An infinite offset is refused when negative and otherwise ignored,
	// as Backstage's query builder ignores it.
	if inf, _ := queryInf(q, "offset"); inf < 0 {
		return backend.Input("Invalid offset, must be zero or greater")
	}
	offset, _ := queryInt(q, "offset")
	if q.Has("after") {
		l, o, err := parseAfter(q.First("after"))
		if err != nil {
			return err
		}
		if l != nil {
			limit, hasLimit = *l, true
		}
		if o != nil {
			offset = *o
		}
	}
	req := catalog.EntitiesRequest{Filter: filter, Order: order, Offset: offset}
	if hasLimit {
		req.Limit = limit
	}
	res, err := a.Reader.ListEntities(ctx, req)
	if err != nil {
		return fmt.Errorf("list entities: %w", err)
	}
	if hasLimit && res.HasMore {
		after := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"limit":%d,"offset":%d}`, limit, offset+limit)))
		c.Response().Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", nextLink(c, after)))
	}
	return a.writeEntityList(c, res.Entities, fields, "", "")
}

// parseAfter decodes the legacy listing cursor {limit, offset}.
func parseAfter(after string) (limit, offset *int, err error) {
	v, derr := ojson.Decode(decodeBase64Lenient(after))
	o, ok := v.(*ojson.Object)
	if derr != nil || !ok {
		return nil, nil, backend.Input("Malformed after cursor, could not be parsed")
	}
	get := func(key, msg string) (*int, error) {
		x, present := o.Get(key)
		if !present {
			return nil, nil
		}
		n, ok := x.(ojson.Number)
		if !ok || !n.Finite() || n.Float() != math.Trunc(n.Float()) {
			return nil, backend.Input("%s", msg)
		}
		i := int32Clamp(n.Float())
		return &i, nil
	}
	if limit, err = get("limit", "Malformed after cursor, limit was not an number"); err != nil {
		return nil, nil, err
	}
	if offset, err = get("offset", "Malformed after cursor, offset was not a number"); err != nil {
		return nil, nil, err
	}
	return limit, offset, nil
}

// nextLink rebuilds the request URL (relative to the catalog mount) without
// offset and with after set, serialised like WHATWG URLSearchParams.
func nextLink(c echo.Context, after string) string {
	path := c.Request().URL.EscapedPath()
	if route := c.Path(); strings.HasSuffix(route, "/entities") {
		path = strings.TrimPrefix(path, strings.TrimSuffix(route, "/entities"))
	}
	type pair struct{ k, v string }
	var pairs []pair
	for _, part := range strings.Split(c.Request().URL.RawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		pairs = append(pairs, pair{k, v})
	}
	var out []pair
	set := false
	for _, p := range pairs {
		switch p.k {
		case "offset":
			continue
		case "after":
			if !set {
				out = append(out, pair{"after", after})
				set = true
			}
			continue
		}
		out = append(out, p)
	}
	if !set {
		out = append(out, pair{"after", after})
	}
	parts := make([]string, len(out))
	for i, p := range out {
		parts[i] = formEncode(p.k) + "=" + formEncode(p.v)
	}
	return path + "?" + strings.Join(parts, "&")
}

// formEncode is the application/x-www-form-urlencoded byte serializer.
func formEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9',
			ch == '*', ch == '-', ch == '.', ch == '_':
			b.WriteByte(ch)
		case ch == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// listFlushAt is how much of an entity list is buffered before a write.
const listFlushAt = 64 << 10

// writeEntityList writes prefix + JSON array of entities + suffix, streaming
// each entity as stored unless a projection is asked for.
func (a *api) writeEntityList(c echo.Context, entities []catalog.RawEntity, fields []string, prefix, suffix string) error {
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, jsonContentType)
	res.WriteHeader(http.StatusOK)
	// The buffer is sized once instead of by doublings (unprojected
	// entities are written as stored, so their sizes are known) and comes
	// from the buffers of earlier requests.
	size := len(prefix) + len(suffix) + len(entities) + 2
	for _, e := range entities {
		size += len(e)
	}
	buf, _ := a.lists.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	// Written out by the time this returns (the response copies or sends
	// it). One huge entity can grow it: that one is not kept.
	defer func() {
		if buf.Cap() <= 2*(listFlushAt+8<<10) {
			buf.Reset()
			a.lists.Put(buf)
		}
	}()
	buf.Grow(min(size, listFlushAt+8<<10))
	buf.WriteString(prefix)
	buf.WriteByte('[')
	for i, e := range entities {
		if i > 0 {
			buf.WriteByte(',')
		}
		if e == nil {
			buf.WriteString("null")
		} else if fields != nil {
			p, err := project(e, fields)
			if err != nil {
				return err
			}
			buf.Write(p)
		} else {
			buf.Write(e)
		}
		if buf.Len() > listFlushAt {
			if _, err := res.Write(buf.Bytes()); err != nil {
				return nil // client went away
			}
			res.Flush()
			buf.Reset()
		}
	}
	buf.WriteByte(']')
	buf.WriteString(suffix)
	_, _ = res.Write(buf.Bytes())
	return nil
}

// project keeps only the requested dotted paths of an entity (the model's
// projection: nesting kept, dotted keys, array indexes).
func project(raw catalog.RawEntity, fields []string) ([]byte, error) {
	e, err := ojson.DecodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("decode stored entity: %w", err)
	}
	return ojson.Marshal(model.Project(e, fields))
}

// queryInput is a by-query request after route-specific parsing.
type queryInput struct {
	cursor   *Cursor // set on cursor requests
	query    any     // validated predicate, nil = none
	orders   []orderField
	fullText *CursorFullText
	fields   []string
	limit    *float64
	offset   int
	exclude  bool
}

func (a *api) queryEntitiesGet(c echo.Context) error {
	q := openapiquery.Parse(c.Request().URL.RawQuery)
	if err := q.Validate(byQueryParams); err != nil {
		return err
	}
	in := queryInput{}
	if l, ok := queryInt(q, "limit"); ok {
		f := float64(l)
		in.limit = &f
	}
	if inf, ok := queryInf(q, "limit"); ok {
		in.limit = &inf // runQuery reads everything, or fails as Backstage does below zero
	}
	in.offset, _ = queryInt(q, "offset") // an infinite offset is ignored, as in Backstage
	fields, err := ParseFields(q.List("fields"))
	if err != nil {
		return err
	}
	in.fields = fields
	if q.Has("cursor") && q.First("cursor") != "" {
		cur, err := DecodeCursor(q.First("cursor"))
		if err != nil {
			return err
		}
		in.cursor = &cur
		return a.runQuery(c, in)
	}
	pred, err := FilterParamsPredicate(q.List("filter"))
	if err != nil {
		return err
	}
	if pred != nil {
		in.query = pred
	}
	if in.orders, err = parseOrderFieldParams(q.List("orderField")); err != nil {
		return err
	}
	in.fullText = &CursorFullText{Term: q.First("fullTextFilterTerm")}
	if q.Has("fullTextFilterFields") {
		in.fullText.Fields = strings.Split(q.First("fullTextFilterFields"), ",")
	}
	in.exclude = q.First("totalItems") == "exclude"
	return a.runQuery(c, in)
}

func (a *api) queryEntitiesPost(c echo.Context) error {
	body, _, err := readBody(c, nil, byQueryBody)
	if err != nil {
		return err
	}
	in := queryInput{}
	if l, ok := body.Get("limit"); ok {
		f := l.(ojson.Number).Float()
		in.limit = &f
	}
	if cv, ok := body.Get("cursor"); ok {
		s := cv.(string)
		if s == "" {
			return backend.Input("Cursor cannot be empty")
		}
		cur, err := DecodeCursor(s)
		if err != nil {
			return err
		}
		in.cursor = &cur
	} else {
		if qv, ok := body.Get("query"); ok {
			out, msg, err := validatePredicate(qv, nil)
			if err != nil {
				return err
			}
			if msg != "" {
				return backend.Input("Invalid query: %s", msg)
			}
			in.query = out
		}
		if ob, ok := body.Get("orderBy"); ok {
			if err := orderCountError(len(ob.([]any))); err != nil {
				return err
			}
			for _, el := range ob.([]any) {
				o := el.(*ojson.Object)
				in.orders = append(in.orders, orderField{Field: o.String("field"), Order: o.String("order")})
			}
		}
		if ft, ok := body.Get("fullTextFilter"); ok {
			in.fullText = fullTextFilter(ft.(*ojson.Object))
		}
		if off, ok := body.Get("offset"); ok {
			in.offset = int32Clamp(off.(ojson.Number).Float())
		}
		in.exclude = body.String("totalItems") == "exclude"
	}
	if fs, ok := body.Get("fields"); ok {
		if in.fields, err = ParseFields(stringList(fs)); err != nil {
			return err
		}
	}
	return a.runQuery(c, in)
}

// runQuery executes one by-query page the way Backstage's keyset paging
// does and writes {items, totalItems, pageInfo}.
func (a *api) runQuery(c echo.Context, in queryInput) error {
	limit := defaultQueryLimit
	if in.limit != nil {
		if *in.limit < 0 {
			// Node fails allocating the page array: a 500 RangeError.
			return &backend.Error{Kind: backend.ErrRange, Message: "Invalid array length"}
		}
		// A limit beyond any catalog (1e300) reads everything, as in
		// Backstage; Go's conversion would wrap it to a negative int.
		limit = int32Clamp(math.Floor(*in.limit))
	}
	cur := Cursor{}
	initial := in.cursor == nil
	if initial {
		for _, o := range in.orders {
			cur.OrderFields = append(cur.OrderFields, CursorOrderField(o))
		}
		cur.Query = in.query
		cur.FullTextFilter = in.fullText
	} else {
		cur = *in.cursor
	}
	if err := orderCountError(len(cur.OrderFields)); err != nil {
		return err
	}
	if err := fullTextError(cur.FullTextFilter); err != nil {
		return err
	}
	var filter catalog.Filter
	if cur.Query != nil {
		f, err := CompilePredicate(cur.Query)
		if err != nil {
			return err
		}
		filter = f
	}
	if len(cur.OrderFields) > 1 {
		a.Logger.WarnContext(c.Request().Context(), "Only one sort field is supported, ignoring the rest")
	}
	// The permission filter is the caller's, applied afresh on every page;
	// it never goes into the cursor.
	perm, deny, err := a.readFilter(c.Request().Context())
	if err != nil {
		return err
	}
	if deny {
		return httpserver.WriteJSON(c, http.StatusOK, []byte(deniedQueryPage))
	}
	filter = and(filter, perm)
	req := catalog.QueryRequest{Filter: filter, Limit: limit, Backward: cur.IsPrevious}
	sorted := len(cur.OrderFields) > 0
	sortKey := ""
	if sorted {
		sortKey = strings.ToLower(cur.OrderFields[0].Field)
		req.OrderField = &catalog.Order{Field: sortKey, Desc: cur.OrderFields[0].Order == "desc"}
	}
	if cur.FullTextFilter != nil {
		req.FullText.Term = openapiquery.TrimSpace(cur.FullTextFilter.Term)
		fields := cur.FullTextFilter.Fields
		if fields == nil {
			fields = []string{"metadata.uid"}
			if sortKey != "" {
				fields = []string{sortKey}
			}
		}
		for _, f := range fields {
			req.FullText.Fields = append(req.FullText.Fields, strings.ToLower(f))
		}
	}
	if initial {
		req.Offset = in.offset
		req.CountTotal = !in.exclude
	}
	if cur.OrderFieldValues != nil {
		req.After = positionFromValues(cur.OrderFieldValues, sorted)
	}
	res := catalog.QueryResult{}
	if limit > 0 || req.CountTotal {
		var err error
		if res, err = a.Reader.QueryEntities(c.Request().Context(), req); err != nil {
			return fmt.Errorf("query entities: %w", err)
		}
	}
	if limit == 0 {
		res.Entities, res.HasMore = nil, false
	}
	total := ojson.Number(strconv.Itoa(res.TotalItems))
	switch {
	case cur.TotalItems != nil:
		total = *cur.TotalItems
	case !req.CountTotal:
		total = "0"
	}
	hasMore := limit > 0 && (cur.IsPrevious || res.HasMore)
	first := sortValues(res.First, sorted)
	pageInfo := &ojson.Object{}
	if hasMore {
		next := cur
		next.OrderFieldValues = sortValues(res.Last, sorted)
		next.FirstSortFieldValues = cur.FirstSortFieldValues
		if next.FirstSortFieldValues == nil {
			next.FirstSortFieldValues = first
		}
		next.IsPrevious = false
		next.TotalItems = &total
		pageInfo.Set("nextCursor", EncodeCursor(next))
	}
	if !initial && cur.FirstSortFieldValues != nil && len(res.Entities) > 0 && !equalValues(first, cur.FirstSortFieldValues) {
		prev := cur
		prev.OrderFieldValues = first
		prev.IsPrevious = true
		prev.TotalItems = &total
		pageInfo.Set("prevCursor", EncodeCursor(prev))
	}
	suffix := fmt.Sprintf(`,"totalItems":%s,"pageInfo":%s}`, total.JSON(), ojson.MustMarshal(pageInfo))
	return a.writeEntityList(c, res.Entities, in.fields, `{"items":`, suffix)
}

func (a *api) entityByUID(c echo.Context) error {
	uid := c.Param("uid")
	perm, deny, err := a.readFilter(c.Request().Context())
	if err != nil {
		return err
	}
	var e catalog.RawEntity
	if deny {
		err = backend.NotFound("denied")
	} else {
		e, err = a.Reader.EntityByUID(c.Request().Context(), uid, perm)
	}
	if backend.KindOf(err) == backend.ErrNotFound || (err == nil && e == nil) {
		return backend.NotFound("No entity with uid %s", uid)
	}
	if err != nil {
		return fmt.Errorf("entity by uid: %w", err)
	}
	return c.Blob(http.StatusOK, jsonContentType, e)
}

func (a *api) deleteByUID(c echo.Context) error {
	if err := a.authorizeEntity(c.Request().Context(), permission.CatalogEntityDelete, "", c.Param("uid")); err != nil {
		return err
	}
	if err := a.Writer.DeleteEntityByUID(c.Request().Context(), c.Param("uid")); err != nil {
		return fmt.Errorf("delete entity: %w", err)
	}
	return c.NoContent(http.StatusNoContent)
}

func refFromParams(c echo.Context) string {
	return strings.ToLower(c.Param("kind") + ":" + c.Param("namespace") + "/" + c.Param("name"))
}

func (a *api) entityByName(c echo.Context) error {
	perm, deny, err := a.readFilter(c.Request().Context())
	if err != nil {
		return err
	}
	var e catalog.RawEntity
	if deny {
		err = backend.NotFound("denied")
	} else {
		e, err = a.Reader.EntityByRef(c.Request().Context(), refFromParams(c), perm)
	}
	if backend.KindOf(err) == backend.ErrNotFound || (err == nil && e == nil) {
		return backend.NotFound("No entity named '%s' found, with kind '%s' in namespace '%s'",
			c.Param("name"), c.Param("kind"), c.Param("namespace"))
	}
	if err != nil {
		return fmt.Errorf("entity by name: %w", err)
	}
	return c.Blob(http.StatusOK, jsonContentType, e)
}

func (a *api) ancestry(c echo.Context) error {
	ref := refFromParams(c)
	perm, deny, err := a.readFilter(c.Request().Context())
	if err != nil {
		return err
	}
	if deny {
		return backend.NotAllowed("")
	}
	items, err := a.Reader.Ancestry(c.Request().Context(), ref)
	if backend.KindOf(err) == backend.ErrNotFound || (err == nil && len(items) == 0) {
		return backend.NotFound("No such entity %s", ref)
	}
	if err != nil {
		return fmt.Errorf("ancestry: %w", err)
	}
	if perm != nil {
		if items, err = a.allowedAncestry(c.Request().Context(), ref, items, perm); err != nil {
			return err
		}
	}
	root, err := ojson.DecodeObject(items[0].Entity)
	if err != nil {
		return fmt.Errorf("decode root entity: %w", err)
	}
	rootRef := model.EntityRef(root)
	var b bytes.Buffer
	b.WriteString(`{"rootEntityRef":`)
	b.Write(ojson.MustMarshal(rootRef))
	b.WriteString(`,"items":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		parents := make([]any, len(it.ParentEntityRefs))
		for j, p := range it.ParentEntityRefs {
			parents[j] = p
		}
		b.WriteString(`{"entity":`)
		b.Write(it.Entity)
		b.WriteString(`,"parentEntityRefs":`)
		b.Write(ojson.MustMarshal(parents))
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return c.Blob(http.StatusOK, jsonContentType, b.Bytes())
}

func (a *api) byRefs(c echo.Context) error {
	body, q, err := readBody(c, byRefsParams, byRefsBody)
	if err != nil {
		return err
	}
	var bodyQuery any
	if qv, ok := body.Get("query"); ok {
		out, msg, err := validatePredicate(qv, []any{"query"})
		if err != nil {
			return err
		}
		if msg != "" {
			return backend.Input("Malformed request body (did you remember to specify an application/json content type?), %s", msg)
		}
		bodyQuery = out
	}
	pred, err := FilterParamsPredicate(q.List("filter"))
	if err != nil {
		return err
	}
	var combined any
	switch {
	case pred != nil && bodyQuery != nil:
		combined = ojson.NewObject("$all", []any{pred, bodyQuery})
	case pred != nil:
		combined = pred
	default:
		combined = bodyQuery
	}
	var bodyFields []string
	if fs, ok := body.Get("fields"); ok {
		bodyFields = stringList(fs)
	}
	fields, err := ParseFields(bodyFields, q.List("fields"))
	if err != nil {
		return err
	}
	var filter catalog.Filter
	if combined != nil {
		if filter, err = CompilePredicate(combined); err != nil {
			return err
		}
	}
	refs := stringList(mustGet(body, "entityRefs"))
	perm, deny, err := a.readFilter(c.Request().Context())
	if err != nil {
		return err
	}
	if deny {
		return a.writeEntityList(c, make([]catalog.RawEntity, len(refs)), fields, `{"items":`, "}")
	}
	entities, err := a.Reader.EntitiesByRefs(c.Request().Context(), refs, and(filter, perm))
	if err != nil {
		return fmt.Errorf("entities by refs: %w", err)
	}
	// Backstage compares the refs verbatim with the stored lowercase refs,
	// so a ref with any upper-case letter finds nothing; the store itself
	// folds case, hence the check here.
	for i, r := range refs {
		if r != strings.ToLower(r) {
			entities[i] = nil
		}
	}
	return a.writeEntityList(c, entities, fields, `{"items":`, "}")
}

func mustGet(o *ojson.Object, key string) any {
	v, _ := o.Get(key)
	return v
}

func (a *api) facetsGet(c echo.Context) error {
	q := openapiquery.Parse(c.Request().URL.RawQuery)
	if err := q.Validate(facetsParams); err != nil {
		return err
	}
	filter, err := ParseFilterParams(q.List("filter"))
	if err != nil {
		return err
	}
	var facets []string
	for _, f := range q.List("facet") {
		if f != "" {
			facets = append(facets, f)
		}
	}
	if len(facets) == 0 {
		return backend.Input("Missing facet parameter")
	}
	if err := facetCountError(len(facets)); err != nil {
		return err
	}
	return a.writeFacets(c, facets, filter)
}

func (a *api) facetsPost(c echo.Context) error {
	body, _, err := readBody(c, nil, facetsBody)
	if err != nil {
		return err
	}
	var facets []string
	for _, f := range stringList(mustGet(body, "facets")) {
		if f != "" {
			facets = append(facets, f)
		}
	}
	if len(facets) == 0 {
		return backend.Input("Missing or empty facets parameter")
	}
	if err := facetCountError(len(facets)); err != nil {
		return err
	}
	var filter catalog.Filter
	if qv, ok := body.Get("query"); ok {
		out, msg, err := validatePredicate(qv, nil)
		if err != nil {
			return err
		}
		if msg != "" {
			return backend.Input("Invalid query: %s", msg)
		}
		if filter, err = CompilePredicate(out); err != nil {
			return err
		}
	}
	return a.writeFacets(c, facets, filter)
}

func (a *api) writeFacets(c echo.Context, facets []string, filter catalog.Filter) error {
	perm, deny, err := a.readFilter(c.Request().Context())
	if err != nil {
		return err
	}
	counts := map[string][]catalog.FacetCount{}
	if !deny {
		counts, err = a.Reader.Facets(c.Request().Context(), facets, and(filter, perm))
	}
	if err != nil {
		return fmt.Errorf("facets: %w", err)
	}
	return c.Blob(http.StatusOK, jsonContentType, facetsJSON(facets, counts))
}

// facetsJSON encodes the answer of entity-facets straight from the counts:
// a facet with a value per entity (relations.ownerOf) has as many values as
// the catalog has entities, too many for a tree of objects. A facet asked
// twice is written once, where it was first asked, as an object's keys are.
func facetsJSON(facets []string, counts map[string][]catalog.FacetCount) []byte {
	size := 16
	for _, f := range facets {
		size += len(f) + 8
		for _, fc := range counts[f] {
			size += len(fc.Value) + 32
		}
	}
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(`{"facets":{`)
	written := make(map[string]bool, len(facets))
	for _, f := range facets {
		if written[f] {
			continue
		}
		written[f] = true
		if len(written) > 1 {
			b.WriteByte(',')
		}
		ojson.WriteString(&b, f)
		b.WriteString(":[")
		for i, fc := range counts[f] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"value":`)
			ojson.WriteString(&b, fc.Value)
			b.WriteString(`,"count":`)
			b.WriteString(strconv.Itoa(fc.Count))
			b.WriteByte('}')
		}
		b.WriteByte(']')
	}
	b.WriteString("}}")
	return b.Bytes()
}
