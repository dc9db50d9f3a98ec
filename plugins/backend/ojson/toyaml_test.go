package ojson

import "testing"

// TestToYAMLRoundTrip checks that what ToYAML writes reads back as the
// same values (numbers stay numbers).
func TestToYAMLRoundTrip(t *testing.T) {
	for _, in := range []string{
		`{"a":200,"b":1.5,"c":-3,"d":1e21,"e":true,"f":null,"g":"200","h":[1,"x",{"i":0}]}`,
		`{"maxLength":200,"minimum":-0.5}`,
	} {
		v, err := Decode([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		y, err := ToYAML(v)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeYAML(y)
		if err != nil {
			t.Fatalf("%s: %v", y, err)
		}
		got, _ := Marshal(back)
		want, _ := Marshal(v)
		if string(got) != string(want) {
			t.Errorf("round trip of %s through\n%s\ngives %s", want, y, got)
		}
	}
}
