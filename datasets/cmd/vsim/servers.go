package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func init() {
	register("pause", "the task's pause container: hold the network namespace, do nothing else", runPause)
	register("remote", "stand in for the hosts outside the task: serve DNS on 127.0.0.1:53, reap the servers exec'd here", runRemote)
	register("dns", "serve DNS: every A query answers 127.0.0.1, -nx globs answer NXDOMAIN", runDNS)
	register("listen", "reverse-shell catcher: accept, send commands, print what comes back", runListen)
	register("pool", "fake stratum mining pool (JSON-RPC over TCP)", runPool)
	register("httpfile", "serve one file over HTTP (a payload server)", runHTTPFile)
	register("fakedocker", "serve a Docker-like API on a Unix socket", runFakeDocker)
}

// guardDial refuses any destination but loopback and Unix sockets. Cloud
// metadata addresses are allowed only when this network namespace has no
// route but loopback, so the attempt is recorded and fails locally.
func guardDial(network, addr string) error {
	if network == "unix" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("refusing to dial %q: not an IP address (resolve first)", addr)
	}
	if ip.IsLoopback() {
		return nil
	}
	if ip.IsLinkLocalUnicast() {
		if routed, err := hasRouteOut(); err != nil || routed {
			return fmt.Errorf("refusing to dial %s: this network namespace has a route out", addr)
		}
		return nil
	}
	return fmt.Errorf("refusing to dial %s: scenarios only talk to loopback", addr)
}

// hasRouteOut reports whether any interface but lo has an IPv4 route.
func hasRouteOut() (bool, error) {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return true, err
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && f[0] != "lo" {
			return true, nil
		}
	}
	return false, nil
}

func dialGuarded(network, addr string, timeout time.Duration) (net.Conn, error) {
	if err := guardDial(network, addr); err != nil {
		return nil, err
	}
	return net.DialTimeout(network, addr, timeout)
}

// serveFor is how long a server started for an attack keeps serving: its
// -timeout, or until the scenario run ends when that is later (the runner
// sets VIGIL_RUN_END, runner.RunEndEnv, in Unix seconds), so an attack late in
// a long run still finds its server. Bounded either way.
func serveFor(timeout time.Duration) time.Duration {
	const most = 48 * time.Hour
	end, err := strconv.ParseInt(os.Getenv("VIGIL_RUN_END"), 10, 64)
	if err != nil {
		return timeout
	}
	return min(max(timeout, time.Until(time.Unix(end, 0))), most)
}

func signalContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel2 := context.WithTimeout(ctx, d)
	return ctx, func() { cancel2(); cancel() }
}

// runPause is the task's pause container, as in ECS: it keeps the task's
// network namespace alive and does nothing else until stopped, so the
// workload named ~internal~ecs~pause is as quiet as the real one.
func runPause(args []string) error {
	fs := flag.NewFlagSet("pause", flag.ExitOnError)
	var c common
	c.flags(fs)
	fs.Parse(args)
	ctx, cancel := signalContext(c.dur)
	defer cancel()
	<-ctx.Done()
	return nil
}

// runRemote is PID 1 of the container that stands in for the hosts outside
// the task: it answers the task's DNS on 127.0.0.1:53 (the pause container
// gives the namespace's resolv.conf that address) while the scenario's infra
// servers are exec'd next to it.
func runRemote(args []string) error {
	fs := flag.NewFlagSet("remote", flag.ExitOnError)
	var c common
	c.flags(fs)
	fs.Parse(args)
	ctx, cancel := signalContext(c.dur)
	defer cancel()
	// Servers exec'd here that fork and exit leave their children to PID 1:
	// reap them once they exit.
	go func() {
		for ctx.Err() == nil {
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(-1, &ws, 0, nil); err != nil {
				time.Sleep(time.Second)
			}
		}
	}()
	return serveDNS(ctx, "127.0.0.1:53", nil)
}

func runDNS(args []string) error {
	fs := flag.NewFlagSet("dns", flag.ExitOnError)
	var c common
	c.flags(fs)
	listen := fs.String("listen", "127.0.0.1:53", "UDP address")
	nx := fs.String("nx", "", "comma-separated name globs answered with NXDOMAIN")
	fs.Parse(args)
	ctx, cancel := signalContext(c.dur)
	defer cancel()
	var globs []string
	if *nx != "" {
		globs = strings.Split(*nx, ",")
	}
	return serveDNS(ctx, *listen, globs)
}

// serveDNS answers A queries with 127.0.0.1 so that every name a scenario
// looks up, good or bad, leads back to loopback.
func serveDNS(ctx context.Context, addr string, nx []string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); pc.Close() }()
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		resp, err := dnsAnswer(buf[:n], nx)
		if err != nil {
			logf("dns: bad query from %s: %v", from, err)
			continue
		}
		pc.WriteTo(resp, from)
	}
}

