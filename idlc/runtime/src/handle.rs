//! Handles as the bindings see them: raw numbers with object type and
//! rights metadata. The SDK converts between these and its owned kernel
//! handle types; on the host they are just numbers.

use core::marker::PhantomData;

/// Rights value meaning "do not check or reduce rights".
pub const NO_RIGHTS_CHECK: u32 = 0x8000_0000;

/// A handle value carried in a message. `0` is the invalid handle.
#[derive(Debug, PartialEq, Eq, Hash, Default)]
pub struct Handle(u32);

impl Handle {
    #[inline]
    pub const fn invalid() -> Handle {
        Handle(0)
    }

    #[inline]
    pub const fn from_raw(raw: u32) -> Handle {
        Handle(raw)
    }

    #[inline]
    pub const fn raw(&self) -> u32 {
        self.0
    }

    #[inline]
    pub const fn is_valid(&self) -> bool {
        self.0 != 0
    }

    /// Gives up ownership of the raw value.
    #[inline]
    pub fn into_raw(self) -> u32 {
        self.0
    }

    /// Moves the handle out, leaving the invalid handle behind (encoding
    /// moves handles out of the value being encoded).
    #[inline]
    pub fn take(&mut self) -> Handle {
        core::mem::take(self)
    }
}

/// A handle to be sent, with the type and rights the receiver expects.
#[derive(Debug, PartialEq, Eq)]
pub struct HandleDisposition {
    pub handle: Handle,
    /// Object type (`0` = any).
    pub object_type: u32,
    /// Rights to send with ([`NO_RIGHTS_CHECK`] = the handle's own).
    pub rights: u32,
}

/// A received handle with what the kernel says about it.
#[derive(Debug, PartialEq, Eq)]
pub struct HandleInfo {
    pub handle: Handle,
    pub object_type: u32,
    pub rights: u32,
}

impl HandleInfo {
    /// A handle with unknown type and all rights, for tests and host tools.
    #[inline]
    pub fn untyped(raw: u32) -> HandleInfo {
        HandleInfo {
            handle: Handle::from_raw(raw),
            object_type: 0,
            rights: u32::MAX,
        }
    }
}

/// The client end of a channel speaking protocol `P` (`P` is the generated
/// `…Marker` type).
#[derive(Debug, PartialEq, Eq)]
pub struct ClientEnd<P> {
    handle: Handle,
    protocol: PhantomData<fn() -> P>,
}

/// The server end of a channel speaking protocol `P`.
#[derive(Debug, PartialEq, Eq)]
pub struct ServerEnd<P> {
    handle: Handle,
    protocol: PhantomData<fn() -> P>,
}

macro_rules! endpoint {
    ($name:ident) => {
        impl<P> $name<P> {
            #[inline]
            pub fn new(handle: Handle) -> Self {
                $name {
                    handle,
                    protocol: PhantomData,
                }
            }

            #[inline]
            pub fn into_handle(self) -> Handle {
                self.handle
            }

            #[inline]
            pub fn handle(&self) -> &Handle {
                &self.handle
            }

            #[inline]
            pub fn handle_mut(&mut self) -> &mut Handle {
                &mut self.handle
            }
        }

        impl<P> Default for $name<P> {
            #[inline]
            fn default() -> Self {
                $name::new(Handle::invalid())
            }
        }
    };
}

endpoint!(ClientEnd);
endpoint!(ServerEnd);
