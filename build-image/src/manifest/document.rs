//! From a parsed JSON5 value to a typed [`Manifest`], checking what one
//! file can show on its own: known keys, value types, value syntax, limits,
//! and duplicate names. Every typed value keeps its span for the checks
//! that need the whole tree (`tree.rs`, `routing.rs`).

use super::diagnostic::{did_you_mean, source_file, Code, Diagnostic, SourceFile};
use super::json5::{self, Kind, Member, Number, Span, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// One manifest file, checked on its own.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Its name: the file name without `.json5`.
    pub name: String,
    pub file: SourceFile,
    pub program: Option<Program>,
    /// Capabilities it declares (serves from its outgoing directory).
    pub capabilities: Vec<Capability>,
    pub uses: Vec<Use>,
    pub offers: Vec<Offer>,
    pub exposes: Vec<Expose>,
    pub children: Vec<Child>,
    pub collections: Vec<Spanned<String>>,
    pub limits: Limits,
    /// `library/Type` of its hot-swap state.
    pub state: Option<Spanned<String>>,
    /// `swap_grace_ms`: how long a new version must run after a hot-swap
    /// before the swap is final (`None`: the default, 2 s).
    pub swap_grace_ms: Option<u32>,
    /// For a driver: the devices it binds to (`driver.bind`).
    pub driver: Vec<DeviceMatch>,
}

/// One `driver.bind` entry; `None` matches every value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceMatch {
    pub vendor: Option<u16>,
    pub device: Option<u16>,
    pub class: Option<u8>,
    pub subclass: Option<u8>,
}

#[derive(Debug, Clone)]
pub struct Program {
    /// The workspace binary (`bin/<name>` in the manifest, the name here).
    pub binary: Spanned<String>,
    pub args: Vec<String>,
}

/// What a capability is. A protocol is named by its IDL discoverable name
/// (`library.Protocol`, always with a dot); a directory like a child
/// (`[a-z0-9_-]`, never a dot): names of the two kinds never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CapabilityKind {
    /// A protocol, used through the component's `/svc`.
    Protocol,
    /// A read-only directory, used at a path of the component's namespace.
    Directory,
    /// A kernel resource (`debug`, `power`, …): the right to use a
    /// privileged kernel service, handed over as a start-up handle. Only
    /// the component manager provides them; see [`RESOURCES`].
    Resource,
}

/// The resources the component manager can hand out, by manifest name:
/// each is a kernel resource narrowed from the root resource at boot
/// (`zx_abi::processargs::RESOURCE_NAMES`).
pub const RESOURCES: &[&str] = &{
    let mut names = [""; zx_abi::processargs::RESOURCE_NAMES.len()];
    let mut index = 0;
    while index < names.len() {
        names[index] = zx_abi::processargs::RESOURCE_NAMES[index].0;
        index += 1;
    }
    names
};

impl CapabilityKind {
    /// The key that names one in a manifest: `protocol` or `directory`.
    pub fn key(self) -> &'static str {
        match self {
            CapabilityKind::Protocol => "protocol",
            CapabilityKind::Directory => "directory",
            CapabilityKind::Resource => "resource",
        }
    }
}

impl fmt::Display for CapabilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A capability the component declares (an entry of `capabilities`).
#[derive(Debug, Clone)]
pub struct Capability {
    pub kind: CapabilityKind,
    pub name: Spanned<String>,
}

/// A capability the component uses (an entry of `use`).
#[derive(Debug, Clone)]
pub struct Use {
    pub kind: CapabilityKind,
    pub name: Spanned<String>,
    /// Where a directory appears in the namespace (`/boot`); `None` for a
    /// protocol (it appears in `/svc`).
    pub path: Option<Spanned<String>>,
    /// `from: "framework"`: the component manager's `zx.component.Realm`,
    /// scoped to this component, rather than a route from the parent.
    pub from_framework: bool,
}

/// The one capability a component may use `from: "framework"`.
pub const FRAMEWORK_PROTOCOL: &str = "zx.component.Realm";

/// Where an offered or exposed capability comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Parent,
    Self_,
    Child(String),
}

#[derive(Debug, Clone)]
pub struct Offer {
    pub kind: CapabilityKind,
    pub name: Spanned<String>,
    pub from: Spanned<Source>,
    /// The target child's name (without `#`).
    pub to: Spanned<String>,
}

#[derive(Debug, Clone)]
pub struct Expose {
    pub kind: CapabilityKind,
    pub name: Spanned<String>,
    pub from: Spanned<Source>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    Eager,
    Lazy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTerminate {
    None,
    Restart,
}

#[derive(Debug, Clone)]
pub struct Child {
    pub name: Spanned<String>,
    pub manifest: Spanned<String>,
    pub startup: Startup,
    pub on_terminate: OnTerminate,
}

/// Resource limits (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    pub handles: u32,
    pub threads: u32,
    pub processes: u32,
    /// Most component instances below it (the component manager's).
    pub components: u32,
    /// Most connections the component manager serves its subtree.
    pub connections: u32,
}

/// The longest child, collection, manifest or directory name (`string:100`
/// in the IDL for the first three).
pub const MAX_NAME: usize = 100;
/// The longest protocol name, binary path, argument, state type or
/// namespace path (`string:256`).
pub const MAX_STRING: usize = 256;

