//! Fuzzing every message type of a set of libraries, and checking the
//! backends against each other (the differential check).
//!
//! The conformance suite's fuzz targets ([`super::c::fuzz_target`]) cover
//! the types the cases name; this module covers every struct, table and
//! union of whole libraries (the system's `idl/*.idl`):
//!
//! * [`seeds`]: for each type, a small valid value and a fuller one (every
//!   table member, one element per vector, optional values present) as
//!   GIDL values, which the Rust backend encodes into the fuzzers' seeds;
//! * [`c_harness`]: a C file with `idl_fuzz_roundtrip` (decode as type
//!   *n*, encode again) and, built with `-DIDL_LIBFUZZER`, a libFuzzer
//!   entry point checking that what decodes re-encodes canonically;
//! * [`rust_dispatch`]: the same round trip through the Rust bindings, so
//!   a test can feed one input to both decoders and demand the same
//!   verdict and the same bytes.
//!
//! A fuzz input is a three-byte selector (type index, little-endian `u16`,
//! modulo the type count; handle count, modulo 4) followed by the message.

use std::fmt::Write;

use serde_json::{json, Map, Value};

use super::{Decl, Decls};
use crate::backend::c::{library_file, type_name as c_type_name};
use crate::ir::{Ir, Primitive, Type, TypeKind};

/// The handles a fuzz input's message comes with (as many as its selector
/// says, in this order): number, object type (0: any), rights (all).
pub const HANDLES: [u32; 3] = [11, 12, 13];

/// Every struct, table and union of the named libraries (all of `ir`'s
/// when `libraries` is empty), fully qualified, in IR order.
pub fn message_types(ir: &Ir, libraries: &[&str]) -> Vec<String> {
    let mut types = Vec::new();
    for library in &ir.libraries {
        if !libraries.is_empty() && !libraries.contains(&library.name.as_str()) {
            continue;
        }
        types.extend(library.structs.iter().map(|s| s.name.clone()));
        types.extend(library.tables.iter().map(|t| t.name.clone()));
        types.extend(library.unions.iter().map(|u| u.name.clone()));
    }
    types
}

/// Seed values for a type: a minimal valid one and a fuller one.
pub fn seeds(ir: &Ir, qualified: &str) -> Vec<Value> {
    let decls = Decls::new(ir);
    let mut values = Vec::new();
    for full in [false, true] {
        let mut seeds = Seeds {
            decls: &decls,
            full,
            handles: 0,
        };
        if let Some(value) = seeds.named(qualified, 0) {
            if !values.contains(&value) {
                values.push(value);
            }
        }
    }
    values
}

struct Seeds<'a> {
    decls: &'a Decls<'a>,
    full: bool,
    handles: u32,
}

const DEPTH: u32 = 3;

impl Seeds<'_> {
    fn value(&mut self, ty: &Type, depth: u32) -> Option<Value> {
        let rich = self.full && depth < DEPTH;
        Some(match &ty.kind {
            TypeKind::Primitive { subtype } => match subtype {
                Primitive::Bool => Value::Bool(rich),
                Primitive::Float32 | Primitive::Float64 => json!(if rich { 1.5 } else { 0.0 }),
                _ => json!(u8::from(rich)),
            },
            TypeKind::String { optional, max } => {
                if *optional && !rich {
                    Value::Null
                } else if rich && max.is_none_or(|m| m >= 3) {
                    json!("idl")
                } else {
                    json!("")
                }
            }
            TypeKind::Vector {
                element,
                optional,
                max,
            } => {
                if *optional && !rich {
                    Value::Null
                } else if rich && *max != Some(0) {
                    Value::Array(vec![self.value(element, depth + 1)?])
                } else {
                    Value::Array(Vec::new())
                }
            }
            TypeKind::Array { element, count } => {
                let item = self.value(element, depth + 1)?;
                // Handles in an array each need their own number.
                let mut items = vec![item];
                for _ in 1..*count {
                    items.push(self.value(element, depth + 1)?);
                }
                Value::Array(items)
            }
            TypeKind::Handle { optional, .. } | TypeKind::Endpoint { optional, .. } => {
                if *optional && !rich {
                    Value::Null
                } else {
                    self.handles += 1;
                    json!(self.handles)
                }
            }
            TypeKind::Identifier {
                identifier,
                optional,
                ..
            } => {
                if *optional && !rich {
                    Value::Null
                } else {
                    self.named(identifier, depth + 1)?
                }
            }
        })
    }

    fn named(&mut self, name: &str, depth: u32) -> Option<Value> {
        let rich = self.full && depth < DEPTH;
        Some(match self.decls.kind(name)? {
            Decl::Struct(s) => {
                let mut fields = Map::new();
                for member in &s.members {
                    fields.insert(member.name.clone(), self.value(&member.ty, depth)?);
                }
                Value::Object(fields)
            }
            Decl::Table(t) => {
                let mut fields = Map::new();
                if rich {
                    for member in &t.members {
                        if let (Some(name), Some(ty)) = (&member.name, &member.ty) {
                            fields.insert(name.clone(), self.value(ty, depth)?);
                        }
                    }
                }
                Value::Object(fields)
            }
            Decl::Union(u) => {
                let mut members = u
                    .members
                    .iter()
                    .filter_map(|m| Some((m.name.as_ref()?, m.ty.as_ref()?)));
                let (name, ty) = if self.full {
                    members.next_back()?
                } else {
                    members.next()?
                };
                let mut fields = Map::new();
                fields.insert(name.clone(), self.value(ty, depth)?);
                Value::Object(fields)
            }
            Decl::Enum(e) => {
                let member = if self.full {
                    e.members.last()
                } else {
                    e.members.first()
                };
                match member {
                    Some(member) => json!(member.name),
                    None => json!(0),
                }
            }
            Decl::Bits(b) => json!(if self.full { b.mask } else { 0 }),
        })
    }
}

