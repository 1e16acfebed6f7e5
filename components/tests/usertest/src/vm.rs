//! vmo_* and vmar_*: zero-fill on demand, reads and writes, sizes,
//! contiguous VMOs, mappings touched through pointers (demand paging),
//! shared mappings, W^X, sub-regions and rights.

use crate::{check, expect_status, raw, step, Suite};
use zx::numbers as nr;
use zx::{AsHandleRef, Channel, Handle, Rights, Status, VmOptions, Vmar, Vmo, VMO_RESIZABLE};

const PAGE: u64 = 4096;
const RW: VmOptions = VmOptions::PERM_READ.union(VmOptions::PERM_WRITE);

fn with_root<R>(f: impl FnOnce(&Vmar) -> R) -> R {
    let root = core::mem::ManuallyDrop::new(Vmar::from_handle(Handle::from_raw(
        zx_runtime::vmar_root_self().0,
    )));
    f(&root)
}

pub fn run(suite: &mut Suite) {
    suite.run("vmo.write_read", || {
        let vmo = step(Vmo::create(3 * PAGE, 0), "create")?;
        let data: alloc::vec::Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        step(vmo.write(&data, PAGE - 100), "write across pages")?;
        let mut back = alloc::vec![0u8; 5000];
        step(vmo.read(&mut back, PAGE - 100), "read")?;
        check(back == data, "data changed")
    });
    suite.run("vmo.uncommitted_reads_zero", || {
        let vmo = step(Vmo::create(2 * PAGE, 0), "create")?;
        let mut back = [0xffu8; 64];
        step(vmo.read(&mut back, PAGE + 8), "read")?;
        check(back == [0; 64], "not zero")
    });
    suite.run("vmo.size_rounds_up", || {
        let vmo = step(Vmo::create(100, 0), "create")?;
        check(step(vmo.size(), "size")? == PAGE, "not a page")
    });
    suite.run("vmo_write.past_end", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        expect_status(vmo.write(&[1; 16], PAGE - 8), Status::OUT_OF_RANGE)
    });
    suite.run("vmo_read.offset_overflow", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        expect_status(vmo.read(&mut [0; 16], u64::MAX - 4), Status::OUT_OF_RANGE)
    });
    suite.run("vmo_create.too_large", || {
        expect_status(Vmo::create(1 << 40, 0).map(drop), Status::OUT_OF_RANGE)
    });
    suite.run("vmo_create.bad_options", || {
        expect_status(Vmo::create(PAGE, 0x100).map(drop), Status::INVALID_ARGS)
    });
    suite.run("vmo_read.bad_buffer", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        let args = [
            vmo.raw_handle() as u64,
            0xffff_8000_0000_0000,
            0,
            16,
            0,
            0,
            0,
            0,
        ];
        expect_status(raw(nr::VMO_READ, args), Status::INVALID_ARGS)
    });
    suite.run("vmo_write.no_write_right", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        let reader = Vmo::from_handle(step(vmo.handle().duplicate(Rights::READ), "duplicate")?);
        expect_status(reader.write(&[1], 0), Status::ACCESS_DENIED)
    });
    suite.run("vmo_set_size.not_resizable", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        expect_status(vmo.set_size(2 * PAGE), Status::NOT_SUPPORTED)
    });
    suite.run("vmo_set_size.grow_and_shrink", || {
        let vmo = step(Vmo::create(PAGE, VMO_RESIZABLE), "create")?;
        step(vmo.set_size(4 * PAGE), "grow")?;
        step(vmo.write(&[9; 8], 3 * PAGE), "write in new pages")?;
        step(vmo.set_size(PAGE), "shrink")?;
        check(step(vmo.size(), "size")? == PAGE, "size not changed")?;
        expect_status(vmo.write(&[9; 8], 3 * PAGE), Status::OUT_OF_RANGE)
    });
    suite.run("vmo_set_size.shrink_while_mapped", || {
        let vmo = step(Vmo::create(2 * PAGE, VMO_RESIZABLE), "create")?;
        let address = step(with_root(|root| root.map(0, &vmo, 0, 2 * PAGE, RW)), "map")?;
        let result = vmo.set_size(PAGE);
        let unmapped = with_root(|root| {
            // SAFETY: nothing references the mapping.
            unsafe { root.unmap(address, 2 * PAGE) }
        });
        step(unmapped, "unmap")?;
        expect_status(result, Status::BAD_STATE)?;
        step(vmo.set_size(PAGE), "shrink after unmap")
    });
    suite.run("vmo.contiguous_physical_address", || {
        let dma = crate::resources::resource("dma")?;
        let vmo = step(Vmo::create_contiguous(&dma, 4 * PAGE), "create")?;
        let first = step(vmo.physical_address(0), "physical")?;
        let last = step(vmo.physical_address(3 * PAGE + 5), "physical")?;
        check(
            first != 0 && first % PAGE == 0 && last == first + 3 * PAGE + 5,
            "not contiguous",
        )?;
        expect_status(
            vmo.physical_address(4 * PAGE).map(drop),
            Status::OUT_OF_RANGE,
        )
    });
    suite.run("vmo_get_physical.paged", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        expect_status(vmo.physical_address(0).map(drop), Status::NOT_SUPPORTED)
    });

    suite.run("vmar.map_touch_read_back", || {
        let vmo = step(Vmo::create(4 * PAGE, 0), "create")?;
        let address = step(with_root(|root| root.map(0, &vmo, 0, 4 * PAGE, RW)), "map")?;
        // SAFETY: the mapping is ours, readable and writable, 4 pages long.
        let memory =
            unsafe { core::slice::from_raw_parts_mut(address as *mut u8, 4 * PAGE as usize) };
        check(memory[5000] == 0, "not zero-filled")?;
        memory[5000] = 0x5a;
        memory[3 * PAGE as usize] = 0xa5;
        let mut back = [0u8; 1];
        step(vmo.read(&mut back, 5000), "read")?;
        check(
            back[0] == 0x5a,
            "write through the mapping not seen in the VMO",
        )?;
        step(vmo.write(&[0x33], 100), "write")?;
        check(
            memory[100] == 0x33,
            "VMO write not seen through the mapping",
        )?;
        let unmapped = with_root(|root| {
            // SAFETY: `memory` is not used after this.
            unsafe { root.unmap(address, 4 * PAGE) }
        });
        step(unmapped, "unmap")
    });
    suite.run("vmar.two_mappings_share_pages", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        let a = step(with_root(|root| root.map(0, &vmo, 0, PAGE, RW)), "map a")?;
        let b = step(
            with_root(|root| root.map(0, &vmo, 0, PAGE, VmOptions::PERM_READ)),
            "map b",
        )?;
        // SAFETY: both mappings are ours and a page long; a is writable.
        unsafe { (a as *mut u64).write_volatile(0x1122_3344) };
        // SAFETY: as above.
        let seen = unsafe { (b as *const u64).read_volatile() };
        check(a != b && seen == 0x1122_3344, "pages not shared")
    });
    suite.run("vmar.usercopy_into_uncommitted_page", || {
        // channel_read writes into a mapped page nobody touched yet: the
        // kernel's copy must fault the page in, not fail.
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        let address = step(with_root(|root| root.map(0, &vmo, 0, PAGE, RW)), "map")?;
        let (a, b) = step(Channel::create(), "create")?;
        step(a.write(b"into fresh memory", alloc::vec![]), "write")?;
        // SAFETY: the mapping is ours, writable, a page long.
        let buffer = unsafe { core::slice::from_raw_parts_mut(address as *mut u8, 64) };
        let mut needed = (0, 0);
        let (n, _) = step(b.read_raw(buffer, &mut [], &mut needed), "read")?;
        check(&buffer[..n] == b"into fresh memory", "message not copied")
    });
    suite.run("vmar_map.write_and_execute", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        let options = RW | VmOptions::PERM_EXECUTE;
        expect_status(
            with_root(|root| root.map(0, &vmo, 0, PAGE, options)).map(drop),
            Status::ACCESS_DENIED,
        )
    });
    suite.run("vmar_map.specific_overlap", || {
        let vmo = step(Vmo::create(2 * PAGE, 0), "create")?;
        let (child, base) = step(
            with_root(|root| {
                root.allocate(
                    0,
                    16 * PAGE,
                    VmOptions::CAN_MAP_READ
                        | VmOptions::CAN_MAP_WRITE
                        | VmOptions::CAN_MAP_SPECIFIC,
                )
            }),
            "allocate",
        )?;
        let first = step(
            child.map(4 * PAGE, &vmo, 0, 2 * PAGE, RW | VmOptions::SPECIFIC),
            "map",
        )?;
        check(
            first == base + 4 * PAGE as usize,
            "not at the specific offset",
        )?;
        expect_status(
            child
                .map(5 * PAGE, &vmo, 0, PAGE, RW | VmOptions::SPECIFIC)
                .map(drop),
            Status::NO_RESOURCES,
        )
    });
    suite.run("vmar_map.beyond_vmo", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        expect_status(
            with_root(|root| root.map(0, &vmo, 0, 2 * PAGE, RW)).map(drop),
            Status::OUT_OF_RANGE,
        )
    });
    suite.run("vmar_map.vmo_without_write_right", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        let reader = Vmo::from_handle(step(
            vmo.handle().duplicate(Rights::READ | Rights::MAP),
            "duplicate",
        )?);
        expect_status(
            with_root(|root| root.map(0, &reader, 0, PAGE, RW)).map(drop),
            Status::ACCESS_DENIED,
        )
    });
    suite.run("vmar_allocate.child_rights", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        let (child, _) = step(
            with_root(|root| root.allocate(0, 8 * PAGE, VmOptions::CAN_MAP_READ)),
            "allocate",
        )?;
        step(
            child.map(0, &vmo, 0, PAGE, VmOptions::PERM_READ),
            "read-only map",
        )?;
        expect_status(
            child.map(0, &vmo, 0, PAGE, RW).map(drop),
            Status::ACCESS_DENIED,
        )
    });
    suite.run("vmar_allocate.too_big", || {
        let (child, _) = step(
            with_root(|root| root.allocate(0, 4 * PAGE, VmOptions::CAN_MAP_READ)),
            "allocate",
        )?;
        expect_status(
            child
                .allocate(0, 8 * PAGE, VmOptions::CAN_MAP_READ)
                .map(drop),
            Status::NO_RESOURCES,
        )
    });
    suite.run("vmar_unmap.with_vmo_offset_then_remap", || {
        // Unmapping must remove exactly the pages that were faulted in, or
        // mapping the range again would find stale entries.
        let vmo = step(Vmo::create(4 * PAGE, 0), "create")?;
        for round in 0..3u8 {
            let address = step(
                with_root(|root| root.map(0, &vmo, 2 * PAGE, 2 * PAGE, RW)),
                "map",
            )?;
            // SAFETY: the mapping is ours, writable, two pages long.
            let memory =
                unsafe { core::slice::from_raw_parts_mut(address as *mut u8, 2 * PAGE as usize) };
            check(
                round == 0 || memory[PAGE as usize + 1] == round - 1,
                "the data moved",
            )?;
            memory[PAGE as usize + 1] = round;
            // SAFETY: `memory` is not used after this.
            step(
                with_root(|root| unsafe { root.unmap(address, 2 * PAGE) }),
                "unmap",
            )?;
        }
        let mut back = [0u8; 1];
        step(vmo.read(&mut back, 3 * PAGE + 1), "read")?;
        check(back[0] == 2, "writes did not reach the right VMO page")
    });
    suite.run("vmar_unmap.twice", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        let address = step(with_root(|root| root.map(0, &vmo, 0, PAGE, RW)), "map")?;
        // SAFETY: nothing references the mapping.
        step(
            with_root(|root| unsafe { root.unmap(address, PAGE) }),
            "unmap",
        )?;
        // SAFETY: as above.
        expect_status(
            with_root(|root| unsafe { root.unmap(address, PAGE) }),
            Status::NOT_FOUND,
        )
    });
    suite.run("vmar_unmap.partial_mapping", || {
        let vmo = step(Vmo::create(2 * PAGE, 0), "create")?;
        let address = step(with_root(|root| root.map(0, &vmo, 0, 2 * PAGE, RW)), "map")?;
        // SAFETY: nothing references the mapping.
        expect_status(
            with_root(|root| unsafe { root.unmap(address, PAGE) }),
            Status::INVALID_ARGS,
        )
    });
    suite.run("vmar_protect.write_and_execute", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        let address = step(with_root(|root| root.map(0, &vmo, 0, PAGE, RW)), "map")?;
        // SAFETY: the call is refused; nothing changes.
        let result =
            with_root(|root| unsafe { root.protect(RW | VmOptions::PERM_EXECUTE, address, PAGE) });
        expect_status(result, Status::ACCESS_DENIED)?;
        // SAFETY: nothing writes the page after it becomes read-only.
        step(
            with_root(|root| unsafe { root.protect(VmOptions::PERM_READ, address, PAGE) }),
            "protect",
        )
    });
    suite.run("runtime.heap_grows_over_vmos", || {
        let process = core::mem::ManuallyDrop::new(zx::Process::from_handle(Handle::from_raw(
            zx_runtime::process_self().0,
        )));
        let before = step(process.resources(), "resources")?.mapped_bytes;
        let mut big = alloc::vec![0u8; 3 << 20];
        for (i, byte) in big.iter_mut().enumerate().step_by(4096) {
            *byte = i as u8;
        }
        let after = step(process.resources(), "resources")?.mapped_bytes;
        check(
            big[4096 * 7] == (4096 * 7) as u8,
            "heap memory lost a write",
        )?;
        check(
            after >= before + (3 << 20),
            "the heap did not map more memory",
        )
    });
    suite.run("vmar_protect.beyond_vmo_rights", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        let reader = Vmo::from_handle(step(
            vmo.handle().duplicate(Rights::READ | Rights::MAP),
            "duplicate",
        )?);
        let address = step(
            with_root(|root| root.map(0, &reader, 0, PAGE, VmOptions::PERM_READ)),
            "map",
        )?;
        // SAFETY: refused; nothing changes.
        let result = with_root(|root| unsafe { root.protect(RW, address, PAGE) });
        expect_status(result, Status::ACCESS_DENIED)
    });
    suite.run("vmar_allocate.depth_limit", || {
        let mut regions = alloc::vec::Vec::new();
        let options = VmOptions::CAN_MAP_READ;
        let mut current = step(
            with_root(|root| root.allocate(0, 64 * PAGE, options)),
            "first",
        )?
        .0;
        for _ in 0..32 {
            match current.allocate(0, 64 * PAGE, options) {
                Ok((child, _)) => regions.push(core::mem::replace(&mut current, child)),
                Err(status) => return expect_status(Err(status), Status::OUT_OF_RANGE),
            }
        }
        Err("32 nested regions were allowed".into())
    });
    suite.run("vmar_map.wrong_type", || {
        let vmo = step(Vmo::create(PAGE, 0), "create")?;
        let mut out = 0u64;
        let args = [
            vmo.raw_handle() as u64,
            3,
            0,
            vmo.raw_handle() as u64,
            0,
            PAGE,
            &mut out as *mut u64 as u64,
            0,
        ];
        expect_status(raw(nr::VMAR_MAP, args), Status::WRONG_TYPE)
    });
}
