/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VMM selftests on the real /dev/kvm, in the style of the kernel's KVM selftests: each test
 * assembles a tiny guest (machine code bytes below, real mode or 32-bit protected mode), runs it
 * on a VM from vmm/vm.h and checks the exits the VMM saw. Guest kernel-mode code is emulated on
 * kvm_pvm hosts, so payloads stay a handful of instructions. Skips when /dev/kvm is unusable.
 */
#include <linux/kvm.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/tap.h"
#include "vmm/layout.h"
#include "vmm/uart.h"
#include "vmm/vm.h"
#include "vmm/x86.h"

#define TEST_PORT 0x500
#define TIMEOUT_NS (60ll * 1000000000)

/* A device that records writes and answers reads with a fixed value. */
struct recorder {
	pthread_mutex_t lock;
	uint64_t offsets[16], values[16];
	unsigned int sizes[16];
	unsigned int n;
	uint64_t answer;
	unsigned int reads;
};

static uint64_t rec_read(void *opaque, uint64_t offset, unsigned int size)
{
	struct recorder *r = opaque;
	(void)offset;
	(void)size;
	pthread_mutex_lock(&r->lock);
	r->reads++;
	pthread_mutex_unlock(&r->lock);
	return r->answer;
}

static void rec_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
	struct recorder *r = opaque;
	pthread_mutex_lock(&r->lock);
	if (r->n < 16) {
		r->offsets[r->n] = offset;
		r->values[r->n] = value;
		r->sizes[r->n] = size;
		r->n++;
	}
	pthread_mutex_unlock(&r->lock);
}

static const struct sm_bus_ops rec_ops = {rec_read, rec_write};

static void rec_init(struct recorder *r, uint64_t answer)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->answer = answer;
}

static struct sm_vm *make_vm(uint64_t mem, unsigned int ncpus, bool irqchip)
{
	struct sm_vm_config cfg = {.mem_size = mem, .ncpus = ncpus, .no_irqchip = !irqchip};
	sm_error_t err = SM_ERROR_INIT;
	struct sm_vm *vm = NULL;

	if (sm_vm_create(&cfg, &vm, &err) < 0) {
		ok(0, "create VM: %s", err.msg);
		return NULL;
	}
	return vm;
}

static void load(struct sm_vm *vm, uint64_t gpa, const void *code, size_t len)
{
	if (sm_guest_write(sm_vm_mem(vm), gpa, code, len) < 0)
		ok(0, "load payload at 0x%llx", (unsigned long long)gpa);
}

/* Real mode, all segments at 0, execution at rip. */
static int set_real_mode(struct sm_vm *vm, unsigned int vcpu, uint64_t rip)
{
	int fd = sm_vm_vcpu_fd(vm, vcpu);
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	struct kvm_segment *segs[] = {&sregs.cs, &sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss};
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		segs[i]->selector = 0;
		segs[i]->base = 0;
	}
	sregs.cr0 &= ~SM_X86_CR0_PE;
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		return -1;
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rflags = 2;
	regs.rsp = 0x800;
	return ioctl(fd, KVM_SET_REGS, &regs);
}

/* 32-bit protected mode exactly as the PVH boot path sets it up (GDT in guest memory). */
static int set_pmode(struct sm_vm *vm, uint32_t rip, uint64_t ebx)
{
	uint64_t gdt[SM_X86_BOOT_GDT_ENTRIES];
	sm_error_t err = SM_ERROR_INIT;

	sm_x86_boot_gdt(gdt);
	load(vm, SM_BOOT_GDT_ADDR, gdt, sizeof(gdt));
	if (sm_x86_setup_pvh(sm_vm_vcpu_fd(vm, 0), rip, ebx, SM_BOOT_GDT_ADDR, &err) < 0) {
		tap_diag("%s", err.msg);
		return -1;
	}
	return 0;
}

static int run_vm(struct sm_vm *vm, struct sm_vm_stop_info *info)
{
	sm_error_t err = SM_ERROR_INIT;

	if (sm_vm_start(vm, &err) < 0) {
		tap_diag("start: %s", err.msg);
		return -1;
	}
	if (sm_vm_wait(vm, TIMEOUT_NS, info) < 0) {
		sm_vm_stop(vm, SM_VM_STOP_REQUESTED, "test timeout");
		sm_vm_wait(vm, -1, info);
		return -1;
	}
	sm_vm_join(vm);
	return 0;
}

