/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_COMMON_PROTO_TAGS_H
#define SM_COMMON_PROTO_TAGS_H

/*
 * TLV field tags of the host <-> guest agent protocol (docs/design/guest-protocol.md). One tag
 * space for all messages, so a tag means the same thing wherever it appears. Numbers are part of
 * the wire format: append, never renumber. Types: u32/u64 little-endian, str = bytes without NUL,
 * bytes = opaque, nested = the value is itself a TLV payload with the sub-tags listed under it.
 * "repeated" fields keep their order. Unknown tags are skipped by the receiver.
 *
 * The consumer of the CREATE/EXEC fields is the guest agent (guest/agent/spec.c); the producer is
 * runtime/agent-spec.c, which maps the OCI config.json onto them.
 */

/* Port the agent listens on (AF_VSOCK, guest side). */
#define SM_AGENT_PORT 1024

/*
 * Flow control: each side may have at most this many bytes of a stream's data (STDIN towards the
 * guest; STDOUT+STDERR towards the host) sent but not yet acknowledged with a CREDIT message. The
 * receiver acknowledges bytes once it has passed them on (written them to the process / host fd),
 * so a process that does not read its stdin never blocks the control messages on the connection.
 */
#define SM_PROTO_STREAM_WINDOW (256u * 1024)

/*
 * Optional requests an agent understands, announced in its HELLO (SM_TAG_FEATURES). A frame type
 * an agent does not know ends its connection (its header does not decode), so the host sends
 * such a request only to an agent that announced it. Bits are only ever appended.
 */
#define SM_AGENT_FEATURE_SET_TIME (1u << 0) /* SET_TIME */
/*
 * CREATE fields an older agent would skip silently (unknown tags are skipped), announced so that a
 * host talking to an agent that is not its own can refuse instead (today the agent always comes
 * with the runtime's initramfs, which is part of the template key). CLONE_NEWUSER in NAMESPACES
 * is refused by older agents anyway.
 */
#define SM_AGENT_FEATURE_USERNS (1u << 1)     /* NAMESPACES CLONE_NEWUSER/NEWNET, UID_MAP, GID_MAP */
#define SM_AGENT_FEATURE_PIDS_LIMIT (1u << 2) /* PIDS_LIMIT */
#define SM_AGENT_FEATURE_UPDATE (1u << 3)     /* UPDATE (PIDS_LIMIT, MEMORY_LIMIT of a running container) */
#define SM_AGENT_FEATURE_PROC_ATTRS (1u << 4) /* SCHED, IOPRIO, CPUS_*, TIME_OFFSET, CLONE_NEWTIME */
/* The agent sends OOM (stream 0) when the container's guest cgroup counts an OOM kill (not a request). */
#define SM_AGENT_FEATURE_OOM (1u << 5)

/*
 * UPDATE: PIDS_LIMIT and MEMORY_LIMIT (u64 each, at least one, each at most once) are the new
 * pids.max / memory.max of the container's guest cgroup; SM_LIMIT_UNLIMITED writes "max", 0 is
 * invalid (an absent field is left as is). The agent creates the cgroup when CREATE made none and
 * moves the container's processes into it. The payload is a few fields; a larger one is refused.
 */
#define SM_LIMIT_UNLIMITED (~0ull)
#define SM_UPDATE_MAX_PAYLOAD 4096u

/*
 * SET_TIME bounds: a host clock outside 2020-01-01..2200-01-01 UTC is broken, and the upper bound
 * keeps clear of the kernel's own limit for settable times (about 2232). The payload is a few
 * fields; a larger one is refused.
 */
#define SM_SET_TIME_MIN_SEC 1577836800ull
#define SM_SET_TIME_MAX_SEC 7258118400ull
#define SM_SET_TIME_MAX_PAYLOAD 4096u

/*
 * PS_REPLY bounds: the command line of one process is cut at SM_PS_MAX_CMDLINE bytes, and
 * SM_TAG_PROC entries stop once the payload reaches SM_PS_MAX_PAYLOAD (the PID list always goes
 * out whole), so the monitor can pass the payload on inside a frame of its own.
 */
#define SM_PS_MAX_CMDLINE 4096u
#define SM_PS_MAX_PAYLOAD (768u * 1024)

