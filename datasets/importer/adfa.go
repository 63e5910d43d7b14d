package importer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/datasets/syscalls"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/trace"
)

// ADFA-LD has no timestamps: traces are laid out one minute apart from this
// instant, their syscalls one microsecond apart, so time windows and order
// are meaningful and the lake's partitions stay small.
var adfaEpoch = time.Date(2013, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	adfaCluster  = "adfa-ld"
	adfaWorkload = "adfa-ld/host"
)

var adfaClass = regexp.MustCompile(`^(.+)_[0-9]+$`)

type adfaFile struct {
	path, rel, split, kind, class string
}

// ImportADFA imports an ADFA-LD tree (Training_Data_Master/UTD-*.txt,
// Validation_Data_Master/UVD-*.txt, Attack_Data_Master/<Class>_<n>/*.txt):
// one trace and one label per file.
func ImportADFA(ctx context.Context, root string, w Writer, store blob.Store) (*Summary, error) {
	files, err := adfaFiles(root)
	if err != nil {
		return nil, err
	}
	sum := newSummary()
	var ev trace.Event
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		runID := strings.TrimSuffix(f.rel, ".txt")
		if done, err := imported(ctx, store, label.SourceADFA, runID); err != nil {
			return sum, err
		} else if done {
			sum.AlreadyImported++
			continue
		}
		start := adfaEpoch.Add(time.Duration(i) * time.Minute)
		uid := procUUID("adfa-ld", f.rel)
		n := int64(0)
		err := readADFA(f.path, func(nr int) error {
			_, x86, ok := syscalls.FromI386(nr)
			if !ok {
				return fmt.Errorf("unknown i386 syscall number %d", nr)
			}
			ev = trace.Event{
				Time: start.Add(time.Duration(n) * time.Microsecond).UnixNano(), Host: "adfa-ld", Kind: trace.KindSyscall,
				PID: int32(i + 1), TID: int32(i + 1), ProcUUID: uid, Syscall: int32(x86),
				Cluster: adfaCluster, Workload: adfaWorkload,
			}
			n++
			return w.Write(&ev)
		})
		if err != nil {
			return sum, err
		}
		if n == 0 {
			return sum, &FileError{File: f.path, Msg: "empty trace"}
		}
		sum.Events += n
		r := &label.Run{
			Source: label.SourceADFA, Scenario: "adfa-ld/" + f.split, Kind: f.kind, RunID: runID,
			Host: "adfa-ld", Start: start, End: start.Add(time.Duration(n) * time.Microsecond),
			Cluster: adfaCluster, Workload: adfaWorkload, Events: n,
		}
		if f.kind == "attack" {
			r.Attack = &label.Attack{ID: f.class, Start: r.Start, End: r.End,
				Processes: []label.Process{{Role: "attack", PID: i + 1, StartTime: start, UUID: uid}}}
		}
		if err := putLabel(ctx, store, r); err != nil {
			return sum, err
		}
		sum.add(r)
	}
	return sum, nil
}

func adfaFiles(root string) ([]adfaFile, error) {
	var files []adfaFile
	found := false
	for _, d := range []struct{ dir, split, kind string }{
		{"Training_Data_Master", "training", "benign"},
		{"Validation_Data_Master", "validation", "benign"},
		{"Attack_Data_Master", "attack", "attack"},
	} {
		base := filepath.Join(root, d.dir)
		if _, err := os.Stat(base); errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		found = true
		err := filepath.WalkDir(base, func(p string, de os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if de.IsDir() || !strings.HasSuffix(p, ".txt") {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			f := adfaFile{path: p, rel: filepath.ToSlash(rel), split: d.split, kind: d.kind}
			if d.kind == "attack" {
				parent := filepath.Base(filepath.Dir(p))
				m := adfaClass.FindStringSubmatch(parent)
				if m == nil || filepath.Dir(p) == base {
					return &FileError{File: p, Msg: "attack traces live in Attack_Data_Master/<Class>_<n>/"}
				}
				f.class = m[1]
				f.split = "attack/" + m[1]
			}
			files = append(files, f)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: not an ADFA-LD directory (no Training_Data_Master, Validation_Data_Master or Attack_Data_Master)", root)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .txt traces", root)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files, nil
}

// readADFA calls fn with each syscall number of the file, in order.
func readADFA(path string, fn func(int) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for line := 1; ; line++ {
		s, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return &FileError{File: path, Line: line, Msg: err.Error()}
		}
		for i, tok := range strings.Fields(s) {
			nr, perr := strconv.Atoi(tok)
			if perr != nil || nr < 0 {
				return &FileError{File: path, Line: line, Msg: fmt.Sprintf("token %d %q is not a syscall number", i+1, tok)}
			}
			if ferr := fn(nr); ferr != nil {
				return &FileError{File: path, Line: line, Msg: fmt.Sprintf("token %d: %v", i+1, ferr)}
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// ADFASplits holds an ADFA-LD tree's traces as the importer writes them
// (x86_64 numbers), split the way the usual protocol uses them: train on
// Training, score Validation (normal) against Attack.
type ADFASplits struct {
	Training, Validation, Attack [][]int32
}

// ReadADFA reads every trace of an ADFA-LD tree, with the importer's checks
// and number mapping, for per-trace evaluation of sequence models.
func ReadADFA(root string) (*ADFASplits, error) {
	files, err := adfaFiles(root)
	if err != nil {
		return nil, err
	}
	out := &ADFASplits{}
	for _, f := range files {
		var tr []int32
		err := readADFA(f.path, func(nr int) error {
			_, x86, ok := syscalls.FromI386(nr)
			if !ok {
				return fmt.Errorf("unknown i386 syscall number %d", nr)
			}
			tr = append(tr, int32(x86))
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(tr) == 0 {
			return nil, &FileError{File: f.path, Msg: "empty trace"}
		}
		switch {
		case f.split == "training":
			out.Training = append(out.Training, tr)
		case f.split == "validation":
			out.Validation = append(out.Validation, tr)
		default:
			out.Attack = append(out.Attack, tr)
		}
	}
	return out, nil
}
