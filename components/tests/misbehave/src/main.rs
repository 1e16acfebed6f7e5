//! Misbehaves on purpose, as its first argument says:
//!
//! - `crash`: dereferences a null pointer (the component manager must
//!   report the fault and restart it per its manifest);
//! - `hog`: allocates memory until its job's limit stops it (the component
//!   ends; the others keep running).
#![no_std]
#![no_main]

extern crate alloc;

use zx_runtime::println;

zx_runtime::entry!(main);

fn main() -> i64 {
    match zx_runtime::args().get(1).map(|arg| arg.as_str()) {
        Some("crash") => {
            println!("misbehave: crashing on purpose");
            // SAFETY: not safe at all, on purpose: this must fault.
            let value = unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
            println!(
                "misbehave: read {} from address 0: the kernel did not stop me",
                value
            );
            0
        }
        Some("hog") => {
            let mut held = alloc::vec::Vec::new();
            for mib in 1..=64 {
                let mut block = alloc::vec![0u8; 1 << 20];
                block[0] = mib as u8;
                held.push(block);
                println!("misbehave: holding {} MiB", mib);
            }
            println!("misbehave: held 64 MiB: no limit stopped me");
            0
        }
        _ => {
            println!("misbehave: say crash or hog");
            2
        }
    }
}
