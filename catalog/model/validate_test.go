package model

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/ojson"
)

// validateCase is one entity POSTed to the oracle's /validate-entity, with
// its answer (testdata/validate-cases.json, recorded from Backstage 1.55).
type validateCase struct {
	Name     string          `json:"name"`
	Entity   json.RawMessage `json:"entity"`
	Status   int             `json:"status"`
	Response *struct {
		Errors []catalog.SerializedError `json:"errors"`
	} `json:"response"`
}

// process runs the model's share of the processing pipeline in the
// orchestrator's order and returns the first error.
func process(e *ojson.Object) error {
	if err := ValidateEnvelope(e); err != nil {
		return err
	}
	out, err := ApplyPolicies(e)
	if err != nil {
		return err
	}
	if err := Validate(out); err != nil {
		return err
	}
	_, err = BuildRelations(out)
	return err
}

func TestValidateAgainstOracle(t *testing.T) {
	raw, err := os.ReadFile("testdata/validate-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []validateCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			e, err := ojson.DecodeObject(c.Entity)
			if err != nil {
				t.Fatal(err)
			}
			got := process(e)
			if c.Status == 200 {
				if got != nil {
					t.Fatalf("want valid, got %v", got)
				}
				return
			}
			if got == nil {
				t.Fatalf("want error %+v, got none", c.Response.Errors[0])
			}
			want := c.Response.Errors[0]
			if s := SerializeError(got); !reflect.DeepEqual(s, want) {
				gj, _ := json.Marshal(s)
				wj, _ := json.Marshal(want)
				t.Fatalf("error mismatch\n got: %s\nwant: %s", gj, wj)
			}
		})
	}
}

func TestValidateKind(t *testing.T) {
	tests := []struct {
		name     string
		entity   string
		accepted bool
		wantErr  bool
	}{
		{"component", `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"a"},"spec":{"type":"t","lifecycle":"l","owner":"o"}}`, true, false},
		{"foreign kind", `{"apiVersion":"backstage.io/v1alpha1","kind":"Widget","metadata":{"name":"a"},"spec":{}}`, false, false},
		{"foreign apiVersion", `{"apiVersion":"example.com/v1","kind":"Component","metadata":{"name":"a"},"spec":{}}`, false, false},
		{"schema error", `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"a"},"spec":{}}`, false, true},
		{"template", `{"apiVersion":"scaffolder.backstage.io/v1beta3","kind":"Template","metadata":{"name":"a"},"spec":{"type":"t","steps":[]}}`, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ojson.DecodeObject([]byte(tt.entity))
			if err != nil {
				t.Fatal(err)
			}
			ok, err := ValidateKind(e)
			if ok != tt.accepted || (err != nil) != tt.wantErr {
				t.Fatalf("ValidateKind = %v, %v; want %v, err %v", ok, err, tt.accepted, tt.wantErr)
			}
		})
	}
}
