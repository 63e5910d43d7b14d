package features_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/tracetest"
)

// TestFieldsAreAllTheExtractorReads runs traces through the extractor three
// ways: as they are, with every field outside features.Fields zeroed (what a
// projected lake scan delivers), and with those fields set to random values.
// All three must give the same windows; a field the extractor reads but
// Fields lacks makes them differ.
func TestFieldsAreAllTheExtractorReads(t *testing.T) {
	seq, _ := synth.Generate(synth.Options{Seed: 4, Minutes: 10, Sequence: true, AttackEvery: 3})
	plain, _ := synth.Generate(synth.Options{Seed: 5, Minutes: 10, AttackEvery: 2})
	mix := tracetest.Events(6, 60000, int64(5*time.Millisecond))
	// Sparse events send the extractor to its fallbacks: the workload key
	// derived from ECS or image fields, the instance from the host, the executable from argv or comm.
	sparse := slices.Clone(mix[:20000])
	for i := range sparse {
		e := &sparse[i]
		e.Workload = ""
		if i%4 == 0 {
			e.TaskFamily = ""
		}
		if i%3 == 0 {
			e.ExePath = ""
		}
		if i%6 == 0 {
			e.Argv = nil
		}
		e.PathTruncated = i%5 == 0
		if i%7 == 0 {
			e.ContainerID = "" // the host's own processes
		}
	}
	for name, events := range map[string][]trace.Event{"sequence": seq, "events": plain, "mix": mix, "sparse": sparse} {
		t.Run(name, func(t *testing.T) {
			want, wantStats, err := features.Extract(features.Config{}, events)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) < 10 {
				t.Fatalf("only %d windows: the comparison would prove little", len(want))
			}
			r := rand.New(rand.NewPCG(1, 2))
			for _, how := range []string{"zeroed", "random"} {
				other := slices.Clone(events)
				for i := range other {
					setOtherFields(&other[i], how, r)
				}
				got, stats, err := features.Extract(features.Config{}, other)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) || stats != wantStats {
					t.Fatalf("fields outside features.Fields %s: the windows differ; the extractor reads a field Fields does not list", how)
				}
			}
		})
	}
}

// setOtherFields zeroes, or sets to random values, every field of e that
// features.Fields does not name.
func setOtherFields(e *trace.Event, how string, r *rand.Rand) {
	v := reflect.ValueOf(e).Elem()
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("parquet"), ",")
		if slices.Contains(features.Fields, name) {
			continue
		}
		f := v.Field(i)
		if how == "zeroed" {
			f.SetZero()
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprint("x", r.IntN(1000)))
		case reflect.Bool:
			f.SetBool(r.IntN(2) == 0)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{fmt.Sprint("/y", r.IntN(9)), "z"}))
		case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f.SetInt(int64(r.IntN(1 << 7)))
		default:
			f.SetUint(uint64(r.IntN(1 << 7)))
		}
	}
}

// TestFieldsNameEventFields: every name is a column of the trace schema.
func TestFieldsNameEventFields(t *testing.T) {
	cols := map[string]bool{}
	et := reflect.TypeFor[trace.Event]()
	for i := range et.NumField() {
		name, _, _ := strings.Cut(et.Field(i).Tag.Get("parquet"), ",")
		cols[name] = true
	}
	for _, f := range features.Fields {
		if !cols[f] {
			t.Errorf("features.Fields names %q, which is not a trace.Event column", f)
		}
	}
}
