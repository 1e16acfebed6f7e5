//! The hot swap driven from the host (`swap.from_the_host_under_a_steady_client`,
//! issue 14, `docs/hot-swap.md`): the default product (as
//! `swap-host-tests`, which also ships the steady client) boots, a client in
//! the guest calls `examples.echo.Echo` at a steady rate, and the host —
//! through the bridge socket only, with the functions behind `build-image
//! swap` and `rollback` — builds and pushes echo versions that are not in
//! the image and swaps `root/echo_server` between them: versions 1 and 2
//! alternately, once to version 4 (refused, naming the method and type),
//! twice to a version 3 (one crashing in start-up, one right after taking
//! the endpoints: rolled back), then back with `rollback`. The client must
//! not see one failed or wrong reply, and the server's call counter
//! (version 2's `Calls`) must have grown by exactly the client's calls:
//! nothing lost, nothing answered twice, the state continuous.

use crate::bridge::bindings::examples_echo::EchoMarker;
use crate::bridge::bindings::examples_echo_v2::EchoClient as EchoV2Client;
use crate::bridge::bindings::zx_component_swap::{Outcome, SwapReport};
use crate::bridge::commands;
use crate::bridge::scenario::Guest;
use crate::bridge::Session;
use crate::systest::Harness;
use std::time::Duration;

/// The echo server's moniker in the default product.
const ECHO: &str = "root/echo_server";
/// The steady client, a child of the `dynamic` collection.
const CLIENT: &str = "root/dynamic:swapc";

/// The swaps after the first, in order, and what each must come to.
const SWAPS: &[(&str, Outcome)] = &[
    ("echo_server", Outcome::Swapped),
    ("echo_server_v2", Outcome::Swapped),
    ("echo_server_v4", Outcome::Refused),
    ("echo_server", Outcome::Swapped),
    ("echo_server_v3_takeover", Outcome::RolledBack),
    ("echo_server_v2", Outcome::Swapped),
    ("echo_server_v3_start", Outcome::RolledBack),
    ("echo_server", Outcome::Swapped),
    ("echo_server_v2", Outcome::Swapped),
];

/// The scenario.
pub fn scenario(harness: &Harness) -> Result<(), String> {
    let mut guest = Guest::boot(harness, "swap-host-tests")?;
    let result = run(harness, &mut guest);
    result.map_err(|why| format!("{why}\n{}", guest.tail()))
}

fn swap(harness: &Harness, session: &Session, component: &str) -> Result<SwapReport, String> {
    let report = commands::swap(harness.root(), session, ECHO, component)
        .map_err(|e| format!("swap to {component}: {e:#}"))?;
    println!(
        "swap.from_the_host: {component}: {}",
        commands::render_report(&report)
    );
    Ok(report)
}

/// Version 2's call counter, asked through the bridge.
fn calls(session: &Session) -> Result<u64, String> {
    let channel = session
        .connect_to(ECHO, EchoMarker::DISCOVERABLE_NAME.unwrap())
        .map_err(|e| format!("{e:#}"))?;
    let count = EchoV2Client::new(channel.clone())
        .calls()
        .map_err(|e| format!("Calls: {e:?}"))?
        .calls;
    channel.close().map_err(|e| format!("{e:#}"))?;
    Ok(count)
}

fn run(harness: &Harness, guest: &mut Guest) -> Result<(), String> {
    let session = guest.bridge()?;
    // The boot's own client makes its calls and exits: the counter is
    // still from then on.
    guest.wait_for(
        "component_manager: root/echo_client exited",
        Duration::from_secs(180),
    )?;
    let first = swap(harness, &session, "echo_server_v2")?;
    if first.outcome != Outcome::Swapped {
        return Err(format!("the first swap to version 2: {first:?}"));
    }
    let before = calls(&session)?;
    guest.type_line("create root dynamic swapc swap_client")?;
    guest.wait_for("swap-client: calling", Duration::from_secs(120))?;
    let mut gaps = vec![first.gap_nanos];
    for (component, expected) in SWAPS {
        let report = swap(harness, &session, component)?;
        if report.outcome != *expected {
            return Err(format!(
                "the swap to {component} was {:?} ({}), not {expected:?}",
                report.outcome, report.reason
            ));
        }
        match report.outcome {
            Outcome::Swapped => gaps.push(report.gap_nanos),
            Outcome::Refused
                if !report.reason.contains("examples.echo.Echo.EchoString")
                    || !report.reason.contains("string:64") =>
            {
                return Err(format!(
                    "the refusal does not name what changed: {}",
                    report.reason
                ));
            }
            Outcome::RolledBack if !report.reason.contains(component) => {
                return Err(format!("the rollback does not say why: {}", report.reason));
            }
            _ => {}
        }
    }
    // `rollback`: back to version 1 (what ran before the last swap).
    let back = commands::rollback(&session, ECHO).map_err(|e| format!("rollback: {e:#}"))?;
    if back.outcome != Outcome::Swapped {
        return Err(format!("rollback: {back:?}"));
    }
    gaps.push(back.gap_nanos);
    // The client stops and reports.
    guest.type_line(&format!("stop {CLIENT}"))?;
    guest.wait_for("swap-client: ", Duration::from_secs(60))?;
    guest.wait_for(" calls, ", Duration::from_secs(60))?;
    let report = guest
        .lines_with("swap-client: ")
        .into_iter()
        .find(|l| l.contains(" calls, "))
        .ok_or("the client did not report")?;
    let client_calls: u64 = report
        .split("swap-client: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("cannot read the client's report {report:?}"))?;
    if !report.contains("0 wrong replies, none failed") {
        return Err(format!("the client: {report}"));
    }
    for bad in ["failed after", "came back as"] {
        if let Some(line) = guest.lines_with(bad).first() {
            return Err(format!("the client: {line}"));
        }
    }
    // Version 2 again, to read the counter (version 1 carried it).
    let last = swap(harness, &session, "echo_server_v2")?;
    if last.outcome != Outcome::Swapped {
        return Err(format!("the last swap to version 2: {last:?}"));
    }
    let after = calls(&session)?;
    if after - before != client_calls {
        return Err(format!(
            "the server counted {} calls during the run, the client made {client_calls}",
            after - before
        ));
    }
    if client_calls < 20 {
        return Err(format!("the client made only {client_calls} calls"));
    }
    gaps.sort_unstable();
    println!(
        "swap.from_the_host: {} swaps under {client_calls} calls, none lost; manager's gap median {} us, max {} us",
        gaps.len(),
        gaps[gaps.len() / 2] / 1000,
        gaps[gaps.len() - 1] / 1000
    );
    Ok(())
}
