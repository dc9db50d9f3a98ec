package conformance

// RealWorldURLRootLocation is the Location entity of testdata/realworld-url/all.yaml.
const RealWorldURLRootLocation = "realworld-url-corpus"

// RealWorldURLSuite asks about testdata/realworld-url, registered as a url
// location the way repositories are: $text, $json and $yaml placeholders
// relative to the file, targets relative to the Location's URL, the
// location annotations the catalog adds, and the errors of placeholders and
// targets that cannot be read.
//
// TestRecordGolden serves the corpus itself (EnvRecordCorpusAddr, default
// 127.0.0.1:7174); the oracle's app-config must allow and load it:
//
//	backend.reading.allow: [{host: '127.0.0.1:7174'}]
//	catalog.locations: [{type: url, target: http://127.0.0.1:7174/all.yaml}]
func RealWorldURLSuite() Suite {
	return Suite{Name: "realworld-url", Corpus: "testdata/realworld-url", RootLocation: RealWorldURLRootLocation,
		GoldenDir: "testdata/golden-realworld-url", Cases: RealWorldURLCases(), ServeHTTP: true}
}

// RealWorldURLCases are the cases of RealWorldURLSuite, in the order they run.
func RealWorldURLCases() []Case {
	const (
		byName   = "/api/catalog/entities/by-name/"
		entities = "/api/catalog/entities"
		facets   = "/api/catalog/entity-facets"
	)
	var cs []Case
	for _, path := range []string{
		"location/default/" + RealWorldURLRootLocation,
		"group/default/team-reef", "user/default/noor.haddad",
		"component/default/reef-scheduler", "component/default/reef-console",
		"api/default/reef-jobs", "api/default/reef-events", "api/default/reef-jobs-as-data",
		"location/default/reef-nested", "resource/default/reef-queue", "component/default/reef-worker",
		"location/default/reef-broken-placeholders", "location/default/reef-missing-target",
		"component/default/reef-survivor",
	} {
		cs = append(cs, get("by-name/"+path, byName+path, Exact))
	}
	dry := func(name, target string) Case {
		return post("locations/"+name, "/api/catalog/locations?dryRun=true", map[string]any{"type": "url", "target": "{root}/" + target}, Exact)
	}
	return append(cs,
		get("ancestry/nested-relative", byName+"component/default/reef-worker/ancestry", Exact),
		post("by-refs/broken-absent", "/api/catalog/entities/by-refs", map[string]any{"entityRefs": []string{
			"component:default/reef-survivor", "api:default/reef-missing-definition", "component:default/reef-bad-json",
			"component:default/reef-two-documents", "api:default/reef-remote-definition", "api:default/reef-number-placeholder",
		}, "fields": []string{"kind", "metadata.name"}}, Exact),
		get("filter/view-url", entities+"?filter=metadata.annotations.backstage.io/view-url&order=asc:metadata.name&fields=metadata.name,metadata.annotations", Exact),
		get("filter/placeholder-data", entities+"?filter=spec.settings.queues=low&fields=metadata.name,spec.settings", Exact),
		get("facets/location-annotations", facets+"?facet=metadata.annotations.backstage.io/source-location&facet=metadata.annotations.backstage.io/edit-url", Exact),
		dry("dry-run-service", "service/catalog-info.yaml"),
		dry("dry-run-apis", "apis/catalog-info.yaml"),
		dry("dry-run-nested", "nested/location.yaml"),
		dry("dry-run-missing-file", "broken/gone.yaml"),
		dry("dry-run-missing-definition", "broken/missing-definition.yaml"),
		dry("dry-run-bad-json", "broken/bad-json.yaml"),
		dry("dry-run-two-documents", "broken/two-documents-placeholder.yaml"),
		dry("dry-run-remote-definition", "broken/remote-definition.yaml"),
		dry("dry-run-number-placeholder", "broken/number-placeholder.yaml"),
	)
}
