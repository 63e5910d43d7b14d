package syscalls

import "testing"

func TestFromI386(t *testing.T) {
	for _, c := range []struct {
		i386 int
		name string
		x86  int
	}{
		{5, "open", 2},
		{11, "execve", 59},
		{3, "read", 0},
		{192, "mmap2", 9},      // alias: mmap
		{140, "_llseek", 8},    // alias: lseek
		{195, "stat64", 4},     // alias: stat
		{199, "getuid32", 102}, // alias: getuid
		{102, "socketcall", I386Only + 102},
		{117, "ipc", I386Only + 117},
	} {
		name, x86, ok := FromI386(c.i386)
		if !ok || name != c.name || x86 != c.x86 {
			t.Errorf("FromI386(%d) = %q %d %v, want %q %d", c.i386, name, x86, ok, c.name, c.x86)
		}
	}
	if _, _, ok := FromI386(9999); ok {
		t.Error("FromI386(9999) ok")
	}
}

func TestX8664(t *testing.T) {
	for name, want := range map[string]int{"read": 0, "openat": 257, "execve": 59, "clone": 56, "pread": 17, "stat64": 4} {
		if got, ok := X8664(name); !ok || got != want {
			t.Errorf("X8664(%q) = %d %v, want %d", name, got, ok, want)
		}
	}
	if _, ok := X8664("switch"); ok {
		t.Error(`X8664("switch") ok: sysdig's context switch is not a syscall`)
	}
	if n, _ := NameX8664(257); n != "openat" {
		t.Errorf("NameX8664(257) = %q", n)
	}
}
