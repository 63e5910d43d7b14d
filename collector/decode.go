package collector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/vigilsec/vigil/trace"
)

// Record flags, as in bpf/event.h.
const (
	flagTrunc0      = 1 << 0 // << n for blob n
	flagComponents0 = 1 << 4 // << n for blob n
	flagSockaddr1   = 1 << 8
	flagTCPDNS      = 1 << 9
	flagNet         = 1 << 10
	flagTrunc1      = flagTrunc0 << 1
)

// execStdioMask keeps the bits of an exec's a[1] that trace defines.
const execStdioMask = trace.ExecStdinSocket | trace.ExecStdoutSocket | trace.ExecStderrSocket |
	trace.ExecStdinPipe | trace.ExecStdoutPipe | trace.ExecStderrPipe |
	trace.ExecStdinInet | trace.ExecStdoutInet | trace.ExecStderrInet

// Kinds only the BPF side knows (see enum vigil_kind).
const (
	kindSyscall = 25
	kindProcMem = 26
	kindMax     = 27
)

// MaxArgs bounds the argv kept per exec; more arguments set ArgvTruncated.
const MaxArgs = 20

// ptracePokeData is what a write to /proc/<pid>/mem is reported as: the same
// act (writing another process's memory) as PTRACE_POKEDATA.
const ptracePokeData = 5

// The record layout comes from the generated vigilEvent, so a change to
// event.h that forgets this file breaks the build or the tests, not the data.
var (
	offTs       = int(unsafe.Offsetof(vigilEvent{}.Ts))
	offCgroupV2 = int(unsafe.Offsetof(vigilEvent{}.CgroupV2))
	offCgroupV1 = int(unsafe.Offsetof(vigilEvent{}.CgroupV1))
	offRet      = int(unsafe.Offsetof(vigilEvent{}.Ret))
	offA        = int(unsafe.Offsetof(vigilEvent{}.A))
	offPid      = int(unsafe.Offsetof(vigilEvent{}.Pid))
	offSyscall  = int(unsafe.Offsetof(vigilEvent{}.Syscall))
	offKind     = int(unsafe.Offsetof(vigilEvent{}.Kind))
	offFlags    = int(unsafe.Offsetof(vigilEvent{}.Flags))
	offLen      = int(unsafe.Offsetof(vigilEvent{}.Len))
	offFamily   = int(unsafe.Offsetof(vigilEvent{}.Family))
	offProto    = int(unsafe.Offsetof(vigilEvent{}.Proto))
	offSport    = int(unsafe.Offsetof(vigilEvent{}.Sport))
	offDport    = int(unsafe.Offsetof(vigilEvent{}.Dport))
	offSaddr    = int(unsafe.Offsetof(vigilEvent{}.Saddr))
	offDaddr    = int(unsafe.Offsetof(vigilEvent{}.Daddr))
	offComm     = int(unsafe.Offsetof(vigilEvent{}.Comm))
	headerSize  = int(unsafe.Offsetof(vigilEvent{}.Data))
)

// seqRecordSize is the size of a syscall-sequence record (sys_enter_seq).
const seqRecordSize = 40

var le = binary.LittleEndian

// errShort and friends are decode errors; each is counted in Stats.
var (
	errShort   = errors.New("record shorter than its header")
	errKind    = errors.New("unknown kind")
	errBlobLen = errors.New("blob lengths exceed the record")
)

// decoder turns ring buffer records into trace.Events. It keeps the clock
// offset and host identity; it is used by one goroutine.
type decoder struct {
	bootToUnix int64 // add to CLOCK_BOOTTIME ns to get Unix ns
	host       string
	bootID     string
	dnsErrors  atomic.Uint64
}

