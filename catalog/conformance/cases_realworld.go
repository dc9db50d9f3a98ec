package conformance

import (
	"github.com/understage/understage/catalog/model"
	"net/url"
	"strings"
)

// RealWorldRootLocation is the Location entity of testdata/realworld/all.yaml.
const RealWorldRootLocation = "realworld-corpus"

// RealWorldSuite asks about testdata/realworld: catalog files written the way
// teams write them (a survey of public catalog-info.yaml and Location files
// chose the features): the stored entities, their relations both ways,
// queries and facets over relations, annotations, labels and tags, the
// entities a mistake keeps out of the catalog, validate-entity's answer to
// the common mistakes, and dry-run registration of the files that fail.
func RealWorldSuite() Suite {
	return Suite{Name: "realworld", Corpus: "testdata/realworld", RootLocation: RealWorldRootLocation,
		GoldenDir: "testdata/golden-realworld", Cases: RealWorldCases()}
}

// RealWorldCases are the cases of RealWorldSuite, in the order they run.
func RealWorldCases() []Case {
	var cs []Case
	cs = append(cs, realWorldEntityCases()...)
	cs = append(cs, realWorldQueryCases()...)
	cs = append(cs, realWorldValidateCases()...)
	cs = append(cs, realWorldLocationCases()...)
	return cs
}

// realWorldEntityCases read single entities back: the stored JSON with
// defaults applied, annotations added and relations from every spec field.
func realWorldEntityCases() []Case {
	const byName = "/api/catalog/entities/by-name/"
	one := func(ref string) Case {
		r, _ := model.ParseRef(ref, model.RefDefaults{})
		kind, ns, name := r.Kind, r.Namespace, r.Name
		return get("by-name/"+kind+"/"+ns+"/"+name, byName+kind+"/"+ns+"/"+url.PathEscape(name), Exact)
	}
	var cs []Case
	for _, ref := range []string{
		// Organisation: profiles, parent/children, members, unknown spec fields.
		"group:default/harbor", "group:default/platform-guild", "group:default/team-lantern",
		"group:default/team-kelp", "group:default/storefront", "group:default/team-tide",
		"user:default/ines.okafor", "user:default/Marek.Nowak", "user:default/visitor",
		"user:default/quiet.contractor", "user:default/old.timer",
		// Domains and systems, subdomains, owners of every kind.
		"domain:default/commerce", "domain:default/platform", "domain:default/observability",
		"system:default/checkout", "system:default/lighthouse", "system:default/telemetry",
		// Components from per-repository catalog-info.yaml files.
		"component:default/storefront-api", "component:default/pricing-engine",
		"component:default/pricing-engine-worker", "component:default/web-shop",
		"component:default/legacy-batch", "component:default/storefront-handbook",
		"component:default/adr-log", "component:default/status-page",
		// Resources and APIs with inline definitions.
		"resource:default/orders-db", "resource:default/price-cache", "resource:default/artifact-registry",
		"api:default/storefront-rest", "api:default/payments-events", "api:default/inventory-grpc",
		"api:default/catalog-graph",
		// A second namespace referring back to the default one.
		"group:ops/night-watch", "user:ops/sven.aalto", "system:ops/paging",
		"component:ops/pager-bridge", "resource:ops/metrics-tsdb", "component:ops/storefront-api",
		"template:default/harbor-go-service",
		// Locations: globs, a single target, optional and nested ones.
		"location:default/" + RealWorldRootLocation, "location:default/harbor-tools",
		"location:default/harbor-single-target", "location:default/harbor-optional",
		"location:default/harbor-bot-plugins", "location:default/mistake-entity-mix",
		"location:default/mistake-empty-files",
		"component:default/harbor-cli", "component:default/release-bot",
		"component:default/release-bot-slack", "resource:default/build-cache",
		"component:default/payments-admin",
		// A monorepo root whose ** glob matches itself.
		"location:default/harbor-monorepo", "component:default/ledger",
		"component:default/receipts", "component:default/receipts-docs",
		// YAML spellings: flow style, plain scalars that look like dates,
		// numbers and booleans, block scalar chomping.
		"component:default/flow-style-widget", "component:default/scalar-lookalikes",
		"component:default/folded-notes", "component:default/yaml-numbers", "component:default/yaml-anchors",
		// Odd but valid: pasted server fields, hand-written location
		// annotations, self and repeated references, null annotations.
		"component:default/inspector-paste", "group:default/guild-of-guilds",
		"resource:default/shared-queue", "api:default/quota-api", "api:default/tariff-api", "component:default/beta-gateway",
		"component:default/null-annotations", "location:default/mistake-nulls",
		// Entities Backstage 1.55 does not serve: a $text placeholder in a
		// file location, a Template of the retired v1beta2 apiVersion,
		// Locations whose target is missing, unreadable or broken.
		"api:drafts/pricing-openapi", "template:default/harbor-old-template",
		"location:default/harbor-missing", "location:default/harbor-remote",
		"location:default/mistake-app-config", "location:default/mistake-kind-not-allowed",
		"location:default/mistake-template-skeleton", "location:default/mistake-list-of-entities",
	} {
		cs = append(cs, one(ref))
	}
	return append(cs,
		get("by-name/user-lowercased-lookup", byName+"user/default/marek.nowak", Exact),
		get("by-name/other-namespace-same-name-upper", byName+"Component/OPS/Storefront-Api", Exact),
		get("ancestry/glob-nested", byName+"component/default/release-bot-slack/ancestry", Exact),
		get("ancestry/single-target", byName+"resource/default/build-cache/ancestry", Exact),
		get("ancestry/monorepo-glob", byName+"component/default/receipts-docs/ancestry", Exact),
		get("ancestry/second-document", byName+"component/default/pricing-engine-worker/ancestry", Exact),
		// Every entity a mistake keeps out of the catalog, next to its valid
		// neighbour from the same file.
		post("by-refs/mistakes-absent", "/api/catalog/entities/by-refs", map[string]any{"entityRefs": []string{
			"component:default/payments-admin", "component:default/misindented-deps",
			"component:default/Payments Admin Console", "component:default/tagged-in-caps",
			"component:default/lowercase-kind", "api:default/file-placeholder-api",
			"component:default/numeric-label", "component:default/no-owner-yet",
			"component:default/a-component-name-that-grew-far-too-long-for-the-catalog-to-accept",
			"component:default/listed-one", "airesource:default/review-helper",
		}, "fields": []string{"kind", "metadata.name"}}, Exact),
		post("by-refs/nulls-absent", "/api/catalog/entities/by-refs", map[string]any{"entityRefs": []string{
			"component:default/null-annotations", "component:default/null-tags", "component:default/null-system",
			"component:default/null-depends-on", "component:default/null-description", "component:default/dotted-tag",
			"group:default/null-children", "user:default/null-member-of",
		}, "fields": []string{"kind", "metadata.name"}}, Exact),
	)
}

