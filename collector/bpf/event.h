/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Record layout shared by the BPF programs and the Go decoder
 * (collector/decode.go). Every record is a fixed struct event followed by up
 * to four byte blobs whose lengths are in len[]; only the used bytes cross
 * the ring buffer, so PATH_MAX-sized buffers cost nothing on short paths.
 *
 * Changing anything here means changing decode.go and running make generate.
 */
#ifndef VIGIL_EVENT_H
#define VIGIL_EVENT_H

/* Kinds in the order of trace.Kinds (index + 1); decode.go checks this. */
enum vigil_kind {
	K_EXEC = 1,
	K_EXIT,
	K_FORK,
	K_OPEN,
	K_RENAME,
	K_UNLINK,
	K_CHMOD,
	K_CHOWN,
	K_LINK,
	K_CONNECT,
	K_ACCEPT,
	K_BIND,
	K_LISTEN,
	K_DNS,
	K_PTRACE,
	K_CRED,
	K_MOUNT,
	K_UMOUNT,
	K_MODULE,
	K_BPF,
	K_MEMFD,
	K_EXEC_MAPPING,
	K_USERFAULTFD,
	K_SIGNAL,
	K_SYSCALL,
	/* Not a trace.Kind of its own: decoded as a ptrace-like injection. */
	K_PROC_MEM,
	K_MAX,
};

/* Event flags (struct event.flags). */
#define F_TRUNC0 (1 << 0)      /* blob 0 was cut at its buffer size; F_TRUNC0 << n for blob n */
#define F_COMPONENTS0 (1 << 4) /* blob 0 is a path as leaf-first components; << n for blob n */
#define F_SOCKADDR1 (1 << 8)   /* blob 1 is a struct sockaddr from the caller */
#define F_TCP_DNS (1 << 9)     /* DNS payload carries a 2-byte TCP length prefix */
#define F_NET (1 << 10)        /* net fields were read from the socket */

/* exec a[1]: what the new program's fds 0-2 are once close-on-exec has run
 * (trace.ExecStdin* in Go). A shell whose stdin and stdout are a TCP
 * connection is a reverse or bind shell whatever command line started it. */
#define STDIO_SOCKET0 (1 << 0) /* fd 0 is a socket of any family; STDIO_SOCKET0 << n for fd n */
#define STDIO_PIPE0 (1 << 3)   /* fd 0 is a pipe or FIFO; << n for fd n */
#define STDIO_INET0 (1 << 6)   /* fd 0 is an AF_INET or AF_INET6 socket (STDIO_SOCKET0 is set too) */

/* Buffer sizes. */
#define MAX_PATH 4096
#define MAX_ARGV 1024
#define MAX_NAME 256
#define MAX_DNS 512
#define MAX_SOCKADDR 128
#define PATH_DEPTH 32
#define DATA_SIZE 16384 /* blobs live in data[0, DATA_SIZE) */
#define DATA_MASK (DATA_SIZE - 1)
#define DATA_SLACK 4096 /* lets the verifier see every masked write in bounds */

struct event {
	__u64 ts; /* CLOCK_BOOTTIME ns */
	__u64 cgroup_v2;
	__u64 cgroup_v1; /* kernfs id of the task's memory cgroup (v1 hierarchy) */
	__s64 ret;
	__u64 a[4]; /* kind-specific numbers; see decode.go */
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 ns_pid;
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 egid;
	__s32 syscall;
	__u16 kind;
	__u16 flags;
	__u16 len[4];
	/* Network endpoints (F_NET), from the kernel socket. */
	__u16 family;
	__u8 proto;
	__u8 pad0;
	__u16 sport; /* host order */
	__u16 dport; /* host order */
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[16];
	__u8 data[DATA_SIZE + DATA_SLACK];
};

/* Counters in the per-CPU stats map. */
enum vigil_counter {
	C_RING_DROPS = 0,
	C_RATE_LIMITED,
	C_FILTERED,
	C_STASH_MISS,
	C_MAX,
};

/* Runtime settings in the single-entry config map. */
struct vigil_config {
	__u32 self_tgid;
	__u32 include_mode; /* only cgroups in include_cgroups pass */
	__u32 exclude_mode; /* exclude_cgroups is not empty */
	__u32 rate;         /* events per second per process; 0 = unlimited */
	__u32 burst;
	__u32 pad;
};

/* Key of the cgroup filter maps: hier 2 = unified (v2) id, 1 = v1 id. */
struct cgroup_key {
	__u64 id;
	__u32 hier;
	__u32 pad;
};

#endif