static void test_pio(void)
{
	/* mov al,0x42; mov dx,0x500; out dx,al; in al,dx; out dx,al; mov dx,0x600; out dx,al; in al,dx;
	 * mov dx,0x500; out dx,al; hlt */
	static const uint8_t code[] = {0xb0, 0x42, 0xba, 0x00, 0x05, 0xee, 0xec, 0xee, 0xba,
				       0x00, 0x06, 0xee, 0xec, 0xba, 0x00, 0x05, 0xee, 0xf4};
	struct sm_vm_stop_info info;
	struct sm_vm_stats st;
	struct recorder rec;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_vm *vm = make_vm(0x10000, 1, false);

	if (vm == NULL)
		return;
	rec_init(&rec, 0x5a);
	sm_error_clear(&err);
	ok(sm_vm_register_pio(vm, TEST_PORT, 4, &rec_ops, &rec, "test port", &err) == 0, "register port: %s",
	   err.msg);
	sm_error_clear(&err);
	ok(sm_vm_register_pio(vm, TEST_PORT + 2, 4, &rec_ops, &rec, "overlap", &err) < 0 &&
	       strstr(err.msg, "overlaps test port") != NULL,
	   "overlapping port range is refused: %s", err.msg);
	load(vm, 0x1000, code, sizeof(code));
	ok(set_real_mode(vm, 0, 0x1000) == 0, "real mode registers");
	ok(run_vm(vm, &info) == 0, "pio guest ran to completion");
	ok(info.reason == SM_VM_STOP_HALT, "stopped by HLT (%s: %s)", sm_vm_stop_reason_name(info.reason),
	   info.msg);
	ok(rec.n == 3, "three port writes reached the device (%u)", rec.n);
	ok(rec.n >= 1 && rec.values[0] == 0x42 && rec.sizes[0] == 1, "OUT carried AL = 0x42");
	ok(rec.n >= 2 && rec.values[1] == 0x5a, "IN returned the device's value (0x%llx)",
	   (unsigned long long)(rec.n >= 2 ? rec.values[1] : 0));
	ok(rec.n >= 3 && rec.values[2] == 0xff, "IN from an unclaimed port reads all-ones (0x%llx)",
	   (unsigned long long)(rec.n >= 3 ? rec.values[2] : 0));
	sm_vm_get_stats(vm, &st);
	ok(st.pio_unhandled == 2, "unclaimed port accesses are counted (%llu)",
	   (unsigned long long)st.pio_unhandled);
	ok(info.vcpu == 0 && info.exit_reason == KVM_EXIT_HLT, "stop names vCPU 0 and KVM_EXIT_HLT");
	sm_vm_destroy(vm);
}