func (d *decoder) decode(rec []byte, e *trace.Event) error {
	*e = trace.Event{Host: d.host, BootID: d.bootID}
	if len(rec) == seqRecordSize {
		e.Time = int64(le.Uint64(rec[0:])) + d.bootToUnix
		e.CgroupID = le.Uint64(rec[8:])
		e.PID = int32(le.Uint32(rec[24:]))
		e.TID = int32(le.Uint32(rec[28:]))
		e.Syscall = int32(le.Uint32(rec[32:]))
		if k := le.Uint16(rec[36:]); k != kindSyscall {
			return fmt.Errorf("sequence record: %w %d", errKind, k)
		}
		e.Kind = trace.KindSyscall
		return nil
	}
	if len(rec) < headerSize {
		return fmt.Errorf("%w: %d bytes", errShort, len(rec))
	}
	kind := le.Uint16(rec[offKind:])
	if kind == 0 || kind >= kindMax {
		return fmt.Errorf("%w %d", errKind, kind)
	}
	e.Time = int64(le.Uint64(rec[offTs:])) + d.bootToUnix
	e.CgroupID = le.Uint64(rec[offCgroupV2:])
	e.Ret = int64(le.Uint64(rec[offRet:]))
	var a [4]uint64
	for i := range a {
		a[i] = le.Uint64(rec[offA+8*i:])
	}
	p := rec[offPid:]
	e.PID = int32(le.Uint32(p[0:]))
	e.TID = int32(le.Uint32(p[4:]))
	e.PPID = int32(le.Uint32(p[8:]))
	e.NSPID = int32(le.Uint32(p[12:]))
	e.UID = le.Uint32(p[16:])
	e.EUID = le.Uint32(p[20:])
	e.GID = le.Uint32(p[24:])
	e.EGID = le.Uint32(p[28:])
	e.Syscall = int32(le.Uint32(rec[offSyscall:]))
	comm := rec[offComm : offComm+16]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	e.Comm = string(comm)
	flags := le.Uint16(rec[offFlags:])

	var blobs [4][]byte
	data := rec[headerSize:]
	off := 0
	for i := range blobs {
		n := int(le.Uint16(rec[offLen+2*i:]))
		if off+n > len(data) {
			return fmt.Errorf("%w: blob %d ends at %d of %d", errBlobLen, i, off+n, len(data))
		}
		blobs[i] = data[off : off+n]
		off += n
	}
	path := func(i int) string {
		if flags&(flagComponents0<<i) != 0 {
			return joinComponents(blobs[i], flags&(flagTrunc0<<i) != 0)
		}
		return string(blobs[i])
	}
	net := func() {
		if flags&flagNet == 0 {
			return
		}
		e.NetFamily = le.Uint16(rec[offFamily:])
		e.NetProto = rec[offProto]
		e.SrcPort = le.Uint16(rec[offSport:])
		e.DstPort = le.Uint16(rec[offDport:])
		e.SrcAddr = ipString(e.NetFamily, rec[offSaddr:offSaddr+16])
		e.DstAddr = ipString(e.NetFamily, rec[offDaddr:offDaddr+16])
		if e.NetFamily == trace.FamilyUnix {
			e.NetProto = 0
		}
	}

	if kind == kindProcMem {
		// A write into another process's memory through procfs: the same
		// act as PTRACE_POKEDATA, so it is reported as a ptrace event.
		e.Kind = trace.KindPtrace
		e.Flags = ptracePokeData
		e.Path = path(0)
		e.PathTruncated = flags&flagTrunc0 != 0
		e.FD = int32(a[3])
		e.TargetPID = procPID(e.Path, e.PID)
		return nil
	}
	e.Kind = trace.Kinds[kind-1]
	switch e.Kind {
	case trace.KindExec:
		e.Path = string(blobs[0])
		e.PathTruncated = flags&flagTrunc0 != 0
		e.Argv, e.ArgvTruncated = splitArgv(blobs[1])
		e.ArgvTruncated = e.ArgvTruncated || a[0] != 0 || flags&flagTrunc1 != 0
		if flags&(flagComponents0<<2) != 0 {
			e.Cwd = path(2)
			// No column of its own: a cut cwd also sets PathTruncated.
			e.PathTruncated = e.PathTruncated || flags&(flagTrunc0<<2) != 0
		}
		if flags&(flagComponents0<<3) != 0 {
			e.ExePath = path(3)
		}
		// a[1] holds the STDIO_* bits of event.h, laid out as
		// trace.ExecStdin*; a failed exec leaves it zero.
		e.Flags = a[1] & execStdioMask
	case trace.KindExit:
		// a[0] is the wait status: exit code in bits 8-15, signal in 0-6.
		e.Ret = int64(a[0]>>8) & 0xff
		e.Flags = a[0] & 0x7f
	case trace.KindFork:
		e.TargetPID = int32(a[0])
	case trace.KindOpen:
		e.Path = path(0)
		e.PathTruncated = flags&flagTrunc0 != 0
		e.Flags = a[0]
		e.Mode = uint32(a[1])
		if e.Ret >= 0 {
			e.FD = int32(e.Ret)
		}
	case trace.KindRename, trace.KindLink:
		e.Path, e.NewPath = path(0), path(1)
		e.PathTruncated = flags&(flagTrunc0|flagTrunc1) != 0
		e.Flags = a[0]
	case trace.KindUnlink, trace.KindUmount, trace.KindMemfd:
		e.Path = path(0)
		e.PathTruncated = flags&flagTrunc0 != 0
		e.Flags = a[0]
		if e.Kind == trace.KindMemfd && e.Ret >= 0 {
			e.FD = int32(e.Ret)
		}
	case trace.KindChmod:
		e.Path = path(0)
		e.PathTruncated = flags&flagTrunc0 != 0
		e.Flags = a[0]
		e.Mode = uint32(a[1])
		if flags&flagComponents0 != 0 {
			e.FD = int32(a[3])
		}
	case trace.KindChown:
		e.Path = path(0)
		e.PathTruncated = flags&flagTrunc0 != 0
		// No owner columns in the schema: new uid in the high word, gid low.
		e.Flags = uint64(uint32(a[1]))<<32 | uint64(uint32(a[2]))
		if flags&flagComponents0 != 0 {
			e.FD = int32(a[3])
		}
	case trace.KindConnect, trace.KindBind, trace.KindAccept, trace.KindListen:
		e.FD = int32(a[0])
		net()
		if e.Kind == trace.KindListen {
			e.Flags = a[1] // backlog
		}
		if e.Kind == trace.KindAccept && e.Ret >= 0 {
			e.FD = int32(e.Ret)
		}
		if flags&flagSockaddr1 != 0 {
			applySockaddr(e, blobs[1], e.Kind == trace.KindBind)
		}
	case trace.KindDNS:
		e.FD = int32(a[0])
		net()
		if flags&flagSockaddr1 != 0 {
			applySockaddr(e, blobs[1], false)
		}
		msg := blobs[0]
		if flags&flagTCPDNS != 0 && len(msg) >= 2 {
			msg = msg[2:]
		}
		name, typ, err := parseDNSQuery(msg)
		if err != nil {
			d.dnsErrors.Add(1)
		}
		e.DNSName, e.DNSType = name, typ
	case trace.KindPtrace:
		e.Flags = a[0]
		e.TargetPID = int32(a[1])
	case trace.KindCred:
		e.Flags = a[0]
	case trace.KindMount:
		// Path is where it is mounted, NewPath what is mounted there.
		e.Path, e.NewPath = path(1), path(0)
		e.PathTruncated = flags&(flagTrunc0|flagTrunc1) != 0
		e.Flags = a[0]
		e.Module = string(blobs[2]) // file system type
	case trace.KindModuleLoad:
		e.Path = path(0)
		e.PathTruncated = flags&flagTrunc0 != 0
		e.Flags = a[0]
		e.Module = moduleName(e.Path)
	case trace.KindBPF:
		e.Flags = a[0]        // command
		e.Mode = uint32(a[1]) // program or map type
	case trace.KindExecMapping:
		e.Flags = a[0] // prot
		e.Mode = uint32(a[1])
		e.FD = int32(a[3])
		e.Path = path(0)
		e.PathTruncated = flags&flagTrunc0 != 0
	case trace.KindUserfaultfd:
		e.Flags = a[0]
	case trace.KindSignal:
		e.Flags = a[0]
		e.TargetPID = int32(a[1])
		if e.TargetPID == 0 && a[2] != 0 {
			e.TargetPID = int32(a[2]) // tkill names only a thread
		}
	}
	return nil
}

