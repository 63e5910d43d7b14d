/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Maps and helpers every Vigil program shares: filtering, the per-thread
 * syscall stash, record assembly and the ring buffer. */
#ifndef VIGIL_COMMON_H
#define VIGIL_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "event.h"

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFIFO 0010000
#define PROC_SUPER_MAGIC 0x9fa0
#define PROT_EXEC 0x4
#define AF_INET 2
#define AF_INET6 10
#define AF_UNIX 1

/* Per-syscall tracepoint contexts (see the format files of the syscalls tracepoints): the
 * syscall number is an int followed by padding, then 8-byte arguments. */
struct sys_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by the loader */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_config);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct cgroup_key);
	__type(value, __u8);
} include_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct cgroup_key);
	__type(value, __u8);
} exclude_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct cgroup_key);
	__type(value, __u8);
} sequence_cgroups SEC(".maps");

/* Arguments saved at sys_enter until sys_exit supplies the return value.
 * Task storage: no hashing, no locking, freed with the thread, so a thread
 * killed inside a syscall leaves nothing behind. kind 0 means empty. */
struct stash {
	__u64 args[6];
	__u32 kind;
	__s32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stash);
} stashes SEC(".maps");

struct rate_bucket {
	__u64 last_ns;
	__u64 tokens; /* scaled by 1e9 so refills need no division by rate */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct rate_bucket);
} buckets SEC(".maps");

/* Records are assembled here, then copied into the ring buffer with their
 * real length. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &c);
	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

static __always_inline struct vigil_config *get_config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&settings, &zero);
}

/* The kernfs id of the task's cgroup in the v1 memory hierarchy, which is
 * the inode number of its directory under /sys/fs/cgroup/memory. On a pure v2
 * host this is the v2 cgroup's id. */
static __always_inline __u64 cgroup_v1_id(struct task_struct *t)
{
	struct css_set *cs = BPF_CORE_READ(t, cgroups);
	int idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct cgroup_subsys_state *css = NULL;

	if (!cs || idx < 0 || idx >= 16)
		return 0;
	bpf_probe_read_kernel(&css, sizeof(css), (void *)cs + bpf_core_field_offset(struct css_set, subsys) +
							 idx * sizeof(void *));
	if (!css)
		return 0;
	return BPF_CORE_READ(css, cgroup, kn, id);
}

static __always_inline bool cgroup_in(void *map, __u64 v2, __u64 v1)
{
	struct cgroup_key k = { .id = v2, .hier = 2 };

	if (bpf_map_lookup_elem(map, &k))
		return true;
	k.id = v1;
	k.hier = 1;
	return bpf_map_lookup_elem(map, &k) != NULL;
}

/* wanted decides in the kernel whether the current task is watched: never
 * the agent itself (by tgid), then the cgroup include and exclude sets. */
static __always_inline bool wanted(void)
{
	struct vigil_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!cfg)
		return false;
	if (tgid == cfg->self_tgid)
		return false;
	if (cfg->include_mode || cfg->exclude_mode) {
		struct task_struct *t = (void *)bpf_get_current_task();
		__u64 v2 = bpf_get_current_cgroup_id();
		__u64 v1 = cgroup_v1_id(t);

		if (cfg->include_mode && !cgroup_in(&include_cgroups, v2, v1)) {
			count(C_FILTERED);
			return false;
		}
		if (cfg->exclude_mode && cgroup_in(&exclude_cgroups, v2, v1)) {
			count(C_FILTERED);
			return false;
		}
	}
	return true;
}

/* rate_ok is a token bucket per process. Process lifecycle events skip it:
 * losing an exec or exit would corrupt the process table downstream. */
static __always_inline bool rate_ok(void)
{
	struct vigil_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 now, cap, per;
	struct rate_bucket *b;

	if (!cfg || cfg->rate == 0)
		return true;
	per = 1000000000ULL; /* one token */
	cap = (__u64)(cfg->burst ? cfg->burst : cfg->rate) * per;
	now = bpf_ktime_get_ns();
	b = bpf_map_lookup_elem(&buckets, &tgid);
	if (!b) {
		struct rate_bucket nb = { .last_ns = now, .tokens = cap - per };
		bpf_map_update_elem(&buckets, &tgid, &nb, BPF_ANY);
		return true;
	}
	b->tokens += (now - b->last_ns) * cfg->rate;
	if (b->tokens > cap)
		b->tokens = cap;
	b->last_ns = now;
	if (b->tokens < per) {
		count(C_RATE_LIMITED);
		return false;
	}
	b->tokens -= per;
	return true;
}

