package main

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The safety net of every client in vsim: only loopback and Unix sockets,
// and metadata addresses only where no route leads out.
func TestGuardDial(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:80", "[::1]:53", "127.9.9.9:4444"} {
		if err := guardDial("tcp", addr); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
	if err := guardDial("unix", "/var/run/docker.sock"); err != nil {
		t.Error(err)
	}
	for _, addr := range []string{"10.0.0.1:80", "8.8.8.8:53", "192.168.1.1:22", "pool.example.com:3333", "[2001:db8::1]:80"} {
		if err := guardDial("tcp", addr); err == nil {
			t.Errorf("%s allowed", addr)
		}
	}
	// The test host has routes out, so the metadata address must be refused
	// here; inside a scenario's namespace (loopback only) it is allowed.
	if routed, err := hasRouteOut(); err == nil && routed {
		if err := guardDial("tcp", "169.254.169.254:80"); err == nil || !strings.Contains(err.Error(), "route out") {
			t.Errorf("metadata from a routed namespace: %v", err)
		}
	}
}

func query(name string, qtype uint16) []byte {
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(name, ".") {
		q = append(q, byte(len(l)))
		q = append(q, l...)
	}
	q = append(q, 0, byte(qtype>>8), byte(qtype), 0, 1)
	return q
}

func TestDNSAnswer(t *testing.T) {
	resp, err := dnsAnswer(query("pool.supportxmr.com", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint16(resp[0:2]) != 0x1234 || resp[3]&0x0f != 0 || binary.BigEndian.Uint16(resp[6:8]) != 1 {
		t.Fatalf("header % x", resp[:12])
	}
	if got := resp[len(resp)-4:]; string(got) != "\x7f\x00\x00\x01" {
		t.Errorf("answer % x, want 127.0.0.1", got)
	}
	resp, _ = dnsAnswer(query("abc123.top", 1), []string{"*.top"})
	if resp[3]&0x0f != 3 || binary.BigEndian.Uint16(resp[6:8]) != 0 {
		t.Errorf("nx glob: rcode %d answers %d", resp[3]&0x0f, binary.BigEndian.Uint16(resp[6:8]))
	}
	resp, _ = dnsAnswer(query("backend.local", 28), nil)
	if binary.BigEndian.Uint16(resp[6:8]) != 0 || resp[3]&0x0f != 0 {
		t.Errorf("AAAA: want an empty NOERROR")
	}
	for _, bad := range [][]byte{nil, make([]byte, 11), append(query("a.b", 1)[:14], 63)} {
		if _, err := dnsAnswer(bad, nil); err == nil {
			t.Errorf("% x accepted", bad)
		}
	}
}

func TestSeededDGA(t *testing.T) {
	a := dgaNames(&common{seed: 7}, 5, "top")
	b := dgaNames(&common{seed: 7}, 5, "top")
	c := dgaNames(&common{seed: 8}, 5, "top")
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("same seed, different names: %v %v", a, b)
	}
	if strings.Join(a, ",") == strings.Join(c, ",") {
		t.Errorf("different seeds, same names: %v", a)
	}
	for _, n := range a {
		if !strings.HasSuffix(n, ".top") || len(n) < 16 {
			t.Errorf("name %q", n)
		}
	}
}

func TestServeForOutlastsTheRun(t *testing.T) {
	if got := serveFor(time.Minute); got != time.Minute {
		t.Errorf("no run end: %v, want the -timeout", got)
	}
	t.Setenv("VIGIL_RUN_END", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	if got := serveFor(time.Minute); got < 59*time.Minute || got > time.Hour {
		t.Errorf("run ends in an hour: %v", got)
	}
	t.Setenv("VIGIL_RUN_END", strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10))
	if got := serveFor(time.Minute); got != time.Minute {
		t.Errorf("run end passed: %v, want the -timeout", got)
	}
	t.Setenv("VIGIL_RUN_END", strconv.FormatInt(time.Now().Add(1000*time.Hour).Unix(), 10))
	if got := serveFor(time.Minute); got != 48*time.Hour {
		t.Errorf("run end far away: %v, want the 48h bound", got)
	}
	t.Setenv("VIGIL_RUN_END", "soon")
	if got := serveFor(time.Minute); got != time.Minute {
		t.Errorf("unreadable run end: %v", got)
	}
}
