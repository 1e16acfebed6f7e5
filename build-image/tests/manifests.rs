//! Component manifests: failing manifests for every diagnostic code, with the
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
        [
            "attack_fanout_root",
            "attack_msgbudget",
            "attack_swap_grab",
            "attack_swap_race",
            "attack_swap_spam",
            "attack_swap_unbound",
            "bench_blk",
            "bench_blob",
            "bench_net",
            "bench_swap",
            "drivers_tests",
            "lifecycle_tests",
            "robustness",
            "root",
            "storage_crash",
            "storage_large",
            "storage_tests",
            "swap_grace_tests",
            "swap_tests",
            "system"
        ]
    );
}

#[test]
fn compiled_manifests_decode_to_what_was_declared() {
    use compile::ComponentDecl;
    let context = context();
    let compiled = manifest::check_tree(
        &workspace(),
        Path::new(manifest::COMPONENTS_DIR),
        "root",
        None,
        &context,
    )
    .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    for written in &compiled.manifests {
        let decoded: ComponentDecl = compile::decode(&written.bytes).unwrap();
        let path = format!("{}/{}.json5", manifest::COMPONENTS_DIR, written.name);
        let text = std::fs::read_to_string(workspace().join(&path)).unwrap();
        let (source, diagnostics) = document::read(&written.name, &path, text);
        assert!(diagnostics.is_empty());
        assert_eq!(
            decoded,
            compile::declaration(&source.unwrap(), &context.abis)
        );
        assert_eq!(compile::encode(&decoded).unwrap(), written.bytes);
    }
    // The server carries the ABI of what it serves, for the hot-swap's
    // compatibility check; the client serves nothing.
    let decoded = |name: &str| {
        let written = compiled.manifests.iter().find(|m| m.name == name).unwrap();
        compile::decode(&written.bytes).unwrap()
    };
    let server_abis = decoded("echo_server").protocol_abis.unwrap();
    assert_eq!(server_abis.len(), 1);
    assert_eq!(server_abis[0].name, "examples.echo.Echo");
    assert_eq!(server_abis[0].methods[0].name, "EchoString");
    assert!(!server_abis[0].types.is_empty());
    assert_eq!(decoded("echo_client").protocol_abis, Some(vec![]));
    let root = decoded("root");
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
        .find(|o| o.name == "examples.echo.Echo")
        .unwrap();
    assert_eq!(offer.kind, decl::CapabilityKind::Protocol);
    assert_eq!(
        (
            offer.name.as_str(),
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

// Directory capabilities.

use build_image::manifest::bindings::zx_component_decl as decl;
use build_image::manifest::{Compiled, Diagnostics};
use std::collections::BTreeSet;

/// Checks the tree rooted at `root.json5` among `files` (name, text),
/// written to a fresh temporary directory.
fn check_files(files: &[(&str, &str)]) -> Result<Compiled, Diagnostics> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "manifests-directories-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(format!("{name}.json5")), text).unwrap();
    }
    let result = manifest::check_tree(Path::new("/"), &dir, "root", None, &context());
    std::fs::remove_dir_all(dir).unwrap();
    result
}

/// Checks `files`, which must fail with `code` only, and with a report
/// that contains `needle`.
fn fails_with(files: &[(&str, &str)], code: Code, needle: &str) {
    let diagnostics = check_files(files).expect_err("must fail");
    let rendered = diagnostics.render();
    assert!(
        diagnostics.0.iter().all(|d| d.code == code),
        "expected only {code}:\n{rendered}"
    );
    assert!(rendered.contains(needle), "no `{needle}` in:\n{rendered}");
}

fn decoded(compiled: &Compiled, name: &str) -> compile::ComponentDecl {
    let written = compiled.manifests.iter().find(|m| m.name == name).unwrap();
    compile::decode(&written.bytes).unwrap()
}

/// A client of `logs` (at `/logs`) and of `boot` (at `/boot`).
const DIRECTORY_CLIENT: &str = "{
    program: { binary: 'bin/echo-client' },
    use: [
        { directory: 'logs', path: '/logs' },
        { directory: 'boot', path: '/boot' },
        { protocol: 'examples.echo.Echo' },
    ],
}";

