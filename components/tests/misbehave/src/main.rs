//! Misbehaves on purpose, as its first argument says:
//!
//! - `crash`: dereferences a null pointer (the component manager must
//!   report the fault and restart it per its manifest); `crash-later`
//!   does so after half a second;
//! - `hog`: allocates memory until its job's limit stops it (the component
//!   ends; the others keep running);
//! - `threads`: creates threads until its job's thread limit refuses one;
//! - `ignore-stop`: sleeps forever and never reads its lifecycle channel
//!   (the component manager must kill it after its stop deadline);
//! - `hostile`: sends the component manager malformed requests (see
//!   `hostile.rs`); exits with the number that were not refused;
//! - `spawner`: manages its own collection through a `Realm` scoped to it
//!   (see `spawner.rs`); exits with the number of checks that failed.
#![no_std]
#![no_main]

extern crate alloc;

mod fanout;
mod flood;
mod hostile;
mod spawner;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

/// The typed error of a Realm call (`OK` when it succeeded).
fn status<T, E>(result: Result<Result<T, i32>, E>) -> zx::Status {
    match result {
        Ok(Ok(_)) => zx::Status::OK,
        Ok(Err(code)) => zx::Status(code),
        Err(_) => zx::Status::PEER_CLOSED,
    }
}

use zx_runtime::println;

zx_runtime::entry!(main);

fn main() -> i64 {
    match zx_runtime::args().get(1).map(|arg| arg.as_str()) {
        Some(mode @ ("crash" | "crash-later")) => {
            if mode == "crash-later" {
                let _ = zx::nanosleep(zx::deadline_after(500_000_000));
            }
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
        Some("threads") => {
            // This process, borrowed: the runtime keeps the handle.
            let me = core::mem::ManuallyDrop::new(zx::Process::from_handle(zx::Handle::from_raw(
                zx_runtime::process_self().0,
            )));
            let mut threads = alloc::vec::Vec::new();
            for _ in 0..64 {
                match me.create_thread("extra") {
                    Ok(thread) => threads.push(thread),
                    Err(status) => {
                        println!(
                            "misbehave: thread limit: {} more threads, then {}",
                            threads.len(),
                            status
                        );
                        return threads.len() as i64;
                    }
                }
            }
            println!("misbehave: created 64 threads: no limit stopped me");
            0
        }
        Some("hostile") => hostile::run(),
        Some("flood") => flood::run(),
        Some("spawner") => spawner::run(),
        Some("fanout") => fanout::run(
            zx_runtime::args()
                .get(2)
                .and_then(|depth| depth.parse().ok())
                .unwrap_or(0),
        ),
        Some("ignore-stop") => {
            println!("misbehave: ignoring my lifecycle channel");
            loop {
                let _ = zx::nanosleep(zx::TIME_INFINITE);
            }
        }
        _ => {
            println!("misbehave: say crash, hog, threads, ignore-stop, hostile, flood or spawner");
            2
        }
    }
}
