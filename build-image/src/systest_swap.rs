//! The hot swap's system tests (docs/hot-swap.md): the echo server swapped
//! 100 times under a client calling at a steady rate (`swap-tests`), and
//! the console's `swap`, `rollback` and `ls` (`lifecycle-tests`).

use crate::qemu::{Captured, Ending};
use crate::systest::{expect_ending, expect_line};
use zx_abi::guest_exit;

/// The number in `line` right after `prefix`.
fn number_after(line: &str, prefix: &str) -> Option<u64> {
    let rest = &line[line.find(prefix)? + prefix.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `swap-tests`: 100 swaps alternating versions 1 and 2, 5 to a failing
/// version 3 (rolled back), a refusal for the incompatible version 4; the
/// client loses nothing, gets no wrong reply and never sees its channel
/// close; the server's counter, carried in the state across every version,
/// ends equal to the client's count; version 2's own state field survives
/// every stint of version 1; version 1 answers version 2's flexible
/// `Calls` with `UNKNOWN_METHOD`.
pub fn check_hundred_swaps(run: &Captured) -> Result<(), String> {
    expect_line(
        run,
        "swap-driver: Refused as expected: examples.echo.Echo.EchoString: type examples.echo/EchoEchoStringRequest changed: member 1 (`value`) was string:1024, now string:64",
    )?;
    expect_line(
        run,
        "swap-driver: RolledBack as expected: echo_server_v3_start failed to start",
    )?;
    expect_line(
        run,
        "swap-driver: RolledBack as expected: echo_server_v3_takeover ended within its grace period",
    )?;
    expect_line(
        run,
        "swap-driver: 100 swaps, 5 rolled back, 0 unexpected outcomes",
    )?;
    let count = |needle: &str| run.lines.iter().filter(|(_, l)| l.contains(needle)).count();
    // 50 to version 2 and 50 back to version 1, then one more to version 2.
    let to_v2 = count("component_manager: swap of root/echo_server to echo_server_v2: swapped");
    let to_v1 = count("component_manager: swap of root/echo_server to echo_server: swapped");
    let rolled_back = count("component_manager: swap of root/echo_server to echo_server_v3");
    if (to_v2, to_v1, rolled_back) != (51, 50, 5) {
        return Err(format!(
            "the manager reported {to_v2} swaps to version 2, {to_v1} to version 1 and {rolled_back} rollbacks, not 51, 50 and 5"
        ));
    }
    expect_line(
        run,
        "swap-driver: version 1 answered Calls with UNKNOWN_METHOD",
    )?;
    // `last`, version 2's field, once set, is in every later version 2's
    // state: version 1 kept it as an unknown field.
    let lasts: Vec<&str> = run
        .lines
        .iter()
        .map(|(_, l)| l.as_str())
        .filter(|l| !l.starts_with('[') && l.contains("echo-server-v2: serving, "))
        .filter_map(|l| l.split(", last echoed ").nth(1))
        .collect();
    let Some(first_set) = lasts.iter().position(|last| *last != "\"\"") else {
        return Err(format!(
            "no version 2 took over with `last` set ({} takeovers)",
            lasts.len()
        ));
    };
    if first_set + 10 > lasts.len() {
        return Err(format!(
            "`last` was first set at version 2's takeover {first_set} of {}",
            lasts.len()
        ));
    }
    if let Some(lost) = lasts[first_set..].iter().position(|last| *last == "\"\"") {
        return Err(format!(
            "`last` was lost at version 2's takeover {} (a stint of version 1 dropped it)",
            first_set + lost
        ));
    }
    if let Some((_, line)) = run.lines.iter().find(|(_, l)| l.contains("failed after")) {
        return Err(format!("the client saw a call fail: {line}"));
    }
    let client = expect_line(run, "swap-client: ").and_then(|_| {
        run.lines
            .iter()
            .map(|(_, l)| l.as_str())
            .find(|l| l.contains(" wrong replies, none failed"))
            .ok_or_else(|| "the client did not report".to_string())
    })?;
    let calls = number_after(client, "swap-client: ").ok_or("no call count")?;
    let wrong = number_after(client, "calls, ").ok_or("no wrong count")?;
    if wrong != 0 {
        return Err(format!("{wrong} wrong replies: {client}"));
    }
    // A steady client makes calls across the whole run (hundreds).
    if calls < 200 {
        return Err(format!("only {calls} calls during 100 swaps: {client}"));
    }
    let counted = number_after(
        expect_line(run, "swap-driver: the server counted ")?,
        "the server counted ",
    )
    .ok_or("no server count")?;
    if counted != calls {
        return Err(format!(
            "the client made {calls} calls, the server counted {counted}: the state was not continuous"
        ));
    }
    // Each version takes over the count where the previous one left it.
    let mut last = 0;
    for (_, line) in &run.lines {
        if let Some(calls) = number_after(line, "serving, ") {
            if line.starts_with("[") {
                continue; // the logger's copy
            }
            if calls < last {
                return Err(format!("the call counter went back from {last}: {line}"));
            }
            last = calls;
        }
    }
    expect_line(run, "system_shutdown(0) by process bin/component_manager")?;
    expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
}

/// The console input of [`check_console`].
pub const CONSOLE_INPUT: &str = "start root/echo_server\n\
                                 swap root/echo_server echo_server_v4\n\
                                 swap root/echo_server echo_server_v2\n\
                                 ls\n\
                                 rollback root/echo_server\n\
                                 swap root/stubborn echo_server_v2\n\
                                 swap root/nobody echo_server_v2\n\
                                 shutdown\n";

/// `swap`, `rollback` and `ls` at the console.
pub fn check_console(run: &Captured) -> Result<(), String> {
    expect_line(run, "started root/echo_server")?;
    expect_line(
        run,
        "swap of root/echo_server refused: examples.echo.Echo.EchoString: type examples.echo/EchoEchoStringRequest changed",
    )?;
    expect_line(run, "swapped root/echo_server (gap ")?;
    let listed = expect_line(
        run,
        "root/echo_server                 running  bin/echo-server-v2",
    )?;
    if !listed.contains("version echo_server_v2 (swapped from echo_server)") {
        return Err(format!(
            "ls does not show the version and the swap: {listed}"
        ));
    }
    expect_line(run, "swapped root/echo_server (gap ").and_then(|_| {
        run.lines
            .iter()
            .filter(|(_, l)| l.contains("swapped root/echo_server (gap "))
            .nth(1)
            .ok_or_else(|| "the rollback to version 1 did not swap".to_string())
    })?;
    expect_line(
        run,
        "swap of root/stubborn refused: root/stubborn declares no state in its manifest, so it cannot be swapped",
    )?;
    expect_line(
        run,
        "swap of root/nobody refused: there is no component root/nobody",
    )?;
    expect_line(run, "echo-server: stopping (Requested)")?;
    expect_line(run, "system_shutdown(0) by process bin/component_manager")?;
    expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
}

/// `swap-grace-tests`: a hostile new version that bound a channel of its
/// own to the escrow is rolled back and the old version gets only the
/// endpoints it handed over (one connection: the driver's); a new version
/// that serves in its grace period, where the driver opens a connection
/// to it, then crashes on a request is rolled back with that connection
/// too (opened during the swap), answered by the old version; an old
/// version that exits once it has handed over, followed by a new one that
/// crashes in its grace period, is started again from its manifest with
/// the endpoints and the state: the driver's connection, opened before the
/// first swap, is answered throughout, and the counter carried in the
/// state equals the driver's calls.
pub fn check_rollback_hard_cases(run: &Captured) -> Result<(), String> {
    expect_line(
        run,
        "swap-extra: took 1 connections, bound an extra channel",
    )?;
    expect_line(
        run,
        "component_manager: rollback of root/echo_server: gave back the outgoing directory and 1 connections; closed 1 handles not handed over",
    )?;
    expect_line(
        run,
        "swap-grace: swap to echo_server_extra: RolledBack: echo_server_extra ended within its grace period (exit code 17)",
    )?;
    expect_line(
        run,
        "swap-grace: echo after the hostile version that bound a channel of its own: ok",
    )?;
    // A connection opened during the grace period of a version that then
    // crashes goes back to the old version with the rest.
    expect_line(run, "swap-grace: the new version serves")?;
    expect_line(
        run,
        "swap-grace: a connection opened during the grace period is answered by the new version: ok",
    )?;
    expect_line(run, "echo-server-v3: crashing on request")?;
    expect_line(
        run,
        "component_manager: rollback of root/echo_server: gave back the outgoing directory and 2 connections; closed 0 handles not handed over (1 of the connections opened during the swap)",
    )?;
    expect_line(
        run,
        "swap-grace: the request the new version crashed on was answered",
    )?;
    expect_line(
        run,
        "swap-grace: swap to echo_server_v3_on_request: RolledBack: echo_server_v3_on_request ended within its grace period (exit code",
    )?;
    let after = expect_line(
        run,
        "swap-grace: echo on the connection opened during the grace period, after the rollback: ",
    )?;
    if !after.ends_with(": ok") {
        return Err(format!(
            "the connection opened during the grace period: {after}"
        ));
    }
    expect_line(run, "swap-grace: swap to echo_server_mortal: Swapped")?;
    expect_line(
        run,
        "echo-server-v2: handed over, exiting (as the test asks)",
    )?;
    expect_line(run, "echo-server-v3: crashing 300 ms after taking over")?;
    expect_line(
        run,
        "component_manager: started root/echo_server (echo_server_mortal) again to take back the handover",
    )?;
    expect_line(
        run,
        "swap-grace: swap to echo_server_v3_late: RolledBack: echo_server_v3_late ended within its grace period (exit code",
    )?;
    expect_line(
        run,
        "the old version had ended meanwhile and was started again with the handover",
    )?;
    expect_line(
        run,
        "swap-grace: the request sent before the swap was answered",
    )?;
    expect_line(
        run,
        "swap-grace: echo after the rollback that started the old version again: ok",
    )?;
    let counted = run
        .lines
        .iter()
        .find_map(|(_, l)| l.split("swap-grace: the server counted ").nth(1))
        .ok_or("the driver did not read the server's count")?;
    let numbers: Vec<u64> = counted
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers[..] {
        [server, driver] if server == driver && driver == 9 => {}
        _ => return Err(format!("counts differ or are not 9: {counted}")),
    }
    expect_line(run, "swap-grace: a new connection is answered")?;
    expect_line(run, "swap-grace: done, 0 failed calls")?;
    expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
}
