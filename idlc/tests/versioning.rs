//! `@available` as fidlc implements it, each case from issue 17 with its
//! minimal reproduction: what compiles at which version, what the IR holds
//! there, and which errors are found at versions other than the selected
//! one.

mod support;

use idlc::ir::{Ir, TypeKind};
use support::{compile_one, RustCheck};

fn struct_member_type(ir: &Ir, name: &str, member: &str) -> TypeKind {
    let library = &ir.libraries[ir.libraries.len() - 1];
    let s = library
        .structs
        .iter()
        .find(|s| s.name.ends_with(&format!("/{name}")))
        .unwrap_or_else(|| panic!("no struct {name}"));
    s.members
        .iter()
        .find(|m| m.name == member)
        .unwrap_or_else(|| panic!("no member {member}"))
        .ty
        .kind
        .clone()
}

fn primitive(kind: &TypeKind) -> idlc::ir::Primitive {
    match kind {
        TypeKind::Primitive { subtype } => *subtype,
        other => panic!("not a primitive: {other:?}"),
    }
}

const REPLACED_MEMBER: &str = "@available(added=1) library r;
type S = struct { @available(replaced=2) x int32; @available(added=2) x int64; };";

#[test]
fn replaced_member_swaps_at_its_version() {
    use idlc::ir::Primitive::{Int32, Int64};
    for (version, expected) in [("1", Int32), ("2", Int64), ("HEAD", Int64), ("NEXT", Int64)] {
        let ir = compile_one(REPLACED_MEMBER, &[version]).unwrap();
        assert_eq!(
            primitive(&struct_member_type(&ir, "S", "x")),
            expected,
            "at {version}"
        );
    }
}

