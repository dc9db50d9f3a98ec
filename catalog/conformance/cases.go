package conformance

import (
	"encoding/base64"
	"net/http"
	"net/url"
)

// ReadCases covers the read routes of the catalog API (CONTRACT.md A.1) over
// the corpus in testdata/corpus: listing with filters, projections, ordering
// and pagination, by-query in both forms with cursors, full-text search and
// totals, single-entity lookups, ancestry, by-refs, facets, refresh, and the
// error answers to malformed input.
func ReadCases() []Case {
	const (
		entities = "/api/catalog/entities"
		byQuery  = "/api/catalog/entities/by-query"
		facets   = "/api/catalog/entity-facets"
		byRefs   = "/api/catalog/entities/by-refs"
		byName   = "/api/catalog/entities/by-name"
		byUID    = "/api/catalog/entities/by-uid"
	)
	follow := func(c Case) Case { c.FollowCursors = true; return c }
	q := url.QueryEscape
	// A well-formed base64 JSON cursor that is not a valid cursor object.
	wrongCursor := base64.StdEncoding.EncodeToString([]byte(`{"hello":"world"}`))

	return []Case{
		// GET /entities: the unpaginated stream is ordered by uid.
		get("entities/all", entities, Unordered),
		get("entities/filter-kind", entities+"?filter=kind=component", Unordered),
		get("entities/filter-and", entities+"?filter=kind=component,spec.type=service", Unordered),
		get("entities/filter-or-sets", entities+"?filter=kind=user&filter=kind=group", Unordered),
		get("entities/filter-same-key-in", entities+"?filter=kind=user,kind=domain", Unordered),
		get("entities/filter-namespace", entities+"?filter=metadata.namespace=ops", Unordered),
		get("entities/filter-case-insensitive", entities+"?filter=KIND=Component,metadata.labels.tier=BACKEND", Unordered),
		get("entities/filter-tags", entities+"?filter=metadata.tags=payments", Unordered),
		get("entities/filter-tag-as-key", entities+"?filter=metadata.tags.java", Unordered),
		get("entities/filter-exists", entities+"?filter=spec.system", Unordered),
		get("entities/filter-annotation", entities+"?filter="+q("metadata.annotations.backstage.io/techdocs-ref=dir:."), Unordered),
		get("entities/filter-relation", entities+"?filter=relations.ownedby=group:default/team-checkout", Unordered),
		get("entities/filter-relation-hasmember", entities+"?filter=relations.hasmember=user:default/bob", Unordered),
		get("entities/filter-mixed-case-name", entities+"?filter=metadata.name=dave.upper", Unordered),
		get("entities/filter-empty-value", entities+"?filter=spec.type=", Unordered),
		get("entities/filter-value-with-equals", entities+"?filter="+q("metadata.name=a=b"), Unordered),
		get("entities/filter-long-value", entities+"?filter=metadata.description="+q("Captures card payments and talks to the acquirer."), Unordered),
		get("entities/filter-empty-occurrence", entities+"?filter=&filter=kind=domain", Unordered),
		get("entities/filter-no-match", entities+"?filter=kind=nothing", Exact),
		get("entities/fields", entities+"?fields=kind,metadata.name", Unordered),
		get("entities/fields-repeated", entities+"?fields=metadata.name&fields=spec.type,relations", Unordered),
		get("entities/fields-dotted-key", entities+"?filter=kind=component&fields="+q("metadata.annotations.backstage.io/techdocs-ref,metadata.name"), Unordered),
		get("entities/fields-missing", entities+"?filter=kind=group&fields=spec.nothing", Unordered),
		get("entities/order-name-asc", entities+"?order=asc:metadata.name", Exact),
		get("entities/order-name-desc", entities+"?order=desc:metadata.name&fields=metadata.name", Exact),
		// 1.55 sorts by the first order field only; ties fall back to uid order.
		get("entities/order-multi", entities+"?order=asc:spec.type&order=desc:metadata.name&fields=kind,metadata.name,spec.type", Unordered),
		get("entities/order-missing-field", entities+"?order=asc:spec.lifecycle", Unordered),
		follow(get("entities/limit-link", entities+"?limit=7", Exact)),
		follow(get("entities/limit-filter-link", entities+"?limit=2&filter=kind=component&fields=metadata.name", Exact)),
		follow(get("entities/limit-order-link", entities+"?limit=5&order=desc:metadata.name&fields=metadata.name,kind", Exact)),
		get("entities/offset", entities+"?offset=5&limit=3", Exact),
		get("entities/offset-only", entities+"?offset=28&fields=metadata.name", Exact),
		get("entities/offset-past-end", entities+"?offset=500", Exact),
		get("bad/entities-limit-abc", entities+"?limit=abc", Exact),
		get("bad/entities-limit-zero", entities+"?limit=0", Exact),
		get("bad/entities-offset-negative", entities+"?offset=-1", Exact),
		get("bad/entities-after-garbage", entities+"?after=garbage", Exact),
		get("bad/entities-after-empty", entities+"?after=", Exact),
		get("bad/entities-filter-empty-key", entities+"?filter="+q("=x"), Exact),
		get("bad/entities-fields-bracket", entities+"?fields="+q("metadata.links[0]"), Exact),
		get("bad/entities-order-format", entities+"?order=sideways", Exact),
		get("bad/entities-order-word", entities+"?order=up:metadata.name", Exact),
		get("bad/entities-unknown-param", entities+"?foo=bar", Exact),

		// GET /entities/by-query
		get("by-query/get-default", byQuery, Unordered),
		follow(get("by-query/get-uid-order-pages", byQuery+"?limit=6", Unordered)),
		follow(get("by-query/get-name-asc-pages", byQuery+"?filter=kind=component&orderField="+q("metadata.name,asc")+"&limit=3", Exact)),
		follow(get("by-query/get-name-desc-pages", byQuery+"?orderField="+q("metadata.name,desc")+"&limit=4&fields=metadata.name,kind", Exact)),
		follow(get("by-query/get-fields-pages", byQuery+"?orderField="+q("metadata.name,asc")+"&limit=10&fields=metadata.name,metadata.namespace", Exact)),
		get("by-query/get-order-ties", byQuery+"?orderField="+q("spec.type,asc"), Unordered),
		get("by-query/get-order-no-word", byQuery+"?orderField=metadata.name&fields=metadata.name", Exact),
		get("by-query/get-order-unknown-field", byQuery+"?orderField="+q("bogus,asc"), Exact),
		get("by-query/get-order-multivalued", byQuery+"?orderField="+q("metadata.tags,asc")+"&fields=metadata.name,metadata.tags", Unordered),
		get("by-query/get-order-two-fields", byQuery+"?orderField="+q("metadata.name,desc")+"&orderField="+q("kind,asc")+"&fields=metadata.name", Exact),
		get("by-query/get-filter-or", byQuery+"?filter=kind=component&filter=kind=api,metadata.name=payments-api&orderField="+q("metadata.name,asc"), Exact),
		get("by-query/get-fulltext", byQuery+"?fullTextFilterTerm=pay&fullTextFilterFields="+q("metadata.name,metadata.title")+"&orderField="+q("metadata.name,asc"), Exact),
		get("by-query/get-fulltext-default-fields", byQuery+"?fullTextFilterTerm=PAY&orderField="+q("metadata.name,asc")+"&fields=metadata.name", Exact),
		get("by-query/get-fulltext-blank", byQuery+"?fullTextFilterTerm="+q("   ")+"&fields=metadata.name", Unordered),
		get("by-query/get-fulltext-uid-default", byQuery+"?fullTextFilterTerm=zzzz", Exact),
		follow(get("by-query/get-fulltext-pages", byQuery+"?fullTextFilterTerm=e&fullTextFilterFields=metadata.name&orderField="+q("metadata.name,asc")+"&limit=4&fields=metadata.name", Exact)),
		get("by-query/get-total-exclude", byQuery+"?totalItems=exclude&filter=kind=domain", Unordered),
		get("by-query/get-total-include", byQuery+"?totalItems=include&filter=kind=domain", Unordered),
		get("by-query/get-limit-zero", byQuery+"?limit=0", Exact),
		get("by-query/get-offset", byQuery+"?offset=2&limit=3&orderField="+q("metadata.name,asc")+"&fields=metadata.name", Exact),
		get("bad/by-query-total-maybe", byQuery+"?totalItems=maybe", Exact),
		get("bad/by-query-order-word", byQuery+"?orderField="+q("metadata.name,sideways"), Exact),
		get("bad/by-query-cursor-garbage", byQuery+"?cursor=garbage", Exact),
		get("bad/by-query-cursor-wrong-shape", byQuery+"?cursor="+q(wrongCursor), Exact),
		get("bad/by-query-limit-abc", byQuery+"?limit=abc", Exact),
		get("bad/by-query-limit-negative", byQuery+"?limit=-1", Exact),
		get("bad/by-query-filter-empty-key", byQuery+"?filter="+q("=x"), Exact),
		get("bad/by-query-fields-bracket", byQuery+"?fields="+q("spec.x[1]"), Exact),
		get("bad/by-query-unknown-param", byQuery+"?skipTotalItems=true", Exact),

		// POST /entities/by-query
		post("by-query/post-empty", byQuery, map[string]any{}, Unordered),
		follow(post("by-query/post-name-pages", byQuery, map[string]any{
			"query": map[string]any{"kind": "component"}, "limit": 3,
			"orderBy": []any{map[string]any{"field": "metadata.name", "order": "asc"}},
		}, Exact)),
		follow(post("by-query/post-uid-pages-fields", byQuery, map[string]any{"limit": 5, "fields": []string{"kind", "metadata.name"}}, Unordered)),
		post("by-query/post-all", byQuery, map[string]any{"query": map[string]any{"$all": []any{
			map[string]any{"kind": "component"}, map[string]any{"spec.lifecycle": "production"}}}}, Unordered),
		post("by-query/post-any", byQuery, map[string]any{"query": map[string]any{"$any": []any{
			map[string]any{"kind": "domain"}, map[string]any{"metadata.namespace": "ops"}}}}, Unordered),
		post("by-query/post-not", byQuery, map[string]any{"query": map[string]any{"$not": map[string]any{"kind": "user"}}, "fields": []string{"kind", "metadata.name"}}, Unordered),
		post("by-query/post-contains", byQuery, map[string]any{"query": map[string]any{"metadata.tags": map[string]any{"$contains": "payments"}}}, Unordered),
		post("by-query/post-has-prefix", byQuery, map[string]any{"query": map[string]any{"metadata.name": map[string]any{"$hasPrefix": "PAY"}}}, Unordered),
		post("by-query/post-exists", byQuery, map[string]any{"query": map[string]any{"spec.subcomponentOf": map[string]any{"$exists": true}}}, Unordered),
		post("by-query/post-not-exists", byQuery, map[string]any{"query": map[string]any{"kind": "component", "spec.system": map[string]any{"$exists": false}}}, Unordered),
		post("by-query/post-in", byQuery, map[string]any{"query": map[string]any{"kind": map[string]any{"$in": []any{"API", "resource"}}}}, Unordered),
		post("by-query/post-number-and-bool", byQuery, map[string]any{"query": map[string]any{"metadata.labels.on-call": true}}, Unordered),
		post("by-query/post-relation", byQuery, map[string]any{"query": map[string]any{"relations": map[string]any{"$contains": map[string]any{"type": "ownedBy", "targetRef": "group:default/team-platform"}}}}, Unordered),
		post("by-query/post-relation-in", byQuery, map[string]any{"query": map[string]any{"relations": map[string]any{"$contains": map[string]any{"type": "memberOf", "targetRef": map[string]any{"$in": []any{"group:ops/sre", "group:default/team-platform"}}}}}}, Unordered),
		post("by-query/post-relation-any-target", byQuery, map[string]any{"query": map[string]any{"relations": map[string]any{"$contains": map[string]any{"type": "childOf"}}}}, Unordered),
		post("by-query/post-all-empty", byQuery, map[string]any{"query": map[string]any{"$all": []any{}}, "limit": 0}, Exact),
		post("by-query/post-any-empty", byQuery, map[string]any{"query": map[string]any{"$any": []any{}}}, Exact),
		post("by-query/post-fulltext", byQuery, map[string]any{"fullTextFilter": map[string]any{"term": "check", "fields": []string{"metadata.name", "spec.profile.displayName"}}, "orderBy": []any{map[string]any{"field": "metadata.name", "order": "desc"}}}, Exact),
		post("by-query/post-offset", byQuery, map[string]any{"offset": 4, "limit": 2, "orderBy": []any{map[string]any{"field": "metadata.name", "order": "asc"}}}, Exact),
		post("by-query/post-total-exclude", byQuery, map[string]any{"totalItems": "exclude", "query": map[string]any{"kind": "system"}}, Unordered),
		post("by-query/post-unknown-key", byQuery, map[string]any{"filter": "kind=user", "query": map[string]any{"kind": "user"}}, Unordered),
		post("bad/by-query-post-query-array", byQuery, map[string]any{"query": []any{}}, Exact),
		post("bad/by-query-post-query-string", byQuery, map[string]any{"query": "kind=user"}, Exact),
		post("bad/by-query-post-unknown-operator", byQuery, map[string]any{"query": map[string]any{"$bogus": 1}}, Exact),
		post("bad/by-query-post-all-object", byQuery, map[string]any{"query": map[string]any{"$all": map[string]any{}}}, Exact),
		post("bad/by-query-post-logical-mixed", byQuery, map[string]any{"query": map[string]any{"$all": []any{}, "kind": "user"}}, Exact),
		post("bad/by-query-post-value-operator", byQuery, map[string]any{"query": map[string]any{"kind": map[string]any{"$weird": 1}}}, Exact),
		post("bad/by-query-post-relation-no-type", byQuery, map[string]any{"query": map[string]any{"relations": map[string]any{"$contains": map[string]any{"targetRef": "group:default/acme"}}}}, Exact),
		post("bad/by-query-post-cursor-garbage", byQuery, map[string]any{"cursor": "garbage"}, Exact),
		post("bad/by-query-post-limit-negative", byQuery, map[string]any{"limit": -1}, Exact),
		post("bad/by-query-post-limit-string", byQuery, map[string]any{"limit": "abc"}, Exact),
		post("bad/by-query-post-order-word", byQuery, map[string]any{"orderBy": []any{map[string]any{"field": "metadata.name", "order": "up"}}}, Exact),
		post("bad/by-query-post-not-json", byQuery, "{not json", Exact),
		{Name: "bad/by-query-post-text-plain", Method: http.MethodPost, Path: byQuery, Body: `{}`, Headers: map[string]string{"Content-Type": "text/plain"}, Compare: Exact},

		// Single entities
		get("by-name/component", byName+"/component/default/payments-service", Exact),
		get("by-name/case-insensitive", byName+"/COMPONENT/Default/Payments-Service", Exact),
		get("by-name/mixed-case-user", byName+"/user/default/dave.upper", Exact),
		get("by-name/other-namespace", byName+"/group/ops/sre", Exact),
		get("by-name/location-root", byName+"/location/default/"+CorpusRootLocation, Exact),
		get("by-name/api-openapi", byName+"/api/default/payments-api", Exact),
		get("by-name/template", byName+"/template/default/corpus-template", Exact),
		get("by-name/resource-other-namespace", byName+"/resource/ops/metrics-store", Exact),
		get("by-name/group-org", byName+"/group/default/acme", Exact),
		get("by-name/not-found", byName+"/component/default/nope", Exact),
		get("by-name/invalid-entity-absent", byName+"/component/default/broken-deps", Exact),
		get("by-uid/component", byUID+"/{uid:component:default/payments-service}", Exact),
		get("by-uid/user", byUID+"/{uid:user:default/dave.upper}", Exact),
		get("by-uid/not-found", byUID+"/00000000-0000-4000-8000-000000000000", Exact),
		get("by-uid/not-a-uuid", byUID+"/not-a-uuid", Exact),
		get("ancestry/component", byName+"/component/default/payments-service/ancestry", Exact),
		get("ancestry/nested", byName+"/component/default/legacy-billing/ancestry", Exact),
		get("ancestry/root-location", byName+"/location/default/"+CorpusRootLocation+"/ancestry", Exact),
		get("ancestry/not-found", byName+"/component/default/nope/ancestry", Exact),

		// by-refs
		post("by-refs/basic", byRefs, map[string]any{"entityRefs": []string{
			"component:default/payments-service", "user:default/nobody", "COMPONENT:default/Checkout-Web",
			"component:default/payments-service", "group:ops/sre"}}, Exact),
		post("by-refs/fields", byRefs, map[string]any{"entityRefs": []string{"api:default/payments-api", "api:default/missing"}, "fields": []string{"metadata.name", "spec.type"}}, Exact),
		post("by-refs/query", byRefs, map[string]any{"entityRefs": []string{"api:default/payments-api", "component:default/ui-kit"}, "query": map[string]any{"kind": "api"}}, Exact),
		post("by-refs/filter-param", byRefs+"?filter=kind=component", map[string]any{"entityRefs": []string{"api:default/payments-api", "component:default/ui-kit"}}, Exact),
		post("by-refs/fields-param", byRefs+"?fields=metadata.name", map[string]any{"entityRefs": []string{"component:default/ui-kit"}, "fields": []string{"kind"}}, Exact),
		post("by-refs/empty", byRefs, map[string]any{"entityRefs": []string{}}, Exact),
		post("bad/by-refs-missing", byRefs, map[string]any{}, Exact),
		post("bad/by-refs-not-array", byRefs, map[string]any{"entityRefs": "component:default/ui-kit"}, Exact),
		post("bad/by-refs-short-ref", byRefs, map[string]any{"entityRefs": []string{"ui-kit"}}, Exact),

		// Facets
		get("facets/kind", facets+"?facet=kind", Exact),
		get("facets/multiple", facets+"?facet=spec.type&facet=metadata.tags&facet=metadata.namespace", Exact),
		get("facets/filtered", facets+"?facet=spec.lifecycle&filter=kind=component", Exact),
		get("facets/relations", facets+"?facet=relations.ownedBy", Exact),
		get("facets/spelling-echoed", facets+"?facet=Kind&facet=METADATA.NAMESPACE", Exact),
		get("facets/annotation", facets+"?facet="+q("metadata.annotations.example.com/long-note"), Exact),
		get("facets/labels", facets+"?facet=metadata.labels.tier", Exact),
		get("facets/unknown", facets+"?facet=spec.nothing", Exact),
		get("bad/facets-missing", facets, Exact),
		get("bad/facets-bad-filter", facets+"?facet=kind&filter="+q("=x"), Exact),
		post("facets/post-no-query", facets, map[string]any{"facets": []string{"kind"}}, Exact),
		post("facets/post-all", facets, map[string]any{"facets": []string{"kind", "spec.type"}, "query": map[string]any{}}, Exact),
		post("facets/post-query", facets, map[string]any{"facets": []string{"spec.lifecycle"}, "query": map[string]any{"kind": "component"}}, Exact),
		post("bad/facets-post-empty-list", facets, map[string]any{"facets": []string{}}, Exact),
		post("bad/facets-post-missing", facets, map[string]any{}, Exact),
		post("bad/facets-post-bad-query", facets, map[string]any{"facets": []string{"kind"}, "query": map[string]any{"$bogus": true}}, Exact),

		// Added coverage: by-refs casing, malformed bodies on every JSON
		// route, query strings on POST routes, namespaces, the frontend's
		// full-text search, titles as sort keys, offsets past the end.
		post("by-refs/casing-variants", byRefs, map[string]any{"entityRefs": []string{
			"component:default/Checkout-Web", "Component:default/checkout-web", "component:DEFAULT/checkout-web",
			"component:default/checkout-web", "user:default/dave.upper", "user:default/Dave.Upper", "group:OPS/sre"}}, Exact),
		post("by-refs/duplicates-and-query", byRefs, map[string]any{"entityRefs": []string{
			"group:ops/sre", "group:ops/sre", "system:ops/observability"}, "query": map[string]any{"metadata.namespace": "OPS"}}, Exact),
		post("bad/by-query-post-not-json-comma", byQuery, `{"limit": 10, "query": {"kind": "component"}, "fields": [ "metadata.name", ]}`, Exact),
		post("bad/by-query-post-not-json-whitespace", byQuery, "  \n ", Exact),
		post("bad/by-query-post-not-json-string", byQuery, `"kind=component"`, Exact),
		post("bad/by-query-post-not-json-number", byQuery, "  42", Exact),
		post("bad/by-query-post-not-json-trailing", byQuery, "{\"limit\":1}\r\n  {}", Exact),
		post("bad/by-query-post-not-json-unterminated", byQuery, `{"fullTextFilter":{"term":"pay`, Exact),
		post("bad/by-query-post-not-json-control", byQuery, "{\"query\":{\"kind\":\"comp\tonent\"}}", Exact),
		post("bad/by-query-post-not-json-literal", byQuery, `{"query":{"spec.system":{"$exists":tru}}}`, Exact),
		post("bad/by-query-post-not-json-utf8", byQuery, "{\"query\":{\"metadata.name\":\"caf\u00e9\"},}", Exact),
		post("bad/by-query-post-array-body", byQuery, []any{}, Exact),
		post("bad/by-refs-not-json", byRefs, `{"entityRefs":["component:default/ui-kit"`, Exact),
		post("bad/facets-post-not-json", facets, `{"facets":["kind"] "query":{}}`, Exact),
		post("bad/refresh-not-json", "/api/catalog/refresh", `{'entityRef':'component:default/ui-kit'}`, Exact),
		post("bad/by-query-post-query-param", byQuery+"?limit=0", map[string]any{"limit": "abc"}, Exact),
		post("bad/by-query-post-not-json-query-param", byQuery+"?limit=0", `{"limit":`, Exact),
		post("bad/facets-post-query-param", facets+"?facet=kind", map[string]any{"facets": 3}, Exact),
		post("bad/refresh-query-param", "/api/catalog/refresh?entityRef=x", map[string]any{}, Exact),
		post("bad/by-refs-query-param-before-body", byRefs+"?fields=kind&bogus=1", map[string]any{"entityRefs": 3}, Exact),
		post("bad/by-query-post-cursor-wrong-shape", byQuery, map[string]any{"cursor": base64.StdEncoding.EncodeToString([]byte(
			`{"orderFields":[{"field":1,"order":"up"}],"isPrevious":"no","orderFieldValues":[1,null],"totalItems":"3"}`))}, Exact),
		get("bad/by-query-cursor-bad-utf8", byQuery+"?cursor="+q(base64.StdEncoding.EncodeToString([]byte("\xe0\x80\xf0\x90\x80{\"a\":1}"))), Exact),
		get("bad/by-query-cursor-array", byQuery+"?cursor="+q(base64.StdEncoding.EncodeToString([]byte(`[]`))), Exact),
		get("bad/by-query-cursor-url-alphabet", byQuery+"?cursor=e30_-", Exact),
		get("by-query/get-filter-namespace", byQuery+"?filter=metadata.namespace=OPS&orderField="+q("metadata.name,asc")+"&fields=kind,metadata.name,metadata.namespace", Exact),
		post("by-query/post-filter-namespace", byQuery, map[string]any{"query": map[string]any{"metadata.namespace": map[string]any{"$in": []any{"ops"}}},
			"orderBy": []any{map[string]any{"field": "metadata.name", "order": "desc"}}, "fields": []string{"metadata.name"}}, Exact),
		get("entities/filter-namespace-not-default", entities+"?filter=kind=component,metadata.namespace=ops&fields=metadata.name", Exact),
		get("by-query/get-fulltext-frontend", byQuery+"?fullTextFilterTerm=che&fullTextFilterFields="+q("metadata.name,metadata.title,spec.profile.displayName")+"&orderField="+q("metadata.name,asc")+"&fields=kind,metadata.name", Exact),
		get("by-query/get-fulltext-frontend-displayname", byQuery+"?fullTextFilterTerm=TEAM&fullTextFilterFields="+q("metadata.name,metadata.title,spec.profile.displayName")+"&orderField="+q("metadata.name,asc")+"&fields=metadata.name,spec.profile", Exact),
		follow(get("by-query/get-fulltext-frontend-pages", byQuery+"?fullTextFilterTerm=a&fullTextFilterFields="+q("metadata.name,metadata.title,spec.profile.displayName")+"&orderField="+q("metadata.name,asc")+"&limit=4&fields=metadata.name", Exact)),
		post("by-query/post-fulltext-frontend", byQuery, map[string]any{"fullTextFilter": map[string]any{"term": "  corp  ", "fields": []string{"metadata.name", "metadata.title", "spec.profile.displayName"}},
			"orderBy": []any{map[string]any{"field": "metadata.name", "order": "asc"}}, "fields": []string{"metadata.name"}}, Exact),
		get("entities/order-title-some-missing", entities+"?filter=kind=domain,kind=template&order=asc:metadata.title&fields=metadata.name,metadata.title", Exact),
		get("entities/order-title-desc-some-missing", entities+"?filter=kind=domain,kind=template&order=desc:metadata.title&fields=metadata.name,metadata.title", Exact),
		follow(get("by-query/get-order-title-pages", byQuery+"?filter=kind=domain,kind=template&orderField="+q("metadata.title,asc")+"&limit=1&fields=metadata.name,metadata.title", Exact)),
		follow(get("by-query/get-order-title-desc-pages", byQuery+"?filter=kind=domain,kind=template&orderField="+q("metadata.title,desc")+"&limit=2&fields=metadata.name,metadata.title", Exact)),
		follow(get("by-query/get-order-title-all", byQuery+"?orderField="+q("metadata.title,asc")+"&limit=7&fields=metadata.name,metadata.title", Unordered)),
		get("entities/offset-past-end-limit", entities+"?offset=500&limit=5", Exact),
		get("entities/offset-at-end-limit", entities+"?offset=32&limit=5&fields=metadata.name", Exact),
		get("entities/offset-past-end-filter", entities+"?filter=kind=domain&offset=2&limit=1", Exact),
		get("entities/after-past-end", entities+"?after="+q(base64.StdEncoding.EncodeToString([]byte(`{"limit":3,"offset":400}`))), Exact),
		get("by-query/get-offset-past-end", byQuery+"?offset=400&limit=5", Exact),
		post("by-query/post-offset-past-end", byQuery, map[string]any{"offset": 400, "limit": 5, "totalItems": "exclude"}, Exact),
		{Name: "bad/by-query-post-text-plain-empty", Method: http.MethodPost, Path: byQuery + "?limit=0", Body: "", Headers: map[string]string{"Content-Type": "text/plain"}, Compare: Exact},
		get("facets/namespace-filtered", facets+"?facet=metadata.namespace&facet=kind&filter=metadata.namespace=ops", Exact),
		// Body decoding as body-parser does it: the charset is checked
		// first; a media type whose parameters do not parse leaves the body
		// unread ({}).
		{Name: "bad/by-query-post-charset-latin1", Method: http.MethodPost, Path: byQuery, Body: `{"limit":1}`, Headers: map[string]string{"Content-Type": "application/json; charset=latin1"}, Compare: Exact},
		{Name: "bad/by-refs-charset-utf8-without-dash", Method: http.MethodPost, Path: byRefs, Body: `{"entityRefs":[]}`, Headers: map[string]string{"Content-Type": "application/json; charset=utf8"}, Compare: Exact},
		{Name: "by-query/post-media-type-bad-parameter", Method: http.MethodPost, Path: byQuery, Body: `{"limit":1,"fields":["kind"]}`, Headers: map[string]string{"Content-Type": "application/json;x"}, Compare: Unordered},
		{Name: "bad/by-query-post-media-type-named", Method: http.MethodPost, Path: byQuery, Body: `{}`, Headers: map[string]string{"Content-Type": "Text/Plain; charset=utf-8"}, Compare: Exact},

		// Refresh
		post("refresh/entity", "/api/catalog/refresh", map[string]any{"entityRef": "component:default/payments-service"}, Exact),
		post("refresh/unknown", "/api/catalog/refresh", map[string]any{"entityRef": "component:default/nope"}, Exact),
		post("bad/refresh-missing-ref", "/api/catalog/refresh", map[string]any{}, Exact),

		// validate-entity: the processing pipeline without storing anything.
		post("validate/valid", validate, validateBody(comp("x", true), "url:https://example.com/a.yaml"), Exact),
		post("validate/file-location", validate, validateBody(comp("x", true), "file:/tmp/a.yaml"), Exact),
		post("validate/garbage-location", validate, validateBody(comp("x", true), "garbage"), Exact),
		post("validate/empty-url-location", validate, validateBody(comp("x", true), "url:"), Exact),
		post("validate/no-api-version", validate, validateBody(map[string]any{"kind": "Component", "metadata": map[string]any{"name": "x"}}, "url:https://example.com/a.yaml"), Exact),
		post("validate/missing-owner", validate, validateBody(comp("x", false), "url:https://example.com/a.yaml"), Exact),
		post("validate/bad-name", validate, validateBody(comp("Bad Name", true), "url:https://example.com/a.yaml"), Exact),
		post("validate/unkinded-depends-on", validate, validateBody(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": map[string]any{"name": "x"},
			"spec": map[string]any{"type": "s", "lifecycle": "l", "owner": "o", "dependsOn": []string{"x"}}}, "url:https://example.com/a.yaml"), Exact),
		post("validate/foreign-kind", validate, validateBody(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Foo", "metadata": map[string]any{"name": "x"}}, "url:https://example.com/a.yaml"), Exact),
		post("validate/bad-tag", validate, validateBody(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": map[string]any{"name": "x", "tags": []string{"Java"}},
			"spec": map[string]any{"type": "s", "lifecycle": "l", "owner": "o"}}, "url:https://example.com/a.yaml"), Exact),
		post("validate/foreign-root-field", validate, validateBody(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": map[string]any{"name": "x"},
			"spec": map[string]any{"type": "s", "lifecycle": "l", "owner": "o"}, "extra": true}, "url:https://example.com/a.yaml"), Exact),
		post("validate/group-bad-children", validate, validateBody(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": map[string]any{"name": "g"},
			"spec": map[string]any{"type": "team", "children": "nope"}}, "url:https://example.com/a.yaml"), Exact),
		post("validate/client-location-annotation-overridden", validate, validateBody(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
			"metadata": map[string]any{"name": "x", "annotations": map[string]any{"backstage.io/managed-by-location": "url:https://evil.example.com"}},
			"spec":     map[string]any{"type": "s", "lifecycle": "l", "owner": "o"}}, "url:https://example.com/a.yaml"), Exact),
		post("validate/location-target-not-allowed", validate, validateBody(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Location", "metadata": map[string]any{"name": "x"},
			"spec": map[string]any{"targets": []string{"./a.yaml"}}}, "url:https://example.com/dir/all.yaml"), Exact),
		post("validate/placeholder-not-allowed", validate, validateBody(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "API", "metadata": map[string]any{"name": "x"},
			"spec": map[string]any{"type": "openapi", "lifecycle": "l", "owner": "o", "definition": map[string]any{"$text": "./a.yaml"}}}, "url:https://example.com/dir/all.yaml"), Exact),
		post("bad/validate-entity-not-object", validate, map[string]any{"entity": "str", "location": "url:https://example.com/a.yaml"}, Exact),
		post("bad/validate-missing-entity", validate, map[string]any{"location": "url:x"}, Exact),
		post("bad/validate-missing-location", validate, map[string]any{"entity": map[string]any{}}, Exact),
		post("bad/validate-location-number", validate, map[string]any{"entity": map[string]any{}, "location": 5}, Exact),
		post("bad/validate-unknown-param", validate+"?x=1", validateBody(comp("x", true), "url:https://example.com/a.yaml"), Exact),
	}
}

const validate = "/api/catalog/validate-entity"

func validateBody(entity any, location string) map[string]any {
	return map[string]any{"entity": entity, "location": location}
}

// comp is a Component entity, with or without its required owner.
func comp(name string, withOwner bool) map[string]any {
	spec := map[string]any{"type": "service", "lifecycle": "production"}
	if withOwner {
		spec["owner"] = "team-a"
	}
	return map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": map[string]any{"name": name}, "spec": spec}
}

// get and post build the cases of ReadCases and LocationCases.
func get(name, path string, mode CompareMode) Case {
	return Case{Name: name, Method: http.MethodGet, Path: path, Compare: mode}
}

func post(name, path string, body any, mode CompareMode) Case {
	return Case{Name: name, Method: http.MethodPost, Path: path, Body: body, Compare: mode}
}
