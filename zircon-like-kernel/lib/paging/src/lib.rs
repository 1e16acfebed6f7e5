//! x86_64 4-level page tables: map, unmap, protect, translate, tear down.
//!
//! The kernel keeps one set of tables per address space. This crate holds the
//! logic of walking and editing them, generic over [`TableAccess`]: how a
//! table at a physical address is reached and where new tables come from. In
//! the kernel that is the higher-half direct map and the frame allocator; in
//! the host tests it is a vector of tables, so every path here is unit-tested
//! without a machine.
//!
//! Policy enforced here rather than by callers: writable mappings are never
//! executable (W^X), addresses must be canonical and aligned, and a mapping
//! never silently replaces another one.
//!
//! Intel SDM Vol. 3A §4.5 ("4-level paging") describes the format.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub use x86_64::structures::paging::PageTableFlags as Flags;
pub use x86_64::{PhysAddr, VirtAddr};

/// Entries per table.
pub const ENTRIES: usize = 512;
/// Size of a small page.
pub const PAGE_SIZE_4K: u64 = 4096;
/// Size of a large page (a PD entry with `HUGE_PAGE`).
pub const PAGE_SIZE_2M: u64 = 2 * 1024 * 1024;
/// Bits of an entry that hold the physical address.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// One 4 KiB page table (any level).
#[derive(Clone)]
#[repr(C, align(4096))]
pub struct PageTable {
    /// Raw entries: physical address bits plus [`Flags`].
    pub entries: [u64; ENTRIES],
}

impl PageTable {
    /// A table with every entry absent.
    pub const fn empty() -> Self {
        PageTable {
            entries: [0; ENTRIES],
        }
    }
}

/// How the walker reaches tables and gets new ones.
pub trait TableAccess {
    /// The table stored in the frame at `phys`.
    fn table(&mut self, phys: PhysAddr) -> &mut PageTable;
    /// A new, zeroed table frame, or `None` when memory is exhausted.
    fn alloc_table(&mut self) -> Option<PhysAddr>;
    /// Returns a table frame that is no longer referenced.
    fn free_table(&mut self, phys: PhysAddr);
}

/// Page sizes this crate maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSize {
    /// 4 KiB, mapped by a PT entry.
    Size4K,
    /// 2 MiB, mapped by a PD entry with `HUGE_PAGE`.
    Size2M,
}

impl PageSize {
    /// Size in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => PAGE_SIZE_4K,
            PageSize::Size2M => PAGE_SIZE_2M,
        }
    }
}

/// What a mapping allows; the leaf flags are derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Access {
    /// Writes allowed.
    pub write: bool,
    /// Instruction fetches allowed.
    pub execute: bool,
    /// Reachable from ring 3.
    pub user: bool,
    /// Mapped in every address space and kept in the TLB across CR3 loads.
    pub global: bool,
    /// Uncached (device memory).
    pub uncached: bool,
}

impl Access {
    /// Read-only, not executable.
    pub const READ: Access = Access {
        write: false,
        execute: false,
        user: false,
        global: false,
        uncached: false,
    };

    /// Leaf flags for this access.
    pub fn leaf_flags(self) -> Flags {
        let mut flags = Flags::PRESENT;
        if self.write {
            flags |= Flags::WRITABLE;
        }
        if !self.execute {
            flags |= Flags::NO_EXECUTE;
        }
        if self.user {
            flags |= Flags::USER_ACCESSIBLE;
        }
        if self.global {
            flags |= Flags::GLOBAL;
        }
        if self.uncached {
            flags |= Flags::NO_CACHE | Flags::WRITE_THROUGH;
        }
        flags
    }

    /// The access a set of leaf flags grants.
    pub fn from_flags(flags: Flags) -> Access {
        Access {
            write: flags.contains(Flags::WRITABLE),
            execute: !flags.contains(Flags::NO_EXECUTE),
            user: flags.contains(Flags::USER_ACCESSIBLE),
            global: flags.contains(Flags::GLOBAL),
            uncached: flags.contains(Flags::NO_CACHE),
        }
    }
}

