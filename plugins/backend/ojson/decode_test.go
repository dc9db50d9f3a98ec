package ojson

import (
	"strings"
	"testing"
)

// FuzzDecode: the scanner decodes every input to what encoding/json's
// tokens decode it to (values, member order, duplicates), and fails where
// they fail.
func FuzzDecode(f *testing.F) {
	many := `{` + strings.Repeat(`"k":1,"a":2,"b":3,"c":4,"d":5,"e":6,"f":7,"g":8,"h":9,"i":10,"j":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18,`, 2) + `"z":[]}`
	for _, s := range []string{
		`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, `[]`, `{}`, ` 12.5e-3 `, `-0`, `1e999`, `"\u00e9\ud83d\ude00\ud800x\\\"/"`,
		`{"a":1,"a":2,"b":3,"a":4}`, many, "\"\xff\xfe\"", `{"é":"ü"}`, `[1,2,]`, `{"a"}`, `[1] 2`, ``, `"a`, `nul`, `[[[[[[]]]]]]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		want, werr := decodeTokens([]byte(in))
		got, gerr := Decode([]byte(in))
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: tokens err %v, scanner err %v", in, werr, gerr)
		}
		if werr != nil {
			if werr.Error() != gerr.Error() {
				t.Fatalf("%q: tokens err %q, scanner err %q", in, werr, gerr)
			}
			return
		}
		wb, _ := Marshal(want)
		gb, _ := Marshal(got)
		if string(wb) != string(gb) {
			t.Fatalf("%q: tokens %s, scanner %s", in, wb, gb)
		}
	})
}
