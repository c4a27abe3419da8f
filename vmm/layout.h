/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_LAYOUT_H
#define SM_VMM_LAYOUT_H

/*
 * Guest physical layout of the microVM below 1 MiB and the fixed device addresses.
 *
 *   0x00000-0x07fff  boot area, reserved in the memory map: GDT, hvm_start_info, module list,
 *                    memory map, command line (all read by the kernel's PVH entry code)
 *   0x08000-0x9fbff  RAM (the kernel puts its real-mode trampoline here)
 *   0x9fc00-0xfffff  reserved: MP table (where Linux scans the top 1 KiB of base memory), then
 *                    the legacy VGA/BIOS hole
 *   0x100000-        RAM: kernel at its ELF physical addresses, initramfs at the top of low RAM
 *   3 GiB-4 GiB      MMIO hole (SM_MMIO_HOLE_START in memory.h): IOAPIC, LAPIC, virtio-mmio
 *   4 GiB-           RAM beyond 3 GiB
 */

#define SM_BOOT_AREA_START 0x0ull
#define SM_BOOT_AREA_END 0x8000ull
#define SM_BOOT_GDT_ADDR 0x1000ull
#define SM_BOOT_START_INFO_ADDR 0x2000ull
#define SM_BOOT_MODLIST_ADDR 0x2040ull
#define SM_BOOT_MEMMAP_ADDR 0x3000ull
#define SM_BOOT_CMDLINE_ADDR 0x4000ull

#define SM_LEGACY_HOLE_START 0x9fc00ull
#define SM_LEGACY_HOLE_END 0x100000ull
#define SM_BOOT_MPTABLE_ADDR 0x9fc00ull
#define SM_BOOT_MPTABLE_SIZE 0x400ull

/* Kernel segments must load at or above 1 MiB, clear of everything above. */
#define SM_KERNEL_MIN_ADDR 0x100000ull

#define SM_IOAPIC_ADDR 0xfec00000u
#define SM_LAPIC_ADDR 0xfee00000u

/* Legacy I/O ports and ISA interrupts. */
#define SM_COM1_PORT 0x3f8
#define SM_COM1_IRQ 4
#define SM_COM2_PORT 0x2f8
#define SM_COM2_IRQ 3
#define SM_ISA_IRQS 16

#endif
