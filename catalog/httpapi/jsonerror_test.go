package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// jsonErrorCases are messages recorded from the oracle and from Node 22's
// JSON.parse by testdata/gen_json_errors.py; a nil message means accepted.
type jsonErrorCases struct {
	Bodies []struct {
		Body    string
		Message *string
	}
	Cursors []struct {
		Cursor  string
		Message *string
	}
	Parse []struct {
		Text    string
		Message *string
	}
	Numbers []numberCase
}

// numberCase is a request holding a number beyond a double and what the
// oracle answered: its status, error message, and the totals of a page.
type numberCase struct {
	Method, Path   string
	Body           *string
	Status         int
	Message        *string
	Items          json.RawMessage
	TotalItems     json.RawMessage
	NextTotalItems json.RawMessage
}

func loadJSONErrorCases(t *testing.T) jsonErrorCases {
	t.Helper()
	raw, err := os.ReadFile("testdata/json_errors.json")
	if err != nil {
		t.Fatal(err)
	}
	var c jsonErrorCases
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Bodies) == 0 || len(c.Cursors) == 0 || len(c.Parse) == 0 || len(c.Numbers) == 0 {
		t.Fatal("empty json_errors.json")
	}
	return c
}

func toJS(s string) jsText { return utf16.Encode([]rune(s)) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestV8JSONParseError(t *testing.T) {
	for _, tc := range loadJSONErrorCases(t).Parse {
		if got, want := v8JSONParseError(toJS(tc.Text)), deref(tc.Message); got != want {
			t.Errorf("JSON.parse(%q): got %q, want %q", tc.Text, got, want)
		}
	}
}

func TestBodyParseErrorsMatchOracle(t *testing.T) {
	srv, _ := newServer(t)
	cases := loadJSONErrorCases(t).Bodies
	// Every JSON body route answers the same parse error.
	routes := []string{"/entities/by-query", "/entities/by-refs", "/entity-facets", "/refresh"}
	for i, tc := range cases {
		if tc.Message == nil {
			t.Fatalf("oracle accepted %q", tc.Body)
		}
		route := routes[i%len(routes)]
		// The query string is only checked after the body parsed.
		res := do(t, srv, http.MethodPost, route+"?bogus=1", tc.Body)
		want := envelope("POST", route+"?bogus=1", "InputError", *tc.Message, 400)
		if res.status != 400 || res.body != want {
			t.Errorf("POST %s %q:\n got %d %s\nwant %s", route, tc.Body, res.status, res.body, want)
		}
	}
}

func TestCursorParseErrorsMatchOracle(t *testing.T) {
	srv, _ := newServer(t)
	for _, tc := range loadJSONErrorCases(t).Cursors {
		path := "/entities/by-query?cursor=" + url.QueryEscape(tc.Cursor)
		res := do(t, srv, http.MethodGet, path, "")
		var env struct{ Error struct{ Message string } }
		if err := json.Unmarshal([]byte(res.body), &env); err != nil {
			t.Fatalf("cursor %q: %v: %s", tc.Cursor, err, res.body)
		}
		if env.Error.Message != deref(tc.Message) {
			t.Errorf("cursor %q:\n got %q\nwant %q", tc.Cursor, env.Error.Message, deref(tc.Message))
		}
	}
}

// JSON.parse reads 1e400 as Infinity: the request is read, then a number
// check refuses it or it flows on and is written as null, as Backstage does.
func TestOutOfRangeNumbersMatchOracle(t *testing.T) {
	srv, f := newServer(t)
	// A page with more after it, so that the next cursor's total shows.
	f.queryRes = catalog.QueryResult{Entities: f.entities[:1], HasMore: true,
		First: &catalog.CursorPosition{UID: "u1"}, Last: &catalog.CursorPosition{UID: "u1"}}
	locs := newLocationsServer(t, false).srv
	for _, tc := range loadJSONErrorCases(t).Numbers {
		on := srv
		if strings.HasPrefix(tc.Path, "/locations") {
			on = locs
		}
		res := do(t, on, tc.Method, tc.Path, deref(tc.Body))
		var got struct {
			Error      struct{ Message string }
			Items      json.RawMessage
			TotalItems json.RawMessage
			PageInfo   struct{ NextCursor string }
		}
		// GET /entities answers a bare array.
		if !strings.HasPrefix(res.body, "[") {
			if err := json.Unmarshal([]byte(res.body), &got); err != nil {
				t.Fatalf("%s %s: %v: %s", tc.Method, tc.Path, err, res.body)
			}
		}
		name := tc.Method + " " + tc.Path + " " + deref(tc.Body)
		if res.status != tc.Status || got.Error.Message != deref(tc.Message) {
			t.Errorf("%s:\n got %d %q\nwant %d %q", name, res.status, got.Error.Message, tc.Status, deref(tc.Message))
		}
		var items bytes.Buffer
		if tc.Items != nil && (json.Compact(&items, tc.Items) != nil || string(got.Items) != items.String()) {
			t.Errorf("%s: items %s, want %s", name, got.Items, tc.Items)
		}
		if tc.TotalItems != nil && string(got.TotalItems) != string(tc.TotalItems) {
			t.Errorf("%s: totalItems %s, want %s", name, got.TotalItems, tc.TotalItems)
		}
		if tc.NextTotalItems != nil {
			raw, _ := base64.StdEncoding.DecodeString(got.PageInfo.NextCursor)
			var next struct{ TotalItems json.RawMessage }
			if err := json.Unmarshal(raw, &next); err != nil || string(next.TotalItems) != string(tc.NextTotalItems) {
				t.Errorf("%s: next cursor %s, want totalItems %s", name, raw, tc.NextTotalItems)
			}
		}
	}
}

func TestDecodeUTF8JS(t *testing.T) {
	const r = "\uFFFD"
	cases := []struct {
		in   string
		want string
	}{
		{"plain", "plain"},
		{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "café € 😀"},
		{"\x81\xaa\xdbj\x07", r + r + r + "j\x07"},   // Node's "garbage" cursor
		{"\xe0\x80x", r + r + "x"},                   // E0 needs A0..BF next
		{"\xf0\x90\x80x", r + "x"},                   // truncated sequence is one error
		{"\xed\xa0\x80", r + r + r},                  // no surrogates
		{"\xc0\xaf\xf5\xff", r + r + r + r},          // never-valid bytes
		{"a\xe2\x82", "a" + r},                       // truncated at the end
		{"\xf4\x90\x80\x80", r + r + r + r},          // above U+10FFFF
		{"\xf4\x8f\xbf\xbf", string(rune(0x10FFFF))}, // the last code point
	}
	for _, tc := range cases {
		if got := decodeUTF8JS([]byte(tc.in)).String(); got != tc.want {
			t.Errorf("decode %q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBodyParseErrorStrictMode(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"{}", ""},
		{" [1] ", ""},
		{"  \t", "Unexpected end of JSON input"},
		{`  "x"`, `Unexpected token '"', "  "x"" is not valid JSON`},
		{strings.Repeat(" ", 12) + "nope nope nope", `Unexpected token 'n', ..."          nope nope "... is not valid JSON`},
	}
	for _, tc := range cases {
		if got := bodyParseError(toJS(tc.in)); got != tc.want {
			t.Errorf("body %q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A hand-made cursor can ask for a zod issue list far larger than itself
// (one bad operator takes about 45 KB); past maxZodErrorText its message is
// zod-validation-error's one-line form instead, itself cut there.
func TestCursorIssueTextBounded(t *testing.T) {
	cursor := func(n int) string {
		bad := `{"kind":{"$foo":1}}`
		q := `{"$all":[` + strings.Repeat(bad+",", n-1) + bad + `]}`
		return base64.StdEncoding.EncodeToString([]byte(`{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"query":` + q + `}`))
	}
	_, err := DecodeCursor(cursor(1))
	if msg := backend.MessageOf(err); !strings.HasPrefix(msg, "Malformed cursor: InputError: Malformed cursor: [\n  {\n    \"code\": \"invalid_union\",") || len(msg) < 40000 {
		t.Fatalf("one bad operator: %d bytes: %.200q", len(msg), msg)
	}
	_, err = DecodeCursor(cursor(300))
	msg := backend.MessageOf(err)
	if !strings.HasPrefix(msg, "Malformed cursor: InputError: Malformed cursor: Validation error: ") || len(msg) > maxZodErrorText+100 {
		t.Fatalf("300 bad operators: %d bytes: %.200q", len(msg), msg)
	}
}

func BenchmarkDecodeCursor(b *testing.B) {
	c := EncodeCursor(Cursor{
		OrderFields:      []CursorOrderField{{Field: "metadata.name", Order: "asc"}},
		Query:            ojson.NewObject("$all", []any{ojson.NewObject("kind", "component"), ojson.NewObject("spec.type", "service")}),
		OrderFieldValues: []*string{ptr("a"), ptr("0190c2f4-0000-7000-8000-000000000000")},
		TotalItems:       ptr(ojson.Number("3")),
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeCursor(c); err != nil {
			b.Fatal(err)
		}
	}
}
