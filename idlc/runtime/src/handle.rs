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

/// A handle type that generated code can hold: [`Handle`] (plain numbers,
/// for the host) or an owned kernel handle of the SDK that closes on drop.
/// `Default` must be the invalid handle.
pub trait OwnedHandle: Default + core::fmt::Debug + PartialEq {
    fn from_raw(raw: u32) -> Self;
    /// Gives up ownership of the raw value without closing it.
    fn into_raw(self) -> u32;
    fn raw(&self) -> u32;

    /// Called when a received handle has more rights than its type asks
    /// for: kernel handle types replace the handle with one that has only
    /// `rights`. The default keeps the handle as it is (plain numbers have
    /// no rights to reduce).
    fn reduce_rights(self, rights: u32) -> Result<Self, crate::DecodeError>
    where
        Self: Sized,
    {
        let _ = rights;
        Ok(self)
    }
}

impl OwnedHandle for Handle {
    #[inline]
    fn from_raw(raw: u32) -> Self {
        Handle(raw)
    }
    #[inline]
    fn into_raw(self) -> u32 {
        self.0
    }
    #[inline]
    fn raw(&self) -> u32 {
        self.0
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
/// `…Marker` type), held as a handle of type `H`.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientEnd<P, H = Handle> {
    handle: H,
    protocol: PhantomData<fn() -> P>,
}

/// The server end of a channel speaking protocol `P`.
#[derive(Debug, PartialEq, Eq)]
pub struct ServerEnd<P, H = Handle> {
    handle: H,
    protocol: PhantomData<fn() -> P>,
}

macro_rules! endpoint {
    ($name:ident) => {
        impl<P, H> $name<P, H> {
            #[inline]
            pub fn new(handle: H) -> Self {
                $name {
                    handle,
                    protocol: PhantomData,
                }
            }

            #[inline]
            pub fn into_handle(self) -> H {
                self.handle
            }

            #[inline]
            pub fn handle(&self) -> &H {
                &self.handle
            }

            #[inline]
            pub fn handle_mut(&mut self) -> &mut H {
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