// realWorldQueryCases filter, order and facet over what the corpus's
// relations, annotations, labels and tags produce.
func realWorldQueryCases() []Case {
	const (
		entities = "/api/catalog/entities"
		byQuery  = "/api/catalog/entities/by-query"
		facets   = "/api/catalog/entity-facets"
	)
	q := url.QueryEscape
	sorted := "&order=asc:metadata.name&fields=kind,metadata.namespace,metadata.name"
	settled := "&filter=metadata.namespace=default,metadata.namespace=ops"
	rel := func(name, filter string) Case {
		return get("relations/"+name, entities+"?filter="+q(filter)+sorted, Exact)
	}
	return []Case{
		rel("owned-by-team", "relations.ownedBy=group:default/team-tide"),
		rel("owned-by-user", "relations.ownedby=user:default/ines.okafor"),
		rel("owned-by-mailing-list", "relations.ownedBy=group:default/batch-owners@harbor.example"),
		rel("owned-by-other-namespace", "relations.ownedBy=group:ops/night-watch"),
		rel("owner-of", "relations.ownerOf=component:default/storefront-api"),
		rel("part-of-system", "relations.partOf=system:default/checkout"),
		rel("part-of-domain", "relations.partof=domain:default/platform"),
		rel("part-of-component", "relations.partOf=component:default/pricing-engine"),
		rel("has-part", "relations.hasPart=component:default/storefront-handbook"),
		rel("member-of", "relations.memberOf=group:default/team-lantern"),
		rel("member-of-missing-group", "relations.memberOf=group:default/ghost-team"),
		rel("has-member-mixed-case", "relations.hasMember=user:default/Marek.Nowak"),
		rel("has-member-lowercase", "relations.hasMember=user:default/marek.nowak"),
		rel("child-of", "relations.childOf=group:default/platform-guild"),
		rel("parent-of", "relations.parentOf=group:default/team-tide"),
		rel("depends-on", "relations.dependsOn=resource:default/orders-db"),
		rel("dependency-of", "relations.dependencyOf=component:default/storefront-api"),
		rel("depends-on-capital-kind", "relations.dependsOn=component:default/pricing-engine"),
		rel("provides-api", "relations.providesApi=api:default/storefront-rest"),
		rel("api-provided-by", "relations.apiProvidedBy=component:default/storefront-api"),
		rel("consumes-api", "relations.consumesApi=api:default/payments-events"),
		rel("api-consumed-by", "relations.apiConsumedBy=component:default/web-shop"),
		rel("any-relation-key", "relations.dependsOn"),
		rel("owned-by-user-written-capitalised", "relations.ownedBy=user:default/ines.okafor"),
		rel("part-of-system-written-capitalised", "relations.partOf=system:ops/paging"),
		get("filter/annotation-slug", entities+"?filter="+q("metadata.annotations.github.com/project-slug=harbor-lights/storefront-api")+sorted, Exact),
		get("filter/annotation-techdocs-exists", entities+"?filter="+q("metadata.annotations.backstage.io/techdocs-ref")+sorted, Exact),
		get("filter/annotation-source-location", entities+"?filter="+q("metadata.annotations.backstage.io/source-location=url:https://github.com/harbor-lights/storefront-api/tree/main/")+sorted, Exact),
		get("filter/annotation-date-like", entities+"?filter="+q("metadata.annotations.harbor.example/created=2021-03-04")+sorted, Exact),
		get("filter/label", entities+"?filter="+q("metadata.labels.on-call=true")+sorted, Exact),
		get("filter/label-plain-yes", entities+"?filter="+q("metadata.labels.plain-yes=yes")+sorted, Exact),
		get("filter/tag-plus", entities+"?filter="+q("metadata.tags=c++")+sorted, Exact),
		get("filter/tag-hash", entities+"?filter="+q("metadata.tags=c#")+sorted, Exact),
		get("filter/type-documentation", entities+"?filter=kind=component,spec.type=documentation"+sorted, Exact),
		get("filter/profile-email", entities+"?filter="+q("spec.profile.email=lantern@harbor.example")+sorted, Exact),
		get("filter/unknown-spec-field", entities+"?filter="+q("spec.descendants=team-kelp")+sorted, Exact),
		get("filter/spec-float-one", entities+"?filter="+q("spec.numbers.float-one=1")+sorted, Exact),
		get("filter/spec-exponent", entities+"?filter="+q("spec.numbers.exponent=1000")+sorted, Exact),
		get("filter/spec-big-number", entities+"?filter="+q("spec.numbers.big=12345678901234567000")+sorted, Exact),
		get("filter/spec-hex", entities+"?filter="+q("spec.numbers.hex=31")+sorted, Exact),
		get("filter/spec-infinity-exists", entities+"?filter="+q("spec.numbers.infinity")+sorted, Exact),
		get("filter/spec-numeric-key", entities+"?filter="+q("spec.keys.200=ok")+sorted, Exact),
		get("filter/spec-bool", entities+"?filter="+q("spec.enabled=true")+sorted, Exact),
		get("filter/spec-ratio", entities+"?filter="+q("spec.ratio=0.5")+sorted, Exact),
		get("filter/spec-null-exists", entities+"?filter="+q("spec.nothing")+sorted, Exact),
		get("filter/spec-nested-array-object", entities+"?filter="+q("spec.copies.labels.tier=frontend")+sorted, Exact),
		get("filter/spec-number-field", entities+"?filter="+q("spec.replicas=3")+sorted, Exact),
		get("filter/extra-metadata", entities+"?filter="+q("metadata.capabilities=security")+sorted, Exact),
		get("filter/links-url", entities+"?filter="+q("metadata.links.url=https://status.harbor.example")+sorted, Exact),
		get("filter/location-targets", entities+"?filter=kind=location&order=asc:metadata.name&fields=metadata.name,spec", Exact),
		post("query/relation-contains-cross-namespace", byQuery, map[string]any{
			"query":   map[string]any{"relations": map[string]any{"$contains": map[string]any{"type": "dependsOn", "targetRef": "component:default/storefront-api"}}},
			"orderBy": []any{map[string]any{"field": "metadata.name", "order": "asc"}},
			"fields":  []string{"kind", "metadata.namespace", "metadata.name", "relations"}}, Exact),
		post("query/owned-by-any-team", byQuery, map[string]any{
			"query":   map[string]any{"relations": map[string]any{"$contains": map[string]any{"type": "ownedBy", "targetRef": map[string]any{"$in": []any{"group:default/team-lantern", "group:default/platform-guild"}}}}},
			"orderBy": []any{map[string]any{"field": "metadata.name", "order": "asc"}}, "fields": []string{"kind", "metadata.name"}}, Exact),
		post("query/annotation-exists-and-kind", byQuery, map[string]any{
			"query":   map[string]any{"kind": "component", "metadata.annotations.github.com/project-slug": map[string]any{"$exists": true}},
			"orderBy": []any{map[string]any{"field": "metadata.name", "order": "asc"}}, "fields": []string{"metadata.name", "metadata.annotations"}}, Exact),
		get("query/order-title-unicode", byQuery+"?filter=metadata.title&orderField="+q("metadata.title,asc")+"&fields=metadata.name,metadata.title", Exact),
		get("query/fulltext-unicode", byQuery+"?fullTextFilterTerm="+q("équipe")+"&fullTextFilterFields="+q("metadata.name,metadata.title,spec.profile.displayName")+"&fields=metadata.name", Exact),
		get("query/fulltext-accent-upper", byQuery+"?fullTextFilterTerm="+q("INÈS")+"&fullTextFilterFields="+q("metadata.name,metadata.title,spec.profile.displayName")+"&fields=metadata.name", Exact),
		get("query/fulltext-title-symbol", byQuery+"?fullTextFilterTerm="+q("end ✨")+"&fullTextFilterFields=metadata.title&fields=metadata.name", Exact),
		get("query/namespace-ops", byQuery+"?filter=metadata.namespace=ops&orderField="+q("metadata.name,asc")+"&fields=kind,metadata.name", Exact),
		// The drafts namespace holds the one entity only Understage serves.
		get("facets/kind", facets+"?facet=kind"+settled, Exact),
		get("facets/types", facets+"?facet=spec.type&facet=spec.lifecycle"+settled, Exact),
		get("facets/tags-namespaces", facets+"?facet=metadata.tags&facet=metadata.namespace"+settled, Exact),
		get("facets/owners", facets+"?facet=relations.ownedBy&filter=kind=component", Exact),
		get("facets/members", facets+"?facet=relations.memberOf&facet=relations.hasMember", Exact),
		get("facets/annotations", facets+"?facet="+q("metadata.annotations.github.com/project-slug")+"&facet="+q("metadata.annotations.backstage.io/techdocs-ref"), Exact),
		get("facets/labels", facets+"?facet=metadata.labels.tier&facet=metadata.labels.on-call&facet=metadata.labels.plain-off", Exact),
		get("facets/profile", facets+"?facet=spec.profile.displayName&filter=kind=user", Exact),
		get("facets/links", facets+"?facet=metadata.links.icon&facet=metadata.links.type", Exact),
		get("facets/unknown-spec-types", facets+"?facet=spec.replicas&facet=spec.enabled&facet=spec.ratio&facet=spec.stamp", Exact),
		get("facets/yaml-numbers", facets+"?facet=spec.numbers.float-one&facet=spec.numbers.big&facet=spec.numbers.octal&facet=spec.numbers.infinity&facet=spec.keys.true", Exact),
		get("facets/owners-ops", facets+"?facet=relations.ownedBy&filter=metadata.namespace=ops", Exact),
	}
}

