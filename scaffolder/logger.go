package scaffolder

import (
	"bytes"
	"context"
	"log/slog"

	"github.com/understage/understage/plugins/backend/ojson"
)

// stepLog turns an action's log output into task log events worded as
// Backstage's winston step logger writes them ("\x1b[32minfo\x1b[39m: msg",
// extra fields appended as JSON), with secrets redacted.
type stepLog struct {
	ctx    context.Context
	emit   func(ctx context.Context, body *ojson.Object) error
	stepID string
	red    *redactor
}

var levelColors = map[slog.Level]string{
	slog.LevelDebug: "\x1b[34mdebug\x1b[39m",
	slog.LevelInfo:  "\x1b[32minfo\x1b[39m",
	slog.LevelWarn:  "\x1b[33mwarn\x1b[39m",
	slog.LevelError: "\x1b[31merror\x1b[39m",
}

func (l *stepLog) line(level slog.Level, msg string, attrs *ojson.Object) {
	lv, ok := levelColors[level]
	if !ok {
		lv = levelColors[slog.LevelInfo]
	}
	text := lv + ": " + msg
	if attrs != nil && attrs.Len() > 0 {
		// winston prints the metadata with safe-stable-stringify: keys sorted.
		b, err := ojson.MarshalSorted(attrs)
		if err == nil {
			text += " " + string(b)
		}
	}
	_ = l.emit(context.WithoutCancel(l.ctx), ojson.NewObject("message", l.red.redact(text), "stepId", l.stepID))
}

// Write logs each write as one info message (a trailing newline dropped),
// so a multi-line message stays one event, as logger.info(msg) does.
func (l *stepLog) Write(p []byte) (int, error) {
	l.line(slog.LevelInfo, string(bytes.TrimSuffix(p, []byte("\n"))), nil)
	return len(p), nil
}

func (l *stepLog) handler() slog.Handler { return &stepHandler{log: l} }

type stepHandler struct {
	log   *stepLog
	attrs []slog.Attr
}

func (h *stepHandler) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }

func (h *stepHandler) Handle(_ context.Context, r slog.Record) error {
	o := ojson.NewObject()
	for _, a := range h.attrs {
		addAttr(o, a)
	}
	r.Attrs(func(a slog.Attr) bool { addAttr(o, a); return true })
	lv := r.Level
	switch {
	case lv >= slog.LevelError:
		lv = slog.LevelError
	case lv >= slog.LevelWarn:
		lv = slog.LevelWarn
	case lv >= slog.LevelInfo:
		lv = slog.LevelInfo
	default:
		lv = slog.LevelDebug
	}
	h.log.line(lv, r.Message, o)
	return nil
}

func addAttr(o *ojson.Object, a slog.Attr) {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := ojson.NewObject()
		for _, ga := range v.Group() {
			addAttr(g, ga)
		}
		o.Set(a.Key, g)
	case slog.KindString:
		o.Set(a.Key, v.String())
	case slog.KindBool:
		o.Set(a.Key, v.Bool())
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64:
		o.Set(a.Key, ojson.Number(v.String()))
	default:
		if err, ok := v.Any().(error); ok {
			o.Set(a.Key, err.Error())
		} else {
			o.Set(a.Key, ojson.FromGo(v.Any()))
		}
	}
}

func (h *stepHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

func (h *stepHandler) WithGroup(name string) slog.Handler {
	// Groups are flattened: the winston line has no place for them.
	return h
}
