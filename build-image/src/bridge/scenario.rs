//! The bridge's system test: the default product boots under QEMU and the
//! host speaks to it through the bridge socket only.
//!
//! In order: the component tree (`ls`) and the log (`log`) as the
//! commands get them; 1,000 calls of `examples.echo.Echo` through the
//! generated Rust client over a bridge channel, every reply checked, with
//! `OnEcho` events asked for along the way and taken after later calls; a
//! blob pushed into blobfs, then pushed again and found there; then
//! hostile input — garbage, a huge length, unknown channels, malformed
//! payloads, a flood of requests, a host that disconnects mid-frame —
//! each answered with its typed `OnFrameError` (or the channel closed),
//! after which the bridge still serves, has not been restarted (it stayed
//! within its manifest's limits) and echo still answers.

use super::bindings::examples_echo::{
    EchoClient, EchoEchoEventsRequest, EchoEchoStringRequest, EchoEvent, EchoMarker,
    EchoOnEchoRequest, MAX_EVENTS,
};
use super::bindings::zx_component::ComponentState;
use super::bindings::zx_host::FrameError;
use super::commands::{self, Pushed};
use super::{BridgeChannel, Session};
use crate::qemu::{self, RunOptions};
use crate::systest::Harness;
use idlc_runtime::{OutgoingMessage, TransactionHeader, Transport};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Echo calls through the bridge.
const CALLS: usize = 1000;
/// Requests written before any reply is read (the flood).
const FLOOD: usize = 500;

