// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Vigil's kernel side. Each watched syscall has its own sys_enter/sys_exit
 * tracepoint pair, so syscalls nobody watches cost nothing: sys_enter decides
 * (self, cgroup filters, rate limit, cheap argument checks) and stashes the
 * arguments; sys_exit adds the return value, reads the strings and emits one
 * record. Process lifecycle comes from tp_btf sched_process_{exec,fork,exit}.
 */
#include "common.h"

/* x86_64 syscall numbers the exit side needs to tell apart. */
#define NR_write 1
#define NR_open 2
#define NR_writev 20
#define NR_mmap 9
#define NR_sendto 44
#define NR_sendmsg 46
#define NR_accept 43
#define NR_rename 82
#define NR_rmdir 84
#define NR_creat 85
#define NR_link 86
#define NR_unlink 87
#define NR_symlink 88
#define NR_chmod 90
#define NR_fchmod 91
#define NR_chown 92
#define NR_fchown 93
#define NR_lchown 94
#define NR_capset 126
#define NR_init_module 175
#define NR_tkill 200
#define NR_tgkill 234
#define NR_openat2 437
#define NR_execve 59
#define NR_execveat 322
#define NR_sendmmsg 307
#define NR_symlinkat 266
#define NR_pwritev 296
#define NR_pwritev2 328

#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define IPPROTO_TCP 6

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- enter side ---- */

