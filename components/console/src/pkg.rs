//! `pkg list`: the packages in blobfs (`docs/packages.md`), found by
//! reading each blob's first bytes through `/blob` and decoding the meta
//! blobs (each read verified by blobfs against its Merkle root).

use alloc::format;
use alloc::vec::Vec;
use zx_runtime::println;

/// Meta blobs are small; a larger blob is not looked at.
const MAX_META: u64 = 64 * 1024;

fn read(path: &str, limit: usize) -> Result<Vec<u8>, zx::Status> {
    zx_component::namespace::open(path).and_then(|file| zx_component::fs::read_file(file, limit))
}

/// Prints `name version root` per package, sorted by name.
pub fn list() {
    let entries = match zx_component::namespace::open("/blob").and_then(zx_component::fs::read_dir)
    {
        Ok(entries) => entries,
        Err(status) => return println!("pkg: cannot list /blob: {status}"),
    };
    let mut found = Vec::new();
    for entry in entries.iter().filter(|e| e.size <= MAX_META) {
        let path = format!("/blob/{}", entry.name);
        match read(&path, package::MAGIC.len() + 1) {
            Ok(head) if package::looks_like_meta(&head) => {}
            Ok(_) => continue,
            Err(status) => {
                println!("pkg: {}: {status}", entry.name);
                continue;
            }
        }
        let decoded = read(&path, entry.size as usize)
            .map_err(|status| format!("{status}"))
            .and_then(|bytes| package::decode(&bytes).map_err(|e| format!("{e}")));
        match decoded {
            Ok(package) => found.push((package.name, package.version, entry.name.clone())),
            Err(why) => println!("pkg: {}: {why}", entry.name),
        }
    }
    found.sort();
    println!("{:<18} {:<8} root", "package", "version");
    for (name, version, root) in &found {
        println!("{name:<18} {version:<8} {root}");
    }
    println!("{} packages", found.len());
}

/// `pkg resolve <name>`: asks the package resolver for `pkg://<name>`.
pub fn resolve(name: &str) {
    use crate::bindings::zx_pkg::{ResolverClient, ResolverMarker, ResolverResolveRequest};
    use zx_idl::ChannelTransport;
    let url = format!("pkg://{name}");
    let service = ResolverMarker::DISCOVERABLE_NAME.unwrap_or("zx.pkg.Resolver");
    let client = match zx_component::connect(service) {
        Ok(channel) => ResolverClient::new(ChannelTransport::new(channel)),
        Err(status) => return println!("pkg: no resolver: {status}"),
    };
    match client.resolve(ResolverResolveRequest { url: url.clone() }) {
        Ok(Ok(resolved)) => {
            let root: alloc::string::String =
                resolved.root.iter().map(|b| format!("{b:02x}")).collect();
            println!(
                "resolved {url}: version {}, root {root}, manifest {} bytes, program {} bytes",
                resolved.version,
                resolved.manifest.len(),
                resolved.program_size
            );
        }
        Ok(Err(code)) => println!("pkg: cannot resolve {url}: {}", zx::Status(code)),
        Err(error) => println!("pkg: the resolver does not answer: {error:?}"),
    }
}
