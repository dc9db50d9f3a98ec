package github_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/plugins/github/githubtest"
)

type fakeRefresher struct {
	mu    sync.Mutex
	calls [][]string
	err   error
}

func (f *fakeRefresher) RefreshLocations(_ context.Context, urls []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, slices.Clone(urls))
	return f.err
}

type triggers struct {
	mu    sync.Mutex
	names []string
}

func (tr *triggers) trigger(name string) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.names = append(tr.names, name)
	return true
}

const secret = "It's a Secret to Everybody"

func sign(body []byte, key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

type webhookBundle struct {
	srv       *httptest.Server
	refresher *fakeRefresher
	triggers  *triggers
}

// webhookSetup serves a webhook over two discovery providers of acme: one
// with the default catalog path and one with a glob on branch release.
func webhookSetup(t *testing.T) *webhookBundle {
	t.Helper()
	gh := githubtest.New(t)
	cat := map[string]any{"github": map[string]any{
		"plain": map[string]any{"organization": "acme", "host": "github.test", "schedule": everyHour},
		"globs": map[string]any{"organization": "acme", "host": "github.test", "schedule": everyHour,
			"catalogPath": "/**/catalog-info.yaml", "filters": map[string]any{"branch": "release", "repository": "shop"}},
	}}
	ps := providersFor(t, gh, cat, nil)
	b := &webhookBundle{refresher: &fakeRefresher{}, triggers: &triggers{}}
	h := github.NewWebhook(github.WebhookOptions{Secrets: []string{"other", secret},
		Providers: github.DiscoveryProviders(ps), Refresher: b.refresher, Trigger: b.triggers.trigger, Logger: quiet})
	b.srv = httptest.NewServer(h)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *webhookBundle) post(t *testing.T, event string, payload any, sig func([]byte) string) (int, string) {
	t.Helper()
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	if s := sig(body); s != "" {
		req.Header.Set("X-Hub-Signature-256", s)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(out))
}

func signed(body []byte) string { return sign(body, secret) }

func push(repo, ref string, commits ...map[string]any) map[string]any {
	cs := []any{}
	for _, c := range commits {
		cs = append(cs, c)
	}
	return map[string]any{
		"ref": ref,
		"repository": map[string]any{"name": repo, "full_name": "acme/" + repo, "html_url": "https://github.test/acme/" + repo,
			"default_branch": "main", "topics": []any{}, "archived": false, "fork": false, "visibility": "public",
			"owner": map[string]any{"login": "acme", "name": "acme"}},
		"organization": map[string]any{"login": "acme"},
		"commits":      cs,
	}
}

func commit(added, modified, removed []string) map[string]any {
	return map[string]any{"added": added, "modified": modified, "removed": removed}
}

func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	b := webhookSetup(t)
	ev := push("shop", "refs/heads/main", commit(nil, []string{"catalog-info.yaml"}, nil))
	tests := []struct {
		name string
		sig  func([]byte) string
	}{
		{"missing", func([]byte) string { return "" }},
		{"wrong secret", func(body []byte) string { return sign(body, "guess") }},
		{"sha1 form", func(body []byte) string { return "sha1=" + strings.TrimPrefix(signed(body), "sha256=") }},
		{"not hex", func([]byte) string { return "sha256=zz" }},
		{"other body", func([]byte) string { return signed([]byte("{}")) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := b.post(t, "push", ev, tc.sig)
			if status != http.StatusForbidden || body != `{"message":"invalid signature"}` {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
	if len(b.refresher.calls) != 0 {
		t.Fatalf("refresher called for refused deliveries: %v", b.refresher.calls)
	}
	// Any configured secret is accepted.
	if status, body := b.post(t, "push", ev, func(body []byte) string { return sign(body, "other") }); status != http.StatusAccepted || body != `{"status":"accepted"}` {
		t.Fatalf("%d %s", status, body)
	}
}

func TestWebhookNoSecretRefusesEverything(t *testing.T) {
	t.Parallel()
	h := github.NewWebhook(github.WebhookOptions{Refresher: &fakeRefresher{}, Logger: quiet})
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "ping")
	req.Header.Set("X-Hub-Signature-256", sign([]byte(`{}`), ""))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestWebhookPush(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		event    map[string]any
		urls     []string // nil = refresher not called
		triggers []string
	}{
		{
			name: "modified catalog file on the default branch",
			event: push("shop", "refs/heads/main", commit(nil, []string{"catalog-info.yaml"}, nil),
				commit(nil, []string{"catalog-info.yaml", "src/main.go"}, nil)),
			urls: []string{
				"https://github.test/acme/shop/blob/main/catalog-info.yaml",
				"https://github.test/acme/shop/blob/main/src/main.go",
				"https://github.test/acme/shop/tree/main/catalog-info.yaml",
				"https://github.test/acme/shop/tree/main/src/main.go",
			},
		},
		{
			name:  "added catalog file triggers discovery",
			event: push("web", "refs/heads/main", commit([]string{"catalog-info.yaml"}, nil, nil)),
			urls: []string{
				"https://github.test/acme/web/blob/main/catalog-info.yaml",
				"https://github.test/acme/web/tree/main/catalog-info.yaml",
			},
			triggers: []string{"github-provider:plain"},
		},
		{
			name:  "removed file",
			event: push("web", "refs/heads/main", commit(nil, nil, []string{"apis/api.yaml"})),
			urls: []string{
				"https://github.test/acme/web/blob/main/apis/api.yaml",
				"https://github.test/acme/web/tree/main/apis/api.yaml",
			},
		},
		{
			name:  "glob provider's own target on its branch",
			event: push("shop", "refs/heads/release", commit([]string{"services/a/catalog-info.yaml"}, nil, nil)),
			urls: []string{
				"https://github.test/acme/shop/blob/release/**/catalog-info.yaml",
				"https://github.test/acme/shop/blob/release/services/a/catalog-info.yaml",
				"https://github.test/acme/shop/tree/release/services/a/catalog-info.yaml",
			},
			triggers: []string{"github-provider:globs"},
		},
		{
			name:  "glob provider ignores repositories its filter drops",
			event: push("web", "refs/heads/release", commit(nil, []string{"x/catalog-info.yaml"}, nil)),
			urls: []string{
				"https://github.test/acme/web/blob/release/x/catalog-info.yaml",
				"https://github.test/acme/web/tree/release/x/catalog-info.yaml",
			},
		},
		{
			name:  "tag push",
			event: push("shop", "refs/tags/v1", commit(nil, []string{"catalog-info.yaml"}, nil)),
		},
		{
			name:  "no commits",
			event: push("shop", "refs/heads/main"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := webhookSetup(t)
			if status, body := b.post(t, "push", tc.event, signed); status != http.StatusAccepted {
				t.Fatalf("%d %s", status, body)
			}
			switch {
			case tc.urls == nil && len(b.refresher.calls) != 0:
				t.Fatalf("refresher called with %v", b.refresher.calls)
			case tc.urls != nil && (len(b.refresher.calls) != 1 || !slices.Equal(b.refresher.calls[0], tc.urls)):
				t.Fatalf("refresher calls = %v\nwant [%v]", b.refresher.calls, tc.urls)
			}
			if !slices.Equal(b.triggers.names, tc.triggers) {
				t.Fatalf("triggers = %v, want %v", b.triggers.names, tc.triggers)
			}
		})
	}
}

func TestWebhookOtherEvents(t *testing.T) {
	t.Parallel()
	b := webhookSetup(t)
	ev := push("shop", "refs/heads/main")
	ev["action"] = "archived"
	if status, _ := b.post(t, "repository", ev, signed); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	slices.Sort(b.triggers.names)
	if want := []string{"github-provider:globs", "github-provider:plain"}; !slices.Equal(b.triggers.names, want) {
		t.Fatalf("triggers = %v", b.triggers.names)
	}
	if status, _ := b.post(t, "ping", map[string]any{"zen": "Keep it logically awesome."}, signed); status != http.StatusAccepted {
		t.Fatalf("ping status %d", status)
	}
	// GitHub's form-encoded deliveries are refused as Backstage refuses them.
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL, strings.NewReader("payload=%7B%7D"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Hub-Signature-256", signed([]byte("payload=%7B%7D")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form delivery: %d", resp.StatusCode)
	}
	// A refresh that fails is reported so the delivery can be redelivered.
	b.refresher.err = errors.New("database is gone")
	if status, _ := b.post(t, "push", push("shop", "refs/heads/main", commit(nil, []string{"a.yaml"}, nil)), signed); status != http.StatusInternalServerError {
		t.Fatalf("failed refresh answered %d", status)
	}
}

func TestWebhookSecrets(t *testing.T) {
	t.Parallel()
	cfg := config.FromValue(map[string]any{
		"events": map[string]any{"modules": map[string]any{"github": map[string]any{"webhookSecret": "module"}}},
		"integrations": map[string]any{"github": []any{
			map[string]any{"host": "github.com", "webhookSecret": "integration",
				"apps": []any{map[string]any{"appId": 1, "webhookSecret": "app"}}},
			map[string]any{"host": "ghe.test", "webhookSecret": "module"},
		}},
	}, "app-config.yaml")
	got, err := github.WebhookSecrets(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"module", "integration", "app"}; !slices.Equal(got, want) {
		t.Fatalf("secrets = %v, want %v", got, want)
	}
}