// joinComponents turns the leaf-first, NUL-terminated components the BPF
// path walker emits into an absolute path. A path the walker could not
// finish (deeper than it goes) comes out relative: its head is unknown.
func joinComponents(b []byte, partial bool) string {
	if len(b) == 0 {
		return "/"
	}
	b = bytes.TrimSuffix(b, []byte{0})
	parts := bytes.Split(b, []byte{0})
	var sb strings.Builder
	sb.Grow(len(b) + 1)
	for i := len(parts) - 1; i >= 0; i-- {
		if len(parts[i]) == 1 && parts[i][0] == '/' {
			continue // the root dentry of a file system is named "/"
		}
		sb.WriteByte('/')
		sb.Write(parts[i])
	}
	if sb.Len() == 0 {
		return "/"
	}
	if partial {
		return sb.String()[1:]
	}
	return sb.String()
}

// splitArgv splits the NUL-separated argument area of a new process into at
// most MaxArgs arguments.
func splitArgv(b []byte) ([]string, bool) {
	if len(b) == 0 {
		return nil, false
	}
	b = bytes.TrimSuffix(b, []byte{0})
	n := bytes.Count(b, []byte{0}) + 1
	truncated := false
	if n > MaxArgs {
		n, truncated = MaxArgs, true
	}
	argv := make([]string, 0, n)
	for len(argv) < n {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			argv = append(argv, string(b))
			break
		}
		argv = append(argv, string(b[:i]))
		b = b[i+1:]
	}
	return argv, truncated
}

