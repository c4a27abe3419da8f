/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/serial.h"
#include "vmm/uart.h"

#define UART_PENDING 4096

struct sm_uart {
	struct sm_vm *vm;
	uint32_t gsi;
	const char *name;
	sm_uart_out_fn out;
	void *opaque;
	pthread_mutex_t lock;
	struct sm_serial serial;
	uint8_t pending[UART_PENDING]; /* host input not yet in the receive FIFO */
	size_t pending_head, pending_len;
	int input_fd;
	bool input_paused;
};

static void uart_tx(void *opaque, uint8_t byte)
{
	struct sm_uart *u = opaque;
	if (u->out != NULL)
		u->out(u->opaque, byte);
}

static void uart_irq(void *opaque, bool level)
{
	struct sm_uart *u = opaque;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_vm_set_irq(u->vm, u->gsi, level, &err) < 0)
		sm_vm_debug(u->vm, "%s: %s", u->name, err.msg);
}

/* Move pending host input into the FIFO; caller holds the lock. */
static void refill(struct sm_uart *u)
{
	while (u->pending_len > 0) {
		size_t chunk = UART_PENDING - u->pending_head;
		size_t n;
		if (chunk > u->pending_len)
			chunk = u->pending_len;
		n = sm_serial_receive(&u->serial, u->pending + u->pending_head, chunk);
		if (n == 0)
			break;
		u->pending_head = (u->pending_head + n) % UART_PENDING;
		u->pending_len -= n;
	}
}

/* Resume reading the input fd once the buffer has room again; caller holds the lock. */
static void maybe_resume(struct sm_uart *u)
{
	if (u->input_fd >= 0 && u->input_paused && u->pending_len < UART_PENDING / 2) {
		u->input_paused = false;
		sm_evloop_modify(sm_vm_evloop(u->vm), u->input_fd, EPOLLIN, NULL);
	}
}

static uint64_t uart_read(void *opaque, uint64_t offset, unsigned int size)
{
	struct sm_uart *u = opaque;
	uint8_t v;

	(void)size;
	pthread_mutex_lock(&u->lock);
	v = sm_serial_read(&u->serial, (unsigned int)offset);
	refill(u);
	maybe_resume(u);
	pthread_mutex_unlock(&u->lock);
	return v;
}

static void uart_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
	struct sm_uart *u = opaque;

	(void)size;
	pthread_mutex_lock(&u->lock);
	sm_serial_write(&u->serial, (unsigned int)offset, (uint8_t)value);
	refill(u); /* enabling the FIFO or leaving loopback makes room */
	pthread_mutex_unlock(&u->lock);
}

static const struct sm_bus_ops uart_ops = {uart_read, uart_write};

int sm_uart_create(struct sm_vm *vm, uint16_t port, uint32_t gsi, const char *name, sm_uart_out_fn out,
		   void *opaque, struct sm_uart **out_uart, sm_error_t *err)
{
	struct sm_uart *u = sm_xcalloc(1, sizeof(*u));
	int r;

	u->vm = vm;
	u->gsi = gsi;
	u->name = name;
	u->out = out;
	u->opaque = opaque;
	u->input_fd = -1;
	pthread_mutex_init(&u->lock, NULL);
	sm_serial_init(&u->serial, uart_tx, uart_irq, u);
	r = sm_vm_register_pio(vm, port, 8, &uart_ops, u, name, err);
	if (r < 0) {
		sm_uart_destroy(u);
		return r;
	}
	*out_uart = u;
	return 0;
}

void sm_uart_destroy(struct sm_uart *u)
{
	if (u == NULL)
		return;
	if (u->input_fd >= 0)
		sm_evloop_remove(sm_vm_evloop(u->vm), u->input_fd);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

size_t sm_uart_input(struct sm_uart *u, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	pthread_mutex_lock(&u->lock);
	while (done < len && u->pending_len < UART_PENDING) {
		u->pending[(u->pending_head + u->pending_len) % UART_PENDING] = buf[done++];
		u->pending_len++;
	}
	refill(u);
	pthread_mutex_unlock(&u->lock);
	return done;
}

static void input_ready(void *opaque, int fd, uint32_t events)
{
	struct sm_uart *u = opaque;
	uint8_t buf[512];
	size_t room;
	ssize_t n;

	(void)events;
	pthread_mutex_lock(&u->lock);
	room = UART_PENDING - u->pending_len;
	if (room == 0) {
		/* Under the lock, so a concurrent maybe_resume() cannot be undone by this pause. */
		u->input_paused = true;
		sm_evloop_modify(sm_vm_evloop(u->vm), fd, 0, NULL);
	}
	pthread_mutex_unlock(&u->lock);
	if (room == 0)
		return;
	n = read(fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* EOF or error: the guest simply gets no more input. */
		sm_evloop_remove(sm_vm_evloop(u->vm), fd);
		pthread_mutex_lock(&u->lock);
		u->input_fd = -1;
		pthread_mutex_unlock(&u->lock);
		return;
	}
	sm_uart_input(u, buf, (size_t)n);
}

int sm_uart_attach_input(struct sm_uart *u, int fd, sm_error_t *err)
{
	int r = sm_evloop_add(sm_vm_evloop(u->vm), fd, EPOLLIN, input_ready, u, err);
	if (r < 0)
		return sm_error_prefix(err, "%s input: ", u->name);
	pthread_mutex_lock(&u->lock);
	u->input_fd = fd;
	pthread_mutex_unlock(&u->lock);
	return 0;
}

void sm_uart_get_state(struct sm_uart *u, struct sm_uart_state *st)
{
	const struct sm_serial *s = &u->serial;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&u->lock);
	*st = (struct sm_uart_state){.ier = s->ier,
				     .lcr = s->lcr,
				     .mcr = s->mcr,
				     .lsr_err = s->lsr_err,
				     .msr = s->msr,
				     .scr = s->scr,
				     .dll = s->dll,
				     .dlm = s->dlm,
				     .fcr = s->fcr,
				     .thr_ipending = s->thr_ipending,
				     .irq_level = s->irq_level,
				     .rx_count = s->rx_count};
	for (unsigned int i = 0; i < s->rx_count && i < SM_SERIAL_FIFO; i++)
		st->rx[i] = s->rx[(s->rx_head + i) % SM_SERIAL_FIFO];
	pthread_mutex_unlock(&u->lock);
}

int sm_uart_set_state(struct sm_uart *u, const struct sm_uart_state *st, sm_error_t *err)
{
	struct sm_serial *s = &u->serial;

	if (st->rx_count > SM_SERIAL_FIFO)
		return sm_error_set(err, 0, "%s: saved receive FIFO holds %u bytes (at most %d)", u->name,
				    st->rx_count, SM_SERIAL_FIFO);
	pthread_mutex_lock(&u->lock);
	s->ier = st->ier;
	s->lcr = st->lcr;
	s->mcr = st->mcr;
	s->lsr_err = st->lsr_err;
	s->msr = st->msr;
	s->scr = st->scr;
	s->dll = st->dll;
	s->dlm = st->dlm;
	s->fcr = st->fcr;
	s->thr_ipending = st->thr_ipending;
	/* The line level itself lives in the restored in-kernel irqchip; only remember it here. */
	s->irq_level = st->irq_level;
	memcpy(s->rx, st->rx, sizeof(s->rx));
	s->rx_head = 0;
	s->rx_count = st->rx_count;
	pthread_mutex_unlock(&u->lock);
	return 0;
}
