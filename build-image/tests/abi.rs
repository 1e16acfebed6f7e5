//! The syscall ABI comes from `idl/zx.idl`: the checked-in generated files
//! must be what the generator makes of it, the numbers must be the order of
//! the methods, and the compiled `zx-abi` crate must agree with the IDL.
//!
//! Regenerate the goldens with `UPDATE_GOLDENS=1 cargo test -p build-image
//! --test abi` or `cargo run -p build-image -- gen-abi`.

use build_image::abi::{self, Abi, ArgumentKind, Returns};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("build-image sits in the workspace")
        .to_path_buf()
}

fn model() -> Abi {
    let text = std::fs::read_to_string(root().join(abi::IDL_PATH)).expect("idl/zx.idl");
    Abi::from_ir(&abi::compile(&text).expect("idl/zx.idl compiles")).expect("idl/zx.idl is valid")
}

/// The first line where `a` and `b` differ, for the failure message.
fn first_difference(expected: &str, actual: &str) -> String {
    for (number, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("line {}:\n  generated:  {e}\n  checked in: {a}", number + 1);
        }
    }
    format!(
        "one file is a prefix of the other ({} vs {} lines)",
        expected.lines().count(),
        actual.lines().count()
    )
}

#[test]
fn generated_files_match_idl() {
    let root = root();
    let generated = abi::generate_from_workspace(&root).expect("generation succeeds");
    if std::env::var_os("UPDATE_GOLDENS").is_some() {
        abi::write(&root, &generated).expect("writing the goldens");
        return;
    }
    let mut stale = Vec::new();
    for (path, expected) in generated.files() {
        let actual = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        if actual != expected {
            stale.push(format!(
                "{path} differs from what idl/zx.idl generates; {}",
                first_difference(expected, &actual)
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "{}\n\nThe ABI is generated from idl/zx.idl: edit the IDL, then run \
         `cargo run -p build-image -- gen-abi` (or `UPDATE_GOLDENS=1 cargo test -p \
         build-image --test abi`).",
        stale.join("\n")
    );
}

#[test]
fn numbers_are_method_order_and_names_are_unique() {
    let abi = model();
    let mut names = std::collections::BTreeSet::new();
    for (index, syscall) in abi.syscalls.iter().enumerate() {
        assert_eq!(syscall.number, index as u64, "{}", syscall.name);
        assert!(names.insert(&syscall.name), "{} twice", syscall.name);
        assert!(syscall.arguments.len() <= 8, "{}", syscall.name);
    }
    // The compiled crate agrees with the IDL.
    assert_eq!(zx_abi::syscall::COUNT, abi.syscalls.len() as u64);
    for syscall in &abi.syscalls {
        assert_eq!(zx_abi::syscall::name(syscall.number), syscall.name);
    }
    assert_eq!(zx_abi::syscall::name(zx_abi::syscall::COUNT), "invalid");
}

/// Today's numbers, pinned: a syscall keeps its number forever, so the IDL
/// may only grow at the end.
#[test]
fn numbers_never_change() {
    use zx_abi::syscall::*;
    let pinned = [
        (DEBUG_WRITE, 0, "debug_write"),
        (CLOCK_GET_MONOTONIC, 1, "clock_get_monotonic"),
        (PROCESS_EXIT, 2, "process_exit"),
        (HANDLE_CLOSE, 3, "handle_close"),
        (HANDLE_DUPLICATE, 4, "handle_duplicate"),
        (HANDLE_REPLACE, 5, "handle_replace"),
        (OBJECT_GET_INFO, 6, "object_get_info"),
        (OBJECT_SIGNAL, 7, "object_signal"),
        (OBJECT_SIGNAL_PEER, 8, "object_signal_peer"),
        (OBJECT_WAIT_ONE, 9, "object_wait_one"),
        (OBJECT_WAIT_MANY, 10, "object_wait_many"),
        (EVENT_CREATE, 11, "event_create"),
        (EVENTPAIR_CREATE, 12, "eventpair_create"),
        (CHANNEL_CREATE, 13, "channel_create"),
        (CHANNEL_WRITE, 14, "channel_write"),
        (CHANNEL_READ, 15, "channel_read"),
        (NANOSLEEP, 16, "nanosleep"),
        (THREAD_CREATE, 17, "thread_create"),
        (THREAD_START, 18, "thread_start"),
        (THREAD_EXIT, 19, "thread_exit"),
        (PORT_CREATE, 20, "port_create"),
        (PORT_QUEUE, 21, "port_queue"),
        (PORT_WAIT, 22, "port_wait"),
        (OBJECT_WAIT_ASYNC, 23, "object_wait_async"),
        (TIMER_CREATE, 24, "timer_create"),
        (TIMER_SET, 25, "timer_set"),
        (TIMER_CANCEL, 26, "timer_cancel"),
        (VMO_CREATE, 27, "vmo_create"),
        (VMO_READ, 28, "vmo_read"),
        (VMO_WRITE, 29, "vmo_write"),
        (VMO_GET_SIZE, 30, "vmo_get_size"),
        (VMO_SET_SIZE, 31, "vmo_set_size"),
        (VMO_CREATE_CONTIGUOUS, 32, "vmo_create_contiguous"),
        (VMO_GET_PHYSICAL, 33, "vmo_get_physical"),
        (VMAR_ALLOCATE, 34, "vmar_allocate"),
        (VMAR_MAP, 35, "vmar_map"),
        (VMAR_UNMAP, 36, "vmar_unmap"),
        (VMAR_PROTECT, 37, "vmar_protect"),
        (JOB_CREATE, 38, "job_create"),
        (JOB_SET_LIMITS, 39, "job_set_limits"),
        (PROCESS_CREATE, 40, "process_create"),
        (PROCESS_START, 41, "process_start"),
        (TASK_KILL, 42, "task_kill"),
        (
            TASK_CREATE_EXCEPTION_CHANNEL,
            43,
            "task_create_exception_channel",
        ),
        (FUTEX_WAIT, 44, "futex_wait"),
        (FUTEX_WAKE, 45, "futex_wake"),
        (DEBUGLOG_READ, 46, "debuglog_read"),
    ];
    for (constant, number, name) in pinned {
        assert_eq!(constant, number, "{name}");
        assert_eq!(zx_abi::syscall::name(number), name);
    }
}

#[test]
fn statuses_rights_and_signals_agree_with_the_crate() {
    let abi = model();
    for status in &abi.status.members {
        let value = zx_abi::Status(status.value as i32);
        assert_eq!(value.name(), status.name);
    }
    for bits in &abi.bits {
        for member in bits.members.iter().chain(&bits.constants) {
            let value = match bits.name.as_str() {
                "Rights" => zx_abi::Rights::from_name(&member.name).map(|r| r.bits()),
                "Signals" => zx_abi::Signals::from_name(&member.name).map(|s| s.bits()),
                "VmOptions" => zx_abi::VmOptions::from_name(&member.name).map(|o| o.bits()),
                other => panic!("bits `{other}` is not checked here"),
            };
            assert_eq!(
                value.map(u64::from),
                Some(member.unsigned_value),
                "{}::{}",
                bits.name,
                member.name
            );
        }
    }
    // Spot checks of the public API the kernel and the SDK rely on.
    assert_eq!(zx_abi::Status::BAD_HANDLE.0, -11);
    assert_eq!(zx_abi::Signals::TASK_TERMINATED.bits(), 1 << 3);
    assert_eq!(zx_abi::Signals::USER_ALL.bits(), 0xff00_0000);
    assert_eq!(zx_abi::Rights::BASIC.bits(), 0xc003);
    assert_eq!(zx_abi::ObjectType::EventPair as u32, 16);
    assert_eq!(core::mem::size_of::<zx_abi::PortPacket>(), 48);
}

#[test]
fn every_syscall_is_documented() {
    for syscall in model().syscalls {
        assert!(!syscall.summary().is_empty(), "{}", syscall.name);
        for argument in &syscall.arguments {
            assert!(
                !argument.doc.is_empty(),
                "{}: argument `{}` has no doc",
                syscall.name,
                argument.name
            );
        }
        // Every call that takes a handle or a pointer can fail, and says how.
        let can_fail = syscall.arguments.iter().any(|a| {
            matches!(
                a.kind,
                ArgumentKind::Pointer { .. } | ArgumentKind::Out { .. }
            ) || matches!(a.kind, ArgumentKind::Value(abi::ValueType::Handle { .. }))
        });
        if can_fail {
            assert_eq!(syscall.returns, Returns::Status, "{}", syscall.name);
            assert!(
                !syscall.errors.is_empty(),
                "{} takes a handle or pointer but lists no errors",
                syscall.name
            );
        }
    }
}

/// The generator refuses IDL that breaks the conventions, naming the
/// syscall and the problem.
#[test]
fn conventions_are_enforced() {
    let prelude = r#"
library zx;
type Status = strict enum : int32 { OK = 0; BAD_HANDLE = -11; };
type Rights = strict bits : uint32 { READ = 0x4; };
type ObjectType = strict enum : uint32 { NONE = 0; VMO = 3; };
resource_definition Handle : uint32 {
    properties { subtype ObjectType; rights Rights; };
};
"#;
    let cases = [
        (
            "/// Doc.\n///\n/// ## Errors\n///\n/// * `NO_SUCH`: never.\n\
             strict A(struct { x uint32; }) -> () error Status;",
            "names `NO_SUCH`",
        ),
        (
            "/// Doc.\nstrict A(struct { @user_in(\"Thing\") p uint64; }) -> () error Status;",
            "element type",
        ),
        (
            "/// Doc.\nstrict A(struct { @user_out(\"u8\") p uint32; }) -> () error Status;",
            "`uint64` address",
        ),
        (
            "/// Doc.\nstrict A(struct { a uint64; b uint64; c uint64; d uint64; e uint64; \
             f uint64; g uint64; }) -> (struct { h uint64; i uint64; }) error Status;",
            "9 arguments",
        ),
        ("/// Doc.\nstrict A(struct { x uint64; });", "@noreturn"),
        ("strict A() -> () error Status;", "doc comment"),
        (
            "/// Doc.\nstrict A(struct { @user_ni(\"u8\") p uint64; }) -> () error Status;",
            "unknown attribute @user_ni",
        ),
        (
            "/// Doc.\nstrict A(struct { x uint32; }) -> () error Status;\n};\n\
             @rust_type(\"String\") const C uint32 = 1;\n\
             @transport(\"Channel\") closed protocol Other {",
            "@rust_type(\"String\")",
        ),
    ];
    for (method, expected) in cases {
        let text = format!(
            "{prelude}\n@transport(\"Syscall\")\nclosed protocol Syscall {{\n{method}\n}};\n"
        );
        let error = match abi::generate(&text) {
            Ok(_) => panic!("accepted:\n{method}"),
            Err(error) => format!("{error:#}"),
        };
        assert!(
            error.contains(expected)
                && (error.contains("syscall 0 `a`") || error.contains("constant `zx/C`")),
            "for\n{method}\nexpected an error about {expected:?}, got: {error}"
        );
    }
}
