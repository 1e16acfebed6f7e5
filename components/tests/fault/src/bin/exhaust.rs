//! Tries to run the machine out of memory, two ways; the kernel must
//! refuse or kill, never fall over.
//!
//! 1. Kernel memory: fills channels with 64 KiB messages (which live in the
//!    kernel heap) until writes are refused; then frees them all.
//! 2. User memory: maps a VMO larger than RAM and touches every page; when
//!    free memory reaches the kernel's reserve, the next fault cannot be
//!    served and the process is killed.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use zx::{Channel, Handle, Status, VmOptions, Vmar, Vmo};
use zx_runtime::println;

zx_runtime::entry!(main);

fn main() -> i64 {
    let message = alloc::vec![0x5au8; zx::CHANNEL_MAX_MSG_BYTES];
    let mut channels = Vec::new();
    let mut queued = 0u64;
    let refusal = 'fill: loop {
        let (a, b) = match Channel::create() {
            Ok(pair) => pair,
            Err(status) => break 'fill status,
        };
        loop {
            match a.write(&message, Vec::new()) {
                Ok(()) => queued += 1,
                Err(Status::SHOULD_WAIT) => break, // this channel is full
                Err(status) => {
                    channels.push((a, b));
                    break 'fill status;
                }
            }
        }
        channels.push((a, b));
    };
    println!(
        "fault-exhaust-memory: kernel refused after {} MiB queued: {:?}",
        queued / 16,
        refusal
    );
    drop(channels);
    println!("fault-exhaust-memory: freed; now touching more user memory than exists");

    let size = 8u64 << 30;
    let Ok(vmo) = Vmo::create(size, 0) else {
        return 2;
    };
    let root = core::mem::ManuallyDrop::new(Vmar::from_handle(Handle::from_raw(
        zx_runtime::vmar_root_self().0,
    )));
    let Ok(address) = root.map(
        0,
        &vmo,
        0,
        size,
        VmOptions::PERM_READ | VmOptions::PERM_WRITE,
    ) else {
        return 3;
    };
    let mut page = 0u64;
    while page < size {
        // SAFETY: the mapping is ours, writable, `size` bytes long.
        unsafe { ((address as u64 + page) as *mut u8).write_volatile(1) };
        page += 4096;
    }
    println!(
        "fault-exhaust-memory: touched {} MiB: the kernel did not stop me",
        size >> 20
    );
    0
}
