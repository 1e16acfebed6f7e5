//! Waiting for a signal in a way that a full executor port delays but
//! never turns into a wrong answer.
//!
//! `zx_async::on_signals` fails at once when the kernel refuses the
//! registration (the port's 4,096 slots are taken, or memory is short).
//! For the manager such a failure says nothing about the object: taking
//! it for "the process ended" killed every component started while the
//! port was full. So a refused wait is retried after a back-off, and the
//! one waiting learns only what really happened. The manager's budget
//! (`budget`) keeps the port from filling in the first place; this is
//! what stands if it does anyway.

use zx::{AsHandleRef, Signals, Status};
use zx_async::{on_signals, sleep};
use zx_runtime::println;

/// First back-off after a refused wait; doubled up to [`MAX_BACKOFF_NANOS`].
const FIRST_BACKOFF_NANOS: i64 = 1_000_000;
const MAX_BACKOFF_NANOS: i64 = 100_000_000;

/// Whether a failed wait is the kernel refusing the registration for now
/// (rather than something about the object or the handle).
fn refused_for_now(status: Status) -> bool {
    matches!(
        status,
        Status::NO_RESOURCES | Status::SHOULD_WAIT | Status::NO_MEMORY
    )
}

/// Waits until one of `signals` is raised on `object`; `what` names the
/// wait on the console if the kernel refuses it. Fails only with what the
/// kernel says of the handle itself (a bad handle, missing rights).
pub(super) async fn until_signalled(
    object: &impl AsHandleRef,
    signals: Signals,
    what: &str,
) -> Result<Signals, Status> {
    let mut backoff = FIRST_BACKOFF_NANOS;
    let mut reported = false;
    loop {
        match on_signals(object, signals).await {
            Ok(observed) => return Ok(observed),
            Err(status) if refused_for_now(status) => {
                if !core::mem::replace(&mut reported, true) {
                    println!(
                        "component_manager: cannot wait for {}: {}; retrying",
                        what, status
                    );
                }
                if sleep(zx::deadline_after(backoff)).await.is_err() {
                    // Even a timer cannot be waited for: block a moment
                    // and try again (a process ending, a peer closing
                    // frees the slots of the waits on it).
                    let _ = zx::nanosleep(zx::deadline_after(backoff));
                }
                backoff = (backoff * 2).min(MAX_BACKOFF_NANOS);
            }
            Err(status) => return Err(status),
        }
    }
}