// realWorldValidateCases send the mistakes seen in public catalog files to
// validate-entity, one mistake per case, next to the same entity done right.
func realWorldValidateCases() []Case {
	const at = "url:https://github.com/harbor-lights/storefront-api/blob/main/catalog-info.yaml"
	type obj = map[string]any
	component := func(edit func(e, md, spec obj)) obj {
		md := obj{"name": "storefront-api"}
		spec := obj{"type": "service", "lifecycle": "production", "owner": "team-tide"}
		e := obj{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": md, "spec": spec}
		if edit != nil {
			edit(e, md, spec)
		}
		return e
	}
	template := func(edit func(spec obj)) obj {
		spec := obj{"owner": "team-lantern", "type": "service", "parameters": []any{},
			"steps": []any{obj{"id": "fetch", "name": "Fetch", "action": "fetch:template", "input": obj{"url": "./skeleton"}}}}
		edit(spec)
		return obj{"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template", "metadata": obj{"name": "go-service"}, "spec": spec}
	}
	v := func(name string, entity obj) Case {
		return post("validate/"+name, validate, validateBody(entity, at), Exact)
	}
	return []Case{
		v("ok", component(nil)),
		v("ok-rich", component(func(e, md, spec obj) {
			md["title"] = "Storefront API ✨"
			md["annotations"] = obj{"github.com/project-slug": "harbor-lights/storefront-api", "backstage.io/techdocs-ref": "dir:."}
			md["tags"] = []any{"c++", "rest"}
			md["links"] = []any{obj{"url": "https://grafana.harbor.example", "title": "Dashboard", "icon": "dashboard", "type": "metrics"}}
			spec["providesApis"] = []any{"storefront-rest"}
			spec["dependsOn"] = []any{"resource:orders-db", "component:ops/pager-bridge"}
		})),
		v("kind-lowercase", component(func(e, _, _ obj) { e["kind"] = "component" })),
		v("kind-unknown", component(func(e, _, _ obj) { e["kind"] = "Service" })),
		v("api-version-typo", component(func(e, _, _ obj) { e["apiVersion"] = "backstage.io/v1alpha" })),
		v("api-version-v1beta2-template", obj{"apiVersion": "backstage.io/v1beta2", "kind": "Template", "metadata": obj{"name": "old"},
			"spec": obj{"owner": "team-tide", "type": "service", "parameters": []any{}, "steps": []any{}}}),
		v("missing-owner", component(func(_, _, spec obj) { delete(spec, "owner") })),
		v("missing-lifecycle", component(func(_, _, spec obj) { delete(spec, "lifecycle") })),
		v("missing-spec", component(func(e, _, _ obj) { delete(e, "spec") })),
		v("name-with-spaces", component(func(_, md, _ obj) { md["name"] = "Storefront API" })),
		v("name-too-long", component(func(_, md, _ obj) { md["name"] = strings.Repeat("storefront-", 6) + "api" })),
		v("name-trailing-dash", component(func(_, md, _ obj) { md["name"] = "storefront-" })),
		v("name-template-expression", component(func(_, md, _ obj) { md["name"] = "${{ values.name }}" })),
		v("namespace-uppercase", component(func(_, md, _ obj) { md["namespace"] = "Ops" })),
		v("tag-uppercase", component(func(_, md, _ obj) { md["tags"] = []any{"rest", "Java"} })),
		v("tag-with-space", component(func(_, md, _ obj) { md["tags"] = []any{"spring boot"} })),
		v("tags-not-a-list", component(func(_, md, _ obj) { md["tags"] = "java" })),
		v("annotation-key-space", component(func(_, md, _ obj) { md["annotations"] = obj{"github.com/project slug": "x"} })),
		v("annotation-key-two-slashes", component(func(_, md, _ obj) { md["annotations"] = obj{"github.com/project/slug": "x"} })),
		v("annotation-value-number", component(func(_, md, _ obj) { md["annotations"] = obj{"harbor.example/replicas": 3} })),
		v("annotation-value-bool", component(func(_, md, _ obj) { md["annotations"] = obj{"harbor.example/enabled": true} })),
		v("label-value-number", component(func(_, md, _ obj) { md["labels"] = obj{"cost-center": 1042} })),
		v("label-value-space", component(func(_, md, _ obj) { md["labels"] = obj{"team": "storefront crew"} })),
		v("link-without-url", component(func(_, md, _ obj) { md["links"] = []any{obj{"title": "Dashboard"}} })),
		v("link-relative-url", component(func(_, md, _ obj) { md["links"] = []any{obj{"url": "/docs", "title": "Docs"}} })),
		v("title-empty", component(func(_, md, _ obj) { md["title"] = "" })),
		v("title-padded", component(func(_, md, _ obj) { md["title"] = "  Storefront  " })),
		v("tag-with-dot", component(func(_, md, _ obj) { md["tags"] = []any{"node.js"} })),
		v("tag-with-colon-and-digits", component(func(_, md, _ obj) { md["tags"] = []any{"team:tide", "2024"} })),
		v("annotation-key-uppercase-prefix", component(func(_, md, _ obj) { md["annotations"] = obj{"GitHub.com/project-slug": "x"} })),
		v("annotation-key-no-prefix", component(func(_, md, _ obj) { md["annotations"] = obj{"jira": "HARB"} })),
		v("label-key-prefixed", component(func(_, md, _ obj) { md["labels"] = obj{"harbor.example/tier": "gold"} })),
		v("annotations-null", component(func(_, md, _ obj) { md["annotations"] = nil })),
		v("labels-null", component(func(_, md, _ obj) { md["labels"] = nil })),
		v("tags-null", component(func(_, md, _ obj) { md["tags"] = nil })),
		v("links-null", component(func(_, md, _ obj) { md["links"] = nil })),
		v("description-null", component(func(_, md, _ obj) { md["description"] = nil })),
		v("namespace-null", component(func(_, md, _ obj) { md["namespace"] = nil })),
		v("system-null", component(func(_, _, spec obj) { spec["system"] = nil })),
		v("owner-null", component(func(_, _, spec obj) { spec["owner"] = nil })),
		v("depends-on-null", component(func(_, _, spec obj) { spec["dependsOn"] = nil })),
		v("depends-on-null-item", component(func(_, _, spec obj) { spec["dependsOn"] = []any{nil} })),
		v("subcomponent-of-self", component(func(_, _, spec obj) { spec["subcomponentOf"] = "storefront-api" })),
		v("spec-null", component(func(e, _, _ obj) { e["spec"] = nil })),
		v("metadata-null", component(func(e, _, _ obj) { e["metadata"] = nil })),
		v("description-not-string", component(func(_, md, _ obj) { md["description"] = obj{"text": "x"} })),
		v("root-field-misindented", component(func(e, _, _ obj) { e["dependsOn"] = []any{"component:pricing-engine"} })),
		v("owner-list", component(func(_, _, spec obj) { spec["owner"] = []any{"team-tide"} })),
		v("owner-empty", component(func(_, _, spec obj) { spec["owner"] = "" })),
		v("provides-apis-string", component(func(_, _, spec obj) { spec["providesApis"] = "storefront-rest" })),
		v("depends-on-no-kind", component(func(_, _, spec obj) { spec["dependsOn"] = []any{"orders-db"} })),
		v("depends-on-empty-kind", component(func(_, _, spec obj) { spec["dependsOn"] = []any{":orders-db"} })),
		v("owner-ref-empty-name", component(func(_, _, spec obj) { spec["owner"] = "group:" })),
		v("owner-ref-trailing-slash", component(func(_, _, spec obj) { spec["owner"] = "default/" })),
		v("owner-ref-three-parts", component(func(_, _, spec obj) { spec["owner"] = "group:default/a/b" })),
		v("system-ref-empty-namespace", component(func(_, _, spec obj) { spec["system"] = "system:/checkout" })),
		v("consumes-apis-bad-ref", component(func(_, _, spec obj) { spec["consumesApis"] = []any{"api:", "storefront-rest"} })),
		v("system-number", component(func(_, _, spec obj) { spec["system"] = 7 })),
		v("lifecycle-number", component(func(_, _, spec obj) { spec["lifecycle"] = 1 })),
		v("api-definition-object", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "API", "metadata": obj{"name": "storefront-rest"},
			"spec": obj{"type": "openapi", "lifecycle": "production", "owner": "team-tide", "definition": obj{"openapi": "3.0.0"}}}),
		v("api-definition-file-placeholder", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "API", "metadata": obj{"name": "storefront-rest"},
			"spec": obj{"type": "openapi", "lifecycle": "production", "owner": "team-tide", "definition": obj{"$file": "./openapi.json"}}}),
		v("group-missing-type", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": obj{"name": "team-tide"},
			"spec": obj{"children": []any{}}}),
		// Boundaries and combinations: which rule speaks first.
		v("name-63-chars", component(func(_, md, _ obj) { md["name"] = strings.Repeat("a", 63) })),
		v("name-64-chars", component(func(_, md, _ obj) { md["name"] = strings.Repeat("a", 64) })),
		v("name-non-ascii", component(func(_, md, _ obj) { md["name"] = "café" })),
		v("name-and-tag-invalid", component(func(_, md, _ obj) { md["name"] = "Bad Name"; md["tags"] = []any{"Java"} })),
		v("tag-and-link-invalid", component(func(_, md, _ obj) {
			md["tags"] = []any{"Java"}
			md["links"] = []any{obj{"url": "www.harbor.example"}}
		})),
		v("tag-64-chars", component(func(_, md, _ obj) { md["tags"] = []any{strings.Repeat("t", 64)} })),
		v("tag-double-dash", component(func(_, md, _ obj) { md["tags"] = []any{"a--b"} })),
		v("label-key-too-long", component(func(_, md, _ obj) { md["labels"] = obj{strings.Repeat("k", 64): "v"} })),
		v("label-value-empty", component(func(_, md, _ obj) { md["labels"] = obj{"tier": ""} })),
		v("spec-all-missing", component(func(e, _, _ obj) { e["spec"] = obj{} })),
		v("spec-type-number-owner-missing", component(func(_, _, spec obj) { spec["type"] = 3; delete(spec, "owner") })),
		v("api-version-v1beta1", component(func(e, _, _ obj) { e["apiVersion"] = "backstage.io/v1beta1" })),
		v("api-version-scaffolder-group", component(func(e, _, _ obj) { e["apiVersion"] = "scaffolder.backstage.io/v1beta3" })),
		v("namespace-ref-uppercase", component(func(_, _, spec obj) { spec["owner"] = "group:OPS/night-watch" })),
		v("link-url-www", component(func(_, md, _ obj) { md["links"] = []any{obj{"url": "www.harbor.example"}} })),
		v("link-url-mailto", component(func(_, md, _ obj) { md["links"] = []any{obj{"url": "mailto:tide@harbor.example", "title": "Mail"}} })),
		v("link-url-localhost-port", component(func(_, md, _ obj) { md["links"] = []any{obj{"url": "http://localhost:3000/catalog"}} })),
		v("link-url-port-too-big", component(func(_, md, _ obj) { md["links"] = []any{obj{"url": "https://harbor.example:99999/"}} })),
		v("link-url-space-in-path", component(func(_, md, _ obj) { md["links"] = []any{obj{"url": "https://harbor.example/run book"}} })),
		v("link-url-template-expression", component(func(_, md, _ obj) { md["links"] = []any{obj{"url": "${{ values.repoUrl }}"}} })),
		v("link-title-empty", component(func(_, md, _ obj) { md["links"] = []any{obj{"url": "https://harbor.example", "title": ""}} })),
		v("link-icon-null", component(func(_, md, _ obj) { md["links"] = []any{obj{"url": "https://harbor.example", "icon": nil}} })),
		v("link-not-object", component(func(_, md, _ obj) { md["links"] = []any{"https://harbor.example"} })),
		v("api-definition-empty", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "API", "metadata": obj{"name": "storefront-rest"},
			"spec": obj{"type": "openapi", "lifecycle": "production", "owner": "team-tide", "definition": ""}}),
		v("location-no-target", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "Location", "metadata": obj{"name": "all"}, "spec": obj{"type": "url"}}),
		v("location-targets-empty", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "Location", "metadata": obj{"name": "all"}, "spec": obj{"targets": []any{}}}),
		v("domain-subdomain-list", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "Domain", "metadata": obj{"name": "commerce"},
			"spec": obj{"owner": "storefront", "subdomainOf": []any{"platform"}}}),
		v("group-members-number", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": obj{"name": "team-tide"},
			"spec": obj{"type": "team", "children": []any{}, "members": []any{42}}}),
		v("group-profile-picture-number", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": obj{"name": "team-tide"},
			"spec": obj{"type": "team", "children": []any{}, "profile": obj{"picture": 1}}}),
		v("group-children-null", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": obj{"name": "team-tide"},
			"spec": obj{"type": "team", "children": nil}}),
		v("user-member-of-null", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "User", "metadata": obj{"name": "ines"},
			"spec": obj{"memberOf": nil}}),
		v("group-missing-children", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": obj{"name": "team-tide"},
			"spec": obj{"type": "team"}}),
		v("user-member-of-string", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "User", "metadata": obj{"name": "ines"},
			"spec": obj{"memberOf": "team-tide"}}),
		v("user-missing-member-of", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "User", "metadata": obj{"name": "ines"},
			"spec": obj{"profile": obj{"displayName": "Inès"}}}),
		v("user-email-as-name", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "User", "metadata": obj{"name": "ines@harbor.example"},
			"spec": obj{"memberOf": []any{}}}),
		v("system-without-owner", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "System", "metadata": obj{"name": "checkout"},
			"spec": obj{"domain": "commerce"}}),
		v("resource-without-type", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "Resource", "metadata": obj{"name": "orders-db"},
			"spec": obj{"owner": "team-tide"}}),
		v("location-target-and-targets", obj{"apiVersion": "backstage.io/v1alpha1", "kind": "Location", "metadata": obj{"name": "all"},
			"spec": obj{"target": "https://git.harbor.example/a/blob/main/catalog-info.yaml", "targets": []any{"https://git.harbor.example/b/blob/main/catalog-info.yaml"}}}),
		v("template-parameters-object", template(func(spec obj) {
			spec["parameters"] = obj{"title": "Name", "required": []any{"name"}, "properties": obj{"name": obj{"type": "string"}}}
		})),
		v("template-step-each-and-if", template(func(spec obj) {
			spec["steps"] = []any{obj{"id": "log", "name": "Log", "action": "debug:log", "each": "${{ parameters.items }}", "if": "${{ parameters.verbose }}", "input": obj{"message": "${{ each.value }}"}}}
		})),
		v("template-output-text-and-links", template(func(spec obj) {
			spec["output"] = obj{"links": []any{obj{"title": "Repository", "url": "${{ steps.publish.output.remoteUrl }}"}},
				"text": []any{obj{"title": "Next steps", "content": "Run make"}}}
		})),
		v("template-presentation-and-lifecycle", template(func(spec obj) {
			spec["lifecycle"] = "production"
			spec["presentation"] = obj{"buttonLabels": obj{"createButtonText": "Go"}}
			spec["EXPERIMENTAL_formDecorators"] = []any{obj{"id": "github"}}
		})),
		v("template-step-without-action", template(func(spec obj) { spec["steps"] = []any{obj{"id": "fetch", "input": obj{}}} })),
		v("template-steps-object", template(func(spec obj) { spec["steps"] = obj{"fetch": obj{"action": "fetch:plain"}} })),
		v("template-parameters-string", template(func(spec obj) { spec["parameters"] = "name" })),
		v("template-owner-number", template(func(spec obj) { spec["owner"] = 5 })),
		v("template-without-type", template(func(spec obj) { delete(spec, "type") })),
		v("template-without-steps", obj{"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template", "metadata": obj{"name": "go-service"},
			"spec": obj{"owner": "team-lantern", "type": "service"}}),
	}
}

