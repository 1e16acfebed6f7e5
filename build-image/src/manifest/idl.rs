//! What manifests may name from the IDL: every `@discoverable` protocol of
//! the libraries in `idl/`, by its discoverable name (`library.Protocol`
//! unless the attribute gives another), and every named table, as
//! `library/Type`, for `state`; and the ABIs of both, for the hot-swap.

use anyhow::{bail, Context as _, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The names manifests may use.
#[derive(Debug, Clone, Default)]
pub struct IdlNames {
    /// Discoverable protocol names.
    pub protocols: BTreeSet<String>,
    /// Tables, as `library/Type`.
    pub tables: BTreeSet<String>,
    /// The ABIs of the protocols and tables, for the hot-swap.
    pub abis: super::abi::Abis,
}

/// Compiles every `idl/*.idl` under `root` with idlc and collects the names.
pub fn names(root: &Path) -> Result<IdlNames> {
    let dir = root.join("idl");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|x| x == "idl"))
        .collect();
    files.sort();
    let compilation = idlc::driver::compile_files(
        &files,
        std::slice::from_ref(&dir),
        &idlc::CompileOptions::default(),
    );
    let ir = match compilation.result {
        Ok(ir) => ir,
        Err(idlc::driver::LoadError::Io { path, error }) => {
            bail!("cannot read {}: {error}", path.display())
        }
        Err(idlc::driver::LoadError::Diagnostics(diagnostics)) => {
            let lines: Vec<String> = diagnostics
                .iter()
                .map(|d| d.one_line(&compilation.sources))
                .collect();
            bail!("idl/ does not compile:\n{}", lines.join("\n"))
        }
    };
    let libraries = &ir.libraries;
    Ok(IdlNames {
        abis: super::abi::abis(&ir),
        protocols: libraries
            .iter()
            .flat_map(|library| &library.protocols)
            .filter_map(|protocol| protocol.discoverable_name.clone())
            .collect(),
        tables: libraries
            .iter()
            .flat_map(|library| &library.tables)
            .filter(|table| !table.anonymous)
            .map(|table| table.name.clone())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_echo_protocol_and_tables() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let names = super::names(&root).unwrap();
        assert!(names.protocols.contains("examples.echo.Echo"), "{names:?}");
        assert!(
            names.tables.contains("zx.component.decl/ComponentDecl"),
            "{names:?}"
        );
    }

    use std::path::Path;
}