enum sm_proto_tag {
	/* ---- connection, replies and small requests ---- */
	SM_TAG_VERSION = 1, /* u32, HELLO: SM_PROTO_VERSION of the sender */
	SM_TAG_PID = 2,	    /* u32, OK (after CREATE/EXEC): the process id in the guest; PS_REPLY: repeated */
	SM_TAG_STATUS = 3,  /* u32, EXIT: the exit code, or 128+signal when a signal ended the process */
	SM_TAG_ERRNO = 4,   /* u32, ERROR: errno of the failed step, 0 when the request itself was invalid */
	SM_TAG_MESSAGE = 5, /* str, ERROR: what failed, naming the config field ("mount /proc (proc): ...") */
	SM_TAG_SIGNAL = 6,  /* u32, SIGNAL: the signal number (1..64) */
	SM_TAG_ALL = 7,	    /* u32 0/1, SIGNAL: signal every container process, not just the stream's */
	SM_TAG_ROWS = 8,    /* u32, RESIZE, CREATE, EXEC: terminal rows (with TERMINAL) */
	SM_TAG_COLS = 9,    /* u32, RESIZE, CREATE, EXEC: terminal columns */
	SM_TAG_CREDIT = 10, /* u32, CREDIT: bytes of the stream's data consumed since the last CREDIT */
	SM_TAG_AGENT = 11,  /* str, HELLO from the guest: agent name and version, for logs */
	SM_TAG_TERMSIG = 12, /* u32, EXIT: the signal that ended the process (absent after a normal exit) */
	/* ---- optional features (HELLO) and SET_TIME ---- */
	SM_TAG_FEATURES = 13,  /* u32, HELLO from the guest: SM_AGENT_FEATURE_* bits (absent = none) */
	SM_TAG_TIME_SEC = 14,  /* u64, required, SET_TIME: CLOCK_REALTIME seconds since the epoch */
	SM_TAG_TIME_NSEC = 15, /* u64, required, SET_TIME: nanoseconds, 0..999999999 */
	SM_TAG_PROC = 16,      /* nested, repeated, PS_REPLY: one process, SM_TAG_PROC_* below (after the
				  PID list, which older hosts read; a process may lack one when the reply
				  would grow too large) */
	SM_TAG_OOM_KILLS = 17, /* u64, OOM: oom_kill of the container's guest cgroup (memory.events), a
				  running total: a host that missed one frame still counts right */

	/* ---- the process: CREATE (its first process) and EXEC ---- */
	SM_TAG_ARG = 32,	    /* str, repeated, required: argv in order; args[0] is looked up in PATH */
	SM_TAG_ENV = 33,	    /* str, repeated: "KEY=value", the whole environment */
	SM_TAG_CWD = 34,	    /* str, required: absolute working directory inside the container */
	SM_TAG_UID = 35,	    /* u32: user id (default 0) */
	SM_TAG_GID = 36,	    /* u32: group id (default 0) */
	SM_TAG_ADDITIONAL_GID = 37, /* u32, repeated: supplementary groups (setgroups), none when absent */
	SM_TAG_UMASK = 38,	    /* u32: umask (default 0022, as runc) */
	SM_TAG_TERMINAL = 39,	    /* u32 0/1: give the process a pty (ROWS/COLS: its initial size) */
	SM_TAG_CAP_BOUNDING = 40,   /* u64 capability mask (bit n = capability n). When any SM_TAG_CAP_* */
	SM_TAG_CAP_EFFECTIVE = 41,  /*   field is present all five sets are applied, an absent one as the */
	SM_TAG_CAP_PERMITTED = 42,  /*   empty set; when none is present the capabilities are not touched */
	SM_TAG_CAP_INHERITABLE = 43,
	SM_TAG_CAP_AMBIENT = 44,
	SM_TAG_RLIMIT = 45,	   /* nested, repeated: SM_TAG_RLIMIT_* below */
	SM_TAG_NO_NEW_PRIVS = 46,  /* u32 0/1: prctl(PR_SET_NO_NEW_PRIVS) */
	SM_TAG_OOM_SCORE_ADJ = 47, /* u32 holding an int32 (-1000..1000): /proc/self/oom_score_adj */
	SM_TAG_SECCOMP_BPF = 48,   /* bytes: struct sock_filter[] (8 bytes each, little-endian), <= 4096 */
	SM_TAG_SECCOMP_FLAGS = 49, /* u32: SECCOMP_FILTER_FLAG_* for seccomp(SECCOMP_SET_MODE_FILTER) */
	SM_TAG_TERMINAL_HVC = 50,  /* u32 0/1, with TERMINAL: the terminal is the guest's virtio console
				      /dev/hvc0 (the host relays it), not a pty; no stdio over vsock */
	SM_TAG_SCHED = 51,	   /* nested: process.scheduler, SM_TAG_SCHED_* below: sched_setattr(2) */
	SM_TAG_IOPRIO = 52,	   /* u32: process.ioPriority, IOPRIO_PRIO_VALUE(class, level) */
	SM_TAG_CPUS_INITIAL = 53,  /* str: EXEC, execCPUAffinity.initial ("0-3,7"), set before joining */
	SM_TAG_CPUS_FINAL = 54,	   /* str: EXEC, execCPUAffinity.final, set last before execve */