/// The longest hot-swap grace period a manifest may ask for.
pub const MAX_SWAP_GRACE_MS: u32 = 60_000;

const TOP_KEYS: &[&str] = &[
    "program",
    "capabilities",
    "use",
    "offer",
    "expose",
    "children",
    "collections",
    "limits",
    "state",
    "swap_grace_ms",
    "driver",
];

/// Reads manifest `name` (whose text is `text`, shown as `path`). Returns
/// the manifest as far as it could be read, and every problem found.
pub fn read(name: &str, path: &str, text: String) -> (Option<Manifest>, Vec<Diagnostic>) {
    let file = source_file(path, text);
    let mut reader = Reader {
        file: file.clone(),
        diagnostics: Vec::new(),
    };
    let value = match json5::parse(file.inner()) {
        Ok(value) => value,
        Err(error) => {
            reader.report(
                Code::Syntax,
                error.message.clone(),
                error.span,
                error.message,
                "manifests are JSON5: an object of keys and values; see docs/manifests.md",
            );
            return (None, reader.diagnostics);
        }
    };
    let manifest = reader.manifest(name, &value);
    (manifest, reader.diagnostics)
}

struct Reader {
    file: SourceFile,
    diagnostics: Vec<Diagnostic>,
}

impl Reader {
    fn report(
        &mut self,
        code: Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diagnostics.push(Diagnostic {
            code,
            message: message.into(),
            file: self.file.clone(),
            span,
            label: label.into(),
            help: help.into(),
        });
    }

    fn wrong_type(&mut self, value: &Value, expected: &str, context: &str) {
        self.report(
            Code::WrongType,
            format!(
                "{context} must be {expected}, not {}",
                value.kind.describe()
            ),
            value.span.clone(),
            format!("expected {expected}"),
            format!("write {context} as {expected}; see docs/manifests.md"),
        );
    }

