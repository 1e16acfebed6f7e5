//! Packages (`docs/packages.md`): a component is stored in blobfs as a
//! *meta blob* naming its files by Merkle root, plus those files as blobs
//! of their own. This crate encodes and decodes the meta blob, for
//! `build-image` (which writes a package per component onto the system
//! disk) and for the guest (`pkg list` at the console).
//!
//! A meta blob is UTF-8 lines, then the compiled manifest's bytes:
//!
//! ```text
//! zx-package 1
//! name echo_server
//! version 0.1.0
//! file bin/echo-server 5c0e…(64 hex digits) 81920
//! manifest 412
//! <412 bytes: the compiled component manifest, meta/<name>.cm>
//! ```
//!
//! The package is named by the meta blob's Merkle root. Decoding checks
//! everything ([`decode`]): a damaged meta blob is a typed error.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use merkle::MerkleRoot;

/// The first line of every meta blob.
pub const MAGIC: &str = "zx-package 1";
/// Most files one package lists.
pub const MAX_FILES: usize = 64;
/// Longest name, version or path.
pub const MAX_NAME: usize = 255;

/// One file of a package: where it is in the package and its blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Its path in the package (`bin/<binary>`).
    pub path: String,
    /// Its blob's Merkle root.
    pub root: MerkleRoot,
    /// Its size in bytes.
    pub size: u64,
}

/// A package's meta blob, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The component's manifest name (`echo_server`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its files, by path.
    pub files: Vec<File>,
    /// The compiled component manifest (`ComponentDecl`, as in the bootfs's
    /// `meta/<name>.cm`).
    pub manifest: Vec<u8>,
}

/// Why a meta blob does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageError {
    /// It does not start with [`MAGIC`]: not a meta blob.
    NotAPackage,
    /// It starts like one but is malformed: what is wrong.
    Malformed(&'static str),
}

impl core::fmt::Display for PackageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PackageError::NotAPackage => write!(f, "not a package meta blob"),
            PackageError::Malformed(what) => write!(f, "malformed meta blob: {what}"),
        }
    }
}

/// Whether `word` may be a name, version or path: 1 to [`MAX_NAME`]
/// printable ASCII bytes without spaces; a path has no empty, `.` or `..`
/// parts and does not start with `/`.
fn valid_word(word: &str) -> bool {
    !word.is_empty() && word.len() <= MAX_NAME && word.bytes().all(|b| b.is_ascii_graphic())
}