func dnsAnswer(q []byte, nx []string) ([]byte, error) {
	if len(q) < 12 {
		return nil, errors.New("short header")
	}
	qd := binary.BigEndian.Uint16(q[4:6])
	if qd != 1 {
		return nil, fmt.Errorf("%d questions", qd)
	}
	off := 12
	var labels []string
	for {
		if off >= len(q) {
			return nil, errors.New("truncated name")
		}
		l := int(q[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(q) {
			return nil, errors.New("bad label")
		}
		labels = append(labels, string(q[off:off+l]))
		off += l
	}
	if off+4 > len(q) {
		return nil, errors.New("truncated question")
	}
	qtype := binary.BigEndian.Uint16(q[off : off+2])
	off += 4
	name := strings.ToLower(strings.Join(labels, "."))

	resp := make([]byte, off, off+16)
	copy(resp, q[:off])
	flags := uint16(0x8180) // response, recursion desired+available
	if q[2]&0x01 == 0 {
		flags &^= 0x0100
	}
	rcode := uint16(0)
	for _, g := range nx {
		if ok, _ := path.Match(g, name); ok {
			rcode = 3
		}
	}
	binary.BigEndian.PutUint16(resp[2:4], flags|rcode)
	binary.BigEndian.PutUint16(resp[8:10], 0)
	binary.BigEndian.PutUint16(resp[10:12], 0)
	if rcode == 0 && qtype == 1 {
		binary.BigEndian.PutUint16(resp[6:8], 1)
		resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 127, 0, 0, 1)
	} else {
		binary.BigEndian.PutUint16(resp[6:8], 0)
	}
	return resp, nil
}

func runListen(args []string) error {
	fs := flag.NewFlagSet("listen", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:4444", "TCP address")
	send := fs.String("send", "id; exit", "commands sent to each caller, ';'-separated")
	accepts := fs.Int("accepts", 1, "connections to accept before exiting")
	timeout := fs.Duration("timeout", time.Minute, "give up after")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	deadline := time.Now().Add(serveFor(*timeout))
	ln.(*net.TCPListener).SetDeadline(deadline)
	for i := 0; i < *accepts; i++ {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		for _, cmd := range strings.Split(*send, ";") {
			fmt.Fprintf(conn, "%s\n", strings.TrimSpace(cmd))
		}
		out := readIdle(conn, 1<<16, 1500*time.Millisecond, 15*time.Second)
		logf("listen: %s sent %d bytes: %q", conn.RemoteAddr(), len(out), out)
		conn.Close()
	}
	return nil
}

func runPool(args []string) error {
	fs := flag.NewFlagSet("pool", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:3333", "TCP address")
	timeout := fs.Duration("timeout", time.Minute, "give up after")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(serveFor(*timeout)))
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
		go servePool(conn)
	}
}

type rpc struct {
	ID     any             `json:"id"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result any             `json:"result,omitempty"`
	Error  any             `json:"error"`
}

func servePool(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	sc := bufio.NewScanner(conn)
	enc := json.NewEncoder(conn)
	for n := 0; n < 1000 && sc.Scan(); n++ {
		var req rpc
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return
		}
		switch req.Method {
		case "mining.subscribe":
			enc.Encode(rpc{ID: req.ID, Result: []any{[][]string{{"mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f"}}, "08000002", 4}})
			enc.Encode(map[string]any{"id": nil, "method": "mining.set_difficulty", "params": []int{1}})
			enc.Encode(map[string]any{"id": nil, "method": "mining.notify", "params": []any{"bf", "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000", "01000000010000", "072f736c7573682f000000000100f2052a010000001976a914", []string{}, "00000002", "1c2ac4af", "504e86b9", false}})
		case "login": // xmrig's spelling
			enc.Encode(rpc{ID: req.ID, Result: map[string]any{"id": "1", "job": map[string]string{"blob": strings.Repeat("0", 152), "job_id": "1", "target": "b88d0600"}, "status": "OK"}})
		default:
			enc.Encode(rpc{ID: req.ID, Result: true})
		}
	}
}

func runHTTPFile(args []string) error {
	fs := flag.NewFlagSet("httpfile", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8000", "TCP address")
	file := fs.String("file", "/bin/busybox", "file served at every path")
	timeout := fs.Duration("timeout", time.Minute, "stop after")
	fs.Parse(args)
	ctx, cancel := signalContext(serveFor(*timeout))
	defer cancel()
	srv := &http.Server{Addr: *addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, *file)
	})}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func runFakeDocker(args []string) error {
	fs := flag.NewFlagSet("fakedocker", flag.ExitOnError)
	sock := fs.String("socket", "/var/run/docker.sock", "Unix socket path")
	timeout := fs.Duration("timeout", time.Minute, "stop after")
	fs.Parse(args)
	os.MkdirAll(path.Dir(*sock), 0o755)
	os.Remove(*sock)
	ln, err := net.Listen("unix", *sock)
	if err != nil {
		return err
	}
	os.Chmod(*sock, 0o660)
	ctx, cancel := signalContext(serveFor(*timeout))
	defer cancel()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/version"):
			fmt.Fprint(w, `{"Version":"20.10.24","ApiVersion":"1.41","Os":"linux","Arch":"amd64"}`)
		case strings.HasSuffix(r.URL.Path, "/containers/json"):
			fmt.Fprint(w, `[{"Id":"4f1c2a","Names":["/ecs-agent"],"Image":"amazon/amazon-ecs-agent:latest","State":"running"}]`)
		default:
			http.Error(w, `{"message":"page not found"}`, http.StatusNotFound)
		}
	})
	srv := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// readIdle reads until EOF, max bytes, or idle without data: some shells
// (a fifo pipeline) never close their end.
func readIdle(conn net.Conn, max int, idle, total time.Duration) []byte {
	var out []byte
	buf := make([]byte, 4096)
	end := time.Now().Add(total)
	for len(out) < max && time.Now().Before(end) {
		conn.SetReadDeadline(time.Now().Add(idle))
		n, err := conn.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	return out
}
