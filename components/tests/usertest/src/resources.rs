//! Resources: narrowing with `resource_create`, and the privileged calls
//! that need one (`debug_read`, `debuglog_read`, `vmo_create_contiguous`,
//! `system_shutdown`). userboot hands this program the resources of
//! `processargs::RESOURCE_NAMES`; [`resource`] lends them to the tests.

use crate::{expect_status, raw, step, Suite};
use core::sync::atomic::{AtomicU32, Ordering};
use zx::{numbers as nr, processargs, AsHandleRef, Event, Handle, Resource, Rights, Status, Vmo};

/// The raw handles of the start-up resources, in `RESOURCE_NAMES` order
/// (0: not given). Kept for the whole run; tests get duplicates.
static KEPT: [AtomicU32; processargs::RESOURCE_NAMES.len()] =
    [const { AtomicU32::new(0) }; processargs::RESOURCE_NAMES.len()];

/// Takes the start-up resources (once, before the tests run).
pub fn take_startup_resources() {
    for (slot, (_, arg)) in KEPT.iter().zip(processargs::RESOURCE_NAMES) {
        if let Some(handle) = zx_runtime::take_startup_handle(processargs::resource(arg)) {
            slot.store(handle.into_raw(), Ordering::Relaxed);
        }
    }
}

/// A duplicate of the start-up resource called `name` in manifests.
pub fn resource(name: &str) -> Result<Resource, alloc::string::String> {
    let index = processargs::RESOURCE_NAMES
        .iter()
        .position(|(n, _)| *n == name)
        .ok_or_else(|| alloc::format!("no resource is called {name}"))?;
    let raw = KEPT[index].load(Ordering::Relaxed);
    if raw == 0 {
        return Err(alloc::format!("userboot gave no {name} resource"));
    }
    let kept = Handle::from_raw(raw);
    let copy = kept.duplicate(Rights::SAME_RIGHTS);
    let _ = kept.into_raw(); // still kept
    Ok(Resource::from_handle(step(copy, "duplicate resource")?))
}

const PAGE: u64 = 4096;

