package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "app-config.yaml")
	over := filepath.Join(dir, "over.yaml")
	if err := os.WriteFile(good, []byte("backend:\n  listen: {host: 127.0.0.1, port: 0}\n  baseUrl: http://a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(over, []byte("backend:\n  baseUrl: http://b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The billion laughs: a clear start-up error, not a process out of memory.
	bomb := filepath.Join(dir, "bomb.yaml")
	laughs := "l0: &l0 lol\n"
	for i := 1; i <= 9; i++ {
		laughs += fmt.Sprintf("l%d: &l%d [%s*l%d]\n", i, i, strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), i-1)
	}
	if err := os.WriteFile(bomb, []byte(laughs), 0o644); err != nil {
		t.Fatal(err)
	}
	serving, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	tests := []struct {
		name       string
		ctx        context.Context
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no command", context.Background(), nil, 2, "", "usage:"},
		{"unknown command", context.Background(), []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"version", context.Background(), []string{"version"}, 0, "understage ", ""},
		{"help", context.Background(), []string{"help"}, 0, "understage serve", ""},
		{"bad flag", context.Background(), []string{"serve", "--nope"}, 2, "", "flag provided but not defined"},
		{"bad log format", context.Background(), []string{"serve", "--config", good, "--log-format", "xml"}, 1, "", "--log-format must be json or text"},
		{"missing config file", context.Background(), []string{"serve", "--config", filepath.Join(dir, "nope.yaml")}, 1, "", "load config"},
		{"alias bomb in the config", context.Background(), []string{"serve", "--config", good, "--config", bomb}, 1, "",
			"ReferenceError: Excessive alias count indicates a resource exhaustion attack"},
		{"merged config printed", context.Background(), []string{"config", "--config", good, "--config", over}, 0,
			`{"backend":{"baseUrl":"http://b","listen":{"host":"127.0.0.1","port":0}}}`, ""},
		{"serve stops when cancelled", serving, []string{"serve", "--config", good, "--log-format", "text"}, 0, "", "msg=stopped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout bytes.Buffer
			// Cancelling once the server listens plays the part of SIGTERM.
			stderr := &cancelOn{word: "msg=listening", cancel: stopServing}
			code := run(tc.ctx, tc.args, &stdout, stderr)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %s)", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

// cancelOn is a log sink that cancels a context when a word is logged.
type cancelOn struct {
	bytes.Buffer
	word   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.word) {
		c.cancel()
	}
	return c.Buffer.Write(p)
}