/// Why a page-table edit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The virtual or physical address is not aligned to the page size.
    Misaligned,
    /// The virtual address is not canonical.
    NonCanonical,
    /// Writable and executable at once: refused (W^X).
    WriteAndExecute,
    /// Something is already mapped there.
    AlreadyMapped,
    /// Nothing is mapped there.
    NotMapped,
    /// A large page covers the address, so a small page cannot be edited.
    LargePageInTheWay,
    /// No memory for a new table.
    OutOfTables,
}

/// The result of a successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address `virt` maps to.
    pub phys: PhysAddr,
    /// Size of the page that maps it.
    pub size: PageSize,
    /// Leaf flags of that page.
    pub flags: Flags,
}

fn canonical(virt: u64) -> Result<VirtAddr, MapError> {
    VirtAddr::try_new(virt).map_err(|_| MapError::NonCanonical)
}

fn indices(virt: VirtAddr) -> [usize; 4] {
    let v = virt.as_u64();
    [
        ((v >> 39) & 0x1ff) as usize,
        ((v >> 30) & 0x1ff) as usize,
        ((v >> 21) & 0x1ff) as usize,
        ((v >> 12) & 0x1ff) as usize,
    ]
}

fn entry_addr(entry: u64) -> PhysAddr {
    PhysAddr::new(entry & ADDR_MASK)
}

fn entry_flags(entry: u64) -> Flags {
    Flags::from_bits_truncate(entry & !ADDR_MASK)
}

/// Walks from `table` through the entry at `index`, creating the next-level
/// table if absent. Intermediate entries are permissive (present, writable,
/// and user if the leaf is); the leaf decides the real access.
fn next_table<A: TableAccess>(
    access: &mut A,
    table: PhysAddr,
    index: usize,
    user: bool,
) -> Result<PhysAddr, MapError> {
    let entry = access.table(table).entries[index];
    let flags = entry_flags(entry);
    if flags.contains(Flags::PRESENT) {
        if flags.contains(Flags::HUGE_PAGE) {
            return Err(MapError::LargePageInTheWay);
        }
        if user && !flags.contains(Flags::USER_ACCESSIBLE) {
            access.table(table).entries[index] |= Flags::USER_ACCESSIBLE.bits();
        }
        return Ok(entry_addr(entry));
    }
    let new = access.alloc_table().ok_or(MapError::OutOfTables)?;
    let mut flags = Flags::PRESENT | Flags::WRITABLE;
    if user {
        flags |= Flags::USER_ACCESSIBLE;
    }
    access.table(table).entries[index] = new.as_u64() | flags.bits();
    Ok(new)
}

/// Maps one page of `size` at `virt` to `phys` with `access` in the address
/// space whose top-level table is `root`.
pub fn map<A: TableAccess>(
    tables: &mut A,
    root: PhysAddr,
    virt: u64,
    phys: PhysAddr,
    size: PageSize,
    access: Access,
) -> Result<(), MapError> {
    if access.write && access.execute {
        return Err(MapError::WriteAndExecute);
    }
    let virt = canonical(virt)?;
    if virt.as_u64() % size.bytes() != 0 || !phys.as_u64().is_multiple_of(size.bytes()) {
        return Err(MapError::Misaligned);
    }
    let [l4, l3, l2, l1] = indices(virt);
    let pdpt = next_table(tables, root, l4, access.user)?;
    let pd = next_table(tables, pdpt, l3, access.user)?;
    let (table, index, extra) = match size {
        PageSize::Size2M => (pd, l2, Flags::HUGE_PAGE),
        PageSize::Size4K => (next_table(tables, pd, l2, access.user)?, l1, Flags::empty()),
    };
    let slot = &mut tables.table(table).entries[index];
    if entry_flags(*slot).contains(Flags::PRESENT) {
        return Err(MapError::AlreadyMapped);
    }
    *slot = phys.as_u64() | (access.leaf_flags() | extra).bits();
    Ok(())
}

