//! The compiler never panics: random token soups, truncations and byte
//! flips of a valid library all end in IR or diagnostics.

use idlc::source::SourceMap;
use proptest::prelude::*;

#[rustfmt::skip]
const TOKENS: &[&str] = &[
    "library", "using", "as", "const", "alias", "type", "protocol", "service", "compose",
    "resource_definition", "properties", "struct", "table", "union", "enum", "bits", "strict",
    "flexible", "resource", "open", "ajar", "closed", "error", "reserved", "box", "vector",
    "array", "string", "client_end", "server_end", "optional", "MAX", "uint8", "int32",
    "uint64", "bool", "float64", "zx", "zx.Handle", "VMO", "a", "b", "Foo", "Bar", "x.y",
    "=", ";", ":", ",", ".", "|", "<", ">", "(", ")", "{", "}", "->", "@available",
    "@selector(\"x\")", "@transport(\"Syscall\")", "added=2", "1", "0", "64", "-1", "0x10",
    "\"s\"", "true", "///doc\n", "//c\n", "\n",
];

fn compile(texts: &[String]) {
    let mut sources = SourceMap::new();
    for (i, text) in texts.iter().enumerate() {
        sources.add(format!("f{i}.idl"), text.clone());
    }
    match idlc::compile(&sources, &Default::default()) {
        Ok(ir) => {
            let _ = idlc::backend::rust::generate(&ir);
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty());
            for d in &diagnostics {
                let _ = d.one_line(&sources);
                let _ = d.report(&sources);
            }
        }
    }
}

fn everything() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/libs/everything.idl"
    ))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn token_soup(tokens in proptest::collection::vec(0..TOKENS.len(), 0..60)) {
        let body: Vec<&str> = tokens.iter().map(|i| TOKENS[*i]).collect();
        compile(&[format!("library fuzz;\n{}", body.join(" "))]);
    }

    #[test]
    fn truncated_library(cut in 0usize..4000) {
        let text = everything();
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        compile(&[text[..cut].to_string()]);
    }

    #[test]
    fn mutated_library(position in 0usize..4000, byte in 0u8..128) {
        let mut bytes = everything().into_bytes();
        let position = position % bytes.len();
        bytes[position] = byte;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        compile(&[text, std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/libs/zx.idl")).unwrap()]);
    }
}

/// Long chains of declarations that need each other are reported, not
/// followed into a stack overflow.
#[test]
fn long_dependency_chains_are_bounded() {
    let n = 5000;
    let mut text = String::from("library chain;\n");
    for i in 0..n {
        text.push_str(&format!("const C{i} uint32 = C{};\n", i + 1));
        text.push_str(&format!("type S{i} = struct {{ next S{}; }};\n", i + 1));
        text.push_str(&format!("alias A{i} = A{};\n", i + 1));
    }
    text.push_str(&format!(
        "const C{n} uint32 = 1;\ntype S{n} = struct {{}};\nalias A{n} = uint8;\n"
    ));
    let mut sources = SourceMap::new();
    sources.add("chain.idl", text);
    let errors = idlc::compile(&sources, &Default::default()).unwrap_err();
    assert!(errors
        .iter()
        .all(|d| d.code == idlc::diagnostics::ErrorCode::NestingTooDeep));

    // Types alone pass resolution and are caught by layout.
    let mut text = String::from("library chain;\n");
    for i in 0..n {
        text.push_str(&format!("type S{i} = struct {{ next S{}; }};\n", i + 1));
    }
    text.push_str(&format!("type S{n} = struct {{}};\n"));
    let mut sources = SourceMap::new();
    sources.add("chain.idl", text);
    let errors = idlc::compile(&sources, &Default::default()).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, idlc::diagnostics::ErrorCode::NestingTooDeep);
}

/// A constant of 100,000 `|` terms is evaluated without deep recursion.
#[test]
fn long_or_chains_are_balanced() {
    let terms = vec!["1"; 100_000].join(" | ");
    let mut sources = SourceMap::new();
    sources.add(
        "or.idl",
        format!("library or;\nconst X uint32 = {terms};\n"),
    );
    let ir = idlc::compile(&sources, &Default::default()).unwrap();
    assert_eq!(ir.libraries[0].consts[0].value, serde_json::json!(1));
}
