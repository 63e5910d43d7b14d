package collector

// How each kind fills trace.Event. Every event has Time, Host, BootID, PID,
// TID, PPID, NSPID, UID/EUID/GID/EGID (read when the event is emitted: after
// the syscall, so a cred event shows the new ids), Comm, CgroupID (v2 id),
// Syscall (x86_64 number; -1 for fork and exit) and Ret (the syscall's
// return value, negative errno on failure). String fields are byte-exact;
// outputs escape them.
//
//	kind          syscalls                               fields
//	exec          execve, execveat (sched_process_exec;  Path (file name as the kernel got it), ExePath (the file
//	              failed execs from sys_exit)            it runs, from bprm->file, as the task sees it: busybox
//	                                                     applets run via /proc/self/exe show /bin/busybox here),
//	                                                     Argv (at most MaxArgs args / 1 KiB, ArgvTruncated), Cwd
//	                                                     (relative when deeper than 32 components; then
//	                                                     PathTruncated), Flags = trace.ExecStdin* bits: which of
//	                                                     fds 0-2 are sockets, TCP/IP sockets or pipes/FIFOs in
//	                                                     the new program (0 on failed execs)
//	exit          (sched_process_exit, last thread)      Ret = exit code, Flags = terminating signal
//	fork          (sched_process_fork, new processes)    TargetPID = child
//	open          open, openat, openat2, creat           Path, Flags (O_*), Mode, FD = Ret on success
//	rename        rename, renameat, renameat2            Path -> NewPath, Flags (RENAME_*)
//	unlink        unlink, unlinkat, rmdir                Path, Flags (AT_REMOVEDIR for rmdir)
//	chmod         chmod, fchmod, fchmodat, fchmodat2     Path (fchmod: the file's path), Mode, Flags; FD for fchmod
//	chown         chown, fchown, lchown, fchownat        Path, Flags = uid<<32 | gid (the new owner)
//	link          link, linkat, symlink, symlinkat       Path (existing file or symlink target) -> NewPath
//	connect       connect                                DstAddr/DstPort as asked; SrcAddr/SrcPort from the
//	                                                     socket; NetFamily, NetProto; FD; AF_UNIX: DstAddr = Path
//	                                                     = socket path ("@name" for abstract sockets)
//	bind          bind                                   SrcAddr/SrcPort as asked, FD
//	listen        listen                                 SrcAddr/SrcPort, Flags = backlog, FD
//	accept        accept, accept4                        the new socket: Src = local, Dst = peer; FD = Ret
//	dns           sendto, sendmsg, sendmmsg, write,      DNSName, DNSType of the first question; DstAddr/DstPort;
//	              writev to port 53 (UDP or TCP)         one event per sendmmsg message (at most 4)
//	ptrace        ptrace                                 Flags = request, TargetPID
//	ptrace        write, pwrite64, writev, pwritev(2)    a write into /proc/<pid>/mem: Flags = 5
//	              to /proc/<pid>/mem                     (PTRACE_POKEDATA, the same act), Path, TargetPID
//	cred          set[re[s]]{u,g}id, setfs{u,g}id,       Flags = first requested id (capset: new effective
//	              capset                                 capability set); UID/EUID/... are the ids after
//	mount         mount                                  Path = mount point, NewPath = source, Module = fs type,
//	                                                     Flags = MS_*
//	umount        umount2                                Path, Flags (MNT_*)
//	module_load   init_module, finit_module              Path = module file (finit_module), Module = its name,
//	                                                     Flags; absent on kernels without module support
//	bpf           bpf                                    Flags = command, Mode = program/map type
//	memfd_create  memfd_create                           Path = name, Flags = MFD_*; FD = Ret
//	exec_mapping  mmap, mprotect, pkey_mprotect asking   Flags = prot, Mode = mmap flags, FD, Path of the mapped
//	              for PROT_EXEC                          file (empty for anonymous memory)
//	userfaultfd   userfaultfd                            Flags
//	signal        kill, tkill, tgkill                    Flags = signal, TargetPID
//	syscall       every syscall (sequence mode only,     Syscall; only PID, TID, Time, CgroupID besides
//	              selected cgroups)