/// Finds the leaf entry mapping `virt`: (table, index, size).
fn find_leaf<A: TableAccess>(
    tables: &mut A,
    root: PhysAddr,
    virt: VirtAddr,
) -> Option<(PhysAddr, usize, PageSize)> {
    let [l4, l3, l2, l1] = indices(virt);
    let mut table = root;
    for index in [l4, l3] {
        let entry = tables.table(table).entries[index];
        let flags = entry_flags(entry);
        if !flags.contains(Flags::PRESENT) || flags.contains(Flags::HUGE_PAGE) {
            // 1 GiB pages are never created by this crate.
            return None;
        }
        table = entry_addr(entry);
    }
    let entry = tables.table(table).entries[l2];
    let flags = entry_flags(entry);
    if !flags.contains(Flags::PRESENT) {
        return None;
    }
    if flags.contains(Flags::HUGE_PAGE) {
        return Some((table, l2, PageSize::Size2M));
    }
    let pt = entry_addr(entry);
    let leaf = tables.table(pt).entries[l1];
    if !entry_flags(leaf).contains(Flags::PRESENT) {
        return None;
    }
    Some((pt, l1, PageSize::Size4K))
}

/// Where `virt` maps to, if anywhere.
pub fn translate<A: TableAccess>(tables: &mut A, root: PhysAddr, virt: u64) -> Option<Translation> {
    let virt = canonical(virt).ok()?;
    let (table, index, size) = find_leaf(tables, root, virt)?;
    let entry = tables.table(table).entries[index];
    let offset = virt.as_u64() % size.bytes();
    Some(Translation {
        phys: entry_addr(entry) + offset,
        size,
        flags: entry_flags(entry),
    })
}

/// Removes the page mapping `virt` (which must be its first byte) and
/// returns what it mapped. The caller flushes the TLB.
pub fn unmap<A: TableAccess>(
    tables: &mut A,
    root: PhysAddr,
    virt: u64,
) -> Result<Translation, MapError> {
    let virt = canonical(virt)?;
    let (table, index, size) = find_leaf(tables, root, virt).ok_or(MapError::NotMapped)?;
    if virt.as_u64() % size.bytes() != 0 {
        return Err(MapError::Misaligned);
    }
    let slot = &mut tables.table(table).entries[index];
    let entry = *slot;
    *slot = 0;
    Ok(Translation {
        phys: entry_addr(entry),
        size,
        flags: entry_flags(entry),
    })
}

/// [`unmap`]s the 4 KiB page at `virt`, then frees the page table that
/// mapped it if it maps nothing any more, and the page directory above it
/// likewise, so a range mapped and unmapped again keeps no tables. Returns
/// what was mapped and how many tables were freed. The top two levels stay
/// (their entries may be shared by every address space). The caller
/// flushes the TLB for `virt`, which also drops the paging-structure
/// caches for it, before the freed tables' frames are used again.
pub fn unmap_and_prune<A: TableAccess>(
    tables: &mut A,
    root: PhysAddr,
    virt: u64,
) -> Result<(Translation, usize), MapError> {
    let translation = unmap(tables, root, virt)?;
    if translation.size != PageSize::Size4K {
        return Ok((translation, 0));
    }
    // `unmap` found a 4 KiB leaf: every level above it is present.
    let [l4, l3, l2, _] = indices(canonical(virt)?);
    let pdpt = entry_addr(tables.table(root).entries[l4]);
    let pd = entry_addr(tables.table(pdpt).entries[l3]);
    let pt = entry_addr(tables.table(pd).entries[l2]);
    let mut freed = 0;
    if tables.table(pt).entries.iter().all(|&entry| entry == 0) {
        tables.table(pd).entries[l2] = 0;
        tables.free_table(pt);
        freed += 1;
        if tables.table(pd).entries.iter().all(|&entry| entry == 0) {
            tables.table(pdpt).entries[l3] = 0;
            tables.free_table(pd);
            freed += 1;
        }
    }
    Ok((translation, freed))
}

