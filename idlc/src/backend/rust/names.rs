//! FIDL names → Rust names.

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
    "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// Words that cannot even be raw identifiers.
const RESERVED: &[&str] = &["self", "Self", "super", "crate", "_"];

fn escape(name: String) -> String {
    if RESERVED.contains(&name.as_str()) {
        format!("{name}_")
    } else if KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else {
        name
    }
}

fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let boundary = c.is_ascii_uppercase()
            && !current.is_empty()
            && (chars[i - 1].is_ascii_lowercase()
                || chars[i - 1].is_ascii_digit()
                || chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase()));
        if boundary {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

pub fn snake(name: &str) -> String {
    escape(
        words(name)
            .iter()
            .map(|w| w.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join("_"),
    )
}

pub fn screaming(name: &str) -> String {
    escape(
        words(name)
            .iter()
            .map(|w| w.to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join("_"),
    )
}

pub fn camel(name: &str) -> String {
    escape(
        words(name)
            .iter()
            .map(|w| {
                let lower = w.to_ascii_lowercase();
                let mut chars = lower.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            })
            .collect(),
    )
}

/// Type names keep their FIDL spelling when it is already UpperCamelCase.
pub fn type_name(name: &str) -> String {
    if name.starts_with(|c: char| c.is_ascii_uppercase()) && !name.contains('_') {
        escape(name.to_string())
    } else {
        camel(name)
    }
}

/// The name of a generated item that sits beside names taken from the IDL
/// (the `Unknown` variant of a flexible enum or union, a table's
/// `unknown_fields`): `base`, or `alternative` if a member already has
/// `base`'s name (`UNKNOWN = 0;` in fuchsia.sysinfo), then `alternative2`,
/// `alternative3`, … .
pub fn free_name(base: &str, alternative: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == base) {
        return base.to_string();
    }
    std::iter::once(alternative.to_string())
        .chain((2..).map(|n| format!("{alternative}{n}")))
        .find(|candidate| !taken.iter().any(|t| t == candidate))
        .expect("an unbounded sequence has a free name")
}

/// `fuchsia.io` → `fuchsia_io`.
pub fn module_name(library: &str) -> String {
    escape(library.replace('.', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(snake("OnOverflow"), "on_overflow");
        assert_eq!(snake("HTTPServer"), "http_server");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(camel("DIVIDE_BY_ZERO"), "DivideByZero");
        assert_eq!(screaming("maxName"), "MAX_NAME");
        assert_eq!(type_name("Point"), "Point");
        assert_eq!(snake("self"), "self_");
    }

    #[test]
    fn generated_names_avoid_members() {
        let taken = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            free_name("Unknown", "UnknownValue", &taken(&["A"])),
            "Unknown"
        );
        assert_eq!(
            free_name("Unknown", "UnknownValue", &taken(&["Unknown"])),
            "UnknownValue"
        );
        assert_eq!(
            free_name(
                "Unknown",
                "UnknownValue",
                &taken(&["Unknown", "UnknownValue"])
            ),
            "UnknownValue2"
        );
    }
}
