//! The virtio-console port, through its driver's `zx.device.serial/Serial`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use zx::{Status, Time};
use zx_idl::ChannelTransport;

use crate::bindings::zx_device_serial::{
    SerialClient, SerialReadRequest, SerialWriteRequest, MAX_CHUNK,
};

/// Where the driver manager serves the port.
const DEVICE: &str = "serial/0";
/// How long to wait for the driver to publish it at boot.
const APPEAR_NANOS: i64 = 30_000_000_000;

/// The port the bridge speaks on.
pub struct Port {
    serial: SerialClient<ChannelTransport>,
}

impl Port {
    /// Opens `/dev/serial/0`, waiting until the driver has published it.
    pub fn open() -> Result<Port, String> {
        let deadline = zx::deadline_after(APPEAR_NANOS);
        let (directory, entry) = DEVICE.rsplit_once('/').unwrap_or(("", DEVICE));
        loop {
            let listed = zx_component::namespace::open(&format!("/dev/{directory}"))
                .and_then(zx_component::fs::read_dir)
                .map(|entries| entries.iter().any(|e| e.name == entry))
                .unwrap_or(false);
            if listed {
                let channel = zx_component::namespace::open(&format!("/dev/{DEVICE}"))
                    .map_err(|status| format!("cannot open /dev/{DEVICE}: {status}"))?;
                return Ok(Port {
                    serial: SerialClient::new(ChannelTransport::new(channel)),
                });
            }
            if zx::clock_get_monotonic().into_nanos() > deadline {
                return Err(format!("/dev/{DEVICE} did not appear (no bridge device?)"));
            }
            let _ = zx::nanosleep(zx::deadline_after(50_000_000));
        }
    }

    /// What has arrived by `deadline` (empty if nothing).
    pub fn read(&self, deadline: Time) -> Result<Vec<u8>, String> {
        match self.serial.read(SerialReadRequest { deadline }) {
            Ok(Ok(response)) => Ok(response.data),
            Ok(Err(code)) if Status(code) == Status::TIMED_OUT => Ok(Vec::new()),
            Ok(Err(code)) => Err(format!("read: {}", Status(code))),
            Err(error) => Err(format!("read: {error:?}")),
        }
    }

    /// Writes all of `data`, in chunks the driver takes.
    pub fn write(&self, data: &[u8]) -> Result<(), String> {
        for chunk in data.chunks(MAX_CHUNK as usize) {
            match self.serial.write(SerialWriteRequest {
                data: chunk.to_vec(),
            }) {
                Ok(Ok(_)) => {}
                Ok(Err(code)) => return Err(format!("write: {}", Status(code))),
                Err(error) => return Err(format!("write: {error:?}")),
            }
        }
        Ok(())
    }
}