// realWorldLocationCases dry-run the registration of corpus files: the ones
// that fail say why, the valid ones show what would be stored. None of them
// goes through a ** glob: Backstage lists a glob's files in the order its
// directory walk finds them, which the file system decides.
func realWorldLocationCases() []Case {
	dry := func(name, target string) Case {
		return post("locations/"+name, "/api/catalog/locations?dryRun=true", map[string]any{"type": "file", "target": "{root}/" + target}, Exact)
	}
	return []Case{
		dry("dry-run-service", "services/storefront-api/catalog-info.yaml"),
		dry("dry-run-namespaced", "namespaced/catalog-info.yaml"),
		dry("dry-run-empty-file", "mistakes/empty.yaml"),
		dry("dry-run-only-comments", "mistakes/only-comments.yaml"),
		dry("dry-run-app-config", "mistakes/app-config-named-catalog.yaml"),
		dry("dry-run-entity-mix", "mistakes/entity-mix.yaml"),
		dry("dry-run-kind-not-allowed", "mistakes/ai-resource.yaml"),
		dry("dry-run-nulls", "mistakes/nulls.yaml"),
		dry("dry-run-edge-cases", "edge-cases.yaml"),
		dry("dry-run-list-of-entities", "mistakes/list-not-documents.yaml"),
		dry("dry-run-template-skeleton", "mistakes/skeleton-committed.yaml"),
		dry("dry-run-placeholder", "apis/drafts.yaml"),
		dry("dry-run-old-template", "templates/scaffold-service.yaml"),
		dry("dry-run-remote-target", "locations/index.yaml"),
		dry("dry-run-glob", "locations/sub/bots.yaml"),
	}
}
