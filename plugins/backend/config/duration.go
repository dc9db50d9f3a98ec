package config

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// durationProps are the fields of Backstage's HumanDuration, in order.
var durationProps = []string{"years", "months", "weeks", "days", "hours", "minutes", "seconds", "milliseconds"}

// Duration reads a duration the way Backstage's readDurationFromConfig does:
// an ISO 8601 string ("PT5M", "P1DT2H"), a human string ("5m", "2 hours",
// "1.5h"; a bare number is refused), or an object such as {minutes: 5}.
// ok is false when the key is absent.
//
// HumanDuration fields are converted as Backstage's durationToMilliseconds
// does: a year is 365 days and a month 30.
func (c *Config) Duration(key string) (time.Duration, bool, error) {
	n, err := c.lookup(key)
	if err != nil || n == nil {
		return 0, false, err
	}
	if n.kind == kindString {
		v := strings.TrimSpace(n.scalar.(string))
		var h map[string]float64
		if strings.HasPrefix(v, "P") {
			h, err = parseISODuration(v)
		} else {
			h, err = parseHumanDuration(v)
		}
		if err != nil {
			return 0, false, fmt.Errorf("invalid duration '%s' in config at '%s', %w", v, c.fullKey(key), err)
		}
		return toDuration(h), true, nil
	}
	sub, _, err := c.ReadSub(key)
	if err != nil {
		return 0, false, fmt.Errorf("failed to read duration from config, %w", err)
	}
	h := map[string]float64{}
	for _, p := range durationProps {
		v, ok, err := sub.ReadFloat(p)
		if err != nil {
			return 0, false, fmt.Errorf("failed to read duration from config, %w", err)
		}
		if ok {
			h[p] = v
		}
	}
	quoted := make([]string, len(durationProps))
	for i, p := range durationProps {
		quoted[i] = "'" + p + "'"
	}
	if len(h) == 0 {
		return 0, false, fmt.Errorf("failed to read duration from config at '%s', needs one or more of %s",
			c.fullKey(key), strings.Join(quoted, ", "))
	}
	var unknown []string
	for _, k := range sub.Keys() {
		if !slices.Contains(durationProps, k) {
			unknown = append(unknown, "'"+k+"'")
		}
	}
	if len(unknown) > 0 {
		what := "property"
		if len(unknown) > 1 {
			what = "properties"
		}
		return 0, false, fmt.Errorf("failed to read duration from config at '%s', unknown %s %s; expected one or more of %s",
			c.fullKey(key), what, strings.Join(unknown, ", "), strings.Join(quoted, ", "))
	}
	return toDuration(h), true, nil
}

// toDuration sums a HumanDuration with Backstage's fixed factors.
func toDuration(h map[string]float64) time.Duration {
	days := h["years"]*365 + h["months"]*30 + h["weeks"]*7 + h["days"]
	ms := (((days*24+h["hours"])*60+h["minutes"])*60+h["seconds"])*1000 + h["milliseconds"]
	return time.Duration(math.Round(ms * float64(time.Millisecond)))
}

var isoDuration = func() *regexp.Regexp {
	num := `(-?\d{1,20}(?:\.\d{1,20})?)`
	return regexp.MustCompile(`^-?P(?:` + num + `Y)?(?:` + num + `M)?(?:` + num + `W)?(?:` + num + `D)?` +
		`(?:T(?:` + num + `H)?(?:` + num + `M)?(?:(-?\d{1,20})(?:[.,](-?\d{1,20}))?S)?)?$`)
}()

// parseISODuration accepts the ISO 8601 forms Backstage does, including a
// leading minus that negates every field.
func parseISODuration(s string) (map[string]float64, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("invalid ISO format, expected a value similar to 'P2DT6H' (2 days 6 hours) or 'PT1M' (1 minute)")
	}
	neg := s[0] == '-'
	h := map[string]float64{}
	found := false
	for i, p := range durationProps[:7] {
		if m[i+1] == "" {
			continue
		}
		found = true
		f, _ := strconv.ParseFloat(m[i+1], 64)
		if neg {
			f = -f
		}
		if f != 0 {
			h[p] = f
		}
	}
	if frac := m[8]; frac != "" {
		found = true
		f, _ := strconv.ParseFloat("0."+strings.TrimPrefix(frac, "-"), 64)
		ms := math.Floor(f * 1000)
		if strings.HasPrefix(m[7], "-") {
			ms = -ms
		}
		if ms != 0 {
			h["milliseconds"] = ms
		}
	}
	if !found {
		return nil, fmt.Errorf("invalid ISO format, no values given")
	}
	return h, nil
}

var (
	plainNumber   = regexp.MustCompile(`^\d+$`)
	humanDuration = regexp.MustCompile(`(?i)^(-?(?:\d+)?\.?\d+) *(milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)?$`)
)

// parseHumanDuration reads strings like "5m" or "2 days" (the ms package's
// grammar) and splits the total into fields as Backstage does, where a year
// counts 365.25 days.
func parseHumanDuration(s string) (map[string]float64, error) {
	if plainNumber.MatchString(s) {
		return nil, fmt.Errorf("the value cannot be a plain number; try adding a unit like 'ms' or 'seconds'")
	}
	m := humanDuration.FindStringSubmatch(s)
	if len(s) > 100 || m == nil {
		return nil, fmt.Errorf("not a valid duration string, try a number followed by a unit such as '1d' or '2 seconds'")
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	const (
		sec  = 1000.0
		min  = sec * 60
		hour = min * 60
		day  = hour * 24
		week = day * 7
		year = day * 365.25
	)
	unit := strings.ToLower(m[2])
	var factor float64
	switch {
	case unit == "":
		factor = 1
	case strings.HasPrefix(unit, "y"):
		factor = year
	case strings.HasPrefix(unit, "w"):
		factor = week
	case strings.HasPrefix(unit, "d"):
		factor = day
	case strings.HasPrefix(unit, "h"):
		factor = hour
	case unit == "ms" || strings.HasPrefix(unit, "msec") || strings.HasPrefix(unit, "milli"):
		factor = 1
	case strings.HasPrefix(unit, "m"):
		factor = min
	default:
		factor = sec
	}
	ms := n * factor
	if ms < 0 {
		return nil, fmt.Errorf("negative durations are not allowed")
	}
	h := map[string]float64{}
	if ms == 0 {
		h["milliseconds"] = 0
		return h, nil
	}
	for _, step := range []struct {
		name string
		size float64
	}{{"years", year}, {"weeks", week}, {"days", day}, {"hours", hour}, {"minutes", min}, {"seconds", sec}} {
		if ms >= step.size {
			k := math.Floor(ms / step.size)
			ms -= k * step.size
			h[step.name] = k
		}
	}
	if ms > 0 {
		h["milliseconds"] = ms
	}
	return h, nil
}
