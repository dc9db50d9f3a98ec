package render

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/config"
)

func TestLimitsFromConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       Limits
		err        string
	}{
		{"defaults", "app: {}\n", DefaultLimits(), ""},
		{"output", "scaffolder:\n  templating:\n    maxOutputSize: 1000\n    maxWorkUnits: 50\n", func() Limits {
			l := DefaultLimits()
			l.Output, l.Steps = 1000, 50
			return l
		}(), ""},
		{"source, depth and nodes", "scaffolder:\n  templating:\n    maxSourceSize: 2048\n    maxNestingDepth: 8\n    maxNodes: 300\n", func() Limits {
			l := DefaultLimits()
			l.Source, l.Depth, l.Nodes = 2048, 8, 300
			return l
		}(), ""},
		{"zero", "scaffolder:\n  templating:\n    maxOutputSize: 0\n", Limits{}, "scaffolder.templating.maxOutputSize must be a positive whole number, got 0"},
		{"text", "scaffolder:\n  templating:\n    maxNestingDepth: deep\n", Limits{}, "scaffolder.templating.maxNestingDepth"},
		{"fraction", "scaffolder:\n  templating:\n    maxNodes: 1.5\n", Limits{}, "scaffolder.templating.maxNodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.LoadBytes([]byte(tt.yaml), "app-config.yaml", func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			got, err := LimitsFromConfig(cfg.ReadInt)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// A rendered file larger than the output limit fails with Backstage's
// TemplateLimitError, naming the limit and where it was crossed.
func TestOutputLimit(t *testing.T) {
	tmpl := "head\n{% for i in range(10) %}${{ values.line }}\n{% endfor %}"
	vars := map[string]any{"values": map[string]any{"line": strings.Repeat("x", 20)}}
	_, err := RenderString(context.Background(), tmpl, vars, Options{Limits: Limits{Output: 100}})
	var le *TemplateLimitError
	if !errors.As(err, &le) || le.Name() != "TemplateLimitError" {
		t.Fatalf("got %v, want a TemplateLimitError", err)
	}
	want := "Template evaluation exceeded the output code unit limit of 100 (observed 109) at line 2, column 25"
	if err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}
	if _, err := RenderString(context.Background(), tmpl, vars, Options{Limits: Limits{Output: 300}}); err != nil {
		t.Fatalf("under the limit: %v", err)
	}
}
