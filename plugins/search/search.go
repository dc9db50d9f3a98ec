// Package search answers Backstage's search API (GET /api/search/query)
// over the catalog alone: the "software-catalog" document type of
// Backstage's catalog collator, matched on an entity's name, title,
// description and tags. It has no index of its own; every query reads the
// catalog, which keeps results current without a collator schedule.
package search

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
)

// DocumentType is the type of the catalog's search documents.
const DocumentType = "software-catalog"

// Page sizes, as Backstage's search backend bounds pageLimit.
const (
	defaultPageLimit = 25
	maxPageLimit     = 100
)

// Highlight tags around matches; the frontend splits highlighted text on
// the tags the response names, so any unlikely string works.
const (
	preTag  = "<understage-match>"
	postTag = "</understage-match>"
)

// Options configures Register.
type Options struct {
	Catalog catalog.Reader
}

// Register mounts GET /query on the search plugin's router.
func Register(g *echo.Group, o Options) {
	g.GET("/query", func(c echo.Context) error { return query(c, o.Catalog) })
}

// Document is a search document as Backstage's catalog collator writes it.
type Document struct {
	Title         string        `json:"title"`
	Text          string        `json:"text"`
	Location      string        `json:"location"`
	Kind          string        `json:"kind"`
	Namespace     string        `json:"namespace"`
	Name          string        `json:"name"`
	ComponentType string        `json:"componentType"`
	Type          string        `json:"type"`
	Lifecycle     string        `json:"lifecycle"`
	Owner         string        `json:"owner"`
	Authorization Authorization `json:"authorization"`
}

// Authorization names the entity a document stands for.
type Authorization struct {
	ResourceRef string `json:"resourceRef"`
}

// Result is one ranked hit.
type Result struct {
	Type      string     `json:"type"`
	Document  Document   `json:"document"`
	Highlight *Highlight `json:"highlight,omitempty"`
	Rank      int        `json:"rank"`
}

// Highlight marks the matched terms in a document's fields.
type Highlight struct {
	PreTag  string            `json:"preTag"`
	PostTag string            `json:"postTag"`
	Fields  map[string]string `json:"fields"`
}

// Response is the body of GET /query.
type Response struct {
	Results            []Result `json:"results"`
	NextPageCursor     string   `json:"nextPageCursor,omitempty"`
	PreviousPageCursor string   `json:"previousPageCursor,omitempty"`
	NumberOfResults    int      `json:"numberOfResults"`
}

// Query is a parsed search request.
type Query struct {
	Term    string
	Types   []string
	Filters map[string]string
	Page    int
	Limit   int
}

// ParseQuery reads the query string the way the frontend's SearchClient
// writes it with qs: term, types[0]=…, filters[kind]=…, pageCursor,
// pageLimit.
func ParseQuery(q map[string][]string) (Query, error) {
	out := Query{Filters: map[string]string{}, Limit: defaultPageLimit}
	for key, vals := range q {
		if len(vals) == 0 {
			continue
		}
		v := vals[len(vals)-1]
		switch {
		case key == "term":
			out.Term = strings.TrimSpace(v)
		case key == "types" || strings.HasPrefix(key, "types["):
			out.Types = append(out.Types, vals...)
		case strings.HasPrefix(key, "filters[") && strings.HasSuffix(key, "]"):
			out.Filters[key[len("filters["):len(key)-1]] = v
		case key == "pageCursor":
			page, err := decodeCursor(v)
			if err != nil {
				return out, err
			}
			out.Page = page
		case key == "pageLimit":
			n, err := strconv.Atoi(v)
			// 0 asks only for numberOfResults (the search page's tab counts).
			if err != nil || n < 0 {
				return out, backend.Input("pageLimit must be a non-negative integer")
			}
			if n > maxPageLimit {
				return out, backend.Input("The maximum pageLimit allowed is %d", maxPageLimit)
			}
			out.Limit = n
		}
	}
	sort.Strings(out.Types)
	return out, nil
}

// Cursors are the base64 of the page number, as Backstage's Lunr engine
// writes them.
func encodeCursor(page int) string {
	return base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(page)))
}

func decodeCursor(s string) (int, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return 0, backend.Input("Invalid page cursor")
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return 0, backend.Input("Invalid page cursor")
	}
	return n, nil
}

func query(c echo.Context, reader catalog.Reader) error {
	q, err := ParseQuery(c.QueryParams())
	if err != nil {
		return err
	}
	res, err := Run(c.Request().Context(), reader, q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// entity is the part of a stitched entity a document needs.
type entity struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name        string   `json:"name"`
		Namespace   string   `json:"namespace"`
		Title       string   `json:"title"`
		Description string   `json:"description"`
		Tags        []string `json:"tags"`
	} `json:"metadata"`
	Spec struct {
		Type      any `json:"type"`
		Lifecycle any `json:"lifecycle"`
		Owner     any `json:"owner"`
	} `json:"spec"`
}

type hit struct {
	score int
	e     entity
}

