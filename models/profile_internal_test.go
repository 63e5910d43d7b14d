package models

import (
	"math"
	"testing"

	"github.com/vigilsec/vigil/features"
)

// TestNovelRateBoundsYoungProfiles: ten windows with two items seen once
// do not make the next unseen item a rare event; two thousand windows that
// kept seeing the same items do. With no item seen once the bound is
// -ln(0.1)(T-1)/T^2, the Poisson 90% bound on zero.
func TestNovelRateBoundsYoungProfiles(t *testing.T) {
	profile := func(windows int, once ...string) *Profile {
		p := newProfile(features.CatExe)
		for w := range windows {
			seen := p.observe("/usr/bin/app", 1, int64(w))
			if w < len(once) {
				seen = p.observe(once[w], 1, int64(w)) || seen
			}
			p.endWindow(seen)
		}
		p.finish()
		return p
	}
	young, old := profile(10, "/bin/a", "/bin/b"), profile(2000)
	novel := []features.Item{{Cat: features.CatExe, Value: "/tmp/new"}}
	if s, _ := young.scoreItems(novel, false); s >= minNovelty {
		t.Errorf("10 windows, 2 items seen once: one new item scores %.2f (rate %.3g, bound %.3g), want below %g",
			s, young.Lambda, young.LambdaUpper, minNovelty)
	}
	if s, _ := old.scoreItems(novel, false); s < 2 {
		t.Errorf("2000 windows, nothing new: one new item scores %.2f (rate %.3g, bound %.3g), want 2 or more", s, old.Lambda, old.LambdaUpper)
	}
	if want := -math.Log(0.1) * 1999 / (2000 * 2000); math.Abs(old.LambdaUpper-want) > 1e-9*want {
		t.Errorf("bound with no item seen once: %.10g, want %.10g", old.LambdaUpper, want)
	}
}