pub fn run(suite: &mut Suite) {
    suite.run("resource.narrow_within_range", || {
        let mmio = resource("mmio")?;
        let window = step(mmio.create(zx::RSRC_KIND_MMIO, 0x1000, 0x1000), "window")?;
        step(
            window.create(zx::RSRC_KIND_MMIO, 0x1800, 0x100),
            "inside the window",
        )?;
        expect_status(
            window.create(zx::RSRC_KIND_MMIO, 0x800, 0x1000).map(drop),
            Status::ACCESS_DENIED,
        )?;
        expect_status(
            window.create(zx::RSRC_KIND_MMIO, 0x1800, 0x1000).map(drop),
            Status::ACCESS_DENIED,
        )?;
        // Another kind is never inside a range.
        expect_status(
            window.create(zx::RSRC_KIND_IRQ, 0x1800, 1).map(drop),
            Status::ACCESS_DENIED,
        )?;
        expect_status(
            mmio.system(zx::RSRC_SYSTEM_DEBUG).map(drop),
            Status::ACCESS_DENIED,
        )
    });
    suite.run("resource.system_is_one_service", || {
        let dma = resource("dma")?;
        step(dma.system(zx::RSRC_SYSTEM_DMA), "same service")?;
        expect_status(
            dma.system(zx::RSRC_SYSTEM_POWER).map(drop),
            Status::ACCESS_DENIED,
        )?;
        expect_status(
            dma.create(zx::RSRC_KIND_SYSTEM, zx::RSRC_SYSTEM_DMA, 2)
                .map(drop),
            Status::INVALID_ARGS,
        )?;
        expect_status(
            dma.system(zx::RSRC_SYSTEM_COUNT).map(drop),
            Status::INVALID_ARGS,
        )
    });
    suite.run("resource_create.bad_arguments", || {
        let mmio = resource("mmio")?;
        for (kind, base, size) in [
            (u64::from(zx::RSRC_KIND_MMIO), 0x1000, 0),        // empty
            (u64::from(zx::RSRC_KIND_MMIO), u64::MAX - 4, 16), // wraps
            (u64::from(zx::RSRC_KIND_ROOT), 0, 1),             // nobody makes a root
            (3, 0, 1),                                         // no such kind
            (0x1_0000_0000, 0, 1),                             // does not fit 32 bits
        ] {
            let mut out = 0u32;
            let args = [
                mmio.raw_handle() as u64,
                kind,
                base,
                size,
                &mut out as *mut u32 as u64,
                0,
                0,
                0,
            ];
            expect_status(raw(nr::RESOURCE_CREATE, args), Status::INVALID_ARGS)
                .map_err(|why| alloc::format!("kind {kind} [{base:#x}, +{size:#x}): {why}"))?;
        }
        Ok(())
    });
    suite.run("resource_create.needs_write", || {
        let mmio = resource("mmio")?;
        let read_only = step(
            mmio.handle().duplicate(Rights::TRANSFER | Rights::INSPECT),
            "duplicate",
        )?;
        let read_only = Resource::from_handle(read_only);
        expect_status(
            read_only.create(zx::RSRC_KIND_MMIO, 0, PAGE).map(drop),
            Status::ACCESS_DENIED,
        )?;
        let event = step(Event::create(), "event")?;
        let event = Resource::from_handle(event.into_handle());
        expect_status(
            event.create(zx::RSRC_KIND_MMIO, 0, PAGE).map(drop),
            Status::WRONG_TYPE,
        )
    });
    suite.run("resource.privileged_calls_refuse_others", || {
        let mmio = resource("mmio")?;
        let debug = resource("debug")?;
        let mut buffer = [0u8; 16];
        // Console input needs `debug`.
        expect_status(
            zx::debug_read(&mmio, &mut buffer).map(drop),
            Status::ACCESS_DENIED,
        )?;
        // The kernel log needs `debuglog`.
        expect_status(
            zx::debuglog_read(&debug, 0, &mut buffer).map(drop),
            Status::ACCESS_DENIED,
        )?;
        // Contiguous memory (physical addresses) needs `dma`.
        expect_status(
            Vmo::create_contiguous(&debug, PAGE).map(drop),
            Status::ACCESS_DENIED,
        )?;
        // Power needs `power` (had this passed, the machine would be off).
        expect_status(zx::system_shutdown(&debug, 7).ok(), Status::ACCESS_DENIED)?;
        // A handle that is not a resource, or no handle at all.
        let event = Resource::from_handle(step(Event::create(), "event")?.into_handle());
        expect_status(
            zx::debug_read(&event, &mut buffer).map(drop),
            Status::WRONG_TYPE,
        )?;
        let nothing = Resource::from_handle(Handle::invalid());
        expect_status(
            Vmo::create_contiguous(&nothing, PAGE).map(drop),
            Status::BAD_HANDLE,
        )?;
        expect_status(zx::system_shutdown(&nothing, 7).ok(), Status::BAD_HANDLE)
    });
    suite.run("resource.cpu_stats_counts_idle_time", || {
        // Only the debug resource reads it.
        let not_resource = Resource::from_handle(step(Event::create(), "event")?.into_handle());
        expect_status(not_resource.cpu_stats().map(drop), Status::WRONG_TYPE)?;
        expect_status(
            resource("mmio")?.cpu_stats().map(drop),
            Status::ACCESS_DENIED,
        )?;
        let debug = resource("debug")?;
        let before = step(debug.cpu_stats(), "cpu stats")?;
        // Nothing else runs during the tests: a sleep halts the CPU.
        step(zx::nanosleep(zx::deadline_after(30_000_000)), "sleep")?;
        let after = step(debug.cpu_stats(), "cpu stats")?;
        if after.idle_ticks <= before.idle_ticks || after.reserved != 0 {
            return Err(alloc::format!(
                "idle ticks {} then {} across a 30 ms sleep",
                before.idle_ticks,
                after.idle_ticks
            ));
        }
        Ok(())
    });
    suite.run("resource.granted_calls_work", || {
        let debug = resource("debug")?;
        let mut buffer = [0u8; 16];
        // Nothing is typed during the tests: the call is allowed, and waits.
        expect_status(
            zx::debug_read(&debug, &mut buffer).map(drop),
            Status::SHOULD_WAIT,
        )?;
        let dma = resource("dma")?;
        step(Vmo::create_contiguous(&dma, PAGE), "contiguous")?;
        Ok(())
    });
}
