//! The QEMU system tests, run by `cargo test`: each boots a real image
//! (TCG) through the same harness as `build-image test`.

use build_image::systest::{self, Harness};
use std::sync::OnceLock;
use std::time::Duration;

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| Harness::new(&systest::workspace_root(), Duration::from_secs(120)))
}

fn scenario(name: &str) {
    let test = systest::find_scenario(name).unwrap_or_else(|| panic!("no scenario {name}"));
    if let Err(why) = (test.run)(harness()) {
        panic!("{name} failed:\n{why}");
    }
}

#[test]
fn drivers_disk_network_bridge_restart() {
    scenario("drivers.disk_network_bridge_restart");
}

#[test]
fn scaffold_new_component_boots() {
    scenario("scaffold.new_component_boots");
}

#[test]
fn net_http_echo_hostile_restart() {
    scenario("net.http_echo_hostile_restart");
}

#[test]
fn storage_blobfs_write_read_integrity() {
    scenario("storage.blobfs_write_read_integrity");
}

#[test]
fn storage_blobfs_crash_consistency() {
    scenario("storage.blobfs_crash_consistency");
}

#[test]
fn storage_data_survives_reboot() {
    scenario("storage.data_survives_reboot");
}

#[test]
fn bridge_ls_log_echo_push_hostile() {
    scenario("bridge.ls_log_echo_push_hostile");
}

#[test]
fn bridge_python_and_c_clients() {
    scenario("bridge.python_and_c_clients");
}

#[test]
fn swap_from_the_host_under_a_steady_client() {
    scenario("swap.from_the_host_under_a_steady_client");
}

#[test]
fn swap_pinned_version_survives_reboot() {
    scenario("swap.pinned_version_survives_reboot");
}

#[test]
fn storage_damaged_package_refused() {
    scenario("storage.damaged_package_refused");
}

#[test]
fn every_scenario_is_listed() {
    let listed = [
        "drivers.disk_network_bridge_restart",
        "scaffold.new_component_boots",
        "net.http_echo_hostile_restart",
        "storage.blobfs_write_read_integrity",
        "storage.blobfs_crash_consistency",
        "storage.data_survives_reboot",
        "bridge.ls_log_echo_push_hostile",
        "bridge.python_and_c_clients",
        "storage.damaged_package_refused",
        "swap.from_the_host_under_a_steady_client",
        "swap.pinned_version_survives_reboot",
    ];
    for test in systest::SCENARIOS {
        assert!(
            listed.contains(&test.name),
            "{} has no #[test] in tests/system.rs",
            test.name
        );
    }
}

fn run(name: &str) {
    let test = systest::find(name).unwrap_or_else(|| panic!("no system test {name}"));
    if let Err(why) = harness().run(test) {
        panic!("{name} failed:\n{why}");
    }
}

macro_rules! system_tests {
    ($($function:ident => $name:literal,)*) => {
        $(#[test] fn $function() { run($name) })*

        /// Every system test in the harness has a `#[test]` here.
        #[test]
        fn every_system_test_is_listed() {
            let listed = [$($name),*];
            for test in systest::TESTS {
                assert!(listed.contains(&test.name), "{} has no #[test] in tests/system.rs", test.name);
            }
        }
    };
}

system_tests! {
    boot_minimal => "boot.minimal",
    boot_default => "boot.default",
    boot_memory_32m => "boot.memory_32m",
    boot_memory_4g => "boot.memory_4g",
    boot_smp_2 => "boot.smp_2",
    user_faults_are_survived => "kernel.user_faults_are_survived",
    syscall_suite => "kernel.syscall_suite",
    syscall_fuzz => "kernel.syscall_fuzz",
    components_echo_routing => "components.echo_routing",
    components_crash_restart_memory_limit => "components.crash_restart_memory_limit",
    components_console => "components.console_ls_stop_shutdown",
    components_lifecycle => "components.lifecycle_collections",
    components_fanout_budget => "components.fanout_budget",
    components_parent_started_on_demand => "components.parent_started_on_demand",
    panic_report => "kernel.panic_report",
    exception_report => "kernel.exception_report",
    stack_overflow => "kernel.stack_overflow",
    drivers_console_lsdev_lsblk => "drivers.console_lsdev_lsblk",
    storage_console_ls_blob_df => "storage.console_ls_blob_df",
    storage_large_program => "storage.large_program",
    swap_hundred_swaps => "swap.hundred_swaps_under_a_steady_client",
    swap_console => "swap.console_swap_rollback_ls",
    swap_destroyed_mid_swap => "swap.destroyed_mid_swap_slot_reused",
    swap_unbound_version_takes_nothing => "swap.unbound_version_takes_nothing",
    swap_taken_and_ended_at_once_loses_nothing => "swap.taken_and_ended_at_once_loses_nothing",
    swap_rollback_hard_cases => "swap.rollback_hard_cases",
    swap_flooding_version_and_concurrent_swaps => "swap.flooding_version_and_concurrent_swaps",
}

/// `build-image run` boots the default product on its one machine
/// (`target/machines/default`: disk image, bridge socket): two runs at once
/// would share them, so the tests below take turns.
static DEFAULT_MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The README's example, through the real command line: piped input
/// reaches the console, `ls` lists the components, `shutdown` ends the run
/// with status 0.
#[test]
fn readme_piped_run_lists_components_and_exits_0() {
    let _alone = DEFAULT_MACHINE.lock().unwrap_or_else(|e| e.into_inner());
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_build-image"))
        .current_dir(systest::workspace_root())
        .args(["run", "--timeout", "120"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start build-image run");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ls\nshutdown\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit status {:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for needle in [
        "root/logger                      running  bin/logger",
        "root/console                     running  bin/console",
        "root/echo_server",
        "system_shutdown(0) by process bin/component_manager",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in:\n{stdout}");
    }
}

/// Piped input that ends without `shutdown` ends the run once the guest is
/// idle (status 0), long before the timeout.
#[test]
fn piped_run_without_shutdown_ends_when_input_ends() {
    let _alone = DEFAULT_MACHINE.lock().unwrap_or_else(|e| e.into_inner());
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_build-image"))
        .current_dir(systest::workspace_root())
        .args(["run", "--timeout", "300"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start build-image run");
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(b"ls\n").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit status {:?}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stderr.contains("input ended without `shutdown`"),
        "no input-ended line in:\n{stderr}"
    );
    assert!(
        stdout.contains("root/console                     running  bin/console"),
        "ls did not run:\n{stdout}"
    );
}
