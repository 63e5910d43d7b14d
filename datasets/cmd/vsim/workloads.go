package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func init() {
	register("web", "HTTP service: static files, API calls to a backend, access log with rotation", runWeb)
	register("loadgen", "HTTP client load with a seeded mix of requests", runLoadgen)
	register("backend", "JSON API backed by files, periodic snapshots", runBackend)
	register("batch", "batch worker: files in, helper tools, compressed files out", runBatch)
	register("kv", "key-value store: write-ahead log, compaction, backups", runKV)
	register("kvclient", "key-value client load", runKVClient)
	register("cron", "run a crontab of '@every DURATION command' lines", runCron)
}

// guardedClient resolves names through the scenario's DNS server (so lookups
// show up as they do in real services) and dials only what guardDial allows.
func guardedClient(timeout time.Duration) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if net.ParseIP(host) == nil {
			ips, err := net.DefaultResolver.LookupHost(ctx, host)
			if err != nil {
				return nil, err
			}
			host = ips[0]
		}
		addr = net.JoinHostPort(host, port)
		if err := guardDial(network, addr); err != nil {
			return nil, err
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 4}}
}

// rotatingLog is an access log renamed to .1 (and older .1 to .2) when it
// grows past max bytes, as logrotate's copy-less mode does.
type rotatingLog struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	n    int64
}

func openLog(path string, max int64) (*rotatingLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	l := &rotatingLog{path: path, max: max}
	return l, l.open()
}

func (l *rotatingLog) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	st, _ := f.Stat()
	l.f, l.n = f, st.Size()
	return nil
}

func (l *rotatingLog) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, _ := fmt.Fprintf(l.f, format+"\n", args...)
	l.n += int64(n)
	if l.n > l.max {
		l.f.Close()
		os.Rename(l.path+".1", l.path+".2")
		os.Rename(l.path, l.path+".1")
		if err := l.open(); err != nil {
			logf("log: reopening %s: %v", l.path, err)
		}
	}
}