	/* ---- the container: CREATE only ---- */
	SM_TAG_ROOTFS_TAG = 64,		/* str: the rootfs is the virtio-fs share with this tag, or */
	SM_TAG_ROOTFS_PATH = 65,	/* str: the rootfs is this existing directory (host tests) */
	SM_TAG_ROOTFS_DAX = 66,		/* u32 0/1: mount the virtio-fs rootfs with dax=always */
	SM_TAG_ROOT_READONLY = 67,	/* u32 0/1: root.readonly */
	SM_TAG_NO_PIVOT = 68,		/* u32 0/1: chroot (after MS_MOVE) instead of pivot_root */
	SM_TAG_ROOTFS_PROPAGATION = 69, /* u32: MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE [| MS_REC] */
	SM_TAG_MOUNT = 70,		/* nested, repeated: SM_TAG_MNT_* below, in config order */
	SM_TAG_HOSTNAME = 71,		/* str: sethostname */
	SM_TAG_DOMAINNAME = 72,		/* str: setdomainname */
	SM_TAG_SYSCTL = 73,		/* str, repeated: "net.ipv4.ip_forward=1" (key up to the first '=') */
	SM_TAG_MASKED_PATH = 74,	/* str, repeated: linux.maskedPaths */
	SM_TAG_READONLY_PATH = 75,	/* str, repeated: linux.readonlyPaths */
	SM_TAG_DEVICE = 76,		/* nested, repeated: SM_TAG_DEV_* below (linux.devices + defaults) */
	SM_TAG_NAMESPACES = 77,		/* u32: CLONE_NEWPID|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWCGROUP
					   (|CLONE_NEWUSER|CLONE_NEWNET, SM_AGENT_FEATURE_USERNS)
					   (|CLONE_NEWTIME, with TIME_OFFSET) to create
					   inside the guest; a mount namespace is always created */
	SM_TAG_UID_MAP = 78,		/* nested, repeated: SM_TAG_IDMAP_* below; with CLONE_NEWUSER */
	SM_TAG_GID_MAP = 79,		/* nested, repeated: SM_TAG_IDMAP_* below; with CLONE_NEWUSER */
	SM_TAG_PIDS_LIMIT = 80,		/* u64 > 0: pids.max of the container's guest cgroup v2
					   (also UPDATE, where SM_LIMIT_UNLIMITED means "max") */
	SM_TAG_MEMORY_LIMIT = 81,	/* u64 > 0: linux.resources.memory.limit; the agent writes
					   memory.max = min(it, MemAvailable - reserve) in that cgroup
					   (also UPDATE, where SM_LIMIT_UNLIMITED means "max") */
	SM_TAG_TIME_OFFSET = 82,	/* nested, repeated: SM_TAG_TOFF_* below, linux.timeOffsets; with
					   CLONE_NEWTIME in NAMESPACES (a new time namespace in the guest) */

	/* ---- SM_TAG_MOUNT sub-fields ---- */
	SM_TAG_MNT_DEST = 96,	      /* str, required: absolute path inside the rootfs */
	SM_TAG_MNT_TYPE = 97,	      /* str: file system type ("proc", "tmpfs", "bind", ...) */
	SM_TAG_MNT_SOURCE = 98,	      /* str: source; with MNT_SOURCE_TAG, the path inside that share */
	SM_TAG_MNT_SOURCE_TAG = 99,   /* str: the source is this virtio-fs share (bind of MNT_SOURCE in it) */
	SM_TAG_MNT_FLAGS = 100,	      /* u64: MS_* flags from the options (MS_BIND, MS_RDONLY, ...) */
	SM_TAG_MNT_DATA = 101,	      /* str: options that are not flags ("mode=755,size=65536k") */
	SM_TAG_MNT_PROPAGATION = 102, /* u32: MS_SHARED/... [| MS_REC] applied after the mount */
	SM_TAG_MNT_ATTR_SET = 103,    /* u64: MOUNT_ATTR_* set recursively (rro, rnosuid, ...) */
	SM_TAG_MNT_ATTR_CLR = 104,    /* u64: MOUNT_ATTR_* cleared recursively (rrw, rsuid, ...) */
	SM_TAG_MNT_DAX = 105,	      /* u32 0/1: with MNT_SOURCE_TAG, mount the share with dax=always */

