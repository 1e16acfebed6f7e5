//! Interrupt objects: a hardware interrupt line (an I/O APIC input) or a
//! virtual one, owned by a driver.
//!
//! When the line fires, the kernel masks it, counts it, raises
//! `INTERRUPT_SIGNALED`, and queues one `PACKET_INTERRUPT` packet on the
//! port it is bound to, if any. The line stays masked until the driver
//! calls `interrupt_ack`, so however fast a device interrupts, at most one
//! packet per interrupt object waits in a port: no queue grows without
//! bound. Level-triggered lines (PCI) need exactly this: the driver clears
//! the cause in the device before it acknowledges.
//!
//! A message-signalled interrupt (MSI, MSI-X) is raised by the device
//! writing a message (`interrupt_get_info` gives it); the kernel cannot
//! mask it, so one that arrives while the object is pending is counted
//! and coalesced — still at most one packet.
//!
//! A line or MSI number has at most one interrupt object ([`LINES`], a
//! fixed table), so hardware interrupt objects are bounded by the number
//! of lines; virtual
//! ones allocate no more than an event and are bounded the same way (the
//! process's handle limit). When the last handle closes — a driver that
//! exits or is killed — the line is masked and released.

use super::port::Port;
use super::{impl_into_any, KernelObject, ObjectBase};
use crate::arch::x86_64::ioapic::{self, Line};
use alloc::sync::{Arc, Weak};
use spin::Mutex;
use zerocopy::IntoBytes;
use zx_abi::{
    InterruptInfo, InterruptPacket, ObjectType, PortPacket, Signals, Status, INTERRUPT_GSI,
    INTERRUPT_ISA, INTERRUPT_MSI, INTERRUPT_VIRTUAL, PACKET_INTERRUPT,
};

/// Where an interrupt comes from.
#[derive(Clone, Copy)]
enum Source {
    /// An I/O APIC input.
    Line(Line),
    /// A message-signalled interrupt number.
    Msi(u32),
    /// `interrupt_trigger` only.
    Virtual,
}

/// Whether the interrupt waits for its acknowledgement.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Unmasked: the next interrupt will be taken.
    No,
    /// Fired at this time; masked until `interrupt_ack`.
    Since(i64),
}

struct InterruptState {
    pending: Pending,
    count: u64,
    binding: Option<(Weak<Port>, u64)>,
}

/// An interrupt object.
pub struct Interrupt {
    base: ObjectBase,
    vector: u32,
    kind: u32,
    source: Source,
    state: Mutex<InterruptState>,
}

/// The interrupt object holding each interrupt number (GSIs, then MSIs).
static LINES: Mutex<[Option<Weak<Interrupt>>; ioapic::NUMBERS as usize]> =
    Mutex::new([const { None }; ioapic::NUMBERS as usize]);

impl Interrupt {
    /// An interrupt for `vector` of kind `kind` (`INTERRUPT_*`); the caller
    /// has checked the resource. A hardware line is routed and unmasked.
    pub fn new(vector: u32, kind: u32) -> Result<Arc<Interrupt>, Status> {
        let source = match kind {
            INTERRUPT_VIRTUAL => Source::Virtual,
            INTERRUPT_ISA => {
                let irq = u8::try_from(vector)
                    .ok()
                    .filter(|irq| *irq < 16)
                    .ok_or(Status::OUT_OF_RANGE)?;
                Source::Line(ioapic::isa_line(irq))
            }
            INTERRUPT_MSI => {
                if !ioapic::is_msi(vector) {
                    return Err(Status::OUT_OF_RANGE);
                }
                Source::Msi(vector)
            }
            INTERRUPT_GSI => Source::Line(Line {
                gsi: vector,
                mode: ioapic::Mode {
                    level: true,
                    active_low: true,
                },
            }),
            _ => return Err(Status::INVALID_ARGS),
        };
        if let Source::Line(line) = source {
            if !ioapic::serves(line.gsi) {
                return Err(Status::OUT_OF_RANGE);
            }
        }
        let number = match source {
            Source::Line(line) => Some(line.gsi),
            Source::Msi(number) => Some(number),
            Source::Virtual => None,
        };
        let interrupt = Arc::new(Interrupt {
            base: ObjectBase::new(Signals::empty()),
            vector,
            kind,
            source,
            state: Mutex::new(InterruptState {
                pending: Pending::No,
                count: 0,
                binding: None,
            }),
        });
        if let Some(number) = number {
            let mut lines = LINES.lock();
            let slot = &mut lines[number as usize];
            if slot.as_ref().is_some_and(|w| w.strong_count() > 0) {
                return Err(Status::ALREADY_EXISTS);
            }
            *slot = Some(Arc::downgrade(&interrupt));
        }
        if let Source::Line(line) = source {
            ioapic::route(line);
            ioapic::unmask(line.gsi);
        }
        Ok(interrupt)
    }