/// The guest, running, its console collected.
pub struct Guest {
    child: Child,
    input: ChildStdin,
    lines: Arc<Mutex<Vec<String>>>,
    /// The bridge socket.
    pub socket: std::path::PathBuf,
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Guest {
    /// Boots `product` on a fresh machine, with its bridge socket.
    pub fn boot(harness: &Harness, product: &'static str) -> Result<Guest, String> {
        let dir = harness.fresh_machine_dir(&format!("{product}-bridge"));
        Guest::boot_in(harness, product, dir)
    }

    /// Boots `product` on the machine in `dir` (its disks kept from an
    /// earlier boot there).
    pub fn boot_in(
        harness: &Harness,
        product: &'static str,
        dir: std::path::PathBuf,
    ) -> Result<Guest, String> {
        let image = harness.image(product)?;
        let options = RunOptions {
            timeout: harness.timeout(),
            machine_dir: Some(dir.clone()),
            ..RunOptions::default()
        };
        let mut command = qemu::command(&image, &options).map_err(|e| format!("{e:#}"))?;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start QEMU: {e}"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        for (stream, prefix) in [
            (Box::new(stdout) as Box<dyn Read + Send>, ""),
            (Box::new(stderr), "qemu: "),
        ] {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).split(b'\n').map_while(|l| l.ok()) {
                    let text = String::from_utf8_lossy(&line).replace('\r', "");
                    lines.lock().unwrap().push(format!("{prefix}{text}"));
                }
            });
        }
        let input = child.stdin.take().expect("piped");
        Ok(Guest {
            child,
            input,
            lines,
            socket: dir.join("bridge.sock"),
        })
    }

    /// Waits until a console line contains `needle`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        while !self
            .lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
        {
            if start.elapsed() > timeout {
                return Err(format!(
                    "{needle:?} did not appear within {timeout:?}\n{}",
                    self.tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Waits for the machine to power off (after `shutdown`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if start.elapsed() > timeout => {
                    return Err(format!(
                        "the machine did not power off within {timeout:?}\n{}",
                        self.tail()
                    ))
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => return Err(format!("QEMU: {e}")),
            }
        }
    }

    /// Types `line` at the guest's console.
    pub fn type_line(&mut self, line: &str) -> Result<(), String> {
        use std::io::Write;
        writeln!(self.input, "{line}")
            .and_then(|()| self.input.flush())
            .map_err(|e| format!("the console's input: {e}"))
    }

    /// The console lines so far that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }

    /// The console's last lines, for failure reports.
    pub fn tail(&self) -> String {
        let lines = self.lines.lock().unwrap();
        let from = lines.len().saturating_sub(40);
        format!("--- last console lines ---\n{}", lines[from..].join("\n"))
    }

    /// Boots and waits until the bridge serves; returns a session.
    pub fn bridge(&self) -> Result<Session, String> {
        self.wait_for("bridge: serving", Duration::from_secs(180))?;
        Session::connect(&self.socket).map_err(|e| format!("{e:#}\n{}", self.tail()))
    }
}

/// The scenario (`bridge.ls_log_echo_push_hostile`).
pub fn scenario(harness: &Harness) -> Result<(), String> {
    let guest = Guest::boot(harness, "default")?;
    let result = run(&guest);
    result.map_err(|why| format!("{why}\n{}", guest.tail()))
}

fn run(guest: &Guest) -> Result<(), String> {
    let session = guest.bridge()?;
    check_list(&session)?;
    check_log(&session)?;
    let echo = session
        .connect_to("root/echo_server", EchoMarker::DISCOVERABLE_NAME.unwrap())
        .map_err(|e| format!("{e:#}"))?;
    echo_calls(&echo, CALLS, "call")?;
    check_push(&session)?;
    check_hostile(&session, &echo)?;
    // A host that goes away in the middle of a frame: the next one is
    // served (its Hello is answered once the bridge drops the stale frame).
    let mut half = bridge_frame::encode(0, &[0u8; 200]).unwrap();
    half.truncate(60);
    session.write_raw(&half).map_err(|e| e.to_string())?;
    drop(echo);
    drop(session);
    let session = Session::connect(&guest.socket).map_err(|e| format!("reconnect: {e:#}"))?;
    let echo = session
        .connect_to("root/echo_server", EchoMarker::DISCOVERABLE_NAME.unwrap())
        .map_err(|e| format!("{e:#}"))?;
    echo_calls(&echo, 10, "after reconnect")?;
    // The bridge was never restarted: it did not crash or exceed its
    // limits under any of the above.
    let components = commands::list(&session).map_err(|e| format!("{e:#}"))?;
    let bridge = components
        .iter()
        .find(|c| c.moniker == "root/bridge")
        .ok_or("root/bridge is not listed")?;
    if bridge.restarts != 0 || bridge.state != ComponentState::Running {
        return Err(format!(
            "the bridge was restarted {} times (state {:?})",
            bridge.restarts, bridge.state
        ));
    }
    Ok(())
}

fn check_list(session: &Session) -> Result<(), String> {
    let components = commands::list(session).map_err(|e| format!("{e:#}"))?;
    let table = commands::render_list(&components);
    for (moniker, binary) in [
        ("root/logger", "bin/logger"),
        ("root/bridge", "bin/bridge"),
        ("root/echo_client", "bin/echo-client"),
    ] {
        let found = components.iter().find(|c| c.moniker == moniker);
        if found.map(|c| c.binary.as_str()) != Some(binary) {
            return Err(format!(
                "ls does not show {moniker} running {binary}:\n{table}"
            ));
        }
    }
    if !table.contains("root/bridge") || !table.contains("running") {
        return Err(format!("ls's table: {table}"));
    }
    Ok(())
}

fn check_log(session: &Session) -> Result<(), String> {
    let mut out = Vec::new();
    commands::log(session, false, &mut out).map_err(|e| format!("{e:#}"))?;
    let text = String::from_utf8_lossy(&out);
    if !text.contains("root/bridge: serving zx.host.RemoteControl") {
        return Err(format!("the log lacks the bridge's line:\n{text}"));
    }
    Ok(())
}

/// `calls` echo calls; every 100th asks for three `OnEcho` events first,
/// taken after the call (the client keeps them while it waits), and at the
/// end more than `MAX_EVENTS` are asked for: every payload and the order
/// are checked.
fn echo_calls(echo: &BridgeChannel, calls: usize, what: &str) -> Result<(), String> {
    let client = EchoClient::new(echo.clone());
    let ask = |value: &str, count: u32| {
        client
            .echo_events(EchoEchoEventsRequest {
                value: value.into(),
                count,
            })
            .map(|reply| reply.sent)
            .map_err(|e| format!("{what}: EchoEvents: {e:?}"))
    };
    let take = |value: &str, count: u32| -> Result<(), String> {
        for index in 0..count {
            let event = client
                .next_event()
                .map_err(|e| format!("{what}: event {index} of {value:?}: {e:?}"))?;
            let expected = EchoEvent::OnEcho(EchoOnEchoRequest {
                value: value.into(),
                index,
            });
            if event != expected {
                return Err(format!("{what}: {event:?}, not {expected:?}"));
            }
        }
        Ok(())
    };
    for i in 0..calls {
        let value = format!("{what} {i} over the bridge");
        let asked = format!("{what} {i}: events");
        if i % 100 == 50 && ask(&asked, 3)? != 3 {
            return Err(format!("{what} {i}: not 3 events sent"));
        }
        let reply = client
            .echo_string(EchoEchoStringRequest {
                value: value.clone(),
            })
            .map_err(|e| format!("{what} {i}: {e:?}"))?;
        if reply.response != value {
            return Err(format!("{what} {i}: echoed {:?}", reply.response));
        }
        if i % 100 == 50 {
            take(&asked, 3)?;
        }
    }
    let sent = ask("the last events", MAX_EVENTS + 4)?;
    if sent != MAX_EVENTS {
        return Err(format!("{what}: {sent} events sent, not {MAX_EVENTS}"));
    }
    take("the last events", sent)
}

fn check_push(session: &Session) -> Result<(), String> {
    // Bytes no image holds (the test's own time in them).
    let mut data = format!(
        "pushed by the bridge test at {:?}\n",
        std::time::SystemTime::now()
    )
    .into_bytes();
    data.resize(20_000, 0x5a);
    let (root, pushed) = commands::push_blob(session, &data).map_err(|e| format!("{e:#}"))?;
    if pushed != Pushed::Written(20_000) {
        return Err(format!("the first push of {root}: {pushed:?}"));
    }
    let (again, pushed) = commands::push_blob(session, &data).map_err(|e| format!("{e:#}"))?;
    if again != root || pushed != Pushed::AlreadyThere {
        return Err(format!("the second push of {root}: {pushed:?}"));
    }
    Ok(())
}

/// Waits until the bridge has reported `error` (on `channel`).
fn expect_error(session: &Session, error: FrameError, channel: u32) -> Result<(), String> {
    let start = Instant::now();
    while !session.frame_errors().contains(&(error, channel)) {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "no {error:?} on channel {channel}; the bridge reported {:?}",
                session.frame_errors()
            ));
        }
        session
            .pump(Duration::from_millis(100))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn check_hostile(session: &Session, echo: &BridgeChannel) -> Result<(), String> {
    let raw = |bytes: &[u8]| session.write_raw(bytes).map_err(|e| e.to_string());
    // Garbage with no frame in it, then a frame.
    let garbage: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    raw(&garbage)?;
    commands::list(session).map_err(|e| format!("after garbage: {e:#}"))?;
    expect_error(session, FrameError::BadMagic, 0)?;
    // A header claiming 4 GiB.
    let mut huge = bridge_frame::MAGIC.to_vec();
    huge.extend(0u32.to_le_bytes());
    huge.extend(u32::MAX.to_le_bytes());
    raw(&huge)?;
    expect_error(session, FrameError::TooLarge, 0)?;
    // A channel that was never opened.
    raw(&bridge_frame::encode(9, &[0u8; 24]).unwrap())?;
    expect_error(session, FrameError::UnknownChannel, 9)?;
    // Channel 0: not a RemoteControl request.
    raw(&bridge_frame::encode(0, b"short").unwrap())?;
    expect_error(session, FrameError::Malformed, 0)?;
    let mut unknown = TransactionHeader::new(5, 0x1234_5678, false)
        .to_bytes()
        .to_vec();
    unknown.extend([0u8; 8]);
    raw(&bridge_frame::encode(0, &unknown).unwrap())?;
    commands::list(session).map_err(|e| format!("after malformed requests: {e:#}"))?;
    // A flood: many requests before any reply is read; every reply comes.
    let echo_ordinal = EchoMarker::ECHO_STRING_ORDINAL;
    for i in 0..FLOOD {
        let mut message = OutgoingMessage::encode(
            TransactionHeader::new(i as u32 + 1, echo_ordinal, false),
            &mut EchoEchoStringRequest {
                value: format!("flood {i}"),
            },
        )
        .map_err(|e| format!("{e:?}"))?;
        message.set_txid(i as u32 + 1);
        echo.send(message).map_err(|e| format!("flood {i}: {e}"))?;
    }
    for i in 0..FLOOD {
        let mut reply = echo
            .receive()
            .map_err(|e| format!("flood reply {i}: {e}"))?;
        let header = reply.header().map_err(|e| format!("{e:?}"))?;
        let body = reply
            .decode_body::<super::bindings::examples_echo::EchoEchoStringResponse>()
            .map_err(|e| format!("{e:?}"))?;
        if header.txid != i as u32 + 1 || body.response != format!("flood {i}") {
            return Err(format!(
                "flood reply {i}: txid {} {:?}",
                header.txid, body.response
            ));
        }
    }
    // A payload shorter than a message header on a service channel: the
    // channel is closed, and the session goes on.
    let doomed = session
        .connect_to("root/echo_server", EchoMarker::DISCOVERABLE_NAME.unwrap())
        .map_err(|e| format!("{e:#}"))?;
    raw(&bridge_frame::encode(doomed.id(), b"tiny").unwrap())?;
    expect_error(session, FrameError::Malformed, doomed.id())?;
    if session.closed_status(doomed.id()) != Some(zx_abi::Status::INVALID_ARGS.0) {
        return Err(format!(
            "the malformed channel was not closed: {:?}",
            session.closed_status(doomed.id())
        ));
    }
    // Opening what does not exist is a typed error.
    match session.connect_to("root/no_such_component", "examples.echo.Echo") {
        Err(e) if format!("{e:#}").contains("NOT_FOUND") => {}
        other => return Err(format!("a missing component: {:?}", other.map(|c| c.id()))),
    }
    match session.connect_to("root/echo_server", "zx.no.Such") {
        Err(e) if format!("{e:#}").contains("NOT_FOUND") => {}
        other => return Err(format!("a missing protocol: {:?}", other.map(|c| c.id()))),
    }
    echo_calls(echo, 10, "after hostile input")
}

/// The Python client (`clients/ls_echo.py`), run by the system test.
const PYTHON_CLIENT: &str = include_str!("clients/ls_echo.py");
/// The C client (`clients/ls_echo.c`).
const C_CLIENT: &str = include_str!("clients/ls_echo.c");

/// Runs `command`, returning its output if it succeeded.
fn output_of(command: &mut std::process::Command, what: &str) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        return Err(format!("{what} failed ({}):\n{text}", output.status));
    }
    Ok(text)
}

