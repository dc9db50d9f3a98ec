package database

import (
	"fmt"
	"log/slog"
	"maps"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/ojson"
)

// ConfigOptions reads backend.database for one plugin as Backstage's
// database service does:
//
//   - backend.database.plugin.<pluginID> may set the plugin's own client,
//     connection, ensureExists and knexConfig; a plugin whose client
//     differs from the base one takes nothing from the base connection,
//     otherwise its connection's fields override the base connection's;
//   - with PostgreSQL each plugin has a database of its own: the base
//     connection's database is not used, the plugin's connection may name
//     one, else it is <prefix><pluginID> (prefix default
//     "backstage_plugin_"), created when missing unless ensureExists is
//     false;
//   - knexConfig.pool.max bounds the plugin's connections.
//
// Without backend.database the plugin gets an in-memory SQLite database.
// A SQLite file path as the base connection (all plugins in one file) is
// understage's own: Backstage asks for connection.directory instead.
func ConfigOptions(cfg *config.Config, pluginID string, log *slog.Logger) (Options, error) {
	o := Options{Client: "better-sqlite3", PluginID: pluginID, Logger: log}
	db := cfg.Sub("backend.database")
	plugin := db.Sub("plugin." + pluginID)
	base, hasBase, err := db.ReadString("client")
	if err != nil {
		return o, err
	}
	if hasBase {
		o.Client = base
	}
	overridden := false
	if c, ok, err := plugin.ReadString("client"); err != nil {
		return o, err
	} else if ok && c != o.Client {
		o.Client, overridden = c, true
	}
	baseConn := ojson.ToGo(db.Get("connection"))
	pluginConn := ojson.ToGo(plugin.Get("connection"))
	pg := o.Client == "pg"
	if pg {
		// Each plugin has its own database: never the base connection's.
		if m, ok := baseConn.(map[string]any); ok {
			baseConn = maps.Clone(m)
			delete(baseConn.(map[string]any), "database")
		}
	}
	switch {
	case overridden || baseConn == nil:
		o.Connection = pluginConn
	case pluginConn == nil:
		o.Connection = baseConn
	default:
		bm, bok := baseConn.(map[string]any)
		pm, pok := pluginConn.(map[string]any)
		switch {
		case bok && pok:
			merged := maps.Clone(bm)
			maps.Copy(merged, pm)
			o.Connection = merged
		case !pok:
			o.Connection = pluginConn // a string replaces the base connection
		default:
			return o, fmt.Errorf("backend.database.plugin.%s.connection: understage cannot combine a connection object with the base connection string; write the base connection as an object (host, port, user, password)", pluginID)
		}
	}
	if o.Connection == nil && pg {
		return o, fmt.Errorf("missing required config value at 'backend.database.connection'")
	}
	if o.Connection == nil {
		o.Connection = ":memory:"
	}
	if pg {
		// The database: the plugin connection's (a connection string names
		// it in its path or dbname), else <prefix><pluginID>.
		prefix, _, err := db.ReadString("prefix")
		if err != nil {
			return o, err
		}
		o.Prefix = prefix
		if prefix == "" {
			prefix = DefaultPrefix
		}
		if m, ok := pluginConn.(map[string]any); ok {
			o.Database, _ = m["database"].(string)
		}
		// A plugin connection string names its own database, if any
		// (pgConnConfig falls back to the prefix).
		if _, isString := pluginConn.(string); o.Database == "" && !isString {
			o.Database = prefix + pluginID
		}
	}
	ensure := true
	for _, c := range []*config.Config{db, plugin} {
		if v, ok, err := c.ReadBool("ensureExists"); err != nil {
			return o, err
		} else if ok {
			ensure = v
		}
	}
	o.NoCreate = !ensure
	// skipMigrations: the plugin's own setting wins over the base one.
	for _, c := range []*config.Config{db, plugin} {
		if v, ok, err := c.ReadBool("skipMigrations"); err != nil {
			return o, err
		} else if ok {
			o.SkipMigrations = v
		}
	}
	for _, c := range []*config.Config{db, plugin} {
		if n, ok, err := c.ReadInt("knexConfig.pool.max"); err != nil {
			return o, err
		} else if ok {
			if n < 1 {
				return o, fmt.Errorf("%s must be at least 1", c.Key()+".knexConfig.pool.max")
			}
			o.MaxConns = n
		}
	}
	return o, nil
}
