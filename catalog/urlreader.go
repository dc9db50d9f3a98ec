package catalog

import (
	"context"
	"fmt"
	"net/url"

	"github.com/understage/understage/plugins/backend"
)

// ReadOptions tune one read. ETag is the value a previous read returned:
// when the source has not changed since, the read fails with an error
// wrapping backend.ErrNotModified instead of returning the same data again.
type ReadOptions struct {
	ETag string
}

// ReadResult is one file read from a URL.
type ReadResult struct {
	Data []byte
	// ETag identifies this version of the file; pass it back in
	// ReadOptions.ETag to make the next read conditional. Empty when the
	// source cannot tell versions apart.
	ETag string
}

// TreeFile is one file of a tree; Path is relative to the tree's root and
// uses forward slashes.
type TreeFile struct {
	Path string
	Data []byte
}

// Tree is every file under a directory URL.
type Tree struct {
	Files []TreeFile
	ETag  string
}

// SearchFile is one file found by a search, with its own URL (which a
// ReadURL on the same reader would read).
type SearchFile struct {
	URL  string
	Data []byte
}

// SearchResult is what a search found; no match is an empty result, not an
// error.
type SearchResult struct {
	Files []SearchFile
	ETag  string
}

// URLReader reads files from remote sources: Backstage's UrlReaderService,
// simplified. Implementations return errors wrapping backend.ErrNotModified
// when opts.ETag still matches, backend.ErrNotFound when the target does not
// exist, and backend.ErrNotAllowed when the URL is outside what they may read.
type URLReader interface {
	// ReadURL reads one file.
	ReadURL(ctx context.Context, rawURL string, opts ReadOptions) (ReadResult, error)
	// ReadTree reads every file under a directory URL.
	ReadTree(ctx context.Context, rawURL string, opts ReadOptions) (Tree, error)
	// Search reads every file whose URL matches the glob pattern in rawURL
	// ("https://github.com/o/r/blob/main/**/catalog-info.yaml"). A URL
	// without glob characters finds at most that one file.
	Search(ctx context.Context, rawURL string, opts ReadOptions) (SearchResult, error)
}

// URLPredicate tells whether a reader handles a URL.
type URLPredicate func(u *url.URL) bool

// URLReaders picks a reader by URL: readers are asked in the order they were
// registered and the first whose predicate claims the URL reads it. A URL that
// no reader claims is refused, which is what keeps the catalog from reading
// arbitrary hosts on behalf of whoever registers a location.
type URLReaders struct {
	entries []urlReaderEntry
}

type urlReaderEntry struct {
	name   string
	claims URLPredicate
	reader URLReader
}

// NewURLReaders returns an empty registry, which refuses every URL.
func NewURLReaders() *URLReaders { return &URLReaders{} }

// Register adds a reader after those already registered. name only labels
// the reader in Names.
func (r *URLReaders) Register(name string, claims URLPredicate, reader URLReader) {
	r.entries = append(r.entries, urlReaderEntry{name: name, claims: claims, reader: reader})
}

// Names lists the registered readers in the order they are asked.
func (r *URLReaders) Names() []string {
	out := make([]string, len(r.entries))
	for i, e := range r.entries {
		out[i] = e.name
	}
	return out
}

// ReaderFor returns the reader that claims rawURL, or an error wrapping
// backend.ErrNotAllowed with Backstage's message.
func (r *URLReaders) ReaderFor(rawURL string) (URLReader, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		// An unparsable URL cannot be claimed; Backstage refuses it the same way.
		return nil, NotAllowedURL(rawURL)
	}
	for _, e := range r.entries {
		if e.claims(u) {
			return e.reader, nil
		}
	}
	return nil, NotAllowedURL(rawURL)
}

// NotAllowedURL is the error for a URL that no reader may read, worded as
// Backstage's UrlReaderPredicateMux words it.
func NotAllowedURL(rawURL string) error {
	return &backend.Error{Kind: backend.ErrNotAllowed, Message: fmt.Sprintf(
		"Reading from '%s' is not allowed. You may need to configure an integration for the target host, "+
			"or add it to the configured list of allowed hosts at 'backend.reading.allow'", rawURL)}
}

// ReadURL reads through the reader that claims rawURL.
func (r *URLReaders) ReadURL(ctx context.Context, rawURL string, opts ReadOptions) (ReadResult, error) {
	rd, err := r.ReaderFor(rawURL)
	if err != nil {
		return ReadResult{}, err
	}
	return rd.ReadURL(ctx, rawURL, opts)
}

// ReadTree reads through the reader that claims rawURL.
func (r *URLReaders) ReadTree(ctx context.Context, rawURL string, opts ReadOptions) (Tree, error) {
	rd, err := r.ReaderFor(rawURL)
	if err != nil {
		return Tree{}, err
	}
	return rd.ReadTree(ctx, rawURL, opts)
}

// Search searches through the reader that claims rawURL.
func (r *URLReaders) Search(ctx context.Context, rawURL string, opts ReadOptions) (SearchResult, error) {
	rd, err := r.ReaderFor(rawURL)
	if err != nil {
		return SearchResult{}, err
	}
	return rd.Search(ctx, rawURL, opts)
}

var _ URLReader = (*URLReaders)(nil)