static void test_mmio(void)
{
	/* mov ax,0xf000; mov ds,ax; mov byte [0x10],0x37; mov al,[0x20]; mov dx,0x500; out dx,al;
	 * mov al,[0x800]; out dx,al; hlt */
	static const uint8_t code[] = {0xb8, 0x00, 0xf0, 0x8e, 0xd8, 0xc6, 0x06, 0x10, 0x00, 0x37, 0xa0,
				       0x20, 0x00, 0xba, 0x00, 0x05, 0xee, 0xa0, 0x00, 0x08, 0xee, 0xf4};
	struct sm_vm_stop_info info;
	struct recorder mmio, port;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_vm *vm = make_vm(0x10000, 1, false);

	if (vm == NULL)
		return;
	rec_init(&mmio, 0x99);
	rec_init(&port, 0);
	sm_error_clear(&err);
	ok(sm_vm_register_mmio(vm, 0x1000, 0x100, &rec_ops, &mmio, "in RAM", &err) < 0,
	   "MMIO over guest RAM is refused: %s", err.msg);
	ok(sm_vm_register_mmio(vm, 0x0, 0x100000, &rec_ops, &mmio, "around RAM", &err) < 0,
	   "MMIO enclosing all of RAM is refused");
	ok(sm_vm_register_mmio(vm, 0xff00, 0x200, &rec_ops, &mmio, "tail", &err) < 0,
	   "MMIO overlapping the end of RAM is refused");
	sm_error_clear(&err);
	ok(sm_vm_register_mmio(vm, 0xf0000, 0x100, &rec_ops, &mmio, "test mmio", &err) == 0,
	   "register MMIO: %s", err.msg);
	sm_vm_register_pio(vm, TEST_PORT, 1, &rec_ops, &port, "test port", &err);
	load(vm, 0x1000, code, sizeof(code));
	set_real_mode(vm, 0, 0x1000);
	ok(run_vm(vm, &info) == 0 && info.reason == SM_VM_STOP_HALT, "mmio guest halted (%s)", info.msg);
	ok(mmio.n == 1 && mmio.offsets[0] == 0x10 && mmio.values[0] == 0x37 && mmio.sizes[0] == 1,
	   "MMIO write: offset 0x10, value 0x37, 1 byte");
	ok(mmio.reads == 1, "one MMIO read reached the device");
	ok(port.n == 2 && port.values[0] == 0x99, "MMIO read returned the device's value");
	ok(port.n == 2 && port.values[1] == 0xff, "unclaimed MMIO reads all-ones");
	sm_vm_destroy(vm);
}

static void test_pmode(void)
{
	/* mov eax,0x12345678; mov dx,0x500; out dx,eax; mov eax,ebx; out dx,eax; hlt */
	static const uint8_t code[] = {0xb8, 0x78, 0x56, 0x34, 0x12, 0x66, 0xba,
				       0x00, 0x05, 0xef, 0x89, 0xd8, 0xef, 0xf4};
	struct sm_vm_stop_info info;
	struct recorder rec;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_vm *vm = make_vm(0x200000, 1, false);

	if (vm == NULL)
		return;
	rec_init(&rec, 0);
	sm_vm_register_pio(vm, TEST_PORT, 4, &rec_ops, &rec, "test port", &err);
	load(vm, 0x100000, code, sizeof(code));
	ok(set_pmode(vm, 0x100000, 0x2000) == 0, "PVH entry state (32-bit protected mode)");
	ok(run_vm(vm, &info) == 0 && info.reason == SM_VM_STOP_HALT, "32-bit guest halted (%s)", info.msg);
	ok(rec.n == 2 && rec.sizes[0] == 4 && rec.values[0] == 0x12345678, "32-bit OUT of 0x12345678");
	ok(rec.n == 2 && rec.values[1] == 0x2000, "EBX held the start_info address (0x%llx)",
	   (unsigned long long)rec.values[1]);
	sm_vm_destroy(vm);
}

static void test_triple_fault(void)
{
	/* 32-bit, IDT limit 0 (as set up for PVH): xor ecx,ecx; div ecx -> #DE -> #GP -> #DF -> shutdown */
	static const uint8_t code[] = {0x31, 0xc9, 0xf7, 0xf1, 0xf4};
	struct sm_vm_stop_info info;
	struct sm_vm *vm = make_vm(0x200000, 1, false);

	if (vm == NULL)
		return;
	load(vm, 0x100000, code, sizeof(code));
	set_pmode(vm, 0x100000, 0);
	ok(run_vm(vm, &info) == 0, "triple-fault guest ran");
	ok(info.reason == SM_VM_STOP_SHUTDOWN && info.exit_reason == KVM_EXIT_SHUTDOWN,
	   "divide error with no IDT is a shutdown (%s: %s)", sm_vm_stop_reason_name(info.reason), info.msg);
	sm_vm_destroy(vm);
}

static void test_int3_reboot(void)
{
	/* Linux's reboot=t: empty IDT, then int3. Hardware KVM triple-faults; kvm_pvm cannot emulate
	 * int3 at CPL0; the VMM reports both as a shutdown. */
	static const uint8_t code[] = {0xcc, 0xf4};
	struct sm_vm_stop_info info;
	struct sm_vm *vm = make_vm(0x200000, 1, false);

	if (vm == NULL)
		return;
	load(vm, 0x100000, code, sizeof(code));
	set_pmode(vm, 0x100000, 0);
	ok(run_vm(vm, &info) == 0 && info.reason == SM_VM_STOP_SHUTDOWN,
	   "int3 with an empty IDT is a shutdown (%s: %s)", sm_vm_stop_reason_name(info.reason), info.msg);
	sm_vm_destroy(vm);
}

