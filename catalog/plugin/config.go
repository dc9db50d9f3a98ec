package catalogplugin

import (
	"fmt"
	"time"

	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/ojson"
)

// catalogConfig is the catalog's config. Backstage sets the allowed
// location types in code (catalogLocationsExtensionPoint); understage
// reads them from config, with Backstage's default.
type catalogConfig struct {
	locations            []processing.LocationSpec
	rules                model.Rules
	allowedLocationTypes []string
	limits               processing.Limits
	interval             time.Duration
	orphanStrategy       string
	readOnly             bool
	// progressInterval is catalog.processingProgressInterval (understage's
	// own key): how often progress lines are logged while entities wait.
	progressInterval time.Duration
}

// readConfig reads the catalog's keys: locations, rules, processing
// interval, allowed location types, limits, orphan strategy, read-only.
func readConfig(cfg *config.Config) (catalogConfig, error) {
	var out catalogConfig
	var cfgLocs []model.ConfigLocation
	locs, _, err := cfg.ReadList("catalog.locations")
	if err != nil {
		return out, err
	}
	for _, l := range locs {
		typ, _ := l.String("type")
		target, _ := l.String("target")
		if typ == "" || target == "" {
			return out, fmt.Errorf("catalog.locations: each location needs a type and a target")
		}
		out.locations = append(out.locations, processing.LocationSpec{Type: typ, Target: target})
		cl := model.ConfigLocation{Type: typ, Target: target}
		for _, r := range l.List("rules") {
			allow, _ := r.StringList("allow")
			cl.Rules = append(cl.Rules, allow)
		}
		cfgLocs = append(cfgLocs, cl)
	}
	var global []model.Rule
	if cfg.Has("catalog.rules") {
		global = []model.Rule{}
		rules, _, err := cfg.ReadList("catalog.rules")
		if err != nil {
			return out, err
		}
		for _, r := range rules {
			rule := model.Rule{}
			if rule.Allow, err = ruleKinds(r); err != nil {
				return out, err
			}
			for _, l := range r.List("locations") {
				rule.Locations = append(rule.Locations, model.RuleLocation{
					Type: l.OptionalString("type"), Exact: l.OptionalString("exact"), Pattern: l.OptionalString("pattern"),
				})
			}
			global = append(global, rule)
		}
	}
	out.rules, err = model.NewRules(global, cfgLocs)
	if err != nil {
		return out, err
	}
	if d, ok, err := cfg.Duration("catalog.processingInterval"); err != nil {
		return out, err
	} else if ok {
		out.interval = d
	}
	if out.allowedLocationTypes, _, err = cfg.ReadStringList("catalog.allowedLocationTypes"); err != nil {
		return out, err
	}
	for key, set := range map[string]func(int){
		processing.LimitKeyFileSize:        func(v int) { out.limits.FileBytes = int64(v) },
		processing.LimitKeyPlaceholderSize: func(v int) { out.limits.PlaceholderBytes = int64(v) },
		processing.LimitKeyEntitiesPerFile: func(v int) { out.limits.EntitiesPerFile = v },
	} {
		if v, ok, err := cfg.ReadInt(key); err != nil {
			return out, err
		} else if ok && v <= 0 {
			return out, fmt.Errorf("%s must be a positive number, got %d", key, v)
		} else if ok {
			set(v)
		}
	}
	if out.readOnly, _, err = cfg.ReadBool("catalog.readonly"); err != nil {
		return out, err
	}
	out.progressInterval = 10 * time.Second
	if d, ok, err := cfg.Duration("catalog.processingProgressInterval"); err != nil {
		return out, err
	} else if ok {
		if d < 0 {
			return out, fmt.Errorf("catalog.processingProgressInterval must not be negative")
		}
		out.progressInterval = d
	}
	out.orphanStrategy = cfg.OptionalString("catalog.orphanStrategy")
	if out.orphanStrategy != "" && out.orphanStrategy != "delete" && out.orphanStrategy != "keep" {
		return out, fmt.Errorf("catalog.orphanStrategy must be delete or keep, got %q", out.orphanStrategy)
	}
	return out, nil
}

// ruleKinds reads a catalog rule's allow list: kinds, or objects with a
// kind and an optional 'spec.type'.
func ruleKinds(r *config.Config) ([]model.RuleKind, error) {
	var out []model.RuleKind
	items, _ := r.Get("allow").([]any)
	if !r.Has("allow") {
		return nil, fmt.Errorf("missing required config value at '%s.allow'", r.Key())
	}
	if items == nil {
		return nil, fmt.Errorf("invalid type in config for key '%s.allow', wanted array", r.Key())
	}
	for i, it := range items {
		switch v := it.(type) {
		case string:
			out = append(out, model.RuleKind{Kind: v})
		case *ojson.Object:
			kind, _ := v.Get("kind")
			k, ok := kind.(string)
			if !ok || k == "" {
				return nil, fmt.Errorf("missing required config value at '%s.allow[%d].kind'", r.Key(), i)
			}
			rk := model.RuleKind{Kind: k}
			if st, present := v.Get("spec.type"); present {
				if rk.SpecType, ok = st.(string); !ok {
					return nil, fmt.Errorf("invalid type in config for key '%s.allow[%d].spec.type', wanted string", r.Key(), i)
				}
			}
			for _, m := range v.Members {
				if m.Key != "kind" && m.Key != "spec.type" {
					return nil, fmt.Errorf("%s.allow[%d].%s: a rule's allow entry has only kind and spec.type", r.Key(), i, m.Key)
				}
			}
			out = append(out, rk)
		default:
			return nil, fmt.Errorf("invalid type in config for key '%s.allow[%d]', wanted string or object", r.Key(), i)
		}
	}
	return out, nil
}
