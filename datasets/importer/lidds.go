package importer

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/datasets/syscalls"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/trace"
)

const liddsCluster = "lid-ds-2021"

var liddsSplits = []string{"training", "validation", "test/normal", "test/normal_and_attack"}

// ImportLIDDS imports a LID-DS 2021 tree
// (<scenario>/{training,validation,test/normal,test/normal_and_attack}/<name>.zip,
// each zip holding <name>.sc sysdig lines and <name>.json metadata): one
// trace and one label per recording. Enter and exit lines of a syscall
// become one event with the exit's return value; sysdig events that are not
// syscalls (e.g. switch) are counted as skipped.
func ImportLIDDS(ctx context.Context, root string, w Writer, store blob.Store) (*Summary, error) {
	scenarios, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	sum := newSummary()
	found := false
	for _, sc := range scenarios {
		if !sc.IsDir() {
			continue
		}
		for _, split := range liddsSplits {
			dir := filepath.Join(root, sc.Name(), filepath.FromSlash(split))
			zips, err := filepath.Glob(filepath.Join(dir, "*.zip"))
			if err != nil {
				return sum, err
			}
			sort.Strings(zips)
			for _, z := range zips {
				found = true
				if err := ctx.Err(); err != nil {
					return sum, err
				}
				runID := sc.Name() + "/" + split + "/" + strings.TrimSuffix(filepath.Base(z), ".zip")
				if done, err := imported(ctx, store, label.SourceLIDDS, runID); err != nil {
					return sum, err
				} else if done {
					sum.AlreadyImported++
					continue
				}
				r, err := importRecording(z, sc.Name(), split, w, sum)
				if err != nil {
					return sum, err
				}
				if err := putLabel(ctx, store, r); err != nil {
					return sum, err
				}
				sum.add(r)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: not a LID-DS 2021 directory (no <scenario>/{training,validation,test/normal,test/normal_and_attack}/*.zip)", root)
	}
	return sum, nil
}

type liddsMeta struct {
	Exploit     bool   `json:"exploit"`
	ExploitName string `json:"exploit_name"`
	Time        struct {
		Exploit []struct {
			Absolute any    `json:"absolute"`
			Name     string `json:"name"`
		} `json:"exploit"`
	} `json:"time"`
}

func importRecording(path, scenario, split string, w Writer, sum *Summary) (*label.Run, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	defer zr.Close()
	var scFile, jsonFile *zip.File
	for _, f := range zr.File {
		switch {
		case strings.HasSuffix(f.Name, ".sc"):
			if scFile != nil {
				return nil, &FileError{File: path, Msg: "more than one .sc member"}
			}
			scFile = f
		case strings.HasSuffix(f.Name, ".json"):
			jsonFile = f
		}
	}
	if scFile == nil {
		return nil, &FileError{File: path, Msg: "no .sc member (sysdig lines)"}
	}
	if jsonFile == nil {
		return nil, &FileError{File: path, Msg: "no .json member (recording metadata)"}
	}
	meta, err := readMeta(path, jsonFile)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(path), ".zip")
	r := &label.Run{
		Source: label.SourceLIDDS, Scenario: liddsCluster + "/" + scenario + "/" + split, Kind: "benign",
		RunID: scenario + "/" + split + "/" + name, Host: "lid-ds-" + scenario,
		Cluster: liddsCluster, Workload: liddsCluster + "/" + scenario,
	}
	var exploits []time.Time
	for i, x := range meta.Time.Exploit {
		t, err := epochTime(x.Absolute)
		if err != nil {
			return nil, &FileError{File: path + ":" + jsonFile.Name, Msg: fmt.Sprintf("time.exploit[%d].absolute: %v", i, err)}
		}
		exploits = append(exploits, t)
	}
	rd, err := scFile.Open()
	if err != nil {
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	defer rd.Close()
	first, last, n, err := readSC(path+":"+scFile.Name, rd, r, w, sum)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, &FileError{File: path + ":" + scFile.Name, Msg: "no syscall events"}
	}
	r.Start, r.End, r.Events = first, last, n
	sum.Events += n
	if len(exploits) > 0 || meta.Exploit {
		r.Kind = "attack"
		id := meta.ExploitName
		if id == "" {
			id = scenario
		}
		a := &label.Attack{ID: id, Start: first, End: last}
		if len(exploits) > 0 {
			sort.Slice(exploits, func(i, j int) bool { return exploits[i].Before(exploits[j]) })
			a.Start = exploits[0]
		}
		r.Attack = a
	}
	return r, nil
}

func readMeta(path string, f *zip.File) (*liddsMeta, error) {
	rd, err := f.Open()
	if err != nil {
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	defer rd.Close()
	var m liddsMeta
	dec := json.NewDecoder(io.LimitReader(rd, 16<<20))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, &FileError{File: path + ":" + f.Name, Msg: "bad JSON: " + err.Error()}
	}
	return &m, nil
}

// epochTime reads seconds (float) or nanoseconds (integer past 1e15) since
// the epoch.
func epochTime(v any) (time.Time, error) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, fmt.Errorf("%v is not a number of seconds or nanoseconds since the epoch", v)
	}
	if i, err := n.Int64(); err == nil && i > 1e15 {
		return time.Unix(0, i).UTC(), nil
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || math.IsInf(f, 0) || f > 1e12 {
		return time.Time{}, fmt.Errorf("%q is not a time in seconds or nanoseconds since the epoch", n.String())
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// readSC streams sysdig lines "ts_ns uid pid comm tid syscall dir args...".
func readSC(name string, rd io.Reader, r *label.Run, w Writer, sum *Summary) (first, last time.Time, n int64, err error) {
	pending := map[int32]*trace.Event{}
	uuids := map[int32]string{}
	uid := func(pid int32) string {
		u, ok := uuids[pid]
		if !ok {
			u = procUUID("lid-ds", r.RunID, strconv.Itoa(int(pid)))
			uuids[pid] = u
		}
		return u
	}
	emit := func(e *trace.Event) error {
		t := time.Unix(0, e.Time).UTC()
		if n == 0 || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
		n++
		return w.Write(e)
	}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if strings.TrimSpace(s) == "" {
			continue
		}
		f := strings.SplitN(s, " ", 8)
		if len(f) < 7 {
			return first, last, n, &FileError{File: name, Line: line, Msg: fmt.Sprintf("want 'ts_ns uid pid comm tid syscall dir args...', got %d fields", len(f))}
		}
		ts, err1 := strconv.ParseInt(f[0], 10, 64)
		user, err2 := strconv.ParseUint(f[1], 10, 32)
		pid, err3 := strconv.ParseInt(f[2], 10, 32)
		tid, err4 := strconv.ParseInt(f[4], 10, 32)
		if err := errors.Join(err1, err2, err3, err4); err != nil || ts <= 0 {
			return first, last, n, &FileError{File: name, Line: line, Msg: fmt.Sprintf("bad number in %q", strings.Join(f[:5], " "))}
		}
		dir := f[6]
		if dir != ">" && dir != "<" {
			return first, last, n, &FileError{File: name, Line: line, Msg: fmt.Sprintf("direction %q: want > or <", dir)}
		}
		nr, ok := syscalls.X8664(f[5])
		if !ok {
			if dir == ">" {
				sum.Skipped["sysdig event "+f[5]+" is not a syscall"]++
			}
			continue
		}
		args := ""
		if len(f) == 8 {
			args = f[7]
		}
		t32 := int32(tid)
		if dir == ">" {
			if p := pending[t32]; p != nil {
				if err := emit(p); err != nil {
					return first, last, n, err
				}
			}
			e := &trace.Event{
				Time: ts, Host: r.Host, Kind: trace.KindSyscall, PID: int32(pid), TID: t32, UID: uint32(user), EUID: uint32(user),
				Comm: f[3], ProcUUID: uid(int32(pid)), Syscall: int32(nr), Path: argPath(args),
				Cluster: r.Cluster, Workload: r.Workload,
			}
			pending[t32] = e
			continue
		}
		e := pending[t32]
		if e == nil || e.Syscall != int32(nr) {
			// An exit whose enter came before the recording started.
			e = &trace.Event{Time: ts, Host: r.Host, Kind: trace.KindSyscall, PID: int32(pid), TID: t32, UID: uint32(user), EUID: uint32(user),
				Comm: f[3], ProcUUID: uid(int32(pid)), Syscall: int32(nr), Cluster: r.Cluster, Workload: r.Workload}
		} else {
			delete(pending, t32)
		}
		e.Ret = argRet(args)
		if e.Path == "" {
			e.Path = argPath(args)
		}
		if err := emit(e); err != nil {
			return first, last, n, err
		}
	}
	if err := sc.Err(); err != nil {
		return first, last, n, &FileError{File: name, Line: line + 1, Msg: err.Error()}
	}
	rest := make([]*trace.Event, 0, len(pending))
	for _, e := range pending {
		rest = append(rest, e)
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].Time < rest[j].Time })
	for _, e := range rest {
		if err := emit(e); err != nil {
			return first, last, n, err
		}
	}
	return first, last, n, nil
}

// argRet reads an exit line's res=N, or fd=N(...) as sysdig prints a
// returned descriptor.
func argRet(args string) int64 {
	for _, a := range strings.Fields(args) {
		v, ok := strings.CutPrefix(a, "res=")
		if !ok {
			// Calls returning a descriptor print it as fd=N(<f>/path).
			v, ok = strings.CutPrefix(a, "fd=")
		}
		if ok {
			if i := strings.IndexByte(v, '('); i >= 0 {
				v = v[:i]
			}
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return 0
}

// argPath reads a path from name=, path=, filename= or a descriptor's
// fd=N(<f>/path).
func argPath(args string) string {
	for _, a := range strings.Fields(args) {
		for _, k := range []string{"name=", "path=", "filename=", "exe="} {
			if v, ok := strings.CutPrefix(a, k); ok && strings.HasPrefix(v, "/") {
				if i := strings.IndexByte(v, '('); i > 0 {
					v = v[:i]
				}
				return v
			}
		}
		if v, ok := strings.CutPrefix(a, "fd="); ok {
			if i := strings.Index(v, "(<f>"); i >= 0 && strings.HasSuffix(v, ")") {
				return v[i+4 : len(v)-1]
			}
		}
	}
	return ""
}
