package collector

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Actors are the known processes the tests watch. The test binary runs
// itself with VIGIL_ACTOR=<name> so that each actor is a process of its own
// (the collector excludes the test process) doing exactly the syscalls its
// test expects, and nothing the test has to guess.

const actorEnv = "VIGIL_ACTOR"

// runActor runs the actor named in the environment and exits; it returns
// when the process is not an actor.
func runActor() {
	name := os.Getenv(actorEnv)
	if name == "" {
		return
	}
	runtime.LockOSThread()
	args := os.Args[len(os.Args)-actorArgc():]
	err := actors[name](args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "actor %s: %v\n", name, err)
		os.Exit(2)
	}
	os.Exit(0)
}

func actorArgc() int {
	n, _ := strconv.Atoi(os.Getenv("VIGIL_ACTOR_ARGC"))
	return n
}

// actorCmd returns the command that runs actor name with args.
func actorCmd(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), actorEnv+"="+name, "VIGIL_ACTOR_ARGC="+strconv.Itoa(len(args)))
	cmd.Stderr = os.Stderr
	return cmd
}

var actors = map[string]func(args []string) error{
	"noop": func(args []string) error { return nil },
	// files dir: create, chmod, chown, rename, link, symlink, unlink.
	"files": func(args []string) error {
		dir := args[0]
		a, b := filepath.Join(dir, "created"), filepath.Join(dir, "renamed")
		fd, err := unix.Open(a, unix.O_CREAT|unix.O_WRONLY, 0o640)
		if err != nil {
			return err
		}
		unix.Close(fd)
		if err := unix.Chmod(a, 0o600); err != nil {
			return err
		}
		if err := unix.Chown(a, 1234, 5678); err != nil {
			return err
		}
		if err := unix.Rename(a, b); err != nil {
			return err
		}
		if err := unix.Link(b, filepath.Join(dir, "hard")); err != nil {
			return err
		}
		if err := unix.Symlink("/etc/passwd", filepath.Join(dir, "soft")); err != nil {
			return err
		}
		return unix.Unlink(b)
	},
	// open path: one open of an arbitrary (long, non-UTF-8) path; failure is fine.
	"open": func(args []string) error {
		fd, err := unix.Open(args[0], unix.O_CREAT|unix.O_WRONLY, 0o600)
		if err == nil {
			unix.Close(fd)
		}
		return nil
	},
	// net: bind, listen, connect to itself over IPv4 and IPv6, accept.
	"net": func(args []string) error {
		for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return err
			}
			s, err := ln.Accept()
			if err != nil {
				return err
			}
			s.Close()
			c.Close()
			ln.Close()
		}
		return nil
	},
	// dns-sendto server name: a plain UDP client, one sendto per query.
	"dns-sendto": func(args []string) error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ip := net.ParseIP(args[0]).To4()
		sa := &unix.SockaddrInet4{Port: 53, Addr: [4]byte(ip)}
		return unix.Sendto(fd, dnsQuery(args[1], 16), 0, sa)
	},
	// dns-write server name: connected UDP socket and write(2), as Go's
	// own resolver does.
	"dns-write": func(args []string) error {
		c, err := net.Dial("udp", net.JoinHostPort(args[0], "53"))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(dnsQuery(args[1], 28))
		return err
	},
	// glibc resolv.conf name: glibc's resolver (getent) in a private mount
	// namespace whose /etc/resolv.conf points at the test's server.
	"glibc": func(args []string) error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return err
		}
		if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := unix.Mount(args[0], "/etc/resolv.conf", "", unix.MS_BIND, ""); err != nil {
			return err
		}
		return syscall.Exec("/usr/bin/getent", []string{"getent", "ahosts", args[1]}, os.Environ())
	},
	// ptrace: attach to a child and detach.
	"ptrace": func(args []string) error {
		child := exec.Command("/bin/sleep", "5")
		if err := child.Start(); err != nil {
			return err
		}
		defer child.Process.Kill()
		fmt.Println(child.Process.Pid)
		if err := unix.PtraceAttach(child.Process.Pid); err != nil {
			return err
		}
		var ws unix.WaitStatus
		unix.Wait4(child.Process.Pid, &ws, 0, nil)
		return unix.PtraceDetach(child.Process.Pid)
	},
	// procmem: write into a child's memory through /proc/<pid>/mem.
	"procmem": func(args []string) error {
		child := exec.Command("/bin/sleep", "5")
		if err := child.Start(); err != nil {
			return err
		}
		defer child.Process.Kill()
		fmt.Println(child.Process.Pid)
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/mem", child.Process.Pid), unix.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		unix.Pwrite(fd, []byte{0x90}, 0x1000) // unmapped: EIO, still a write attempt
		return nil
	},
	// setuid: drop to nobody with the raw syscall (one thread).
	"setuid": func(args []string) error {
		_, _, e := unix.RawSyscall(unix.SYS_SETUID, 65534, 0, 0)
		if e != 0 {
			return e
		}
		return nil
	},
	// memfd: copy /bin/true into a memfd and execute it from there.
	"memfd": func(args []string) error {
		fd, err := unix.MemfdCreate("vigil-test", 0)
		if err != nil {
			return err
		}
		b, err := os.ReadFile("/bin/true")
		if err != nil {
			return err
		}
		if _, err := unix.Write(fd, b); err != nil {
			return err
		}
		p := fmt.Sprintf("/proc/self/fd/%d", fd)
		return syscall.Exec(p, []string{"memfd-true"}, nil)
	},
	// mount dir: tmpfs mount and unmount in a new mount namespace.
	"mount": func(args []string) error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return err
		}
		if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := unix.Mount("vigiltest", args[0], "tmpfs", unix.MS_NOSUID, "size=1m"); err != nil {
			return err
		}
		return unix.Unmount(args[0], unix.MNT_DETACH)
	},
	// module: a module load that the kernel refuses.
	"module": func(args []string) error {
		f, err := os.Open("/bin/true")
		if err != nil {
			return err
		}
		defer f.Close()
		unix.FinitModule(int(f.Fd()), "", 0)
		unix.InitModule([]byte("not a module"), "")
		return nil
	},
	// mprotect: an anonymous page made executable.
	"mprotect": func(args []string) error {
		b, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
		if err != nil {
			return err
		}
		fmt.Printf("%#x\n", uintptr(unsafe.Pointer(&b[0])))
		return unix.Mprotect(b, unix.PROT_READ|unix.PROT_EXEC)
	},
	// misc: kill, userfaultfd, bpf(), exit code 7.
	"misc": func(args []string) error {
		child := exec.Command("/bin/sleep", "5")
		if err := child.Start(); err != nil {
			return err
		}
		fmt.Println(child.Process.Pid)
		unix.Kill(child.Process.Pid, unix.SIGTERM)
		child.Wait()
		unix.Syscall(unix.SYS_USERFAULTFD, 0, 0, 0)
		unix.Syscall(unix.SYS_BPF, 9999, 0, 0) // no such command: EINVAL
		os.Exit(7)
		return nil
	},
	// forkstorm n: n short-lived children as fast as possible.
	"forkstorm": func(args []string) error {
		n, _ := strconv.Atoi(args[0])
		for i := 0; i < n; i++ {
			pid, _, e := unix.RawSyscall(unix.SYS_FORK, 0, 0, 0)
			if e != 0 {
				return e
			}
			if pid == 0 {
				unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
			}
		}
		for {
			if _, err := unix.Wait4(-1, nil, 0, nil); err != nil {
				return nil
			}
		}
	},
	// deepcwd depth: exec /bin/true from a directory deeper than the walker goes.
	"deepcwd": func(args []string) error {
		n, _ := strconv.Atoi(args[1])
		dir := args[0]
		for i := 0; i < n; i++ {
			dir = filepath.Join(dir, "d"+strconv.Itoa(i))
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.Chdir(dir); err != nil {
			return err
		}
		return syscall.Exec("/bin/true", []string{"true"}, nil)
	},
}

// dnsQuery builds a one-question DNS query.
func dnsQuery(name string, qtype uint16) []byte {
	m := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		m = append(m, byte(len(l)))
		m = append(m, l...)
	}
	m = append(m, 0)
	m = binary.BigEndian.AppendUint16(m, qtype)
	return binary.BigEndian.AppendUint16(m, 1)
}

// dnsServer answers every query on addr:53 (UDP) with NXDOMAIN, so that
// resolvers finish quickly. It runs in the test process, which the collector
// excludes.
func dnsServer(ip string) (stop func(), err error) {
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "53"))
	if err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			resp := append([]byte(nil), buf[:n]...)
			resp[2] |= 0x80 // QR
			resp[3] = 0x83  // RA, NXDOMAIN
			pc.WriteTo(resp, from)
		}
	}()
	time.Sleep(10 * time.Millisecond)
	return func() { pc.Close() }, nil
}
