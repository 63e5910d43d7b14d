package rules

// Env is what a rule condition sees: one event, flattened into short
// Falco-like names (proc.exe, net.dst_ip, dns.name), plus what the scorer
// knows about the process beyond the event (its ancestors, whether its binary
// was written inside the container). Numbers are int so that expr can turn
// `x in [1, 2]` into a map lookup.
//
// The scorer fills one Env per event and reuses it; conditions must not keep
// references to it.
type Env struct {
	Kind      string `expr:"kind"`
	Syscall   int    `expr:"syscall"`
	Ret       int    `expr:"ret"`
	Path      string `expr:"path"`     // file the event is about (open, rename source, mount target, memfd name)
	NewPath   string `expr:"new_path"` // rename/link target, mount source
	Flags     int    `expr:"flags"`    // open flags, ptrace request, mount flags; exec: stdio bits (trace.ExecStdin*)
	Mode      int    `expr:"mode"`
	TargetPID int    `expr:"target_pid"`
	Module    string `expr:"module"`
	// PathWritten: path (of an exec_mapping) was created or modified
	// inside this container after the scorer started watching it.
	PathWritten bool `expr:"path_written"`

	Proc      Proc      `expr:"proc"`
	Parent    Parent    `expr:"parent"`
	Net       Net       `expr:"net"`
	DNS       DNS       `expr:"dns"`
	Container Container `expr:"container"`

	// elem is the list element a compiled any()/all() predicate is
	// looking at (# in the condition); see native.go.
	elem string
	// memo keeps lookups that several rules make on the same value within
	// one Match; Match clears it.
	memo memo
}

// memo caches intel answers for one Match: three connect rules ask
// intel_ip(net.dst_ip) and four DNS rules intel_domain(dns.name). Answers
// are keyed by their argument, so a memo never answers for another value.
type memo struct {
	ip, ipCat         string
	domain, domainCat string
	ipOK, domainOK    bool
}

// Proc is the process that caused the event.
type Proc struct {
	Name      string   `expr:"name"`     // comm, at most 15 bytes
	Exe       string   `expr:"exe"`      // executable path
	ExeName   string   `expr:"exe_name"` // basename of exe (comm when exe is unknown or a busybox applet)
	Argv      []string `expr:"argv"`
	Cmdline   string   `expr:"cmdline"` // argv joined by spaces
	PID       int      `expr:"pid"`
	PPID      int      `expr:"ppid"`
	NSPID     int      `expr:"ns_pid"`
	UID       int      `expr:"uid"`
	EUID      int      `expr:"euid"`
	PrevEUID  int      `expr:"prev_euid"` // euid the scorer last saw for this process (-1: unknown)
	GID       int      `expr:"gid"`
	Cwd       string   `expr:"cwd"`
	SHA256    string   `expr:"sha256"`
	Ancestors []string `expr:"ancestors"` // executable paths of the ancestors, parent first

	// ExeWritten: the executable was created or modified inside this
	// container after the scorer started watching it.
	ExeWritten bool `expr:"exe_written"`
	// Listener: the process has listened on or accepted a socket (a network
	// service).
	Listener bool `expr:"listener"`
}

// Parent is the parent process, as far as the scorer knows it.
type Parent struct {
	Name     string `expr:"name"`
	Exe      string `expr:"exe"`
	ExeName  string `expr:"exe_name"`
	Cmdline  string `expr:"cmdline"`
	Listener bool   `expr:"listener"`
}

// Net is the network part of connect, accept, bind and listen events.
type Net struct {
	Family  int    `expr:"family"` // 1 unix, 2 inet, 10 inet6
	Proto   int    `expr:"proto"`  // IANA protocol number
	SrcIP   string `expr:"src_ip"`
	SrcPort int    `expr:"src_port"`
	DstIP   string `expr:"dst_ip"` // for unix sockets: the socket path
	DstPort int    `expr:"dst_port"`
}

// DNS is a DNS query (and its answers when the collector saw the response).
type DNS struct {
	Name    string   `expr:"name"`
	Type    int      `expr:"type"`
	Answers []string `expr:"answers"`
}

// Container identifies where the event happened.
type Container struct {
	ID         string `expr:"id"` // empty on the host
	Name       string `expr:"name"`
	Image      string `expr:"image"`
	Workload   string `expr:"workload"`
	Cluster    string `expr:"cluster"`
	TaskFamily string `expr:"task_family"`
}
