package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Source is one rule file's content, named for error messages.
type Source struct {
	Name string
	Data []byte
}

// Error is a problem in a rule file. It names the file, the rule (or list or
// macro) and the line:column, so a bad rule can be found without guessing.
type Error struct {
	File string
	Line int
	Col  int
	Item string // "rule X", "macro Y", "list Z"; empty for file-level errors
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	if e.Item != "" {
		b.WriteString(": ")
		b.WriteString(e.Item)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Errors lists every problem of a load.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// ReadDir reads every *.yaml and *.yml file of dir, in name order.
func ReadDir(dir string) ([]Source, error) {
	return ReadFS(os.DirFS(dir), ".", dir)
}

// ReadFS reads every *.yaml and *.yml file under root of fsys, in name order;
// names are prefixed with label for messages.
func ReadFS(fsys fs.FS, root, label string) ([]Source, error) {
	var srcs []Source
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (!strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml")) {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		srcs = append(srcs, Source{Name: filepath.Join(label, rel), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading rules from %s: %w", label, err)
	}
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].Name < srcs[j].Name })
	return srcs, nil
}

// spec is a rule as written, before compilation.
type spec struct {
	ID          string
	Name        string
	Type        string
	Severity    float64
	Description string
	Condition   string
	Exceptions  []exceptionSpec
	Tags        []string
	Enabled     bool
	Override    bool // only `enabled` given: changes an earlier rule

	file string
	line int
	col  int
	// condLine/condCol locate the condition for compile errors.
	condLine, condCol int
}

type exceptionSpec struct {
	Name      string
	Condition string
}

type macroSpec struct {
	condition string
	file      string
	line, col int
}

type listSpec struct {
	items []string // expr literals: quoted strings, bare numbers
	file  string
}

// parsed collects the lists, macros and rules of all sources, in order.
type parsed struct {
	lists  map[string]*listSpec
	macros map[string]*macroSpec
	rules  []*spec
	byID   map[string]*spec
	// badFiles are files that did not parse at all; badRules are rule ids
	// whose definition is broken. Reload keeps their previous versions.
	badFiles map[string]bool
	badRules map[string]bool
	errs     Errors
}

var (
	typeRE = regexp.MustCompile(`^[A-Za-z]+:[A-Za-z0-9]+/[A-Za-z0-9.&!_\-]+$`)
	nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func parseSources(srcs []Source) *parsed {
	p := &parsed{
		lists:    map[string]*listSpec{},
		macros:   map[string]*macroSpec{},
		byID:     map[string]*spec{},
		badFiles: map[string]bool{},
		badRules: map[string]bool{},
	}
	for _, src := range srcs {
		p.parseFile(src)
	}
	return p
}

func (p *parsed) errorf(file string, n *yaml.Node, item, format string, args ...any) {
	e := &Error{File: file, Item: item, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

func (p *parsed) parseFile(src Source) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src.Data, &doc); err != nil {
		p.badFiles[src.Name] = true
		e := &Error{File: src.Name, Msg: err.Error()}
		// yaml.v3 errors read "yaml: line N: ..."; lift N into the position.
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			if m := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(err.Error()); m != nil {
				e.Line, _ = strconv.Atoi(m[1])
				e.Col = 1
			}
		}
		p.errs = append(p.errs, e)
		return
	}
	if len(doc.Content) == 0 {
		return // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		p.badFiles[src.Name] = true
		p.errorf(src.Name, root, "", "a rule file is a list of items (- rule:, - macro:, - list:)")
		return
	}
	for _, item := range root.Content {
		if item.Kind != yaml.MappingNode {
			p.errorf(src.Name, item, "", "each item must be a mapping with rule, macro or list")
			continue
		}
		fields := map[string]*yaml.Node{}
		keys := map[string]*yaml.Node{}
		for i := 0; i+1 < len(item.Content); i += 2 {
			fields[item.Content[i].Value] = item.Content[i+1]
			keys[item.Content[i].Value] = item.Content[i]
		}
		switch {
		case fields["rule"] != nil:
			p.parseRule(src.Name, item, fields, keys)
		case fields["macro"] != nil:
			p.parseMacro(src.Name, item, fields)
		case fields["list"] != nil:
			p.parseList(src.Name, item, fields)
		default:
			p.errorf(src.Name, item, "", "item has none of rule, macro, list")
		}
	}
}

func (p *parsed) parseList(file string, item *yaml.Node, f map[string]*yaml.Node) {
	name := f["list"].Value
	what := "list " + name
	if !nameRE.MatchString(name) {
		p.errorf(file, f["list"], what, "list names are identifiers ([A-Za-z_][A-Za-z0-9_]*)")
		return
	}
	n := f["items"]
	if n == nil || n.Kind != yaml.SequenceNode {
		p.errorf(file, item, what, "items must be a list")
		return
	}
	var items []string
	for _, it := range n.Content {
		switch {
		case it.Kind != yaml.ScalarNode:
			p.errorf(file, it, what, "list items must be strings or numbers")
			return
		case it.Tag == "!!int" || it.Tag == "!!float":
			items = append(items, it.Value)
		default:
			items = append(items, strconv.Quote(it.Value))
		}
	}
	if n := f["append"]; n != nil && n.Value == "true" {
		if l := p.lists[name]; l != nil {
			l.items = append(l.items, items...)
			return
		}
		p.errorf(file, item, what, "append to a list that is not defined earlier")
		return
	}
	p.lists[name] = &listSpec{items: items, file: file}
}

