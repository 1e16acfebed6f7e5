//! A writer for the "newc" cpio format (the one Linux unpacks as an
//! initramfs), so the Linux peer's initramfs is built without a `cpio`
//! binary, which many machines lack.
//!
//! Format (Linux `Documentation/driver-api/early-userspace/buffer-format.rst`):
//! each entry is a 110-byte ASCII header — the magic `070701` then 13
//! eight-digit hex fields — followed by the NUL-terminated name, padding
//! to 4 bytes, the data, and padding to 4 bytes. The archive ends with an
//! entry named `TRAILER!!!`.

use std::io::Write;

/// File-type bits of `st_mode`.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

/// An in-memory newc archive under construction.
#[derive(Debug, Default)]
pub struct Archive {
    bytes: Vec<u8>,
    next_inode: u32,
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Archive {
        Archive {
            bytes: Vec::new(),
            next_inode: 1,
        }
    }

    /// Adds a directory (`permissions` such as `0o755`).
    pub fn directory(&mut self, name: &str, permissions: u32) {
        self.entry(name, S_IFDIR | permissions, 2, (0, 0), &[]);
    }

    /// Adds a regular file.
    pub fn file(&mut self, name: &str, permissions: u32, data: &[u8]) {
        self.entry(name, S_IFREG | permissions, 1, (0, 0), data);
    }

    /// Adds a character device node (`device` = major, minor).
    pub fn char_device(&mut self, name: &str, permissions: u32, device: (u32, u32)) {
        self.entry(name, S_IFCHR | permissions, 1, device, &[]);
    }

    /// Ends the archive with its trailer and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.header("TRAILER!!!", 0, 0, 1, (0, 0), 0);
        self.pad();
        self.bytes
    }

    fn entry(&mut self, name: &str, mode: u32, links: u32, device: (u32, u32), data: &[u8]) {
        let inode = self.next_inode;
        self.next_inode += 1;
        let size = u32::try_from(data.len()).expect("cpio newc entries are limited to 4 GiB");
        self.header(name, inode, mode, links, device, size);
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn header(
        &mut self,
        name: &str,
        inode: u32,
        mode: u32,
        links: u32,
        device: (u32, u32),
        size: u32,
    ) {
        let name_size = name.len() as u32 + 1;
        let fields = [
            inode, mode, 0, // uid
            0, // gid
            links, 0, // mtime: fixed, so the archive is reproducible
            size, 0, // dev major
            0, // dev minor
            device.0, device.1, name_size, 0, // check
        ];
        self.bytes.extend_from_slice(b"070701");
        for field in fields {
            write!(self.bytes, "{field:08x}").expect("writing to a Vec cannot fail");
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }
}

/// Compresses `data` as a gzip member (what Linux's initramfs unpacker
/// accepts).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(data)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Parses `(name, mode, rdev major, rdev minor, data)` entries back.
    fn entries(bytes: &[u8]) -> Vec<(String, u32, u32, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            assert_eq!(&bytes[at..at + 6], b"070701", "magic at {at}");
            let field = |i: usize| {
                let text = std::str::from_utf8(&bytes[at + 6 + 8 * i..at + 14 + 8 * i]).unwrap();
                u32::from_str_radix(text, 16).unwrap()
            };
            let (mode, size, major, minor, name_size) =
                (field(1), field(6), field(9), field(10), field(11));
            let name_start = at + 110;
            let name =
                String::from_utf8(bytes[name_start..name_start + name_size as usize - 1].to_vec())
                    .unwrap();
            assert_eq!(bytes[name_start + name_size as usize - 1], 0);
            let data_start = (name_start + name_size as usize).next_multiple_of(4);
            let data = bytes[data_start..data_start + size as usize].to_vec();
            at = (data_start + size as usize).next_multiple_of(4);
            if name == "TRAILER!!!" {
                assert_eq!(at, bytes.len());
                return out;
            }
            out.push((name, mode, major, minor, data));
        }
    }

    #[test]
    fn newc_round_trip() {
        let mut archive = Archive::new();
        archive.directory("dev", 0o755);
        archive.char_device("dev/console", 0o600, (5, 1));
        archive.file("init", 0o755, b"#!odd length");
        let bytes = archive.finish();
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(
            entries(&bytes),
            vec![
                ("dev".into(), 0o040755, 0, 0, vec![]),
                ("dev/console".into(), 0o020600, 5, 1, vec![]),
                ("init".into(), 0o100755, 0, 0, b"#!odd length".to_vec()),
            ]
        );
    }

    #[test]
    fn header_layout_matches_the_kernel_documentation() {
        let mut archive = Archive::new();
        archive.file("a", 0o644, b"xy");
        let bytes = archive.finish();
        // 110-byte header, "a\0", padded to 112, 2 data bytes padded to 4.
        assert_eq!(
            &bytes[..110],
            concat!(
                "070701", "00000001", "000081a4", "00000000", "00000000", "00000001", "00000000",
                "00000002", "00000000", "00000000", "00000000", "00000000", "00000002", "00000000"
            )
            .as_bytes()
        );
        assert_eq!(&bytes[110..116], b"a\0xy\0\0");
    }

    #[test]
    fn gzip_decompresses_to_the_input() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gzip(&data)[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, data);
    }
}
