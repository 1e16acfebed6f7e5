//! The rows of the benchmark table: which case of ours is compared with
//! which case of the Linux peer.
//!
//! A row names the case each guest prints (see [`super::measurement`]).
//! Our cases that need kernel objects not built yet are listed already,
//! marked [`Row::pending`]: the row shows "pending" until
//! `components/bench` prints a line with that name, and then it is
//! measured with no change here. To add a case, print it from both guests
//! and add a row.

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// What is measured, for humans.
    pub title: &'static str,
    /// The case name our guest prints, and what it does.
    pub ours: (&'static str, &'static str),
    /// The case name the Linux peer prints, and what it does (`None`: no
    /// peer).
    pub linux: Option<(&'static str, &'static str)>,
    /// Why our side may be missing: shown while our guest does not report
    /// the case. `None` for cases that must be there (a missing one is an
    /// error).
    pub pending: Option<&'static str>,
    /// Bytes moved per sample, for a bytes-per-instruction figure (the
    /// 64 KiB cases, where it is the figure of merit).
    pub bytes: Option<u64>,
}

const NEEDS_OBJECTS: Option<&str> = Some("needs kernel objects");

const fn row(
    title: &'static str,
    ours: (&'static str, &'static str),
    linux: Option<(&'static str, &'static str)>,
) -> Row {
    Row {
        title,
        ours,
        linux,
        pending: None,
        bytes: None,
    }
}

const fn pending(
    title: &'static str,
    ours: (&'static str, &'static str),
    linux: (&'static str, &'static str),
    bytes: Option<u64>,
) -> Row {
    Row {
        title,
        ours,
        linux: Some(linux),
        pending: NEEDS_OBJECTS,
        bytes,
    }
}