static void test_unsupported_insn(void)
{
	/* mov ebx,0xff; popcnt eax,ebx; mov dx,0x500; out dx,eax; hlt */
	static const uint8_t code[] = {0xbb, 0xff, 0x00, 0x00, 0x00, 0xf3, 0x0f, 0xb8,
				       0xc3, 0x66, 0xba, 0x00, 0x05, 0xef, 0xf4};
	struct sm_vm_stop_info info;
	struct recorder rec;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_vm *vm = make_vm(0x200000, 1, false);

	if (vm == NULL)
		return;
	rec_init(&rec, 0);
	sm_vm_register_pio(vm, TEST_PORT, 4, &rec_ops, &rec, "test port", &err);
	load(vm, 0x100000, code, sizeof(code));
	set_pmode(vm, 0x100000, 0);
	ok(run_vm(vm, &info) == 0, "popcnt guest ran");
	if (sm_vm_caps(vm)->pvm) {
		/* The emulator lacks popcnt: the error must locate the instruction. */
		ok(info.reason == SM_VM_STOP_GUEST_ERROR && info.exit_reason == KVM_EXIT_INTERNAL_ERROR,
		   "kvm_pvm: popcnt at CPL0 is an emulation failure (%s)", info.msg);
		ok(strstr(info.msg, "rip 0x100005") != NULL, "the message gives RIP");
		ok(strstr(info.msg, "instruction bytes at rip: f3 0f b8 c3") != NULL,
		   "the message shows the instruction bytes");
		ok(strstr(info.msg, "suberror 1") != NULL, "the message gives the suberror");
	} else {
		ok(info.reason == SM_VM_STOP_HALT && rec.n == 1 && rec.values[0] == 8,
		   "hardware KVM: popcnt(0xff) = 8 (%s)", info.msg);
	}
	sm_vm_destroy(vm);
}

struct stopper {
	struct sm_vm *vm;
	struct recorder *rec;
};

/* Stop the VM from a thread that is neither a vCPU nor the waiter, once the guest is looping. */
static void *stop_later(void *arg)
{
	struct stopper *s = arg;

	for (int i = 0; i < 6000; i++) {
		pthread_mutex_lock(&s->rec->lock);
		unsigned int n = s->rec->n;
		pthread_mutex_unlock(&s->rec->lock);
		if (n > 0)
			break;
		usleep(10000);
	}
	usleep(100000);
	sm_vm_stop(s->vm, SM_VM_STOP_REQUESTED, "stopped by the test");
	return NULL;
}

static void test_stop_smp(void)
{
	/* BSP: out dx,al to say it runs, then spin (jmp $). The AP waits for INIT/SIPI inside KVM. */
	static const uint8_t code[] = {0xba, 0x00, 0x05, 0xee, 0xeb, 0xfe};
	struct sm_vm_stop_info info;
	struct recorder rec;
	struct stopper s;
	pthread_t t;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_vm *vm = make_vm(0x10000, 2, true);
	uint64_t t0;

	if (vm == NULL)
		return;
	rec_init(&rec, 0);
	sm_vm_register_pio(vm, TEST_PORT, 1, &rec_ops, &rec, "test port", &err);
	load(vm, 0x1000, code, sizeof(code));
	set_real_mode(vm, 0, 0x1000);
	s = (struct stopper){vm, &rec};
	t0 = sm_now_ns();
	pthread_create(&t, NULL, stop_later, &s);
	ok(run_vm(vm, &info) == 0, "spinning 2-vCPU guest stopped before the timeout");
	pthread_join(t, NULL);
	ok(info.reason == SM_VM_STOP_REQUESTED && strcmp(info.msg, "stopped by the test") == 0 &&
	       info.vcpu == -1,
	   "stop reason and message are the requester's (%s)", info.msg);
	ok(rec.n == 1, "BSP ran before the stop");
	ok(sm_now_ns() - t0 < 30ull * 1000000000, "stop took effect quickly");
	sm_vm_destroy(vm); /* joins both vCPU threads: hangs here if one was not kicked */
	ok(1, "both vCPU threads joined");
}