// Run answers q over the whole catalog.
func Run(ctx context.Context, reader catalog.Reader, q Query) (Response, error) {
	out := Response{Results: []Result{}}
	if len(q.Types) > 0 && !contains(q.Types, DocumentType) {
		return out, nil
	}
	list, err := reader.ListEntities(ctx, catalog.EntitiesRequest{})
	if err != nil {
		return out, fmt.Errorf("search: read catalog: %w", err)
	}
	terms := strings.Fields(strings.ToLower(q.Term))
	var hits []hit
	for _, raw := range list.Entities {
		var e entity
		if err := json.Unmarshal(raw, &e); err != nil {
			return out, fmt.Errorf("search: decode entity: %w", err)
		}
		if e.Metadata.Namespace == "" {
			e.Metadata.Namespace = "default"
		}
		doc := document(e)
		if !matchesFilters(doc, q.Filters) {
			continue
		}
		s, ok := score(e, terms)
		if !ok {
			continue
		}
		hits = append(hits, hit{s, e})
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].score != hits[j].score {
			return hits[i].score > hits[j].score
		}
		return strings.ToLower(title(hits[i].e)) < strings.ToLower(title(hits[j].e))
	})
	out.NumberOfResults = len(hits)
	from := q.Page * q.Limit
	if from > len(hits) {
		from = len(hits)
	}
	to := min(from+q.Limit, len(hits))
	for i, h := range hits[from:to] {
		doc := document(h.e)
		r := Result{Type: DocumentType, Document: doc, Rank: from + i + 1}
		if len(terms) > 0 {
			r.Highlight = &Highlight{PreTag: preTag, PostTag: postTag, Fields: map[string]string{
				"title": mark(doc.Title, terms),
				"text":  mark(doc.Text, terms),
			}}
		}
		out.Results = append(out.Results, r)
	}
	if to < len(hits) && q.Limit > 0 {
		out.NextPageCursor = encodeCursor(q.Page + 1)
	}
	if q.Page > 0 {
		out.PreviousPageCursor = encodeCursor(q.Page - 1)
	}
	return out, nil
}

func title(e entity) string {
	if e.Metadata.Title != "" {
		return e.Metadata.Title
	}
	return e.Metadata.Name
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func document(e entity) Document {
	kind := strings.ToLower(e.Kind)
	typ := str(e.Spec.Type)
	if typ == "" {
		typ = "other"
	}
	ref := kind + ":" + e.Metadata.Namespace + "/" + e.Metadata.Name
	return Document{
		Title:         title(e),
		Text:          e.Metadata.Description,
		Location:      "/catalog/" + e.Metadata.Namespace + "/" + kind + "/" + e.Metadata.Name,
		Kind:          e.Kind,
		Namespace:     e.Metadata.Namespace,
		Name:          e.Metadata.Name,
		ComponentType: typ,
		Type:          typ,
		Lifecycle:     str(e.Spec.Lifecycle),
		Owner:         str(e.Spec.Owner),
		Authorization: Authorization{ResourceRef: ref},
	}
}

// matchesFilters compares filters[field]=value with the document's field
// of that name, ignoring case (the search page's kind and lifecycle
// filters send "Component", "production").
func matchesFilters(d Document, filters map[string]string) bool {
	for k, want := range filters {
		var have string
		switch k {
		case "kind":
			have = d.Kind
		case "namespace":
			have = d.Namespace
		case "type":
			have = d.Type
		case "componentType":
			have = d.ComponentType
		case "lifecycle":
			have = d.Lifecycle
		case "owner":
			have = d.Owner
		case "name":
			have = d.Name
		default:
			return false
		}
		if !strings.EqualFold(have, want) {
			return false
		}
	}
	return true
}

// score requires every term to occur in the name, title, description or
// tags, and weighs where it occurs: an exact name first, then a name or
// title prefix, then anywhere in them, then tags, then the description.
func score(e entity, terms []string) (int, bool) {
	if len(terms) == 0 {
		return 0, true
	}
	name := strings.ToLower(e.Metadata.Name)
	ttl := strings.ToLower(e.Metadata.Title)
	desc := strings.ToLower(e.Metadata.Description)
	total := 0
	for _, t := range terms {
		best := 0
		switch {
		case name == t:
			best = 100
		case strings.HasPrefix(name, t) || strings.HasPrefix(ttl, t):
			best = 50
		case strings.Contains(name, t) || strings.Contains(ttl, t):
			best = 30
		}
		for _, tag := range e.Metadata.Tags {
			tag = strings.ToLower(tag)
			if tag == t {
				best = max(best, 40)
			} else if strings.Contains(tag, t) {
				best = max(best, 20)
			}
		}
		if best == 0 && strings.Contains(desc, t) {
			best = 10
		}
		if best == 0 {
			return 0, false
		}
		total += best
	}
	return total, true
}

// mark wraps each case-insensitive occurrence of a term in the tags.
func mark(s string, terms []string) string {
	if s == "" {
		return s
	}
	parts := make([]string, 0, len(terms))
	for _, t := range terms {
		parts = append(parts, regexp.QuoteMeta(t))
	}
	re := regexp.MustCompile("(?i)(" + strings.Join(parts, "|") + ")")
	return re.ReplaceAllString(s, preTag+"${1}"+postTag)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
