// Command understage is a Backstage-compatible backend in one binary.
//
//	understage serve [--config FILE]... [--log-format json|text] [--log-level LEVEL]
//	understage migrate [--config FILE]...  apply every plugin's database migrations and exit
//	understage config [--config FILE]...   print the merged config as JSON
//	understage validate PATH...            check catalog files as the catalog would
//	understage template dry-run TEMPLATE.yaml [--values FILE] [--output DIR]
//	understage version
//
// Without --config, app-config.yaml (and app-config.local.yaml) in the
// working directory are used when present, as Backstage does. Everything
// the binary contains is listed in wire.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/backend/ojson"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful shutdown; a second one kills the
	// process at once (Go's default), for an operator who will not wait.
	go func() { <-ctx.Done(); stop() }()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  understage serve [--config FILE]... [--log-format json|text] [--log-level debug|info|warn|error]
  understage migrate [--config FILE]... [--log-format json|text] [--log-level LEVEL]
  understage config [--config FILE]...
  understage validate PATH...   check catalog-info files as the catalog would
  understage template dry-run TEMPLATE.yaml [--values FILE] [--secrets FILE] [--output DIR] [--json]
  understage version
`

// run executes one subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "migrate":
		err = migrate(ctx, args[1:], stderr)
	case "config":
		err = printConfig(ctx, args[1:], stdout, stderr)
	case "validate":
		err = validate(ctx, args[1:], stdout, stderr)
	case "template":
		err = template(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "understage", version())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	var problems errProblems
	if errors.As(err, &problems) {
		return 1 // the problems are already printed
	}
	if err != nil {
		fmt.Fprintln(stderr, "understage:", err)
		return 1
	}
	return 0
}

// errUsage marks flag errors, already reported by the flag package.
var errUsage = errors.New("usage error")

// common holds the flags every config-reading command takes.
type common struct {
	configs   []string
	logFormat string
	logLevel  string
}

func parseFlags(name string, args []string, stderr io.Writer, withLog bool) (*common, error) {
	c := &common{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Func("config", "config file to load; repeat to merge several (later wins)", func(v string) error {
		c.configs = append(c.configs, v)
		return nil
	})
	if withLog {
		fs.StringVar(&c.logFormat, "log-format", "json", "log format: json or text")
		fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		return nil, errUsage
	}
	if len(c.configs) == 0 {
		for _, f := range []string{"app-config.yaml", "app-config.local.yaml"} {
			if _, err := os.Stat(f); err == nil {
				c.configs = append(c.configs, f)
			}
		}
	}
	return c, nil
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(httpserver.LogHandler(slog.NewJSONHandler(w, o))), nil
	case "text":
		return slog.New(httpserver.LogHandler(slog.NewTextHandler(w, o))), nil
	}
	return nil, fmt.Errorf("--log-format must be json or text, not %q", format)
}

// serve runs the backend until ctx is cancelled (SIGINT/SIGTERM).
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, log, f, err := loadForCommand(ctx, "serve", args, stderr)
	if err != nil {
		return err
	}
	log.Info("starting understage", "version", version(), "config", f.configs)
	srv, cleanup, err := wireBackend(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("wire: %w", err)
	}
	defer cleanup()
	if err := srv.Run(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// migrate applies every plugin's database migrations and exits, for
// deployments that start replicas with backend.database.skipMigrations.
func migrate(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, log, _, err := loadForCommand(ctx, "migrate", args, stderr)
	if err != nil {
		return err
	}
	return wire.Migrate(ctx, cfg, log)
}

// loadForCommand parses a backend command's flags, builds its logger and
// loads its config.
func loadForCommand(ctx context.Context, name string, args []string, stderr io.Writer) (*config.Config, *slog.Logger, *common, error) {
	f, err := parseFlags(name, args, stderr, true)
	if err != nil {
		return nil, nil, nil, err
	}
	log, err := newLogger(f.logFormat, f.logLevel, stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := config.Load(ctx, f.configs, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load config: %w", err)
	}
	return cfg, log, f, nil
}

// printConfig shows the merged config, for checking what serve would read.
func printConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags("config", args, stderr, false)
	if err != nil {
		return err
	}
	cfg, err := config.Load(ctx, f.configs, nil)
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	b, err := ojson.Marshal(cfg.Get(""))
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// version is the module version and VCS revision stamped by the Go tool.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
		if s.Key == "vcs.modified" && s.Value == "true" {
			v += "-dirty"
		}
	}
	return v
}
