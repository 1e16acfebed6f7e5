//! `httpd`: an example web server. HTTP/1.1 on port 80, over `zx-net`
//! sockets, on the SDK executor:
//!
//! - `GET /`: the component tree (from `zx.component.Realm`) and the
//!   uptime, as HTML;
//! - `GET /logs`: the system log (from `zx.logger.LogReader`), as text.
//!
//! Each response closes its connection (`Connection: close`). A client
//! must send its request head (at most [`MAX_HEAD`] bytes) within
//! [`HEAD_NANOS`] or it is dropped, so slow or silent clients cannot hold
//! the server; at most [`MAX_CONNECTIONS`] are served at once.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use bindings::zx_component::{ComponentState, RealmClient};
use bindings::zx_logger::{LogReaderClient, LogReaderReadRequest};
use core::cell::Cell;
use core::fmt::Write;
use zx_idl::ChannelTransport;
use zx_net::{TcpListener, TcpStream};
use zx_runtime::println;

zx_runtime::entry!(main);

/// The HTTP port.
const PORT: u16 = 80;
/// Most connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 48;
/// Longest request head (request line and headers).
const MAX_HEAD: usize = 8 * 1024;
/// How long a client has to send its request head.
const HEAD_NANOS: i64 = 5_000_000_000;
/// Pause between attempts to listen while the netstack is away.
const RETRY_NANOS: i64 = 200_000_000;

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// `/`: the component tree and the uptime.
fn index_page() -> String {
    let nanos = zx::clock_get_monotonic().into_nanos();
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><title>zx</title></head><body>\n<h1>Components</h1>\n",
    );
    let _ = writeln!(
        page,
        "<p>Uptime: {}.{:03} s</p>",
        nanos / 1_000_000_000,
        (nanos % 1_000_000_000) / 1_000_000
    );
    let list = zx_component::connect("zx.component.Realm")
        .map(|channel| RealmClient::new(ChannelTransport::new(channel)))
        .ok()
        .and_then(|realm| realm.list().ok());
    match list {
        Some(list) => {
            page.push_str("<table>\n<tr><th>moniker</th><th>state</th><th>program</th><th>restarts</th></tr>\n");
            for component in list.components {
                let state = if component.binary.is_empty() {
                    "-"
                } else {
                    match component.state {
                        ComponentState::Running => "running",
                        ComponentState::Stopped => "stopped",
                        ComponentState::Stopping => "stopping",
                    }
                };
                let _ = writeln!(
                    page,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&component.moniker),
                    state,
                    escape(&component.binary),
                    component.restarts
                );
            }
            page.push_str("</table>\n");
        }
        None => page.push_str("<p>The component manager did not answer.</p>\n"),
    }
    page.push_str("<p><a href=\"/logs\">/logs</a></p>\n</body></html>\n");
    page
}

/// `/logs`: the records the logger kept.
fn logs_page() -> String {
    let mut text = String::new();
    let Ok(channel) = zx_component::connect("zx.logger.LogReader") else {
        return String::from("no logger\n");
    };
    let reader = LogReaderClient::new(ChannelTransport::new(channel));
    let mut after = 0;
    while let Ok(response) = reader.read(LogReaderReadRequest { after }) {
        if response.records.is_empty() {
            break;
        }
        for record in response.records {
            let _ = writeln!(
                text,
                "[{:6}.{:06}] {}: {}",
                record.time / 1_000_000_000,
                (record.time % 1_000_000_000) / 1000,
                record.component,
                record.message
            );
        }
        after = response.next;
    }
    text
}

/// The response to a request head.
fn respond(head: &[u8]) -> Vec<u8> {
    let head = core::str::from_utf8(head).unwrap_or("");
    let mut words = head.lines().next().unwrap_or("").split(' ');
    let (method, path, version) = (words.next(), words.next(), words.next());
    let (status, kind, body) = match (method, path, version) {
        (Some("GET"), Some("/"), Some(v)) if v.starts_with("HTTP/1.") => {
            ("200 OK", "text/html; charset=utf-8", index_page())
        }
        (Some("GET"), Some("/logs"), Some(v)) if v.starts_with("HTTP/1.") => {
            ("200 OK", "text/plain; charset=utf-8", logs_page())
        }
        (Some("GET"), Some(_), Some(v)) if v.starts_with("HTTP/1.") => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            String::from("not found\n"),
        ),
        (Some(_), Some(_), Some(v)) if v.starts_with("HTTP/1.") => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            String::from("only GET\n"),
        ),
        _ => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            String::from("bad request\n"),
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body.as_bytes());
    response
}

/// Reads a request head (up to the blank line), `None` if the client
/// ends, sends too much or is too slow.
async fn read_head(stream: &TcpStream) -> Option<Vec<u8>> {
    let deadline = zx::deadline_after(HEAD_NANOS);
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let read = zx_async::with_deadline(deadline, stream.read_async(&mut buffer)).await;
        let n = match read {
            Ok(Ok(n)) if n > 0 => n,
            _ => return None,
        };
        head.extend_from_slice(&buffer[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Some(head);
        }
        if head.len() > MAX_HEAD {
            return Some(head); // answered 400 below if it is no request
        }
    }
}

async fn serve(stream: TcpStream) {
    let Some(head) = read_head(&stream).await else {
        return;
    };
    let response = respond(&head);
    if stream.write_all_async(&response).await.is_ok() {
        let _ = stream.shutdown_write();
        // Wait (briefly) for the client to close, so the response is not
        // cut short by our close.
        let mut sink = [0u8; 256];
        let deadline = zx::deadline_after(HEAD_NANOS);
        while let Ok(Ok(n)) = zx_async::with_deadline(deadline, stream.read_async(&mut sink)).await
        {
            if n == 0 {
                break;
            }
        }
    }
}

/// Listens on the port, retrying while the netstack is not there (it
/// may be starting, or restarting after a crash).
async fn listen() -> TcpListener {
    let mut reported = false;
    loop {
        match TcpListener::bind(PORT, 32) {
            Ok(listener) => return listener,
            Err(status) => {
                if !reported {
                    println!("httpd: cannot listen on port {PORT} yet: {status}");
                    reported = true;
                }
                let _ = zx_async::sleep(zx::deadline_after(RETRY_NANOS)).await;
            }
        }
    }
}

fn main() -> i64 {
    let Ok(mut executor) = zx_async::Executor::new() else {
        return 1;
    };
    let spawner = executor.spawner();
    let open = Rc::new(Cell::new(0usize));
    let lifecycle = zx_component::Lifecycle::take();
    let serving = async move {
        loop {
            let listener = listen().await;
            zx_component::log("httpd: listening on port 80");
            println!("httpd: listening on port {PORT}");
            loop {
                let (stream, _) = match listener.accept_async().await {
                    Ok(accepted) => accepted,
                    Err(status) => {
                        println!("httpd: the listener ended ({status}); listening again");
                        break;
                    }
                };
                if open.get() >= MAX_CONNECTIONS {
                    continue; // dropped: the client sees the connection end
                }
                open.set(open.get() + 1);
                let open = Rc::clone(&open);
                spawner.spawn(async move {
                    serve(stream).await;
                    open.set(open.get() - 1);
                });
            }
        }
    };
    match lifecycle {
        // Serve until the component manager asks us to stop.
        Some(lifecycle) => {
            executor.spawner().spawn(serving);
            executor.run(async move { lifecycle.stopped().await });
            0
        }
        None => {
            executor.run(serving);
            0
        }
    }
}
