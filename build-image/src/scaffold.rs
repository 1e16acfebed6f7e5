//! `build-image new component <name>`: a protocol, a server and a client
//! that boot as generated.
//!
//! A newcomer's first component needs a dozen things to agree (the IDL
//! library and the names idlc generates from it, two crates with their
//! build scripts and dependencies, the workspace's `members`, three
//! manifests that route the protocol and the log sink, and a product whose
//! command line names the root manifest). Writing them by hand from prose
//! failed; this writes them all from one name, and the system test
//! `scaffold.new_component_boots` boots what it writes, so the README's
//! guide, which walks through these files, cannot drift from them.
//!
//! For `greeter` it writes:
//!
//! | file | what |
//! |---|---|
//! | `idl/greeter.idl` | library `greeter`, `@discoverable` protocol `Greeter` with one method, `Greet` |
//! | `components/greeter/server/` | crate and binary `greeter-server`: serves `greeter.Greeter` |
//! | `components/greeter/client/` | crate and binary `greeter-client`: calls it once, prints and logs the answer |
//! | `manifests/components/greeter_{server,client,root}.json5` | the two components and a root that runs them beside a logger |
//! | `manifests/products/greeter.toml` | the product that boots that root |
//!
//! and adds the two crates to the workspace's `members`. It refuses to
//! overwrite anything.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// A component name checked for use in every place it goes: library,
/// crate, binary, manifest and product names (`[a-z][a-z0-9_]*`, at most
/// 32 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentName(String);

impl ComponentName {
    /// Checks `name`.
    pub fn parse(name: &str) -> Result<ComponentName> {
        let valid = !name.is_empty()
            && name.len() <= 32
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !name.ends_with('_');
        if !valid {
            bail!(
                "invalid component name {name:?}: use lower-case letters, digits and '_', \
                 starting with a letter (e.g. greeter)"
            );
        }
        Ok(ComponentName(name.into()))
    }

    /// `greeter` (the library, manifests' stem and the product).
    pub fn snake(&self) -> &str {
        &self.0
    }

    /// `greeter` with `-` for `_` (crate and binary names' stem).
    pub fn kebab(&self) -> String {
        self.0.replace('_', "-")
    }

