package backend_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/understage/understage/plugins/backend"
)

func TestKindTable(t *testing.T) {
	tests := []struct {
		name   string
		status int
		kind   *backend.Kind
	}{
		{"InputError", 400, backend.ErrInput},
		{"AuthenticationError", 401, backend.ErrAuthentication},
		{"NotAllowedError", 403, backend.ErrNotAllowed},
		{"NotFoundError", 404, backend.ErrNotFound},
		{"ConflictError", 409, backend.ErrConflict},
		{"PayloadTooLargeError", 413, backend.ErrPayloadTooLarge},
		{"NotModifiedError", 304, backend.ErrNotModified},
		{"NotImplementedError", 501, backend.ErrNotImplemented},
		{"ServiceUnavailableError", 503, backend.ErrUnavailable},
	}
	for _, tc := range tests {
		if k := backend.KindNamed(tc.name); k != tc.kind || k.Status != tc.status {
			t.Errorf("KindNamed(%q) = %v", tc.name, k)
		}
		if k := backend.KindForStatus(tc.status); k != tc.kind {
			t.Errorf("KindForStatus(%d) = %v, want %v", tc.status, k, tc.kind)
		}
	}
	// Named but unmapped: a 500 under its own name, never found by status.
	for _, k := range []*backend.Kind{backend.ErrTemplateRender, backend.ErrTemplateLimit, backend.ErrURI, backend.ErrRange} {
		if backend.KindNamed(k.Name) != k || k.Status != 500 {
			t.Errorf("%s: %v", k.Name, backend.KindNamed(k.Name))
		}
	}
	for _, name := range []string{"Error", "TypeError", ""} {
		if k := backend.KindNamed(name); k != nil {
			t.Errorf("KindNamed(%q) = %v", name, k)
		}
	}
	for _, s := range []int{200, 418, 500} {
		if k := backend.KindForStatus(s); k != nil {
			t.Errorf("KindForStatus(%d) = %v", s, k)
		}
	}
}

func TestKindForUpstreamStatus(t *testing.T) {
	tests := []struct {
		status int
		kind   *backend.Kind
	}{
		{400, nil},
		{401, backend.ErrAuthentication},
		{403, backend.ErrNotAllowed},
		{404, backend.ErrNotFound},
		{409, backend.ErrConflict},
		{422, backend.ErrInput},
		{304, nil},
		{500, nil},
		{502, nil},
		{503, nil},
	}
	for _, tc := range tests {
		if k := backend.KindForUpstreamStatus(tc.status); k != tc.kind {
			t.Errorf("KindForUpstreamStatus(%d) = %v, want %v", tc.status, k, tc.kind)
		}
	}
}

type named struct{ name string }

func (n named) Error() string     { return "x" }
func (n named) ErrorName() string { return n.name }

func TestNameOf(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("plain"), "Error"},
		{backend.Input("bad"), "InputError"},
		{fmt.Errorf("wrapped: %w", backend.NotFound("x")), "NotFoundError"},
		{backend.ErrConflict, "ConflictError"},
		{named{"TypeError"}, "TypeError"},
		{fmt.Errorf("w: %w", named{"TypeError"}), "TypeError"},
		// The outermost name wins over a cause's.
		{&backend.Error{Kind: backend.ErrInput, Message: "m", Cause: named{"TypeError"}}, "InputError"},
		{backend.Forwarded("outer", backend.NotAllowed("inner")), "NotAllowedError"},
	}
	for _, tc := range tests {
		if got := backend.NameOf(tc.err); got != tc.want {
			t.Errorf("NameOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
