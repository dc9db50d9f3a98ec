package catalog_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
)

// stubReader answers every read with its name.
type stubReader string

func (s stubReader) ReadURL(context.Context, string, catalog.ReadOptions) (catalog.ReadResult, error) {
	return catalog.ReadResult{Data: []byte(s)}, nil
}
func (s stubReader) ReadTree(context.Context, string, catalog.ReadOptions) (catalog.Tree, error) {
	return catalog.Tree{ETag: string(s)}, nil
}
func (s stubReader) Search(context.Context, string, catalog.ReadOptions) (catalog.SearchResult, error) {
	return catalog.SearchResult{ETag: string(s)}, nil
}

func TestURLReaders(t *testing.T) {
	t.Parallel()
	r := catalog.NewURLReaders()
	host := func(h string) catalog.URLPredicate { return func(u *url.URL) bool { return u.Host == h } }
	r.Register("first", host("a.example"), stubReader("first"))
	r.Register("second", host("a.example"), stubReader("second"))
	r.Register("b", func(u *url.URL) bool { return u.Hostname() == "b.example" }, stubReader("b"))
	tests := []struct {
		url, want string
	}{
		{"https://a.example/x", "first"}, // the first claim wins
		{"https://b.example:8080/y", "b"},
		{"https://c.example/z", ""},
		{"not a url", ""},
		{"://", ""},
	}
	ctx := context.Background()
	for _, tc := range tests {
		res, err := r.ReadURL(ctx, tc.url, catalog.ReadOptions{})
		if tc.want == "" {
			want := "Reading from '" + tc.url + "' is not allowed. You may need to configure an integration for the target host, " +
				"or add it to the configured list of allowed hosts at 'backend.reading.allow'"
			if backend.KindOf(err) != backend.ErrNotAllowed || backend.MessageOf(err) != want {
				t.Errorf("%s: err = %v", tc.url, err)
			}
			continue
		}
		if err != nil || string(res.Data) != tc.want {
			t.Errorf("%s: read %q, %v; want %q", tc.url, res.Data, err, tc.want)
		}
		tree, err := r.ReadTree(ctx, tc.url, catalog.ReadOptions{})
		if err != nil || tree.ETag != tc.want {
			t.Errorf("%s: tree %q, %v", tc.url, tree.ETag, err)
		}
		found, err := r.Search(ctx, tc.url, catalog.ReadOptions{})
		if err != nil || found.ETag != tc.want {
			t.Errorf("%s: search %q, %v", tc.url, found.ETag, err)
		}
	}
	if got := r.Names(); len(got) != 3 || got[0] != "first" || got[2] != "b" {
		t.Errorf("names = %v", got)
	}
}