fn valid_path(path: &str) -> bool {
    valid_word(path)
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Encodes `package` (its words must be valid: `build-image` checks them
/// with [`check`]).
pub fn encode(package: &Package) -> Vec<u8> {
    let mut text = format!(
        "{MAGIC}\nname {}\nversion {}\n",
        package.name, package.version
    );
    for file in &package.files {
        text.push_str(&format!("file {} {} {}\n", file.path, file.root, file.size));
    }
    text.push_str(&format!("manifest {}\n", package.manifest.len()));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(&package.manifest);
    bytes
}

/// Checks that `package` encodes into a meta blob that decodes back.
pub fn check(package: &Package) -> Result<(), PackageError> {
    decode(&encode(package)).map(|_| ())
}

/// Whether `bytes` starts like a meta blob (for scanning `/blob`).
pub fn looks_like_meta(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC.as_bytes()) && bytes.get(MAGIC.len()) == Some(&b'\n')
}

/// Decodes a meta blob.
pub fn decode(bytes: &[u8]) -> Result<Package, PackageError> {
    if !looks_like_meta(bytes) {
        return Err(PackageError::NotAPackage);
    }
    let mut rest = &bytes[MAGIC.len() + 1..];
    let mut line = || -> Result<&str, PackageError> {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PackageError::Malformed("a line does not end"))?;
        let text = core::str::from_utf8(&rest[..end])
            .map_err(|_| PackageError::Malformed("a line is not UTF-8"))?;
        rest = &rest[end + 1..];
        Ok(text)
    };
    let field = |text: &str, key: &'static str| -> Result<String, PackageError> {
        let value = text
            .strip_prefix(key)
            .and_then(|v| v.strip_prefix(' '))
            .ok_or(PackageError::Malformed(
                "a field is missing or out of order",
            ))?;
        if !valid_word(value) {
            return Err(PackageError::Malformed("a name or version is not valid"));
        }
        Ok(value.into())
    };
    let name = field(line()?, "name")?;
    let version = field(line()?, "version")?;
    let mut files: Vec<File> = Vec::new();
    let manifest_length = loop {
        let text = line()?;
        if let Some(length) = text.strip_prefix("manifest ") {
            break length
                .parse::<usize>()
                .map_err(|_| PackageError::Malformed("the manifest's length is not a number"))?;
        }
        let words: Vec<&str> = text.split(' ').collect();
        let ["file", path, root, size] = words[..] else {
            return Err(PackageError::Malformed(
                "a line is neither a file nor the manifest",
            ));
        };
        if !valid_path(path) {
            return Err(PackageError::Malformed("a file's path is not valid"));
        }
        if files.iter().any(|f| f.path == path) {
            return Err(PackageError::Malformed("a path is listed twice"));
        }
        if files.len() == MAX_FILES {
            return Err(PackageError::Malformed("too many files"));
        }
        files.push(File {
            path: path.into(),
            root: root
                .parse()
                .map_err(|_| PackageError::Malformed("a file's root is not 64 hex digits"))?,
            size: size
                .parse()
                .map_err(|_| PackageError::Malformed("a file's size is not a number"))?,
        });
    };
    if rest.len() != manifest_length {
        return Err(PackageError::Malformed(
            "the manifest's length does not match what follows",
        ));
    }
    Ok(Package {
        name,
        version,
        files,
        manifest: rest.to_vec(),
    })
}

impl Package {
    /// The file at `path`.
    pub fn file(&self, path: &str) -> Option<&File> {
        self.files.iter().find(|f| f.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use merkle::root_of;

    fn sample() -> Package {
        Package {
            name: "echo_server".into(),
            version: "0.1.0".into(),
            files: vec![File {
                path: "bin/echo-server".into(),
                root: root_of(b"the program"),
                size: 11,
            }],
            manifest: vec![0, 1, 2, b'\n', 255],
        }
    }

    #[test]
    fn round_trips() {
        let package = sample();
        let bytes = encode(&package);
        assert!(looks_like_meta(&bytes));
        assert_eq!(decode(&bytes).unwrap(), package);
        assert_eq!(package.file("bin/echo-server").unwrap().size, 11);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text
            .starts_with("zx-package 1\nname echo_server\nversion 0.1.0\nfile bin/echo-server "));
        let empty = Package {
            files: Vec::new(),
            manifest: Vec::new(),
            ..sample()
        };
        assert_eq!(decode(&encode(&empty)).unwrap(), empty);
    }

    #[test]
    fn damage_is_a_typed_error() {
        let bytes = encode(&sample());
        assert_eq!(decode(b"\x7fELF"), Err(PackageError::NotAPackage));
        assert_eq!(decode(b""), Err(PackageError::NotAPackage));
        // Every truncation and every flipped byte of the header is an
        // error or (a flip inside a root or the manifest) another package:
        // never a panic.
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x41;
            if let Ok(package) = decode(&damaged) {
                assert_ne!(package, sample(), "flip at {at}");
            }
        }
        let bad = |text: &str| decode(text.as_bytes());
        assert!(bad("zx-package 1\nname a b\nversion 1\nmanifest 0\n").is_err());
        assert!(bad("zx-package 1\nname a\nversion 1\nfile ../x 00 1\nmanifest 0\n").is_err());
        let root = root_of(b"");
        let twice = format!(
            "zx-package 1\nname a\nversion 1\nfile bin/x {root} 0\nfile bin/x {root} 0\nmanifest 0\n"
        );
        assert_eq!(
            bad(&twice),
            Err(PackageError::Malformed("a path is listed twice"))
        );
        assert!(bad("zx-package 1\nversion 1\nname a\nmanifest 0\n").is_err());
        assert!(bad("zx-package 1\nname a\nversion 1\nmanifest 3\nab").is_err());
    }
}
