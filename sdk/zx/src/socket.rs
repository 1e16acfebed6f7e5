//! Sockets: two linked endpoints carrying a byte stream or datagrams
//! (`socket_create` and friends in `docs/syscalls.md`).

use crate::handle::{AsHandleRef, Handle};
use crate::raw;
use zx_abi::{syscall as nr, HandleValue, Status, HANDLE_INVALID};

/// What a socket carries (`socket_create`'s options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// A byte stream: writes may be split or joined by reads.
    Stream,
    /// Datagrams that keep their boundaries.
    Datagram,
}

/// One endpoint of a socket.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Socket(Handle);

impl Socket {
    /// A new linked pair of endpoints.
    pub fn create(kind: SocketKind) -> Result<(Socket, Socket), Status> {
        let options = match kind {
            SocketKind::Stream => zx_abi::SOCKET_STREAM,
            SocketKind::Datagram => zx_abi::SOCKET_DATAGRAM,
        };
        Self::create_raw(options)
    }

    /// `socket_create` with any options (for tests of the kernel's checks).
    pub fn create_raw(options: u32) -> Result<(Socket, Socket), Status> {
        let (mut a, mut b) = (HANDLE_INVALID, HANDLE_INVALID);
        // SAFETY: both outputs are valid u32s for the kernel to write.
        crate::status(unsafe {
            raw::syscall3(
                nr::SOCKET_CREATE,
                options as u64,
                &mut a as *mut u32 as u64,
                &mut b as *mut u32 as u64,
            )
        })?;
        Ok((Socket(Handle::from_raw(a)), Socket(Handle::from_raw(b))))
    }

    /// Wraps an untyped handle (the kernel checks the type on use).
    pub fn from_handle(handle: Handle) -> Self {
        Socket(handle)
    }

    /// Unwraps the untyped handle.
    pub fn into_handle(self) -> Handle {
        self.0
    }

    /// The untyped handle.
    pub fn handle(&self) -> &Handle {
        &self.0
    }

    /// Writes `bytes` for the peer to read; returns how many were taken
    /// (for a stream, possibly fewer than offered; a datagram is taken
    /// whole or refused).
    pub fn write(&self, bytes: &[u8]) -> Result<usize, Status> {
        let mut actual = 0u64;
        // SAFETY: `bytes` is readable and `actual` writable for the call.
        crate::status(unsafe {
            raw::syscall5(
                nr::SOCKET_WRITE,
                self.raw_handle() as u64,
                0,
                bytes.as_ptr() as u64,
                bytes.len() as u64,
                &mut actual as *mut u64 as u64,
            )
        })?;
        Ok(actual as usize)
    }

    /// Reads into `buffer`; returns how many bytes arrived (a datagram
    /// longer than `buffer` is truncated).
    pub fn read(&self, buffer: &mut [u8]) -> Result<usize, Status> {
        self.read_with(0, buffer)
    }

    /// As [`Socket::read`], leaving the data buffered.
    pub fn peek(&self, buffer: &mut [u8]) -> Result<usize, Status> {
        self.read_with(zx_abi::SOCKET_PEEK, buffer)
    }

    fn read_with(&self, options: u32, buffer: &mut [u8]) -> Result<usize, Status> {
        let mut actual = 0u64;
        // SAFETY: `buffer` and `actual` are writable for the call.
        crate::status(unsafe {
            raw::syscall5(
                nr::SOCKET_READ,
                self.raw_handle() as u64,
                options as u64,
                buffer.as_mut_ptr() as u64,
                buffer.len() as u64,
                &mut actual as *mut u64 as u64,
            )
        })?;
        Ok(actual as usize)
    }

    /// Shuts down writing from this end (`write`), reading into it
    /// (`read`), or both.
    pub fn shutdown(&self, write: bool, read: bool) -> Result<(), Status> {
        let mut options = 0;
        if write {
            options |= zx_abi::SOCKET_SHUTDOWN_WRITE;
        }
        if read {
            options |= zx_abi::SOCKET_SHUTDOWN_READ;
        }
        // SAFETY: no pointers.
        crate::status(unsafe {
            raw::syscall2(
                nr::SOCKET_SHUTDOWN,
                self.raw_handle() as u64,
                options as u64,
            )
        })
    }
}

/// Which threshold [`Socket::set_threshold`] sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketThreshold {
    /// `SOCKET_READ_THRESHOLD` while at least this many bytes wait to be
    /// read from this end.
    Read,
    /// `SOCKET_WRITE_THRESHOLD` while the peer has room for at least this
    /// many bytes from this end.
    Write,
}

impl Socket {
    /// Sets a threshold in bytes (0 turns it off): `socket_set_threshold`.
    pub fn set_threshold(&self, which: SocketThreshold, bytes: usize) -> Result<(), Status> {
        let options = match which {
            SocketThreshold::Read => zx_abi::SOCKET_THRESHOLD_READ,
            SocketThreshold::Write => zx_abi::SOCKET_THRESHOLD_WRITE,
        };
        Self::set_threshold_raw(self.raw_handle(), options, bytes as u64)
    }

    /// `socket_set_threshold` with any arguments (for tests of the
    /// kernel's checks).
    pub fn set_threshold_raw(handle: HandleValue, options: u32, bytes: u64) -> Result<(), Status> {
        // SAFETY: no pointers.
        crate::status(unsafe {
            raw::syscall3(
                nr::SOCKET_SET_THRESHOLD,
                handle as u64,
                options as u64,
                bytes,
            )
        })
    }
}

impl AsHandleRef for Socket {
    fn raw_handle(&self) -> HandleValue {
        self.0.raw_handle()
    }
}
