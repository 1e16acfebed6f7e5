//! Driver syscalls: `vmo_create_physical` (device memory, never RAM),
//! `system_get_pci_ecam`, and interrupt objects (`interrupt_create`,
//! `_bind`, `_wait`, `_ack`, `_trigger`, `_get_info`). Each privileged call
//! is tried without a resource, with one of the wrong kind and with one
//! that does not cover the request: all `ACCESS_DENIED`.

use crate::resources::resource;
use crate::{check, expect_status, raw, step, Suite};
use zx::numbers as nr;
use zx::{
    AsHandleRef, Event, Handle, Interrupt, Port, Resource, Status, VmOptions, Vmar, Vmo,
    INTERRUPT_GSI, INTERRUPT_ISA, INTERRUPT_MSI, INTERRUPT_MSI_BASE, INTERRUPT_MSI_COUNT,
    INTERRUPT_VIRTUAL, PACKET_INTERRUPT,
};

const PAGE: u64 = 4096;
/// The local APIC's page: the kernel's own device.
const LOCAL_APIC: u64 = 0xfee0_0000;
/// RAM: inside the kernel image's first MiB.
const RAM: u64 = 0x20_0000;
/// q35's host bridge (bus 0, device 0): Intel 82G33/P35 MCH, 8086:29c0.
const Q35_HOST_BRIDGE: u32 = 0x29c0_8086;

fn with_root<R>(f: impl FnOnce(&Vmar) -> R) -> R {
    let root = core::mem::ManuallyDrop::new(Vmar::from_handle(Handle::from_raw(
        zx_runtime::vmar_root_self().0,
    )));
    f(&root)
}

fn past() -> zx::Time {
    0
}

fn soon() -> zx::Time {
    zx::deadline_after(20_000_000)
}

