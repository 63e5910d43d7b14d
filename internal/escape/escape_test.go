package escape

import (
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/usr/bin/curl", "/usr/bin/curl"},
		{"héllo wörld", "héllo wörld"},
		{"a\nb", `a\nb`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"back\\slash", `back\\slash`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"tab\there", `tab\there`},
		{"rtl\u202eexe.txt", `rtl\u202eexe.txt`},
		{"del\x7f", `del\x7f`},
	}
	for _, c := range cases {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "plain", "a\nb\x00c", "\xff\xfe", "\\x41", "\u202e", `"quoted"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := String(s)
		if !utf8.ValidString(e) {
			t.Fatalf("escaped %q is not valid UTF-8: %q", s, e)
		}
		for _, r := range e {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("escaped %q still holds control character %U", s, r)
			}
		}
		back, err := Unquote(e)
		if err != nil {
			t.Fatalf("Unquote(%q): %v", e, err)
		}
		if back != s {
			t.Fatalf("round trip %q -> %q -> %q", s, e, back)
		}
	})
}

func TestStringsKeepsSliceWhenClean(t *testing.T) {
	in := []string{"a", "b"}
	if out := Strings(in); &out[0] != &in[0] {
		t.Error("clean slice was copied")
	}
	out := Strings([]string{"a", "b\n"})
	if out[0] != "a" || out[1] != `b\n` {
		t.Errorf("Strings = %q", out)
	}
}