static void test_memslot_ioeventfd(void)
{
	/* mov ax,0x2000; mov es,ax; mov byte [es:0],0xab; mov dx,0x700; mov al,1; out dx,al;
	 * mov dx,0x500; out dx,al; hlt */
	static const uint8_t code[] = {0xb8, 0x00, 0x20, 0x8e, 0xc0, 0x26, 0xc6, 0x06, 0x00, 0x00, 0xab,
				       0xba, 0x00, 0x07, 0xb0, 0x01, 0xee, 0xba, 0x00, 0x05, 0xee, 0xf4};
	struct sm_vm_stop_info info;
	struct recorder rec;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_vm *vm = make_vm(0x10000, 1, false);
	uint8_t *window;
	uint32_t slot = 0;
	int efd;

	if (vm == NULL)
		return;
	window = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rec_init(&rec, 0);
	sm_vm_register_pio(vm, TEST_PORT, 1, &rec_ops, &rec, "test port", &err);
	ok(sm_vm_add_memslot(vm, 0x8000, 0x1000, window, false, &slot, &err) < 0,
	   "a slot over RAM is refused");
	sm_error_clear(&err);
	ok(sm_vm_add_memslot(vm, 0x20000, 0x1000, window, false, &slot, &err) == 0, "extra memory slot: %s",
	   err.msg);
	sm_error_clear(&err);
	ok(sm_vm_add_ioeventfd(vm, 0x700, 1, true, false, 0, efd, &err) == 0, "ioeventfd on port 0x700: %s",
	   err.msg);
	load(vm, 0x1000, code, sizeof(code));
	set_real_mode(vm, 0, 0x1000);
	ok(run_vm(vm, &info) == 0 && info.reason == SM_VM_STOP_HALT, "guest halted (%s)", info.msg);
	ok(window[0] == 0xab, "guest write landed in the extra slot's host memory");
	uint64_t count = 0;
	ok(read(efd, &count, sizeof(count)) == sizeof(count) && count == 1,
	   "the port write signalled the ioeventfd");
	ok(rec.n == 1, "the ioeventfd write did not exit to the VMM's bus");
	sm_error_clear(&err);
	ok(sm_vm_del_memslot(vm, slot, &err) == 0, "remove the extra slot: %s", err.msg);
	sm_error_clear(&err);
	ok(sm_vm_del_ioeventfd(vm, 0x700, 1, true, false, 0, efd, &err) == 0, "remove the ioeventfd: %s",
	   err.msg);
	sm_vm_destroy(vm);
	close(efd);
	munmap(window, 0x1000);
}

struct echo {
	pthread_mutex_t lock;
	char out[8];
	unsigned int n;
};

static void echo_out(void *opaque, uint8_t byte)
{
	struct echo *e = opaque;
	pthread_mutex_lock(&e->lock);
	if (e->n < sizeof(e->out) - 1)
		e->out[e->n++] = (char)byte;
	pthread_mutex_unlock(&e->lock);
}

