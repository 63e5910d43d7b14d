package importer

import (
	"archive/zip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/trace"
)

type memWriter struct{ events []trace.Event }

func (m *memWriter) Write(e *trace.Event) error {
	m.events = append(m.events, *e)
	return nil
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func store(t *testing.T) blob.Store {
	t.Helper()
	s, err := blob.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// adfaTree writes a tiny tree in ADFA-LD's layout: i386 numbers
// (5 open, 3 read, 4 write, 6 close, 102 socketcall, 11 execve).
func adfaTree(t *testing.T) string {
	root := t.TempDir()
	write(t, filepath.Join(root, "Training_Data_Master", "UTD-0001.txt"), "5 3 3 4 6 \n")
	write(t, filepath.Join(root, "Training_Data_Master", "UTD-0002.txt"), "5 3 6 1\n")
	write(t, filepath.Join(root, "Validation_Data_Master", "UVD-0001.txt"), "5 4 6")
	write(t, filepath.Join(root, "Attack_Data_Master", "Hydra_FTP_1", "UAD-Hydra-FTP-1-1.txt"), "102 102 11 5 3\n")
	return root
}

func TestImportADFA(t *testing.T) {
	root := adfaTree(t)
	var w memWriter
	st := store(t)
	sum, err := ImportADFA(context.Background(), root, &w, st)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Traces != 4 || sum.Events != 17 || sum.ByKind["benign"] != 3 || sum.ByKind["attack"] != 1 {
		t.Fatalf("summary %s", sum)
	}
	if len(w.events) != 17 {
		t.Fatalf("%d events", len(w.events))
	}
	// The attack trace comes first (sorted by path): socketcall has no
	// x86_64 counterpart, execve is 59.
	want := []int32{100102, 100102, 59, 2, 0}
	for i, nr := range want {
		e := w.events[i]
		if e.Syscall != nr || e.Kind != trace.KindSyscall || e.Workload != "adfa-ld/host" {
			t.Errorf("event %d: %+v, want syscall %d", i, e, nr)
		}
		if i > 0 && e.Time <= w.events[i-1].Time {
			t.Errorf("event %d not after the one before", i)
		}
	}
	labels, err := label.List(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 4 {
		t.Fatalf("%d labels", len(labels))
	}
	var attack *label.Run
	for _, l := range labels {
		if l.Kind == "attack" {
			attack = l
		}
	}
	if attack == nil || attack.Attack.ID != "Hydra_FTP" || attack.Scenario != "adfa-ld/attack/Hydra_FTP" ||
		attack.Events != 5 || attack.Attack.Processes[0].UUID != w.events[0].ProcUUID {
		t.Fatalf("attack label %+v", attack)
	}
	if !attack.Start.Equal(time.Unix(0, w.events[0].Time)) || attack.End.UnixNano() <= w.events[4].Time {
		t.Errorf("attack window %v..%v does not cover its events", attack.Start, attack.End)
	}
	// Importing again adds nothing.
	var again memWriter
	sum, err = ImportADFA(context.Background(), root, &again, st)
	if err != nil || len(again.events) != 0 || sum.AlreadyImported != 4 || sum.Traces != 0 {
		t.Errorf("second import: %v, %d events, %s", err, len(again.events), sum)
	}
}

func TestImportADFABadInput(t *testing.T) {
	for _, c := range []struct {
		content, want string
	}{
		{"5 3 x 4\n", `UTD-0009.txt:1: token 3 "x" is not a syscall number`},
		{"5 3\n4 9999\n", "UTD-0009.txt:2: token 2: unknown i386 syscall number 9999"},
		{"\n \n", "UTD-0009.txt: empty trace"},
	} {
		root := t.TempDir()
		write(t, filepath.Join(root, "Training_Data_Master", "UTD-0009.txt"), c.content)
		_, err := ImportADFA(context.Background(), root, &memWriter{}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.content, err, c.want)
		}
	}
	if _, err := ImportADFA(context.Background(), t.TempDir(), &memWriter{}, nil); err == nil || !strings.Contains(err.Error(), "not an ADFA-LD directory") {
		t.Errorf("empty dir: %v", err)
	}
	root := t.TempDir()
	write(t, filepath.Join(root, "Attack_Data_Master", "loose.txt"), "5\n")
	if _, err := ImportADFA(context.Background(), root, &memWriter{}, nil); err == nil || !strings.Contains(err.Error(), "<Class>_<n>") {
		t.Errorf("attack outside a class dir: %v", err)
	}
}

func writeZip(t testing.TB, path string, members map[string]string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, content := range members {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

const normalSC = `1631610689151834015 33 175683 apache2 175683 open > 
1631610689151834990 33 175683 apache2 175683 open < fd=13(<f>/var/www/html/index.html) name=/var/www/html/index.html flags=1(O_RDONLY) mode=0 dev=803
1631610689151835100 33 175683 apache2 175683 switch > next=0 pgft_maj=0
1631610689151836000 33 175683 apache2 175683 read > fd=13(<f>/var/www/html/index.html) size=8192
1631610689151836500 33 175683 apache2 175683 read < res=612 data=...
1631610689151837000 33 175684 apache2 175684 close < res=0
`

func TestImportLIDDS(t *testing.T) {
	root := t.TempDir()
	writeZip(t, filepath.Join(root, "CVE-2017-7529", "training", "gentle_hopper_1234.zip"), map[string]string{
		"gentle_hopper_1234.sc":   normalSC,
		"gentle_hopper_1234.json": `{"exploit": false, "time": {"exploit": []}}`,
	})
	writeZip(t, filepath.Join(root, "CVE-2017-7529", "test", "normal_and_attack", "brave_turing_99.zip"), map[string]string{
		"brave_turing_99.sc":   normalSC + "1631610690000000000 0 175700 sh 175700 execve > filename=/bin/sh\n",
		"brave_turing_99.json": `{"exploit": true, "exploit_name": "CVE-2017-7529", "time": {"exploit": [{"absolute": 1631610689.5, "source": "exploit"}]}}`,
	})
	var w memWriter
	st := store(t)
	sum, err := ImportLIDDS(context.Background(), root, &w, st)
	if err != nil {
		t.Fatal(err)
	}
	// Per recording: open (paired), read (paired), close (exit only); the
	// attack recording adds an execve with no exit.
	if sum.Traces != 2 || sum.Events != 7 || sum.ByKind["attack"] != 1 || sum.Skipped["sysdig event switch is not a syscall"] != 2 {
		t.Fatalf("summary %s %+v", sum, sum.Skipped)
	}
	open := w.events[0]
	if open.Syscall != 2 || open.Ret != 13 || open.Path != "/var/www/html/index.html" || open.Comm != "apache2" || open.UID != 33 || open.Time != 1631610689151834015 {
		t.Errorf("open: %+v", open)
	}
	if r := w.events[1]; r.Syscall != 0 || r.Ret != 612 || r.Path != "/var/www/html/index.html" {
		t.Errorf("read: %+v", r)
	}
	labels, err := label.List(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	var attack *label.Run
	for _, l := range labels {
		if l.Kind == "attack" {
			attack = l
		}
	}
	if attack == nil || attack.Attack.ID != "CVE-2017-7529" || attack.Scenario != "lid-ds-2021/CVE-2017-7529/test/normal_and_attack" ||
		!attack.Attack.Start.Equal(time.Unix(1631610689, 5e8)) || attack.Workload != "lid-ds-2021/CVE-2017-7529" {
		t.Fatalf("attack label %+v %+v", attack, attack.Attack)
	}
	var again memWriter
	sum, err = ImportLIDDS(context.Background(), root, &again, st)
	if err != nil || len(again.events) != 0 || sum.AlreadyImported != 2 {
		t.Errorf("second import: %v, %d events, %s", err, len(again.events), sum)
	}
}

func TestImportLIDDSBadInput(t *testing.T) {
	for _, c := range []struct {
		members map[string]string
		want    string
	}{
		{map[string]string{"r.sc": "1 2 3 comm 3 open >\n1631610689151834015 33 x apache2 175683 open >\n", "r.json": "{}"}, "r.zip:r.sc:2: bad number"},
		{map[string]string{"r.sc": "1631610689151834015 33 1 apache2 1 open\n", "r.json": "{}"}, "r.zip:r.sc:1: want 'ts_ns uid pid comm tid syscall dir args...', got 6 fields"},
		{map[string]string{"r.sc": "1631610689151834015 33 1 apache2 1 open ?\n", "r.json": "{}"}, `r.zip:r.sc:1: direction "?"`},
		{map[string]string{"r.sc": "1631610689151834015 33 1 apache2 1 open >\n", "r.json": "{nope"}, "r.zip:r.json: bad JSON"},
		{map[string]string{"r.sc": "1631610689151834015 33 1 apache2 1 open >\n", "r.json": `{"time":{"exploit":[{"absolute":"soon"}]}}`}, "time.exploit[0].absolute"},
		{map[string]string{"r.json": "{}"}, "r.zip: no .sc member"},
	} {
		root := t.TempDir()
		writeZip(t, filepath.Join(root, "S", "training", "r.zip"), c.members)
		_, err := ImportLIDDS(context.Background(), root, &memWriter{}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	if _, err := ImportLIDDS(context.Background(), t.TempDir(), &memWriter{}, nil); err == nil || !strings.Contains(err.Error(), "not a LID-DS 2021 directory") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestReadADFA(t *testing.T) {
	s, err := ReadADFA(adfaTree(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Training) != 2 || len(s.Validation) != 1 || len(s.Attack) != 1 {
		t.Fatalf("splits %d/%d/%d", len(s.Training), len(s.Validation), len(s.Attack))
	}
	// The same mapping as the import: i386 open(5) is x86_64 open(2).
	if got := s.Validation[0]; len(got) != 3 || got[0] != 2 || got[2] != 3 {
		t.Fatalf("validation trace %v", got)
	}
	bad := t.TempDir()
	write(t, filepath.Join(bad, "Training_Data_Master", "UTD-0001.txt"), "5 x 3\n")
	if _, err := ReadADFA(bad); err == nil || !strings.Contains(err.Error(), "UTD-0001.txt") {
		t.Fatalf("bad token error = %v", err)
	}
}
