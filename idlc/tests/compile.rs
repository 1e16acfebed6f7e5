//! End-to-end compilation of the test libraries.

use idlc::source::SourceMap;

fn compile(files: &[&str]) -> idlc::ir::Ir {
    let mut sources = SourceMap::new();
    for name in files {
        let path = format!("{}/tests/libs/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        sources.add(format!("tests/libs/{name}"), text);
    }
    match idlc::compile(&sources, &Default::default()) {
        Ok(ir) => ir,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}", e.one_line(&sources));
            }
            panic!("{} errors", errors.len());
        }
    }
}

#[test]
fn everything_compiles() {
    let ir = compile(&["everything.idl", "zx.idl"]);
    assert_eq!(ir.libraries.len(), 2);
    assert_eq!(ir.libraries[0].name, "zx");
    let lib = ir.library("test.everything").unwrap();
    let padded = lib
        .structs
        .iter()
        .find(|s| s.name == "test.everything/Padded")
        .unwrap();
    assert_eq!(padded.shape.inline_size, 24);
    assert_eq!(padded.members[1].field_shape.offset, 8);
    assert_eq!(padded.members[0].field_shape.padding, 7);
    assert!(padded.shape.has_padding);
}

#[test]
fn sdk_style_libraries_compile() {
    let ir = compile(&["fuchsia/io.idl", "fuchsia/unknown.idl", "zx.idl"]);
    let io = ir.library("fuchsia.io").unwrap();
    let file = io
        .protocols
        .iter()
        .find(|p| p.name == "fuchsia.io/File")
        .unwrap();
    // Own methods plus Node's and the fuchsia.unknown ones it composes.
    assert!(file
        .methods
        .iter()
        .any(|m| m.name == "Close" && m.declared_in == "fuchsia.unknown/Closeable"));
    let sync = file.methods.iter().find(|m| m.name == "Sync").unwrap();
    assert_eq!(sync.selector, "fuchsia.io/Node.Sync");
    let attrs = io
        .tables
        .iter()
        .find(|t| t.name == "fuchsia.io/MutableNodeAttributes")
        .unwrap();
    assert_eq!(attrs.members.len(), 3);
    // Generated Rust for all three libraries.
    let files = idlc::backend::rust::generate(&ir);
    assert_eq!(files.len(), 3);
}