#[test]
fn replaced_declaration_and_renamed_method() {
    // fuchsia.unknown's Cloneable: `Clone2` becomes `Clone` at 26, keeping
    // its ordinal through `@selector`.
    let text = "@available(added=9) library r;
        closed protocol Cloneable {
            @available(replaced=26, renamed=\"Clone\")
            @selector(\"Clone\")
            strict Clone2(resource struct { request server_end:Cloneable; });
            @available(added=26)
            strict Clone(resource struct { request server_end:Cloneable; });
        };
        @available(replaced=20) type T = struct {};
        @available(added=20) type T = table {};";
    let method = |version: &str| {
        let ir = compile_one(text, &[version]).unwrap();
        let p = ir.libraries[0].protocols[0].clone();
        assert_eq!(p.methods.len(), 1);
        let library = &ir.libraries[0];
        let t_is_table = library.tables.iter().any(|t| t.name == "r/T");
        (p.methods[0].name.clone(), p.methods[0].ordinal, t_is_table)
    };
    let (old, old_ordinal, old_table) = method("19");
    let (new, new_ordinal, new_table) = method("HEAD");
    assert_eq!((old.as_str(), new.as_str()), ("Clone2", "Clone"));
    assert_eq!(old_ordinal, new_ordinal);
    assert!(!old_table && new_table);
}

#[test]
fn next_is_a_version() {
    let text = "library r; @available(removed=NEXT) type T = struct {}; @available(added=NEXT) type U = struct {};";
    let names = |version: &str| {
        let ir = compile_one(text, &[version]).unwrap();
        ir.libraries[0]
            .structs
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names("30"), ["r/T"]);
    assert_eq!(names("NEXT"), ["r/U"]);
    assert_eq!(names("HEAD"), ["r/U"]);
}

/// The member's `@available` reaches the anonymous layout inside it: at
/// version 1 neither the member nor its union exists, so `LATER` is not
/// needed.
const NESTED_ANONYMOUS: &str = "@available(added=1) library r;
@available(added=HEAD) const LATER uint64 = 4;
type T = table { @available(added=HEAD) 1: u flexible union { 1: d vector<uint8>:LATER; }; };";

#[test]
fn member_availability_reaches_its_anonymous_layout() {
    let at_1 = compile_one(NESTED_ANONYMOUS, &["1"]).unwrap();
    assert!(at_1.libraries[0].unions.is_empty());
    assert!(at_1.libraries[0].tables[0].members.is_empty());
    let head = compile_one(NESTED_ANONYMOUS, &["HEAD"]).unwrap();
    assert_eq!(head.libraries[0].unions[0].name, "r/U");
}

const VERSIONED_COMPOSE: &str = "@available(added=1) library r;
@available(added=2) closed protocol A { strict M(); };
closed protocol B { @available(added=2) compose A; };";

#[test]
fn compose_follows_its_availability() {
    let at_1 = compile_one(VERSIONED_COMPOSE, &["1"]).unwrap();
    let b = |ir: &Ir| {
        ir.libraries[0]
            .protocols
            .iter()
            .find(|p| p.name == "r/B")
            .unwrap()
            .clone()
    };
    assert!(b(&at_1).composed.is_empty() && b(&at_1).methods.is_empty());
    let at_2 = compile_one(VERSIONED_COMPOSE, &["2"]).unwrap();
    assert_eq!(b(&at_2).composed, ["r/A"]);
    assert_eq!(b(&at_2).methods[0].name, "M");
}

#[test]
fn versioned_modifiers() {
    // fuchsia.io's `closed(removed=24) open(added=24) protocol Node`.
    let text = "@available(added=1) library r;
        closed(removed=24) open(added=24) protocol Node { flexible(added=24) strict(removed=24) Sync() -> (); };
        type E = strict(removed=3) flexible(added=3) enum { A = 1; };";
    let at = |version: &str| {
        let ir = compile_one(text, &[version]).unwrap();
        let library = &ir.libraries[0];
        (
            library.protocols[0].openness,
            library.protocols[0].methods[0].strict,
            library.enums[0].strict,
        )
    };
    use idlc::ir::Openness::{Closed, Open};
    assert_eq!(at("2"), (Closed, true, true));
    assert_eq!(at("23"), (Closed, true, false));
    assert_eq!(at("24"), (Open, false, false));
}

#[test]
fn errors_at_any_version_are_reported_with_it() {
    // `Gone` is removed at 2 but `User` still refers to it.
    let text = "@available(added=1) library r;
        @available(removed=2) type Gone = struct {};
        type User = struct { g Gone; };";
    for selected in ["1", "2", "HEAD"] {
        let errors = compile_one(text, &[selected]).unwrap_err();
        assert!(
            errors.contains("error[idl-0007]: cannot find `Gone` (at versions 2, HEAD)"),
            "{selected}: {errors}"
        );
        assert_eq!(errors.lines().count(), 1, "reported once: {errors}");
    }
    // An error at every version says nothing about versions.
    let everywhere = compile_one(
        "@available(added=1) library r; @available(added=2) type A = struct {}; type B = struct { x Missing; };",
        &[],
    )
    .unwrap_err();
    assert!(
        everywhere.ends_with("cannot find `Missing`"),
        "{everywhere}"
    );
}

#[test]
fn a_using_needs_to_be_used_at_one_version_only() {
    let files = [
        (
            "dep.idl".to_string(),
            "@available(added=1) library dep; type D = struct {};".to_string(),
        ),
        (
            "main.idl".to_string(),
            "@available(added=1) library main; using dep;
             type M = struct { @available(removed=3) d dep.D; };"
                .to_string(),
        ),
    ];
    support::compile(&files, &["HEAD"]).unwrap();
    support::compile(&files, &["2"]).unwrap();
}

#[test]
fn replaced_without_replacement_is_an_error_at_every_version() {
    for version in ["1", "HEAD"] {
        let errors = compile_one(
            "@available(added=1) library r; @available(replaced=2) type T = struct {};",
            &[version],
        )
        .unwrap_err();
        assert!(errors.contains("error[idl-0063]"), "{errors}");
    }
}

#[test]
fn discoverable_takes_fidlc_arguments() {
    let ir = compile_one(
        "library r;
         @discoverable(server=\"platform\") closed protocol A {};
         @discoverable(client=\"platform,external\", server=\"external\") closed protocol B {};
         @discoverable(name=\"r.Renamed\") closed protocol C {};
         @discoverable(\"r.Positional\") closed protocol D {};",
        &[],
    )
    .unwrap();
    let names: Vec<Option<String>> = ir.libraries[0]
        .protocols
        .iter()
        .map(|p| p.discoverable_name.clone())
        .collect();
    assert_eq!(
        names,
        [
            Some("r.A".to_string()),
            Some("r.B".to_string()),
            Some("r.Renamed".to_string()),
            Some("r.Positional".to_string())
        ]
    );
    let bad = compile_one(
        "library r; @discoverable(server=\"elsewhere\") closed protocol A {};",
        &[],
    )
    .unwrap_err();
    assert!(
        bad.contains("error[idl-0040]: invalid `@discoverable` location"),
        "{bad}"
    );
}

#[test]
fn empty_flexible_layouts_but_not_strict_ones() {
    compile_one(
        "library r; type B = flexible bits : uint64 {}; type E = flexible enum {};",
        &[],
    )
    .unwrap();
    let errors = compile_one("library r; type B = strict bits {};", &[]).unwrap_err();
    assert!(
        errors.contains("error[idl-0018]: strict bits must have at least one member"),
        "{errors}"
    );
    let errors = compile_one("library r; type E = strict enum {};", &[]).unwrap_err();
    assert!(
        errors.contains("a strict enum must have at least one member"),
        "{errors}"
    );
}

#[test]
fn a_compose_conflict_is_reported_once() {
    let errors = compile_one(
        "library r;
         closed protocol A { strict M(); };
         closed protocol B { strict M(); };
         closed protocol C { compose A; compose B; };
         closed protocol D { compose C; };
         closed protocol E { compose D; compose C; };",
        &[],
    )
    .unwrap_err();
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert!(errors.contains("method `M` is defined twice through `compose`"));
}

#[test]
fn the_resolver_alone_reports_a_compose_conflict_once() {
    // Without the merging of versions in `compile`.
    let text = "library r;
         closed protocol A { strict M(); };
         closed protocol B { strict M(); };
         closed protocol C { compose A; compose B; };
         closed protocol D { compose C; };";
    let file = idlc::syntax::parse(idlc::source::FileId(0), text).unwrap();
    let errors = idlc::resolve::resolve(vec![(idlc::source::FileId(0), file)], &Default::default())
        .unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn every_reproduction_builds_in_rust_at_each_version() {
    let mut check = RustCheck::new("versioning");
    for (name, text, versions) in [
        ("replaced", REPLACED_MEMBER, &["1", "HEAD"][..]),
        ("nested", NESTED_ANONYMOUS, &["1", "HEAD"]),
        ("compose", VERSIONED_COMPOSE, &["1", "HEAD"]),
    ] {
        for version in versions {
            let ir = compile_one(text, &[version]).unwrap();
            check.add(&format!("{name}_{version}"), &ir);
        }
    }
    check.check().unwrap();
}

#[test]
fn long_runs_of_versions_are_ranges() {
    let text = "@available(added=1) library r;
        @available(added=2) type A = struct {};
        @available(added=3) type B = struct {};
        @available(removed=4) type Gone = struct {};
        @available(added=5) type C = struct {};
        type User = struct { g Gone; };";
    let errors = compile_one(text, &[]).unwrap_err();
    assert!(
        errors.ends_with("cannot find `Gone` (at versions 4 to HEAD)"),
        "{errors}"
    );
}
