package builtin

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/workspace"
)

// ---- debug:log ----

//go:embed schemas/debug_log.input.json
var debugLogInput []byte

// debugLogAction declares debug:log: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) debugLogAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "debug:log",
		Description: "Writes a message into the log and/or lists all files in the workspace.",
		Examples: []scaffolder.ActionExample{
			{Description: "Write a debug message",
				Example: `steps:
  - action: debug:log
    id: write-debug-line
    name: Write "Hello Backstage!" log line
    input:
      message: Hello Backstage!
`},
			{Description: "List the workspace directory",
				Example: `steps:
  - action: debug:log
    id: write-workspace-directory
    name: List the workspace directory
    input:
      listWorkspace: true
`},
			{Description: "List the workspace directory with file contents",
				Example: `steps:
  - action: debug:log
    id: write-workspace-directory
    name: List the workspace directory with file contents
    input:
      listWorkspace: with-contents
`},
		},
		Input:          debugLogInput,
		SupportsDryRun: true,
		Run:            o.debugLog,
	}
}

func (o Options) debugLog(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := Input(ac)
	raw, err := ojson.Marshal(in)
	if err != nil {
		return fmt.Errorf("debug:log: %w", err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, raw, "", "  "); err != nil {
		return fmt.Errorf("debug:log: %w", err)
	}
	logf(ac, "%s", pretty.String())
	if msg, ok := in.Get("message"); ok && truthy(msg) {
		logf(ac, "%s", jsString(msg))
	}
	lw, _ := in.Get("listWorkspace")
	if !truthy(lw) {
		return nil
	}
	files, err := listFiles(ctx, ac.Workspace)
	if err != nil {
		return err
	}
	lines := make([]string, 0, len(files))
	for _, f := range files {
		rel, err := filepath.Rel(ac.Workspace, f)
		if err != nil {
			return err
		}
		if lw == "with-contents" {
			content := "[skipped]"
			if safe, err := workspace.ResolveSafeChildPath(ac.Workspace, rel); err == nil {
				if b, err := os.ReadFile(safe); err == nil {
					lines = append(lines, " - "+rel+":\n  "+decodeUTF8(b))
					continue
				}
			}
			lines = append(lines, " - "+rel+": "+content)
			continue
		}
		lines = append(lines, "  - "+rel)
	}
	logf(ac, "Workspace:\n%s", strings.Join(lines, "\n"))
	return nil
}

// listFiles lists every non-directory under dir, depth first in name
// order. Unlike Backstage it does not follow symlinked directories, which
// could lead outside the workspace.
func listFiles(ctx context.Context, dir string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list workspace: %w", err)
	}
	sort.Slice(des, func(i, j int) bool { return des[i].Name() < des[j].Name() })
	var out []string
	for _, d := range des {
		p := filepath.Join(dir, d.Name())
		if d.IsDir() {
			sub, err := listFiles(ctx, p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// jsString is String(v) for log messages.
func jsString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case ojson.Number:
		return string(t)
	case bool:
		if t {
			return "true"
		}
		return "false"
	case *ojson.Object:
		return "[object Object]"
	}
	b, _ := ojson.Marshal(v)
	return string(b)
}

// ---- debug:wait ----

//go:embed schemas/debug_wait.input.json
var debugWaitInput []byte

// debugWaitAction declares debug:wait: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) debugWaitAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "debug:wait",
		Description: "Waits for a certain period of time.",
		Examples: []scaffolder.ActionExample{
			{Description: "Waiting for 50 milliseconds",
				Example: `steps:
  - action: debug:wait
    id: wait-milliseconds
    name: Waiting for 50 milliseconds
    input:
      milliseconds: 50
`},
			{Description: "Waiting for 5 seconds",
				Example: `steps:
  - action: debug:wait
    id: wait-5sec
    name: Waiting for 5 seconds
    input:
      seconds: 5
`},
			{Description: "Waiting for 1 minutes",
				Example: `steps:
  - action: debug:wait
    id: wait-1min
    name: Waiting for 1 minutes
    input:
      minutes: 1
`},
		},
		Input:          debugWaitInput,
		SupportsDryRun: false,
		Run:            o.debugWait,
	}
}

func (o Options) debugWait(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := Input(ac)
	ms := number(in, "minutes")*60000 + number(in, "seconds")*1000 + number(in, "milliseconds")
	if ms > float64(o.MaxWait.Milliseconds()) {
		return fmt.Errorf("Waiting duration is longer than the maximum threshold of %s", humanDuration(o.MaxWait))
	}
	if ms <= 0 || math.IsNaN(ms) {
		return nil
	}
	t := time.NewTimer(time.Duration(ms * float64(time.Millisecond)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// humanDuration is luxon's Duration.toHuman() of the cap as Backstage builds
// it (from the ISO time "T00:10:00": hours, minutes and seconds).
func humanDuration(d time.Duration) string {
	h := int64(d / time.Hour)
	m := int64(d % time.Hour / time.Minute)
	s := int64(d % time.Minute / time.Second)
	ms := int64(d % time.Second / time.Millisecond)
	unit := func(n int64, one string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, one)
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	parts := []string{unit(h, "hour"), unit(m, "minute"), unit(s, "second")}
	if ms != 0 {
		parts = append(parts, unit(ms, "millisecond"))
	}
	return strings.Join(parts, ", ")
}
