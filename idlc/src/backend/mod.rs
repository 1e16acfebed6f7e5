//! Code generators. Each reads only the IR.

pub mod rust;
