package processing

import (
	"context"
	"fmt"
	"net/url"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/glob"
)

// URLLocationReader reads `url` locations through the catalog's URL
// readers, which refuse any host that no integration or allow rule names.
type URLLocationReader struct {
	Readers catalog.URLReader
}

// Read reads every file the target matches: the one file it names, or
// those a glob matches. As in Backstage (UrlReaderProcessor), a target is
// always searched, and a file that is not there is a NotFoundError
// "Unable to read url, no matching files found for <target>". A glob that
// matches nothing is no error here, unlike in Backstage: the catalog then
// drops what the glob's files held (features/locations.feature, "A file
// deleted from the repository makes its entities disappear"). The URL
// readers bound what they hold in memory; a file over maxBytes is refused
// here.
func (r URLLocationReader) Read(ctx context.Context, target string, maxBytes int64) ([]LocationFile, error) {
	res, err := r.Readers.Search(ctx, target, catalog.ReadOptions{})
	if backend.KindOf(err) == backend.ErrNotFound {
		return nil, backend.NotFound("Unable to read url, %s", backend.MessageOf(err))
	}
	if err != nil {
		return nil, err
	}
	if len(res.Files) == 0 && !glob.HasMeta(target) {
		return nil, backend.NotFound("Unable to read url, no matching files found for %s", target)
	}
	out := make([]LocationFile, 0, len(res.Files))
	for _, f := range res.Files {
		if int64(len(f.Data)) > maxBytes {
			return nil, &LimitError{What: "url:" + f.URL, Limit: maxBytes, Unit: "bytes", Key: LimitKeyFileSize}
		}
		out = append(out, LocationFile{Type: "url", Target: f.URL, Data: f.Data})
	}
	return out, nil
}

// ReadFile reads the one file at target (never a search, whatever its
// characters); what may be read is up to the URL readers' host rules, so
// scope is not used.
func (r URLLocationReader) ReadFile(ctx context.Context, target, _ string, maxBytes int64) ([]byte, error) {
	res, err := r.Readers.ReadURL(ctx, target, catalog.ReadOptions{})
	if err != nil {
		return nil, err
	}
	if int64(len(res.Data)) > maxBytes {
		return nil, &LimitError{What: "the file", Limit: maxBytes, Unit: "bytes", Key: LimitKeyPlaceholderSize}
	}
	return res.Data, nil
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
