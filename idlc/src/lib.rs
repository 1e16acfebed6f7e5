//! `idlc`: a compiler for FIDL, the Fuchsia interface definition language.
//!
//! The pipeline follows fidlc's: each step reports every error it can find
//! before the compilation stops at the step's boundary.
//!
//! 1. [`syntax`]: a pest grammar produces a raw AST with spans, per file.
//!    [`versioning`] checks `@available` once and cuts the AST into one
//!    snapshot per version to check (the selected one gives the IR).
//! 2. [`resolve`]: files are grouped into libraries, names are resolved
//!    across files and libraries into an arena of declarations addressed by
//!    typed ids, and types, constants and attributes are checked.
//! 3. [`layout`]: sizes, alignment, padding, handle and out-of-line bounds,
//!    recursion through indirection only.
//! 4. [`ir`]: the JSON IR, the documented contract every backend reads
//!    (`docs/idl-ir.md`).
//! 5. [`backend`]: code generators that read only the IR.
//!
//! The core does no I/O: callers put sources in a [`source::SourceMap`] and
//! get an IR value or [`diagnostics::Diagnostic`]s back.
//!
//! Known gaps are listed in `docs/idl-language.md`.

pub mod compile;
pub mod diagnostics;
pub mod ir;
pub mod layout;
pub mod resolve;
pub mod source;
pub mod syntax;

pub use compile::{compile, CompileOptions};
pub mod backend;
pub mod driver;
pub mod gidl;
pub mod versioning;
