//! Code generators. Each reads only the IR.

pub mod c;
pub mod rust;