#define ENTER(sc, kind, nargs)                                            \
	SEC("tracepoint/syscalls/sys_enter_" #sc)                         \
	int enter_##sc(struct sys_enter_ctx *ctx)                          \
	{                                                                  \
		if (wanted() && rate_ok())                                 \
			stash_put(ctx, kind, nargs);                       \
		return 0;                                                  \
	}

#define EXIT(sc, fn)                                                      \
	SEC("tracepoint/syscalls/sys_exit_" #sc)                          \
	int exit_##sc(struct sys_exit_ctx *ctx)                            \
	{                                                                  \
		struct stash s;                                            \
		if (!stash_take(&s) || s.nr != ctx->nr) {                  \
			return 0;                                          \
		}                                                          \
		return fn(ctx, &s);                                        \
	}

#define PAIR(sc, nargs, kind, fn) ENTER(sc, kind, nargs) EXIT(sc, fn)

/* ---- files ---- */

static __always_inline int emit_open(struct sys_exit_ctx *ctx, struct stash *s)
{
	struct event *e = new_event(K_OPEN, s->nr);
	const void *path;
	__u32 off = 0;

	if (!e)
		return 0;
	e->ret = ctx->ret;
	switch (s->nr) {
	case NR_open:
		path = (void *)s->args[0];
		e->a[0] = s->args[1];
		e->a[1] = s->args[2];
		e->a[2] = (__u64)AT_FDCWD;
		break;
	case NR_creat:
		path = (void *)s->args[0];
		e->a[0] = O_CREAT | O_WRONLY | O_TRUNC;
		e->a[1] = s->args[1];
		e->a[2] = (__u64)AT_FDCWD;
		break;
	case NR_openat2: {
		struct open_how how = {};

		bpf_probe_read_user(&how, sizeof(how), (void *)s->args[2]);
		path = (void *)s->args[1];
		e->a[0] = how.flags;
		e->a[1] = how.mode;
		e->a[2] = s->args[0];
		e->a[3] = how.resolve;
		break;
	}
	default: /* openat */
		path = (void *)s->args[1];
		e->a[0] = s->args[2];
		e->a[1] = s->args[3];
		e->a[2] = s->args[0];
	}
	off = put_user_str(e, off, 0, path, MAX_PATH);
	submit(e, off);
	return 0;
}
PAIR(open, 3, K_OPEN, emit_open)
PAIR(creat, 2, K_OPEN, emit_open)
PAIR(openat, 4, K_OPEN, emit_open)
PAIR(openat2, 4, K_OPEN, emit_open)

/* copy_nums copies the stashed arguments at indexes n0..n2 (-1 for none)
 * into a[0..2]. */
static __always_inline void copy_nums(struct event *e, struct stash *s, int n0, int n1, int n2)
{
	if (n0 >= 0)
		e->a[0] = s->args[n0 & 7];
	if (n1 >= 0)
		e->a[1] = s->args[n1 & 7];
	if (n2 >= 0)
		e->a[2] = s->args[n2 & 7];
}

/* emit_paths covers the kinds that are one or two user paths plus numbers:
 * p0/p1 are argument indexes of the paths (-1 for none), n0..n2 indexes of
 * numbers copied to a[0..2] (-1 for none). */
static __always_inline int emit_paths(struct sys_exit_ctx *ctx, struct stash *s, __u16 kind, int p0, int p1, int n0,
				      int n1, int n2)
{
	struct event *e = new_event(kind, s->nr);
	__u32 off = 0;

	if (!e)
		return 0;
	e->ret = ctx->ret;
	copy_nums(e, s, n0, n1, n2);
	if (p0 >= 0)
		off = put_user_str(e, off, 0, (void *)s->args[p0 & 7], MAX_PATH);
	if (p1 >= 0)
		off = put_user_str(e, off, 1, (void *)s->args[p1 & 7], MAX_PATH);
	submit(e, off);
	return 0;
}

static __always_inline int emit_rename(struct sys_exit_ctx *ctx, struct stash *s)
{
	if (s->nr == NR_rename)
		return emit_paths(ctx, s, K_RENAME, 0, 1, -1, -1, -1);
	/* renameat(2): olddfd, old, newdfd, new, flags */
	return emit_paths(ctx, s, K_RENAME, 1, 3, 4, 0, 2);
}
PAIR(rename, 2, K_RENAME, emit_rename)
PAIR(renameat, 4, K_RENAME, emit_rename)
PAIR(renameat2, 5, K_RENAME, emit_rename)

static __always_inline int emit_unlink(struct sys_exit_ctx *ctx, struct stash *s)
{
	if (s->nr == NR_unlink)
		return emit_paths(ctx, s, K_UNLINK, 0, -1, -1, -1, -1);
	if (s->nr == NR_rmdir) {
		s->args[5] = AT_REMOVEDIR;
		return emit_paths(ctx, s, K_UNLINK, 0, -1, 5, -1, -1);
	}
	return emit_paths(ctx, s, K_UNLINK, 1, -1, 2, 0, -1); /* unlinkat(dfd, path, flags) */
}
PAIR(unlink, 1, K_UNLINK, emit_unlink)
PAIR(unlinkat, 3, K_UNLINK, emit_unlink)
PAIR(rmdir, 1, K_UNLINK, emit_unlink)

/* emit_fd_path is for syscalls on an open file: the path comes from the
 * kernel's file, not from the caller. */
static __always_inline int emit_fd_path(struct sys_exit_ctx *ctx, struct stash *s, __u16 kind, int fd, int n0,
					int n1, int n2)
{
	struct event *e = new_event(kind, s->nr);
	__u32 off = 0;

	if (!e)
		return 0;
	e->ret = ctx->ret;
	copy_nums(e, s, n0, n1, n2);
	e->a[3] = s->args[fd & 7];
	off = put_file_path(e, off, 0, fd_file((long)s->args[fd & 7]));
	submit(e, off);
	return 0;
}

static __always_inline int emit_chmod(struct sys_exit_ctx *ctx, struct stash *s)
{
	if (s->nr == NR_chmod)
		return emit_paths(ctx, s, K_CHMOD, 0, -1, -1, 1, -1);
	if (s->nr == NR_fchmod)
		return emit_fd_path(ctx, s, K_CHMOD, 0, -1, 1, -1);
	return emit_paths(ctx, s, K_CHMOD, 1, -1, 3, 2, 0); /* fchmodat(2)(dfd, path, mode, flags) */
}
PAIR(chmod, 2, K_CHMOD, emit_chmod)
PAIR(fchmod, 2, K_CHMOD, emit_chmod)
PAIR(fchmodat, 3, K_CHMOD, emit_chmod)
PAIR(fchmodat2, 4, K_CHMOD, emit_chmod)

/* chown: a[0] flags, a[1] uid, a[2] gid */
static __always_inline int emit_chown(struct sys_exit_ctx *ctx, struct stash *s)
{
	if (s->nr == NR_chown || s->nr == NR_lchown)
		return emit_paths(ctx, s, K_CHOWN, 0, -1, -1, 1, 2);
	if (s->nr == NR_fchown)
		return emit_fd_path(ctx, s, K_CHOWN, 0, -1, 1, 2);
	return emit_paths(ctx, s, K_CHOWN, 1, -1, 4, 2, 3); /* fchownat(dfd, path, uid, gid, flags) */
}
PAIR(chown, 3, K_CHOWN, emit_chown)
PAIR(fchown, 3, K_CHOWN, emit_chown)
PAIR(lchown, 3, K_CHOWN, emit_chown)
PAIR(fchownat, 5, K_CHOWN, emit_chown)

/* link: blob 0 is the existing file (or symlink target), blob 1 the new name;
 * a[1] = 1 marks a symlink. */
static __always_inline int emit_link(struct sys_exit_ctx *ctx, struct stash *s)
{
	switch (s->nr) {
	case NR_link:
		return emit_paths(ctx, s, K_LINK, 0, 1, -1, -1, -1);
	case NR_symlink:
		s->args[5] = 1;
		return emit_paths(ctx, s, K_LINK, 0, 1, -1, 5, -1);
	case NR_symlinkat:
		s->args[5] = 1;
		return emit_paths(ctx, s, K_LINK, 0, 2, -1, 5, -1);
	default: /* linkat(olddfd, old, newdfd, new, flags) */
		return emit_paths(ctx, s, K_LINK, 1, 3, 4, -1, -1);
	}
}
PAIR(link, 2, K_LINK, emit_link)
PAIR(linkat, 5, K_LINK, emit_link)
PAIR(symlink, 2, K_LINK, emit_link)
PAIR(symlinkat, 3, K_LINK, emit_link)

/* ---- network ---- */

/* emit_sock: connect/bind carry the caller's sockaddr as blob 1; the
 * socket's own endpoints are read after the syscall. accept reads the new
 * socket (the return value). a[0] = fd, a[1] = backlog or accept flags. */
static __always_inline int emit_sock(struct sys_exit_ctx *ctx, struct stash *s, __u16 kind)
{
	struct event *e = new_event(kind, s->nr);
	long fd = (long)s->args[0];
	__u32 off = 0;

	if (!e)
		return 0;
	e->ret = ctx->ret;
	e->a[0] = s->args[0];
	if (kind == K_ACCEPT) {
		if (ctx->ret >= 0)
			fd = ctx->ret;
		e->a[1] = s->nr == NR_accept ? 0 : s->args[3];
	} else if (kind == K_LISTEN) {
		e->a[1] = s->args[1];
	} else {
		__u64 len = s->args[2];

		if (len > MAX_SOCKADDR)
			len = MAX_SOCKADDR;
		off = put_user_bytes(e, off, 1, (void *)s->args[1], len, MAX_SOCKADDR);
		e->flags |= F_SOCKADDR1;
	}
	fill_net(e, file_sock(fd_file(fd)));
	submit(e, off);
	return 0;
}

static __always_inline int emit_connect(struct sys_exit_ctx *ctx, struct stash *s)
{
	return emit_sock(ctx, s, K_CONNECT);
}
static __always_inline int emit_bind(struct sys_exit_ctx *ctx, struct stash *s)
{
	return emit_sock(ctx, s, K_BIND);
}
static __always_inline int emit_accept(struct sys_exit_ctx *ctx, struct stash *s)
{
	return emit_sock(ctx, s, K_ACCEPT);
}
static __always_inline int emit_listen(struct sys_exit_ctx *ctx, struct stash *s)
{
	return emit_sock(ctx, s, K_LISTEN);
}
PAIR(connect, 3, K_CONNECT, emit_connect)
PAIR(bind, 3, K_BIND, emit_bind)
PAIR(accept, 3, K_ACCEPT, emit_accept)
PAIR(accept4, 4, K_ACCEPT, emit_accept)
PAIR(listen, 2, K_LISTEN, emit_listen)

/* ---- DNS and /proc/<pid>/mem writes ---- */

static __always_inline __u16 user_sockaddr_port(const void *addr)
{
	struct {
		__u16 family;
		__u16 port;
	} sa = {};

	if (!addr || bpf_probe_read_user(&sa, sizeof(sa), addr))
		return 0;
	if (sa.family != AF_INET && sa.family != AF_INET6)
		return 0;
	return bpf_ntohs(sa.port);
}

static __always_inline __u16 sock_dport(struct sock *sk)
{
	if (!sk)
		return 0;
	return bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

/* write_kind tells what a write to fd is about: a DNS query (socket whose
 * peer port is 53), a write into another process's memory through
 * /proc/<pid>/mem, or nothing we watch (0). */
static __always_inline __u32 write_kind(long fd)
{
	struct file *f = fd_file(fd);
	struct inode *ino;
	char name[4] = {};
	const unsigned char *n;

	if (!f)
		return 0;
	ino = BPF_CORE_READ(f, f_inode);
	if ((BPF_CORE_READ(ino, i_mode) & S_IFMT) == S_IFSOCK) {
		struct socket *so = BPF_CORE_READ(f, private_data);

		return sock_dport(BPF_CORE_READ(so, sk)) == 53 ? K_DNS : 0;
	}
	if (BPF_CORE_READ(ino, i_sb, s_magic) != PROC_SUPER_MAGIC)
		return 0;
	n = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	bpf_probe_read_kernel(name, sizeof(name), n);
	if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 0)
		return K_PROC_MEM;
	return 0;
}

struct user_msghdr_ {
	void *msg_name;
	int msg_namelen;
	int pad;
	struct iovec *msg_iov;
	__u64 msg_iovlen;
	void *msg_control;
	__u64 msg_controllen;
	unsigned int msg_flags;
};

/* emit_dns sends one query: payload from buf, destination from the caller's
 * sockaddr when given, else from the connected socket (glibc's resolver
 * connects its UDP socket and then uses sendmmsg/send). */
static __always_inline void emit_dns(struct stash *s, long ret, long fd, const void *buf, __u64 len,
				     const void *addr, __u64 addrlen)
{
	struct event *e = new_event(K_DNS, s->nr);
	struct sock *sk = file_sock(fd_file(fd));
	__u32 off = 0;

	if (!e)
		return;
	e->ret = ret;
	e->a[0] = fd;
	fill_net(e, sk);
	if (e->proto == IPPROTO_TCP)
		e->flags |= F_TCP_DNS;
	off = put_user_bytes(e, off, 0, buf, len, MAX_DNS);
	if (addr) {
		if (addrlen > MAX_SOCKADDR)
			addrlen = MAX_SOCKADDR;
		off = put_user_bytes(e, off, 1, addr, addrlen, MAX_SOCKADDR);
		e->flags |= F_SOCKADDR1;
	}
	submit(e, off);
}

static __always_inline void emit_dns_msg(struct stash *s, long ret, long fd, const void *umsg)
{
	struct user_msghdr_ m = {};
	struct iovec iov = {};

	if (bpf_probe_read_user(&m, sizeof(m), umsg))
		return;
	if (m.msg_iovlen < 1 || bpf_probe_read_user(&iov, sizeof(iov), m.msg_iov))
		return;
	emit_dns(s, ret, fd, iov.iov_base, iov.iov_len, m.msg_name, m.msg_namelen);
}

static __always_inline int emit_proc_mem(struct sys_exit_ctx *ctx, struct stash *s)
{
	return emit_fd_path(ctx, s, K_PROC_MEM, 0, 2, -1, -1); /* a[0] = count or iovcnt */
}

/* write/pwrite64/writev/pwritev(2): DNS over a connected socket or a write
 * into /proc/<pid>/mem. The kind chosen at enter is in the stash. */
static __always_inline int emit_write(struct sys_exit_ctx *ctx, struct stash *s)
{
	long fd = (long)s->args[0];

	if (s->kind == K_PROC_MEM)
		return emit_proc_mem(ctx, s);
	if (s->nr == NR_write) {
		emit_dns(s, ctx->ret, fd, (void *)s->args[1], s->args[2], NULL, 0);
	} else if (s->nr == NR_writev) {
		/* glibc sends DNS over TCP as writev({len, 2}, {query, n}). */
		struct iovec iov[2] = {};

		bpf_probe_read_user(iov, sizeof(iov), (void *)s->args[1]);
		if (s->args[2] >= 2 && iov[0].iov_len == 2) {
			emit_dns(s, ctx->ret, fd, iov[1].iov_base, iov[1].iov_len, NULL, 0);
		} else {
			emit_dns(s, ctx->ret, fd, iov[0].iov_base, iov[0].iov_len, NULL, 0);
		}
	}
	return 0;
}

#define ENTER_WRITE(sc, nargs)                                            \
	SEC("tracepoint/syscalls/sys_enter_" #sc)                         \
	int enter_##sc(struct sys_enter_ctx *ctx)                          \
	{                                                                  \
		__u32 k;                                                   \
		if (!wanted())                                             \
			return 0;                                          \
		k = write_kind((long)ctx->args[0]);                        \
		if (k == K_DNS && (ctx->nr != NR_write && ctx->nr != NR_writev)) \
			return 0;                                          \
		if (k && rate_ok())                                        \
			stash_put(ctx, k, nargs);                          \
		return 0;                                                  \
	}
ENTER_WRITE(write, 3)
EXIT(write, emit_write)
ENTER_WRITE(pwrite64, 4)
EXIT(pwrite64, emit_write)
ENTER_WRITE(writev, 3)
EXIT(writev, emit_write)
ENTER_WRITE(pwritev, 5)
EXIT(pwritev, emit_write)
ENTER_WRITE(pwritev2, 6)
EXIT(pwritev2, emit_write)

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct sys_enter_ctx *ctx)
{
	const void *addr = (void *)ctx->args[4];
	__u16 port;

	if (!wanted())
		return 0;
	port = addr ? user_sockaddr_port(addr) : sock_dport(file_sock(fd_file((long)ctx->args[0])));
	if (port == 53 && rate_ok())
		stash_put(ctx, K_DNS, 6);
	return 0;
}

static __always_inline int emit_sendto(struct sys_exit_ctx *ctx, struct stash *s)
{
	emit_dns(s, ctx->ret, (long)s->args[0], (void *)s->args[1], s->args[2], (void *)s->args[4], s->args[5]);
	return 0;
}
EXIT(sendto, emit_sendto)

/* msg_port: the destination port of a user msghdr. */
static __always_inline __u16 msg_port(long fd, const void *umsg)
{
	void *name = NULL;

	bpf_probe_read_user(&name, sizeof(name), umsg);
	if (name)
		return user_sockaddr_port(name);
	return sock_dport(file_sock(fd_file(fd)));
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct sys_enter_ctx *ctx)
{
	if (!wanted())
		return 0;
	if (msg_port((long)ctx->args[0], (void *)ctx->args[1]) == 53 && rate_ok())
		stash_put(ctx, K_DNS, 3);
	return 0;
}

static __always_inline int emit_sendmsg(struct sys_exit_ctx *ctx, struct stash *s)
{
	emit_dns_msg(s, ctx->ret, (long)s->args[0], (void *)s->args[1]);
	return 0;
}
EXIT(sendmsg, emit_sendmsg)

/* sendmmsg(fd, struct mmsghdr *vec, vlen, flags): glibc sends the A and AAAA
 * queries together; each message becomes its own event. */
SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int enter_sendmmsg(struct sys_enter_ctx *ctx)
{
	if (!wanted())
		return 0;
	if (msg_port((long)ctx->args[0], (void *)ctx->args[1]) == 53 && rate_ok())
		stash_put(ctx, K_DNS, 4);
	return 0;
}

#define MMSG_SIZE 64 /* sizeof(struct mmsghdr) on 64-bit */
#define MMSG_MAX 4

static __always_inline int emit_sendmmsg(struct sys_exit_ctx *ctx, struct stash *s)
{
	long n = ctx->ret > 0 ? ctx->ret : 1; /* a failed call still shows its first query */

	for (int i = 0; i < MMSG_MAX; i++) {
		if (i >= n || i >= (long)s->args[2])
			break;
		emit_dns_msg(s, ctx->ret, (long)s->args[0], (void *)(s->args[1] + i * MMSG_SIZE));
	}
	return 0;
}
EXIT(sendmmsg, emit_sendmmsg)

/* ---- privilege and injection ---- */

/* emit_nums: kinds fully described by numeric arguments. */
static __always_inline int emit_nums(struct sys_exit_ctx *ctx, struct stash *s, __u16 kind, int n0, int n1, int n2,
				     int n3)
{
	struct event *e = new_event(kind, s->nr);

	if (!e)
		return 0;
	e->ret = ctx->ret;
	copy_nums(e, s, n0, n1, n2);
	if (n3 >= 0)
		e->a[3] = s->args[n3 & 7];
	submit(e, 0);
	return 0;
}

/* ptrace: a[0] request, a[1] pid, a[2] addr */
static __always_inline int emit_ptrace(struct sys_exit_ctx *ctx, struct stash *s)
{
	return emit_nums(ctx, s, K_PTRACE, 0, 1, 2, -1);
}
PAIR(ptrace, 4, K_PTRACE, emit_ptrace)

/* cred: a[0..2] the requested ids; the header holds the ids after the call.
 * capset: a[0] the new effective set read from the task's credentials. */
static __always_inline int emit_cred(struct sys_exit_ctx *ctx, struct stash *s)
{
	if (s->nr == NR_capset) {
		struct task_struct *t = (void *)bpf_get_current_task();
		kernel_cap_t eff = BPF_CORE_READ(t, cred, cap_effective);

		__builtin_memcpy(&s->args[5], &eff, sizeof(__u64));
		return emit_nums(ctx, s, K_CRED, 5, -1, -1, -1);
	}
	return emit_nums(ctx, s, K_CRED, 0, 1, 2, -1);
}
PAIR(setuid, 1, K_CRED, emit_cred)
PAIR(setgid, 1, K_CRED, emit_cred)
PAIR(setreuid, 2, K_CRED, emit_cred)
PAIR(setregid, 2, K_CRED, emit_cred)
PAIR(setresuid, 3, K_CRED, emit_cred)
PAIR(setresgid, 3, K_CRED, emit_cred)
PAIR(setfsuid, 1, K_CRED, emit_cred)
PAIR(setfsgid, 1, K_CRED, emit_cred)
PAIR(capset, 2, K_CRED, emit_cred)

/* mount(source, target, fstype, flags, data): blob 0 source, blob 1 target,
 * blob 2 fstype; a[0] flags. */
static __always_inline int emit_mount(struct sys_exit_ctx *ctx, struct stash *s)
{
	struct event *e = new_event(K_MOUNT, s->nr);
	__u32 off = 0;

	if (!e)
		return 0;
	e->ret = ctx->ret;
	e->a[0] = s->args[3];
	off = put_user_str(e, off, 0, (void *)s->args[0], MAX_PATH);
	off = put_user_str(e, off, 1, (void *)s->args[1], MAX_PATH);
	off = put_user_str(e, off, 2, (void *)s->args[2], MAX_NAME);
	submit(e, off);
	return 0;
}
PAIR(mount, 5, K_MOUNT, emit_mount)

static __always_inline int emit_umount(struct sys_exit_ctx *ctx, struct stash *s)
{
	return emit_paths(ctx, s, K_UMOUNT, 0, -1, 1, -1, -1);
}
PAIR(umount, 2, K_UMOUNT, emit_umount) /* umount2(2); the tracepoint keeps the old name */

/* init_module(image, len, params): a[0] len, blob 1 params.
 * finit_module(fd, params, flags): blob 0 the module file, a[0] flags. */
static __always_inline int emit_module(struct sys_exit_ctx *ctx, struct stash *s)
{
	struct event *e = new_event(K_MODULE, s->nr);
	__u32 off = 0;

	if (!e)
		return 0;
	e->ret = ctx->ret;
	if (s->nr == NR_init_module) {
		e->a[0] = s->args[1];
		off = put_user_str(e, off, 1, (void *)s->args[2], MAX_NAME);
	} else {
		e->a[0] = s->args[2];
		off = put_file_path(e, off, 0, fd_file((long)s->args[0]));
		off = put_user_str(e, off, 1, (void *)s->args[1], MAX_NAME);
	}
	submit(e, off);
	return 0;
}
PAIR(init_module, 3, K_MODULE, emit_module)
PAIR(finit_module, 3, K_MODULE, emit_module)

/* bpf(cmd, attr, size): a[0] cmd, a[1] program or map type (the first word
 * of the attr union for PROG_LOAD and MAP_CREATE). */
static __always_inline int emit_bpf(struct sys_exit_ctx *ctx, struct stash *s)
{
	__u32 first = 0;

	bpf_probe_read_user(&first, sizeof(first), (void *)s->args[1]);
	s->args[5] = first;
	return emit_nums(ctx, s, K_BPF, 0, 5, 2, -1);
}
PAIR(bpf, 3, K_BPF, emit_bpf)

static __always_inline int emit_memfd(struct sys_exit_ctx *ctx, struct stash *s)
{
	return emit_paths(ctx, s, K_MEMFD, 0, -1, 1, -1, -1);
}
PAIR(memfd_create, 2, K_MEMFD, emit_memfd)

static __always_inline int emit_userfaultfd(struct sys_exit_ctx *ctx, struct stash *s)
{
	return emit_nums(ctx, s, K_USERFAULTFD, 0, -1, -1, -1);
}
PAIR(userfaultfd, 1, K_USERFAULTFD, emit_userfaultfd)

/* signal: a[0] signal, a[1] target pid (tgid for tgkill), a[2] tid */
static __always_inline int emit_signal(struct sys_exit_ctx *ctx, struct stash *s)
{
	if (s->nr == NR_tgkill)
		return emit_nums(ctx, s, K_SIGNAL, 2, 0, 1, -1);
	if (s->nr == NR_tkill)
		return emit_nums(ctx, s, K_SIGNAL, 1, -1, 0, -1);
	return emit_nums(ctx, s, K_SIGNAL, 1, 0, -1, -1);
}
/* A process signalling itself (Go's runtime preempts its threads with
 * tgkill(SIGURG) thousands of times a second) is not worth an event. */
#define ENTER_SIGNAL(sc, nargs, self)                                     \
	SEC("tracepoint/syscalls/sys_enter_" #sc)                         \
	int enter_##sc(struct sys_enter_ctx *ctx)                          \
	{                                                                  \
		__u64 id = bpf_get_current_pid_tgid();                     \
		if ((__u32)ctx->args[0] == (self))                         \
			return 0;                                          \
		if (wanted() && rate_ok())                                 \
			stash_put(ctx, K_SIGNAL, nargs);                   \
		return 0;                                                  \
	}
ENTER_SIGNAL(kill, 2, id >> 32)
EXIT(kill, emit_signal)
ENTER_SIGNAL(tkill, 2, (__u32)id)
EXIT(tkill, emit_signal)
ENTER_SIGNAL(tgkill, 3, id >> 32)
EXIT(tgkill, emit_signal)

/* Executable mappings: only mmap/mprotect calls that ask for PROT_EXEC are
 * stashed. a[0] prot, a[1] mmap flags, a[2] addr, a[3] fd (blob 0 is the
 * mapped file's path when file-backed). */
#define ENTER_PROT(sc, protarg, nargs)                                    \
	SEC("tracepoint/syscalls/sys_enter_" #sc)                         \
	int enter_##sc(struct sys_enter_ctx *ctx)                          \
	{                                                                  \
		if ((ctx->args[protarg] & PROT_EXEC) && wanted() && rate_ok()) \
			stash_put(ctx, K_EXEC_MAPPING, nargs);             \
		return 0;                                                  \
	}

static __always_inline int emit_exec_mapping(struct sys_exit_ctx *ctx, struct stash *s)
{
	struct event *e = new_event(K_EXEC_MAPPING, s->nr);
	__u32 off = 0;

	if (!e)
		return 0;
	e->ret = ctx->ret;
	e->a[0] = s->args[2];
	e->a[2] = s->args[0];
	e->a[3] = (__u64)-1;
	if (s->nr == NR_mmap) {
		e->a[1] = s->args[3];
		e->a[3] = s->args[4];
		if ((long)s->args[4] >= 0)
			off = put_file_path(e, off, 0, fd_file((long)s->args[4]));
	}
	submit(e, off);
	return 0;
}
ENTER_PROT(mmap, 2, 6)
EXIT(mmap, emit_exec_mapping)
ENTER_PROT(mprotect, 2, 3)
EXIT(mprotect, emit_exec_mapping)
ENTER_PROT(pkey_mprotect, 2, 4)
EXIT(pkey_mprotect, emit_exec_mapping)

/* ---- processes ---- */

/* Failed execs are reported from sys_exit; successful ones from
 * sched_process_exec, where the new image's argv is in place. */
ENTER(execve, K_EXEC, 3)
ENTER(execveat, K_EXEC, 5)

static __always_inline __u32 put_cwd(struct event *e, __u32 off, int slot)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct fs_struct *fs = BPF_CORE_READ(t, fs);

	return put_path(e, off, slot, &fs->pwd, fs);
}

static __always_inline int emit_exec_failed(struct sys_exit_ctx *ctx, struct stash *s)
{
	struct event *e;
	__u32 off = 0;

	if (ctx->ret == 0)
		return 0;
	e = new_event(K_EXEC, s->nr);
	if (!e)
		return 0;
	e->ret = ctx->ret;
	off = put_user_str(e, off, 0, (void *)s->args[s->nr == NR_execveat ? 1 : 0], MAX_PATH);
	off = put_cwd(e, off, 2);
	submit(e, off);
	return 0;
}
EXIT(execve, emit_exec_failed)
EXIT(execveat, emit_exec_failed)

/* stdio_bits reads what fds 0-2 of the current task are, as STDIO_* bits
 * (event.h). At sched_process_exec the task's fd table is the new program's:
 * unshared and with close-on-exec fds already closed. Three slots, unrolled;
 * a closed fd reads as NULL and sets nothing. */
static __always_inline __u64 stdio_bits(void)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	__u64 bits = 0;

#pragma unroll
	for (int i = 0; i < 3; i++) {
		struct file *f = NULL;
		struct socket *so;
		__u16 mode, family;

		if (i >= max)
			break;
		bpf_probe_read_kernel(&f, sizeof(f), &fds[i]);
		if (!f)
			continue;
		mode = BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT;
		if (mode == S_IFIFO) {
			bits |= STDIO_PIPE0 << i;
		} else if (mode == S_IFSOCK) {
			bits |= STDIO_SOCKET0 << i;
			/* A socket file's private_data is its struct socket. */
			so = BPF_CORE_READ(f, private_data);
			family = BPF_CORE_READ(so, sk, __sk_common.skc_family);
			if (family == AF_INET || family == AF_INET6)
				bits |= STDIO_INET0 << i;
		}
	}
	return bits;
}

/* exec: blob 0 filename, blob 1 argv (NUL-separated, from the new mm),
 * blob 2 cwd, blob 3 the executable's path; a[0] = 1 when argv was longer
 * than MAX_ARGV, a[1] the STDIO_* bits of fds 0-2. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct stash *s;
	struct event *e;
	__u64 start, end;
	__u32 off = 0;
	__s32 nr = NR_execve;

	if (!wanted())
		return 0;
	s = stash_peek();
	if (s && s->nr == NR_execveat)
		nr = NR_execveat;
	e = new_event(K_EXEC, nr);
	if (!e)
		return 0;
	off = put_kernel_str(e, off, 0, BPF_CORE_READ(bprm, filename), MAX_PATH);
	start = BPF_CORE_READ(p, mm, arg_start);
	end = BPF_CORE_READ(p, mm, arg_end);
	if (end > start) {
		__u64 len = end - start;

		if (len > MAX_ARGV)
			e->a[0] = 1;
		off = put_user_bytes(e, off, 1, (void *)start, len, MAX_ARGV);
	}
	off = put_cwd(e, off, 2);
	/* The file the kernel actually runs (not the name it was asked for:
	 * /proc/self/exe, a symlink, an fd): as the new task sees it. */
	off = put_file_path(e, off, 3, BPF_CORE_READ(bprm, file));
	e->a[1] = stdio_bits();
	submit(e, off);
	return 0;
}

/* fork: only new processes; a[0] child pid, a[1] child start time (ns). */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	struct event *e;

	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	if (!wanted())
		return 0;
	e = new_event(K_FORK, -1);
	if (!e)
		return 0;
	e->a[0] = BPF_CORE_READ(child, tgid);
	e->a[1] = BPF_CORE_READ(child, start_boottime);
	submit(e, 0);
	return 0;
}

