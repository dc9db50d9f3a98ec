package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"strings"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/ojson"
)

// configContext names the injected layer in the browser's config reader
// (shown in its error messages).
const configContext = "understage"

// FrontendConfig picks the keys of understage's config that the browser may
// see: those Backstage's config schemas mark with frontend visibility for
// the packages of the stock app. Everything else (tokens, database, auth
// secrets) stays on the server. baseURL is understage's own URL, used for
// app.baseUrl and backend.baseUrl when they are not configured.
func FrontendConfig(cfg *config.Config, baseURL string) map[string]any {
	out := map[string]any{}
	app := map[string]any{}
	if v, ok := ojson.ToGo(cfg.Get("app")).(map[string]any); ok {
		app = v
	}
	// Keys the app-backend itself uses on the server.
	delete(app, "disabled")
	delete(app, "distDir")
	if _, ok := app["baseUrl"]; !ok {
		app["baseUrl"] = baseURL
	}
	out["app"] = app
	backendURL := cfg.OptionalString("backend.baseUrl")
	if backendURL == "" {
		backendURL = baseURL
	}
	out["backend"] = map[string]any{"baseUrl": strings.TrimRight(backendURL, "/")}
	if name, ok := cfg.String("organization.name"); ok {
		out["organization"] = map[string]any{"name": name}
	}
	if integ := frontendIntegrations(cfg); len(integ) > 0 {
		out["integrations"] = integ
	}
	if env, ok := cfg.String("auth.environment"); ok {
		out["auth"] = map[string]any{"environment": env}
	}
	if v, ok := ojson.ToGo(cfg.Get("catalog.import")).(map[string]any); ok {
		out["catalog"] = map[string]any{"import": v}
	}
	if b, ok := cfg.String("techdocs.builder"); ok {
		out["techdocs"] = map[string]any{"builder": b}
	}
	// The app asks /api/permission/authorize only when permissions are on;
	// stating the backend's own setting keeps a build made with
	// permission.enabled: true from calling a backend that has them off.
	enabled, _ := cfg.Bool("permission.enabled")
	out["permission"] = map[string]any{"enabled": enabled}
	return out
}

// integrationKeys are the frontend-visible fields of each integration.
var integrationKeys = []string{"host", "apiBaseUrl", "rawBaseUrl", "baseUrl", "url", "localPath"}

func frontendIntegrations(cfg *config.Config) map[string]any {
	out := map[string]any{}
	root, ok := ojson.ToGo(cfg.Get("integrations")).(map[string]any)
	if !ok {
		return out
	}
	for kind, v := range root {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		var kept []any
		for _, item := range list {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			k := map[string]any{}
			for _, key := range integrationKeys {
				if s, ok := m[key].(string); ok {
					k[key] = s
				}
			}
			kept = append(kept, k)
		}
		if kept != nil {
			out[kind] = kept
		}
	}
	return out
}

var titleTag = regexp.MustCompile(`<title>[^<]*</title>`)

// injectConfig adds a backstage.io/config script to index.html.
// The app merges every such script in document order, so the one added last
// overrides what the build embedded (its other keys, such as the new
// frontend system's app.extensions, stay in effect).
func injectConfig(index []byte, data map[string]any) ([]byte, error) {
	if data == nil {
		return index, nil
	}
	// The page title, as app-backend renders it from app.title.
	if app, ok := data["app"].(map[string]any); ok {
		if title, ok := app["title"].(string); ok {
			index = titleTag.ReplaceAllLiteral(index, []byte("<title>"+html.EscapeString(title)+"</title>"))
		}
	}
	// encoding/json escapes <, > and &, so the JSON cannot close the tag.
	js, err := json.Marshal([]map[string]any{{"context": configContext, "data": data}})
	if err != nil {
		return nil, fmt.Errorf("app: encode frontend config: %w", err)
	}
	tag := append(append([]byte(`<script type="backstage.io/config">`), js...), "</script>"...)
	// After the last config script the build wrote (so ours is read last),
	// else at the end of the head.
	at := -1
	if i := bytes.LastIndex(index, []byte(`type="backstage.io/config"`)); i >= 0 {
		if j := bytes.Index(index[i:], []byte("</script>")); j >= 0 {
			at = i + j + len("</script>")
		}
	}
	if at < 0 {
		at = bytes.Index(index, []byte("</head>"))
	}
	if at < 0 {
		return nil, fmt.Errorf("app: index.html has no </head>")
	}
	out := make([]byte, 0, len(index)+len(tag))
	out = append(out, index[:at]...)
	out = append(out, tag...)
	return append(out, index[at:]...), nil
}
