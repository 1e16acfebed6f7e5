//! Blobs on the host: `build-image blob-root FILE...`, which names files as
//! blobfs names them (their Fuchsia Merkle root, the `merkle` crate).

use anyhow::{Context, Result};
use merkle::{MerkleBuilder, MerkleRoot};
use std::io::Read;
use std::path::Path;

/// The Merkle root of the file at `path`, read in pieces (the file need
/// not fit in memory).
pub fn root_of_file(path: &Path) -> Result<MerkleRoot> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut builder = MerkleBuilder::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            break;
        }
        builder.write(&buffer[..read]);
    }
    Ok(builder.finish().root())
}

/// `blob-root`'s line for one file: `<root>  <file>`, as `sha256sum`
/// prints.
pub fn root_line(path: &Path) -> Result<String> {
    Ok(format!("{}  {}", root_of_file(path)?, path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_named_by_its_fuchsia_root() {
        let dir = std::env::temp_dir().join(format!("blob-root-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ff.bin");
        // 8 blocks of 0xff: Fuchsia's own test vector.
        std::fs::write(&path, vec![0xff; 65536]).unwrap();
        assert_eq!(
            root_line(&path).unwrap(),
            format!(
                "f75f59a944d2433bc6830ec243bfefa457704d2aed12f30539cd4f18bf1d62cf  {}",
                path.display()
            )
        );
        assert!(root_of_file(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
