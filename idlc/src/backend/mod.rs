//! Code generators. Each reads only the IR.

pub mod c;
pub mod python;
pub mod rust;
