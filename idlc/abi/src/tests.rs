//! The compatibility check on hand-written ABIs shaped like the echo
//! protocol's versions (build-image's tests run it on ABIs computed from
//! real IDL).

extern crate std;

use super::*;
use alloc::vec;

fn member(ordinal: u64, name: &str, ty: &str) -> MemberAbi {
    MemberAbi {
        ordinal,
        name: name.into(),
        ty: ty.into(),
    }
}

fn named(name: &str, kind: TypeKind, strict: bool, members: Vec<MemberAbi>) -> TypeAbi {
    TypeAbi {
        name: name.into(),
        kind,
        strict,
        resource: false,
        underlying: if matches!(kind, TypeKind::Enum | TypeKind::Bits) {
            "uint32".into()
        } else {
            String::new()
        },
        members,
    }
}

fn two_way(name: &str, ordinal: u64, request: &str, response: &str) -> MethodAbi {
    MethodAbi {
        name: name.into(),
        ordinal,
        kind: MethodKind::TwoWay,
        strict: true,
        request: request.into(),
        response: response.into(),
    }
}

/// Version 1: `EchoString(value string:1024) -> (response string:1024)`,
/// state `{ 1: calls uint64 }`.
fn v1() -> ComponentAbi {
    ComponentAbi {
        state: Some("e/State".into()),
        state_types: vec![named(
            "e/State",
            TypeKind::Table,
            false,
            vec![member(1, "calls", "uint64")],
        )],
        protocols: vec![ProtocolAbi {
            name: "e.Echo".into(),
            openness: Openness::Open,
            methods: vec![two_way("EchoString", 0x11, "@e/Req", "@e/Resp")],
            types: vec![
                named(
                    "e/Req",
                    TypeKind::Struct,
                    false,
                    vec![member(1, "value", "string:1024")],
                ),
                named(
                    "e/Resp",
                    TypeKind::Struct,
                    false,
                    vec![member(1, "response", "string:1024")],
                ),
            ],
        }],
    }
}

/// Version 2: v1 plus a flexible method and a state field.
fn v2() -> ComponentAbi {
    let mut v2 = v1();
    v2.state_types[0]
        .members
        .push(member(2, "last", "string:1024"));
    let echo = &mut v2.protocols[0];
    let mut count = two_way("Count", 0x22, "", "@e/CountResult");
    count.strict = false;
    echo.methods.push(count);
    echo.types.push(named(
        "e/CountResult",
        TypeKind::Union,
        false,
        vec![
            member(1, "response", "@e/CountResp"),
            member(3, "framework_err", "int32"),
        ],
    ));
    echo.types.push(named(
        "e/CountResp",
        TypeKind::Struct,
        false,
        vec![member(1, "calls", "uint64")],
    ));
    v2
}

#[test]
fn identical_and_additive_versions_are_compatible() {
    assert_eq!(check_swap(&v1(), &v1()), Ok(()));
    assert_eq!(check_swap(&v1(), &v2()), Ok(()));
}

#[test]
fn going_back_drops_a_flexible_method_and_a_state_field() {
    // v2 → v1: v1 lacks the flexible `Count`, and its open protocol answers
    // a call of it with `UNKNOWN_METHOD`; its state table lacks `last`,
    // which it keeps as an unknown field. Both directions, alternately.
    assert_eq!(check_swap(&v2(), &v1()), Ok(()));
    assert_eq!(check_swap(&v1(), &v2()), Ok(()));
}

