package scaffolder

import (
	"fmt"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

// LogLimit bounds the log one task (or dry run) keeps, so that a chatty
// action or a long each loop cannot fill the database or the response:
// past either bound, plain log lines are dropped after one truncation
// line. Step status lines (processing, completed, failed, skipped) are
// always kept, since the frontend draws the task's progress from them, and
// the task keeps running. Zero fields take the defaults.
type LogLimit struct {
	Events int   // scaffolder.taskLogMaxEvents
	Bytes  int64 // scaffolder.taskLogMaxBytes (of event bodies as JSON)
}

// The default bounds: far above what a template writes (a few hundred
// lines), low enough that a runaway log stays cheap to store and to send.
const (
	DefaultLogEvents = 10000
	DefaultLogBytes  = 8 << 20
)

const truncatedPrefix = "Log truncated: "

func (l LogLimit) withDefaults() LogLimit {
	if l.Events <= 0 {
		l.Events = DefaultLogEvents
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultLogBytes
	}
	return l
}

// logBudget counts one task's log against its LogLimit.
type logBudget struct {
	limit     LogLimit
	events    int
	bytes     int64
	truncated bool
}

func newLogBudget(limit LogLimit) *logBudget {
	return &logBudget{limit: limit.withDefaults()}
}

// seen counts a body already in the log (an earlier attempt's events).
func (b *logBudget) seen(body []byte) {
	b.events++
	b.bytes += int64(len(body))
	if strings.Contains(string(body), `"message":"`+truncatedPrefix) {
		b.truncated = true
	}
}

// admit decides whether body is kept; the first time the log goes over its
// limit it also returns the truncation line to write before dropping.
func (b *logBudget) admit(body *ojson.Object) (keep bool, note *ojson.Object) {
	size := int64(len(ojson.MustMarshal(body)))
	if _, status := body.Get("status"); status {
		b.events++
		b.bytes += size
		return true, nil
	}
	if b.truncated {
		return false, nil
	}
	if b.events+1 > b.limit.Events || b.bytes+size > b.limit.Bytes {
		b.truncated = true
		note = ojson.NewObject("message", fmt.Sprintf("%sthe log reached its limit of %d lines or %d bytes (scaffolder.taskLogMaxEvents, scaffolder.taskLogMaxBytes); later log lines are left out, the task goes on",
			truncatedPrefix, b.limit.Events, b.limit.Bytes))
		if id, ok := body.Get("stepId"); ok {
			note.Set("stepId", id)
		}
		return false, note
	}
	b.events++
	b.bytes += size
	return true, nil
}
