//! bigprog: a program near the package resolver's 16 MiB limit
//! (`zx.pkg.MAX_PROGRAM`), for the system test `storage.large_program`.
//!
//! 15 MiB of padding (`build.rs`) sits in its read-only data, so its
//! package's program blob is about 15 MiB: blobfs verifies it, the
//! resolver streams it into a VMO, the component manager launches from
//! that VMO mapped in place. It prints the size and an FNV-1a checksum of
//! its padding, which the host compares with its own of the same bytes
//! (every byte of the blob reached the process), then shuts the system
//! down through the Realm.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use bindings::zx_component::{RealmClient, RealmShutdownRequest};
use zx_idl::ChannelTransport;
use zx_runtime::println;

zx_runtime::entry!(main);

/// The padding.
static PAD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pad.bin"));

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn main() -> i64 {
    // `black_box`: the checksum is of the bytes loaded, not folded at
    // compile time.
    let pad = core::hint::black_box(PAD);
    println!(
        "bigprog: {} bytes of padding, fnv1a {:016x}",
        pad.len(),
        fnv1a(pad)
    );
    match zx_component::connect("zx.component.Realm") {
        Ok(channel) => {
            let realm = RealmClient::new(ChannelTransport::new(channel));
            let _ = realm.shutdown(RealmShutdownRequest { status: 0 });
        }
        Err(status) => println!("bigprog: no Realm: {status}"),
    }
    0
}
