package scorer

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/vigilsec/vigil/scorer/finding"
)

// Suppression drops findings whose fields all match. Fields are named by
// their JSON path in the finding ("type", "severity", "service.workload",
// "resource.containerDetails.image",
// "service.runtimeDetails.process.executablePath", ...); values are
// wildcard patterns where * matches any run of characters (slashes too).
// A field holding a list matches when any element does.
type Suppression struct {
	Name  string            `yaml:"name" json:"name"`
	Match map[string]string `yaml:"match" json:"match"`
	// MaxSeverity, when set, limits the suppression to findings at or below
	// it, so a broad suppression never hides a critical finding.
	MaxSeverity float64 `yaml:"max_severity" json:"max_severity,omitempty"`
}

// Validate checks that every field names a finding field.
func (s *Suppression) Validate() error {
	if s.Name == "" {
		return fmt.Errorf("suppression without a name")
	}
	if len(s.Match) == 0 {
		return fmt.Errorf("suppression %s: match is empty (it would drop every finding)", s.Name)
	}
	for field := range s.Match {
		if !validField(reflect.TypeOf(finding.Finding{}), strings.Split(field, ".")) {
			return fmt.Errorf("suppression %s: %q is not a finding field", s.Name, field)
		}
	}
	return nil
}

func validField(t reflect.Type, path []string) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if len(path) == 0 {
		return true
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == path[0] {
			return validField(t.Field(i).Type, path[1:])
		}
	}
	return false
}

// Matches reports whether f is suppressed.
func (s *Suppression) Matches(f *finding.Finding) bool {
	if s.MaxSeverity > 0 && f.Severity > s.MaxSeverity {
		return false
	}
	var doc any
	b, err := json.Marshal(f)
	if err != nil {
		return false
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return false
	}
	for field, pat := range s.Match {
		if !anyMatch(lookup(doc, strings.Split(field, ".")), pat) {
			return false
		}
	}
	return true
}

func lookup(doc any, path []string) []any {
	if len(path) == 0 {
		if l, ok := doc.([]any); ok {
			return l
		}
		return []any{doc}
	}
	switch d := doc.(type) {
	case map[string]any:
		return lookup(d[path[0]], path[1:])
	case []any:
		var out []any
		for _, x := range d {
			out = append(out, lookup(x, path)...)
		}
		return out
	}
	return nil
}

func anyMatch(vals []any, pat string) bool {
	for _, v := range vals {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case nil:
			continue
		default:
			s = fmt.Sprint(v)
		}
		if finding.Wildcard(pat, s) {
			return true
		}
	}
	return false
}