static void test_uart_echo(void)
{
	/* Twice: poll LSR.DR, read RBR, write it to THR. Then report on the test port and spin.
	 * mov cx,2; l: mov dx,0x3fd; w: in al,dx; test al,1; jz w; mov dx,0x3f8; in al,dx; out dx,al;
	 * loop l; mov dx,0x500; out dx,al; jmp $ */
	static const uint8_t code[] = {0xb9, 0x02, 0x00, 0xba, 0xfd, 0x03, 0xec, 0xa8,
				       0x01, 0x74, 0xfb, 0xba, 0xf8, 0x03, 0xec, 0xee,
				       0xe2, 0xf1, 0xba, 0x00, 0x05, 0xee, 0xeb, 0xfe};
	struct sm_vm_stop_info info;
	struct echo e = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct recorder rec;
	struct sm_uart *uart = NULL;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_vm *vm = make_vm(0x10000, 1, true);
	int p[2];

	if (vm == NULL)
		return;
	rec_init(&rec, 0);
	ok(pipe2(p, O_CLOEXEC) == 0, "pipe for the console input");
	sm_error_clear(&err);
	ok(sm_uart_create(vm, SM_COM1_PORT, SM_COM1_IRQ, "ttyS0", echo_out, &e, &uart, &err) == 0,
	   "UART at 0x3f8: %s", err.msg);
	sm_error_clear(&err);
	ok(sm_uart_attach_input(uart, p[0], &err) == 0, "UART input from the pipe: %s", err.msg);
	sm_vm_register_pio(vm, TEST_PORT, 1, &rec_ops, &rec, "test port", &err);
	load(vm, 0x1000, code, sizeof(code));
	set_real_mode(vm, 0, 0x1000);
	sm_error_clear(&err);
	ok(sm_vm_start(vm, &err) == 0, "start: %s", err.msg);
	ok(write(p[1], "hi", 2) == 2, "host writes \"hi\" to the console input");
	for (int i = 0; i < 3000; i++) {
		pthread_mutex_lock(&rec.lock);
		unsigned int n = rec.n;
		pthread_mutex_unlock(&rec.lock);
		if (n > 0)
			break;
		usleep(10000);
	}
	sm_vm_stop(vm, SM_VM_STOP_REQUESTED, "test done");
	sm_vm_wait(vm, -1, &info);
	sm_vm_join(vm);
	ok(rec.n == 1, "guest finished echoing");
	ok(strcmp(e.out, "hi") == 0, "guest echoed \"%s\" through the UART", e.out);
	sm_uart_destroy(uart);
	sm_vm_destroy(vm);
	close(p[0]);
	close(p[1]);
}

static void test_irqfd(void)
{
	sm_error_t err = SM_ERROR_INIT;
	struct sm_vm *vm = make_vm(0x10000, 1, true);
	int efd = eventfd(0, EFD_CLOEXEC);

	if (vm == NULL)
		return;
	sm_error_clear(&err);
	ok(sm_vm_add_irqfd(vm, 5, efd, -1, &err) == 0, "irqfd on GSI 5: %s", err.msg);
	sm_error_clear(&err);
	ok(sm_vm_del_irqfd(vm, 5, efd, &err) == 0, "remove irqfd: %s", err.msg);
	ok(sm_vm_set_irq(vm, 4, true, &err) == 0 && sm_vm_set_irq(vm, 4, false, &err) == 0,
	   "KVM_IRQ_LINE on IRQ 4");
	sm_vm_destroy(vm);
	close(efd);
}

/* A port whose n-th read returns n. */
struct counter_port {
	uint64_t reads; /* atomic */
};

static uint64_t cnt_read(void *opaque, uint64_t offset, unsigned int size)
{
	struct counter_port *c = opaque;
	(void)offset;
	(void)size;
	return __atomic_add_fetch(&c->reads, 1, __ATOMIC_SEQ_CST) & 0xffff;
}

static void cnt_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
	(void)opaque;
	(void)offset;
	(void)size;
	(void)value;
}

static const struct sm_bus_ops cnt_ops = {cnt_read, cnt_write};

/* True when the paused guest's state agrees with the device: every IN the device answered has
 * completed (its value reached AX or memory), so a snapshot would not repeat it. */
static bool in_completed(struct sm_vm *vm, const struct counter_port *port)
{
	uint16_t reads = (uint16_t)__atomic_load_n(&port->reads, __ATOMIC_SEQ_CST), mem = 0;
	struct kvm_regs regs;

	memset(&regs, 0, sizeof(regs));
	ioctl(sm_vm_vcpu_fd(vm, 0), KVM_GET_REGS, &regs);
	sm_guest_read(sm_vm_mem(vm), 0x600, &mem, sizeof(mem));
	if (regs.rip == 0x1004) /* after the IN, before the store */
		return (uint16_t)regs.rax == reads;
	if (regs.rip == 0x1003 || regs.rip == 0x1007) /* at the IN (not started) or the jmp */
		return mem == reads;
	tap_diag("paused at rip 0x%llx: memory %u, ax %u, device reads %u", (unsigned long long)regs.rip, mem,
		 (uint16_t)regs.rax, reads);
	return false;
}