func ipString(family uint16, b []byte) string {
	switch family {
	case trace.FamilyInet:
		return netip.AddrFrom4([4]byte(b[:4])).String()
	case trace.FamilyInet6:
		return netip.AddrFrom16([16]byte(b[:16])).String()
	}
	return ""
}

// applySockaddr takes the endpoint the caller named (connect, sendto: the
// destination; bind: the local address) from a struct sockaddr.
func applySockaddr(e *trace.Event, sa []byte, local bool) {
	if len(sa) < 2 {
		return
	}
	family := le.Uint16(sa)
	var addr string
	var port uint16
	switch family {
	case trace.FamilyInet:
		if len(sa) < 8 {
			return
		}
		port = binary.BigEndian.Uint16(sa[2:])
		addr = netip.AddrFrom4([4]byte(sa[4:8])).String()
	case trace.FamilyInet6:
		if len(sa) < 24 {
			return
		}
		port = binary.BigEndian.Uint16(sa[2:])
		addr = netip.AddrFrom16([16]byte(sa[8:24])).String()
	case trace.FamilyUnix:
		p := sa[2:]
		if len(p) > 0 && p[0] == 0 {
			// Abstract socket: the name is every byte after the NUL.
			addr = "@" + string(p[1:])
		} else {
			if i := bytes.IndexByte(p, 0); i >= 0 {
				p = p[:i]
			}
			addr = string(p)
		}
		e.Path = addr
	default:
		return
	}
	e.NetFamily = family
	if local {
		e.SrcAddr, e.SrcPort = addr, port
	} else {
		e.DstAddr, e.DstPort = addr, port
	}
}

// procPID reads the pid out of /proc/<pid>/mem or /proc/<pid>/task/<tid>/mem;
// /proc/self resolves to the writer itself.
func procPID(path string, self int32) int32 {
	rest, ok := strings.CutPrefix(path, "/proc/")
	if !ok {
		return 0
	}
	first, _, _ := strings.Cut(rest, "/")
	if first == "self" || first == "thread-self" {
		return self
	}
	n, err := strconv.ParseInt(first, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

// moduleName is the module a finit_module file holds, by the kernel's naming
// convention (file name without .ko and compression suffix, '-' as '_').
func moduleName(path string) string {
	if path == "" {
		return ""
	}
	name := path[strings.LastIndexByte(path, '/')+1:]
	for _, suf := range []string{".xz", ".zst", ".gz"} {
		name = strings.TrimSuffix(name, suf)
	}
	name = strings.TrimSuffix(name, ".ko")
	return strings.ReplaceAll(name, "-", "_")
}

var (
	errDNSShort = errors.New("dns: message shorter than its header")
	errDNSNoQ   = errors.New("dns: no question")
	errDNSLabel = errors.New("dns: bad label")
)

// parseDNSQuery reads the first question of a DNS message: the name (labels
// joined by '.', bytes kept exactly as sent) and the query type. Queries do
// not use compression, so a pointer is an error.
func parseDNSQuery(m []byte) (string, uint16, error) {
	if len(m) < 12 {
		return "", 0, errDNSShort
	}
	if binary.BigEndian.Uint16(m[4:]) == 0 {
		return "", 0, errDNSNoQ
	}
	var name []byte
	i := 12
	for {
		if i >= len(m) {
			return string(name), 0, errDNSLabel
		}
		l := int(m[i])
		i++
		if l == 0 {
			break
		}
		if l > 63 || i+l > len(m) {
			return string(name), 0, errDNSLabel
		}
		if len(name) > 0 {
			name = append(name, '.')
		}
		name = append(name, m[i:i+l]...)
		i += l
	}
	if len(name) == 0 {
		name = []byte(".")
	}
	if i+2 > len(m) {
		return string(name), 0, errDNSShort
	}
	return string(name), binary.BigEndian.Uint16(m[i:]), nil
}
