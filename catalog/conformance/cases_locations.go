package conformance

import "net/http"

// LocationCases exercise the locations API in order: they register, list,
// query and delete a location of the corpus's registered/ folder, so they
// run after ReadCases and each is sent once.
func LocationCases() []Case {
	const (
		locs    = "/api/catalog/locations"
		analyze = "/api/catalog/analyze-location"
	)
	reg := func(target string) map[string]any {
		return map[string]any{"type": "file", "target": "{root}/" + target}
	}
	m := func(c Case) Case { c.Mutates = true; return c }
	return []Case{
		post("locations/list-empty", locs+"/by-query", map[string]any{}, Exact),
		get("locations/get-list-empty", locs, Exact),
		post("locations/dry-run", locs+"?dryRun=true", reg("registered/loc.yaml"), Exact),
		post("locations/dry-run-single-file", locs+"?dryRun=true", reg("registered/svc.yaml"), Exact),
		post("locations/dry-run-missing-file", locs+"?dryRun=true", reg("registered/nope.yaml"), Exact),
		post("locations/dry-run-broken-yaml", locs+"?dryRun=true", reg("registered/broken.yaml"), StatusOnly),
		m(post("locations/create", locs, reg("registered/loc.yaml"), Exact)),
		m(post("locations/create-again-conflicts", locs, reg("registered/loc.yaml"), Exact)),
		m(post("locations/create-again-refresh", locs+"?onConflict=refresh", reg("registered/loc.yaml"), Exact)),
		// PUT keeps the entityRef generated from the first target; a
		// registered target conflicts even for an unknown id.
		m(put("locations/update-target", locs+"/{loc:file:{root}/registered/loc.yaml}", reg("registered/svc.yaml"))),
		get("locations/get-by-id-after-update", locs+"/{loc:file:{root}/registered/svc.yaml}", Exact),
		m(put("locations/update-target-back", locs+"/{loc:file:{root}/registered/svc.yaml}", reg("registered/loc.yaml"))),
		m(put("bad/locations-update-unknown", locs+"/00000000-0000-4000-8000-000000000001", reg("registered/nope.yaml"))),
		m(put("bad/locations-update-unknown-conflicting", locs+"/00000000-0000-4000-8000-000000000001", reg("registered/loc.yaml"))),
		post("locations/dry-run-exists", locs+"?dryRun=true", reg("registered/loc.yaml"), Exact),
		get("locations/get-list", locs, Exact),
		get("locations/get-by-id", locs+"/{loc:file:{root}/registered/loc.yaml}", Exact),
		get("locations/get-unknown", locs+"/00000000-0000-4000-8000-000000000001", Exact),
		get("locations/get-not-uuid", locs+"/not-a-uuid", Exact),
		post("locations/by-query-all", locs+"/by-query", map[string]any{}, Exact),
		post("locations/by-query-type", locs+"/by-query", map[string]any{"query": map[string]any{"type": "file"}, "limit": 1}, Exact),
		post("locations/by-query-no-match", locs+"/by-query", map[string]any{"query": map[string]any{"type": "url"}}, Exact),
		post("bad/locations-by-query-key", locs+"/by-query", map[string]any{"query": map[string]any{"bogus": "x"}}, Exact),
		get("locations/by-entity-config-location", locs+"/by-entity/component/default/payments-service", Exact),
		get("locations/by-entity-unknown", locs+"/by-entity/component/default/nope", Exact),
		post("bad/locations-type-not-allowed", locs, map[string]any{"type": "ftp", "target": "x"}, Exact),
		post("bad/locations-missing-target", locs, map[string]any{"type": "file"}, Exact),
		post("bad/locations-extra-key", locs, map[string]any{"type": "file", "target": "x", "extra": 1}, Exact),
		post("bad/locations-unknown-param", locs+"?bogus=1", reg("registered/loc.yaml"), Exact),
		post("bad/analyze-not-url", analyze, map[string]any{"location": map[string]any{"type": "url", "target": "notaurl"}}, Exact),
		post("bad/analyze-file", analyze, map[string]any{"location": map[string]any{"type": "file", "target": "/tmp/x"}}, Exact),
		post("bad/analyze-missing-location", analyze, map[string]any{}, Exact),
		// Repositories never read: the proposal's name and project slug.
		post("locations/analyze-gitlab", analyze, map[string]any{"location": map[string]any{"type": "url", "target": "https://gitlab.com/group/sub/proj"}}, Exact),
		post("locations/analyze-azure", analyze, map[string]any{"location": map[string]any{"type": "url", "target": "https://dev.azure.com/org/proj/_git/repo"}}, Exact),
		post("locations/analyze-bitbucket-server", analyze, map[string]any{"location": map[string]any{"type": "url", "target": "https://git.example.com/projects/PRJ/repos/rep/browse/x.yaml"}}, Exact),
		post("bad/analyze-uri-malformed", analyze, map[string]any{"location": map[string]any{"type": "url", "target": "https://git.example.com/a/%E0%A4%A"}}, Exact),
		m(Case{Name: "locations/delete", Method: http.MethodDelete, Path: locs + "/{loc:file:{root}/registered/loc.yaml}", Compare: Exact}),
		m(Case{Name: "locations/delete-again", Method: http.MethodDelete, Path: locs + "/{loc:file:{root}/registered/loc.yaml}", Compare: Exact}),
		get("locations/get-list-after-delete", locs, Exact),
	}
}

// AllCases is every case, in the order they must run.
func AllCases() []Case { return append(ReadCases(), LocationCases()...) }

func put(name, path string, body any) Case {
	return Case{Name: name, Method: http.MethodPut, Path: path, Body: body, Compare: Exact}
}
