//! Owned handles.

use crate::raw;
use zx_abi::info::HandleBasic;
use zx_abi::{syscall as nr, HandleValue, Rights, Signals, Status, Time, HANDLE_INVALID};

/// An owned handle of any type. Dropping it closes it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Handle(HandleValue);

impl Handle {
    /// Takes ownership of a raw handle value.
    ///
    /// The value must not be owned elsewhere (or it would be closed twice);
    /// a wrong value is harmless to the kernel (it answers `BAD_HANDLE`).
    pub fn from_raw(value: HandleValue) -> Handle {
        Handle(value)
    }

    /// An invalid handle (closing it does nothing).
    pub fn invalid() -> Handle {
        Handle(HANDLE_INVALID)
    }

    /// Gives up ownership and returns the raw value.
    pub fn into_raw(self) -> HandleValue {
        let value = self.0;
        core::mem::forget(self);
        value
    }

    /// Closes the handle, reporting the kernel's answer.
    pub fn close(self) -> Result<(), Status> {
        let value = self.into_raw();
        // SAFETY: no pointers.
        crate::status(unsafe { raw::syscall1(nr::HANDLE_CLOSE, value as u64) })
    }

    /// A new handle to the same object with `rights` (or `SAME_RIGHTS`).
    pub fn duplicate(&self, rights: Rights) -> Result<Handle, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: `out` is a valid u32 for the kernel to write.
        crate::status(unsafe {
            raw::syscall3(
                nr::HANDLE_DUPLICATE,
                self.0 as u64,
                rights.bits() as u64,
                &mut out as *mut u32 as u64,
            )
        })?;
        Ok(Handle(out))
    }

    /// Replaces this handle with one with `rights`.
    pub fn replace(self, rights: Rights) -> Result<Handle, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: `out` is a valid u32 for the kernel to write.
        let result = crate::status(unsafe {
            raw::syscall3(
                nr::HANDLE_REPLACE,
                self.0 as u64,
                rights.bits() as u64,
                &mut out as *mut u32 as u64,
            )
        });
        match result {
            Ok(()) => {
                let _ = self.into_raw(); // the kernel closed it
                Ok(Handle(out))
            }
            Err(status) => Err(status),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.0 != HANDLE_INVALID {
            // SAFETY: no pointers. An error cannot be reported from drop.
            unsafe { raw::syscall1(nr::HANDLE_CLOSE, self.0 as u64) };
        }
    }
}

/// A borrowed handle value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandleRef(pub HandleValue);

/// What every handle type can do.
pub trait AsHandleRef {
    /// The raw value.
    fn raw_handle(&self) -> HandleValue;

    /// Borrows the handle.
    fn as_handle_ref(&self) -> HandleRef {
        HandleRef(self.raw_handle())
    }

    /// Waits until one of `signals` is raised or `deadline` passes; returns
    /// the signals observed.
    fn wait_one(&self, signals: Signals, deadline: Time) -> Result<Signals, Status> {
        let mut observed = 0u32;
        // SAFETY: `observed` is a valid u32 for the kernel to write.
        let result = crate::status(unsafe {
            raw::syscall4(
                nr::OBJECT_WAIT_ONE,
                self.raw_handle() as u64,
                signals.bits() as u64,
                deadline as u64,
                &mut observed as *mut u32 as u64,
            )
        });
        match result {
            Ok(()) => Ok(Signals::from_bits_retain(observed)),
            Err(status) => Err(status),
        }
    }

    /// Clears then sets signals on the object.
    fn signal(&self, clear: Signals, set: Signals) -> Result<(), Status> {
        // SAFETY: no pointers.
        crate::status(unsafe {
            raw::syscall3(
                nr::OBJECT_SIGNAL,
                self.raw_handle() as u64,
                clear.bits() as u64,
                set.bits() as u64,
            )
        })
    }

    /// Clears then sets signals on the object's peer.
    fn signal_peer(&self, clear: Signals, set: Signals) -> Result<(), Status> {
        // SAFETY: no pointers.
        crate::status(unsafe {
            raw::syscall3(
                nr::OBJECT_SIGNAL_PEER,
                self.raw_handle() as u64,
                clear.bits() as u64,
                set.bits() as u64,
            )
        })
    }

    /// Asks for one packet with `key` on `port` when one of `signals` is
    /// raised (at once if one already is).
    fn wait_async(&self, port: &crate::Port, key: u64, signals: Signals) -> Result<(), Status> {
        // SAFETY: no pointers.
        crate::status(unsafe {
            raw::syscall5(
                nr::OBJECT_WAIT_ASYNC,
                self.raw_handle() as u64,
                port.raw_handle() as u64,
                key,
                signals.bits() as u64,
                0,
            )
        })
    }

    /// Koid, rights, type and peer koid.
    fn basic_info(&self) -> Result<HandleBasic, Status> {
        let mut record = HandleBasic::default();
        // SAFETY: `record` is valid for the kernel to write its size.
        crate::status(unsafe {
            raw::syscall6(
                nr::OBJECT_GET_INFO,
                self.raw_handle() as u64,
                zx_abi::info::HANDLE_BASIC as u64,
                &mut record as *mut HandleBasic as u64,
                core::mem::size_of::<HandleBasic>() as u64,
                0,
                0,
            )
        })?;
        Ok(record)
    }
}

impl AsHandleRef for Handle {
    fn raw_handle(&self) -> HandleValue {
        self.0
    }
}

impl AsHandleRef for HandleRef {
    fn raw_handle(&self) -> HandleValue {
        self.0
    }
}