/// The scenario `bridge.python_and_c_clients`: the SDK bundle for `idl/`
/// (`build-image sdk`), then a Python script and a C program on the host,
/// each listing the running system's components and calling
/// `examples.echo.Echo` 1,000 times through the generated clients over
/// the bridge, checking every reply, and receiving 46 `OnEcho` events
/// asked for along the way (payloads and order checked).
pub fn clients_scenario(harness: &Harness) -> Result<(), String> {
    let root = crate::systest::workspace_root();
    let dir = harness.fresh_machine_dir("bridge-clients");
    let sdk = dir.join("sdk");
    let files = crate::sdk::system_idl_files(&root).map_err(|e| format!("{e:#}"))?;
    crate::sdk::write(&root, &files, &sdk).map_err(|e| format!("{e:#}"))?;
    std::fs::write(dir.join("ls_echo.py"), PYTHON_CLIENT).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("ls_echo.c"), C_CLIENT).map_err(|e| e.to_string())?;
    // The C program first, so that a compiler problem shows before a boot.
    output_of(
        std::process::Command::new("make")
            .arg("-C")
            .arg(sdk.join("c")),
        "make of the C SDK",
    )?;
    output_of(
        std::process::Command::new("gcc")
            .args([
                "-std=c11",
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                "-I",
            ])
            .arg(sdk.join("c"))
            .arg(dir.join("ls_echo.c"))
            .arg(sdk.join("c/libidl.a"))
            .arg("-o")
            .arg(dir.join("ls_echo")),
        "gcc of the C client",
    )?;
    let guest = Guest::boot(harness, "default")?;
    guest.bridge()?; // it serves; this session ends here
    let socket = guest.socket.display().to_string();
    let calls = CALLS.to_string();
    let python = output_of(
        std::process::Command::new("python3")
            .arg(dir.join("ls_echo.py"))
            .args([&socket, &calls])
            .env("PYTHONPATH", sdk.join("python")),
        "the Python client",
    )
    .map_err(|e| format!("{e}\n{}", guest.tail()))?;
    for needle in [
        "component root/bridge RUNNING bin/bridge",
        "component root/echo_server RUNNING bin/echo-server",
        "python: 1000 calls answered, every reply correct",
        "python: 46 events received in order, every payload correct",
    ] {
        if !python.contains(needle) {
            return Err(format!(
                "the Python client did not print {needle:?}:\n{python}"
            ));
        }
    }
    let c = output_of(
        std::process::Command::new(dir.join("ls_echo")).args([&socket, &calls]),
        "the C client",
    )
    .map_err(|e| format!("{e}\n{}", guest.tail()))?;
    for needle in [
        "component root/bridge 2 bin/bridge",
        "c: 1000 calls answered, every reply correct",
        "c: 46 events received in order, every payload correct (0 dropped)",
    ] {
        if !c.contains(needle) {
            return Err(format!("the C client did not print {needle:?}:\n{c}"));
        }
    }
    Ok(())
}
