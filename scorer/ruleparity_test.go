package scorer

import (
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/lineage"
	"github.com/vigilsec/vigil/scorer/rules"
	"github.com/vigilsec/vigil/trace"
)

// TestRulesMatchReferenceOnTraces runs realistic event streams (a
// generated two-workload trace with attacks, and every default-pack attack
// and near-miss sequence) through Engine.Process and checks, event by
// event, that the rule set's fast path (kind index, per-kind specialised
// closures, prefilters) reports exactly the rules, in the same order, that
// evaluating every rule on expr's VM reports for the same environment.
func TestRulesMatchReferenceOnTraces(t *testing.T) {
	set, err := rules.Load(rules.DefaultSources(), rules.Options{Intel: testIntel()})
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := synth.Generate(synth.Options{Seed: 4, Minutes: 180, Instances: 2, AttackEvery: 3,
		Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	streams := [][]trace.Event{gen}
	for _, c := range defaultPackCases() {
		streams = append(streams, c.attack.evs, c.benign.evs)
	}
	fired := map[string]int{}
	events := 0
	for _, evs := range streams {
		e, err := New(Config{}, set, nil, SinkFunc(func(*finding.Finding, bool) {}))
		if err != nil {
			t.Fatal(err)
		}
		e.afterMatch = func(ev *trace.Event, p *lineage.Proc, matched []*rules.Rule) {
			events++
			// Process builds the environment only for kinds with rules;
			// build it here either way (fillEnv only reads state).
			e.fillEnv(ev, p, rules.AllParts)
			var want []*rules.Rule
			set.MatchReference(&e.env, func(r *rules.Rule, err error) {
				if err != nil {
					t.Fatalf("%s: %v", r.ID, err)
				}
				want = append(want, r)
			})
			if !slices.Equal(matched, want) {
				t.Fatalf("event %+v: fast path matched %v, reference %v", *ev, ruleIDs(matched), ruleIDs(want))
			}
			for _, r := range matched {
				fired[r.ID]++
			}
		}
		for i := range evs {
			ev := evs[i]
			e.Process(&ev)
		}
	}
	if events < 100000 {
		t.Fatalf("only %d events compared", events)
	}
	for _, r := range set.Rules() {
		if r.Enabled && fired[r.ID] == 0 {
			t.Errorf("rule %s matched no event: the comparison did not exercise it", r.ID)
		}
	}
	t.Logf("%d events, matches by rule: %v", events, fired)
}

func ruleIDs(rs []*rules.Rule) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}
