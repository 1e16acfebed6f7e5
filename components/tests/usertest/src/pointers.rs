//! debug_write, the clock, and syscall dispatch: user-pointer validation.

use crate::{check, expect_status, Suite};
use zx::Status;

/// debug_write of an arbitrary range; the kernel must validate it.
fn raw_write(address: u64, len: usize) -> Result<(), Status> {
    // SAFETY: debug_write only reads the range and the kernel validates it;
    // these calls test exactly that validation.
    unsafe { zx::debug_write_raw(address as *const u8, len) }.ok()
}

pub fn run(suite: &mut Suite) {
    let message = b"usertest: a line written with debug_write\n";
    let at = message.as_ptr() as u64;
    suite.run("debug_write.ok", || {
        expect_status(raw_write(at, message.len()), Status::OK)
    });
    suite.run("debug_write.empty", || {
        expect_status(raw_write(0, 0), Status::OK)
    });
    suite.run("debug_write.kernel_pointer", || {
        expect_status(raw_write(0xffff_ffff_8010_0000, 16), Status::INVALID_ARGS)
    });
    suite.run("debug_write.direct_map_pointer", || {
        expect_status(raw_write(0xffff_8000_0000_1000, 16), Status::INVALID_ARGS)
    });
    suite.run("debug_write.unmapped_pointer", || {
        expect_status(raw_write(0x1000_0000, 16), Status::INVALID_ARGS)
    });
    suite.run("debug_write.null_pointer", || {
        expect_status(raw_write(0, 8), Status::INVALID_ARGS)
    });
    suite.run("debug_write.crosses_user_limit", || {
        expect_status(
            raw_write(zx::USER_ADDRESS_LIMIT - 8, 16),
            Status::INVALID_ARGS,
        )
    });
    suite.run("debug_write.wraps_around", || {
        expect_status(raw_write(u64::MAX - 4, 16), Status::INVALID_ARGS)
    });
    suite.run("debug_write.too_long", || {
        expect_status(raw_write(at, 4097), Status::INVALID_ARGS)
    });
    // Starts in the mapped stack and runs past its top into unmapped
    // memory: the copy faults half-way and must be recovered.
    suite.run("debug_write.partially_mapped", || {
        expect_status(
            raw_write(0x0000_7fff_0000_0000 - 8, 64),
            Status::INVALID_ARGS,
        )
    });
    suite.run("syscall.bad_number", || {
        expect_status(
            Status::from_raw(zx::syscall_by_number(0xdead)).ok(),
            Status::BAD_SYSCALL,
        )
    });
    suite.run("syscall.huge_number", || {
        expect_status(
            Status::from_raw(zx::syscall_by_number(u64::MAX)).ok(),
            Status::BAD_SYSCALL,
        )
    });
    suite.run("trap.direction_flag_set_by_user", || {
        // User code may leave DF set across interrupts and syscalls; the
        // kernel must clear it for itself (its copies run forwards).
        let start = zx::clock_get_monotonic().into_nanos();
        // SAFETY: DF is set and cleared around code that does no string
        // operations; the syscall in between is what is being tested.
        unsafe { core::arch::asm!("std") };
        let mut spin = 0u64;
        while zx::clock_get_monotonic().into_nanos() - start < 30_000_000 {
            spin = core::hint::black_box(spin + 1); // timer ticks land here
        }
        // SAFETY: see above.
        unsafe { core::arch::asm!("cld") };
        let event = zx::Event::create().map_err(|s| alloc::format!("{s:?}"))?;
        check(
            zx::AsHandleRef::basic_info(&event).is_ok() && spin > 0,
            "the kernel misbehaved",
        )
    });
    suite.run("clock.monotonic_advances", || {
        let first = zx::clock_get_monotonic();
        let mut spin = 0u64;
        for i in 0..200_000u64 {
            spin = core::hint::black_box(spin.wrapping_add(i));
        }
        let second = zx::clock_get_monotonic();
        check(
            first.into_nanos() > 0 && second > first,
            "clock did not advance",
        )
    });
}