    /// Whether this is a virtual interrupt.
    pub fn is_virtual(&self) -> bool {
        matches!(self.source, Source::Virtual)
    }

    /// The interrupt fired (the line, now masked, or `interrupt_trigger`).
    pub fn fire(&self) {
        let timestamp = crate::clock::monotonic_nanos() as i64;
        let (binding, count) = {
            let mut state = self.state.lock();
            state.count += 1;
            if state.pending != Pending::No {
                return;
            }
            state.pending = Pending::Since(timestamp);
            (state.binding.clone(), state.count)
        };
        self.base
            .update_signals(Signals::empty(), Signals::INTERRUPT_SIGNALED);
        if let Some((port, key)) = binding {
            if let Some(port) = port.upgrade() {
                queue_packet(&port, key, timestamp, count);
            }
        }
    }

    /// Clears a pending interrupt and unmasks the line.
    pub fn ack(&self) {
        {
            let mut state = self.state.lock();
            if state.pending == Pending::No {
                return;
            }
            state.pending = Pending::No;
        }
        self.base
            .update_signals(Signals::INTERRUPT_SIGNALED, Signals::empty());
        if let Source::Line(line) = self.source {
            ioapic::unmask(line.gsi);
        }
    }

    /// Binds the interrupt to `port`; a pending interrupt is queued at once.
    pub fn bind(&self, port: &Arc<Port>, key: u64) -> Result<(), Status> {
        let (pending, count) = {
            let mut state = self.state.lock();
            if state
                .binding
                .as_ref()
                .is_some_and(|(port, _)| port.strong_count() > 0)
            {
                return Err(Status::ALREADY_EXISTS);
            }
            state.binding = Some((Arc::downgrade(port), key));
            (state.pending, state.count)
        };
        if let Pending::Since(timestamp) = pending {
            queue_packet(port, key, timestamp, count);
        }
        Ok(())
    }

    /// What `interrupt_get_info` reports.
    pub fn info(&self) -> InterruptInfo {
        let state = self.state.lock();
        let (gsi, cpu_vector) = match self.source {
            Source::Line(line) => (line.gsi, ioapic::vector_of(line.gsi) as u32),
            Source::Msi(number) => (number, ioapic::vector_of(number) as u32),
            Source::Virtual => (0, 0),
        };
        let (msi_address, msi_data) = match self.source {
            Source::Msi(number) => ioapic::msi_message(number),
            _ => (0, 0),
        };
        InterruptInfo {
            vector: self.vector,
            kind: self.kind,
            gsi,
            cpu_vector,
            count: state.count,
            pending: (state.pending != Pending::No) as u64,
            msi_address,
            msi_data,
            reserved: 0,
        }
    }

    fn release_line(&self) {
        let number = match self.source {
            Source::Line(line) => line.gsi,
            Source::Msi(number) => number,
            Source::Virtual => return,
        };
        let mut lines = LINES.lock();
        let Some(slot) = lines.get_mut(number as usize) else {
            return;
        };
        // Only the holder masks and frees: a refused second claim must not.
        if slot
            .as_ref()
            .is_some_and(|w| core::ptr::eq(w.as_ptr(), self))
        {
            if let Source::Line(line) = self.source {
                ioapic::mask(line.gsi);
            }
            *slot = None;
        }
    }
}

fn queue_packet(port: &Port, key: u64, timestamp: i64, count: u64) {
    let body = InterruptPacket {
        timestamp,
        count,
        reserved0: 0,
        reserved1: 0,
    };
    let mut payload = [0u8; 32];
    payload.copy_from_slice(body.as_bytes());
    // A full port loses the packet, not the interrupt: it stays pending
    // (and signaled) until acknowledged.
    let _ = port.queue(PortPacket {
        key,
        packet_type: PACKET_INTERRUPT,
        status: 0,
        payload,
    });
}

/// A device interrupt arrived on CPU `vector`: mask its line (a GSI), end
/// the interrupt at the local APIC, and fire the object holding it.
/// False if `vector` is not a device vector.
pub fn on_vector(vector: u64) -> bool {
    let Some(number) = ioapic::number_of(vector) else {
        return false;
    };
    if ioapic::is_gsi(number) {
        ioapic::mask(number);
    }
    crate::arch::x86_64::apic::end_of_interrupt();
    let holder = LINES.lock()[number as usize]
        .as_ref()
        .and_then(Weak::upgrade);
    match holder {
        Some(interrupt) => interrupt.fire(),
        None => warn!("interrupt {number} with no interrupt object; ignored (a GSI stays masked)"),
    }
    true
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.release_line();
    }
}

impl KernelObject for Interrupt {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Interrupt
    }

    fn signalable(&self) -> Signals {
        Signals::USER_ALL
    }

    fn on_zero_handles(&self) {
        // A driver that dies releases its line at once, even if a port or
        // a wait still holds the object.
        self.release_line();
        self.state.lock().binding = None;
    }

    impl_into_any!();
}
