package model

import (
	"regexp"
	"sort"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Annotations the catalog reads or writes.
const (
	AnnotationOrphan              = "backstage.io/orphan"
	AnnotationViewURL             = "backstage.io/view-url"
	AnnotationEditURL             = "backstage.io/edit-url"
	AnnotationManagedByLocation   = "backstage.io/managed-by-location"
	AnnotationManagedByOrigin     = "backstage.io/managed-by-origin-location"
	AnnotationSourceLocation      = "backstage.io/source-location"
	StatusCatalogProcessingType   = "backstage.io/catalog-processing"
	rejectedAnnotationReplacement = "https://backstage.io/annotation-rejected-for-security-reasons"
)

// reScriptURL matches a javascript: URL the way browsers parse one (leading
// control characters and embedded tabs/newlines ignored).
var reScriptURL = regexp.MustCompile(`(?i)^[\x00-\x1f ]*j[\r\n\t]*a[\r\n\t]*v[\r\n\t]*a[\r\n\t]*s[\r\n\t]*c[\r\n\t]*r[\r\n\t]*i[\r\n\t]*p[\r\n\t]*t[\r\n\t]*:`)

// serializedToObject renders a serialized error with Backstage's key order.
func serializedToObject(e catalog.SerializedError) *ojson.Object {
	o := ojson.NewObject("name", e.Name, "message", e.Message)
	if e.Cause != nil {
		o.Set("cause", serializedToObject(*e.Cause))
	}
	return o
}

func stitch(in StitchInput) (*ojson.Object, string) {
	e := in.Processed.Clone()
	md := e.EnsureObject("metadata")
	if in.Orphan {
		anns := md.Object("annotations")
		if anns == nil {
			anns = &ojson.Object{}
			md.Set("annotations", anns)
		}
		anns.Set(AnnotationOrphan, "true")
	}
	var statusItems []any
	for _, se := range in.Errors {
		statusItems = append(statusItems, ojson.NewObject(
			"type", StatusCatalogProcessingType,
			"level", "error",
			"message", se.Name+": "+se.Message,
			"error", serializedToObject(se)))
	}
	if anns := md.Object("annotations"); anns != nil {
		for _, a := range []string{AnnotationViewURL, AnnotationEditURL} {
			if s, ok := anns.Get(a); ok {
				if str, ok := s.(string); ok && reScriptURL.MatchString(str) {
					anns.Set(a, rejectedAnnotationReplacement)
				}
			}
		}
	}
	e.Set("relations", relationsValue(in.Relations))
	if len(statusItems) > 0 {
		status := e.Object("status")
		if status == nil {
			status = &ojson.Object{}
		}
		var items []any
		if old, ok := status.Get("items"); ok {
			items, _ = old.([]any)
		}
		status.Set("items", append(append([]any{}, items...), statusItems...))
		e.Set("status", status)
	}
	// The processing engine stores the uid in the processed entity, so the
	// hash Backstage computes covers it.
	md.Set("uid", in.UID)
	hash := stableHash(e)
	if etag, _ := md.Get("etag"); etag == nil || etag == "" || etag == false {
		md.Set("etag", hash)
	}
	return e, hash
}

// relationsValue renders relation rows as [{type,targetRef}], distinct and
// sorted by type then target (the stitcher's SELECT DISTINCT ... ORDER BY).
func relationsValue(rels []catalog.Relation) []any {
	type tt struct{ t, target string }
	uniq := make([]tt, 0, len(rels))
	seen := make(map[tt]bool, len(rels))
	for _, r := range rels {
		k := tt{r.Type, r.Target}
		if r.Type == "" || seen[k] {
			continue
		}
		seen[k] = true
		uniq = append(uniq, k)
	}
	sort.Slice(uniq, func(i, j int) bool {
		if uniq[i].t != uniq[j].t {
			return uniq[i].t < uniq[j].t
		}
		return uniq[i].target < uniq[j].target
	})
	out := make([]any, len(uniq))
	for i, r := range uniq {
		out[i] = ojson.NewObject("type", r.t, "targetRef", r.target)
	}
	return out
}
