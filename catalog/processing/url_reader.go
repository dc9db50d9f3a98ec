package processing

import (
	"context"
	"fmt"
	"net/url"

	"github.com/understage/understage/catalog"
)

// URLLocationReader reads `url` locations through the catalog's URL
// readers, which refuse any host that no integration or allow rule names.
type URLLocationReader struct {
	Readers catalog.URLReader
}

// ReadLocation reads the file at target, or every file a glob matches.
func (r URLLocationReader) ReadLocation(ctx context.Context, target string) ([]LocationFile, error) {
	if hasGlob(target) {
		res, err := r.Readers.Search(ctx, target, catalog.ReadOptions{})
		if err != nil {
			return nil, err
		}
		out := make([]LocationFile, 0, len(res.Files))
		for _, f := range res.Files {
			out = append(out, LocationFile{Type: "url", Target: f.URL, Data: f.Data})
		}
		return out, nil
	}
	res, err := r.Readers.ReadURL(ctx, target, catalog.ReadOptions{})
	if err != nil {
		return nil, err
	}
	return []LocationFile{{Type: "url", Target: target, Data: res.Data}}, nil
}

// Resolve resolves target against the URL of the file that names it.
func (URLLocationReader) Resolve(base, target string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("bad base URL %q: %w", base, err)
	}
	t, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("bad URL %q: %w", target, err)
	}
	return b.ResolveReference(t).String(), nil
}
