//! Syntax: the pest grammar and the raw AST it produces.

pub mod ast;
mod parser;

pub use parser::{parse, MAX_NESTING};
