//! The first instructions: PVH entry in 32-bit protected mode, boot page
//! tables, the switch to long mode, and the jump to Rust.
//!
//! QEMU (and Xen, and firecracker) start a PVH kernel at the physical
//! address in its `XEN_ELFNOTE_PHYS32_ENTRY` note, in 32-bit protected mode
//! with paging off and `ebx` holding the physical address of
//! `hvm_start_info` (see `pvh.rs`).
//!
//! The boot tables map the first GiB three times with 2 MiB pages: identity
//! (so the next instruction after enabling paging still exists), at the
//! direct-map base (so early Rust code can reach boot structures by
//! physical address), and at `KERNEL_VIRT_BASE` (where the kernel is
//! linked). `mem::kernel_space` replaces them with the kernel's own tables
//! as soon as the frame allocator exists.
//!
//! Also set here, once: `EFER.LME | EFER.NXE`, `CR0.WP` (the kernel honours
//! read-only pages), and SSE (`CR4.OSFXSR | CR4.OSXMMEXCPT`), because the
//! precompiled `core` uses SSE instructions.

core::arch::global_asm!(
    r#"
    .section .note.pvh, "a"
    .balign 4
    .long 4                     /* name size: "Xen\0" */
    .long 8                     /* descriptor size: a 64-bit address */
    .long 18                    /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .quad pvh_start32
    .balign 4

    .section .boot.data, "aw"
    .balign 4096
boot_pml4:      .fill 512, 8, 0
boot_pdpt_low:  .fill 512, 8, 0
boot_pdpt_high: .fill 512, 8, 0
boot_pd:        .fill 512, 8, 0
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code, ring 0 */
    .quad 0x00cf92000000ffff    /* 0x10: data, ring 0 */
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .boot.text, "ax"
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, %esi              /* hvm_start_info, kept until Rust */

    /* boot_pd: 512 large pages covering physical [0, 1 GiB). */
    mov $boot_pd, %edi
    mov $0x83, %eax             /* present | writable | large */
    mov $512, %ecx
1:  mov %eax, (%edi)
    movl $0, 4(%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 1b

    mov $boot_pd, %eax
    or $3, %eax
    mov %eax, boot_pdpt_low             /* [0, 1 GiB)               */
    mov %eax, boot_pdpt_high + 510 * 8  /* 0xffffffff80000000 + ... */

    mov $boot_pdpt_low, %eax
    or $3, %eax
    mov %eax, boot_pml4                 /* identity                 */
    mov %eax, boot_pml4 + 256 * 8       /* direct map base          */
    mov $boot_pdpt_high, %eax
    or $3, %eax
    mov %eax, boot_pml4 + 511 * 8       /* kernel image             */

    mov %cr4, %eax
    or $((1 << 5) | (1 << 9) | (1 << 10)), %eax   /* PAE | OSFXSR | OSXMMEXCPT */
    mov %eax, %cr4

    mov $boot_pml4, %eax
    mov %eax, %cr3

    mov $0xc0000080, %ecx       /* IA32_EFER */
    rdmsr
    or $((1 << 8) | (1 << 11)), %eax              /* LME | NXE */
    wrmsr

    mov %cr0, %eax
    and $~(1 << 2), %eax                          /* no x87 emulation */
    or $((1 << 31) | (1 << 16) | (1 << 1) | 1), %eax  /* PG | WP | MP | PE */
    mov %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $boot_long_mode

    .code64
boot_long_mode:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs

    /* Zero .bss (the boot stack lives there, so before using it). */
    movabs $__bss_start, %rdi
    movabs $__bss_end, %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    rep stosb

    movabs $boot_stack_top, %rsp
    xor %ebp, %ebp
    mov %esi, %edi              /* zero-extends: start-info address */
    movabs $kernel_entry, %rax
    call *%rax
2:  hlt
    jmp 2b

    .section .bss.boot_stack, "aw", @nobits
    .balign 4096
    .globl boot_stack_guard
boot_stack_guard:               /* unmapped once the kernel's tables load */
    .skip 4096
boot_stack:
    .skip 65536
    .globl boot_stack_top
boot_stack_top:

    .text
"#,
    options(att_syntax)
);