func runWeb(args []string) error {
	fs := flag.NewFlagSet("web", flag.ExitOnError)
	var c common
	c.flags(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "address")
	backend := fs.String("backend", "backend.local:9090", "backend host:port")
	static := fs.String("static", "/srv/static", "static files")
	logPath := fs.String("log", "/var/log/web/access.log", "access log")
	rotate := fs.Int64("rotate-bytes", 256<<10, "rotate the access log past this size")
	fs.Parse(args)
	ctx, cancel := signalContext(c.dur)
	defer cancel()

	r := c.rng("web-static")
	os.MkdirAll(*static, 0o755)
	for i := 0; i < 8; i++ {
		body := make([]byte, 512+r.IntN(8192))
		for j := range body {
			body[j] = byte('a' + r.IntN(26))
		}
		os.WriteFile(filepath.Join(*static, fmt.Sprintf("asset-%d.css", i)), body, 0o644)
	}
	alog, err := openLog(*logPath, *rotate)
	if err != nil {
		return err
	}
	client := guardedClient(3 * time.Second)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(*static))))
	proxy := func(w http.ResponseWriter, req *http.Request, method, path string, body io.Reader) {
		breq, _ := http.NewRequestWithContext(req.Context(), method, "http://"+*backend+path, body)
		resp, err := client.Do(breq)
		if err != nil {
			http.Error(w, "backend unavailable", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}
	mux.HandleFunc("/api/items/", func(w http.ResponseWriter, req *http.Request) {
		proxy(w, req, http.MethodGet, "/items/"+filepath.Base(req.URL.Path), nil)
	})
	mux.HandleFunc("/api/orders", func(w http.ResponseWriter, req *http.Request) {
		proxy(w, req, http.MethodPost, "/orders", io.LimitReader(req.Body, 1<<16))
	})
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: 200}
		mux.ServeHTTP(sw, req)
		alog.Printf("%s - - [%s] %q %d %d %q %dus", req.RemoteAddr, start.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			req.Method+" "+req.URL.RequestURI()+" "+req.Proto, sw.code, sw.n, req.UserAgent(), time.Since(start).Microseconds())
	})
	srv := &http.Server{Addr: *listen, Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	logf("web: listening on %s, backend %s", *listen, *backend)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type statusWriter struct {
	http.ResponseWriter
	code int
	n    int
}

func (s *statusWriter) WriteHeader(code int) { s.code = code; s.ResponseWriter.WriteHeader(code) }
func (s *statusWriter) Write(b []byte) (int, error) {
	n, err := s.ResponseWriter.Write(b)
	s.n += n
	return n, err
}

func runLoadgen(args []string) error {
	fs := flag.NewFlagSet("loadgen", flag.ExitOnError)
	var c common
	c.flags(fs)
	target := fs.String("target", "127.0.0.1:8080", "host:port")
	rps := fs.Float64("rps", 5, "mean requests per second")
	fs.Parse(args)
	ctx, cancel := signalContext(c.dur)
	defer cancel()
	r := c.rng("loadgen")
	client := guardedClient(3 * time.Second)
	agents := []string{"Mozilla/5.0 (X11; Linux x86_64)", "okhttp/4.12.0", "python-requests/2.31", "Go-http-client/1.1"}
	var sent, failed int
	for ctx.Err() == nil {
		var req *http.Request
		switch p := r.Float64(); {
		case p < 0.45:
			req, _ = http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/api/items/%d", *target, r.IntN(500)), nil)
		case p < 0.65:
			body := fmt.Sprintf(`{"item":%d,"qty":%d}`, r.IntN(500), 1+r.IntN(4))
			req, _ = http.NewRequestWithContext(ctx, "POST", "http://"+*target+"/api/orders", strings.NewReader(body))
		case p < 0.97:
			req, _ = http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/static/asset-%d.css", *target, r.IntN(8)), nil)
		default:
			req, _ = http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/missing/%d", *target, r.IntN(100)), nil)
		}
		req.Header.Set("User-Agent", agents[r.IntN(len(agents))])
		resp, err := client.Do(req)
		sent++
		if err != nil {
			failed++
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		// Poisson arrivals, with a slow daily-ish swell so load is not flat.
		swell := 1 + 0.5*sinTime(time.Now(), 10*time.Minute)
		wait := time.Duration(r.ExpFloat64() / (*rps * swell) * float64(time.Second))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	logf("loadgen: %d requests, %d failed", sent, failed)
	return nil
}

func sinTime(t time.Time, period time.Duration) float64 {
	x := float64(t.UnixNano()%int64(period)) / float64(period)
	// A triangle wave is enough and avoids importing math for one call.
	if x < 0.5 {
		return 4*x - 1
	}
	return 3 - 4*x
}

func runBackend(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ExitOnError)
	var c common
	c.flags(fs)
	listen := fs.String("listen", "127.0.0.1:9090", "address")
	data := fs.String("data", "/data", "data directory")
	snapEvery := fs.Duration("snapshot", 30*time.Second, "mean time between snapshots")
	fs.Parse(args)
	ctx, cancel := signalContext(c.dur)
	defer cancel()
	items := filepath.Join(*data, "items")
	if err := os.MkdirAll(items, 0o755); err != nil {
		return err
	}
	orders, err := os.OpenFile(filepath.Join(*data, "orders.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	norders := 0
	mux := http.NewServeMux()
	mux.HandleFunc("/items/", func(w http.ResponseWriter, req *http.Request) {
		id, err := strconv.Atoi(filepath.Base(req.URL.Path))
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		p := filepath.Join(items, fmt.Sprintf("%d.json", id))
		b, err := os.ReadFile(p)
		if err != nil {
			b, _ = json.Marshal(map[string]any{"id": id, "name": fmt.Sprintf("item-%d", id), "price": 100 + id%900})
			os.WriteFile(p, b, 0o644)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("/orders", func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(req.Body, 1<<16))
		mu.Lock()
		norders++
		fmt.Fprintf(orders, "%s %s\n", time.Now().UTC().Format(time.RFC3339Nano), strings.TrimSpace(string(b)))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		r := c.rng("backend")
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				srv.Close()
				return
			case <-time.After(jitter(r, *snapEvery)):
			}
			mu.Lock()
			snap := fmt.Sprintf(`{"orders":%d,"at":%q}`, norders, time.Now().UTC().Format(time.RFC3339))
			mu.Unlock()
			tmp := filepath.Join(*data, ".snapshot.tmp")
			if err := os.WriteFile(tmp, []byte(snap), 0o644); err == nil {
				os.Rename(tmp, filepath.Join(*data, "snapshot.json"))
			}
		}
	}()
	logf("backend: listening on %s", *listen)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tool runs a busybox applet as its own process, the way shell pipelines in
// batch jobs spawn helpers.
func helper(ctx context.Context, stdin io.Reader, stdout io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, os.Stderr
	return cmd.Run()
}

func runBatch(args []string) error {
	fs := flag.NewFlagSet("batch", flag.ExitOnError)
	var c common
	c.flags(fs)
	in := fs.String("in", "/work/in", "input directory")
	out := fs.String("out", "/work/out", "output directory")
	every := fs.Duration("every", 5*time.Second, "mean time between batches")
	keep := fs.Int("keep", 20, "outputs kept")
	fs.Parse(args)
	ctx, cancel := signalContext(c.dur)
	defer cancel()
	for _, d := range []string{*in, *out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	r := c.rng("batch")
	for n := 0; ctx.Err() == nil; n++ {
		if err := batchOnce(ctx, r, n, *in, *out, *keep); err != nil && ctx.Err() == nil {
			logf("batch %d: %v", n, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(jitter(r, *every)):
		}
	}
	return nil
}

func batchOnce(ctx context.Context, r *rand.Rand, n int, in, out string, keep int) error {
	// Input: a CSV of seeded events, as if dropped by an upstream job.
	src := filepath.Join(in, fmt.Sprintf("events-%06d.csv", n))
	var b strings.Builder
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
	for i, rows := 0, 200+r.IntN(800); i < rows; i++ {
		fmt.Fprintf(&b, "%d,%s,%d\n", r.IntN(1000), users[r.IntN(len(users))], r.IntN(5000))
	}
	if err := os.WriteFile(src, []byte(b.String()), 0o644); err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	sorted := filepath.Join(out, fmt.Sprintf("report-%06d.txt", n))
	w, err := os.Create(sorted)
	if err != nil {
		return err
	}
	err = helper(ctx, f, w, "/bin/sort", "-t,", "-k2,2", "-k1n")
	w.Close()
	if err != nil {
		return fmt.Errorf("sort: %w", err)
	}
	sum, err := os.Create(sorted + ".sha256")
	if err != nil {
		return err
	}
	helper(ctx, nil, sum, "/bin/sha256sum", sorted)
	sum.Close()
	// Mostly gzip; now and then xz, a legitimate but rare helper.
	if r.Float64() < 0.03 {
		err = helper(ctx, nil, os.Stderr, "/bin/xz", "-f", sorted)
	} else {
		err = helper(ctx, nil, os.Stderr, "/bin/gzip", "-f", sorted)
	}
	if err != nil {
		return fmt.Errorf("compress: %w", err)
	}
	os.Remove(src)
	if n%10 == 9 {
		tarball := filepath.Join(out, fmt.Sprintf("archive-%06d.tar", n))
		helper(ctx, nil, os.Stderr, "/bin/tar", "-cf", tarball, "-C", out, ".")
	}
	return prune(out, keep)
}

// prune keeps the newest keep files of dir.
func prune(dir string, keep int) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) <= keep {
		return nil
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents[:len(ents)-keep] {
		os.Remove(filepath.Join(dir, e.Name()))
	}
	return nil
}

func runKV(args []string) error {
	fs := flag.NewFlagSet("kv", flag.ExitOnError)
	var c common
	c.flags(fs)
	listen := fs.String("listen", "127.0.0.1:6379", "address")
	dir := fs.String("data", "/var/lib/kv", "data directory")
	compact := fs.Duration("compact", 20*time.Second, "mean time between compactions")
	fs.Parse(args)
	ctx, cancel := signalContext(c.dur)
	defer cancel()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	s := &kvStore{dir: *dir, data: map[string]string{}}
	if err := s.openWAL(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); ln.Close() }()
	go func() {
		r := c.rng("kv")
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(jitter(r, *compact)):
			}
			if err := s.compact(ctx, n); err != nil {
				logf("kv: compaction %d: %v", n, err)
			}
		}
	}()
	logf("kv: listening on %s", *listen)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go s.serve(conn)
	}
}

type kvStore struct {
	mu   sync.Mutex
	dir  string
	data map[string]string
	wal  *os.File
}

func (s *kvStore) openWAL() error {
	f, err := os.OpenFile(filepath.Join(s.dir, "wal.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	s.wal = f
	return err
}

func (s *kvStore) serve(conn net.Conn) {
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	for i := 0; i < 1_000_000 && sc.Scan(); i++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		s.mu.Lock()
		switch strings.ToUpper(f[0]) {
		case "SET":
			if len(f) == 3 {
				s.data[f[1]] = f[2]
				fmt.Fprintf(s.wal, "SET %s %s\n", f[1], f[2])
				fmt.Fprintln(conn, "+OK")
			}
		case "GET":
			if v, ok := s.data[f[1]]; ok && len(f) == 2 {
				fmt.Fprintln(conn, "$"+v)
			} else {
				fmt.Fprintln(conn, "$-1")
			}
		case "DEL":
			if len(f) == 2 {
				delete(s.data, f[1])
				fmt.Fprintf(s.wal, "DEL %s\n", f[1])
				fmt.Fprintln(conn, "+OK")
			}
		default:
			fmt.Fprintln(conn, "-ERR unknown command")
		}
		s.mu.Unlock()
	}
}

// compact writes a snapshot, swaps it in atomically and starts a new WAL;
// every fifth compaction also keeps a compressed backup (three at most).
func (s *kvStore) compact(ctx context.Context, n int) error {
	s.mu.Lock()
	tmp := filepath.Join(s.dir, "snapshot.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bw := bufio.NewWriter(f)
	for _, k := range keys {
		fmt.Fprintf(bw, "%s %s\n", k, s.data[k])
	}
	bw.Flush()
	f.Sync()
	f.Close()
	err = os.Rename(tmp, filepath.Join(s.dir, "snapshot.db"))
	if err == nil {
		s.wal.Close()
		os.Remove(filepath.Join(s.dir, "wal.log"))
		err = s.openWAL()
	}
	s.mu.Unlock()
	if err != nil || n%5 != 0 {
		return err
	}
	backup := filepath.Join(s.dir, fmt.Sprintf("backup-%04d.tar.gz", n))
	if err := helper(ctx, nil, os.Stderr, "/bin/tar", "-czf", backup, "-C", s.dir, "snapshot.db"); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(s.dir, "backup-*.tar.gz"))
	sort.Strings(old)
	for len(old) > 3 {
		os.Remove(old[0])
		old = old[1:]
	}
	return nil
}

func runKVClient(args []string) error {
	fs := flag.NewFlagSet("kvclient", flag.ExitOnError)
	var c common
	c.flags(fs)
	addr := fs.String("addr", "127.0.0.1:6379", "address")
	rps := fs.Float64("rps", 20, "mean operations per second")
	fs.Parse(args)
	ctx, cancel := signalContext(c.dur)
	defer cancel()
	r := c.rng("kvclient")
	var conn net.Conn
	var rd *bufio.Reader
	for ops := 0; ctx.Err() == nil; ops++ {
		if conn == nil {
			var err error
			if conn, err = dialGuarded("tcp", *addr, time.Second); err != nil {
				conn = nil
				time.Sleep(500 * time.Millisecond)
				continue
			}
			rd = bufio.NewReader(conn)
		}
		k := fmt.Sprintf("session:%d", r.IntN(2000))
		var line string
		switch p := r.Float64(); {
		case p < 0.6:
			line = "GET " + k
		case p < 0.95:
			line = fmt.Sprintf("SET %s %x", k, r.Uint64())
		default:
			line = "DEL " + k
		}
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := fmt.Fprintln(conn, line); err != nil {
			conn.Close()
			conn = nil
			continue
		}
		if _, err := rd.ReadString('\n'); err != nil {
			conn.Close()
			conn = nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(r.ExpFloat64() / *rps * float64(time.Second))):
		}
	}
	if conn != nil {
		conn.Close()
	}
	return nil
}

type cronJob struct {
	every time.Duration
	cmd   string
	next  time.Time
}

func runCron(args []string) error {
	fs := flag.NewFlagSet("cron", flag.ExitOnError)
	var c common
	c.flags(fs)
	tab := fs.String("tab", "/etc/crontab", "crontab: '@every 30s command' per line, # comments")
	logPath := fs.String("log", "/var/log/cron.log", "job output")
	fs.Parse(args)
	ctx, cancel := signalContext(c.dur)
	defer cancel()
	data, err := os.ReadFile(*tab)
	if err != nil {
		return err
	}
	r := c.rng("cron")
	var jobs []*cronJob
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "@every" {
			return fmt.Errorf("%s:%d: want '@every DURATION command'", *tab, i+1)
		}
		d, err := time.ParseDuration(f[1])
		if err != nil || d < 100*time.Millisecond {
			return fmt.Errorf("%s:%d: bad interval %q", *tab, i+1, f[1])
		}
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(l, "@every")), f[1]))
		// First run within the first half interval, as hosts booted at
		// different times would.
		jobs = append(jobs, &cronJob{every: d, cmd: rest, next: time.Now().Add(time.Duration(r.Float64() * float64(d) / 2))})
	}
	if len(jobs) == 0 {
		return fmt.Errorf("%s: no jobs", *tab)
	}
	out, err := openLog(*logPath, 256<<10)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		sort.Slice(jobs, func(i, j int) bool { return jobs[i].next.Before(jobs[j].next) })
		j := jobs[0]
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(j.next)):
		}
		j.next = time.Now().Add(jitter(r, j.every))
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", j.cmd)
		b, err := cmd.CombinedOutput()
		out.Printf("%s %q exit=%v %s", time.Now().UTC().Format(time.RFC3339), j.cmd, err, strings.TrimSpace(string(b)))
	}
	return nil
}
