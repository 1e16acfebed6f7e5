//! Component manifests: one failing manifest per diagnostic code, with the
//! rendered diagnostic beside it as a golden file (`expected.txt`,
//! regenerated with `UPDATE_GOLDENS=1 cargo test -p build-image --test
//! manifests`), and the example manifests the component manager boots:
//! they validate, compile, and decode back to what was encoded.

use build_image::manifest::{self, compile, document, Code, Context};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn context() -> Context {
    Context::from_workspace(&workspace()).expect("idl/ and cargo metadata")
}

const CASES: &str = "build-image/tests/manifests";

fn cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join(CASES))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("cm-"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_code_has_a_failing_manifest() {
    let cases = cases();
    for code in Code::ALL {
        assert!(
            cases
                .iter()
                .any(|case| case.starts_with(&format!("{code}-"))),
            "no case under {CASES}/ for {code}"
        );
    }
}

#[test]
fn each_failing_manifest_reports_its_code() {
    let context = context();
    let update = std::env::var_os("UPDATE_GOLDENS").is_some();
    let mut mismatches = Vec::new();
    for case in cases() {
        let dir = Path::new(CASES).join(&case);
        let diagnostics = manifest::check_tree(&workspace(), &dir, "root", None, &context)
            .expect_err(&format!("{case} must fail"));
        let code = &case[..7];
        for diagnostic in &diagnostics.0 {
            assert_eq!(
                diagnostic.code.as_str(),
                code,
                "{case} reports another code:\n{diagnostics}"
            );
        }
        let rendered = diagnostics.render();
        let golden = workspace().join(&dir).join("expected.txt");
        if update {
            std::fs::write(&golden, &rendered).unwrap();
        } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(rendered.as_str()) {
            mismatches.push(format!("{case}:\n{rendered}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "rendered diagnostics differ from expected.txt (UPDATE_GOLDENS=1 to accept):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn all_errors_of_a_build_are_reported_together() {
    let dir = std::env::temp_dir().join(format!("manifests-many-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("root.json5"),
        r#"{ use: [{ protocol: "nope.Nope" }], childern: [], limits: { threads: "x" } }"#,
    )
    .unwrap();
    let diagnostics = manifest::check_tree(Path::new("/"), &dir, "root", None, &context())
        .expect_err("three errors");
    let mut codes: Vec<Code> = diagnostics.0.iter().map(|d| d.code).collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            Code::UnknownKey,
            Code::NotOffered,
            Code::UnknownProtocol,
            Code::BadLimit
        ]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_example_manifests_validate_and_compile() {
    let compiled = manifest::check_tree(
        &workspace(),
        Path::new(manifest::COMPONENTS_DIR),
        "root",
        None,
        &context(),
    )
    .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let paths: Vec<&str> = compiled.manifests.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "meta/echo_client.cm",
            "meta/echo_server.cm",
            "meta/logger.cm",
            "meta/root.cm"
        ]
    );
    assert_eq!(compiled.programs, ["echo-client", "echo-server", "logger"]);
    let directory = manifest::check_directory(
        &workspace(),
        Path::new(manifest::COMPONENTS_DIR),
        &context(),
    )
    .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    assert_eq!(
        directory,
        ["lifecycle_tests", "robustness", "root", "system"]
    );
}

#[test]
fn compiled_manifests_decode_to_what_was_declared() {
    use compile::ComponentDecl;
    let compiled = manifest::check_tree(
        &workspace(),
        Path::new(manifest::COMPONENTS_DIR),
        "root",
        None,
        &context(),
    )
    .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    for written in &compiled.manifests {
        let decoded: ComponentDecl = compile::decode(&written.bytes).unwrap();
        let path = format!("{}/{}.json5", manifest::COMPONENTS_DIR, written.name);
        let text = std::fs::read_to_string(workspace().join(&path)).unwrap();
        let (source, diagnostics) = document::read(&written.name, &path, text);
        assert!(diagnostics.is_empty());
        assert_eq!(decoded, compile::declaration(&source.unwrap()));
        assert_eq!(compile::encode(&decoded).unwrap(), written.bytes);
    }
    let root = compiled
        .manifests
        .iter()
        .find(|m| m.name == "root")
        .unwrap();
    let root = compile::decode(&root.bytes).unwrap();
    let children = root.children.unwrap();
    let child = |name: &str| children.iter().find(|c| c.name == name).unwrap();
    assert_eq!(
        format!(
            "{:?} {:?}",
            child("echo_server").startup,
            child("echo_client").startup
        ),
        "Lazy Eager"
    );
    let offers = root.offers.unwrap();
    let offer = offers
        .iter()
        .find(|o| o.protocol == "examples.echo.Echo")
        .unwrap();
    assert_eq!(
        (
            offer.protocol.as_str(),
            offer.source_child.as_str(),
            offer.target_child.as_str()
        ),
        ("examples.echo.Echo", "echo_server", "echo_client")
    );
    assert!(root.program.is_none());
}

#[test]
fn a_missing_binary_is_checked_only_when_asked() {
    let mut context = context();
    let dir = Path::new(CASES).join("cm-0011-missing-binary");
    assert!(manifest::check_tree(&workspace(), &dir, "root", None, &context).is_err());
    context.binaries = None;
    assert!(manifest::check_tree(&workspace(), &dir, "root", None, &context).is_ok());
}

#[test]
fn a_product_names_its_root_component() {
    use build_image::product::Product;
    let workspace = std::env::temp_dir().join(format!("manifests-product-{}", std::process::id()));
    let products = workspace.join("manifests/products");
    let components = workspace.join(manifest::COMPONENTS_DIR);
    std::fs::create_dir_all(&products).unwrap();
    std::fs::create_dir_all(&components).unwrap();
    std::fs::write(
        products.join("p.toml"),
        "description = \"x\"\nprograms = [\"userboot\"]\nroot = \"top\"\n",
    )
    .unwrap();
    std::fs::write(
        products.join("plain.toml"),
        "description = \"x\"\nprograms = [\"userboot\"]\n",
    )
    .unwrap();
    let plain = Product::load(&workspace, "plain").unwrap();
    assert!(plain.root.is_none());
    assert!(manifest::check_product(&workspace, &plain, &context())
        .unwrap()
        .is_none());

    let product = Product::load(&workspace, "p").unwrap();
    assert_eq!(product.root.as_deref(), Some("top"));

    // The root manifest is missing: the diagnostic points into the product.
    let diagnostics = manifest::check_product(&workspace, &product, &context()).unwrap_err();
    let rendered = diagnostics.render();
    assert!(
        rendered.contains("cm-0013") && rendered.contains("manifests/products/p.toml:3:8"),
        "{rendered}"
    );

    std::fs::write(
        components.join("top.json5"),
        "{ program: { binary: 'bin/echo-server' } }",
    )
    .unwrap();
    let compiled = manifest::check_product(&workspace, &product, &context())
        .unwrap()
        .unwrap();
    assert_eq!(compiled.programs, ["echo-server"]);
    assert_eq!(compiled.manifests[0].path, "meta/top.cm");

    // Manifests for children created at run time: checked and compiled,
    // except their `use`s (the collection they land in decides those).
    std::fs::write(
        products.join("d.toml"),
        "description = \"x\"\nprograms = [\"userboot\"]\nroot = \"top\"\ndynamic = [\"worker\", \"nope\"]\n",
    )
    .unwrap();
    std::fs::write(
        components.join("worker.json5"),
        "{ program: { binary: 'bin/echo-client' }, use: [{ protocol: 'examples.echo.Echo' }] }",
    )
    .unwrap();
    let product = Product::load(&workspace, "d").unwrap();
    let diagnostics = manifest::check_product(&workspace, &product, &context()).unwrap_err();
    assert_eq!(diagnostics.0.len(), 1, "{}", diagnostics.render());
    let rendered = diagnostics.render();
    assert!(
        rendered.contains("cm-0013") && rendered.contains("manifests/products/d.toml:4:11"),
        "{rendered}"
    );
    std::fs::write(
        products.join("d.toml"),
        "description = \"x\"\nprograms = [\"userboot\"]\nroot = \"top\"\ndynamic = [\"worker\"]\n",
    )
    .unwrap();
    let product = Product::load(&workspace, "d").unwrap();
    let compiled = manifest::check_product(&workspace, &product, &context())
        .unwrap()
        .unwrap();
    assert_eq!(compiled.programs, ["echo-client", "echo-server"]);
    let paths: Vec<&str> = compiled.manifests.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, ["meta/top.cm", "meta/worker.cm"]);
    std::fs::remove_dir_all(workspace).unwrap();
}

#[test]
fn offers_may_target_a_collection() {
    let dir = std::env::temp_dir().join(format!("manifests-collection-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("root.json5"),
        "{ children: [{ name: 'server', manifest: 'server' }],
           collections: [{ name: 'workers' }],
           offer: [{ protocol: 'examples.echo.Echo', from: '#server', to: '#workers' },
                   { protocol: 'examples.echo.Echo', from: '#server', to: '#nobody' }] }",
    )
    .unwrap();
    std::fs::write(
        dir.join("server.json5"),
        "{ program: { binary: 'bin/echo-server' },
           capabilities: [{ protocol: 'examples.echo.Echo' }],
           expose: [{ protocol: 'examples.echo.Echo', from: 'self' }] }",
    )
    .unwrap();
    let diagnostics =
        manifest::check_tree(Path::new("/"), &dir, "root", None, &context()).unwrap_err();
    // Only the offer to `#nobody` is wrong; the message lists the
    // collection among the possible targets.
    assert_eq!(diagnostics.0.len(), 1, "{}", diagnostics.render());
    assert_eq!(diagnostics.0[0].code, Code::NoSuchChild);
    assert!(diagnostics.0[0].help.contains("workers"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_root_manifest_is_a_diagnostic() {
    let diagnostics = manifest::check_tree(
        &workspace(),
        Path::new(CASES),
        "no-such-manifest",
        None,
        &context(),
    )
    .unwrap_err();
    assert_eq!(diagnostics.0[0].code, Code::MissingManifest);
    let rendered = diagnostics.render();
    assert!(rendered.contains("no-such-manifest.json5"), "{rendered}");
}