/// Serves `logs` and uses `boot`.
const DIRECTORY_SERVER: &str = "{
    program: { binary: 'bin/echo-server' },
    capabilities: [{ directory: 'logs' }, { protocol: 'examples.echo.Echo' }],
    expose: [
        { directory: 'logs', from: 'self' },
        { protocol: 'examples.echo.Echo', from: 'self' },
    ],
    use: [{ directory: 'boot', path: '/pkg/boot.d' }],
}";

#[test]
fn directories_are_served_exposed_offered_and_used() {
    let compiled = check_files(&[
        (
            "root",
            "{
                children: [
                    { name: 'realm', manifest: 'realm' },
                    { name: 'client', manifest: 'client', startup: 'eager' },
                ],
                offer: [
                    { directory: 'logs', from: '#realm', to: '#client' },
                    { protocol: 'examples.echo.Echo', from: '#realm', to: '#client' },
                    { directory: 'boot', from: 'parent', to: '#client' },
                    { directory: 'boot', from: 'parent', to: '#realm' },
                ],
            }",
        ),
        (
            "realm",
            "{
                children: [{ name: 'server', manifest: 'server' }],
                offer: [{ directory: 'boot', from: 'parent', to: '#server' }],
                expose: [
                    { directory: 'logs', from: '#server' },
                    { protocol: 'examples.echo.Echo', from: '#server' },
                ],
            }",
        ),
        ("server", DIRECTORY_SERVER),
        ("client", DIRECTORY_CLIENT),
    ])
    .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    use decl::CapabilityKind::{Directory, Protocol};

    let server = decoded(&compiled, "server");
    let capabilities: Vec<_> = server
        .capabilities
        .unwrap()
        .into_iter()
        .map(|c| (c.kind, c.name))
        .collect();
    assert_eq!(
        capabilities,
        [
            (Directory, "logs".to_string()),
            (Protocol, "examples.echo.Echo".to_string())
        ]
    );
    let exposes = server.exposes.unwrap();
    assert_eq!(
        (exposes[0].kind, exposes[0].name.as_str(), exposes[0].source),
        (Directory, "logs", decl::Source::Self_)
    );
    let uses = server.uses.unwrap();
    assert_eq!(
        (uses[0].kind, uses[0].name.as_str(), uses[0].path.as_str()),
        (Directory, "boot", "/pkg/boot.d")
    );

    let realm = decoded(&compiled, "realm");
    let exposes = realm.exposes.unwrap();
    assert_eq!(
        (
            exposes[0].kind,
            exposes[0].name.as_str(),
            exposes[0].source,
            exposes[0].source_child.as_str()
        ),
        (Directory, "logs", decl::Source::Child, "server")
    );

    let root = decoded(&compiled, "root");
    let offers: Vec<_> = root
        .offers
        .unwrap()
        .into_iter()
        .map(|o| (o.kind, o.name, o.source, o.source_child, o.target_child))
        .collect();
    let offer = |kind, name: &str, source, from: &str, to: &str| {
        (kind, name.into(), source, from.into(), to.into())
    };
    assert_eq!(
        offers,
        [
            offer(Directory, "logs", decl::Source::Child, "realm", "client"),
            offer(
                Protocol,
                "examples.echo.Echo",
                decl::Source::Child,
                "realm",
                "client"
            ),
            offer(Directory, "boot", decl::Source::Parent, "", "client"),
            offer(Directory, "boot", decl::Source::Parent, "", "realm"),
        ]
    );

    let client = decoded(&compiled, "client");
    let uses: Vec<_> = client
        .uses
        .unwrap()
        .into_iter()
        .map(|u| (u.kind, u.name, u.path))
        .collect();
    assert_eq!(
        uses,
        [
            (Directory, "logs".into(), "/logs".into()),
            (Directory, "boot".into(), "/boot".into()),
            // A protocol is used in `/svc`: no path.
            (Protocol, "examples.echo.Echo".into(), String::new()),
        ]
    );
    // What was encoded is what the manifests declare.
    for written in &compiled.manifests {
        assert_eq!(
            compile::encode(&decoded(&compiled, &written.name)).unwrap(),
            written.bytes
        );
    }
}