	/* ---- SM_TAG_DEVICE sub-fields ---- */
	SM_TAG_DEV_PATH = 112,	/* str, required: absolute path inside the container */
	SM_TAG_DEV_TYPE = 113,	/* u32, required: S_IFCHR, S_IFBLK or S_IFIFO */
	SM_TAG_DEV_MAJOR = 114, /* u32 */
	SM_TAG_DEV_MINOR = 115, /* u32 */
	SM_TAG_DEV_MODE = 116,	/* u32: permission bits (default 0666) */
	SM_TAG_DEV_UID = 117,	/* u32: owner (default 0) */
	SM_TAG_DEV_GID = 118,	/* u32: group (default 0) */

	/* ---- SM_TAG_RLIMIT sub-fields ---- */
	SM_TAG_RLIMIT_RESOURCE = 120, /* u32, required: RLIMIT_* number */
	SM_TAG_RLIMIT_SOFT = 121,     /* u64, required: soft limit (RLIM_INFINITY = ~0) */
	SM_TAG_RLIMIT_HARD = 122,     /* u64, required: hard limit */

	/* ---- SM_TAG_UID_MAP / SM_TAG_GID_MAP sub-fields (one line of /proc/<pid>/[ug]id_map) ---- */
	SM_TAG_IDMAP_CONTAINER = 124, /* u32, required: first id inside the container's user namespace */
	SM_TAG_IDMAP_HOST = 125,      /* u32, required: first id in the guest's initial user namespace */
	SM_TAG_IDMAP_SIZE = 126,      /* u32, required, > 0: number of ids */

	/* ---- SM_TAG_PROC sub-fields (PS_REPLY), from the guest's /proc/<pid>/{stat,status,cmdline} ---- */
	SM_TAG_PROC_PID = 128,	      /* u32, required: pid in the agent's (the guest's) pid namespace */
	SM_TAG_PROC_PPID = 129,	      /* u32: parent pid */
	SM_TAG_PROC_PGID = 130,	      /* u32: process group */
	SM_TAG_PROC_SID = 131,	      /* u32: session */
	SM_TAG_PROC_UID = 132,	      /* u32: effective uid */
	SM_TAG_PROC_GID = 133,	      /* u32: effective gid */
	SM_TAG_PROC_STATE = 134,      /* u32: the state letter (R, S, D, Z, T, ...) */
	SM_TAG_PROC_TTY = 135,	      /* u32: controlling tty as /proc's tty_nr (0: none) */
	SM_TAG_PROC_NICE = 136,	      /* u32 holding an int32: nice value */
	SM_TAG_PROC_THREADS = 137,    /* u32: number of threads */
	SM_TAG_PROC_START = 138,      /* u64: start time, seconds since the epoch (guest clock) */
	SM_TAG_PROC_ELAPSED_MS = 139, /* u64: milliseconds since it started */
	SM_TAG_PROC_CPU_MS = 140,     /* u64: user + system CPU time in milliseconds */
	SM_TAG_PROC_VSZ_KB = 141,     /* u64: virtual memory size, KiB */
	SM_TAG_PROC_RSS_KB = 142,     /* u64: resident set size, KiB */
	SM_TAG_PROC_COMM = 143,	      /* str: the command name (at most 15 bytes) */
	SM_TAG_PROC_ARG = 144, /* str, repeated: the command line (none for zombies and kernel threads),
				  at most SM_PS_MAX_CMDLINE bytes in all */

	/* ---- SM_TAG_SCHED sub-fields (struct sched_attr of sched_setattr(2)) ---- */
	SM_TAG_SCHED_POLICY = 160,   /* u32, required: SCHED_OTHER (0), FIFO, RR, BATCH, IDLE (5), DEADLINE */
	SM_TAG_SCHED_NICE = 161,     /* u32 holding an int32 (-20..19) */
	SM_TAG_SCHED_PRIORITY = 162, /* u32: sched_priority */
	SM_TAG_SCHED_FLAGS = 163,    /* u64: SCHED_FLAG_* */
	SM_TAG_SCHED_RUNTIME = 164,  /* u64: ns, SCHED_DEADLINE */
	SM_TAG_SCHED_DEADLINE = 165, /* u64: ns */
	SM_TAG_SCHED_PERIOD = 166,   /* u64: ns */

	/* ---- SM_TAG_TIME_OFFSET sub-fields (one line of /proc/self/timens_offsets) ---- */
	SM_TAG_TOFF_CLOCK = 168, /* u32, required: CLOCK_MONOTONIC (1) or CLOCK_BOOTTIME (7) */
	SM_TAG_TOFF_SECS = 169,	 /* u64 holding an int64: seconds */
	SM_TAG_TOFF_NSECS = 170, /* u32: nanoseconds, 0..999999999 */
};

#endif
