package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeLog hands serve's log lines to the test as they are written.
type pipeLog struct {
	mu    sync.Mutex
	lines []map[string]any
	more  chan struct{}
}

func (p *pipeLog) Write(b []byte) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	p.mu.Lock()
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			p.lines = append(p.lines, m)
		}
	}
	p.mu.Unlock()
	select {
	case p.more <- struct{}{}:
	default:
	}
	return len(b), nil
}

// find waits for a line that ok accepts.
func (p *pipeLog) find(t *testing.T, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if ok(l) {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-deadline:
			t.Fatal("log line never written")
		}
	}
}

// TestRequestIDInJSONLogs: with --log-format json, a line a handler logs
// while serving a request carries the requestId of that request's access
// line.
func TestRequestIDInJSONLogs(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "app-config.yaml")
	if err := os.WriteFile(cfgPath, []byte("backend:\n  listen: {host: 127.0.0.1, port: 0}\nauth:\n  providers:\n    guest: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &pipeLog{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", cfgPath}, io.Discard, logs) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit %d", code)
		}
	}()
	addr, _ := logs.find(t, func(l map[string]any) bool { return l["msg"] == "listening" })["addr"].(string)
	res, err := http.Get("http://" + addr + "/api/auth/guest/refresh")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("guest refresh: %d", res.StatusCode)
	}
	access := logs.find(t, func(l map[string]any) bool {
		return l["type"] == "incomingRequest" && l["url"] == "/api/auth/guest/refresh"
	})
	issued := logs.find(t, func(l map[string]any) bool {
		msg, _ := l["msg"].(string)
		return strings.HasPrefix(msg, "Issuing token for user:development/guest")
	})
	id, _ := access["requestId"].(string)
	if id == "" || issued["requestId"] != id {
		t.Fatalf("token line requestId %v, access line %q: want the same id", issued["requestId"], id)
	}
}