/*
 * sm_vm_pause/resume with a guest that loops on an I/O exit (in ax, dx; mov [0x600], ax): a pause
 * completes the pending IN first (KVM writes AX and moves RIP only when KVM_RUN is entered
 * again), nothing moves while paused, pausing before the start holds the vCPU before its first
 * KVM_RUN, and a stopped VM refuses both with ESRCH.
 */
static void test_pause(void)
{
	/* mov dx,0x500; loop: in ax,dx; mov [0x600],ax; jmp loop */
	static const uint8_t code[] = {0xba, 0x00, 0x05, 0xed, 0xa3, 0x00, 0x06, 0xeb, 0xfa};
	struct counter_port port = {0};
	struct sm_vm_stop_info info;
	struct sm_vm_stats st1, st2;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_vm *vm = make_vm(0x10000, 1, false);
	uint64_t r1, r2;
	int good = 0;

	if (vm == NULL)
		return;
	sm_vm_register_pio(vm, TEST_PORT, 2, &cnt_ops, &port, "counter", &err);
	load(vm, 0x1000, code, sizeof(code));
	set_real_mode(vm, 0, 0x1000);
	ok(sm_vm_pause(vm, &err) == 0 && sm_vm_paused(vm), "pause before start: %s", err.msg);
	ok(sm_vm_start(vm, &err) == 0, "start paused");
	usleep(100000);
	ok(__atomic_load_n(&port.reads, __ATOMIC_SEQ_CST) == 0, "no guest instruction ran before resume");
	ok(sm_vm_resume(vm, &err) == 0 && !sm_vm_paused(vm), "resume");
	usleep(100000);
	ok(__atomic_load_n(&port.reads, __ATOMIC_SEQ_CST) > 0, "the guest runs after resume (%llu INs)",
	   (unsigned long long)__atomic_load_n(&port.reads, __ATOMIC_SEQ_CST));
	for (int i = 0; i < 50; i++) {
		sm_error_clear(&err);
		if (sm_vm_pause(vm, &err) < 0)
			break;
		good += in_completed(vm, &port);
		sm_vm_resume(vm, &err);
		usleep(1000);
	}
	ok(good == 50, "50 pauses, each with the device's last IN completed in the guest (%d)", good);
	ok(sm_vm_pause(vm, &err) == 0, "pause");
	r1 = __atomic_load_n(&port.reads, __ATOMIC_SEQ_CST);
	sm_vm_get_stats(vm, &st1);
	usleep(100000);
	r2 = __atomic_load_n(&port.reads, __ATOMIC_SEQ_CST);
	sm_vm_get_stats(vm, &st2);
	ok(r1 == r2 && st1.exits == st2.exits, "nothing runs while paused (%llu INs, %llu exits)",
	   (unsigned long long)r1, (unsigned long long)st1.exits);
	sm_vm_stop(vm, SM_VM_STOP_REQUESTED, "test done");
	ok(sm_vm_wait(vm, TIMEOUT_NS, &info) == 0 && info.reason == SM_VM_STOP_REQUESTED,
	   "a stop ends a paused VM");
	sm_vm_join(vm);
	sm_error_clear(&err);
	ok(sm_vm_pause(vm, &err) < 0 && err.code == ESRCH, "pause after the stop: %s", err.msg);
	sm_error_clear(&err);
	ok(sm_vm_resume(vm, &err) < 0 && err.code == ESRCH, "resume after the stop: %s", err.msg);
	ok(!sm_vm_paused(vm), "a stopped VM is not paused");
	sm_vm_destroy(vm);
}

int main(void)
{
	const struct sm_host_caps *caps;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_host_caps_get(&caps, &err) < 0)
		tap_skip_all(err.msg);
	tap_diag("host: %s, ioeventfd %d, irqfd %d, max vCPUs %d", caps->pvm ? "kvm_pvm" : "hardware KVM",
		 caps->ioeventfd, caps->irqfd, caps->max_vcpus);
	test_pio();
	test_mmio();
	test_pmode();
	test_triple_fault();
	test_int3_reboot();
	test_unsupported_insn();
	test_stop_smp();
	test_memslot_ioeventfd();
	test_irqfd();
	test_uart_echo();
	test_pause();
	return tap_done();
}