pub fn run(suite: &mut Suite) {
    suite.run("vmo_create_physical.needs_mmio_resource", || {
        let dma = resource("dma")?;
        expect_status(
            Vmo::create_physical(&dma, 0xfeb0_0000, PAGE).map(drop),
            Status::ACCESS_DENIED,
        )?;
        let irq = resource("irq")?;
        expect_status(
            Vmo::create_physical(&irq, 0xfeb0_0000, PAGE).map(drop),
            Status::ACCESS_DENIED,
        )?;
        let mmio = resource("mmio")?;
        let window = step(mmio.create(zx::RSRC_KIND_MMIO, 0xfeb0_0000, PAGE), "narrow")?;
        expect_status(
            Vmo::create_physical(&window, 0xfeb0_1000, PAGE).map(drop),
            Status::ACCESS_DENIED,
        )?;
        expect_status(
            Vmo::create_physical(&window, 0xfeb0_0000, 2 * PAGE).map(drop),
            Status::ACCESS_DENIED,
        )?;
        expect_status(
            Vmo::create_physical(&mmio, 1 << 52, PAGE).map(drop),
            Status::ACCESS_DENIED,
        )?;
        let event = step(Event::create(), "event")?;
        let not_resource = Resource::from_handle(event.into_handle());
        expect_status(
            Vmo::create_physical(&not_resource, 0xfeb0_0000, PAGE).map(drop),
            Status::WRONG_TYPE,
        )?;
        let mut out = 0u32;
        expect_status(
            raw(
                nr::VMO_CREATE_PHYSICAL,
                [
                    0x1234,
                    0xfeb0_0000,
                    PAGE,
                    &mut out as *mut u32 as u64,
                    0,
                    0,
                    0,
                    0,
                ],
            ),
            Status::BAD_HANDLE,
        )
    });
    suite.run("vmo_create_physical.refuses_ram_and_kernel_devices", || {
        let mmio = resource("mmio")?;
        for (paddr, size, what) in [
            (RAM, PAGE, "RAM"),
            (0, 16 * PAGE, "the low pages"),
            (LOCAL_APIC, PAGE, "the local APIC"),
            (0xfec0_0000, PAGE, "the I/O APIC"),
            (0xfeb0_0800, PAGE, "an unaligned address"),
            (0xfeb0_0000, 100, "an unaligned size"),
            (0xfeb0_0000, 0, "an empty range"),
            (u64::MAX - PAGE + 1, 2 * PAGE, "a wrapping range"),
        ] {
            expect_status(
                Vmo::create_physical(&mmio, paddr, size).map(drop),
                Status::INVALID_ARGS,
            )
            .map_err(|why| alloc::format!("{what}: {why}"))?;
        }
        Ok(())
    });
    suite.run("vmo_create_physical.maps_pci_configuration_space", || {
        let mmio = resource("mmio")?;
        let ecam = step(zx::pci_ecam(&mmio), "pci_ecam")?;
        check(ecam.base != 0 && ecam.base % PAGE == 0, "ECAM base")?;
        let vmo = step(Vmo::create_physical(&mmio, ecam.base, PAGE), "create")?;
        check(
            step(vmo.physical_address(16), "physical")? == ecam.base + 16,
            "physical address",
        )?;
        let mut byte = [0u8; 4];
        expect_status(vmo.read(&mut byte, 0), Status::NOT_SUPPORTED)?;
        let address = step(
            with_root(|root| root.map(0, &vmo, 0, PAGE, VmOptions::PERM_READ)),
            "map",
        )?;
        // SAFETY: the page was just mapped readable; configuration space
        // reads have no side effects.
        let id = unsafe { core::ptr::read_volatile(address as *const u32) };
        // SAFETY: the mapping is this test's alone.
        let _ = unsafe { with_root(|root| root.unmap(address, PAGE)) };
        check(
            id == Q35_HOST_BRIDGE,
            &alloc::format!("vendor/device {id:#x}, expected the q35 host bridge"),
        )?;
        // Device memory holds no code.
        expect_status(
            with_root(|root| {
                root.map(
                    0,
                    &vmo,
                    0,
                    PAGE,
                    VmOptions::PERM_READ | VmOptions::PERM_EXECUTE,
                )
            })
            .map(drop),
            Status::ACCESS_DENIED,
        )
    });
    suite.run("system_get_pci_ecam.needs_mmio_resource", || {
        let irq = resource("irq")?;
        expect_status(zx::pci_ecam(&irq).map(drop), Status::ACCESS_DENIED)?;
        let mmio = resource("mmio")?;
        let elsewhere = step(mmio.create(zx::RSRC_KIND_MMIO, 0x1000, PAGE), "narrow")?;
        expect_status(zx::pci_ecam(&elsewhere).map(drop), Status::ACCESS_DENIED)
    });
    suite.run("interrupt_create.needs_irq_resource", || {
        let mmio = resource("mmio")?;
        expect_status(
            Interrupt::create(&mmio, 5, INTERRUPT_ISA).map(drop),
            Status::ACCESS_DENIED,
        )?;
        let irq = resource("irq")?;
        let five = step(irq.create(zx::RSRC_KIND_IRQ, 5, 1), "narrow")?;
        expect_status(
            Interrupt::create(&five, 6, INTERRUPT_ISA).map(drop),
            Status::ACCESS_DENIED,
        )?;
        expect_status(
            Interrupt::create(&five, 6, INTERRUPT_VIRTUAL).map(drop),
            Status::ACCESS_DENIED,
        )?;
        let event = step(Event::create(), "event")?;
        expect_status(
            Interrupt::create(
                &Resource::from_handle(event.into_handle()),
                5,
                INTERRUPT_ISA,
            )
            .map(drop),
            Status::WRONG_TYPE,
        )
    });
    suite.run("interrupt_create.bad_arguments", || {
        let irq = resource("irq")?;
        expect_status(
            Interrupt::create(&irq, 5, 7).map(drop),
            Status::INVALID_ARGS,
        )?;
        expect_status(
            Interrupt::create(&irq, 16, INTERRUPT_ISA).map(drop),
            Status::OUT_OF_RANGE,
        )?;
        expect_status(
            Interrupt::create(&irq, 200, INTERRUPT_GSI).map(drop),
            Status::OUT_OF_RANGE,
        )?;
        let mut out = 0u32;
        expect_status(
            raw(
                nr::INTERRUPT_CREATE,
                [
                    irq.raw_handle() as u64,
                    5,
                    INTERRUPT_VIRTUAL as u64,
                    0,
                    0,
                    0,
                    0,
                    0,
                ],
            ),
            Status::INVALID_ARGS,
        )?;
        expect_status(
            raw(
                nr::INTERRUPT_CREATE,
                [
                    irq.raw_handle() as u64,
                    5,
                    INTERRUPT_VIRTUAL as u64,
                    zx::USER_ADDRESS_LIMIT,
                    0,
                    0,
                    0,
                    0,
                ],
            ),
            Status::INVALID_ARGS,
        )?;
        let _ = &mut out;
        Ok(())
    });
    suite.run("interrupt.line_is_exclusive_and_released", || {
        let irq = resource("irq")?;
        // ISA IRQ 5: nothing on q35 raises it.
        let first = step(Interrupt::create(&irq, 5, INTERRUPT_ISA), "claim")?;
        let info = step(first.info(), "info")?;
        check(
            info.cpu_vector != 0 && info.count == 0,
            "info of a fresh line",
        )?;
        expect_status(
            Interrupt::create(&irq, 5, INTERRUPT_ISA).map(drop),
            Status::ALREADY_EXISTS,
        )?;
        expect_status(
            Interrupt::create(&irq, info.gsi, INTERRUPT_GSI).map(drop),
            Status::ALREADY_EXISTS,
        )?;
        // A refused claim leaves the holder working.
        expect_status(first.wait(past()), Status::TIMED_OUT)?;
        expect_status(first.trigger(), Status::BAD_STATE)?;
        drop(first);
        step(
            Interrupt::create(&irq, 5, INTERRUPT_ISA),
            "claim after release",
        )?;
        Ok(())
    });
    suite.run("interrupt.msi_message_and_range", || {
        let irq = resource("irq")?;
        let number = INTERRUPT_MSI_BASE + 2;
        let msi = step(Interrupt::create(&irq, number, INTERRUPT_MSI), "claim")?;
        let info = step(msi.info(), "info")?;
        check(
            info.msi_address & 0xfff0_0000 == 0xfee0_0000,
            &alloc::format!("MSI address {:#x}", info.msi_address),
        )?;
        check(
            info.msi_data == info.cpu_vector && info.cpu_vector != 0,
            "MSI data is the vector",
        )?;
        expect_status(
            Interrupt::create(&irq, number, INTERRUPT_MSI).map(drop),
            Status::ALREADY_EXISTS,
        )?;
        expect_status(msi.trigger(), Status::BAD_STATE)?;
        expect_status(msi.wait(past()), Status::TIMED_OUT)?;
        step(msi.ack(), "ack")?;
        for bad in [5, INTERRUPT_MSI_BASE + INTERRUPT_MSI_COUNT] {
            expect_status(
                Interrupt::create(&irq, bad, INTERRUPT_MSI).map(drop),
                Status::OUT_OF_RANGE,
            )
            .map_err(|why| alloc::format!("MSI {bad}: {why}"))?;
        }
        // An MSI number is not a GSI.
        expect_status(
            Interrupt::create(&irq, number + 1, INTERRUPT_GSI).map(drop),
            Status::OUT_OF_RANGE,
        )?;
        let one_line = step(irq.create(zx::RSRC_KIND_IRQ, 20, 1), "narrow")?;
        expect_status(
            Interrupt::create(&one_line, number + 1, INTERRUPT_MSI).map(drop),
            Status::ACCESS_DENIED,
        )?;
        drop(msi);
        step(
            Interrupt::create(&irq, number, INTERRUPT_MSI),
            "claim after release",
        )?;
        Ok(())
    });
    suite.run("interrupt.virtual_wait_and_ack", || {
        let irq = resource("irq")?;
        let interrupt = step(Interrupt::create(&irq, 3, INTERRUPT_VIRTUAL), "create")?;
        expect_status(interrupt.wait(past()), Status::TIMED_OUT)?;
        expect_status(interrupt.wait(soon()), Status::TIMED_OUT)?;
        step(interrupt.trigger(), "trigger")?;
        step(interrupt.wait(soon()), "wait after trigger")?;
        step(interrupt.trigger(), "trigger while pending")?;
        let info = step(interrupt.info(), "info")?;
        check(info.count == 2 && info.pending == 1, "count 2, pending")?;
        step(interrupt.wait(past()), "still pending")?;
        step(interrupt.ack(), "ack")?;
        check(step(interrupt.info(), "info")?.pending == 0, "acked")?;
        expect_status(interrupt.wait(past()), Status::TIMED_OUT)?;
        step(interrupt.ack(), "ack when not pending")
    });
    suite.run("interrupt.bound_port_gets_one_packet_per_interrupt", || {
        let irq = resource("irq")?;
        let interrupt = step(Interrupt::create(&irq, 4, INTERRUPT_VIRTUAL), "create")?;
        let port = step(Port::create(), "port")?;
        step(interrupt.trigger(), "trigger before bind")?;
        step(interrupt.bind(&port, 77), "bind")?;
        let packet = step(port.wait(past()), "packet for the pending interrupt")?;
        check(
            packet.key == 77 && packet.packet_type == PACKET_INTERRUPT,
            "key and type",
        )?;
        for _ in 0..3 {
            step(interrupt.trigger(), "trigger")?;
        }
        expect_status(port.wait(past()).map(drop), Status::TIMED_OUT)?;
        step(interrupt.ack(), "ack")?;
        step(interrupt.trigger(), "trigger after ack")?;
        let packet = step(port.wait(past()), "second packet")?;
        let count = u64::from_le_bytes(packet.payload[8..16].try_into().unwrap_or_default());
        check(count == 5, &alloc::format!("count {count}, expected 5"))?;
        expect_status(interrupt.bind(&port, 1), Status::ALREADY_EXISTS)?;
        let other = step(Interrupt::create(&irq, 4, INTERRUPT_VIRTUAL), "another")?;
        expect_status(
            raw(
                nr::INTERRUPT_BIND,
                [
                    other.raw_handle() as u64,
                    port.raw_handle() as u64,
                    1,
                    1,
                    0,
                    0,
                    0,
                    0,
                ],
            ),
            Status::INVALID_ARGS,
        )
    });
    suite.run("interrupt.wrong_type_and_rights", || {
        let event = step(Event::create(), "event")?;
        let not_interrupt = Interrupt::from_handle(event.into_handle());
        expect_status(not_interrupt.wait(past()), Status::WRONG_TYPE)?;
        expect_status(not_interrupt.ack(), Status::WRONG_TYPE)?;
        expect_status(not_interrupt.info().map(drop), Status::WRONG_TYPE)?;
        let irq = resource("irq")?;
        let interrupt = step(Interrupt::create(&irq, 3, INTERRUPT_VIRTUAL), "create")?;
        let weak = step(
            interrupt
                .into_handle()
                .duplicate(zx::Rights::WAIT | zx::Rights::INSPECT),
            "duplicate",
        )?;
        let weak = Interrupt::from_handle(weak);
        expect_status(weak.ack(), Status::ACCESS_DENIED)?;
        expect_status(weak.trigger(), Status::ACCESS_DENIED)?;
        let port = step(Port::create(), "port")?;
        expect_status(weak.bind(&port, 0), Status::ACCESS_DENIED)
    });
}
