// SPDX-License-Identifier: GPL-2.0
/*
 * The program that clonefd_bench's vfork_exec methods exec: it exits with
 * 42 (EXIT_STATUS) at once.  Static, without libc (-static -nostdlib), so
 * that the exec is as cheap as an exec gets and the spawn itself shows.
 */
void _start(void)
{
	asm volatile("mov $60, %eax\n\t"
		     "mov $42, %edi\n\t"
		     "syscall");
	__builtin_unreachable();
}
