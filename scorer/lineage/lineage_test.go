package lineage

import (
	"testing"

	"github.com/vigilsec/vigil/trace"
)

func TestLineageFromForkAndExec(t *testing.T) {
	tab := New(0)
	ev := func(k trace.Kind, uuid, parent string, pid, ppid int32, exe string, argv ...string) *trace.Event {
		return &trace.Event{Kind: k, ProcUUID: uuid, ParentUUID: parent, PID: pid, PPID: ppid, ExePath: exe, Argv: argv, Comm: "x"}
	}
	tab.Observe(ev(trace.KindExec, "u1", "", 1, 0, "/sbin/tini", "tini"))
	fork := ev(trace.KindFork, "u1", "", 1, 0, "")
	fork.TargetPID = 7
	tab.Observe(fork)
	tab.Observe(ev(trace.KindExec, "u7", "u1", 7, 1, "/usr/sbin/nginx", "nginx"))
	tab.Observe(ev(trace.KindAccept, "u7", "u1", 7, 1, ""))
	sh := tab.Observe(ev(trace.KindExec, "u9", "u7", 9, 7, "/bin/sh", "sh", "-c", "id"))
	if sh.Parent == nil || sh.Parent.Exe != "/usr/sbin/nginx" || !sh.Parent.Listener {
		t.Fatalf("parent %+v", sh.Parent)
	}
	if len(sh.Ancestors) != 2 || sh.Ancestors[0] != "/usr/sbin/nginx" || sh.Ancestors[1] != "/sbin/tini" {
		t.Fatalf("ancestors %v", sh.Ancestors)
	}
	if l := Lineage(sh); len(l) != 2 || l[1].Exe != "/sbin/tini" {
		t.Fatalf("lineage %v", l)
	}
	if sh.Cmdline != "sh -c id" {
		t.Fatalf("cmdline %q", sh.Cmdline)
	}
	// euid change is remembered.
	c := ev(trace.KindCred, "u9", "u7", 9, 7, "")
	c.EUID = 0
	before := tab.Observe(ev(trace.KindOpen, "u9", "u7", 9, 7, ""))
	before.EUID = 1000
	got := tab.Observe(c)
	if got.PrevEUID != 1000 || got.EUID != 0 {
		t.Fatalf("prev euid %d euid %d", got.PrevEUID, got.EUID)
	}
}

func TestTableIsBounded(t *testing.T) {
	tab := New(1000)
	for i := 0; i < 10000; i++ {
		tab.Observe(&trace.Event{Time: int64(i), Kind: trace.KindExec, ProcUUID: string(rune(0x1000 + i)), PID: int32(i), ExePath: "/bin/x"})
	}
	if tab.Len() > 1000 || tab.Evicted == 0 {
		t.Fatalf("len %d evicted %d", tab.Len(), tab.Evicted)
	}
}