#[test]
fn the_root_may_offer_and_use_the_builtin_boot_directory() {
    let compiled = check_files(&[
        (
            "root",
            "{
                children: [{ name: 'console', manifest: 'console' }],
                offer: [{ directory: 'boot', from: 'parent', to: '#console' }],
                use: [{ directory: 'boot', path: '/boot' }],
            }",
        ),
        (
            "console",
            "{ program: { binary: 'bin/echo-client' }, use: [{ directory: 'boot', path: '/boot' }] }",
        ),
    ])
    .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let console = decoded(&compiled, "console");
    let uses = console.uses.unwrap();
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0].kind, decl::CapabilityKind::Directory);
    assert_eq!(
        (uses[0].name.as_str(), uses[0].path.as_str()),
        ("boot", "/boot")
    );

    // Only `boot`: another directory cannot come from the root's parent.
    fails_with(
        &[
            (
                "root",
                "{ children: [{ name: 'c', manifest: 'c' }],
               offer: [{ directory: 'logs', from: 'parent', to: '#c' }] }",
            ),
            ("c", "{}"),
        ],
        Code::NotOffered,
        "the directory `boot`",
    );
}

#[test]
fn a_directory_may_be_offered_to_a_collection() {
    check_files(&[(
        "root",
        "{ collections: [{ name: 'sessions' }],
               offer: [{ directory: 'boot', from: 'parent', to: '#sessions' }] }",
    )])
    .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
}

#[test]
fn a_directory_use_needs_a_path_and_a_protocol_use_has_none() {
    fails_with(
        &[("root", "{ use: [{ directory: 'boot' }] }")],
        Code::MissingKey,
        "the use of directory `boot` has no `path`",
    );
    fails_with(
        &[(
            "root",
            "{ use: [{ protocol: 'zx.component.Realm', path: '/realm' }] }",
        )],
        Code::InvalidValue,
        "protocol `zx.component.Realm` is used in `/svc`: it takes no `path`",
    );
}

#[test]
fn an_entry_names_exactly_one_capability() {
    fails_with(
        &[(
            "root",
            "{ use: [{ protocol: 'zx.component.Realm', directory: 'boot', path: '/boot' }] }",
        )],
        Code::InvalidValue,
        "an entry of `use` has both `protocol` and `directory`",
    );
    fails_with(
        &[(
            "root",
            "{ program: { binary: 'bin/echo-server' },
               capabilities: [{ directory: 'logs', protocol: 'examples.echo.Echo' }] }",
        )],
        Code::InvalidValue,
        "an entry of `capabilities` has both `directory` and `protocol`",
    );
    fails_with(
        &[(
            "root",
            "{ children: [{ name: 'c', manifest: 'c' }], offer: [{ from: 'parent', to: '#c' }] }",
        ),
        ("c", "{}")],
        Code::MissingKey,
        "an offer has no `protocol`, `directory` or `resource`",
    );
    fails_with(
        &[("root", "{ expose: [{ from: 'self' }] }")],
        Code::MissingKey,
        "an expose has no `protocol`, `directory` or `resource`",
    );
}

#[test]
fn directory_names_are_like_child_names() {
    fails_with(
        &[(
            "root",
            "{ program: { binary: 'bin/echo-server' }, capabilities: [{ directory: 'Logs' }] }",
        )],
        Code::InvalidValue,
        "the directory name `Logs` is not a valid name",
    );
    fails_with(
        &[(
            "root",
            "{ program: { binary: 'bin/echo-server' }, capabilities: [{ directory: 'examples.echo.Echo' }] }",
        )],
        Code::InvalidValue,
        "looks like a protocol",
    );
}