    /// `Greeter` (the protocol).
    pub fn camel(&self) -> String {
        self.0
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// One file the scaffold writes: its path in the workspace and its text.
pub struct File {
    /// Relative to the workspace root.
    pub path: PathBuf,
    /// The whole file.
    pub text: String,
}

/// The files of component `name` (nothing is written).
pub fn files(name: &ComponentName) -> Vec<File> {
    let snake = name.snake();
    let kebab = name.kebab();
    let camel = name.camel();
    let fill = |template: &str| {
        template
            .replace("{snake}", snake)
            .replace("{kebab}", &kebab)
            .replace("{Camel}", &camel)
    };
    let file = |path: String, template: &str| File {
        path: PathBuf::from(path),
        text: fill(template),
    };
    vec![
        file(format!("idl/{snake}.idl"), IDL),
        file(
            format!("components/{snake}/server/Cargo.toml"),
            SERVER_CARGO,
        ),
        file(format!("components/{snake}/server/build.rs"), BUILD_RS),
        file(
            format!("components/{snake}/server/src/main.rs"),
            SERVER_MAIN,
        ),
        file(
            format!("components/{snake}/client/Cargo.toml"),
            CLIENT_CARGO,
        ),
        file(format!("components/{snake}/client/build.rs"), BUILD_RS),
        file(
            format!("components/{snake}/client/src/main.rs"),
            CLIENT_MAIN,
        ),
        file(
            format!("manifests/components/{snake}_server.json5"),
            SERVER_MANIFEST,
        ),
        file(
            format!("manifests/components/{snake}_client.json5"),
            CLIENT_MANIFEST,
        ),
        file(
            format!("manifests/components/{snake}_root.json5"),
            ROOT_MANIFEST,
        ),
        file(format!("manifests/products/{snake}.toml"), PRODUCT),
    ]
}

/// Writes component `name` into the workspace at `root` and adds its
/// crates to the workspace's `members`; `report` gets one line per file.
pub fn new_component(root: &Path, name: &str, report: &mut dyn FnMut(String)) -> Result<()> {
    let name = ComponentName::parse(name)?;
    let files = files(&name);
    for file in &files {
        if root.join(&file.path).exists() {
            bail!(
                "{} already exists: choose another name (nothing was written)",
                file.path.display()
            );
        }
    }
    let manifest_path = root.join("Cargo.toml");
    let workspace = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let members = [
        format!("components/{}/server", name.snake()),
        format!("components/{}/client", name.snake()),
    ];
    let workspace = add_members(&workspace, &members)?;
    for file in &files {
        let path = root.join(&file.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, &file.text)
            .with_context(|| format!("cannot write {}", path.display()))?;
        report(format!("wrote {}", file.path.display()));
    }
    std::fs::write(&manifest_path, workspace)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    report(format!(
        "added {} to the workspace members in Cargo.toml",
        members.join(" and ")
    ));
    report(format!(
        "boot it: cargo run -p build-image -- run --product {}",
        name.snake()
    ));
    Ok(())
}

/// `workspace` (the root Cargo.toml) with `members` added at the end of its
/// user programs (before the `# idl compiler` group if there is one, else
/// at the end of the `members` list).
pub fn add_members(workspace: &str, members: &[String]) -> Result<String> {
    let start = workspace
        .find("\nmembers = [")
        .context("Cargo.toml has no `members = [` list")?;
    let end = start
        + workspace[start..]
            .find("\n]")
            .context("Cargo.toml's `members` list does not end with `]` on its own line")?;
    let insert_at = workspace[start..end]
        .find("\n    # idl compiler")
        .map_or(end, |at| start + at);
    let lines: String = members
        .iter()
        .map(|member| format!("\n    \"{member}\","))
        .collect();
    Ok(format!(
        "{}{}{}",
        &workspace[..insert_at],
        lines,
        &workspace[insert_at..]
    ))
}

const IDL: &str = r##"/// The protocol of the {snake} component (written by `build-image new
/// component {snake}`; make it yours).
library {snake};

/// Answers a greeting.
@discoverable
closed protocol {Camel} {
    /// Returns a greeting for `name`.
    strict Greet(struct {
        name string:256;
    }) -> (struct {
        greeting string:512;
    });
};
"##;

const BUILD_RS: &str = r##"//! Generates the Rust bindings of `idl/{snake}.idl` into OUT_DIR
//! (`idl.rs`, included by `src/main.rs`). An IDL error fails the build
//! here, with idlc's diagnostic.
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/{snake}.idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
"##;

const SERVER_CARGO: &str = r##"[package]
name = "{kebab}-server"
description = "Serves {snake}.{Camel} (idl/{snake}.idl)."
version.workspace = true
edition.workspace = true
license.workspace = true

[[bin]]
name = "{kebab}-server"
test = false
bench = false

[dependencies]
zx = { path = "../../../sdk/zx" }
zx-runtime = { path = "../../../sdk/runtime" }
zx-idl = { path = "../../../sdk/idl-transport" }
zx-component = { path = "../../../sdk/component" }
zx-async = { path = "../../../sdk/async" }
idlc-runtime = { path = "../../../idlc/runtime" }

[build-dependencies]
idlc-build = { path = "../../../idlc/build" }

[lints.rust]
unexpected_cfgs = { level = "warn", check-cfg = ['cfg(baremetal)'] }
"##;

const CLIENT_CARGO: &str = r##"[package]
name = "{kebab}-client"
description = "Calls {snake}.{Camel} (idl/{snake}.idl) through its /svc."
version.workspace = true
edition.workspace = true
license.workspace = true

[[bin]]
name = "{kebab}-client"
test = false
bench = false

[dependencies]
zx = { path = "../../../sdk/zx" }
zx-runtime = { path = "../../../sdk/runtime" }
zx-idl = { path = "../../../sdk/idl-transport" }
zx-component = { path = "../../../sdk/component" }
idlc-runtime = { path = "../../../idlc/runtime" }

[build-dependencies]
idlc-build = { path = "../../../idlc/build" }

[lints.rust]
unexpected_cfgs = { level = "warn", check-cfg = ['cfg(baremetal)'] }
"##;

const SERVER_MAIN: &str = r##"//! The {snake} server: serves `{snake}.{Camel}` (idl/{snake}.idl) to every
//! client that connects through its outgoing directory, until the
//! component manager asks it to stop.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

// `String`, `format!` and `Rc` live in `alloc` (there is no `std`).
extern crate alloc;

use zx::Channel;
use zx_idl::ChannelTransport;
use zx_runtime::println;

// What idlc generated from idl/{snake}.idl (build.rs writes it).
mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

// The library `{snake}` is the module `bindings::{snake}`; for protocol
// `{Camel}` and method `Greet` idlc generates `{Camel}GreetRequest` and
// `{Camel}GreetResponse`, the trait `{Camel}Server` (one method per
// protocol method, `greet`), `{Camel}Marker` (its `DISCOVERABLE_NAME` is
// "{snake}.{Camel}") and `dispatch_{snake}`, which decodes a request,
// calls the trait and encodes the reply.
use bindings::{snake}::{
    dispatch_{snake}, {Camel}GreetRequest, {Camel}GreetResponse, {Camel}Marker, {Camel}Server,
};
// `send` on a transport comes from this trait.
use idlc_runtime::Transport;

zx_runtime::entry!(main);

/// What the protocol means.
struct Greeter;

impl {Camel}Server for Greeter {
    fn greet(&mut self, request: {Camel}GreetRequest) -> {Camel}GreetResponse {
        {Camel}GreetResponse {
            greeting: alloc::format!("hello, {}", request.name),
        }
    }
}

/// Answers requests on one connection until the client goes away.
async fn serve(channel: Channel) {
    let transport = ChannelTransport::new(channel);
    let mut server = Greeter;
    while let Some(mut request) = zx_component::next_message(&transport).await {
        match dispatch_{snake}(&mut server, &mut request) {
            Ok(Some(reply)) => {
                if transport.send(reply).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(error) => println!("{kebab}-server: bad request: {:?}", error),
        }
    }
}

fn main() -> i64 {
    let Some(outgoing) = zx_component::Outgoing::take() else {
        println!("{kebab}-server: not started as a component");
        return 1;
    };
    let Ok(mut executor) = zx_async::Executor::new() else {
        return 1;
    };
    let spawner = executor.spawner();
    // Each connection to a capability of the manifest arrives here.
    executor.spawner().spawn(async move {
        while let Some((name, channel)) = outgoing.next().await {
            if Some(name.as_str()) == {Camel}Marker::DISCOVERABLE_NAME {
                spawner.spawn(serve(channel));
            } else {
                println!("{kebab}-server: no service named {}", name);
            }
        }
    });
    // Serve until the component manager asks us to stop.
    let Some(lifecycle) = zx_component::Lifecycle::take() else {
        return 1;
    };
    let reason = executor.run(async move { lifecycle.stopped().await });
    // `log` goes to the logger through zx.logger.LogSink, which the
    // manifest uses and the root offers from its logger child.
    zx_component::log(&alloc::format!("{kebab}-server: stopping ({:?})", reason));
    0
}
"##;

const CLIENT_MAIN: &str = r##"//! The {snake} client: connects to `{snake}.{Camel}` through its `/svc`
//! (the root routes it from the server, which starts on this first
//! connection), calls `Greet` once, and prints and logs the answer.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use zx_idl::ChannelTransport;
use zx_runtime::println;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

// The generated client: `{Camel}Client::new(transport)`, one method per
// protocol method (`greet`), each returning the response struct.
use bindings::{snake}::{{Camel}Client, {Camel}GreetRequest, {Camel}Marker};

zx_runtime::entry!(main);

fn main() -> i64 {
    let name = {Camel}Marker::DISCOVERABLE_NAME.unwrap_or("{snake}.{Camel}");
    let channel = match zx_component::connect(name) {
        Ok(channel) => channel,
        Err(status) => {
            println!("{kebab}-client: cannot connect to {}: {}", name, status);
            return 1;
        }
    };
    let server = {Camel}Client::new(ChannelTransport::new(channel));
    let request = {Camel}GreetRequest {
        name: "{snake}".into(),
    };
    match server.greet(request) {
        Ok(reply) => {
            println!("{kebab}-client: the server says {:?}", reply.greeting);
            zx_component::log(&alloc::format!("{kebab}-client: {}", reply.greeting));
            0
        }
        Err(error) => {
            println!("{kebab}-client: greet failed: {:?}", error);
            1
        }
    }
}
"##;

const SERVER_MANIFEST: &str = r##"// Serves {snake}.{Camel} (idl/{snake}.idl) from its outgoing directory.
{
    program: { binary: "bin/{kebab}-server" },
    capabilities: [
        { protocol: "{snake}.{Camel}" },
    ],
    use: [
        { protocol: "zx.logger.LogSink" },
    ],
    expose: [
        { protocol: "{snake}.{Camel}", from: "self" },
    ],
    limits: { memory: "16MiB", handles: 64, threads: 4 },
}
"##;

const CLIENT_MANIFEST: &str = r##"// Calls {snake}.{Camel}, which its parent routes to it.
{
    program: { binary: "bin/{kebab}-client" },
    use: [
        { protocol: "{snake}.{Camel}" },
        { protocol: "zx.logger.LogSink" },
    ],
    limits: { memory: "16MiB", handles: 64, threads: 4 },
}
"##;

const ROOT_MANIFEST: &str = r##"// The {snake} product's root: runs no program of its own; it wires a
// logger, the server (started on the first connection) and the client
// (started at boot).
{
    children: [
        { name: "logger", manifest: "logger", startup: "lazy" },
        { name: "server", manifest: "{snake}_server", startup: "lazy" },
        { name: "client", manifest: "{snake}_client", startup: "eager" },
    ],
    offer: [
        { protocol: "zx.logger.LogSink", from: "#logger", to: "#server" },
        { protocol: "zx.logger.LogSink", from: "#logger", to: "#client" },
        // The client's `use` is satisfied by the server's `expose`.
        { protocol: "{snake}.{Camel}", from: "#server", to: "#client" },
    ],
}
"##;

const PRODUCT: &str = r##"# The {snake} component (written by `build-image new component {snake}`):
# userboot starts the component manager, which builds the tree of
# manifests/components/{snake}_root.json5.
description = "The {snake} server and client."

programs = ["userboot", "component_manager"]

# The component manager loads meta/<component_manager.root>.cm first
# (`root` if unset): it must name the product's root.
cmdline = "userboot.next=bin/component_manager component_manager.root={snake}_root"

root = "{snake}_root"

[machine]
memory = "256M"
cpus = 1
"##;

/// The system test `scaffold.new_component_boots`: copies the workspace
/// (sources only) to `target/scaffold/workspace/`, runs the scaffold there
/// for `greeter`, builds the product it wrote and boots it (the client
/// prints and logs the server's answer, then the guest powers off); then
/// removes the copy. The copy's
/// `target` is `target/scaffold/target/`, kept between runs so only what
/// changed is rebuilt.
pub fn boots_as_generated(harness: &crate::systest::Harness) -> Result<(), String> {
    let base = harness.root().join("target/scaffold");
    let workspace = base.join("workspace");
    let run = (|| -> Result<crate::qemu::Captured> {
        copy_workspace(harness.root(), &workspace, &base.join("target"))?;
        new_component(&workspace, "greeter", &mut |_| {})?;
        let product = crate::product::Product::load(&workspace, "greeter")?;
        let image = crate::image::build(&workspace, &product, &mut |line| {
            eprintln!("build-image: scaffold: {line}")
        })?;
        let options = crate::qemu::RunOptions {
            timeout: harness.timeout(),
            machine_dir: Some(base.join("machine")),
            ..Default::default()
        };
        // The component manager powers off once every eager component
        // (the client) has ended.
        crate::qemu::run_captured(&image, &options)
    })();
    let _ = std::fs::remove_dir_all(&workspace);
    let _ = std::fs::remove_dir_all(base.join("machine"));
    let run = run.map_err(|e| format!("{e:#}"))?;
    crate::systest::expect_line(&run, "greeter-client: the server says \"hello, greeter\"")?;
    // The client's log record (`log root/client: …`) is not waited for:
    // the guest may power off before the logger prints it.
    if run.ending != crate::qemu::Ending::Guest(zx_abi::guest_exit::SUCCESS) {
        return Err(format!(
            "the boot ended otherwise: {}",
            run.ending.describe()
        ));
    }
    Ok(())
}

/// Copies the workspace at `from` (without `target` and `.git`) to `to`,
/// with modification times kept so cargo rebuilds only what the scaffold
/// adds, and links `to/target` to `cache`.
fn copy_workspace(from: &Path, to: &Path, cache: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    std::fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if matches!(entry.file_name().to_str(), Some("target" | ".git")) {
            continue;
        }
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(entry.path())
            .arg(to)
            .status()
            .context("cannot run cp")?;
        if !status.success() {
            bail!("cp -a {} {} failed", entry.path().display(), to.display());
        }
    }
    std::os::unix::fs::symlink(cache, to.join("target"))
        .with_context(|| format!("cannot link {}/target", to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let name = ComponentName::parse("hello_world").unwrap();
        assert_eq!(name.camel(), "HelloWorld");
        assert_eq!(name.kebab(), "hello-world");
        for bad in ["", "Hello", "1x", "a-b", "x_", "a.b"] {
            assert!(ComponentName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn members_go_before_the_idl_compiler_group() {
        let workspace =
            "[workspace]\nmembers = [\n    \"a\",\n    # idl compiler\n    \"idlc\",\n]\n";
        let added = add_members(workspace, &["components/x/server".into()]).unwrap();
        assert_eq!(
            added,
            "[workspace]\nmembers = [\n    \"a\",\n    \"components/x/server\",\n    # idl compiler\n    \"idlc\",\n]\n"
        );
    }

    #[test]
    fn every_placeholder_is_filled() {
        for file in files(&ComponentName::parse("greeter").unwrap()) {
            for placeholder in ["{snake}", "{kebab}", "{Camel}"] {
                assert!(
                    !file.text.contains(placeholder),
                    "{} keeps {placeholder}",
                    file.path.display()
                );
            }
        }
    }
}