func (p *parsed) parseMacro(file string, item *yaml.Node, f map[string]*yaml.Node) {
	name := f["macro"].Value
	what := "macro " + name
	if !nameRE.MatchString(name) {
		p.errorf(file, f["macro"], what, "macro names are identifiers ([A-Za-z_][A-Za-z0-9_]*)")
		return
	}
	c := f["condition"]
	if c == nil || strings.TrimSpace(c.Value) == "" {
		p.errorf(file, item, what, "condition is required")
		return
	}
	p.macros[name] = &macroSpec{condition: c.Value, file: file, line: c.Line, col: c.Column}
}

var knownRuleFields = map[string]bool{
	"rule": true, "name": true, "type": true, "severity": true, "description": true,
	"condition": true, "exceptions": true, "tags": true, "enabled": true,
}

var severityWords = map[string]float64{"low": 2, "medium": 5, "high": 8, "critical": 9}

func (p *parsed) parseRule(file string, item *yaml.Node, f map[string]*yaml.Node, keys map[string]*yaml.Node) {
	s := &spec{ID: f["rule"].Value, Enabled: true, file: file, line: item.Line, col: item.Column}
	what := "rule " + s.ID
	bad := func(n *yaml.Node, format string, args ...any) {
		p.errorf(file, n, what, format, args...)
		p.badRules[s.ID] = true
	}
	if s.ID == "" {
		p.errorf(file, item, "", "rule id is empty")
		return
	}
	ok := true
	for k, n := range keys {
		if !knownRuleFields[k] {
			bad(n, "unknown field %q", k)
			ok = false
		}
	}
	if n := f["enabled"]; n != nil {
		if err := n.Decode(&s.Enabled); err != nil {
			bad(n, "enabled must be true or false")
			return
		}
	}
	// A rule item with only `enabled` switches an earlier rule on or off,
	// which is how users tune the default pack without copying it.
	if len(f) == 2 && f["enabled"] != nil {
		prev := p.byID[s.ID]
		if prev == nil {
			bad(item, "enables/disables a rule that is not defined earlier")
			return
		}
		prev.Enabled = s.Enabled
		return
	}
	for _, req := range []string{"name", "type", "severity", "condition"} {
		if f[req] == nil || strings.TrimSpace(f[req].Value) == "" {
			bad(item, "%s is required", req)
			ok = false
		}
	}
	if !ok {
		return
	}
	s.Name = f["name"].Value
	s.Type = f["type"].Value
	if !typeRE.MatchString(s.Type) {
		bad(f["type"], "type %q is not a finding type (ThreatPurpose:ResourceType/ThreatFamily.Mechanism!Artifact)", s.Type)
		return
	}
	sev := f["severity"]
	if v, found := severityWords[strings.ToLower(sev.Value)]; found {
		s.Severity = v
	} else if v, err := strconv.ParseFloat(sev.Value, 64); err == nil && v >= 1 && v <= 10 {
		s.Severity = v
	} else {
		bad(sev, "severity %q must be a number from 1 to 10 or low|medium|high|critical", sev.Value)
		return
	}
	if n := f["description"]; n != nil {
		s.Description = strings.TrimSpace(n.Value)
	}
	if n := f["tags"]; n != nil {
		if err := n.Decode(&s.Tags); err != nil {
			bad(n, "tags must be a list of strings")
			return
		}
	}
	c := f["condition"]
	s.Condition, s.condLine, s.condCol = c.Value, c.Line, c.Column
	if n := f["exceptions"]; n != nil {
		if n.Kind != yaml.SequenceNode {
			bad(n, "exceptions must be a list")
			return
		}
		for _, en := range n.Content {
			ex, err := parseException(en)
			if err != nil {
				bad(en, "exception: %v", err)
				return
			}
			s.Exceptions = append(s.Exceptions, ex)
		}
	}
	if prev := p.byID[s.ID]; prev != nil {
		*prev = *s // a later file redefines the rule
		return
	}
	delete(p.badRules, s.ID)
	p.byID[s.ID] = s
	p.rules = append(p.rules, s)
}

// parseException accepts either a condition or Falco-style fields/values:
//
//   - name: pkg_managers
//     condition: proc.exe_name in ["apt", "dpkg"]
//   - name: known_writers
//     fields: [proc.exe, path]
//     values: [[/usr/sbin/useradd, /etc/passwd]]
func parseException(n *yaml.Node) (exceptionSpec, error) {
	var raw struct {
		Name      string     `yaml:"name"`
		Condition string     `yaml:"condition"`
		Fields    []string   `yaml:"fields"`
		Values    [][]string `yaml:"values"`
	}
	if err := n.Decode(&raw); err != nil {
		return exceptionSpec{}, err
	}
	if raw.Name == "" {
		return exceptionSpec{}, errors.New("name is required")
	}
	ex := exceptionSpec{Name: raw.Name, Condition: raw.Condition}
	switch {
	case raw.Condition != "" && raw.Fields != nil:
		return ex, fmt.Errorf("%s: give either condition or fields/values, not both", raw.Name)
	case raw.Condition != "":
		return ex, nil
	case len(raw.Fields) == 0 || len(raw.Values) == 0:
		return ex, fmt.Errorf("%s: needs a condition or fields and values", raw.Name)
	}
	var alts []string
	for i, vs := range raw.Values {
		if len(vs) != len(raw.Fields) {
			return ex, fmt.Errorf("%s: values[%d] has %d entries for %d fields", raw.Name, i, len(vs), len(raw.Fields))
		}
		terms := make([]string, len(vs))
		for j, v := range vs {
			terms[j] = raw.Fields[j] + " == " + strconv.Quote(v)
		}
		alts = append(alts, "("+strings.Join(terms, " and ")+")")
	}
	ex.Condition = strings.Join(alts, " or ")
	return ex, nil
}
