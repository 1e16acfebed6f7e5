//! Compiles every library of `idl/` twice: into Rust bindings (through
//! `idlc-build`, as components do) and into the C codec, which is linked
//! into this crate together with the fuzz harness over every message
//! type (`idlc::gidl::fuzz`). The C sources stay in `OUT_DIR/c` for the
//! libFuzzer build (`IDLC_DIFFERENTIAL_C`), and the Python package of the
//! same libraries in `OUT_DIR/python` (`IDLC_DIFFERENTIAL_PYTHON`).

use std::path::PathBuf;

fn main() {
    let idl = PathBuf::from("../../idl");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&idl)
        .expect("idl/ exists")
        .map(|entry| entry.expect("idl/ is readable").path())
        .filter(|path| path.extension().is_some_and(|e| e == "idl"))
        .collect();
    files.sort();
    println!("cargo:rerun-if-changed=../../idl");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    idlc_build::Builder::new()
        .files(&files)
        .library_path(&idl)
        .compile()
        .unwrap_or_else(|e| panic!("{e}"));

    let compilation =
        idlc::driver::compile_files(&files, std::slice::from_ref(&idl), &Default::default());
    let ir = match compilation.result {
        Ok(ir) => ir,
        Err(e) => panic!("idl/ does not compile: {e:?}"),
    };
    let types = idlc::gidl::fuzz::message_types(&ir, &[]);
    let dispatch = idlc::gidl::fuzz::rust_dispatch(&ir, &types, "crate::idl")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(out.join("types.rs"), dispatch).expect("OUT_DIR is writable");

    let c = out.join("c");
    let _ = std::fs::remove_dir_all(&c);
    std::fs::create_dir_all(&c).expect("OUT_DIR is writable");
    let mut build = cc::Build::new();
    build
        .std("c11")
        .include(&c)
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true);
    for (name, text) in idlc::backend::c::generate(&ir) {
        let path = c.join(&name);
        std::fs::write(&path, text).expect("OUT_DIR is writable");
        if name.ends_with(".c") && !name.starts_with("idl_bridge") {
            build.file(path);
        }
    }
    let harness = c.join("fuzz_harness.c");
    std::fs::write(&harness, idlc::gidl::fuzz::c_harness(&types)).expect("OUT_DIR is writable");
    build.file(harness);
    build.compile("idl_codec");

    let python = out.join("python");
    let package = python.join("system_idl");
    let _ = std::fs::remove_dir_all(&python);
    std::fs::create_dir_all(&package).expect("OUT_DIR is writable");
    for (name, text) in idlc::backend::python::generate(&ir) {
        std::fs::write(package.join(name), text).expect("OUT_DIR is writable");
    }
    let mut list = String::new();
    for ty in &types {
        let library = ty.split_once('/').map_or("", |(l, _)| l);
        list.push_str(&format!(
            "{} {}\n",
            idlc::backend::python::module_name(library),
            idlc::backend::python::class_name(ty)
        ));
    }
    std::fs::write(python.join("types.txt"), list).expect("OUT_DIR is writable");
    println!(
        "cargo:rustc-env=IDLC_DIFFERENTIAL_PYTHON={}",
        python.display()
    );
    println!("cargo:rustc-env=IDLC_DIFFERENTIAL_C={}", c.display());
}
