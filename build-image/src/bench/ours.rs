//! Our side: the `bench` product (the kernel and `components/bench` as the
//! only program), booted on the benchmark machine, and the `bench-blk`
//! product for the block-device cases (a component tree with the driver
//! manager), booted on the same machine; their reports are merged.

use super::machine::{Boot, Machine};
use super::measurement::GuestReport;
use super::net::Wall;
use crate::image::{self, Image};
use crate::product::Product;
use crate::qemu::Captured;
use anyhow::Result;
use std::path::Path;
use std::time::Duration;

/// The product booted for our side.
pub const PRODUCT: &str = "bench";
/// The product booted for our block-device cases: the component manager,
/// the driver manager, the virtio-blk driver and `blkbench`.
pub const BLOCK_PRODUCT: &str = "bench-blk";

/// The product booted for our network cases: the component manager, the
/// driver manager, the virtio-net driver, the netstack and `netbench`.
pub const NET_PRODUCT: &str = "bench-net";

/// Loads the `bench` product: its machine settings are used for both sides.
pub fn product(root: &Path) -> Result<Product> {
    Product::load(root, PRODUCT)
}

/// Builds the image (kernel + bootfs with `bin/bench`).
pub fn build(root: &Path, product: &Product, report: &mut dyn FnMut(String)) -> Result<Image> {
    image::build(root, product, report)
}

/// Boots the image and collects what the guest reported.
pub fn run(image: &Image, machine: &Machine, timeout: Duration) -> Result<(Captured, GuestReport)> {
    let args = machine.args(&Boot {
        kernel: &image.kernel,
        initrd: &image.bootfs,
        append: &image.product.cmdline,
    });
    let (captured, _) = super::net::boot(&args, timeout, None)?;
    let report = GuestReport::parse(captured.lines.iter().map(|(_, line)| line.as_str()));
    Ok((captured, report))
}

/// As [`run`], with the host's network client running meanwhile against
/// the machine's network card; its wall-clock figures come back too.
pub fn run_net(
    image: &Image,
    machine: &Machine,
    timeout: Duration,
) -> Result<(Captured, GuestReport, Option<Result<Wall>>)> {
    let args = machine.args(&Boot {
        kernel: &image.kernel,
        initrd: &image.bootfs,
        append: &image.product.cmdline,
    });
    let (captured, wall) = super::net::boot(&args, timeout, machine.net)?;
    let report = GuestReport::parse(captured.lines.iter().map(|(_, line)| line.as_str()));
    Ok((captured, report, wall))
}

/// Both reports as one: `second`'s cases that `first` has too (the TSC
/// overhead) are left out.
pub fn merge(first: GuestReport, second: GuestReport) -> GuestReport {
    let mut merged = first;
    for measurement in second.measurements {
        if !merged
            .measurements
            .iter()
            .any(|m| m.name == measurement.name)
        {
            merged.measurements.push(measurement);
        }
    }
    merged.errors.extend(second.errors);
    merged.finished &= second.finished;
    merged
}
