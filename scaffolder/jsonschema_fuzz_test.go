package scaffolder

import (
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
)

// FuzzValidateJSON feeds hostile schemas and values (self-referencing
// $refs, nested oneOf/anyOf, catastrophic patterns, odd keys) to the
// validator: it must return, within its work bounds, without panicking.
func FuzzValidateJSON(f *testing.F) {
	f.Add(`{"properties":{"a":{"type":"string","pattern":"^(a+)+$"}}}`, `{"a":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"}`)
	f.Add(`{"$ref":"#"}`, `{}`)
	f.Add(`{"definitions":{"x":{"$ref":"#/definitions/x"}},"properties":{"a":{"$ref":"#/definitions/x"}}}`, `{"a":1}`)
	f.Add(`{"oneOf":[{"anyOf":[{"allOf":[{"not":{"type":"string"}}]}]},{"if":{"const":1},"then":false,"else":true}]}`, `1`)
	f.Add(`{"dependencies":{"a":{"dependencies":{"a":["b"]}}},"propertyNames":{"format":"email"}}`, `{"a":1,"0":2}`)
	f.Add(`{"items":[{"type":"string"}],"additionalItems":false,"contains":{"multipleOf":0.01}}`, `["a",1.005,{}]`)
	f.Fuzz(func(t *testing.T, schema, value string) {
		s, err := ojson.DecodeObject([]byte(schema))
		if err != nil {
			return
		}
		v, err := ojson.Decode([]byte(value))
		if err != nil {
			return
		}
		for _, e := range ValidateJSON(v, s) {
			if e.String("stack") == "" || e.String("name") == "" {
				t.Fatalf("incomplete error %s", ojson.MustMarshal(e))
			}
		}
	})
}
