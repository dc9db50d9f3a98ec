package github_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/config"
	"github.com/understage/understage/plugins/github"
)

// countingProvider reports each run on a channel and checks that runs of
// one provider never overlap.
type countingProvider struct {
	name    string
	sched   github.Schedule
	runs    chan context.Context
	active  atomic.Int32
	overlap atomic.Bool
	// block makes a run wait for its context to end.
	block bool
	fail  bool
}

func (p *countingProvider) Name() string              { return p.name }
func (p *countingProvider) Schedule() github.Schedule { return p.sched }
func (p *countingProvider) Run(ctx context.Context, _ catalog.ProcessingStore) error {
	if p.active.Add(1) > 1 {
		p.overlap.Store(true)
	}
	defer p.active.Add(-1)
	select {
	case p.runs <- ctx:
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.block {
		<-ctx.Done()
		return ctx.Err()
	}
	if p.fail {
		return errors.New("listing failed")
	}
	return nil
}

func startRunner(t *testing.T, ps ...github.Provider) *github.Runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := github.NewRunner(&fakeStore{}, ps, github.RunnerOptions{Logger: quiet})
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("runner returned %v", err)
		}
	})
	return r
}

func awaitRun(t *testing.T, p *countingProvider) context.Context {
	t.Helper()
	select {
	case ctx := <-p.runs:
		return ctx
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not run", p.name)
		return nil
	}
}

func TestRunnerRepeatsRunsWithoutOverlap(t *testing.T) {
	t.Parallel()
	fast := &countingProvider{name: "fast", sched: github.Schedule{Frequency: time.Millisecond, Timeout: time.Minute},
		runs: make(chan context.Context), fail: true}
	other := &countingProvider{name: "other", sched: github.Schedule{Frequency: time.Millisecond, Timeout: time.Minute},
		runs: make(chan context.Context)}
	startRunner(t, fast, other)
	// Failing runs are retried; each provider runs in its own loop.
	for range 5 {
		awaitRun(t, fast)
		awaitRun(t, other)
	}
	if fast.overlap.Load() || other.overlap.Load() {
		t.Fatal("runs of one provider overlapped")
	}
}

func TestRunnerTimeoutEndsARun(t *testing.T) {
	t.Parallel()
	p := &countingProvider{name: "slow", sched: github.Schedule{Frequency: time.Millisecond, Timeout: 20 * time.Millisecond},
		runs: make(chan context.Context), block: true}
	startRunner(t, p)
	ctx := awaitRun(t, p)
	if _, ok := ctx.Deadline(); !ok {
		t.Fatal("run has no deadline")
	}
	// The blocked run is cut off by its timeout and the next one starts.
	awaitRun(t, p)
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("first run's context: %v", ctx.Err())
	}
}

func TestRunnerManualAndTrigger(t *testing.T) {
	t.Parallel()
	p := &countingProvider{name: "manual", sched: github.Schedule{Manual: true, Timeout: time.Minute},
		runs: make(chan context.Context)}
	r := startRunner(t, p)
	awaitRun(t, p) // the first run happens after the initial delay
	select {
	case <-p.runs:
		t.Fatal("manual provider ran again untriggered")
	case <-time.After(50 * time.Millisecond):
	}
	if !r.Trigger("manual") {
		t.Fatal("trigger refused")
	}
	awaitRun(t, p)
	if r.Trigger("nope") {
		t.Fatal("unknown provider triggered")
	}
}

func TestRunnerStopsDuringInitialDelay(t *testing.T) {
	t.Parallel()
	p := &countingProvider{name: "late", sched: github.Schedule{Frequency: time.Hour, Timeout: time.Minute, InitialDelay: time.Hour},
		runs: make(chan context.Context, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = github.RunProviders(ctx, &fakeStore{}, []github.Provider{p}) })
	cancel()
	wg.Wait()
	if len(p.runs) != 0 {
		t.Fatal("ran before its initial delay")
	}
}

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