#[test]
fn optional_uses_need_no_offer() {
    const CHILD: &str = "{ program: { binary: 'bin/echo-client' },
        use: [{ protocol: 'examples.echo.Echo', availability: 'optional' },
              { directory: 'boot', path: '/boot', availability: 'optional' }] }";
    const ROOT: &str = "{ children: [{ name: 'c', manifest: 'c' }] }";
    check_files(&[("root", ROOT), ("c", CHILD)]).unwrap_or_else(|d| panic!("{d}"));
    // Required (the default, or said) still needs its offer.
    for availability in ["", ", availability: 'required'"] {
        let child = format!(
            "{{ program: {{ binary: 'bin/echo-client' }},
                use: [{{ protocol: 'examples.echo.Echo'{availability} }}] }}"
        );
        fails_with(
            &[("root", ROOT), ("c", &child)],
            Code::NotOffered,
            "`examples.echo.Echo` is not offered to this component",
        );
    }
    // Offered as another kind is wrong even when optional.
    let root = "{ children: [{ name: 'c', manifest: 'c' }],
        offer: [{ directory: 'boot', from: 'parent', to: '#c' }] }";
    let child = "{ program: { binary: 'bin/echo-client' },
        use: [{ protocol: 'boot', availability: 'optional' }] }";
    let rendered = check_files(&[("root", root), ("c", child)])
        .expect_err("must fail")
        .render();
    assert!(
        rendered.contains("offered to this component as a directory"),
        "{rendered}"
    );
    fails_with(
        &[(
            "root",
            "{ use: [{ directory: 'boot', path: '/boot', availability: 'maybe' }] }",
        )],
        Code::InvalidValue,
        "`availability: \"maybe\"` is not an availability",
    );
}

#[test]
fn directory_paths_are_absolute_and_outside_svc() {
    let root = |path: &str| format!("{{ use: [{{ directory: 'boot', path: '{path}' }}] }}");
    for (path, needle) in [
        ("boot", "`path: \"boot\"` is not an absolute path"),
        ("/", "`path: \"/\"` is the root of the namespace"),
        ("/svc", "`path: \"/svc\"` is in `/svc`"),
        ("/svc/boot", "`path: \"/svc/boot\"` is in `/svc`"),
        ("/a//b", "an empty segment"),
        ("/a/", "an empty segment"),
        ("/a/../b", "bad segment `..`"),
        ("/./b", "bad segment `.`"),
        ("/a b", "bad segment `a b`"),
    ] {
        fails_with(&[("root", &root(path))], Code::InvalidValue, needle);
    }
    let long = format!("/{}", "a".repeat(256));
    fails_with(
        &[("root", &root(&long))],
        Code::InvalidValue,
        "`path` must have 1 to 256 bytes",
    );
    // Near misses that are fine.
    for path in ["/svcs", "/boot", "/a.b/c-d/e_f/..x", "/data/svc"] {
        check_files(&[("root", &root(path))])
            .unwrap_or_else(|diagnostics| panic!("{path}: {diagnostics}"));
    }
}

#[test]
fn directory_paths_do_not_overlap() {
    const SERVER: &str = "{ program: { binary: 'bin/echo-server' },
        capabilities: [{ directory: 'logs' }, { directory: 'data' }],
        expose: [{ directory: 'logs', from: 'self' }, { directory: 'data', from: 'self' }] }";
    const ROOT: &str = "{ children: [{ name: 's', manifest: 's' }, { name: 'c', manifest: 'c' }],
        offer: [{ directory: 'logs', from: '#s', to: '#c' },
                { directory: 'data', from: '#s', to: '#c' }] }";
    let client = |a: &str, b: &str| {
        format!(
            "{{ program: {{ binary: 'bin/echo-client' }},
               use: [{{ directory: 'logs', path: '{a}' }}, {{ directory: 'data', path: '{b}' }}] }}"
        )
    };
    fails_with(
        &[
            ("root", ROOT),
            ("s", SERVER),
            ("c", &client("/data", "/data")),
        ],
        Code::Duplicate,
        "path `/data` is used twice",
    );
    fails_with(
        &[
            ("root", ROOT),
            ("s", SERVER),
            ("c", &client("/data/logs", "/data")),
        ],
        Code::InvalidValue,
        "path `/data/logs` is inside `/data`, the path of directory `data`",
    );
    check_files(&[
        ("root", ROOT),
        ("s", SERVER),
        ("c", &client("/data2", "/data")),
    ])
    .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    // The same directory twice is a duplicate use, whatever the paths.
    fails_with(
        &[(
            "root",
            "{ use: [{ directory: 'boot', path: '/a' }, { directory: 'boot', path: '/b' }] }",
        )],
        Code::Duplicate,
        "use of `boot` is declared twice",
    );
}