/// Every row, in table order.
pub const ROWS: &[Row] = &[
    row(
        "boot: reset to first user instruction",
        ("boot", "TSC at the first instruction of the first program"),
        Some(("boot", "TSC at the first instruction of /init")),
    ),
    row(
        "boot: kernel clock start to first user instruction",
        (
            "boot_kernel",
            "monotonic clock at the first program (it starts at kernel entry)",
        ),
        Some((
            "boot_kernel",
            "CLOCK_MONOTONIC at /init (it starts at timekeeping_init, after the decompressor and early set-up)",
        )),
    ),
    row(
        "null syscall",
        ("null_syscall", "zx_clock_get_monotonic"),
        Some(("null_syscall", "getpid")),
    ),
    row(
        "unknown syscall number",
        ("bad_syscall", "syscall 0xffff (BAD_SYSCALL)"),
        Some(("bad_syscall", "syscall 0xffff (ENOSYS)")),
    ),
    Row {
        bytes: Some(65536),
        ..row(
            "memcpy 64 KiB, in the guest",
            ("memcpy_64k", "memcpy (sdk/baremetal: rep movsq)"),
            Some(("memcpy_64k", "memcpy (glibc, static)")),
        )
    },
    Row {
        bytes: None,
        ..row(
            "message write + read, one process, 0 B",
            ("channel_write_read_0", "channel write + read"),
            Some((
                "channel_write_read_0",
                "unix SOCK_SEQPACKET socketpair write + read",
            )),
        )
    },
    Row {
        bytes: None,
        ..row(
            "message write + read, one process, 64 B",
            ("channel_write_read_64", "channel write + read"),
            Some((
                "channel_write_read_64",
                "unix SOCK_SEQPACKET socketpair write + read",
            )),
        )
    },
    Row {
        bytes: None,
        ..row(
            "message write + read, one process, 4 KiB",
            ("channel_write_read_4k", "channel write + read"),
            Some((
                "channel_write_read_4k",
                "unix SOCK_SEQPACKET socketpair write + read",
            )),
        )
    },
    Row {
        bytes: Some(65536),
        ..row(
            "message write + read, one process, 64 KiB",
            ("channel_write_read_64k", "channel write + read"),
            Some((
                "channel_write_read_64k",
                "unix SOCK_SEQPACKET socketpair write + read",
            )),
        )
    },
    row(
        "IPC round trip, 0 B: ours two threads, Linux two processes (pipe, 1 B)",
        (
            "thread_roundtrip_0",
            "channel write, wait, read; a second thread of the process echoes",
        ),
        Some(("pipe_roundtrip_1", "pipe write + read, echoed by the child")),
    ),
    row(
        "IPC round trip, 64 B: ours two threads, Linux two processes (pipe)",
        (
            "thread_roundtrip_64",
            "channel write, wait, read; a second thread of the process echoes",
        ),
        Some(("pipe_roundtrip_64", "pipe write + read, echoed by the child")),
    ),
    pending(
        "IPC round trip, two processes, 0 B (vs pipe, 1 B)",
        ("call_roundtrip_0", "channel_call (4-byte txid, no payload), echoed by a child process"),
        ("pipe_roundtrip_1", "pipe write + read, echoed by the child"),
        None,
    ),
    pending(
        "IPC round trip, two processes, 0 B (vs unix socket)",
        ("call_roundtrip_0", "channel_call (4-byte txid, no payload), echoed by a child process"),
        (
            "unix_roundtrip_0",
            "unix SOCK_SEQPACKET write + read, echoed",
        ),
        None,
    ),
    pending(
        "IPC round trip, two processes, 64 B (vs pipe)",
        ("call_roundtrip_64", "channel_call (4-byte txid + 64 B), echoed by a child process"),
        (
            "pipe_roundtrip_64",
            "pipe write + read, echoed by the child",
        ),
        None,
    ),
    pending(
        "IPC round trip, two processes, 64 B (vs unix socket)",
        ("call_roundtrip_64", "channel_call (4-byte txid + 64 B), echoed by a child process"),
        (
            "unix_roundtrip_64",
            "unix SOCK_SEQPACKET write + read, echoed",
        ),
        None,
    ),
    row(
        "IDL echo round trip, two processes (vs pipe, 1 B)",
        (
            "idl_echo_roundtrip",
            "`Echo.EchoString(\"\")` through the generated bindings (a `channel_call`), served by `bin/echo-server` (a `channel_recv` loop)",
        ),
        Some(("pipe_roundtrip_1", "pipe write + read, echoed by the child")),
    ),
    row(
        "wake-up of a blocked thread (Linux: process)",
        (
            "port_wakeup",
            "port queue of a user packet to a thread in port wait, until it runs",
        ),
        Some((
            "port_wakeup",
            "eventfd write to a process blocked in read, until it runs",
        )),
    ),
    pending(
        "process create + start + exit",
        ("process_create", "process create + start, wait for exit"),
        ("process_create", "fork + exec + wait of a static binary"),
        None,
    ),
    Row {
        title: "virtio-blk: sequential 1 MiB read",
        ours: (
            "blk_seq_read_1m",
            "one Block.Read of 1 MiB through /dev/block/0 into a VMO (the virtio-blk driver, interrupt-driven); the system's instructions (TSC less idle ticks)",
        ),
        linux: Some((
            "blk_seq_read_1m",
            "pread of 1 MiB from /dev/vda with O_DIRECT; the system's instructions (TSC less an idle-priority spinner's)",
        )),
        pending: None,
        bytes: Some(1 << 20),
    },
    Row {
        title: "virtio-blk: random 4 KiB read",
        ours: (
            "blk_rand_read_4k",
            "one Block.Read of 4 KiB at a pseudo-random page; the system's instructions (TSC less idle ticks)",
        ),
        linux: Some((
            "blk_rand_read_4k",
            "pread of 4 KiB from /dev/vda with O_DIRECT, the same pages; the system's instructions (TSC less an idle-priority spinner's)",
        )),
        pending: None,
        bytes: Some(4096),
    },
    Row {
        title: "TCP from the host: guest instructions per MiB received",
        ours: (
            "net_tcp_rx_mib",
            "`netbench` reads 4 MiB a connection from a host client through QEMU's user network (host forward, virtio-net, the netstack, a kernel socket); the system's instructions (TSC less idle ticks) per MiB",
        ),
        linux: Some((
            "net_tcp_rx_mib",
            "`read` of 4 MiB a connection from the same client, same network; the system's instructions (TSC less an idle-priority spinner's) per MiB",
        )),
        pending: None,
        bytes: Some(1 << 20),
    },
    row(
        "TCP connect + 64 B request + reply + close, from the host",
        (
            "net_tcp_connect_rr_close",
            "`netbench` accepts, reads 64 B, writes them back, closes; one connection's cycle, the system's instructions",
        ),
        Some((
            "net_tcp_connect_rr_close",
            "`accept`, `read` 64 B, `write`, `close`; one connection's cycle, the system's instructions",
        )),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_wellformed() {
        for row in ROWS {
            let names = std::iter::once(row.ours.0).chain(row.linux.map(|l| l.0));
            for name in names {
                assert!(
                    !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{name:?}"
                );
            }
        }
        let mut titles: Vec<_> = ROWS.iter().map(|r| r.title).collect();
        titles.sort();
        titles.dedup();
        assert_eq!(titles.len(), ROWS.len(), "row titles must be unique");
    }
}
