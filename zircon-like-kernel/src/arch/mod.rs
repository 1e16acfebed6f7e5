//! Architecture support. Only x86_64 exists; the split keeps the portable
//! kernel (objects, scheduling policy, syscalls) free of register details.

pub mod x86_64;
