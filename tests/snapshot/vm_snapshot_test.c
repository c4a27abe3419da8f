/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshots of a running machine on the real /dev/kvm, with a tiny PVH "kernel" (built here as an
 * ELF file) that writes 0x5a to COM1's scratch register and then counts in EAX, storing the count
 * to guest memory on every iteration. Pause/resume (also from concurrent threads), save, destroy,
 * restore into a new machine, resume: the count goes on from the saved value, registers match.
 * Round trip save -> restore -> save gives the same state; every byte flip and every truncation
 * at a section boundary is refused. Skips when /dev/kvm is unusable.
 */
#include <elf.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "snapshot/format.h"
#include "snapshot/kvmstate.h"
#include "snapshot/snapshot.h"
#include "tests/tap.h"
#include "vmm/machine.h"
#include "vmm/pvh.h"

#define KADDR 0x1000000ull
#define COUNTER_GPA 0x1100000ull
#define MEM_MIB 32

static char tmpdir[] = "/tmp/sm-snapshot-test-XXXXXX";

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static size_t put_note(uint8_t *p, const char *name, uint32_t type, const void *desc, uint32_t descsz)
{
	Elf64_Nhdr nh = {(uint32_t)strlen(name) + 1, descsz, type};
	size_t off = sizeof(nh);

	memcpy(p, &nh, sizeof(nh));
	memcpy(p + off, name, nh.n_namesz);
	off += (nh.n_namesz + 3) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

/* Write the counting guest as an ELF with a PVH entry note; returns its path. */
static char *write_kernel(void)
{
	static const uint8_t code[] = {
	    0xb0, 0x5a,			  /* mov al, 0x5a */
	    0x66, 0xba, 0xff, 0x03,	  /* mov dx, 0x3ff (COM1 scratch) */
	    0xee,			  /* out dx, al */
	    0x31, 0xc0,			  /* xor eax, eax */
	    0x40,			  /* loop: inc eax */
	    0xa3, 0x00, 0x00, 0x10, 0x01, /* mov [0x1100000], eax */
	    0xeb, 0xf8,			  /* jmp loop */
	};
	uint8_t buf[4096] = {0};
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(*eh));
	uint64_t entry = KADDR;
	size_t n;
	char *path = sm_xasprintf("%s/kernel", tmpdir);
	sm_error_t err = SM_ERROR_INIT;

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = KADDR;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 2;
	n = put_note(buf + 0x200, "Xen", SM_PVH_NOTE_PHYS32_ENTRY, &entry, 8);
	ph[0] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = 0x200, .p_filesz = n, .p_memsz = n};
	ph[1] = (Elf64_Phdr){.p_type = PT_LOAD,
			     .p_offset = 0x400,
			     .p_paddr = KADDR,
			     .p_vaddr = KADDR,
			     .p_filesz = sizeof(code),
			     .p_memsz = sizeof(code)};
	memcpy(buf + 0x400, code, sizeof(code));
	if (sm_write_file_atomic(path, buf, 0x400 + sizeof(code), 0644, &err) < 0)
		tap_diag("%s", err.msg);
	return path;
}

static struct sm_machine_config config(const char *kernel, unsigned int ncpus)
{
	return (struct sm_machine_config){.kernel_path = kernel,
					  .mem_mib = MEM_MIB,
					  .ncpus = ncpus,
					  .console_out_fd = -1,
					  .console_in_fd = -1};
}

static uint32_t counter(struct sm_machine *m)
{
	uint32_t v = 0;
	sm_guest_read(sm_vm_mem(sm_machine_vm(m)), COUNTER_GPA, &v, sizeof(v));
	return v;
}

static int get_regs(struct sm_machine *m, struct kvm_regs *regs)
{
	return ioctl(sm_vm_vcpu_fd(sm_machine_vm(m), 0), KVM_GET_REGS, regs);
}

struct hammer {
	struct sm_vm *vm;
	int failures;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	sm_error_t err = SM_ERROR_INIT;

	for (int i = 0; i < 30; i++) {
		if (sm_vm_pause(h->vm, &err) < 0 || sm_vm_resume(h->vm, &err) < 0)
			h->failures++;
	}
	return NULL;
}

