package ojson

import (
	"math"
	"testing"
)

func TestNumberFromFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want Number
	}{
		{1, "1"}, {1.5, "1.5"}, {-0.25, "-0.25"}, {1e21, "1e+21"}, {1.5e-7, "1.5e-7"},
		{123456789012, "123456789012"}, {0.1, "0.1"},
		{math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
	}
	for _, tt := range tests {
		if got := NumberFromFloat(tt.in); got != tt.want {
			t.Errorf("NumberFromFloat(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRoundTripKeepsOrderAndEscapesLikeJSONStringify(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"b":1,"a":{"z":true,"y":null},"c":[1,"x",{"k":"v"}]}`, `{"b":1,"a":{"z":true,"y":null},"c":[1,"x",{"k":"v"}]}`},
		{`{"s":"<a href=\"x\">&</a>\n\t\u0001"}`, `{"s":"<a href=\"x\">&</a>\n\t\u0001"}`},
		{`{"n":1.0,"m":1e2,"dup":1,"dup":2}`, `{"n":1,"m":100,"dup":2}`},
		{`{"u":"\u00e9\ud83d\ude00"}`, `{"u":"é😀"}`},
		// JSON.parse reads numbers beyond a double as ±Infinity, which
		// JSON.stringify writes as null; below the smallest one, as 0.
		{`{"big":1e400,"neg":-1e400,"tiny":1e-400,"in":[2E+999]}`, `{"big":null,"neg":null,"tiny":0,"in":[null]}`},
	}
	for _, tt := range tests {
		v, err := Decode([]byte(tt.in))
		if err != nil {
			t.Fatalf("Decode(%s): %v", tt.in, err)
		}
		if got := string(MustMarshal(v)); got != tt.want {
			t.Errorf("round trip of %s = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestDecodeRejectsTrailingData(t *testing.T) {
	if _, err := Decode([]byte(`{} {}`)); err == nil {
		t.Error("want an error for trailing data")
	}
}

func TestMarshalSortedIsStable(t *testing.T) {
	a, _ := Decode([]byte(`{"b":{"y":1,"x":2},"a":[{"d":1,"c":2}]}`))
	got, err := MarshalSorted(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":[{"c":2,"d":1}],"b":{"x":2,"y":1}}`; string(got) != want {
		t.Errorf("MarshalSorted = %s, want %s", got, want)
	}
}

func TestObjectEditing(t *testing.T) {
	o := NewObject("a", "1", "b", "2")
	o.Set("a", "x")
	o.Set("c", "3")
	o.Delete("b")
	if got := string(MustMarshal(o)); got != `{"a":"x","c":"3"}` {
		t.Errorf("edited object = %s", got)
	}
	c := o.Clone()
	c.EnsureObject("m").Set("k", "v")
	if o.Has("m") {
		t.Error("Clone shares structure with its source")
	}
}

func TestYAMLScalarsFollowTheCoreSchema(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a: yes\nb: on\nc: true\nd: False", `{"a":"yes","b":"on","c":true,"d":false}`},
		{"a: 010\nb: 0o10\nc: 0x1F\nd: 1_000", `{"a":10,"b":8,"c":31,"d":"1_000"}`}, // no "_" in 1.2 ints
		{"a: 2024-01-02\nb: ~\nc: null\nd: 1.50", `{"a":"2024-01-02","b":null,"c":null,"d":1.5}`},
		{"z: 1\na: 2\nm: [x, {q: 1}]", `{"z":1,"a":2,"m":["x",{"q":1}]}`},
		// YAML 1.2 has no merge keys: "<<" stays a key, as in Backstage.
		{"base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3", `{"base":{"x":1,"y":2},"d":{"<<":{"x":1,"y":2},"y":3}}`},
	}
	for _, tt := range tests {
		v, err := DecodeYAML([]byte(tt.in))
		if err != nil {
			t.Fatalf("DecodeYAML(%q): %v", tt.in, err)
		}
		if got := string(MustMarshal(v)); got != tt.want {
			t.Errorf("DecodeYAML(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestDecodeYAMLDocuments(t *testing.T) {
	docs, err := DecodeYAMLDocuments([]byte("a: 1\n---\n---\nb: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, string(MustMarshal(d.Value)))
	}
	if len(got) != 3 || got[0] != `{"a":1}` || got[1] != "null" || got[2] != `{"b":2}` {
		t.Errorf("documents = %v", got)
	}
	if _, err := DecodeYAMLDocuments([]byte("a: [\n")); err == nil {
		t.Error("want a syntax error")
	}
}

func TestUndefinedIsOneSentinel(t *testing.T) {
	tests := []struct {
		v    any
		want bool
	}{{Undefined, true}, {UndefinedType{}, true}, {nil, false}, {"", false}, {NewObject(), false}}
	for _, tc := range tests {
		if got := IsUndefined(tc.v); got != tc.want {
			t.Errorf("IsUndefined(%#v) = %v", tc.v, got)
		}
	}
	o := NewObject("a", Undefined, "b", []any{Undefined, 1.0})
	if got := string(MustMarshal(o)); got != `{"b":[null,1]}` {
		t.Errorf("Marshal = %s", got)
	}
}

// A number beyond a double is read, not refused: it is Infinity to the
// code that checks it (String(n), Number.isFinite) and null once written.
func TestDecodeOutOfRangeNumbers(t *testing.T) {
	tests := []struct {
		in     string
		want   Number
		finite bool
	}{
		{`1e400`, "Infinity", false},
		{`-1e400`, "-Infinity", false},
		{`1e-400`, "0", true},
		{`1.7976931348623157e308`, "1.7976931348623157e+308", true},
	}
	for _, tt := range tests {
		for name, decode := range map[string]func([]byte) (any, error){"scanner": Decode, "tokens": decodeTokens} {
			v, err := decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("%s: %s: %v", name, tt.in, err)
			}
			n, _ := v.(Number)
			if n != tt.want || n.Finite() != tt.finite {
				t.Errorf("%s: %s = %q (finite %v), want %q (finite %v)", name, tt.in, n, n.Finite(), tt.want, tt.finite)
			}
		}
	}
	if y, err := ToYAML([]any{Number("Infinity"), Number("-Infinity"), Number("NaN")}); err != nil || string(y) != "- .inf\n- -.inf\n- .nan\n" {
		t.Errorf("ToYAML of non-finite numbers = %q, %v", y, err)
	}
}