#[test]
fn a_directory_must_be_routed() {
    // Not offered to the client.
    fails_with(
        &[
            (
                "root",
                "{ children: [{ name: 's', manifest: 's' }, { name: 'c', manifest: 'c' }],
                   offer: [{ directory: 'boot', from: 'parent', to: '#c' },
                           { protocol: 'examples.echo.Echo', from: '#s', to: '#c' }] }",
            ),
            ("s", DIRECTORY_SERVER),
            ("c", DIRECTORY_CLIENT),
        ],
        Code::NotOffered,
        "`logs` is not offered to this component by its parent (`root`, as `#c`)",
    );
    // Offered from a child that does not expose it.
    fails_with(
        &[
            (
                "root",
                "{ children: [{ name: 's', manifest: 's' }, { name: 'c', manifest: 'c' }],
                   offer: [{ directory: 'logs', from: '#s', to: '#c' }] }",
            ),
            (
                "s",
                "{ program: { binary: 'bin/echo-server' }, capabilities: [{ directory: 'logs' }] }",
            ),
            (
                "c",
                "{ program: { binary: 'bin/echo-client' }, use: [{ directory: 'logs', path: '/logs' }] }",
            ),
        ],
        Code::NotExposedByChild,
        "`logs` is offered from `#s`, which does not expose it",
    );
    // Exposed from a child that does not expose it.
    fails_with(
        &[
            (
                "root",
                "{ children: [{ name: 'realm', manifest: 'realm' }] }",
            ),
            (
                "realm",
                "{ children: [{ name: 's', manifest: 's' }],
                   expose: [{ directory: 'logs', from: '#s' }] }",
            ),
            (
                "s",
                "{ program: { binary: 'bin/echo-server' }, capabilities: [{ directory: 'logs' }] }",
            ),
        ],
        Code::NotExposedByChild,
        "`logs` is exposed from `#s`, which does not expose it",
    );
    // Exposed from self without being declared.
    fails_with(
        &[(
            "root",
            "{ program: { binary: 'bin/echo-server' }, expose: [{ directory: 'logs', from: 'self' }] }",
        )],
        Code::NotDeclared,
        "add `{ directory: \"logs\" }` to `capabilities`",
    );
}

#[test]
fn a_route_keeps_the_kind_of_capability() {
    // A protocol named like a directory is unknown to the IDL (cm-0009),
    // and the route of a directory of that name is reported too.
    let diagnostics = check_files(&[
        (
            "root",
            "{ children: [{ name: 's', manifest: 's' }, { name: 't', manifest: 't' },
                          { name: 'c', manifest: 'c' }, { name: 'd', manifest: 'd' }],
               offer: [{ directory: 'logs', from: '#s', to: '#c' },
                       { directory: 'logs', from: '#t', to: '#d' }] }",
        ),
        (
            "s",
            "{ program: { binary: 'bin/echo-server' },
               capabilities: [{ protocol: 'logs' }],
               expose: [{ directory: 'logs', from: 'self' }] }",
        ),
        (
            "t",
            "{ program: { binary: 'bin/echo-server' },
               capabilities: [{ protocol: 'logs' }],
               expose: [{ protocol: 'logs', from: 'self' }] }",
        ),
        ("c", "{ program: { binary: 'bin/echo-client' }, use: [{ protocol: 'logs' }] }"),
        (
            "d",
            "{ program: { binary: 'bin/echo-client' }, use: [{ directory: 'logs', path: '/logs' }] }",
        ),
    ])
    .unwrap_err();
    let rendered = diagnostics.render();
    let has = |code: Code, needle: &str| {
        diagnostics
            .0
            .iter()
            .any(|d| d.code == code && d.message.contains(needle))
    };
    assert!(
        has(
            Code::NotDeclared,
            "`logs` is exposed from self as a directory, but `capabilities` declares a protocol"
        ),
        "{rendered}"
    );
    assert!(
        has(
            Code::NotExposedByChild,
            "`logs` is offered from `#t` as a directory, but `#t` exposes a protocol"
        ),
        "{rendered}"
    );
    assert!(
        has(
            Code::NotOffered,
            "`logs` is offered to this component as a directory, not a protocol"
        ),
        "{rendered}"
    );
    assert!(has(Code::UnknownProtocol, "`logs`"), "{rendered}");
    let codes: BTreeSet<Code> = diagnostics.0.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        BTreeSet::from([
            Code::NotOffered,
            Code::NotExposedByChild,
            Code::NotDeclared,
            Code::UnknownProtocol
        ]),
        "{rendered}"
    );
}

