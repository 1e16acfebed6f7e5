//! ABIs computed from real IDL, checked with `idl_abi::check_swap`: the
//! echo protocol's versions as the hot-swap tests use them.

use super::abis;
use idl_abi::{check_swap, ComponentAbi, Refusal};
use idlc::source::SourceMap;

/// The ABI of a component serving `e.Echo` with state `e/State`, both
/// declared in `text` (library `e`).
fn component(text: &str) -> ComponentAbi {
    let mut sources = SourceMap::new();
    sources.add("e.idl".to_string(), format!("library e;\n{text}"));
    let ir = idlc::compile(&sources, &Default::default())
        .unwrap_or_else(|errors| panic!("the test IDL does not compile: {errors:?}"));
    let abis = abis(&ir);
    ComponentAbi {
        state: abis
            .tables
            .contains_key("e/State")
            .then(|| "e/State".into()),
        state_types: abis.tables.get("e/State").cloned().unwrap_or_default(),
        protocols: abis.protocols.get("e.Echo").cloned().into_iter().collect(),
    }
}

const V1: &str = r#"
type State = table { 1: calls uint64; };
@discoverable
open protocol Echo {
    strict EchoString(struct { value string:1024; }) -> (struct { response string:1024; });
};
"#;

const V2: &str = r#"
type State = table { 1: calls uint64; 2: last string:1024; };
@discoverable
open protocol Echo {
    strict EchoString(struct { value string:1024; }) -> (struct { response string:1024; });
    flexible Calls() -> (struct { calls uint64; });
};
"#;

/// Version 2 with `Calls` strict: going back to version 1 would close the
/// channel of a client calling it.
const V2_STRICT: &str = r#"
type State = table { 1: calls uint64; 2: last string:1024; };
@discoverable
open protocol Echo {
    strict EchoString(struct { value string:1024; }) -> (struct { response string:1024; });
    strict Calls() -> (struct { calls uint64; });
};
"#;

/// Version 1 as a closed protocol: it would close the channel of a client
/// calling a method it does not know.
const V1_CLOSED: &str = r#"
type State = table { 1: calls uint64; };
@discoverable
closed protocol Echo {
    strict EchoString(struct { value string:1024; }) -> (struct { response string:1024; });
};
"#;

/// Incompatible: `EchoString`'s request is bounded differently.
const V4: &str = r#"
type State = table { 1: calls uint64; };
@discoverable
closed protocol Echo {
    strict EchoString(struct { value string:64; }) -> (struct { response string:1024; });
};
"#;

#[test]
fn reads_methods_and_reachable_types_from_the_ir() {
    let v2 = component(V2);
    let echo = &v2.protocols[0];
    assert_eq!(echo.name, "e.Echo");
    let names: Vec<&str> = echo.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["EchoString", "Calls"]);
    let echo_string = &echo.methods[0];
    assert!(echo_string.strict);
    assert_eq!(echo_string.kind, idl_abi::MethodKind::TwoWay);
    assert_ne!(echo_string.ordinal, 0);
    // The anonymous request struct is described, with its member.
    let request = echo_string.request.strip_prefix('@').unwrap();
    let described = echo.types.iter().find(|t| t.name == request).unwrap();
    assert_eq!(described.members[0].ty, "string:1024");
    assert_eq!(v2.state_types[0].name, "e/State");
    assert_eq!(v2.state_types[0].members.len(), 2);
}

#[test]
fn v1_and_v2_swap_both_ways_only_where_nothing_is_lost() {
    let (v1, v2) = (component(V1), component(V2));
    assert_eq!(check_swap(&v1, &v2), Ok(()));
    assert_eq!(check_swap(&v2, &v2), Ok(()));
    // Back from v2 to v1: `Calls` is flexible and v1's protocol open (a
    // caller gets `UNKNOWN_METHOD`); `last` stays in v1's state as an
    // unknown field.
    assert_eq!(check_swap(&v2, &v1), Ok(()));
    assert_eq!(v1.protocols[0].openness, idl_abi::Openness::Open);
    assert!(!v2.protocols[0].methods[1].strict);
    // A strict `Calls` may not go, nor a flexible one to a closed protocol.
    let refusal = check_swap(&component(V2_STRICT), &v1).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "e.Echo.Calls: the new version has no such method, and it is strict"
    );
    let refusal = check_swap(&v2, &component(V1_CLOSED)).unwrap_err();
    assert!(
        matches!(refusal, Refusal::MethodRemoved { ref method, strict: false, .. } if method == "Calls"),
        "{refusal:?}"
    );
}

#[test]
fn v4_is_refused_naming_protocol_method_and_type() {
    let refusal = check_swap(&component(V1), &component(V4)).unwrap_err();
    let Refusal::TypeChanged {
        protocol,
        method,
        change,
    } = &refusal
    else {
        panic!("{refusal:?}");
    };
    assert_eq!(
        (protocol.as_str(), method.as_str()),
        ("e.Echo", "EchoString")
    );
    assert!(change.ty.starts_with("e/"), "{change:?}");
    assert_eq!(
        change.what,
        "member 1 (`value`) was string:1024, now string:64"
    );
}

#[test]
fn the_real_echo_protocol_has_an_abi() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let names = super::super::idl::names(&root).unwrap();
    let echo = &names.abis.protocols["examples.echo.Echo"];
    assert!(echo.methods.iter().any(|m| m.name == "EchoString"));
    let decl = super::to_decl_protocol(echo);
    assert_eq!(decl.methods.len(), echo.methods.len());
}

/// The state a swap back to version 1 hands it, and the one version 1
/// hands on, pass `last` (version 2's field) through version 1's table
/// unchanged: the generated tables keep unknown fields. What makes
/// `check_swap` accept a table that lost a member.
#[test]
fn version_2_state_survives_a_stint_of_version_1() {
    use crate::bridge::bindings::{examples_echo as v1, examples_echo_v2 as v2};
    let mut state = v2::EchoState {
        calls: Some(41),
        last: Some("hello".into()),
        ..Default::default()
    };
    let (mut bytes, mut handles) = (Vec::new(), Vec::new());
    idlc_runtime::encode(&mut state, &mut bytes, &mut handles).unwrap();
    // Version 1 reads it, counts a call, and escrows it again.
    let mut old: v1::EchoState = idlc_runtime::decode(&bytes, &mut []).unwrap();
    assert_eq!(old.calls, Some(41));
    assert_eq!(old.unknown_fields.len(), 1);
    old.calls = Some(42);
    let (mut again, mut handles) = (Vec::new(), Vec::new());
    idlc_runtime::encode(&mut old, &mut again, &mut handles).unwrap();
    let back: v2::EchoState = idlc_runtime::decode(&again, &mut []).unwrap();
    assert_eq!(back.calls, Some(42));
    assert_eq!(back.last.as_deref(), Some("hello"));
}
