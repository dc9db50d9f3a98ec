package urlreaders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
)

// FetchOptions tune a FetchReader.
type FetchOptions struct {
	// Timeout bounds one read. Default 60 s.
	Timeout time.Duration
	// MaxBytes bounds one file. Default 32 MiB.
	MaxBytes int64
}

// FetchReader reads allow-listed http(s) URLs with plain GETs: Backstage's
// FetchUrlReader. It can read single files only; ReadTree is not
// implemented and Search finds at most the one file a URL names.
type FetchReader struct {
	rules  []AllowRule
	client *http.Client
	max    int64
}

// NewFetchReader returns a reader for the given rules.
func NewFetchReader(rules []AllowRule, o FetchOptions) *FetchReader {
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 32 << 20
	}
	f := &FetchReader{rules: slices.Clone(rules), max: o.MaxBytes}
	dialer := &net.Dialer{Timeout: 30 * time.Second,
		// The check runs on the address actually dialled, after DNS, so a
		// name that resolves to an internal address is caught too.
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || internal(ip) {
				return &backend.Error{Kind: backend.ErrNotAllowed,
					Message: fmt.Sprintf("Reading from internal address %s is not allowed", host)}
			}
			return nil
		}}
	open := http.DefaultTransport.(*http.Transport).Clone()
	open.Proxy = nil
	guarded := open.Clone()
	guarded.DialContext = dialer.DialContext
	f.client = &http.Client{Transport: &ruleTransport{f: f, open: open, guarded: guarded}, Timeout: o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			if ok, _ := f.rule(req.URL); !ok {
				return catalog.NotAllowedURL(req.URL.String())
			}
			return nil
		}}
	return f
}

// ruleTransport sends each hop (redirects included) through the transport
// its rule permits: a rule naming the host exactly may reach any address;
// a wildcard rule goes through a transport whose dialer refuses internal
// addresses. Two separate pools matter: a connection kept alive for an
// exact rule must never serve a wildcard-matched request without the check.
type ruleTransport struct {
	f             *FetchReader
	open, guarded http.RoundTripper
}

func (t *ruleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ok, exact := t.f.rule(req.URL)
	switch {
	case !ok:
		return nil, catalog.NotAllowedURL(req.URL.String())
	case exact:
		return t.open.RoundTrip(req)
	default:
		return t.guarded.RoundTrip(req)
	}
}

// internal reports addresses a wildcard rule must never reach.
func internal(ip net.IP) bool {
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast()
}

// rule finds the first rule that admits u.
func (f *FetchReader) rule(u *url.URL) (ok, exact bool) {
	if u.Scheme != "http" && u.Scheme != "https" || u.User != nil {
		return false, false
	}
	// Paths are compared after resolving dot segments, so /allowed/../x
	// cannot pass as /allowed/.
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == ".." || seg == "." {
			return false, false
		}
	}
	for _, r := range f.rules {
		if ok, exact := r.match(u); ok {
			return true, exact
		}
	}
	return false, false
}

// Claims reports whether an allow rule admits u.
func (f *FetchReader) Claims(u *url.URL) bool {
	ok, _ := f.rule(u)
	return ok
}

// ReadURL GETs the URL, conditionally when o.ETag is set.
func (f *FetchReader) ReadURL(ctx context.Context, raw string, o catalog.ReadOptions) (catalog.ReadResult, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return catalog.ReadResult{}, catalog.NotAllowedURL(raw)
	}
	if ok, _ := f.rule(u); !ok {
		return catalog.ReadResult{}, catalog.NotAllowedURL(raw)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return catalog.ReadResult{}, fmt.Errorf("read %s: %w", raw, err)
	}
	if o.ETag != "" {
		req.Header.Set("If-None-Match", o.ETag)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var be *backend.Error
		if errors.As(err, &be) {
			return catalog.ReadResult{}, be
		}
		return catalog.ReadResult{}, fmt.Errorf("read %s: %w", raw, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return catalog.ReadResult{}, fmt.Errorf("%s: %w", raw, backend.ErrNotModified)
	case resp.StatusCode == http.StatusNotFound:
		return catalog.ReadResult{}, backend.NotFound("could not read %s, 404 Not Found", raw)
	case resp.StatusCode != http.StatusOK:
		return catalog.ReadResult{}, fmt.Errorf("could not read %s, %s", raw, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, f.max+1))
	if err != nil {
		return catalog.ReadResult{}, fmt.Errorf("read %s: %w", raw, err)
	}
	if int64(len(data)) > f.max {
		return catalog.ReadResult{}, fmt.Errorf("read %s: larger than %d bytes", raw, f.max)
	}
	return catalog.ReadResult{Data: data, ETag: resp.Header.Get("ETag")}, nil
}

// ReadTree is not possible over plain HTTP.
func (f *FetchReader) ReadTree(ctx context.Context, raw string, o catalog.ReadOptions) (catalog.Tree, error) {
	return catalog.Tree{}, backend.Errorf(backend.ErrNotImplemented, "FetchUrlReader does not implement readTree")
}

// Search reads the one file the URL names; globs cannot be listed over HTTP.
func (f *FetchReader) Search(ctx context.Context, raw string, o catalog.ReadOptions) (catalog.SearchResult, error) {
	if strings.ContainsAny(raw, "*?[") {
		return catalog.SearchResult{}, backend.Errorf(backend.ErrNotImplemented, "FetchUrlReader does not support glob search")
	}
	res, err := f.ReadURL(ctx, raw, o)
	if backend.KindOf(err) == backend.ErrNotFound {
		return catalog.SearchResult{Files: []catalog.SearchFile{}}, nil
	}
	if err != nil {
		return catalog.SearchResult{}, err
	}
	return catalog.SearchResult{Files: []catalog.SearchFile{{URL: raw, Data: res.Data}}, ETag: res.ETag}, nil
}

var _ catalog.URLReader = (*FetchReader)(nil)
