/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hostile-guest payload (helper for tests/vmm/hostile_*.c): a register-access interpreter
 * that runs in the guest at CPL0, 32-bit protected mode, paging off (the PVH entry state). It
 * walks a script of 16-byte entries {op, addr, value, arg} at 0x200000 and performs each as a
 * real guest memory or MMIO access, so every register access reaches the VMM as a KVM MMIO exit
 * of the given width and alignment. The machine code bytes are embedded in hostile_guest.c;
 * regenerate them with:
 *   as --32 -o interp.o hostile_interp.S && objcopy -O binary -j .text interp.o interp.bin
 *   && xxd -i interp.bin
 * Ops: 0 end (marker, then ud2: triple fault, the VM stops), 1/2/3 write 8/16/32 bits of value
 * at addr, 4/5/6 read 8/16/32 bits into arg, 7 wait until the 16-bit word at addr equals value
 * (arg = iteration limit; arg is left 0 on timeout), 8 write 64 bits {value, arg} with MMX movq,
 * 9 read 64 bits into {value, arg}, 10 out value to port 0x510 (a host sync point), 11 copy the
 * 32-bit word at addr to the address in value (guest RAM to guest RAM), 12 wait until the 32-bit
 * word at addr has all the bits of value set (arg = iteration limit, left 0 on timeout), 13 turn
 * on 4-level paging with CR3 = value: the interpreter goes on in compatibility mode (IA-32e, 32-bit
 * code), and can reach guest physical addresses above 4 GiB through the test's page tables.
 */
	.code32
	.text
	.globl _start
_start:
	mov $0x200000, %esi
1:	mov (%esi), %eax
	mov 4(%esi), %edi
	mov 8(%esi), %edx
	mov 12(%esi), %ecx
	cmp $0, %eax
	je op_end
	cmp $1, %eax
	je op_w8
	cmp $2, %eax
	je op_w16
	cmp $3, %eax
	je op_w32
	cmp $4, %eax
	je op_r8
	cmp $5, %eax
	je op_r16
	cmp $6, %eax
	je op_r32
	cmp $7, %eax
	je op_wait
	cmp $8, %eax
	je op_w64
	cmp $9, %eax
	je op_r64
	cmp $10, %eax
	je op_sync
	cmp $11, %eax
	je op_copy
	cmp $12, %eax
	je op_wait32
	cmp $13, %eax
	je op_paging
next:	add $16, %esi
	incl 0x1f0000
	jmp 1b
op_w8:	mov %dl, (%edi)
	jmp next
op_w16:	mov %dx, (%edi)
	jmp next
op_w32:	mov %edx, (%edi)
	jmp next
op_r8:	movzbl (%edi), %eax
	mov %eax, 12(%esi)
	jmp next
op_r16:	movzwl (%edi), %eax
	mov %eax, 12(%esi)
	jmp next
op_r32:	mov (%edi), %eax
	mov %eax, 12(%esi)
	jmp next
op_wait:
	movzwl (%edi), %eax
	cmp %dx, %ax
	je next
	dec %ecx
	jnz op_wait
	movl $0, 12(%esi)
	jmp next
op_w64:	movq 8(%esi), %mm0
	movq %mm0, (%edi)
	jmp next
op_r64:	movq (%edi), %mm0
	movq %mm0, 8(%esi)
	jmp next
op_sync:
	mov %edx, %eax
	mov $0x510, %dx
	out %eax, %dx
	jmp next
op_copy:
	mov (%edi), %eax
	mov %eax, (%edx)
	jmp next
op_wait32:
	mov (%edi), %eax
	and %edx, %eax
	cmp %edx, %eax
	je next
	dec %ecx
	jnz op_wait32
	movl $0, 12(%esi)
	jmp next
op_paging:
	mov %edx, %cr3
	mov %cr4, %eax
	or $0x20, %eax
	mov %eax, %cr4
	mov $0xc0000080, %ecx
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	jmp next
op_end:	movl $0x600dd00e, 0x1f0004
	ud2
