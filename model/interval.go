package model

import (
	"strconv"
	"strings"
	"time"
)

// Rotation interval bounds from the spec.
const (
	MinRotationInterval = 6 * time.Hour
	MaxRotationInterval = 8760 * time.Hour
)

// ParseRotationInterval reads N followed by d, h, m or s (e.g. 7d) and
// returns seconds, refusing values outside 6h–8760h.
func ParseRotationInterval(s string) (int64, error) { return parseInterval("RotationInterval", s) }

// parseInterval is ParseRotationInterval for the parameter param.
func parseInterval(param, s string) (int64, error) {
	if s == "" {
		return 0, MissingParam(param)
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute, 's': time.Second}[s[len(s)-1]]
	if unit == 0 {
		return 0, InvalidParam(param, "must be a number followed by d, h, m or s (e.g. 7d), got %q", s)
	}
	digits := s[:len(s)-1]
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, InvalidParam(param, "must be a number followed by d, h, m or s (e.g. 7d), got %q", s)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > int64(MaxRotationInterval/unit) {
		return 0, InvalidParam(param, "must be between 6h and 8760h, got %q", s)
	}
	d := time.Duration(n) * unit
	if d < MinRotationInterval || d > MaxRotationInterval {
		return 0, InvalidParam(param, "must be between 6h and 8760h, got %q", s)
	}
	return int64(d / time.Second), nil
}

// FormatInterval renders seconds as the cloud returns them ("604800s").
func FormatInterval(seconds int64) string {
	if seconds <= 0 {
		return ""
	}
	return strconv.FormatInt(seconds, 10) + "s"
}

// HumanInterval renders seconds for people: 7d, 12h, 90m.
func HumanInterval(seconds int64) string {
	switch {
	case seconds <= 0:
		return ""
	case seconds%86400 == 0:
		return strconv.FormatInt(seconds/86400, 10) + "d"
	case seconds%3600 == 0:
		return strconv.FormatInt(seconds/3600, 10) + "h"
	case seconds%60 == 0:
		return strconv.FormatInt(seconds/60, 10) + "m"
	}
	return strconv.FormatInt(seconds, 10) + "s"
}
