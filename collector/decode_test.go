package collector

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vigilsec/vigil/trace"
)

// record encodes a ring buffer record as the BPF side lays it out.
func record(t testing.TB, kind uint16, flags uint16, blobs ...[]byte) []byte {
	t.Helper()
	var ev vigilEvent
	ev.Kind, ev.Flags, ev.Pid, ev.Tid = kind, flags, 42, 43
	copy(ev.Comm[:], []int8{'s', 'h'})
	var data []byte
	for i, b := range blobs {
		ev.Len[i] = uint16(len(b))
		data = append(data, b...)
	}
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, &ev); err != nil {
		t.Fatal(err)
	}
	return append(buf.Bytes()[:headerSize], data...)
}

func TestDecodeRecord(t *testing.T) {
	var d decoder
	var e trace.Event
	rec := record(t, uint16(trace.KindRename.Index()+1), 0, []byte("/a\xff"), []byte("/b\n"))
	if err := d.decode(rec, &e); err != nil {
		t.Fatal(err)
	}
	if e.Kind != trace.KindRename || e.Path != "/a\xff" || e.NewPath != "/b\n" || e.PID != 42 || e.Comm != "sh" {
		t.Errorf("decoded %+v", e)
	}
	// Kind numbering must follow trace.Kinds.
	for i, k := range trace.Kinds {
		if err := d.decode(record(t, uint16(i+1), 0), &e); err != nil || e.Kind != k {
			t.Errorf("kind %d decoded as %q (%v), want %q", i+1, e.Kind, err, k)
		}
	}
	for _, bad := range [][]byte{nil, rec[:headerSize-1], record(t, 0, 0), record(t, kindMax, 0), rec[:len(rec)-1]} {
		if err := d.decode(bad, &e); err == nil {
			t.Errorf("decoded a bad record of %d bytes", len(bad))
		}
	}
}

// TestDecodeExecStdio: an exec's a[1] becomes Flags, with bits trace does
// not define dropped, so a future BPF bit cannot masquerade as one of them.
func TestDecodeExecStdio(t *testing.T) {
	var d decoder
	var e trace.Event
	rec := record(t, uint16(trace.KindExec.Index()+1), 0, []byte("/bin/sh"), []byte("sh\x00-i\x00"))
	want := uint64(trace.ExecStdinSocket | trace.ExecStdoutSocket | trace.ExecStdinInet | trace.ExecStdoutInet | trace.ExecStderrPipe)
	le.PutUint64(rec[offA+8:], want|1<<9|1<<40)
	if err := d.decode(rec, &e); err != nil {
		t.Fatal(err)
	}
	if e.Flags != want || e.Path != "/bin/sh" {
		t.Errorf("exec flags %#o path %q, want %#o /bin/sh", e.Flags, e.Path, want)
	}
}

// FuzzDecode: whatever the ring holds, decode returns an error or an event,
// never a panic.
func FuzzDecode(f *testing.F) {
	f.Add(record(f, uint16(trace.KindExec.Index()+1), flagComponents0<<2, []byte("/bin/true"), []byte("a\x00b\x00"), []byte("tmp\x00")))
	f.Add(record(f, uint16(trace.KindDNS.Index()+1), flagSockaddr1|flagTCPDNS, dnsQuery("x.test", 1), []byte{2, 0, 0, 53, 127, 0, 0, 1}))
	f.Add(record(f, uint16(trace.KindConnect.Index()+1), flagSockaddr1, nil, []byte{1, 0, 0, 'x'}))
	f.Add(record(f, kindProcMem, flagComponents0, []byte("mem\x0012\x00proc\x00")))
	f.Add(make([]byte, seqRecordSize))
	f.Fuzz(func(t *testing.T, rec []byte) {
		var d decoder
		var e trace.Event
		d.decode(rec, &e)
	})
}