static __always_inline struct event *new_event(__u16 kind, __s32 nr)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	unsigned int level;
	struct pid *tp;

	if (!e)
		return NULL;
	e->ts = bpf_ktime_get_boot_ns();
	e->cgroup_v2 = bpf_get_current_cgroup_id();
	e->cgroup_v1 = cgroup_v1_id(t);
	e->ret = 0;
	e->a[0] = e->a[1] = e->a[2] = e->a[3] = 0;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	/* Direct loads through the BTF-typed task: no helper call per field. */
	e->ppid = t->real_parent->tgid;
	tp = t->thread_pid;
	level = tp->level;
	e->ns_pid = 0;
	bpf_probe_read_kernel(&e->ns_pid, sizeof(e->ns_pid),
			      (void *)tp + bpf_core_field_offset(struct pid, numbers) +
				      (level & 31) * bpf_core_type_size(struct upid) +
				      bpf_core_field_offset(struct upid, nr));
	e->uid = (__u32)ug;
	e->gid = ug >> 32;
	e->euid = t->cred->euid.val;
	e->egid = t->cred->egid.val;
	e->syscall = nr;
	e->kind = kind;
	e->flags = 0;
	e->len[0] = e->len[1] = e->len[2] = e->len[3] = 0;
	e->family = 0;
	e->proto = 0;
	e->sport = e->dport = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

static __always_inline void submit(struct event *e, __u32 used)
{
	__u64 size = offsetof(struct event, data) + (used & (DATA_SIZE - 1));

	if (used >= DATA_SIZE)
		size = offsetof(struct event, data) + DATA_SIZE;
	if (bpf_ringbuf_output(&events, e, size, 0))
		count(C_RING_DROPS);
}

/* Blob writers. Each takes the offset where the blob starts and returns the
 * offset after it; a blob's length goes into e->len[slot]. */

static __always_inline __u32 put_user_str(struct event *e, __u32 off, int slot, const void *src, __u32 max)
{
	long n;

	if (off >= DATA_SIZE)
		return off;
	n = bpf_probe_read_user_str(&e->data[off & DATA_MASK], max, src);
	if (n <= 0)
		return off;
	if (n == max)
		e->flags |= F_TRUNC0 << slot;
	n--; /* drop the NUL; lengths are explicit */
	e->len[slot & 3] = n;
	return off + n;
}

static __always_inline __u32 put_kernel_str(struct event *e, __u32 off, int slot, const void *src, __u32 max)
{
	long n;

	if (off >= DATA_SIZE)
		return off;
	n = bpf_probe_read_kernel_str(&e->data[off & DATA_MASK], max, src);
	if (n <= 0)
		return off;
	if (n == max)
		e->flags |= F_TRUNC0 << slot;
	n--;
	e->len[slot & 3] = n;
	return off + n;
}

static __always_inline __u32 put_user_bytes(struct event *e, __u32 off, int slot, const void *src, __u64 len,
					     __u32 max)
{
	if (off >= DATA_SIZE)
		return off;
	if (len > max) {
		len = max;
		e->flags |= F_TRUNC0 << slot;
	}
	len &= (DATA_SLACK - 1);
	if (bpf_probe_read_user(&e->data[off & DATA_MASK], len, src))
		return off;
	e->len[slot & 3] = len;
	return off + len;
}

/* The walker's state. The field offsets are resolved (CO-RE) by the caller
 * and passed in: relocations inside a bpf_loop callback are not applied
 * reliably by every loader. */
struct walk {
	struct event *e;
	void *d;  /* struct dentry * */
	void *vm; /* struct vfsmount * */
	void *root_d;
	void *root_m;
	__u32 off;
	__u32 done;
	__u32 o_mnt_root;    /* vfsmount.mnt_root */
	__u32 o_d_parent;    /* dentry.d_parent */
	__u32 o_d_name;      /* dentry.d_name.name */
	__u32 o_mnt;         /* mount.mnt */
	__u32 o_mnt_parent;  /* mount.mnt_parent */
	__u32 o_mountpoint;  /* mount.mnt_mountpoint */
};

static __always_inline void *read_ptr(void *base, __u32 off)
{
	void *p = NULL;

	bpf_probe_read_kernel(&p, sizeof(p), base + off);
	return p;
}

/* walk_step handles one dentry; bpf_loop has the verifier look at it once
 * instead of once per iteration. Returns 1 to stop. */
