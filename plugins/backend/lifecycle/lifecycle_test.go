package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/lifecycle"
)

type journal struct {
	mu  sync.Mutex
	got []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.got = append(j.got, s)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.got)
}

// loop records its start, waits for its context and records its stop.
func loop(j *journal, name string, started chan<- struct{}) lifecycle.Loop {
	return func(ctx context.Context) error {
		j.add("start " + name)
		if started != nil {
			close(started)
		}
		<-ctx.Done()
		j.add("stop " + name)
		return nil
	}
}

func TestOrder(t *testing.T) {
	j := &journal{}
	lc := lifecycle.New(lifecycle.Options{})
	lc.AddCloser("db", func() error { j.add("close db"); return nil })
	lc.AddStartupHook("migrate", func(context.Context) error { j.add("migrate"); return nil })
	engineUp, httpUp := make(chan struct{}), make(chan struct{})
	lc.Go("engine", loop(j, "engine", engineUp))
	lc.AddShutdownHook("flush", func(context.Context) error { j.add("flush"); return nil })
	lc.Go("http", loop(j, "http", httpUp))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lc.Run(ctx) }()
	<-engineUp
	<-httpUp
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := j.list()
	// The loops start concurrently, so only the shutdown half is ordered.
	want := []string{"stop http", "flush", "stop engine", "close db"}
	if !slices.Equal(got[len(got)-len(want):], want) || got[0] != "migrate" {
		t.Errorf("order %q, want migrate first and %q last", got, want)
	}
	lc.Close() // Run closed already: nothing twice
	if n := len(j.list()); n != len(got) {
		t.Errorf("Close after Run ran closers again: %q", j.list())
	}
}

func TestShutdown(t *testing.T) {
	boom := errors.New("boom")
	release := make(chan struct{}) // lets the stuck loop go at the end
	t.Cleanup(func() { close(release) })
	tests := []struct {
		name       string
		loop       lifecycle.Loop
		startup    error
		cancel     bool // end Run's context once the loop runs
		wantErr    error
		wantClosed bool
	}{
		{name: "clean stop", loop: func(ctx context.Context) error { <-ctx.Done(); return nil }, cancel: true, wantClosed: true},
		{name: "a loop fails", loop: func(context.Context) error { return boom }, wantErr: boom, wantClosed: true},
		{name: "start-up fails", loop: func(ctx context.Context) error { <-ctx.Done(); return nil }, startup: boom, wantErr: boom, wantClosed: true},
		{name: "a loop ignores its context", loop: func(ctx context.Context) error { <-release; return nil }, cancel: true,
			wantErr: lifecycle.ErrStillRunning, wantClosed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lc := lifecycle.New(lifecycle.Options{ShutdownTimeout: 200 * time.Millisecond})
			closed := false
			lc.AddCloser("db", func() error { closed = true; return nil })
			running := make(chan struct{})
			var once sync.Once
			lc.Go("loop", func(ctx context.Context) error {
				once.Do(func() { close(running) })
				return tt.loop(ctx)
			})
			lc.AddStartupHook("check", func(context.Context) error { return tt.startup })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				go func() { <-running; cancel() }()
			}
			err := lc.Run(ctx)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Run = %v, want %v", err, tt.wantErr)
			}
			lc.Close()
			if closed != tt.wantClosed {
				t.Errorf("closed = %v, want %v", closed, tt.wantClosed)
			}
		})
	}
}
