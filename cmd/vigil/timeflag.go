package main

import (
	"fmt"
	"strings"
	"time"
)

// parseTime reads the --from/--to forms people type: RFC 3339, a date, a
// date and time without zone (UTC), or a duration before now ("2h", "30m").
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil {
		return time.Now().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read time %q: use RFC 3339 (2026-01-02T15:04:05Z), a date, or a duration before now (2h)", s)
}