/// The C side: `idl_fuzz_type_count`, `idl_fuzz_type_name`,
/// `idl_fuzz_roundtrip` and (with `-DIDL_LIBFUZZER`)
/// `LLVMFuzzerTestOneInput`, over `types` in order. Needs the C backend's
/// headers of every library the types come from.
pub fn c_harness(types: &[String]) -> String {
    let mut out =
        String::from("/* Generated by idlc: a fuzz harness over message types. Do not edit. */\n");
    let mut libraries: Vec<&str> = types
        .iter()
        .map(|t| t.split_once('/').map_or("", |(l, _)| l))
        .collect();
    libraries.sort_unstable();
    libraries.dedup();
    for library in libraries {
        let _ = writeln!(out, "#include \"{}.h\"", library_file(library));
    }
    out.push_str(
        r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A message of `type` as it arrives with `num_handles` handles (numbers
 * 11, 12, 13; any type; all rights): decoded, then encoded again into
 * `out` (its handles' numbers into `out_handles`, room for 64). Returns
 * the decoder's status, or 1000 + the encoder's if what decoded does not
 * encode. */
int idl_fuzz_roundtrip(size_t type, const uint8_t *data, size_t size, size_t num_handles,
                       uint8_t *out, size_t capacity, size_t *out_size, uint32_t *out_handles,
                       size_t *out_handle_count);
size_t idl_fuzz_type_count(void);
const char *idl_fuzz_type_name(size_t type);

static uint64_t arena[1 << 17];
static const idl_handle_info_t fuzz_handles[3] = {
    {11, 0, UINT32_C(0xffffffff)}, {12, 0, UINT32_C(0xffffffff)}, {13, 0, UINT32_C(0xffffffff)}};

#define FUZZ_TYPE(T, INDEX)                                                                    \
  static int roundtrip_##INDEX(const uint8_t *data, size_t size, size_t num_handles,          \
                               uint8_t *out, size_t capacity, size_t *n, uint32_t *handles,   \
                               size_t *h) {                                                   \
    T value;                                                                                  \
    idl_handle_disposition_t sent[64];                                                        \
    idl_status_t status =                                                                     \
        T##_decode(data, size, fuzz_handles, num_handles, arena, sizeof arena, &value);       \
    if (status != IDL_OK) return (int)status;                                                 \
    status = T##_encode(&value, out, capacity, n, sent, 64, h);                               \
    if (status != IDL_OK) return 1000 + (int)status;                                          \
    for (size_t i = 0; i < *h; i++) handles[i] = sent[i].handle;                              \
    return 0;                                                                                 \
  }
"#,
    );
    for (index, ty) in types.iter().enumerate() {
        let _ = writeln!(out, "FUZZ_TYPE({}, {index})", c_type_name(ty));
    }
    let _ = writeln!(
        out,
        "\ntypedef int (*roundtrip_fn)(const uint8_t *, size_t, size_t, uint8_t *, size_t, size_t *, uint32_t *, size_t *);\nstatic const roundtrip_fn roundtrips[] = {{{}}};\nstatic const char *const names[] = {{{}}};\n#define TYPES (sizeof roundtrips / sizeof roundtrips[0])\n",
        (0..types.len())
            .map(|i| format!("roundtrip_{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        types
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push_str(
        r#"size_t idl_fuzz_type_count(void) { return TYPES; }
const char *idl_fuzz_type_name(size_t type) { return type < TYPES ? names[type] : NULL; }

int idl_fuzz_roundtrip(size_t type, const uint8_t *data, size_t size, size_t num_handles,
                       uint8_t *out, size_t capacity, size_t *out_size, uint32_t *out_handles,
                       size_t *out_handle_count) {
  if (type >= TYPES || num_handles > 3) return (int)IDL_ERR_INVALID_VALUE;
  return roundtrips[type](data, size, num_handles, out, capacity, out_size, out_handles,
                          out_handle_count);
}

#ifdef IDL_LIBFUZZER
static uint8_t encoded[1 << 17];
static uint32_t sent[64];

static void not_canonical(const char *why, size_t type, const uint8_t *data, size_t size) {
  fprintf(stderr, "%s: %s:", names[type], why);
  for (size_t i = 0; i < size; i++) fprintf(stderr, " %02x", data[i]);
  fprintf(stderr, "\n");
  abort();
}

/* Properties: no crash, no sanitizer report, and no invalid message
 * accepted: what decodes encodes again, with the same handles, to the
 * same bytes (FIDL v2 encoding is canonical, tables included). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  size_t type = ((size_t)data[0] | (size_t)data[1] << 8) % TYPES;
  size_t num_handles = data[2] % 4;
  data += 3;
  size -= 3;
  size_t n, h;
  int status = roundtrips[type](data, size, num_handles, encoded, sizeof encoded, &n, sent, &h);
  if (status == 0) {
    if (h != num_handles) not_canonical("handles not all re-encoded", type, data, size);
    for (size_t i = 0; i < h; i++)
      if (sent[i] != fuzz_handles[i].handle) not_canonical("handles reordered", type, data, size);
    if (n != size || memcmp(encoded, data, size) != 0)
      not_canonical("accepted but re-encodes differently", type, data, size);
  } else if (status >= 1000 || status == (int)IDL_ERR_ARENA_EXHAUSTED) {
    not_canonical(idl_status_name((idl_status_t)(status % 1000)), type, data, size);
  }
  return 0;
}
#endif
"#,
    );
    out
}

/// The Rust side, for a crate whose module `root` holds the generated
/// libraries side by side: `TYPES` (the qualified names), `roundtrip`
/// (calls `roundtrip_as::<T>(bytes, handles)`, which the including crate
/// defines, for type `index`) and `seeds` (calls `seed(index, value)`
/// for each seed value).
pub fn rust_dispatch(ir: &Ir, types: &[String], root: &str) -> Result<String, String> {
    let mut out = String::from("// Generated by idlc: the fuzzed message types. Do not edit.\n\n");
    let _ = writeln!(
        out,
        "/// Every fuzzed message type, fully qualified.\npub const TYPES: &[&str] = &[{}];\n",
        types
            .iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str("/// Decodes `bytes` as type `index` and encodes it again.\npub fn roundtrip(index: usize, bytes: &[u8], handles: &mut [idlc_runtime::HandleInfo]) -> Outcome {\n    match index {\n");
    for (index, ty) in types.iter().enumerate() {
        let _ = writeln!(
            out,
            "        {index} => roundtrip_as::<{}>(bytes, handles),",
            super::rust::type_path(ir, root, ty)
        );
    }
    out.push_str("        _ => panic!(\"no type {index}\"),\n    }\n}\n\n");
    out.push_str("/// Each type's seed values, encoded: `(type index, bytes, handle count)`.\n#[allow(clippy::too_many_lines, clippy::vec_init_then_push)]\npub fn seeds() -> Vec<(usize, Vec<u8>, usize)> {\n    let mut seeds = Vec::new();\n");
    for (index, ty) in types.iter().enumerate() {
        for value in self::seeds(ir, ty) {
            let expr = super::rust::value_expr(ir, root, ty, &value)?;
            let _ = writeln!(out, "    seed(&mut seeds, {index}, {expr});");
        }
    }
    out.push_str("    seeds\n}\n");
    Ok(out)
}