#[test]
fn a_removed_method_is_refused_when_strict_or_when_the_protocol_would_close() {
    let mut strict = v2();
    strict.protocols[0].methods[1].strict = true;
    let refusal = check_swap(&strict, &v1()).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::MethodRemoved {
            protocol: "e.Echo".into(),
            method: "Count".into(),
            strict: true,
            openness: Openness::Open,
        }
    );
    assert_eq!(
        refusal.to_string(),
        "e.Echo.Count: the new version has no such method, and it is strict"
    );
    // Flexible, but the new version's protocol is closed (or ajar, for a
    // two-way method): a call would close the client's channel.
    for openness in [Openness::Closed, Openness::Ajar] {
        let mut closed = v1();
        closed.protocols[0].openness = openness;
        assert_eq!(
            check_swap(&v2(), &closed).unwrap_err().to_string(),
            format!("e.Echo.Count: the new version has no such method, and its protocol is {openness}: a call would close the channel")
        );
    }
    // A flexible one-way method may go to an ajar protocol.
    let mut one_way = v1();
    let mut notify = two_way("Notify", 0x33, "", "");
    notify.kind = MethodKind::OneWay;
    notify.strict = false;
    one_way.protocols[0].methods.push(notify);
    let mut ajar = v1();
    ajar.protocols[0].openness = Openness::Ajar;
    assert_eq!(check_swap(&one_way, &ajar), Ok(()));
    ajar.protocols[0].openness = Openness::Closed;
    assert!(check_swap(&one_way, &ajar).is_err());
}

#[test]
fn a_state_table_may_lose_a_field_unless_it_is_a_resource() {
    let mut resource = v2();
    resource.state_types[0].resource = true;
    let mut back = v1();
    back.state_types[0].resource = true;
    assert_eq!(
        check_swap(&resource, &back).unwrap_err().to_string(),
        "state: the new version cannot read the old state: type e/State changed: member 2 (`last`) was removed"
    );
}

#[test]
fn a_changed_request_names_protocol_method_and_type() {
    let mut v4 = v1();
    v4.protocols[0].types[0].members[0].ty = "string:64".into();
    let refusal = check_swap(&v1(), &v4).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::TypeChanged {
            protocol: "e.Echo".into(),
            method: "EchoString".into(),
            change: TypeChange {
                ty: "e/Req".into(),
                what: "member 1 (`value`) was string:1024, now string:64".into(),
            },
        }
    );
    assert_eq!(
        refusal.to_string(),
        "e.Echo.EchoString: type e/Req changed: member 1 (`value`) was string:1024, now string:64"
    );
}

#[test]
fn a_struct_may_not_gain_a_member_but_a_table_may() {
    let mut grown = v1();
    grown.protocols[0].types[0]
        .members
        .push(member(2, "extra", "uint32"));
    let refusal = check_swap(&v1(), &grown).unwrap_err();
    assert!(
        refusal
            .to_string()
            .contains("member 2 (`extra`) was added to a struct"),
        "{refusal}"
    );
    // The state table gained a field in v2: accepted (above).
}

#[test]
fn ordinal_direction_and_strictness_are_part_of_the_abi() {
    let mut moved = v1();
    moved.protocols[0].methods[0].ordinal = 0x12;
    assert_eq!(
        check_swap(&v1(), &moved).unwrap_err().to_string(),
        "e.Echo.EchoString: ordinal was 0x11, now 0x12"
    );
    let mut one_way = v1();
    one_way.protocols[0].methods[0].kind = MethodKind::OneWay;
    assert_eq!(
        check_swap(&v1(), &one_way).unwrap_err().to_string(),
        "e.Echo.EchoString: was two-way, now one-way"
    );
    let mut flexible = v1();
    flexible.protocols[0].methods[0].strict = false;
    assert_eq!(
        check_swap(&v1(), &flexible).unwrap_err().to_string(),
        "e.Echo.EchoString: was strict, now flexible"
    );
}

#[test]
fn a_renamed_type_of_the_same_shape_is_compatible() {
    let mut renamed = v1();
    renamed.protocols[0].types[0].name = "e/EchoRequest".into();
    renamed.protocols[0].methods[0].request = "@e/EchoRequest".into();
    assert_eq!(check_swap(&v1(), &renamed), Ok(()));
}