    /// The members of an object, checking that it is one, that its keys are
    /// among `known`, unique, and that `required` keys are present.
    fn object<'v>(
        &mut self,
        value: &'v Value,
        context: &str,
        known: &[&str],
        required: &[&str],
    ) -> Option<BTreeMap<&'v str, &'v Member>> {
        let Kind::Object(members) = &value.kind else {
            self.wrong_type(value, "an object", context);
            return None;
        };
        let mut by_key: BTreeMap<&str, &Member> = BTreeMap::new();
        for member in members {
            if !known.contains(&member.key.as_str()) {
                let suggestion = did_you_mean(&member.key, known.iter().copied());
                self.report(
                    Code::UnknownKey,
                    format!("unknown key `{}` in {context}", member.key),
                    member.key_span.clone(),
                    "unknown key",
                    format!("{suggestion}{context} accepts: {}", known.join(", ")),
                );
                continue;
            }
            if let Some(first) = by_key.get(member.key.as_str()) {
                let line = line_of(self.file.inner(), first.key_span.start);
                self.report(
                    Code::Duplicate,
                    format!("key `{}` appears twice in {context}", member.key),
                    member.key_span.clone(),
                    "second occurrence",
                    format!("remove one of them (the first is on line {line})"),
                );
                continue;
            }
            by_key.insert(&member.key, member);
        }
        for key in required {
            if !by_key.contains_key(key) {
                self.report(
                    Code::MissingKey,
                    format!("{context} has no `{key}`"),
                    value.span.start..value.span.start + 1,
                    format!("`{key}` is required here"),
                    format!("add `{key}: …` here"),
                );
            }
        }
        Some(by_key)
    }

    fn string(&mut self, value: &Value, context: &str, max: usize) -> Option<Spanned<String>> {
        let Kind::String(text) = &value.kind else {
            self.wrong_type(value, "a string", context);
            return None;
        };
        if text.is_empty() || text.len() > max {
            self.report(
                Code::InvalidValue,
                format!("{context} must have 1 to {max} bytes"),
                value.span.clone(),
                format!("{} bytes", text.len()),
                format!("shorten or fill in {context}"),
            );
            return None;
        }
        Some(Spanned {
            value: text.clone(),
            span: value.span.clone(),
        })
    }

    fn array<'v>(&mut self, value: &'v Value, context: &str) -> &'v [Value] {
        match &value.kind {
            Kind::Array(items) => items,
            _ => {
                self.wrong_type(value, "an array", context);
                &[]
            }
        }
    }

    /// A child, collection or manifest name: `[a-z0-9_-]`, starting with a
    /// letter or digit.
    fn name(&mut self, value: &Value, context: &str) -> Option<Spanned<String>> {
        let name = self.string(value, context, MAX_NAME)?;
        if !is_valid_name(&name.value) {
            self.report(
                Code::InvalidValue,
                format!("{context} `{}` is not a valid name", name.value),
                name.span,
                "not a name",
                "names use lowercase letters, digits, `_` and `-`, and start with a letter or digit",
            );
            return None;
        }
        Some(name)
    }

    /// The capability an entry names: exactly one of `protocol` (an IDL
    /// discoverable name, checked against the IDL later) and `directory`
    /// (a name like a child's).
    fn capability(
        &mut self,
        entry: &Value,
        fields: &BTreeMap<&str, &Member>,
        context: &str,
    ) -> Option<(CapabilityKind, Spanned<String>)> {
        let mut present: Vec<&Member> = ["protocol", "directory", "resource"]
            .iter()
            .filter_map(|key| fields.get(key).copied())
            .collect();
        present.sort_by_key(|member| member.key_span.start);
        match present.as_slice() {
            [] => {
                self.report(
                    Code::MissingKey,
                    format!("{context} has no `protocol`, `directory` or `resource`"),
                    entry.span.start..entry.span.start + 1,
                    "`protocol`, `directory` or `resource` is required here",
                    "name the capability: add `protocol: \"<library.Protocol>\"` or `directory: \"<name>\"`",
                );
                None
            }
            [member] => match member.key.as_str() {
                "protocol" => self
                    .string(&member.value, "`protocol`", MAX_STRING)
                    .map(|name| (CapabilityKind::Protocol, name)),
                "directory" => self
                    .directory_name(&member.value)
                    .map(|name| (CapabilityKind::Directory, name)),
                _ => self
                    .resource_name(&member.value)
                    .map(|name| (CapabilityKind::Resource, name)),
            },
            [first, second, ..] => {
                self.report(
                    Code::InvalidValue,
                    format!("{context} has both `{}` and `{}`", first.key, second.key),
                    second.key_span.clone(),
                    format!("a second capability, after `{}`", first.key),
                    format!(
                        "an entry names one capability: keep `{}` or `{}`, and write the other as an entry of its own",
                        first.key, second.key
                    ),
                );
                None
            }
        }
    }

    /// A resource name: one of [`RESOURCES`].
    fn resource_name(&mut self, value: &Value) -> Option<Spanned<String>> {
        let name = self.string(value, "the resource name", MAX_NAME)?;
        if !RESOURCES.contains(&name.value.as_str()) {
            let suggestion = did_you_mean(&name.value, RESOURCES.iter().copied());
            self.report(
                Code::InvalidValue,
                format!("`{}` is not a resource", name.value),
                name.span,
                "not a resource name",
                format!(
                    "{suggestion}the component manager provides these resources: {}",
                    RESOURCES.join(", ")
                ),
            );
            return None;
        }
        Some(name)
    }

    /// Reports a resource where only the component manager may provide one
    /// (declared in `capabilities`, exposed, or offered from `self` or a
    /// child).
    fn resource_not_served(&mut self, name: &Spanned<String>, what: &str) {
        self.report(
            Code::InvalidValue,
            format!("resource `{}` cannot be {what}", name.value),
            name.span.clone(),
            "only the component manager provides resources",
            "a resource comes from the component manager: use it, or offer it `from: \"parent\"` to a child",
        );
    }

    /// A directory name: the rule of child names (so never a dot, and
    /// never the name of a protocol).
    fn directory_name(&mut self, value: &Value) -> Option<Spanned<String>> {
        let name = self.string(value, "the directory name", MAX_NAME)?;
        if !is_valid_name(&name.value) {
            let hint = if name.value.contains('.') {
                format!(
                    "; `{}` looks like a protocol: write `protocol: \"{}\"`",
                    name.value, name.value
                )
            } else {
                String::new()
            };
            self.report(
                Code::InvalidValue,
                format!("the directory name `{}` is not a valid name", name.value),
                name.span,
                "not a directory name",
                format!(
                    "directories are named like children: lowercase letters, digits, `_` and `-`, starting with a letter or digit{hint}"
                ),
            );
            return None;
        }
        Some(name)
    }

    fn capabilities(&mut self, value: &Value) -> Vec<Capability> {
        let mut out = Vec::new();
        let context = "an entry of `capabilities`";
        for item in self.array(value, "`capabilities`") {
            let Some(fields) =
                self.object(item, context, &["protocol", "directory", "resource"], &[])
            else {
                continue;
            };
            match self.capability(item, &fields, context) {
                Some((CapabilityKind::Resource, name)) => {
                    self.resource_not_served(&name, "declared in `capabilities`")
                }
                Some((kind, name)) => out.push(Capability { kind, name }),
                None => {}
            }
        }
        out
    }

    fn uses(&mut self, value: &Value) -> Vec<Use> {
        let mut out = Vec::new();
        let context = "an entry of `use`";
        for item in self.array(value, "`use`") {
            let Some(fields) = self.object(
                item,
                context,
                &["protocol", "directory", "resource", "path", "from"],
                &[],
            ) else {
                continue;
            };
            let capability = self.capability(item, &fields, context);
            let from = fields.get("from").map(|member| &member.value);
            let from_framework = match from.and_then(|v| self.string(v, "`from`", MAX_NAME)) {
                None => false,
                Some(from) if from.value == "parent" => false,
                Some(from) if from.value == "framework" => {
                    let realm = capability.as_ref().is_some_and(|(kind, name)| {
                        *kind == CapabilityKind::Protocol && name.value == FRAMEWORK_PROTOCOL
                    });
                    if !realm {
                        self.report(
                            Code::InvalidValue,
                            "only `zx.component.Realm` can be used from the framework",
                            from.span.clone(),
                            "not a framework capability",
                            "use it from the parent (remove `from`), which must offer it",
                        );
                        continue;
                    }
                    true
                }
                Some(from) => {
                    self.report(
                        Code::InvalidValue,
                        format!("`from: \"{}\"` is not a source for a use", from.value),
                        from.span.clone(),
                        "expected `parent` or `framework`",
                        "a use comes from the parent (the default) or, for `zx.component.Realm`, from `framework`",
                    );
                    continue;
                }
            };
            let path = fields.get("path").map(|member| &member.value);
            let Some((kind, name)) = capability else {
                // Still check the path, to report every problem at once.
                if let Some(path) = path {
                    self.path(path);
                }
                continue;
            };
            let path = match (kind, path) {
                (CapabilityKind::Protocol | CapabilityKind::Resource, None) => None,
                (CapabilityKind::Protocol, Some(path)) => {
                    self.report(
                        Code::InvalidValue,
                        format!(
                            "protocol `{}` is used in `/svc`: it takes no `path`",
                            name.value
                        ),
                        path.span.clone(),
                        "`path` is only for directories",
                        format!(
                            "remove `path`; a used protocol appears as `/svc/{}`",
                            name.value
                        ),
                    );
                    continue;
                }
                (CapabilityKind::Resource, Some(path)) => {
                    self.report(
                        Code::InvalidValue,
                        format!(
                            "resource `{}` is a start-up handle: it takes no `path`",
                            name.value
                        ),
                        path.span.clone(),
                        "`path` is only for directories",
                        "remove `path`; the component takes the resource with `zx_component::resource(\"<name>\")`",
                    );
                    continue;
                }
                (CapabilityKind::Directory, None) => {
                    self.report(
                        Code::MissingKey,
                        format!("the use of directory `{}` has no `path`", name.value),
                        name.span.clone(),
                        "used without a `path`",
                        format!(
                            "add where it appears in the namespace: `{{ directory: \"{}\", path: \"/{}\" }}`",
                            name.value, name.value
                        ),
                    );
                    continue;
                }
                (CapabilityKind::Directory, Some(path)) => match self.path(path) {
                    Some(path) => Some(path),
                    None => continue,
                },
            };
            out.push(Use {
                kind,
                name,
                path,
                from_framework,
            });
        }
        out
    }

    /// A namespace path for a used directory: absolute, `/`-separated
    /// segments (letters, digits, `_`, `-`, `.`; none empty, `.` or `..`),
    /// not `/` and not in `/svc`.
    fn path(&mut self, value: &Value) -> Option<Spanned<String>> {
        let path = self.string(value, "`path`", MAX_STRING)?;
        let text = path.value.as_str();
        let bad_segment = text
            .strip_prefix('/')
            .and_then(|rest| rest.split('/').find(|s| !is_path_segment(s)));
        let (message, label, help) = if !text.starts_with('/') {
            (
                format!("`path: \"{text}\"` is not an absolute path"),
                "expected `/…`".to_string(),
                "a directory's path in the namespace starts with `/`, e.g. `/boot`".to_string(),
            )
        } else if text == "/" {
            (
                "`path: \"/\"` is the root of the namespace".to_string(),
                "the whole namespace".to_string(),
                "a directory goes below the root, e.g. at `/boot`".to_string(),
            )
        } else if let Some(segment) = bad_segment {
            (
                format!("`path: \"{text}\"` is not a valid path"),
                if segment.is_empty() {
                    "an empty segment".to_string()
                } else {
                    format!("bad segment `{segment}`")
                },
                "paths are `/`-separated segments of letters, digits, `_`, `-` and `.`, none empty, `.` or `..`".to_string(),
            )
        } else if text == "/svc" || text.starts_with("/svc/") {
            (
                format!("`path: \"{text}\"` is in `/svc`"),
                "reserved for protocols".to_string(),
                "`/svc` holds the protocols the component uses; put the directory elsewhere, e.g. `/data`".to_string(),
            )
        } else {
            return Some(path);
        };
        self.report(Code::InvalidValue, message, path.span, label, help);
        None
    }

    fn source(&mut self, value: &Value, allow_parent: bool) -> Option<Spanned<Source>> {
        let text = self.string(value, "`from`", MAX_NAME + 1)?;
        let source = match text.value.as_str() {
            "parent" if allow_parent => Some(Source::Parent),
            "self" => Some(Source::Self_),
            other => other
                .strip_prefix('#')
                .filter(|name| is_valid_name(name))
                .map(|name| Source::Child(name.into())),
        };
        match source {
            Some(value) => Some(Spanned {
                value,
                span: text.span,
            }),
            None => {
                let allowed = if allow_parent {
                    "`parent`, `self` or `#<child>`"
                } else {
                    "`self` or `#<child>`"
                };
                self.report(
                    Code::InvalidValue,
                    format!("`from: \"{}\"` is not a source", text.value),
                    text.span,
                    format!("expected {allowed}"),
                    format!("write {allowed}"),
                );
                None
            }
        }
    }

    fn manifest(&mut self, name: &str, value: &Value) -> Option<Manifest> {
        let top = self.object(value, "the manifest", TOP_KEYS, &[])?;
        let mut manifest = Manifest {
            name: name.into(),
            file: self.file.clone(),
            program: None,
            capabilities: Vec::new(),
            uses: Vec::new(),
            offers: Vec::new(),
            exposes: Vec::new(),
            children: Vec::new(),
            collections: Vec::new(),
            limits: Limits::default(),
            state: None,
            swap_grace_ms: None,
            driver: Vec::new(),
        };
        if let Some(member) = top.get("program") {
            manifest.program = self.program(&member.value);
        }
        if let Some(member) = top.get("capabilities") {
            manifest.capabilities = self.capabilities(&member.value);
        }
        if let Some(member) = top.get("use") {
            manifest.uses = self.uses(&member.value);
        }
        if let Some(member) = top.get("offer") {
            for item in self.array(&member.value, "`offer`") {
                manifest.offers.extend(self.offer(item));
            }
        }
        if let Some(member) = top.get("expose") {
            for item in self.array(&member.value, "`expose`") {
                manifest.exposes.extend(self.expose(item));
            }
        }
        if let Some(member) = top.get("children") {
            for item in self.array(&member.value, "`children`") {
                manifest.children.extend(self.child(item));
            }
        }
        if let Some(member) = top.get("collections") {
            for item in self.array(&member.value, "`collections`") {
                let Some(fields) = self.object(item, "a collection", &["name"], &["name"]) else {
                    continue;
                };
                if let Some(name) = fields
                    .get("name")
                    .and_then(|m| self.name(&m.value, "the collection name"))
                {
                    manifest.collections.push(name);
                }
            }
        }
        if let Some(member) = top.get("limits") {
            manifest.limits = self.limits(&member.value);
        }
        if let Some(member) = top.get("state") {
            manifest.state = self.state(&member.value);
        }
        if let Some(member) = top.get("swap_grace_ms") {
            manifest.swap_grace_ms = self.swap_grace(&member.value, manifest.state.is_some());
        }
        if let Some(member) = top.get("driver") {
            manifest.driver = self.driver(&member.value);
        }
        self.duplicates(&manifest);
        Some(manifest)
    }

    fn program(&mut self, value: &Value) -> Option<Program> {
        let fields = self.object(value, "`program`", &["binary", "args"], &["binary"])?;
        let mut args = Vec::new();
        if let Some(member) = fields.get("args") {
            for arg in self.array(&member.value, "`program.args`") {
                if let Some(arg) = self.string(arg, "an argument", MAX_STRING) {
                    args.push(arg.value);
                }
            }
        }
        let binary = self.string(&fields.get("binary")?.value, "`program.binary`", MAX_STRING)?;
        let Some(program) = binary
            .value
            .strip_prefix("bin/")
            .filter(|name| !name.is_empty() && !name.contains('/'))
        else {
            self.report(
                Code::InvalidValue,
                format!("`{}` is not a bootfs binary path", binary.value),
                binary.span,
                "expected `bin/<name>`",
                "programs are workspace binaries, placed in the bootfs as `bin/<binary target name>`",
            );
            return None;
        };
        Some(Program {
            binary: Spanned {
                value: program.into(),
                span: binary.span,
            },
            args,
        })
    }

    fn offer(&mut self, value: &Value) -> Option<Offer> {
        let fields = self.object(
            value,
            "an offer",
            &["protocol", "directory", "resource", "from", "to"],
            &["from", "to"],
        )?;
        let capability = self.capability(value, &fields, "an offer");
        let from = self.source(&fields.get("from")?.value, true);
        let to_value = &fields.get("to")?.value;
        let to = self.string(to_value, "`to`", MAX_NAME + 1).and_then(|to| {
            match to.value.strip_prefix('#').filter(|n| is_valid_name(n)) {
                Some(name) => Some(Spanned {
                    value: name.to_string(),
                    span: to.span,
                }),
                None => {
                    self.report(
                        Code::InvalidValue,
                        format!("`to: \"{}\"` is not a child reference", to.value),
                        to.span,
                        "expected `#<child>`",
                        "offers go to a child, written `#<child name>`",
                    );
                    None
                }
            }
        });
        let (kind, name) = capability?;
        let from = from?;
        if kind == CapabilityKind::Resource && from.value != Source::Parent {
            self.resource_not_served(&name, "offered from `self` or a child");
            return None;
        }
        Some(Offer {
            kind,
            name,
            from,
            to: to?,
        })
    }

    fn expose(&mut self, value: &Value) -> Option<Expose> {
        let fields = self.object(
            value,
            "an expose",
            &["protocol", "directory", "resource", "from"],
            &["from"],
        )?;
        let capability = self.capability(value, &fields, "an expose");
        let from = self.source(&fields.get("from")?.value, false);
        let (kind, name) = capability?;
        if kind == CapabilityKind::Resource {
            self.resource_not_served(&name, "exposed");
            return None;
        }
        Some(Expose {
            kind,
            name,
            from: from?,
        })
    }

    fn child(&mut self, value: &Value) -> Option<Child> {
        let fields = self.object(
            value,
            "a child",
            &["name", "manifest", "startup", "on_terminate"],
            &["name", "manifest"],
        )?;
        let name = self.name(&fields.get("name")?.value, "the child name");
        let manifest = self.name(&fields.get("manifest")?.value, "the child's manifest");
        let startup = match fields.get("startup") {
            None => Some(Startup::Lazy),
            Some(member) => self.choice(
                &member.value,
                "`startup`",
                &[("eager", Startup::Eager), ("lazy", Startup::Lazy)],
            ),
        };
        let on_terminate = match fields.get("on_terminate") {
            None => Some(OnTerminate::None),
            Some(member) => self.choice(
                &member.value,
                "`on_terminate`",
                &[
                    ("none", OnTerminate::None),
                    ("restart", OnTerminate::Restart),
                ],
            ),
        };
        // A bad `startup` or `on_terminate` is reported above; the child
        // is still declared (with the default in its place), so that
        // offers to it and routes through it raise no follow-on errors.
        Some(Child {
            name: name?,
            manifest: manifest?,
            startup: startup.unwrap_or(Startup::Lazy),
            on_terminate: on_terminate.unwrap_or(OnTerminate::None),
        })
    }

    fn choice<T: Copy>(
        &mut self,
        value: &Value,
        context: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let text = self.string(value, context, MAX_NAME)?;
        if let Some((_, choice)) = choices.iter().find(|(word, _)| *word == text.value) {
            return Some(*choice);
        }
        let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
        let suggestion = did_you_mean(&text.value, words.iter().copied());
        self.report(
            Code::InvalidValue,
            format!("{context} cannot be `{}`", text.value),
            text.span,
            format!("expected one of: {}", words.join(", ")),
            format!("{suggestion}{context} is one of: {}", words.join(", ")),
        );
        None
    }

    fn driver(&mut self, value: &Value) -> Vec<DeviceMatch> {
        let mut matches = Vec::new();
        let Some(fields) = self.object(value, "`driver`", &["bind"], &["bind"]) else {
            return matches;
        };
        let Some(bind) = fields.get("bind") else {
            return matches;
        };
        for item in self.array(&bind.value, "`driver.bind`") {
            let keys = ["vendor", "device", "class", "subclass"];
            let Some(fields) = self.object(item, "a device match", &keys, &[]) else {
                continue;
            };
            let mut found = DeviceMatch::default();
            for key in keys {
                let Some(member) = fields.get(key) else {
                    continue;
                };
                let limit: i128 = if key == "vendor" || key == "device" {
                    0xffff
                } else {
                    0xff
                };
                match &member.value.kind {
                    Kind::Number(Number::Integer(n)) if (0..=limit).contains(n) => match key {
                        "vendor" => found.vendor = Some(*n as u16),
                        "device" => found.device = Some(*n as u16),
                        "class" => found.class = Some(*n as u8),
                        _ => found.subclass = Some(*n as u8),
                    },
                    _ => self.report(
                        Code::InvalidValue,
                        format!("`{key}` must be a whole number from 0 to {limit:#x}"),
                        member.value.span.clone(),
                        "not a PCI id",
                        "write a PCI id such as `vendor: 0x1af4, device: 0x1042`",
                    ),
                }
            }
            matches.push(found);
        }
        matches
    }

    fn limits(&mut self, value: &Value) -> Limits {
        let mut limits = Limits::default();
        let Some(fields) = self.object(
            value,
            "`limits`",
            &[
                "memory",
                "handles",
                "threads",
                "processes",
                "components",
                "connections",
            ],
            &[],
        ) else {
            return limits;
        };
        if let Some(member) = fields.get("memory") {
            if let Some(bytes) = self.memory(&member.value) {
                limits.memory_bytes = bytes;
            }
        }
        for (key, slot) in [
            ("handles", &mut limits.handles),
            ("threads", &mut limits.threads),
            ("processes", &mut limits.processes),
            ("components", &mut limits.components),
            ("connections", &mut limits.connections),
        ] {
            let Some(member) = fields.get(key) else {
                continue;
            };
            match &member.value.kind {
                Kind::Number(Number::Integer(n)) if (0..=u32::MAX as i128).contains(n) => {
                    *slot = *n as u32;
                }
                _ => self.report(
                    Code::BadLimit,
                    format!(
                        "`limits.{key}` must be a whole number from 0 to {}",
                        u32::MAX
                    ),
                    member.value.span.clone(),
                    "not a count",
                    format!("write a count such as `{key}: 64` (0: no limit)"),
                ),
            }
        }
        limits
    }

    fn memory(&mut self, value: &Value) -> Option<u64> {
        let bytes = match &value.kind {
            Kind::Number(Number::Integer(n)) => u64::try_from(*n).ok(),
            Kind::String(text) => parse_size(text),
            _ => None,
        };
        if bytes.is_none() {
            self.report(
                Code::BadLimit,
                "`limits.memory` is not a size",
                value.span.clone(),
                "not a size",
                "write bytes (`16777216`) or a size with a binary unit: `64KiB`, `16MiB`, `1GiB` (0: no limit)",
            );
        }
        bytes
    }

    /// `swap_grace_ms`: 1 ms to 1 min, and only beside a `state`.
    fn swap_grace(&mut self, value: &Value, has_state: bool) -> Option<u32> {
        let grace = match &value.kind {
            Kind::Number(Number::Integer(n)) if (1..=MAX_SWAP_GRACE_MS as i128).contains(n) => {
                *n as u32
            }
            _ => {
                self.report(
                    Code::InvalidValue,
                    format!("`swap_grace_ms` must be a whole number from 1 to {MAX_SWAP_GRACE_MS}"),
                    value.span.clone(),
                    "not a grace period",
                    "write milliseconds of guest time, e.g. `swap_grace_ms: 2000`",
                );
                return None;
            }
        };
        if !has_state {
            self.report(
                Code::InvalidValue,
                "`swap_grace_ms` without a `state`: only a component with a state can be swapped",
                value.span.clone(),
                "no `state` in this manifest",
                "declare the component's state table (`state: \"library/Type\"`) or remove this key",
            );
            return None;
        }
        Some(grace)
    }

    fn state(&mut self, value: &Value) -> Option<Spanned<String>> {
        let text = self.string(value, "`state`", MAX_STRING)?;
        let well_formed = text.value.split_once('/').is_some_and(|(library, ty)| {
            !library.is_empty() && library.split('.').all(is_identifier) && is_identifier(ty)
        });
        if !well_formed {
            self.report(
                Code::InvalidValue,
                format!("`state: \"{}\"` is not an IDL type name", text.value),
                text.span,
                "expected `library/Type`",
                "name the IDL table, e.g. `examples.echo/EchoState`",
            );
            return None;
        }
        Some(text)
    }

    /// Names that must be unique in one manifest.
    fn duplicates(&mut self, manifest: &Manifest) {
        let check = |reader: &mut Reader, what: &str, items: Vec<(String, Span)>| {
            let mut seen: BTreeMap<String, Span> = BTreeMap::new();
            for (name, span) in items {
                if let Some(first) = seen.get(&name) {
                    let line = line_of(reader.file.inner(), first.start);
                    reader.report(
                        Code::Duplicate,
                        format!("{what} `{name}` is declared twice"),
                        span,
                        "declared again here",
                        format!("remove or rename one of them (the first is on line {line})"),
                    );
                } else {
                    seen.insert(name, span);
                }
            }
        };
        let names = |list: &[Spanned<String>]| {
            list.iter()
                .map(|s| (s.value.clone(), s.span.clone()))
                .collect::<Vec<_>>()
        };
        // Children and collections share one namespace: both are named
        // `#name` in references.
        let mut realm: Vec<(String, Span)> = manifest
            .children
            .iter()
            .map(|c| (c.name.value.clone(), c.name.span.clone()))
            .collect();
        realm.extend(names(&manifest.collections));
        check(self, "child or collection", realm);
        // Capabilities are matched by name: protocol and directory names
        // never collide (only protocols have dots).
        check(
            self,
            "capability",
            manifest
                .capabilities
                .iter()
                .map(|c| (c.name.value.clone(), c.name.span.clone()))
                .collect(),
        );
        check(
            self,
            "use of",
            manifest
                .uses
                .iter()
                .map(|u| (u.name.value.clone(), u.name.span.clone()))
                .collect(),
        );
        check(
            self,
            "expose of",
            manifest
                .exposes
                .iter()
                .map(|e| (e.name.value.clone(), e.name.span.clone()))
                .collect(),
        );
        check(
            self,
            "offer of",
            manifest
                .offers
                .iter()
                .map(|o| {
                    (
                        format!("{}` to `#{}", o.name.value, o.to.value),
                        o.name.span.clone(),
                    )
                })
                .collect(),
        );
        self.overlapping_paths(manifest);
    }

    /// Two directory uses at the same path, or one inside the other's
    /// (`/a` and `/a/b`): each path is reported once, at the repeated or
    /// the inner one.
    fn overlapping_paths(&mut self, manifest: &Manifest) {
        let paths: Vec<(&Spanned<String>, &Spanned<String>)> = manifest
            .uses
            .iter()
            .filter_map(|u| Some((u.path.as_ref()?, &u.name)))
            .collect();
        for (index, (path, name)) in paths.iter().enumerate() {
            let repeated = paths[..index].iter().find(|(p, _)| p.value == path.value);
            let outer = paths.iter().find(|(p, _)| is_inside(&path.value, &p.value));
            if let Some((first, other)) = repeated {
                let line = line_of(self.file.inner(), first.span.start);
                self.report(
                    Code::Duplicate,
                    format!("path `{}` is used twice", path.value),
                    path.span.clone(),
                    "used again here",
                    format!(
                        "each directory needs a path of its own: `{}` is at `{}` too (line {line})",
                        other.value, first.value
                    ),
                );
            } else if let Some((outer, other)) = outer {
                let line = line_of(self.file.inner(), outer.span.start);
                self.report(
                    Code::InvalidValue,
                    format!(
                        "path `{}` is inside `{}`, the path of directory `{}`",
                        path.value, outer.value, other.value
                    ),
                    path.span.clone(),
                    "inside another directory's path",
                    format!(
                        "directories cannot be nested in the namespace: move `{}` out of `{}` (line {line})",
                        name.value, outer.value
                    ),
                );
            }
        }
    }
}

