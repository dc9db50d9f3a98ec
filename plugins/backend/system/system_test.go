package system_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/system"
)

var (
	greeting = system.ServiceRef[string]{ID: "test.greeting"}
	words    = system.ExtensionPoint[*[]string]{ID: "test.words"}
)

// features builds a provider plugin, a consumer plugin with an extension
// point, and a module of the consumer; log records the init order.
func features(log *[]string) (provider, consumer system.Plugin, module system.Module) {
	provider = system.Plugin{ID: "provider", Register: func(r *system.Registrar) {
		r.RegisterInit(system.Init{Provides: []string{greeting.ID}, Func: func(_ context.Context, env *system.Env) error {
			*log = append(*log, "provider")
			system.ProvideFrom(env, greeting, "hello")
			return nil
		}})
	}}
	consumer = system.Plugin{ID: "consumer", Register: func(r *system.Registrar) {
		ws := &[]string{}
		system.RegisterExtensionPoint(r, words, ws)
		r.RegisterInit(system.Init{Deps: []string{greeting.ID}, Func: func(_ context.Context, env *system.Env) error {
			g, err := system.Get(env, greeting)
			if err != nil {
				return err
			}
			*log = append(*log, "consumer "+g+" "+strings.Join(*ws, ","))
			return nil
		}})
	}}
	module = system.Module{PluginID: "consumer", ModuleID: "extra", Register: func(r *system.Registrar) {
		r.RegisterInit(system.Init{Func: func(_ context.Context, env *system.Env) error {
			ws, err := system.Extension(env, words)
			if err != nil {
				return err
			}
			*ws = append(*ws, "world")
			*log = append(*log, "module")
			return nil
		}})
	}}
	return provider, consumer, module
}

func newBackend(t *testing.T) *system.Backend {
	t.Helper()
	cfg, err := config.LoadBytes([]byte("backend:\n  listen: {host: 127.0.0.1, port: 0}\n"), "app-config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := system.New(system.Options{Config: cfg})
	t.Cleanup(b.Close)
	return b
}

// TestInitOrder: whatever the order features are added in, a plugin's
// dependencies and its modules are initialised before it.
func TestInitOrder(t *testing.T) {
	orders := [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}}
	for _, order := range orders {
		var log []string
		p, c, m := features(&log)
		all := []system.Feature{p, c, m}
		b := newBackend(t)
		for _, i := range order {
			b.Add(all[i])
		}
		if err := b.Init(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []string{"provider", "module", "consumer hello world"}
		if !(slices.Equal(log, want) || slices.Equal(log, []string{"module", "provider", "consumer hello world"})) {
			t.Errorf("added in order %v: inits ran %q", order, log)
		}
	}
}

func TestInitErrors(t *testing.T) {
	var log []string
	p, c, m := features(&log)
	other := system.Module{PluginID: "consumer", ModuleID: "other", Register: func(r *system.Registrar) {
		r.RegisterInit(system.Init{Func: func(_ context.Context, env *system.Env) error {
			_, err := system.Extension(env, system.ExtensionPoint[*[]string]{ID: "nope"})
			return err
		}})
	}}
	stranger := system.Module{PluginID: "provider", ModuleID: "stranger", Register: func(r *system.Registrar) {
		r.RegisterInit(system.Init{Func: func(_ context.Context, env *system.Env) error {
			_, err := system.Extension(env, words) // the consumer's, not the provider's
			return err
		}})
	}}
	liar := system.Plugin{ID: "liar", Register: func(r *system.Registrar) {
		r.RegisterInit(system.Init{Provides: []string{"test.nothing"}, Func: func(context.Context, *system.Env) error { return nil }})
	}}
	tests := []struct {
		name     string
		features []system.Feature
		want     string
	}{
		{"missing dependency", []system.Feature{c}, "needs service test.greeting"},
		{"module without its plugin", []system.Feature{p, m}, "not added"},
		{"added twice", []system.Feature{p, p}, "added twice"},
		{"unknown extension point", []system.Feature{p, c, other}, "nope is not registered"},
		{"another plugin's extension point", []system.Feature{p, c, stranger}, "belongs to plugin consumer"},
		{"provides nothing", []system.Feature{liar}, "did not provide test.nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t)
			b.Add(tt.features...)
			err := b.Init(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Init = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