/// Changes the access of the page mapping `virt`. The caller flushes the TLB.
pub fn protect<A: TableAccess>(
    tables: &mut A,
    root: PhysAddr,
    virt: u64,
    access: Access,
) -> Result<(), MapError> {
    if access.write && access.execute {
        return Err(MapError::WriteAndExecute);
    }
    let virt = canonical(virt)?;
    let (table, index, size) = find_leaf(tables, root, virt).ok_or(MapError::NotMapped)?;
    if virt.as_u64() % size.bytes() != 0 {
        return Err(MapError::Misaligned);
    }
    let slot = &mut tables.table(table).entries[index];
    let huge = if size == PageSize::Size2M {
        Flags::HUGE_PAGE
    } else {
        Flags::empty()
    };
    *slot = (*slot & ADDR_MASK) | (access.leaf_flags() | huge).bits();
    Ok(())
}

/// Frees every table below the top-level entries `range` of `root` (for
/// example `0..256`, the user half), calling `leaf` for each page still
/// mapped there, and clears those entries. The top-level table itself stays.
pub fn free_subtrees<A: TableAccess>(
    tables: &mut A,
    root: PhysAddr,
    range: core::ops::Range<usize>,
    leaf: &mut dyn FnMut(PhysAddr, PageSize),
) {
    for l4 in range {
        let entry = core::mem::take(&mut tables.table(root).entries[l4]);
        if entry_flags(entry).contains(Flags::PRESENT) {
            free_level(tables, entry_addr(entry), 3, leaf);
        }
    }
}

