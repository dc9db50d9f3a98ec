package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
)

// offsetLists serves, for GET /entities?offset=N, the Nth of its lists.
type offsetLists struct {
	catalog.Reader // nil: only ListEntities is called
	lists          [][]catalog.RawEntity
}

func (o offsetLists) ListEntities(_ context.Context, req catalog.EntitiesRequest) (catalog.EntitiesResult, error) {
	return catalog.EntitiesResult{Entities: o.lists[req.Offset]}, nil
}

// TestEntityListsConcurrently: lists written at the same time, through the
// buffers requests share, each arrive whole and unmixed: empty, small,
// larger than one flush, and one entity larger than any buffer kept.
func TestEntityListsConcurrently(t *testing.T) {
	t.Parallel()
	entity := func(name string, pad int) catalog.RawEntity {
		return catalog.RawEntity(fmt.Sprintf(`{"kind":"Component","metadata":{"name":%q,"description":%q}}`, name, strings.Repeat(name[:1], pad)))
	}
	var lists [][]catalog.RawEntity
	lists = append(lists, nil, []catalog.RawEntity{entity("a", 10), entity("b", 20)})
	var many []catalog.RawEntity
	for i := range 150 {
		many = append(many, entity(fmt.Sprintf("c%03d", i), 1000))
	}
	lists = append(lists, many, []catalog.RawEntity{entity("d", 10), entity("e", 400<<10), entity("f", 10)})
	want := make([]string, len(lists))
	for i, l := range lists {
		parts := make([]string, len(l))
		for j, e := range l {
			parts[j] = string(e)
		}
		want[i] = "[" + strings.Join(parts, ",") + "]"
	}
	e := echo.New()
	e.HTTPErrorHandler = errorHandler
	Register(e.Group("/api/catalog"), Options{Reader: offsetLists{lists: lists}})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				n := (w + i) % len(lists)
				res, err := http.Get(fmt.Sprintf("%s/api/catalog/entities?offset=%d&limit=1000", srv.URL, n))
				if err != nil {
					errs <- err
					return
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil {
					errs <- err
					return
				}
				if res.StatusCode != http.StatusOK || string(body) != want[n] {
					errs <- fmt.Errorf("list %d: status %d, %d bytes, want %d bytes", n, res.StatusCode, len(body), len(want[n]))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
