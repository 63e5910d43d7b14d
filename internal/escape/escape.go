// Package escape makes attacker-controlled strings (paths, argv, comm, DNS
// names) safe to show a person or another program, without losing bytes.
//
// Printable UTF-8 passes through unchanged. Control characters, invalid UTF-8
// and the backslash itself become Go-style escapes (\n, \t, \x1b, \\), so a
// terminal never interprets an escape sequence a process chose, a log line
// never splits, and the original bytes can always be recovered with Unquote.
package escape

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every byte that is not printable UTF-8 escaped.
func String(s string) string {
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(`\x`)
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&0xf])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && !unicode.IsPrint(r):
			b.WriteString(`\x`)
			b.WriteByte(hex[byte(r)>>4])
			b.WriteByte(hex[byte(r)&0xf])
		case !unicode.IsPrint(r):
			// Bidi overrides, zero-width and other format runes can make a
			// string read differently from what it is.
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Strings escapes every element; it returns the input slice itself when no
// element needs escaping.
func Strings(ss []string) []string {
	var out []string
	for i, s := range ss {
		e := String(s)
		if out == nil && e != s {
			out = make([]string, len(ss))
			copy(out, ss[:i])
		}
		if out != nil {
			out[i] = e
		}
	}
	if out == nil {
		return ss
	}
	return out
}

// Unquote reverses String.
func Unquote(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	return strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
}

const hex = "0123456789abcdef"

func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '\\' || c >= 0x80 {
			return slowSafe(s)
		}
	}
	return true
}

// slowSafe handles strings with non-ASCII runes, which are fine when they are
// valid, printable UTF-8.
func slowSafe(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r == '\\' || !unicode.IsPrint(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}
