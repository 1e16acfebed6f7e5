//! `build-image`: the host tool that turns the workspace into bootable
//! images and runs them.
//!
//! - [`product`]: what goes into an image (`manifests/products/*.toml`);
//! - [`cargo`]: building the kernel and user programs with bare-metal flags,
//!   apart from host builds;
//! - [`image`]: assembling `target/images/<product>/` (kernel + bootfs);
//! - [`disk`]: the system disk (GPT, blobfs with the product's blobs,
//!   data);
//! - [`machine`]: the devices of a product's machine (disks, network,
//!   bridge) and their host ends;
//! - [`host`]: tools the host needs (QEMU), installed when missing;
//! - [`qemu`]: booting an image, with a timeout and the guest's exit status;
//! - [`scaffold`]: `build-image new component <name>`, a first component
//!   that boots as written;
//! - [`systest`]: the system tests, shared by `build-image test` and
//!   `cargo test`; [`systest_storage`]: blobfs's; [`systest_budget`]: the
//!   component manager's budget under attack; [`systest_swap`]: the
//!   hot swap's; [`nettest`]: the
//!   netstack's, from the host side;
//! - [`manifest`]: component manifests (`manifests/components/*.json5`):
//!   checked at build time and compiled into the bootfs as `meta/<name>.cm`;
//! - [`fuzz`]: the in-guest syscall fuzzer's verdict and `build-image
//!   fuzz`;
//! - [`blob`]: blobs on the host, named by their Fuchsia Merkle root
//!   (`build-image blob-root`);
//! - [`abi`]: the syscall ABI backend, generating `zx-abi` and
//!   `docs/syscalls.md` from `idl/zx.idl` (`build-image gen-abi`);
//! - [`bridge`]: the host end of the bridge: `build-image ls`, `log`,
//!   `push` against a running system, and the bridge's system test;
//! - [`sdk`]: the client SDK bundle (`build-image sdk --out DIR`): Rust
//!   crates, C, Python, IR and docs from the IDL libraries.

pub mod abi;
pub mod bench;
pub mod blob;
pub mod bridge;
pub mod cargo;
pub mod disk;
pub mod fuzz;
pub mod host;
pub mod image;
pub mod machine;
pub mod manifest;
pub mod nettest;
pub mod packages;
pub mod product;
pub mod qemu;
pub mod scaffold;
pub mod sdk;
pub mod systest;
pub mod systest_budget;
pub mod systest_storage;
pub mod systest_swap;
pub mod systest_swap_host;
pub mod systest_swap_persist;
