//! System-call dispatch. Each handler first *decodes* (validates every
//! argument into typed values, or returns a status) and then *acts* on the
//! typed values only, as in seL4. Nothing a user program passes can panic
//! the kernel: bad input becomes a `Status`.

use crate::arch::x86_64::trap::TrapFrame;
use crate::mem::user_ptr::UserSlice;
use crate::process::Outcome;
use zx_abi::{syscall, Status, DEBUG_WRITE_MAX};

/// Runs the syscall described by `frame` (number in `rax`, arguments in
/// `rdi, rsi, rdx, r10, r8, r9, r12, r13`) and stores the result in `rax`.
pub fn dispatch(frame: &mut TrapFrame) {
    let args = [
        frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9, frame.r12, frame.r13,
    ];
    let result = match frame.rax {
        syscall::DEBUG_WRITE => status(debug_write(args[0], args[1])),
        syscall::CLOCK_GET_MONOTONIC => crate::clock::monotonic_nanos(),
        syscall::PROCESS_EXIT => {
            // The frame now belongs to whatever runs next: leave it alone.
            crate::sched::end_current(frame, Outcome::Exited(args[0] as i64));
            return;
        }
        _ => status(Err(Status::BAD_SYSCALL)),
    };
    frame.rax = result;
}

fn status(result: Result<(), Status>) -> u64 {
    match result {
        Ok(()) => Status::OK.0 as i64 as u64,
        Err(status) => status.0 as i64 as u64,
    }
}

fn debug_write(address: u64, len: u64) -> Result<(), Status> {
    // Decode.
    let len = usize::try_from(len).map_err(|_| Status::INVALID_ARGS)?;
    if len > DEBUG_WRITE_MAX {
        return Err(Status::INVALID_ARGS);
    }
    let source = UserSlice::new(address, len)?;
    let mut buffer = [0u8; DEBUG_WRITE_MAX];
    source.read(&mut buffer[..len])?;
    // Act.
    crate::log::write_raw(&buffer[..len]);
    Ok(())
}