/// Whether namespace path `inner` is strictly below `outer` (`/a/b` in
/// `/a`, but not `/ab`).
fn is_inside(inner: &str, outer: &str) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// A segment of a namespace path: letters, digits, `_`, `-`, `.`; not
/// empty, `.` or `..`.
fn is_path_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Whether `name` may name a child, a collection, a manifest or a
/// directory.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_identifier(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `123`, `64KiB`, `16MiB`, `1GiB` (also `B`, `K`, `M`, `G`) in bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits.parse().ok()?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale)
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("16MB"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999999999999GiB"), None);
    }

    #[test]
    fn reads_every_key() {
        let text = r##"{
            program: { binary: "bin/echo-server", args: ["-v"] },
            capabilities: [{ protocol: "a.B" }],
            use: [{ protocol: "a.C" }],
            offer: [{ protocol: "a.C", from: "parent", to: "#kid" }],
            expose: [{ protocol: "a.B", from: "self" }],
            children: [{ name: "kid", manifest: "kid", startup: "eager", on_terminate: "restart" }],
            collections: [{ name: "dynamic" }],
            limits: { memory: "1MiB", handles: 10, threads: 2, processes: 3, components: 5, connections: 40 },
            state: "a/State",
            swap_grace_ms: 500,
            driver: { bind: [{ vendor: 0x1af4, device: 0x1042 }, { class: 1 }] },
        }"##;
        let (manifest, diagnostics) = read("m", "m.json5", text.into());
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let manifest = manifest.unwrap();
        assert_eq!(manifest.program.unwrap().binary.value, "echo-server");
        assert_eq!(manifest.offers[0].from.value, Source::Parent);
        assert_eq!(manifest.offers[0].to.value, "kid");
        assert_eq!(manifest.children[0].startup, Startup::Eager);
        assert_eq!(manifest.children[0].on_terminate, OnTerminate::Restart);
        assert_eq!(manifest.driver[0].vendor, Some(0x1af4));
        assert_eq!(manifest.driver[1].class, Some(1));
        assert_eq!(manifest.driver[1].device, None);
        assert_eq!(
            manifest.limits,
            Limits {
                memory_bytes: 1 << 20,
                handles: 10,
                threads: 2,
                processes: 3,
                components: 5,
                connections: 40,
            }
        );
        assert_eq!(manifest.state.unwrap().value, "a/State");
        assert_eq!(manifest.swap_grace_ms, Some(500));
        assert_eq!(manifest.capabilities[0].kind, CapabilityKind::Protocol);
        assert_eq!(manifest.uses[0].path, None);
        assert_eq!(manifest.offers[0].name.value, "a.C");
        assert_eq!(manifest.exposes[0].kind, CapabilityKind::Protocol);
    }

    #[test]
    fn a_swap_grace_period_needs_a_state_and_a_sane_value() {
        let read_grace = |text: &str| {
            let (manifest, diagnostics) = read("m", "m.json5", text.into());
            let messages: Vec<String> = diagnostics.iter().map(|d| d.message.clone()).collect();
            (manifest.and_then(|m| m.swap_grace_ms), messages)
        };
        assert_eq!(
            read_grace(r#"{ state: "a/S", swap_grace_ms: 2000 }"#),
            (Some(2000), vec![])
        );
        let (grace, messages) = read_grace(r#"{ swap_grace_ms: 2000 }"#);
        assert_eq!(grace, None);
        assert!(messages[0].contains("without a `state`"), "{messages:?}");
        for bad in ["0", "60001", "-1", "\"2s\"", "1.5"] {
            let (grace, messages) =
                read_grace(&format!(r#"{{ state: "a/S", swap_grace_ms: {bad} }}"#));
            assert_eq!(grace, None, "{bad}");
            assert!(
                messages[0].contains("must be a whole number from 1 to 60000"),
                "{bad}: {messages:?}"
            );
        }
    }

    #[test]
    fn reads_directories() {
        let text = r##"{
            capabilities: [{ directory: "logs" }],
            use: [{ directory: "boot", path: "/boot" }, { protocol: "a.B" }],
            offer: [{ directory: "boot", from: "parent", to: "#kid" }],
            expose: [{ directory: "logs", from: "self" }],
            children: [{ name: "kid", manifest: "kid" }],
        }"##;
        let (manifest, diagnostics) = read("m", "m.json5", text.into());
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let manifest = manifest.unwrap();
        let capability = &manifest.capabilities[0];
        assert_eq!(
            (capability.kind, capability.name.value.as_str()),
            (CapabilityKind::Directory, "logs")
        );
        let used = &manifest.uses[0];
        assert_eq!(
            (
                used.kind,
                used.name.value.as_str(),
                used.path.as_ref().map(|p| p.value.as_str())
            ),
            (CapabilityKind::Directory, "boot", Some("/boot"))
        );
        assert_eq!(manifest.uses[1].kind, CapabilityKind::Protocol);
        assert_eq!(manifest.offers[0].kind, CapabilityKind::Directory);
        assert_eq!(manifest.exposes[0].kind, CapabilityKind::Directory);
    }

    #[test]
    fn namespace_paths() {
        assert!(is_inside("/a/b", "/a"));
        assert!(!is_inside("/ab", "/a"));
        assert!(!is_inside("/a", "/a"));
        assert!(!is_inside("/a", "/a/b"));
        for segment in ["a", "a.b", "..a", "A-_9"] {
            assert!(is_path_segment(segment), "{segment}");
        }
        for segment in ["", ".", "..", "a b", "a\\b", "é"] {
            assert!(!is_path_segment(segment), "{segment}");
        }
    }
}
