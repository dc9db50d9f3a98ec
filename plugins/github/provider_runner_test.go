package github_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/github"
)

// The schedule behaviours (repeats without overlap, timeouts, manual
// triggers, initial delays, one replica at a time) are the scheduler's:
// plugins/backend/scheduler tests them.

func TestProviderConfigErrors(t *testing.T) {
	t.Parallel()
	integ := map[string]any{"github": []any{map[string]any{"host": "github.test", "apiBaseUrl": "http://127.0.0.1:1"}}}
	tests := []struct {
		name    string
		catalog map[string]any
		want    string
	}{
		{"unknown host", map[string]any{"github": map[string]any{"organization": "a", "host": "ghe.nowhere", "schedule": everyHour}},
			"There is no GitHub config that matches host ghe.nowhere"},
		{"no schedule", map[string]any{"github": map[string]any{"organization": "a", "host": "github.test"}},
			"No schedule provided neither via code nor config for github-provider:default."},
		{"no organization", map[string]any{"github": map[string]any{"x": map[string]any{"schedule": everyHour}}},
			"organization"},
		{"glob with validation", map[string]any{"github": map[string]any{"organization": "a", "host": "github.test", "schedule": everyHour,
			"catalogPath": "**/c.yaml", "validateLocationsExist": true}}, "contains a wildcard"},
		{"bad regex", map[string]any{"github": map[string]any{"organization": "a", "host": "github.test", "schedule": everyHour,
			"filters": map[string]any{"repository": "("}}}, "filters.repository"},
		{"bad frequency", map[string]any{"github": map[string]any{"organization": "a", "host": "github.test",
			"schedule": map[string]any{"frequency": "often", "timeout": "1m"}}}, "frequency"},
		{"no timeout", map[string]any{"github": map[string]any{"organization": "a", "host": "github.test",
			"schedule": map[string]any{"frequency": "1m"}}}, "timeout"},
		{"bad cron", map[string]any{"github": map[string]any{"organization": "a", "host": "github.test",
			"schedule": map[string]any{"frequency": map[string]any{"cron": "every day"}, "timeout": "1m"}}}, "cron expression"},
		{"org url unknown", map[string]any{"githubOrg": map[string]any{"id": "p", "githubUrl": "https://ghe.nowhere", "orgs": []any{"a"}, "schedule": everyHour}},
			"There is no GitHub integration that matches https://ghe.nowhere"},
		{"org without orgs", map[string]any{"githubOrg": map[string]any{"id": "p", "githubUrl": "https://github.test", "schedule": everyHour}},
			"orgs"},
		{"org without id", map[string]any{"githubOrg": []any{map[string]any{"githubUrl": "https://github.test", "orgs": []any{"a"}, "schedule": everyHour}}},
			"id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.FromValue(map[string]any{"integrations": integ, "catalog": map[string]any{"providers": tc.catalog}}, "app-config.yaml")
			_, err := github.Providers(context.Background(), cfg, github.ProviderOptions{Logger: quiet})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestProviderConfig(t *testing.T) {
	t.Parallel()
	cfg := config.FromValue(map[string]any{
		"catalog": map[string]any{"providers": map[string]any{
			"github": map[string]any{"organization": "backstage", "catalogPath": "/catalog.yaml",
				"schedule": map[string]any{"frequency": map[string]any{"minutes": 30}, "timeout": "PT3M", "initialDelay": "15s"}},
			"githubOrg": []any{
				map[string]any{"id": "a", "githubUrl": "https://github.com", "orgs": []any{"x"},
					"schedule": map[string]any{"frequency": map[string]any{"trigger": "manual"}, "timeout": "10m"}},
			},
		}},
	}, "app-config.yaml")
	ps, err := github.Providers(context.Background(), cfg, github.ProviderOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("%d providers", len(ps))
	}
	d := ps[0].(*github.DiscoveryProvider)
	want := github.Schedule{Frequency: 30 * time.Minute, Timeout: 3 * time.Minute, InitialDelay: 15 * time.Second}
	if d.Name() != "github-provider:default" || d.Schedule() != want {
		t.Fatalf("discovery %s %+v", d.Name(), d.Schedule())
	}
	// github.com is available without an integrations entry, as in Backstage.
	if got := d.TargetURL("backstage", "backstage", "master"); got != "https://github.com/backstage/backstage/blob/master/catalog.yaml" {
		t.Fatalf("target = %s", got)
	}
	if s := ps[1].Schedule(); !s.Manual || s.Timeout != 10*time.Minute || ps[1].Name() != "GithubMultiOrgEntityProvider:a" {
		t.Fatalf("org provider %s %+v", ps[1].Name(), s)
	}
}
