//! The `build-image` command line. See the crate docs (`lib.rs`).

use anyhow::Result;
use build_image::product::Product;
use build_image::qemu::{self, Accel, RunOptions};
use build_image::systest::{self, guest_results, Harness};
use build_image::{image, manifest, product};
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "build-image",
    about = "Build, boot and test images of the OS",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a product's image into target/images/<product>/.
    Build {
        /// Product name (manifests/products/<name>.toml).
        #[arg(long, default_value = "default")]
        product: String,
    },
    /// Build a product and boot it under QEMU with the console on this
    /// terminal. Exits with the guest's status when it powers off. Piped or
    /// redirected input reaches the console too; when it ends without
    /// powering the guest off, the run ends once the guest has been quiet
    /// for 5 s (exit status 0).
    Run {
        /// Product name (manifests/products/<name>.toml).
        #[arg(long, default_value = "default")]
        product: String,
        /// Give up (exit 124) after this many seconds; no limit if unset.
        #[arg(long)]
        timeout: Option<u64>,
        /// QEMU accelerator; KVM is opt-in.
        #[arg(long, value_enum, default_value = "tcg")]
        accel: Accel,
        /// Guest memory (QEMU syntax, e.g. 512M, 4G), overriding the product.
        #[arg(long)]
        memory: Option<String>,
        /// Number of CPUs, overriding the product.
        #[arg(long)]
        cpus: Option<u32>,
        /// Extra kernel command-line options.
        #[arg(long, default_value = "")]
        cmdline: String,
    },
    /// Boot the test images and report every result.
    Test {
        /// Only tests whose name contains this.
        filter: Option<String>,
        /// Per-boot timeout in seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// List the products.
    Products,
    /// Deterministic benchmarks: boot the bench image and a Linux guest
    /// under QEMU with instruction counting, print the side-by-side table,
    /// write target/bench/results.json and docs/performance.md.
    Bench {
        /// Per-boot timeout in seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
        /// Do not rewrite the "Kernel benchmarks" section of
        /// docs/performance.md.
        #[arg(long)]
        no_docs: bool,
        /// Run only these rows: `swap` (the hot-swap guest).
        #[arg(long, value_parser = ["swap"])]
        only: Option<String>,
    },
    /// Where one benchmark case's instructions go, per function: boots the
    /// bench image with QEMU's block log, running only that case, and
    /// attributes one iteration's instructions to kernel and user
    /// functions (see docs/performance.md).
    Profile {
        /// The case, as components/bench names it.
        #[arg(default_value = "call_roundtrip_0")]
        case: String,
        /// Iterations of the shorter of the two runs (1 to 3000).
        #[arg(long, default_value_t = 1000)]
        iterations: usize,
        /// How many functions (or blocks) to show.
        #[arg(long, default_value_t = 40)]
        top: usize,
        /// Show translated blocks by start address instead of functions
        /// (to read with `objdump -d --start-address=…` on the kernel).
        #[arg(long)]
        blocks: bool,
    },
    /// Check the component manifests (manifests/components/*.json5): those
    /// of one product's tree, or every manifest (each top-level manifest,
    /// one that no other names as a child, is checked as a tree root).
    CheckManifests {
        /// Only this product's tree (manifests/products/<name>.toml, `root`).
        #[arg(long)]
        product: Option<String>,
        /// Skip the check that each `program.binary` is a workspace binary.
        #[arg(long)]
        no_binary_check: bool,
    },
    /// Run the in-guest syscall fuzzer (product `fuzz`) for a campaign of
    /// any length, with the console shown live; exits 0 if the kernel
    /// survived it (docs/fuzzing.md).
    Fuzz {
        /// Calls to make in all.
        #[arg(long, default_value_t = 1_000_000)]
        calls: u64,
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Worker threads per generation (1 to 8).
        #[arg(long, default_value_t = 3)]
        threads: u32,
        /// Calls per generation (each generation is a fresh process).
        #[arg(long, default_value_t = 2_000)]
        per_generation: u64,
        /// More kernel command-line options, e.g. to replay one
        /// generation: "syscall-fuzz.first=12 syscall-fuzz.trace=1".
        #[arg(long, default_value = "")]
        cmdline: String,
        /// Give up after this many seconds (default: 120 + calls / 2000).
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Print each file's blob name, its Fuchsia Merkle root, as
    /// `<root>  <file>` (the way `sha256sum` prints).
    BlobRoot {
        /// The files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Regenerate sdk/zx-abi/src/generated.rs and docs/syscalls.md from
    /// idl/zx.idl (the syscall ABI's single source).
    GenAbi,
    /// Write the client SDK bundle (Rust crates, C, Python, IR, docs) for
    /// the system's IDL libraries (idl/*.idl), or for the files given.
    Sdk {
        /// The directory to write (created; existing files are replaced).
        #[arg(long)]
        out: std::path::PathBuf,
        /// IDL files (default: every idl/*.idl).
        files: Vec<std::path::PathBuf>,
    },
    /// List the components of the system `build-image run` started (its
    /// bridge socket, docs/bridge.md).
    Ls {
        #[command(flatten)]
        system: RunningSystem,
    },
    /// Print the running system's log from the start; with -f, follow it.
    Log {
        #[command(flatten)]
        system: RunningSystem,
        /// Keep printing new records until the system goes away.
        #[arg(short, long)]
        follow: bool,
    },
    /// Build a component's program and write it into the running system's
    /// blobfs, unless it has that blob already; prints its Merkle root.
    Push {
        #[command(flatten)]
        system: RunningSystem,
        /// The program (a workspace binary, as `bin/<name>` in manifests).
        component: String,
    },
    /// Hot-swap a running component: build the package of manifest
    /// <component> (its program and meta blob), push the blobs the system
    /// lacks, swap <moniker> to it; prints swapped, refused or rolled back
    /// (with the reason) and the service gap (docs/hot-swap.md). Exits 0
    /// only when swapped.
    Swap {
        #[command(flatten)]
        system: RunningSystem,
        /// The running component, e.g. root/echo_server.
        moniker: String,
        /// The manifest of the new version (manifests/components/<name>.json5).
        component: String,
    },
    /// Swap a component back to the version it ran before its last swap.
    Rollback {
        #[command(flatten)]
        system: RunningSystem,
        moniker: String,
    },
    /// Write something new into the workspace.
    New {
        #[command(subcommand)]
        what: New,
    },
}

/// Which running system a bridge command talks to.
#[derive(clap::Args)]
struct RunningSystem {
    /// The product `build-image run` booted (its socket is
    /// target/machines/<product>/bridge.sock).
    #[arg(long, default_value = "default")]
    product: String,
    /// The bridge socket itself, overriding --product.
    #[arg(long)]
    socket: Option<std::path::PathBuf>,
}

impl RunningSystem {
    fn session(&self, root: &std::path::Path) -> Result<build_image::bridge::Session> {
        let path = self
            .socket
            .clone()
            .unwrap_or_else(|| build_image::bridge::socket_path(root, &self.product));
        build_image::bridge::Session::connect(&path)
    }
}

#[derive(Subcommand)]
enum New {
    /// A protocol (idl/<name>.idl), a server and a client crate
    /// (components/<name>/), their manifests, a root manifest and a
    /// product (manifests/), added to the workspace: boot it with
    /// `build-image run --product <name>`.
    Component {
        /// Lower-case letters, digits and '_' (e.g. greeter).
        name: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("build-image: error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let root = systest::workspace_root();
    match cli.command {
        Command::Build { product } => {
            let product = Product::load(&root, &product)?;
            image::build(&root, &product, &mut |line| println!("build-image: {line}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            product,
            timeout,
            accel,
            memory,
            cpus,
            cmdline,
        } => {
            let product = Product::load(&root, &product)?;
            let bridge = build_image::bridge::socket_path(&root, &product.name);
            if product.qemu.bridge && std::os::unix::net::UnixStream::connect(&bridge).is_ok() {
                // Its disk and socket are this machine's: a second run
                // would take them from under the first.
                anyhow::bail!(
                    "a system of product {} is already running (its bridge answers at {})",
                    product.name,
                    bridge.display()
                );
            }
            let image = image::build(&root, &product, &mut |line| {
                eprintln!("build-image: {line}")
            })?;
            let forwards = build_image::machine::resolve_forwards(&product.qemu.forwards)?;
            let options = RunOptions {
                accel,
                timeout: timeout.map_or(Duration::MAX, Duration::from_secs),
                memory,
                cpus,
                extra_cmdline: cmdline,
                machine_dir: None,
                forwards: Some(forwards.iter().map(|f| f.0.clone()).collect()),
            };
            let (_, ends) = qemu::devices(&image, &options)?;
            for line in ends.describe() {
                eprintln!("build-image: {line}");
            }
            if product.qemu.bridge {
                let flag = if product.name == "default" {
                    String::new()
                } else {
                    format!(" --product {}", product.name)
                };
                eprintln!(
                    "build-image: from another terminal: `build-image ls{flag}`, `build-image log -f{flag}`"
                );
            }
            for (_, host, guest) in &forwards {
                if *guest == 80 {
                    eprintln!("build-image: the guest's web server: http://127.0.0.1:{host}/");
                }
            }
            eprintln!(
                "build-image: booting {} (QEMU, {:?}); the guest's console follows",
                product.name, accel
            );
            let ending = qemu::run_interactive(&image, &options)?;
            eprintln!("build-image: {}", ending.describe());
            Ok(ExitCode::from(ending.exit_code() as u8))
        }
        Command::Test { filter, timeout } => {
            let harness = Harness::new(&root, Duration::from_secs(timeout));
            let (mut passed, mut failed) = (0, 0);
            for test in systest::TESTS {
                if filter
                    .as_ref()
                    .is_some_and(|f| !test.name.contains(f.as_str()))
                {
                    continue;
                }
                let result = harness.run(test);
                match &result {
                    Ok(()) => {
                        println!("test {} ... ok", test.name);
                        passed += 1;
                    }
                    Err(why) => {
                        println!("test {} ... FAILED\n{why}", test.name);
                        failed += 1;
                    }
                }
                if test.name == "kernel.syscall_suite" {
                    if let Ok(run) = harness.boot(test.boot) {
                        for (name, result) in guest_results(&run) {
                            match result {
                                Ok(()) => {
                                    println!("test guest.{name} ... ok");
                                    passed += 1;
                                }
                                Err(why) => {
                                    println!("test guest.{name} ... FAILED: {why}");
                                    failed += 1;
                                }
                            }
                        }
                    }
                }
                if test.name == "boot.minimal" {
                    if let Some(at) = harness
                        .boot(test.boot)
                        .ok()
                        .and_then(|run| run.time_of("userboot: hello"))
                    {
                        println!(
                            "     boot time: QEMU start to first user-program output {} ms",
                            at.as_millis()
                        );
                    }
                }
            }
            for scenario in systest::SCENARIOS {
                if filter
                    .as_ref()
                    .is_some_and(|f| !scenario.name.contains(f.as_str()))
                {
                    continue;
                }
                match (scenario.run)(&harness) {
                    Ok(()) => {
                        println!("test {} ... ok", scenario.name);
                        passed += 1;
                    }
                    Err(why) => {
                        println!("test {} ... FAILED\n{why}", scenario.name);
                        failed += 1;
                    }
                }
            }
            println!("{passed} passed, {failed} failed");
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Products => {
            for name in product::list(&root) {
                let description = Product::load(&root, &name)
                    .map(|p| p.description)
                    .unwrap_or_else(|e| format!("(invalid: {e})"));
                println!("{name:<16} {description}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            timeout,
            no_docs,
            only,
        } => {
            let options = build_image::bench::Options {
                timeout: Duration::from_secs(timeout),
                write_docs: !no_docs,
                swap_only: only.as_deref() == Some("swap"),
            };
            let complete = build_image::bench::run(&root, &options)?;
            Ok(if complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Profile {
            case,
            iterations,
            top,
            blocks,
        } => {
            let options = build_image::bench::profile::Options {
                case,
                iterations,
                top,
                blocks,
            };
            let profile = build_image::bench::profile::run(&root, &options)?;
            if options.blocks {
                print!("{}", profile.render_blocks(&options.case, options.top));
            } else {
                print!("{}", profile.render(&options.case, options.top));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckManifests {
            product,
            no_binary_check,
        } => {
            let mut context = manifest::Context::from_workspace(&root)?;
            if no_binary_check {
                context.binaries = None;
            }
            let outcome = match product {
                Some(name) => {
                    let product = Product::load(&root, &name)?;
                    if product.root.is_none() {
                        anyhow::bail!("product {name:?} has no `root` component");
                    }
                    let names = manifest::check_product(&root, &product, &context).map(
                        |compiled| -> Vec<String> {
                            compiled
                                .into_iter()
                                .flat_map(|c| c.manifests)
                                .map(|m| m.name)
                                .collect()
                        },
                    );
                    if let Ok(names) = &names {
                        product.check_component_manager_root(names)?;
                    }
                    names
                }
                None => manifest::check_directory(
                    &root,
                    std::path::Path::new(manifest::COMPONENTS_DIR),
                    &context,
                ),
            };
            match outcome {
                Ok(names) => {
                    println!("build-image: manifests ok ({})", names.join(", "));
                    Ok(ExitCode::SUCCESS)
                }
                Err(diagnostics) => {
                    eprint!("{diagnostics}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::New {
            what: New::Component { name },
        } => {
            build_image::scaffold::new_component(&root, &name, &mut |line| {
                println!("build-image: {line}")
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fuzz {
            calls,
            seed,
            threads,
            per_generation,
            cmdline,
            timeout,
        } => {
            let campaign = build_image::fuzz::Campaign {
                calls,
                seed,
                threads,
                per_generation,
                cmdline,
                timeout: timeout.map(Duration::from_secs),
            };
            match build_image::fuzz::run(&root, &campaign)? {
                Ok(verdict) => {
                    println!(
                        "build-image: fuzz passed: {} calls in {} generations, seed {}; no panic, no hang",
                        verdict.calls, verdict.generations, verdict.seed
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    println!("build-image: fuzz FAILED (seed {seed}): {why}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Sdk { out, files } => {
            let files = if files.is_empty() {
                build_image::sdk::system_idl_files(&root)?
            } else {
                files
            };
            let bundle = build_image::sdk::write(&root, &files, &out)?;
            println!(
                "build-image: wrote {} files for {} libraries ({}) into {}",
                bundle.files,
                bundle.libraries.len(),
                bundle.libraries.join(", "),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::BlobRoot { files } => {
            for file in files {
                println!("{}", build_image::blob::root_line(&file)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ls { system } => {
            let session = system.session(&root)?;
            let components = build_image::bridge::commands::list(&session)?;
            print!(
                "{}",
                build_image::bridge::commands::render_list(&components)
            );
            // The swapped ones' versions (a system without a swap
            // controller has none to show).
            if let Ok(versions) = build_image::bridge::commands::versions(&session) {
                print!(
                    "{}",
                    build_image::bridge::commands::render_versions(&versions)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Log { system, follow } => {
            let session = system.session(&root)?;
            build_image::bridge::commands::log(&session, follow, &mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Push { system, component } => {
            let session = system.session(&root)?;
            let (blob, pushed) = build_image::bridge::commands::push(&root, &session, &component)?;
            match pushed {
                build_image::bridge::commands::Pushed::AlreadyThere => {
                    println!("{blob}  {component} (the system has it: nothing sent)")
                }
                build_image::bridge::commands::Pushed::Written(bytes) => {
                    println!("{blob}  {component} ({bytes} bytes written to blobfs)")
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Swap {
            system,
            moniker,
            component,
        } => {
            let session = system.session(&root)?;
            let report =
                build_image::bridge::commands::swap(&root, &session, &moniker, &component)?;
            println!(
                "{moniker}: {}",
                build_image::bridge::commands::render_report(&report)
            );
            Ok(swap_exit(&report))
        }
        Command::Rollback { system, moniker } => {
            let session = system.session(&root)?;
            let report = build_image::bridge::commands::rollback(&session, &moniker)?;
            println!(
                "{moniker}: {}",
                build_image::bridge::commands::render_report(&report)
            );
            Ok(swap_exit(&report))
        }
        Command::GenAbi => {
            let generated = build_image::abi::generate_from_workspace(&root)?;
            let changed = build_image::abi::write(&root, &generated)?;
            for (path, _) in generated.files() {
                let state = if changed.contains(&path) {
                    "written"
                } else {
                    "unchanged"
                };
                println!("build-image: {path} {state}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `swap`'s and `rollback`'s exit status: success only when swapped.
fn swap_exit(report: &build_image::bridge::bindings::zx_component_swap::SwapReport) -> ExitCode {
    use build_image::bridge::bindings::zx_component_swap::Outcome;
    match report.outcome {
        Outcome::Swapped => ExitCode::SUCCESS,
        Outcome::Refused | Outcome::RolledBack => ExitCode::FAILURE,
    }
}
