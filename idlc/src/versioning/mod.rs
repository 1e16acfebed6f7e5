//! Versioning: `@available` as fidlc implements it.
//!
//! A library belongs to a *platform* (`@available(platform="…")` on the
//! library, by default the first component of its name). Each platform has
//! a linear history of versions: `1` to `2^31-1`, then `NEXT` (what the next
//! numbered version will hold), then `HEAD` (the latest, unstable state).
//! An element (a declaration, a member, a method, a `compose`, a modifier)
//! exists from its `added` version up to, not including, its `removed` or
//! `replaced` version; what is not said is inherited from the parent element
//! (library → declaration → member → anonymous layout inside the member).
//!
//! The compiler works on *snapshots*: [`snapshot`] filters the raw AST down
//! to what exists at one version of each platform, so the resolver never
//! sees availability at all. [`plan`] decides which snapshots a compilation
//! needs: the selected one (for the IR) and one for every version at which
//! the library can change — each version named by an `@available`
//! argument, and `HEAD` — so that an error is found whichever version is
//! selected ([`crate::compile`] runs them and merges their diagnostics).
//! What does not depend on a version — the `@available` arguments
//! themselves, their order and nesting, `replaced` / `removed` against the
//! elements that follow — is checked once, on the whole AST, by
//! [`validate`].
//!
//! Known gaps: `renamed` is validated but changes nothing in a one-version
//! snapshot (which is all a compilation emits); references from a
//! non-deprecated element to a deprecated one are not reported; replacements
//! are matched by name only, not by ABI (ordinal, value, selector).

mod snapshot;
mod validate;

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostics::Diagnostic;
use crate::source::{FileId, Span};
use crate::syntax::ast;

pub use snapshot::snapshot;

/// A version of a platform: a number from 1 to 2^31-1, `NEXT` or `HEAD`.
/// `NEXT` and `HEAD` order after every number, as in fidlc, whose numeric
/// values for them this type also uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(u64);

impl Version {
    /// The largest numbered version.
    pub const MAX_NUMBERED: u64 = (1 << 31) - 1;
    /// The version planned to be the next numbered one.
    pub const NEXT: Version = Version(0xFFD0_0000);
    /// The latest, unstable version; the default.
    pub const HEAD: Version = Version(0xFFE0_0000);

    /// A numbered version, or `NEXT` / `HEAD` by their numeric values.
    pub fn from_number(number: u64) -> Option<Version> {
        match number {
            1..=Version::MAX_NUMBERED => Some(Version(number)),
            n if n == Version::NEXT.0 || n == Version::HEAD.0 => Some(Version(n)),
            _ => None,
        }
    }

    /// `12`, `NEXT` or `HEAD`.
    pub fn parse(text: &str) -> Option<Version> {
        match text {
            "NEXT" => Some(Version::NEXT),
            "HEAD" => Some(Version::HEAD),
            _ => text.parse().ok().and_then(Version::from_number),
        }
    }