#[test]
fn the_realm_may_be_used_from_the_framework_and_nothing_else() {
    let dir = std::env::temp_dir().join(format!("manifests-framework-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |text: &str| std::fs::write(dir.join("root.json5"), text).unwrap();
    // No parent offers it: the framework serves it to this component.
    write(
        "{ program: { binary: 'bin/misbehave' },
           collections: [{ name: 'workers' }],
           use: [{ protocol: 'zx.component.Realm', from: 'framework' }] }",
    );
    let compiled = manifest::check_tree(Path::new("/"), &dir, "root", None, &context())
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let decl = compile::decode(&compiled.manifests[0].bytes).unwrap();
    let used = &decl.uses.unwrap()[0];
    assert_eq!(format!("{:?}", used.source), "Framework");
    // Only the Realm comes from the framework, and a use has no other source.
    for (entry, message) in [
        (
            "{ protocol: 'examples.echo.Echo', from: 'framework' }",
            "only `zx.component.Realm` can be used from the framework",
        ),
        (
            "{ directory: 'boot', path: '/boot', from: 'framework' }",
            "only `zx.component.Realm` can be used from the framework",
        ),
        (
            "{ protocol: 'zx.component.Realm', from: 'self' }",
            "`from: \"self\"` is not a source for a use",
        ),
    ] {
        write(&format!(
            "{{ program: {{ binary: 'bin/misbehave' }}, use: [{entry}] }}"
        ));
        let diagnostics =
            manifest::check_tree(Path::new("/"), &dir, "root", None, &context()).unwrap_err();
        assert_eq!(diagnostics.0.len(), 1, "{}", diagnostics.render());
        assert_eq!(diagnostics.0[0].code, Code::InvalidValue);
        assert_eq!(diagnostics.0[0].message, message);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A misspelt `startup` is reported once, as what it is, with no
/// follow-on errors about the child that holds it (issue 16).
#[test]
fn a_misspelt_startup_is_reported_once() {
    let diagnostics = check_files(&[
        (
            "root",
            r##"{
                children: [
                    { name: "logger", manifest: "logger" },
                    { name: "kid", manifest: "kid", startup: "eagre" },
                ],
                offer: [{ protocol: "zx.logger.LogSink", from: "#logger", to: "#kid" }],
            }"##,
        ),
        (
            "kid",
            r##"{ program: { binary: "bin/echo-client" }, use: [{ protocol: "zx.logger.LogSink" }] }"##,
        ),
        (
            "logger",
            r##"{
                program: { binary: "bin/logger" },
                capabilities: [{ protocol: "zx.logger.LogSink" }],
                expose: [{ protocol: "zx.logger.LogSink", from: "self" }],
            }"##,
        ),
    ])
    .expect_err("must fail");
    let rendered = diagnostics.render();
    assert_eq!(diagnostics.0.len(), 1, "{rendered}");
    assert!(rendered.contains("eagre"), "{rendered}");
}
