// Package syscalls maps syscall numbers between ABIs and names, so traces
// recorded elsewhere (ADFA-LD's i386 numbers, LID-DS's sysdig names) land in
// the lake with the x86_64 numbers Vigil's own collector records.
package syscalls

//go:generate go run ./internal/gen

// I386Only is added to an i386 syscall number that has no x86_64
// counterpart (socketcall, ipc, ...): such calls stay distinct tokens,
// outside the x86_64 range, instead of being dropped or merged.
const I386Only = 100000

// i386Aliases are i386 syscalls whose x86_64 counterpart has another name:
// the 32-bit-uid, large-file and old-signal variants.
var i386Aliases = map[string]string{
	"mmap2": "mmap", "_llseek": "lseek", "_newselect": "select", "oldselect": "select",
	"stat64": "stat", "lstat64": "lstat", "fstat64": "fstat", "fstatat64": "newfstatat",
	"oldstat": "stat", "oldlstat": "lstat", "oldfstat": "fstat", "oldolduname": "uname", "olduname": "uname",
	"fcntl64": "fcntl", "truncate64": "truncate", "ftruncate64": "ftruncate",
	"statfs64": "statfs", "fstatfs64": "fstatfs", "sendfile64": "sendfile", "fadvise64_64": "fadvise64",
	"getuid32": "getuid", "getgid32": "getgid", "geteuid32": "geteuid", "getegid32": "getegid",
	"setuid32": "setuid", "setgid32": "setgid", "setreuid32": "setreuid", "setregid32": "setregid",
	"setresuid32": "setresuid", "getresuid32": "getresuid", "setresgid32": "setresgid", "getresgid32": "getresgid",
	"getgroups32": "getgroups", "setgroups32": "setgroups", "chown32": "chown", "lchown32": "lchown",
	"fchown32": "fchown", "setfsuid32": "setfsuid", "setfsgid32": "setfsgid", "ugetrlimit": "getrlimit",
	"sigaction": "rt_sigaction", "signal": "rt_sigaction", "sigprocmask": "rt_sigprocmask",
	"sigreturn": "rt_sigreturn", "sigsuspend": "rt_sigsuspend", "sigpending": "rt_sigpending",
	"waitpid": "wait4", "umount": "umount2", "readdir": "getdents", "vm86old": "vm86",
}

// FromI386 maps an i386 syscall number to its name and the x86_64 number.
// ok is false for a number the i386 table does not have.
func FromI386(nr int) (name string, x86 int, ok bool) {
	name, ok = i386Names[nr]
	if !ok {
		return "", 0, false
	}
	if n, found := x8664Numbers[name]; found {
		return name, n, true
	}
	if a, found := i386Aliases[name]; found {
		if n, found := x8664Numbers[a]; found {
			return name, n, true
		}
	}
	return name, I386Only + nr, true
}

// linuxAliases are names tools print for calls x86_64 knows under another.
var linuxAliases = map[string]string{
	"stat64": "stat", "lstat64": "lstat", "fstat64": "fstat", "fstatat": "newfstatat",
	"llseek": "lseek", "_llseek": "lseek", "mmap2": "mmap", "umount": "umount2", "pread": "pread64", "pwrite": "pwrite64",
	"getdents32": "getdents", "signal": "rt_sigaction", "sigaction": "rt_sigaction", "sigprocmask": "rt_sigprocmask",
	"sigreturn": "rt_sigreturn",
}

// X8664 returns the x86_64 number of a syscall name.
func X8664(name string) (int, bool) {
	if n, ok := x8664Numbers[name]; ok {
		return n, true
	}
	if a, ok := linuxAliases[name]; ok {
		n, ok := x8664Numbers[a]
		return n, ok
	}
	return 0, false
}

// NameX8664 returns the name of an x86_64 syscall number.
func NameX8664(nr int) (string, bool) {
	n, ok := x8664Names[nr]
	return n, ok
}

var x8664Names = func() map[int]string {
	m := make(map[int]string, len(x8664Numbers))
	for name, nr := range x8664Numbers {
		m[nr] = name
	}
	return m
}()