fn free_level<A: TableAccess>(
    tables: &mut A,
    table: PhysAddr,
    level: u8,
    leaf: &mut dyn FnMut(PhysAddr, PageSize),
) {
    for index in 0..ENTRIES {
        let entry = tables.table(table).entries[index];
        let flags = entry_flags(entry);
        if !flags.contains(Flags::PRESENT) {
            continue;
        }
        match level {
            1 => leaf(entry_addr(entry), PageSize::Size4K),
            2 if flags.contains(Flags::HUGE_PAGE) => leaf(entry_addr(entry), PageSize::Size2M),
            _ => free_level(tables, entry_addr(entry), level - 1, leaf),
        }
    }
    tables.free_table(table);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Physical memory" for tests: table `i` lives at physical `(i+1) * 4096`.
    struct Arena {
        tables: Vec<PageTable>,
        free: Vec<PhysAddr>,
        limit: usize,
    }

    impl Arena {
        fn new() -> (Arena, PhysAddr) {
            let mut arena = Arena {
                tables: Vec::new(),
                free: Vec::new(),
                limit: usize::MAX,
            };
            let root = arena.alloc_table().unwrap();
            (arena, root)
        }
        fn live(&self) -> usize {
            self.tables.len() - self.free.len()
        }
    }

    impl TableAccess for Arena {
        fn table(&mut self, phys: PhysAddr) -> &mut PageTable {
            let index = (phys.as_u64() / PAGE_SIZE_4K) as usize - 1;
            assert!(!self.free.contains(&phys), "use of a freed table");
            &mut self.tables[index]
        }
        fn alloc_table(&mut self) -> Option<PhysAddr> {
            if let Some(phys) = self.free.pop() {
                *self.table(phys) = PageTable::empty();
                return Some(phys);
            }
            if self.tables.len() >= self.limit {
                return None;
            }
            self.tables.push(PageTable::empty());
            Some(PhysAddr::new(self.tables.len() as u64 * PAGE_SIZE_4K))
        }
        fn free_table(&mut self, phys: PhysAddr) {
            assert!(!self.free.contains(&phys), "double free of a table");
            self.free.push(phys);
        }
    }

    const RW: Access = Access {
        write: true,
        execute: false,
        user: false,
        global: false,
        uncached: false,
    };
    const RX_USER: Access = Access {
        write: false,
        execute: true,
        user: true,
        global: false,
        uncached: false,
    };

    #[test]
    fn unmap_and_prune_frees_empty_tables_only() {
        let (mut t, root) = Arena::new();
        let base = 0xffff_ff00_0000_0000;
        // Two pages under one page table, a third under another table of
        // the same directory.
        for (i, virt) in [base, base + 0x1000, base + 0x20_0000]
            .into_iter()
            .enumerate()
        {
            map(
                &mut t,
                root,
                virt,
                PhysAddr::new(0x10_0000 + i as u64 * 0x1000),
                PageSize::Size4K,
                RW,
            )
            .unwrap();
        }
        // root, PDPT, PD and two PTs.
        assert_eq!(t.live(), 5);
        let (tr, freed) = unmap_and_prune(&mut t, root, base).unwrap();
        assert_eq!((tr.phys.as_u64(), freed), (0x10_0000, 0));
        assert_eq!(t.live(), 5);
        // The first table maps nothing now: it goes, the directory stays.
        let (_, freed) = unmap_and_prune(&mut t, root, base + 0x1000).unwrap();
        assert_eq!((freed, t.live()), (1, 4));
        assert!(translate(&mut t, root, base + 0x20_0000).is_some());
        // The last page: its table and the directory go; the PDPT stays.
        let (_, freed) = unmap_and_prune(&mut t, root, base + 0x20_0000).unwrap();
        assert_eq!((freed, t.live()), (2, 2));
        // Mapping there again builds what it needs.
        map(
            &mut t,
            root,
            base,
            PhysAddr::new(0x10_0000),
            PageSize::Size4K,
            RW,
        )
        .unwrap();
        assert_eq!(t.live(), 4);
        assert_eq!(
            unmap_and_prune(&mut t, root, base + 0x1000).map(|(_, n)| n),
            Err(MapError::NotMapped)
        );
    }

    #[test]
    fn map_then_translate_small_and_large() {
        let (mut t, root) = Arena::new();
        map(
            &mut t,
            root,
            0x40_0000,
            PhysAddr::new(0x12_3000),
            PageSize::Size4K,
            RX_USER,
        )
        .unwrap();
        let tr = translate(&mut t, root, 0x40_0abc).unwrap();
        assert_eq!(tr.phys.as_u64(), 0x12_3abc);
        assert_eq!(tr.size, PageSize::Size4K);
        assert!(tr.flags.contains(Flags::USER_ACCESSIBLE));
        assert!(!tr.flags.contains(Flags::NO_EXECUTE));
        assert!(!tr.flags.contains(Flags::WRITABLE));

        let high = 0xffff_8000_0020_0000;
        map(
            &mut t,
            root,
            high,
            PhysAddr::new(0x20_0000),
            PageSize::Size2M,
            RW,
        )
        .unwrap();
        let tr = translate(&mut t, root, high + 0x1234).unwrap();
        assert_eq!(tr.phys.as_u64(), 0x20_1234);
        assert_eq!(tr.size, PageSize::Size2M);
        assert!(tr.flags.contains(Flags::NO_EXECUTE | Flags::WRITABLE));
        assert!(!tr.flags.contains(Flags::USER_ACCESSIBLE));
        assert_eq!(translate(&mut t, root, 0x40_1000), None);
    }

    #[test]
    fn write_and_execute_is_refused() {
        let (mut t, root) = Arena::new();
        let wx = Access {
            write: true,
            execute: true,
            ..Access::READ
        };
        assert_eq!(
            map(
                &mut t,
                root,
                0x1000,
                PhysAddr::new(0x1000),
                PageSize::Size4K,
                wx
            ),
            Err(MapError::WriteAndExecute)
        );
        map(
            &mut t,
            root,
            0x1000,
            PhysAddr::new(0x1000),
            PageSize::Size4K,
            RX_USER,
        )
        .unwrap();
        assert_eq!(
            protect(&mut t, root, 0x1000, wx),
            Err(MapError::WriteAndExecute)
        );
    }

    #[test]
    fn bad_addresses_are_refused() {
        let (mut t, root) = Arena::new();
        let p = PhysAddr::new(0x1000);
        assert_eq!(
            map(&mut t, root, 0x1001, p, PageSize::Size4K, RW),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            map(&mut t, root, 0x1000, p, PageSize::Size2M, RW),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            map(&mut t, root, 0x0000_8000_0000_0000, p, PageSize::Size4K, RW),
            Err(MapError::NonCanonical)
        );
        assert_eq!(translate(&mut t, root, 0x0000_8000_0000_0000), None);
    }

    #[test]
    fn no_silent_replacement() {
        let (mut t, root) = Arena::new();
        map(
            &mut t,
            root,
            0x20_0000,
            PhysAddr::new(0x20_0000),
            PageSize::Size2M,
            RW,
        )
        .unwrap();
        assert_eq!(
            map(
                &mut t,
                root,
                0x20_0000,
                PhysAddr::new(0x40_0000),
                PageSize::Size2M,
                RW
            ),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            map(
                &mut t,
                root,
                0x20_1000,
                PhysAddr::new(0x1000),
                PageSize::Size4K,
                RW
            ),
            Err(MapError::LargePageInTheWay)
        );
    }

    #[test]
    fn unmap_and_protect() {
        let (mut t, root) = Arena::new();
        map(
            &mut t,
            root,
            0x5000,
            PhysAddr::new(0x9000),
            PageSize::Size4K,
            RW,
        )
        .unwrap();
        protect(&mut t, root, 0x5000, Access::READ).unwrap();
        let tr = translate(&mut t, root, 0x5000).unwrap();
        assert!(!tr.flags.contains(Flags::WRITABLE));
        assert_eq!(Access::from_flags(tr.flags), Access::READ);
        assert_eq!(unmap(&mut t, root, 0x5000).unwrap().phys.as_u64(), 0x9000);
        assert_eq!(unmap(&mut t, root, 0x5000), Err(MapError::NotMapped));
        assert_eq!(protect(&mut t, root, 0x5000, RW), Err(MapError::NotMapped));
        assert_eq!(translate(&mut t, root, 0x5000), None);
    }

    #[test]
    fn intermediate_tables_are_shared_and_user_bit_propagates() {
        let (mut t, root) = Arena::new();
        map(
            &mut t,
            root,
            0x1000,
            PhysAddr::new(0x1000),
            PageSize::Size4K,
            RW,
        )
        .unwrap();
        let after_first = t.live();
        assert_eq!(after_first, 4, "root + pdpt + pd + pt");
        map(
            &mut t,
            root,
            0x2000,
            PhysAddr::new(0x2000),
            PageSize::Size4K,
            RX_USER,
        )
        .unwrap();
        assert_eq!(t.live(), after_first, "same PT reused");
        // The path to the user page must be user-accessible at every level.
        let l4 = t.table(root).entries[0];
        assert!(entry_flags(l4).contains(Flags::USER_ACCESSIBLE));
    }

    #[test]
    fn out_of_tables_is_an_error() {
        let (mut t, root) = Arena::new();
        t.limit = 2;
        assert_eq!(
            map(
                &mut t,
                root,
                0x1000,
                PhysAddr::new(0x1000),
                PageSize::Size4K,
                RW
            ),
            Err(MapError::OutOfTables)
        );
    }

    #[test]
    fn teardown_frees_every_table_and_reports_leaves() {
        let (mut t, root) = Arena::new();
        for i in 0..600u64 {
            // Crosses a PT boundary (512 entries) and uses two PDs.
            map(
                &mut t,
                root,
                0x40_0000 + i * 4096,
                PhysAddr::new(0x100_0000 + i * 4096),
                PageSize::Size4K,
                RX_USER,
            )
            .unwrap();
        }
        map(
            &mut t,
            root,
            0x8000_0000,
            PhysAddr::new(0x20_0000),
            PageSize::Size2M,
            RW,
        )
        .unwrap();
        // A kernel-half mapping survives a user-half teardown.
        map(
            &mut t,
            root,
            0xffff_8000_0000_0000,
            PhysAddr::new(0),
            PageSize::Size2M,
            RW,
        )
        .unwrap();
        let mut leaves = Vec::new();
        free_subtrees(&mut t, root, 0..256, &mut |phys, size| {
            leaves.push((phys, size))
        });
        assert_eq!(leaves.len(), 601);
        assert_eq!(
            leaves
                .iter()
                .filter(|(_, s)| *s == PageSize::Size2M)
                .count(),
            1
        );
        assert_eq!(t.live(), 3, "root + the kernel-half pdpt and pd");
        assert!(translate(&mut t, root, 0xffff_8000_0000_0000).is_some());
        assert!(translate(&mut t, root, 0x40_0000).is_none());
    }
}
