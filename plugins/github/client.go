package github

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/understage/understage/plugins/backend"
)

// ClientOptions tune a Client. Zero values get the documented defaults.
type ClientOptions struct {
	// HTTPClient's transport carries the requests (default
	// http.DefaultTransport). Its redirect policy is replaced: redirects
	// are followed only to the API and raw hosts of the integration.
	HTTPClient *http.Client
	// MaxRateLimitWait is the longest the client waits for a rate limit to
	// reset before giving up with the error. Default 15 minutes.
	MaxRateLimitWait time.Duration
	// MaxRetries is how often one request is retried after rate-limit
	// answers. Default 3.
	MaxRetries int
	// Sleep waits for d or until ctx ends; tests replace it to observe
	// back-off without waiting. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// CacheEntries bounds the conditional-request cache. Default 10000.
	CacheEntries int
	Logger       *slog.Logger
}

// Client is a go-github client for one integration with conditional
// requests, rate-limit back-off and a content-addressed blob cache.
type Client struct {
	integ Integration
	gh    *gh.Client
	log   *slog.Logger

	blobMu    sync.Mutex
	blobs     map[string][]byte
	blobBytes int

	repoMu sync.Mutex
	repos  map[string]string // owner/repo → default branch, refreshed conditionally
}

// maxBlobCache bounds the bytes of blob contents a Client keeps.
const maxBlobCache = 64 << 20

// NewClient builds a client for integ; it makes no request.
func NewClient(integ Integration, o ClientOptions) (*Client, error) {
	integ = integ.WithDefaults()
	if o.MaxRateLimitWait <= 0 {
		o.MaxRateLimitWait = 15 * time.Minute
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = 3
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.CacheEntries <= 0 {
		o.CacheEntries = 10000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	base := http.DefaultTransport
	hc := &http.Client{}
	if o.HTTPClient != nil {
		*hc = *o.HTTPClient
		if hc.Transport != nil {
			base = hc.Transport
		}
	}
	rt := &rateTransport{base: base, maxWait: o.MaxRateLimitWait, maxRetries: o.MaxRetries,
		sleep: o.Sleep, log: o.Logger}
	hc.Transport = &etagTransport{base: rt, max: o.CacheEntries, entries: map[string]*cached{}}
	allowed := map[string]bool{}
	for _, s := range []string{integ.APIBaseURL, integ.RawBaseURL} {
		if u, err := url.Parse(s); err == nil {
			allowed[strings.ToLower(u.Host)] = true
		}
	}
	// A redirect to another host would let an allowed URL reach one that
	// was never configured (Backstage's CVE-2026-24048 was this for fetch).
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		if !allowed[strings.ToLower(req.URL.Host)] {
			return backend.NotAllowed("redirect to '%s' is not allowed", req.URL.Host)
		}
		return nil
	}
	c := gh.NewClient(hc)
	if integ.Token != "" {
		c = c.WithAuthToken(integ.Token)
	}
	api := integ.APIBaseURL + "/"
	var err error
	c, err = c.WithEnterpriseURLs(api, api)
	if err != nil {
		return nil, fmt.Errorf("github api base url: %w", err)
	}
	// WithEnterpriseURLs appends api/v3/ to hosts that lack it; the
	// configured base is authoritative (github.com and test servers have no
	// such prefix).
	if c.BaseURL, err = url.Parse(api); err != nil {
		return nil, fmt.Errorf("github api base url: %w", err)
	}
	return &Client{integ: integ, gh: c, log: o.Logger, blobs: map[string][]byte{}, repos: map[string]string{}}, nil
}

// GitHub is the underlying go-github client (its transport keeps the
// conditional cache and rate-limit handling).
func (c *Client) GitHub() *gh.Client { return c.gh }

// Integration is the integration the client talks to.
func (c *Client) Integration() Integration { return c.integ }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// classify turns go-github errors into Backstage kinds.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		switch er.Response.StatusCode {
		case http.StatusNotModified:
			return fmt.Errorf("%s: %w", what, backend.ErrNotModified)
		case http.StatusNotFound:
			return &backend.Error{Kind: backend.ErrNotFound, Message: what + " not found", Cause: err}
		case http.StatusUnauthorized:
			return &backend.Error{Kind: backend.ErrAuthentication, Message: what + ": " + er.Message, Cause: err}
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// blob returns a blob's content by sha, from the cache when possible: blobs
// are content-addressed, so a cached one never goes stale.
func (c *Client) blob(ctx context.Context, owner, repo, sha string) ([]byte, error) {
	c.blobMu.Lock()
	data, ok := c.blobs[sha]
	c.blobMu.Unlock()
	if ok {
		return data, nil
	}
	req, err := c.gh.NewRequest(http.MethodGet, fmt.Sprintf("repos/%s/%s/git/blobs/%s", owner, repo, url.PathEscape(sha)), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github.raw")
	var buf bytes.Buffer
	resp, err := c.gh.Do(ctx, req, &buf)
	if err != nil {
		return nil, classify(err, "blob "+sha)
	}
	data = buf.Bytes()
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		// A server that ignores the raw media type answers the JSON form.
		var b gh.Blob
		if err := json.Unmarshal(data, &b); err != nil {
			return nil, fmt.Errorf("blob %s: %w", sha, err)
		}
		if data, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(b.GetContent(), "\n", "")); err != nil {
			return nil, fmt.Errorf("blob %s: %w", sha, err)
		}
	}
	c.blobMu.Lock()
	defer c.blobMu.Unlock()
	if c.blobBytes+len(data) > maxBlobCache {
		clear(c.blobs)
		c.blobBytes = 0
	}
	c.blobs[sha] = data
	c.blobBytes += len(data)
	return data, nil
}