    /// The value of an `@available` argument: an integer literal, `NEXT` or
    /// `HEAD`.
    pub(crate) fn of_constant(value: &ast::Constant) -> Option<Version> {
        match value {
            ast::Constant::Literal(ast::Literal::Number(n), _) => crate::resolve::parse_number(n)
                .and_then(|n| u64::try_from(n).ok())
                .and_then(Version::from_number),
            ast::Constant::Identifier(id) if id.parts.len() == 1 => match id.parts[0].name.as_str()
            {
                "NEXT" => Some(Version::NEXT),
                "HEAD" => Some(Version::HEAD),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn number(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Version::NEXT => f.write_str("NEXT"),
            Version::HEAD => f.write_str("HEAD"),
            Version(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for Version {
    type Err = String;

    fn from_str(text: &str) -> Result<Version, String> {
        Version::parse(text).ok_or_else(|| {
            format!(
                "invalid version `{text}`: expected 1 to {}, `NEXT` or `HEAD`",
                Version::MAX_NUMBERED
            )
        })
    }
}

/// The version each platform is compiled at (`--available`).
///
/// `fuchsia:12` selects a version of one platform; a bare `12` selects it
/// for every platform not named otherwise. Unselected platforms are at
/// `HEAD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    default: Version,
    platforms: BTreeMap<String, Version>,
}

impl Default for Selection {
    fn default() -> Selection {
        Selection::at(Version::HEAD)
    }
}

impl Selection {
    /// Every platform at `version`.
    pub fn at(version: Version) -> Selection {
        Selection {
            default: version,
            platforms: BTreeMap::new(),
        }
    }

    /// `platform` at `version`, the others unchanged.
    pub fn with(mut self, platform: &str, version: Version) -> Selection {
        self.platforms.insert(platform.to_string(), version);
        self
    }

    /// Adds one `--available` value: `[PLATFORM:]VERSION`.
    pub fn add(&mut self, text: &str) -> Result<(), String> {
        match text.split_once(':') {
            Some((platform, version)) => {
                if !is_platform_name(platform) {
                    return Err(format!("invalid platform name `{platform}`"));
                }
                self.platforms
                    .insert(platform.to_string(), version.parse()?);
            }
            None => self.default = text.parse()?,
        }
        Ok(())
    }

    /// Parses a list of `--available` values.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Selection, String> {
        let mut selection = Selection::default();
        for value in values {
            selection.add(value)?;
        }
        Ok(selection)
    }

    pub fn version_for(&self, platform: &str) -> Version {
        self.platforms
            .get(platform)
            .copied()
            .unwrap_or(self.default)
    }
}

fn is_platform_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The versions an element exists at: `added` up to, not including, `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    /// `None`: since the platform began.
    pub added: Option<Version>,
    /// `None`: still present at `HEAD`.
    pub end: Option<Version>,
}

impl Range {
    pub const ALWAYS: Range = Range {
        added: None,
        end: None,
    };

    pub fn contains(self, version: Version) -> bool {
        self.added.is_none_or(|added| added <= version) && self.end.is_none_or(|end| version < end)
    }

    /// An element's range: its own arguments, the rest from its parent.
    pub fn inherit(self, own: &Availability) -> Range {
        Range {
            added: own.added.map(|(v, _)| v).or(self.added),
            end: own.end().map(|(v, _)| v).or(self.end),
        }
    }
}

/// The arguments of one `@available` (or of a versioned modifier), as far
/// as they are valid; [`validate`] reports the invalid ones.
#[derive(Clone, Debug, Default)]
pub(crate) struct Availability {
    pub span: Option<Span>,
    pub platform: Option<(String, Span)>,
    pub added: Option<(Version, Span)>,
    pub deprecated: Option<(Version, Span)>,
    pub removed: Option<(Version, Span)>,
    pub replaced: Option<(Version, Span)>,
    pub renamed: Option<(String, Span)>,
}

impl Availability {
    /// The `@available` among `attributes`; none is `Availability::default()`.
    pub fn of(attributes: &[ast::Attribute]) -> Availability {
        match attributes.iter().find(|a| a.name.name == "available") {
            Some(attribute) => {
                let mut availability = Availability::from_args(&attribute.args);
                availability.span = Some(attribute.span);
                availability
            }
            None => Availability::default(),
        }
    }

    pub fn from_args(args: &[ast::AttributeArg]) -> Availability {
        let mut out = Availability::default();
        for arg in args {
            let Some(name) = &arg.name else { continue };
            let version = Version::of_constant(&arg.value).map(|v| (v, arg.span));
            let string = match &arg.value {
                ast::Constant::Literal(ast::Literal::String(s), _) => Some((s.clone(), arg.span)),
                _ => None,
            };
            match name.name.as_str() {
                "added" => out.added = version,
                "deprecated" => out.deprecated = version,
                "removed" => out.removed = version,
                "replaced" => out.replaced = version,
                "platform" => out.platform = string,
                "renamed" => out.renamed = string,
                _ => {}
            }
        }
        out
    }

    /// `removed` or `replaced`, whichever is given.
    pub fn end(&self) -> Option<(Version, Span)> {
        self.removed.or(self.replaced)
    }

    /// Whether the element exists at `version`, given that its parent does.
    pub fn contains(&self, version: Version) -> bool {
        Range::ALWAYS.inherit(self).contains(version)
    }
}

/// What versioning needs to know about a library.
#[derive(Clone, Debug)]
pub(crate) struct LibraryInfo {
    pub platform: String,
    /// From the library's `@available` (`ALWAYS` without one).
    pub range: Range,
}

/// Platform and range of every library of a compilation, by name. A
/// library's `@available` may be on any one of its files.
pub(crate) fn libraries(files: &[(FileId, ast::File)]) -> BTreeMap<String, LibraryInfo> {
    let mut out: BTreeMap<String, LibraryInfo> = BTreeMap::new();
    for (_, file) in files {
        let name = file.library.dotted();
        let default_platform = name.split('.').next().unwrap_or_default().to_string();
        let entry = out.entry(name).or_insert(LibraryInfo {
            platform: default_platform,
            range: Range::ALWAYS,
        });
        if file
            .library_attributes
            .iter()
            .any(|a| a.name.name == "available")
        {
            let availability = Availability::of(&file.library_attributes);
            if let Some((platform, _)) = availability.platform.clone() {
                entry.platform = platform;
            }
            entry.range = Range::ALWAYS.inherit(&availability);
        }
    }
    out
}

/// The snapshots a compilation needs, and the version-independent errors.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Every selection to check, in version order, each with a label for
    /// diagnostics (`version 12`, or `fuchsia:12` when several platforms
    /// vary). One of them is the selected one.
    pub checks: Vec<(Selection, String)>,
    /// The index of the selected versions in `checks`.
    pub selected: usize,
    /// Errors of `@available` attributes, found once for all versions.
    pub diagnostics: Vec<Diagnostic>,
}

/// Validates `@available` everywhere and lists the versions to check: for
/// each platform, every version an `added`, `removed` or `replaced` names
/// (not before the platform's earliest library), and `HEAD`; the other
/// platforms stay at their selected version meanwhile.
pub(crate) fn plan(files: &[(FileId, ast::File)], selected: &Selection) -> Plan {
    let libraries = libraries(files);
    let validation = validate::validate(files, &libraries);
    let mut points: BTreeMap<String, BTreeSet<Version>> = BTreeMap::new();
    for info in libraries.values() {
        let versions = points.entry(info.platform.clone()).or_default();
        versions.insert(Version::HEAD);
        versions.insert(selected.version_for(&info.platform));
    }
    for (platform, version) in validation.versions {
        points.entry(platform).or_default().insert(version);
    }
    // Before its first library exists a platform has nothing to check.
    for (platform, versions) in points.iter_mut() {
        let earliest = libraries
            .values()
            .filter(|l| &l.platform == platform)
            .map(|l| l.range.added)
            .min()
            .flatten();
        let chosen = selected.version_for(platform);
        if let Some(earliest) = earliest {
            versions.retain(|v| *v >= earliest || *v == chosen);
        }
    }
    let varying: Vec<&String> = points
        .iter()
        .filter(|(_, versions)| versions.len() > 1)
        .map(|(platform, _)| platform)
        .collect();
    let qualify = varying.len() > 1;
    let label = |platform: &str, version: Version| {
        if qualify {
            format!("{platform}:{version}")
        } else {
            format!("version {version}")
        }
    };
    let mut checks = Vec::new();
    let mut selected_index = None;
    for (platform, versions) in &points {
        for &version in versions {
            if version == selected.version_for(platform) {
                if selected_index.is_some() {
                    continue; // one run covers the selected versions
                }
                selected_index = Some(checks.len());
            }
            checks.push((
                selected.clone().with(platform, version),
                label(platform, version),
            ));
        }
    }
    let selected_index = selected_index.unwrap_or_else(|| {
        checks.push((selected.clone(), "the selected versions".to_string()));
        checks.len() - 1
    });
    Plan {
        checks,
        selected: selected_index,
        diagnostics: validation.diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_and_parse() {
        assert!(Version::parse("5").unwrap() < Version::NEXT);
        assert!(Version::NEXT < Version::HEAD);
        assert_eq!(Version::parse("HEAD"), Some(Version::HEAD));
        assert_eq!(Version::parse("0"), None);
        assert_eq!(Version::parse("2147483648"), None);
        assert_eq!(Version::from_number(4292870144), Some(Version::HEAD));
        assert_eq!(Version::NEXT.to_string(), "NEXT");
    }

    #[test]
    fn selection_by_platform() {
        let selection = Selection::parse(["fuchsia:12", "7"]).unwrap();
        assert_eq!(selection.version_for("fuchsia").to_string(), "12");
        assert_eq!(selection.version_for("other").to_string(), "7");
        assert_eq!(Selection::default().version_for("fuchsia"), Version::HEAD);
        assert!(Selection::parse(["fuchsia:zero"]).is_err());
        assert!(Selection::parse(["Fu:1"]).is_err());
    }
}