/* Pause is idempotent, stops the count, resume continues it; concurrent callers do not deadlock. */
static void test_pause(struct sm_machine *m)
{
	struct sm_vm *vm = sm_machine_vm(m);
	sm_error_t err = SM_ERROR_INIT;
	struct hammer h[2] = {{vm, 0}, {vm, 0}};
	pthread_t t[2];
	struct kvm_regs regs;
	uint32_t a, b;

	ok(!sm_vm_paused(vm), "a started VM is not paused");
	ok(sm_vm_pause(vm, &err) == 0, "pause: %s", err.msg);
	ok(sm_vm_paused(vm), "paused");
	ok(sm_vm_pause(vm, &err) == 0, "pausing again is a no-op");
	a = counter(m);
	memset(&regs, 0, sizeof(regs));
	get_regs(m, &regs);
	ok(regs.rax == a || regs.rax == a + 1, "paused at a consistent point: EAX %llu, memory %u",
	   (unsigned long long)regs.rax, a);
	sleep_ms(150);
	b = counter(m);
	ok(a == b && a > 0, "the count does not move while paused (%u, %u)", a, b);
	ok(sm_vm_resume(vm, &err) == 0 && !sm_vm_paused(vm), "resume");
	ok(sm_vm_resume(vm, &err) == 0, "resuming a running VM is a no-op");
	sleep_ms(150);
	ok(counter(m) > b, "counting again after resume (%u > %u)", counter(m), b);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hammer_main, &h[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ok(h[0].failures == 0 && h[1].failures == 0, "60 pause/resume pairs from two threads");
	a = counter(m);
	sleep_ms(100);
	ok(!sm_vm_paused(vm) && counter(m) > a, "still running after the concurrent pauses");
}

static char *read_all(const char *path, size_t *len)
{
	char *data = NULL;
	sm_error_t err = SM_ERROR_INIT;
	if (sm_read_file(path, 1 << 26, &data, len, &err) < 0)
		tap_diag("%s", err.msg);
	return data;
}

/* Decode a vCPU or VM section, clear what depends on the host clock (TSC, kvmclock, PIT load time),
 * and re-encode, so two snapshots of the same guest state compare equal byte for byte. */
static void normalise(const struct sm_snap_section *s, struct sm_state_buf *out)
{
	sm_error_t err = SM_ERROR_INIT;

	sm_state_buf_init(out);
	if (s->type == SM_SNAP_SEC_VCPU) {
		struct sm_vcpu_state st;
		if (sm_vcpu_state_decode(s->data, s->len, &st, &err) == 0) {
			for (uint32_t i = 0; i < st.nmsrs; i++)
				if (st.msrs[i].index == 0x10 || st.msrs[i].index == 0x6e0)
					st.msrs[i].data = 0;
			memset(st.lapic.regs + 0x390, 0, 4); /* timer current count */
			sm_vcpu_state_encode(&st, out);
		}
		sm_vcpu_state_free(&st);
	} else if (s->type == SM_SNAP_SEC_VM) {
		struct sm_vmstate st;
		if (sm_vmstate_decode(s->data, s->len, &st, &err) == 0) {
			st.clock.clock = 0;
			for (int i = 0; i < 3; i++)
				st.pit.channels[i].count_load_time = 0;
			sm_vmstate_encode(&st, out);
		}
	} else {
		sm_state_put(out, s->data, s->len);
	}
}

static void compare_snapshots(const char *dir1, const char *dir2)
{
	cleanup_free char *p1 = sm_xasprintf("%s/%s", dir1, SM_SNAPSHOT_STATE_FILE);
	cleanup_free char *p2 = sm_xasprintf("%s/%s", dir2, SM_SNAPSHOT_STATE_FILE);
	size_t l1 = 0, l2 = 0;
	cleanup_free char *a = read_all(p1, &l1), *b = read_all(p2, &l2);
	struct sm_snap_file *f1 = calloc(1, sizeof(*f1)), *f2 = calloc(1, sizeof(*f2));
	sm_error_t err = SM_ERROR_INIT;
	int same = 0;

	if (a == NULL || b == NULL || sm_snap_parse((uint8_t *)a, l1, f1, &err) < 0 ||
	    sm_snap_parse((uint8_t *)b, l2, f2, &err) < 0) {
		ok(0, "round trip: parse both snapshots: %s", err.msg);
		goto out;
	}
	ok(f1->n == f2->n, "round trip: same number of sections (%u, %u)", f1->n, f2->n);
	for (unsigned int i = 0; i < f1->n && i < f2->n; i++) {
		struct sm_state_buf x, y;
		normalise(&f1->sec[i], &x);
		normalise(&f2->sec[i], &y);
		if (f1->sec[i].type == f2->sec[i].type && x.len == y.len &&
		    memcmp(x.data, y.data, x.len) == 0)
			same++;
		else
			tap_diag("section %u (%s %u) differs", i, sm_snap_type_name(f1->sec[i].type),
				 f1->sec[i].instance);
		sm_state_buf_free(&x);
		sm_state_buf_free(&y);
	}
	ok(same == (int)f1->n,
	   "round trip save -> restore -> save: all %u sections equal (clock fields aside)", f1->n);
out:
	free(f1);
	free(f2);
}

/* Every byte flip and every cut at a section boundary is refused with a clear message. */
static void test_corruption(const char *dir)
{
	cleanup_free char *path = sm_xasprintf("%s/%s", dir, SM_SNAPSHOT_STATE_FILE);
	size_t len = 0;
	cleanup_free char *img = read_all(path, &len);
	struct sm_snap_file *f = calloc(1, sizeof(*f));
	sm_error_t err = SM_ERROR_INIT;
	unsigned int flips = 0, refused = 0, cuts = 0, cut_refused = 0, unclear = 0;

	if (img == NULL || sm_snap_parse((uint8_t *)img, len, f, &err) < 0) {
		ok(0, "corruption: parse the snapshot: %s", err.msg);
		free(f);
		return;
	}
	ok(sm_snapshot_check_image((uint8_t *)img, len, &err) == 0, "the intact image validates: %s",
	   err.msg);
	/* Flip bytes: every header and table byte, and in every section its first, middle and last. */
	for (size_t off = 0; off < len; off++) {
		bool test = off < SM_SNAP_HEADER_SIZE + (size_t)f->n * SM_SNAP_ENTRY_SIZE;
		for (unsigned int i = 0; i < f->n && !test; i++) {
			size_t s = (size_t)(f->sec[i].data - (uint8_t *)img), e = s + f->sec[i].len;
			test =
			    f->sec[i].len > 0 && (off == s || off == e - 1 || off == s + f->sec[i].len / 2);
		}
		if (!test)
			continue;
		flips++;
		img[off] ^= 0x5a;
		sm_error_clear(&err);
		if (sm_snapshot_check_image((uint8_t *)img, len, &err) < 0) {
			refused++;
			if (strstr(err.msg, "corrupted") == NULL && strstr(err.msg, "truncated") == NULL &&
			    strstr(err.msg, "magic") == NULL && strstr(err.msg, "version") == NULL &&
			    unclear++ < 3)
				tap_diag("flip at %zu: unclear message: %s", off, err.msg);
		}
		img[off] ^= 0x5a;
	}
	ok(flips > 0 && refused == flips, "%u/%u byte flips refused", refused, flips);
	ok(unclear == 0, "each refusal says corrupted/truncated/magic/version");
	/* Cut at every section boundary and inside the header and table. */
	for (size_t cut = 0; cut < len; cut++) {
		bool test = cut < SM_SNAP_HEADER_SIZE + (size_t)f->n * SM_SNAP_ENTRY_SIZE;
		for (unsigned int i = 0; i < f->n && !test; i++) {
			size_t s = (size_t)(f->sec[i].data - (uint8_t *)img);
			test = cut == s || cut == s + f->sec[i].len || cut == s + f->sec[i].len / 2;
		}
		if (!test)
			continue;
		cuts++;
		if (sm_snapshot_check_image((uint8_t *)img, cut, &err) < 0)
			cut_refused++;
	}
	ok(cuts > 0 && cut_refused == cuts, "%u/%u truncations refused", cut_refused, cuts);
	sm_snapshot_check_image((uint8_t *)img, len - 1, &err);
	ok(strstr(err.msg, "truncated") != NULL, "a cut file says truncated: %s", err.msg);
	/* Another version, with a valid checksum, is refused by its version. */
	{
		struct sm_snap_writer *w = calloc(1, sizeof(*w));
		struct sm_state_buf out;
		for (unsigned int i = 0; i < f->n; i++)
			sm_state_put(sm_snap_writer_add(w, f->sec[i].type, f->sec[i].instance),
				     f->sec[i].data, f->sec[i].len);
		sm_state_buf_init(&out);
		sm_snap_writer_finish(w, &out);
		ok(out.len == len && memcmp(out.data, img, len) == 0,
		   "the writer reproduces the file exactly");
		out.data[8] = 2; /* major 2; the checksum is checked after the version */
		sm_error_clear(&err);
		ok(sm_snapshot_check_image(out.data, out.len, &err) < 0 &&
		       strstr(err.msg, "version 2.0") != NULL,
		   "format version 2.0 is refused: %s", err.msg);
		sm_state_buf_free(&out);
		sm_snap_writer_free(w);
		free(w);
	}
	free(f);
}

/* A corrupted state file and a short memory file make sm_snapshot_load fail (nothing applied). */
static void test_load_refusals(const char *dir)
{
	cleanup_free char *bad = sm_xasprintf("%s/bad", tmpdir);
	cleanup_free char *src = sm_xasprintf("%s/%s", dir, SM_SNAPSHOT_STATE_FILE);
	cleanup_free char *dst = sm_xasprintf("%s/%s", bad, SM_SNAPSHOT_STATE_FILE);
	cleanup_free char *mem = sm_xasprintf("%s/%s", bad, SM_SNAPSHOT_MEM_FILE);
	struct sm_snapshot *s = NULL;
	sm_error_t err = SM_ERROR_INIT;
	size_t len = 0;
	cleanup_free char *img = read_all(src, &len);
	int fd;

	mkdir(bad, 0700);
	if (img == NULL)
		return;
	img[len / 2] ^= 1;
	sm_write_file_atomic(dst, img, len, 0600, &err);
	fd = open(mem, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd >= 0) {
		ftruncate(fd, (off_t)MEM_MIB << 20);
		close(fd);
	}
	ok(sm_snapshot_load(bad, &s, &err) < 0 && strstr(err.msg, "corrupted") != NULL,
	   "load refuses a corrupted state file: %s", err.msg);
	img[len / 2] ^= 1;
	sm_write_file_atomic(dst, img, len, 0600, &err);
	truncate(mem, ((off_t)MEM_MIB << 20) - 4096);
	sm_error_clear(&err);
	ok(sm_snapshot_load(bad, &s, &err) < 0 && strstr(err.msg, "memory file") != NULL,
	   "load refuses a truncated memory file: %s", err.msg);
	truncate(mem, (off_t)MEM_MIB << 20);
	sm_error_clear(&err);
	ok(sm_snapshot_load(bad, &s, &err) == 0, "and accepts them repaired: %s", err.msg);
	sm_snapshot_free(s);
}

static struct sm_machine *restore(const char *kernel, const char *dir, struct kvm_regs *regs_after_apply)
{
	struct sm_machine_config cfg = config(NULL, 2);
	struct sm_snapshot_stats st;
	struct sm_snapshot *s = NULL;
	struct sm_machine *m = NULL;
	sm_error_t err = SM_ERROR_INIT;
	uint64_t t0 = sm_now_ns();

	(void)kernel;
	if (sm_snapshot_load(dir, &s, &err) < 0) {
		ok(0, "load: %s", err.msg);
		return NULL;
	}
	ok(sm_snapshot_get_info(s)->ncpus == 2 && sm_snapshot_get_info(s)->mem_mib == MEM_MIB,
	   "snapshot info: 2 vCPUs, %d MiB", MEM_MIB);
	if (sm_machine_create_restore(&cfg, sm_snapshot_mem_path(s), &m, &err) < 0 ||
	    sm_snapshot_apply(s, m, &st, &err) < 0) {
		ok(0, "restore: %s", err.msg);
		sm_snapshot_free(s);
		sm_machine_destroy(m);
		return NULL;
	}
	ok(1, "restored in %.2f ms (load + create + apply); %u MSRs refused",
	   (double)(sm_now_ns() - t0) / 1e6, st.msrs_failed);
	ok(st.msrs_failed == 0, "every saved MSR was accepted");
	get_regs(m, regs_after_apply);
	sm_snapshot_free(s);
	return m;
}

int main(void)
{
	cleanup_free char *kernel = NULL, *dir1 = NULL, *dir2 = NULL;
	struct sm_machine_config cfg;
	struct sm_machine *m = NULL;
	struct sm_snapshot_stats st;
	struct sm_machine_state ms;
	struct kvm_regs saved, restored;
	sm_error_t err = SM_ERROR_INIT;
	uint32_t c_saved;

	if (access("/dev/kvm", R_OK | W_OK) != 0)
		tap_skip_all("/dev/kvm is not accessible");
	if (mkdtemp(tmpdir) == NULL)
		tap_skip_all("mkdtemp failed");
	kernel = write_kernel();
	dir1 = sm_xasprintf("%s/snap1", tmpdir);
	dir2 = sm_xasprintf("%s/snap2", tmpdir);
	cfg = config(kernel, 2); /* vCPU 1 waits for INIT/SIPI inside KVM_RUN: pause must kick it too */
	if (sm_machine_create(&cfg, &m, &err) < 0 || sm_machine_start(m, &err) < 0) {
		ok(0, "boot the counting guest: %s", err.msg);
		sm_machine_destroy(m);
		return tap_done();
	}
	sleep_ms(200);
	test_pause(m);

	ok(sm_snapshot_save(m, dir1, NULL, &err) < 0 && strstr(err.msg, "paused") != NULL,
	   "saving a running VM is refused: %s", err.msg);
	ok(sm_vm_pause(sm_machine_vm(m), &err) == 0, "pause for the snapshot");
	c_saved = counter(m);
	get_regs(m, &saved);
	sm_error_clear(&err);
	ok(sm_snapshot_save(m, dir1, &st, &err) == 0, "save: %s", err.msg);
	tap_diag("saved in %.2f ms: %llu bytes of memory written, state %llu bytes, %u MSRs skipped",
		 (double)st.ns / 1e6, (unsigned long long)st.mem_bytes_written,
		 (unsigned long long)st.state_bytes, st.msrs_skipped);
	ok(st.mem_bytes_written > 0 && st.mem_bytes_written < (4u << 20),
	   "memory file is sparse: %llu bytes written of %d MiB", (unsigned long long)st.mem_bytes_written,
	   MEM_MIB);
	{
		cleanup_free char *mp = sm_xasprintf("%s/%s", dir1, SM_SNAPSHOT_MEM_FILE);
		struct stat sb;
		memset(&sb, 0, sizeof(sb));
		stat(mp, &sb);
		ok(sb.st_size == (off_t)MEM_MIB << 20 && (uint64_t)sb.st_blocks * 512 < (8u << 20),
		   "memory file: %d MiB long, %llu KiB allocated", MEM_MIB,
		   (unsigned long long)sb.st_blocks / 2);
	}
	sm_machine_destroy(m);

	m = restore(kernel, dir1, &restored);
	if (m == NULL)
		return tap_done();
	ok(memcmp(&saved, &restored, sizeof(saved)) == 0,
	   "registers after restore equal the saved ones (rip 0x%llx, eax %llu)",
	   (unsigned long long)restored.rip, (unsigned long long)restored.rax);
	ok(counter(m) == c_saved, "guest memory holds the saved count (%u)", c_saved);
	sm_machine_get_state(m, &ms);
	ok(ms.uart[0].scr == 0x5a, "COM1 scratch register restored (0x%x)", ms.uart[0].scr);
	/* Round trip: the restored, not yet run machine saves to the same state. */
	sm_vm_pause(sm_machine_vm(m), &err);
	sm_error_clear(&err);
	ok(sm_snapshot_save(m, dir2, NULL, &err) == 0, "save the restored machine: %s", err.msg);
	compare_snapshots(dir1, dir2);
	sm_vm_resume(sm_machine_vm(m), &err);
	sm_error_clear(&err);
	ok(sm_machine_start_restored(m, &err) == 0, "start the restored machine: %s", err.msg);
	sleep_ms(200);
	sm_vm_pause(sm_machine_vm(m), &err);
	get_regs(m, &restored);
	ok(counter(m) > c_saved && restored.rax > saved.rax, "the count went on from %u to %u", c_saved,
	   counter(m));
	{
		cleanup_free char *mp = sm_xasprintf("%s/%s", dir1, SM_SNAPSHOT_MEM_FILE);
		uint32_t v = 0;
		int fd = open(mp, O_RDONLY);
		if (fd < 0 || pread(fd, &v, 4, (off_t)COUNTER_GPA) != 4)
			v = 0;
		ok(v == c_saved, "the memory file is untouched by the restored guest (copy-on-write): %u", v);
		if (fd >= 0)
			close(fd);
	}
	sm_machine_destroy(m);

	test_corruption(dir1);
	test_load_refusals(dir1);
	if (getenv("SM_TEST_KEEP") != NULL) {
		tap_diag("kept %s", tmpdir);
	} else {
		cleanup_free char *cmd = sm_xasprintf("rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			tap_diag("could not remove %s", tmpdir);
	}
	return tap_done();
}