// rateTransport waits out GitHub's rate limits: before a request when the
// last answer said the limit is used up, and after a 403/429 rate-limit
// answer (primary: until X-RateLimit-Reset; secondary: Retry-After, or a
// minute when GitHub gives no hint). It marks responses X-From-Cache so
// that go-github does not also refuse requests on its own clock, which
// would bypass the bounded, context-aware waiting done here.
type rateTransport struct {
	base       http.RoundTripper
	maxWait    time.Duration
	maxRetries int
	sleep      func(context.Context, time.Duration) error
	log        *slog.Logger

	mu        sync.Mutex
	exhausted bool
	reset     time.Time
}

func (t *rateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		t.mu.Lock()
		wait := time.Duration(0)
		if t.exhausted {
			wait = time.Until(t.reset) + time.Second
		}
		t.mu.Unlock()
		if wait > 0 {
			if wait > t.maxWait {
				return nil, fmt.Errorf("github rate limit exhausted until %s: %w", t.reset.Format(time.RFC3339), backend.ErrUnavailable)
			}
			t.log.Info("github rate limit exhausted, waiting for reset", "wait", wait)
			if err := t.sleep(ctx, wait); err != nil {
				return nil, err
			}
			t.mu.Lock()
			t.exhausted = false
			t.mu.Unlock()
		}
		resp, err := t.base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		t.observe(resp)
		retryIn, limited := t.limited(resp)
		canRetry := req.Body == nil || req.GetBody != nil
		if !limited || attempt >= t.maxRetries || !canRetry || retryIn > t.maxWait {
			resp.Header.Set("X-From-Cache", "1")
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		t.log.Info("github rate limited, retrying", "status", resp.StatusCode, "wait", retryIn, "path", req.URL.Path)
		if retryIn > 0 {
			if err := t.sleep(ctx, retryIn); err != nil {
				return nil, err
			}
		}
		t.mu.Lock()
		t.exhausted = false
		t.mu.Unlock()
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// observe records whether the primary limit is used up.
func (t *rateTransport) observe(resp *http.Response) {
	rem := resp.Header.Get("X-RateLimit-Remaining")
	if rem == "" {
		return
	}
	n, err := strconv.Atoi(rem)
	if err != nil {
		return
	}
	reset, _ := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.exhausted = n == 0 && reset > 0
	t.reset = time.Unix(reset, 0)
}

// limited reports whether resp is a rate-limit answer and how long to wait.
func (t *rateTransport) limited(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil {
			return time.Duration(s) * time.Second, true
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		reset, _ := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
		return max(time.Until(time.Unix(reset, 0))+time.Second, 0), true
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return time.Minute, true
	}
	// A 403 may be a secondary limit without headers; GitHub says to wait
	// at least a minute then. Peek at the body and put it back.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if bytes.Contains(bytes.ToLower(body), []byte("secondary rate limit")) {
		return time.Minute, true
	}
	return 0, false
}

// etagTransport makes a repeated GET conditional: it remembers each 200
// answer that has an ETag and sends If-None-Match next time; a 304 is
// answered from memory. Requests that carry their own If-None-Match (the
// readers' conditional reads) pass through untouched.
type etagTransport struct {
	base    http.RoundTripper
	max     int
	mu      sync.Mutex
	entries map[string]*cached
	bytes   int
}

// maxCacheBytes bounds the bodies the conditional cache keeps in total;
// past it the cache starts over (only costs full answers again).
const maxCacheBytes = 64 << 20

type cached struct {
	etag   string
	header http.Header
	body   []byte
}

// maxCachedBody bounds one remembered answer.
const maxCachedBody = 1 << 20

func (t *etagTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.Header.Get("If-None-Match") != "" {
		return t.base.RoundTrip(req)
	}
	key := req.URL.String() + "\x00" + req.Header.Get("Accept")
	t.mu.Lock()
	e := t.entries[key]
	t.mu.Unlock()
	if e != nil {
		req = req.Clone(req.Context())
		req.Header.Set("If-None-Match", e.etag)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if e != nil && resp.StatusCode == http.StatusNotModified {
		resp.Body.Close()
		h := e.header.Clone()
		for k, v := range resp.Header {
			if strings.HasPrefix(k, "X-Ratelimit") || k == "X-From-Cache" {
				h[k] = v
			}
		}
		return &http.Response{Status: "200 OK", StatusCode: http.StatusOK, Proto: resp.Proto,
			ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor, Header: h, Request: resp.Request,
			Body: io.NopCloser(bytes.NewReader(e.body)), ContentLength: int64(len(e.body))}, nil
	}
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || resp.ContentLength > maxCachedBody {
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCachedBody+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) <= maxCachedBody {
		t.mu.Lock()
		if len(t.entries) >= t.max || t.bytes+len(body) > maxCacheBytes {
			clear(t.entries)
			t.bytes = 0
		}
		if old := t.entries[key]; old != nil {
			t.bytes -= len(old.body)
		}
		t.entries[key] = &cached{etag: etag, header: resp.Header.Clone(), body: body}
		t.bytes += len(body)
		t.mu.Unlock()
	}
	return resp, nil
}
