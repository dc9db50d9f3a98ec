package httpserver

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/understage/understage/plugins/backend/config"
)

// settings is everything the server reads from backend.* config.
type settings struct {
	listenHost    string
	listenPort    int
	baseURL       string
	cors          *corsSettings // nil: CORS disabled, as Backstage without backend.cors
	csp           string
	referrer      string
	healthHeaders [][2]string
	shutdownDelay time.Duration
}

const defaultPort = 7007

func readSettings(cfg *config.Config) (settings, error) {
	b := cfg.Sub("backend")
	s := settings{listenPort: defaultPort}
	var err error
	if s.listenHost, s.listenPort, err = readListen(b); err != nil {
		return s, err
	}
	s.baseURL = b.OptionalString("baseUrl")
	if s.cors, err = readCORS(b); err != nil {
		return s, err
	}
	if s.csp, err = readCSP(b); err != nil {
		return s, err
	}
	s.referrer = "no-referrer"
	if rc, ok, err := b.ReadSub("referrer"); err != nil {
		return s, err
	} else if ok {
		var parts []string
		for _, k := range rc.Keys() {
			l, _, err := rc.ReadStringList(k)
			if err != nil {
				return s, err
			}
			parts = append(parts, l...)
		}
		s.referrer = strings.Join(parts, ",")
	}
	if hc, ok, err := b.ReadSub("health.headers"); err != nil {
		return s, err
	} else if ok {
		for _, k := range hc.Keys() {
			v, ok, err := hc.ReadString(k)
			if err != nil || !ok {
				return s, fmt.Errorf("invalid header value in at backend.health.headers, must be a non-empty string")
			}
			s.healthHeaders = append(s.healthHeaders, [2]string{k, v})
		}
	}
	if d, ok, err := b.Duration("lifecycle.serverShutdownDelay"); err != nil {
		return s, err
	} else if ok {
		s.shutdownDelay = d
	}
	return s, nil
}

// readListen accepts "port", "host:port" or {host, port} like Backstage's
// readHttpListenOptions; an empty host listens on every interface.
func readListen(b *config.Config) (string, int, error) {
	if v, ok := b.Get("listen").(string); ok {
		parts := strings.Split(v, ":")
		port, err := strconv.Atoi(strings.TrimSpace(parts[len(parts)-1]))
		if err == nil {
			switch len(parts) {
			case 1:
				return "", port, nil
			case 2:
				return parts[0], port, nil
			}
		}
		return "", 0, fmt.Errorf("unable to parse listen address %s, expected <port> or <host>:<port>", v)
	}
	host, _, err := b.ReadString("listen.host")
	if err != nil {
		return "", 0, err
	}
	port, ok, err := b.ReadInt("listen.port")
	if err != nil {
		return "", 0, err
	}
	if !ok {
		port = defaultPort
	}
	return host, port, nil
}

func (s settings) addr() string {
	return net.JoinHostPort(s.listenHost, strconv.Itoa(s.listenPort))
}

// cspDefaults are helmet's default directives as Backstage adjusts them
// (script-src allows eval, form-action is dropped), in helmet's order.
var cspDefaults = [][2]string{
	{"default-src", "'self'"},
	{"base-uri", "'self'"},
	{"font-src", "'self' https: data:"},
	{"frame-ancestors", "'self'"},
	{"img-src", "'self' data:"},
	{"object-src", "'none'"},
	{"script-src", "'self' 'unsafe-eval'"},
	{"script-src-attr", "'none'"},
	{"style-src", "'self' https: 'unsafe-inline'"},
	{"upgrade-insecure-requests", ""},
}

// readCSP builds the Content-Security-Policy header from the defaults and
// backend.csp, where a directive set to false is removed and a list replaces
// the default.
func readCSP(b *config.Config) (string, error) {
	dirs := make([][2]string, len(cspDefaults))
	copy(dirs, cspDefaults)
	cc, ok, err := b.ReadSub("csp")
	if err != nil {
		return "", err
	}
	if ok {
		for _, k := range cc.Keys() {
			name := kebab(k)
			idx := -1
			for i, d := range dirs {
				if d[0] == name {
					idx = i
				}
			}
			if v, isBool := cc.Get(k).(bool); isBool && !v {
				if idx >= 0 {
					dirs = append(dirs[:idx], dirs[idx+1:]...)
				}
				continue
			}
			l, _, err := cc.ReadStringList(k)
			if err != nil {
				return "", err
			}
			val := strings.Join(l, " ")
			if idx >= 0 {
				dirs[idx][1] = val
			} else {
				dirs = append(dirs, [2]string{name, val})
			}
		}
	}
	parts := make([]string, 0, len(dirs))
	for _, d := range dirs {
		if d[1] == "" {
			parts = append(parts, d[0])
		} else {
			parts = append(parts, d[0]+" "+d[1])
		}
	}
	return strings.Join(parts, ";"), nil
}

// kebab turns camelCase config keys into directive names (imgSrc → img-src).
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			if i > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r + ('a' - 'A'))
		case r == '_' || r == ' ':
			b.WriteByte('-')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
