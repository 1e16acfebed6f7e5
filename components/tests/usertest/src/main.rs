//! In-guest tests of the system-call layer.
//!
//! Each test prints one line, `[PASS] name` or `[FAIL] name: why`, which
//! the host harness (`build-image test`, `cargo test`) parses. The exit code
//! is the number of failures.
//!
//! These cover what the first syscalls can get wrong: user pointers (kernel
//! addresses, unmapped pages, ranges that wrap or cross the user limit),
//! lengths, unknown syscall numbers, and the clock.
#![no_std]
#![no_main]

use zx::Status;
use zx_runtime::println;

zx_runtime::entry!(main);

struct Suite {
    failures: i64,
}

impl Suite {
    fn check(&mut self, name: &str, result: Result<(), &str>) {
        match result {
            Ok(()) => println!("[PASS] {}", name),
            Err(why) => {
                println!("[FAIL] {}: {}", name, why);
                self.failures += 1;
            }
        }
    }
}

fn expect(actual: Status, expected: Status) -> Result<(), &'static str> {
    if actual == expected {
        Ok(())
    } else {
        println!("    got {:?}, expected {:?}", actual, expected);
        Err("unexpected status")
    }
}

/// debug_write of an arbitrary range; the kernel must validate it.
fn raw_write(address: u64, len: usize) -> Status {
    // SAFETY: debug_write only reads the range and the kernel validates it;
    // these calls test exactly that validation.
    unsafe { zx::debug_write_raw(address as *const u8, len) }
}

fn main() -> i64 {
    let mut suite = Suite { failures: 0 };
    let message = b"usertest: a line written with debug_write\n";

    suite.check(
        "debug_write.ok",
        expect(
            raw_write(message.as_ptr() as u64, message.len()),
            Status::OK,
        ),
    );
    suite.check("debug_write.empty", expect(raw_write(0, 0), Status::OK));
    suite.check(
        "debug_write.kernel_pointer",
        expect(raw_write(0xffff_ffff_8010_0000, 16), Status::INVALID_ARGS),
    );
    suite.check(
        "debug_write.direct_map_pointer",
        expect(raw_write(0xffff_8000_0000_1000, 16), Status::INVALID_ARGS),
    );
    suite.check(
        "debug_write.unmapped_pointer",
        expect(raw_write(0x1000_0000, 16), Status::INVALID_ARGS),
    );
    suite.check(
        "debug_write.null_pointer",
        expect(raw_write(0, 8), Status::INVALID_ARGS),
    );
    suite.check(
        "debug_write.crosses_user_limit",
        expect(
            raw_write(zx::USER_ADDRESS_LIMIT - 8, 16),
            Status::INVALID_ARGS,
        ),
    );
    suite.check(
        "debug_write.wraps_around",
        expect(raw_write(u64::MAX - 4, 16), Status::INVALID_ARGS),
    );
    suite.check(
        "debug_write.too_long",
        expect(
            raw_write(message.as_ptr() as u64, 4097),
            Status::INVALID_ARGS,
        ),
    );
    // Starts in the mapped stack and runs past its top into unmapped
    // memory: the copy faults half-way and must be recovered.
    let stack_top = 0x0000_7fff_0000_0000u64;
    suite.check(
        "debug_write.partially_mapped",
        expect(raw_write(stack_top - 8, 64), Status::INVALID_ARGS),
    );

    let number = zx::syscall_by_number(0xdead);
    suite.check(
        "syscall.bad_number",
        expect(Status::from_raw(number), Status::BAD_SYSCALL),
    );
    let number = zx::syscall_by_number(u64::MAX);
    suite.check(
        "syscall.huge_number",
        expect(Status::from_raw(number), Status::BAD_SYSCALL),
    );

    let first = zx::clock_get_monotonic();
    let mut spin = 0u64;
    for i in 0..200_000u64 {
        spin = core::hint::black_box(spin.wrapping_add(i));
    }
    let second = zx::clock_get_monotonic();
    suite.check(
        "clock.monotonic_advances",
        if first.into_nanos() > 0 && second > first {
            Ok(())
        } else {
            Err("clock did not advance")
        },
    );

    println!("usertest: {} failures", suite.failures);
    suite.failures
}