#[test]
fn nested_named_types_are_compared_where_they_change() {
    let with_list = |element_strict: bool| {
        let mut v = v1();
        let echo = &mut v.protocols[0];
        echo.types[0].members[0].ty = "vector<@e/Color>:8".into();
        echo.types.push(named(
            "e/Color",
            TypeKind::Enum,
            element_strict,
            vec![member(1, "RED", ""), member(2, "BLUE", "")],
        ));
        v
    };
    assert_eq!(check_swap(&with_list(true), &with_list(true)), Ok(()));
    let mut more = with_list(true);
    more.protocols[0].types[2]
        .members
        .push(member(3, "GREEN", ""));
    assert_eq!(
        check_swap(&with_list(true), &more).unwrap_err().to_string(),
        "e.Echo.EchoString: type e/Color changed: member 3 (`GREEN`) was added to a strict enum"
    );
    // A flexible enum may gain members, but not lose them.
    let mut flexible_more = with_list(false);
    flexible_more.protocols[0].types[2]
        .members
        .push(member(3, "GREEN", ""));
    assert_eq!(check_swap(&with_list(false), &flexible_more), Ok(()));
    assert!(check_swap(&flexible_more, &with_list(false)).is_err());
    // A vector that became an array is a change of shape at the member.
    let mut array = with_list(true);
    array.protocols[0].types[0].members[0].ty = "array<@e/Color, 8>".into();
    assert_eq!(
        check_swap(&with_list(true), &array)
            .unwrap_err()
            .to_string(),
        "e.Echo.EchoString: type e/Req changed: member 1 (`value`) was vector<@e/Color>:8, now array<@e/Color, 8>"
    );
}

#[test]
fn no_state_is_refused_clearly() {
    let mut stateless = v1();
    stateless.state = None;
    assert_eq!(
        check_swap(&stateless, &v1()),
        Err(Refusal::NoState(Version::Old))
    );
    assert_eq!(
        check_swap(&v1(), &stateless),
        Err(Refusal::NoState(Version::New))
    );
    assert!(check_swap(&v1(), &stateless)
        .unwrap_err()
        .to_string()
        .contains("declares no `state`"));
}

#[test]
fn a_removed_protocol_or_an_added_strict_event_is_refused() {
    let mut none = v1();
    none.protocols.clear();
    assert_eq!(
        check_swap(&v1(), &none),
        Err(Refusal::ProtocolRemoved {
            protocol: "e.Echo".into()
        })
    );
    let mut event = v1();
    event.protocols[0].methods.push(MethodAbi {
        name: "OnReady".into(),
        ordinal: 0x33,
        kind: MethodKind::Event,
        strict: true,
        request: String::new(),
        response: String::new(),
    });
    assert_eq!(
        check_swap(&v1(), &event),
        Err(Refusal::StrictEventAdded {
            protocol: "e.Echo".into(),
            method: "OnReady".into()
        })
    );
    event.protocols[0].methods[1].strict = false;
    assert_eq!(check_swap(&v1(), &event), Ok(()));
}

#[test]
fn an_undescribed_type_is_malformed_not_a_panic() {
    let mut broken = v1();
    broken.protocols[0].types.clear();
    assert!(matches!(
        check_swap(&v1(), &broken),
        Err(Refusal::Malformed { .. })
    ));
}

#[test]
fn recursive_types_terminate() {
    let node = |extra: bool| {
        let mut v = v1();
        let mut members = vec![member(1, "next", "@e/Node")];
        if extra {
            members.push(member(2, "label", "string:8"));
        } else {
            members.push(member(2, "label", "string:4"));
        }
        v.protocols[0].types[0].members[0].ty = "@e/Node".into();
        v.protocols[0]
            .types
            .push(named("e/Node", TypeKind::Table, false, members));
        v
    };
    assert!(check_swap(&node(true), &node(false)).is_err());
    assert!(check_swap(&node(false), &node(true)).is_err());
    assert_eq!(check_swap(&node(true), &node(true)), Ok(()));
}

#[test]
fn names_are_split_out_of_expressions() {
    assert_eq!(
        split_names("vector<@a.b/C>:8?"),
        ("vector<@>:8?".into(), vec!["a.b/C".into()])
    );
    assert_eq!(
        split_names("array<@x/Y, 2>"),
        ("array<@, 2>".into(), vec!["x/Y".into()])
    );
    assert_eq!(split_names("uint32"), ("uint32".into(), vec![]));
}