static long walk_step(__u64 i, struct walk *w)
{
	void *mnt = w->vm - w->o_mnt; /* container_of(vm, struct mount, mnt) */
	void *mnt_root, *parent, *name;
	__u32 off = w->off;
	long n;

	if (w->d == w->root_d && w->vm == w->root_m) {
		w->done = 1;
		return 1;
	}
	mnt_root = read_ptr(w->vm, w->o_mnt_root);
	parent = read_ptr(w->d, w->o_d_parent);
	if (w->d == parent && w->d != mnt_root) {
		/* A pseudo file (memfd, pipe, socket): its own name is all
		 * there is, as d_path shows it. */
		name = read_ptr(w->d, w->o_d_name);
		if (off < DATA_SIZE - MAX_NAME) {
			n = bpf_probe_read_kernel_str(&w->e->data[off & DATA_MASK], MAX_NAME, name);
			if (n > 0)
				w->off = off + n;
		}
		w->done = 1;
		return 1;
	}
	if (w->d == mnt_root || w->d == parent) {
		void *mp = read_ptr(mnt, w->o_mnt_parent);

		if (w->d != mnt_root || mp == mnt) {
			w->done = 1; /* the global root, or a detached tree */
			return 1;
		}
		w->d = read_ptr(mnt, w->o_mountpoint);
		w->vm = mp + w->o_mnt;
		return 0;
	}
	name = read_ptr(w->d, w->o_d_name);
	if (off >= DATA_SIZE - MAX_NAME)
		return 1;
	n = bpf_probe_read_kernel_str(&w->e->data[off & DATA_MASK], MAX_NAME, name);
	if (n <= 0)
		return 1;
	w->off = off + n; /* keep the NUL as the separator */
	w->d = parent;
	return 0;
}

/* put_path writes the path of p as NUL-separated components, leaf first, up
 * to the task's root (so a container's paths are as it sees them); user
 * space reverses them. This order needs no prepending, which the verifier
 * makes dear. */
static __always_inline __u32 put_path(struct event *e, __u32 off, int slot, const struct path *p,
				      struct fs_struct *fs)
{
	struct walk w = {
		.e = e,
		.d = BPF_CORE_READ(p, dentry),
		.vm = BPF_CORE_READ(p, mnt),
		.root_d = BPF_CORE_READ(fs, root.dentry),
		.root_m = BPF_CORE_READ(fs, root.mnt),
		.off = off,
		.o_mnt_root = bpf_core_field_offset(struct vfsmount, mnt_root),
		.o_d_parent = bpf_core_field_offset(struct dentry, d_parent),
		.o_d_name = bpf_core_field_offset(struct dentry, d_name) + bpf_core_field_offset(struct qstr, name),
		.o_mnt = bpf_core_field_offset(struct mount, mnt),
		.o_mnt_parent = bpf_core_field_offset(struct mount, mnt_parent),
		.o_mountpoint = bpf_core_field_offset(struct mount, mnt_mountpoint),
	};

	bpf_loop(PATH_DEPTH, walk_step, &w, 0);
	if (!w.done)
		e->flags |= F_TRUNC0 << slot;
	e->flags |= F_COMPONENTS0 << slot;
	e->len[slot & 3] = w.off - off;
	return w.off;
}

static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline __u32 put_file_path(struct event *e, __u32 off, int slot, struct file *f)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct fs_struct *fs = BPF_CORE_READ(t, fs);

	if (!f)
		return off;
	return put_path(e, off, slot, &f->f_path, fs);
}

static __always_inline struct sock *file_sock(struct file *f)
{
	struct socket *s;

	if (!f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	s = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(s, sk);
}

/* fill_net copies a socket's endpoints into the record. */
static __always_inline void fill_net(struct event *e, struct sock *sk)
{
	if (!sk)
		return;
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->proto = BPF_CORE_READ(sk, sk_protocol);
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* Explicit sizes: BPF_CORE_READ_INTO would take sizeof(*e->saddr). */
	if (e->family == AF_INET) {
		bpf_core_read(e->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e->daddr, 4, &sk->__sk_common.skc_daddr);
	} else if (e->family == AF_INET6) {
		bpf_core_read(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	e->flags |= F_NET;
}

/* stash_put saves the first nargs arguments. It must read no more: the
 * kernel refuses (EACCES) to attach a program that reads past the end of a
 * tracepoint's record, and each syscall's record has only its own args. */
static __always_inline void stash_put(struct sys_enter_ctx *ctx, __u32 kind, const int nargs)
{
	struct stash *s = bpf_task_storage_get(&stashes, bpf_get_current_task_btf(), 0,
					       BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!s)
		return;
	s->kind = kind;
	s->nr = ctx->nr;
	/* ctx may only be read at constant offsets: no memcpy. */
	if (nargs > 0)
		s->args[0] = ctx->args[0];
	if (nargs > 1)
		s->args[1] = ctx->args[1];
	if (nargs > 2)
		s->args[2] = ctx->args[2];
	if (nargs > 3)
		s->args[3] = ctx->args[3];
	if (nargs > 4)
		s->args[4] = ctx->args[4];
	if (nargs > 5)
		s->args[5] = ctx->args[5];
}

/* stash_peek returns this thread's stashed syscall, if any. */
static __always_inline struct stash *stash_peek(void)
{
	struct stash *s = bpf_task_storage_get(&stashes, bpf_get_current_task_btf(), 0, 0);

	return s && s->kind ? s : NULL;
}

/* stash_take copies out and clears this thread's stashed syscall. */
static __always_inline bool stash_take(struct stash *out)
{
	struct stash *s = stash_peek();

	if (!s)
		return false;
	__builtin_memcpy(out, s, sizeof(*out));
	s->kind = 0;
	return true;
}

#endif
