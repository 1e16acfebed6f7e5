//! The volume blobfs lives on: a byte range of a `zx.device.block` device,
//! reached through one VMO attached to the driver.

use crate::bindings::zx_device_block::{
    BlockAttachVmoRequest, BlockClient, BlockReadRequest, BlockWriteRequest,
};
use blobfs_core::store::{Device, IoError};
use zx::{Channel, Status, Vmo};
use zx_idl::ChannelTransport;

/// Bytes moved by one request (and the size of the transfer VMO).
const TRANSFER: u64 = 64 * 1024;

/// A byte range of a block device.
pub struct BlockVolume {
    client: BlockClient<ChannelTransport>,
    vmo: Vmo,
    sector_size: u64,
    /// First byte of the volume on the device.
    base: u64,
    /// Bytes of the volume.
    size: u64,
}

fn call<T, E>(result: Result<Result<T, i32>, E>) -> Result<T, Status> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(code)) => Err(Status(code)),
        Err(_) => Err(Status::PEER_CLOSED),
    }
}

impl BlockVolume {
    /// The whole device behind `channel`, or the range of `sectors`
    /// sectors from `first_sector` if given.
    pub fn open(channel: Channel, range: Option<(u64, u64)>) -> Result<BlockVolume, Status> {
        let client = BlockClient::new(ChannelTransport::new(channel));
        let info = client.get_info().map_err(|_| Status::PEER_CLOSED)?.info;
        let sector_size = u64::from(info.block_size);
        if sector_size == 0 || !TRANSFER.is_multiple_of(sector_size) {
            return Err(Status::NOT_SUPPORTED);
        }
        let (first, count) = range.unwrap_or((0, info.block_count));
        if first
            .checked_add(count)
            .is_none_or(|end| end > info.block_count)
        {
            return Err(Status::OUT_OF_RANGE);
        }
        let vmo = Vmo::create(TRANSFER, 0)?;
        let copy = vmo.handle().duplicate(zx::Rights::SAME_RIGHTS)?;
        let attached = call(client.attach_vmo(BlockAttachVmoRequest {
            vmo: idlc_runtime::Handle::from_raw(copy.into_raw()),
        }))?;
        if attached.id != 0 {
            return Err(Status::BAD_STATE);
        }
        Ok(BlockVolume {
            client,
            vmo,
            sector_size,
            base: first * sector_size,
            size: count * sector_size,
        })
    }

    /// The device's sector for byte `offset` of the volume; checks bounds
    /// and alignment.
    fn sector(&self, offset: u64, length: u64) -> Result<u64, IoError> {
        let end = offset.checked_add(length).ok_or(IoError)?;
        if end > self.size
            || !offset.is_multiple_of(self.sector_size)
            || !length.is_multiple_of(self.sector_size)
        {
            return Err(IoError);
        }
        Ok((self.base + offset) / self.sector_size)
    }
}

impl Device for BlockVolume {
    fn size(&self) -> u64 {
        self.size
    }

    fn read(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), IoError> {
        for (i, chunk) in buffer.chunks_mut(TRANSFER as usize).enumerate() {
            let at = offset + i as u64 * TRANSFER;
            let sector = self.sector(at, chunk.len() as u64)?;
            call(self.client.read(BlockReadRequest {
                vmo_id: 0,
                vmo_offset: 0,
                block: sector,
                count: (chunk.len() as u64 / self.sector_size) as u32,
            }))
            .map_err(|_| IoError)?;
            self.vmo.read(chunk, 0).map_err(|_| IoError)?;
        }
        Ok(())
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError> {
        for (i, chunk) in data.chunks(TRANSFER as usize).enumerate() {
            let at = offset + i as u64 * TRANSFER;
            let sector = self.sector(at, chunk.len() as u64)?;
            self.vmo.write(chunk, 0).map_err(|_| IoError)?;
            call(self.client.write(BlockWriteRequest {
                vmo_id: 0,
                vmo_offset: 0,
                block: sector,
                count: (chunk.len() as u64 / self.sector_size) as u32,
            }))
            .map_err(|_| IoError)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IoError> {
        call(self.client.flush()).map(|_| ()).map_err(|_| IoError)
    }
}