/* exit: when the last thread of a process exits; a[0] the wait status. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p, bool group_dead)
{
	struct event *e;

	if (!group_dead)
		return 0;
	if (!wanted())
		return 0;
	e = new_event(K_EXIT, -1);
	if (!e)
		return 0;
	e->a[0] = BPF_CORE_READ(p, exit_code);
	submit(e, 0);
	return 0;
}

/* ---- syscall-sequence mode ---- */

/* Every syscall number of the selected cgroups only. Attached only when the
 * sequence mode is on; other tasks pay one map lookup per syscall. */
SEC("raw_tracepoint/sys_enter")
int sys_enter_seq(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct vigil_config *cfg = get_config();
	struct cgroup_key k = { .id = bpf_get_current_cgroup_id(), .hier = 2 };
	struct {
		__u64 ts;
		__u64 cgroup_v2;
		__u64 cgroup_v1;
		__u32 pid;
		__u32 tid;
		__s32 nr;
		__u16 kind;
		__u16 pad;
	} *r;
	__u64 id = bpf_get_current_pid_tgid();

	if (!cfg || (id >> 32) == cfg->self_tgid)
		return 0;
	if (!bpf_map_lookup_elem(&sequence_cgroups, &k)) {
		k.id = cgroup_v1_id(t);
		k.hier = 1;
		if (!bpf_map_lookup_elem(&sequence_cgroups, &k))
			return 0;
	}
	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count(C_RING_DROPS);
		return 0;
	}
	r->ts = bpf_ktime_get_boot_ns();
	r->cgroup_v2 = bpf_get_current_cgroup_id();
	r->cgroup_v1 = cgroup_v1_id(t);
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->nr = (__s32)ctx->args[1];
	r->kind = K_SYSCALL;
	r->pad = 0;
	bpf_ringbuf_submit(r, 0);
	return 0;
}
