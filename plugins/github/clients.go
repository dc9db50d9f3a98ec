package github

import (
	"log/slog"
	"strings"
	"sync"

	"github.com/understage/understage/plugins/backend/config"
)

// maxTokenClients bounds the clients one Clients keeps for tokens other than
// the integrations' own (user tokens handed to actions); past it a client is
// built for the call and not kept.
const maxTokenClients = 256

// Clients is the GitHub module's one client per integration host (and per
// token), shared by the URL readers, the entity providers, analyze-location,
// the scaffolder actions and autocomplete, so that they share one
// conditional-request cache and one view of the host's rate limit. Safe
// for concurrent use.
type Clients struct {
	integs []Integration
	opts   ClientOptions

	mu      sync.Mutex
	clients map[clientKey]*Client
}

type clientKey struct{ host, token string }

// NewClients keeps the clients of integs, built with o (its Logger gets the
// host).
func NewClients(integs []Integration, o ClientOptions) *Clients {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	out := &Clients{opts: o, clients: map[clientKey]*Client{}}
	for _, in := range integs {
		out.integs = append(out.integs, in.WithDefaults())
	}
	return out
}

// Integrations are the configured hosts, with defaults applied.
func (cs *Clients) Integrations() []Integration { return append([]Integration(nil), cs.integs...) }

// Integration is the integration of host.
func (cs *Clients) Integration(host string) (Integration, bool) {
	for _, in := range cs.integs {
		if strings.EqualFold(in.Host, host) {
			return in, true
		}
	}
	return Integration{}, false
}

// For is the client of host's integration with its configured token; ok is
// false when no integration names host.
func (cs *Clients) For(host string) (c *Client, ok bool, err error) {
	in, ok := cs.Integration(host)
	if !ok {
		return nil, false, nil
	}
	c, err = cs.WithToken(in, in.Token)
	return c, err == nil, err
}

// WithToken is the client of integ's host authenticated with token (the
// integration's own or a user's).
func (cs *Clients) WithToken(integ Integration, token string) (*Client, error) {
	integ = integ.WithDefaults()
	integ.Token = token
	key := clientKey{strings.ToLower(integ.Host), token}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c := cs.clients[key]; c != nil {
		return c, nil
	}
	o := cs.opts
	o.Logger = o.Logger.With("integration", "github", "host", integ.Host)
	c, err := NewClient(integ, o)
	if err != nil {
		return nil, err
	}
	if len(cs.clients) < maxTokenClients+len(cs.integs) {
		cs.clients[key] = c
	}
	return c, nil
}

// ClientsFromConfig keeps the clients of the hosts under integrations.github
// (github.com, anonymous, when none is configured).
func ClientsFromConfig(cfg *config.Config, o ClientOptions) (*Clients, error) {
	integs, err := ReadIntegrations(cfg)
	if err != nil {
		return nil, err
	}
	return NewClients(integs, o), nil
}
