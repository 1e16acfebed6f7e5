//! Conformance cases → one C program over the generated C bindings. It
//! prints a line per failing case and `N passed, M failed`, and exits
//! non-zero when a case fails.
//!
//! A success case encodes the value (written as a C initializer) and
//! compares bytes and handles, decodes the bytes, and encodes the decoded
//! value again to compare it with the bytes (C structs have no equality).

use std::fmt::Write;

use serde_json::Value;

use super::{enum_value, object, unknown_members, Decl, Decls, HandleCase, Suite, UnknownCase};
use crate::backend::c::{
    c_string, declare, library_file, literal, member_name, type_name, TABLE_FIELDS, UNION_FIELDS,
};
use crate::ir::{DeclKind, Ir, Primitive, Type, TypeKind};

const PRELUDE: &str = r#"#include <stdio.h>
#include <string.h>

static uint8_t buffer[1 << 16];
static uint8_t again[1 << 16];
static uint64_t arena[1 << 13];
static idl_handle_disposition_t sent[64];
static int passed;
static int failed;

static void fail(const char *name, const char *what, const char *detail) {
  printf("FAIL %s: %s %s\n", name, what, detail);
  failed++;
}

static void fail_bytes(const char *name, const uint8_t *actual, size_t n, const uint8_t *expected,
                       size_t m) {
  printf("FAIL %s: bytes differ\n  actual:  ", name);
  for (size_t i = 0; i < n; i++) printf("%02x ", actual[i]);
  printf("\n  expected:");
  for (size_t i = 0; i < m; i++) printf(" %02x", expected[i]);
  printf("\n");
  failed++;
}

static int same_handles(const idl_handle_disposition_t *actual, size_t n,
                        const idl_handle_info_t *expected, size_t m) {
  if (n != m) return 0;
  for (size_t i = 0; i < n; i++) {
    if (actual[i].handle != expected[i].handle) return 0;
  }
  return 1;
}

#define CHECK_SUCCESS(T, NAME, EXPECTED, HANDLES, NUM_HANDLES, ...)                              \
  do {                                                                                           \
    T value_ = __VA_ARGS__;                                                                      \
    T decoded_;                                                                                  \
    size_t n_, h_;                                                                               \
    idl_status_t s_ = T##_encode(&value_, buffer, sizeof buffer, &n_, sent, 64, &h_);            \
    if (s_ != IDL_OK) { fail(NAME, "encode:", idl_status_name(s_)); break; }                     \
    if (n_ != sizeof EXPECTED || memcmp(buffer, EXPECTED, n_) != 0) {                            \
      fail_bytes(NAME, buffer, n_, EXPECTED, sizeof EXPECTED);                                   \
      break;                                                                                     \
    }                                                                                            \
    if (!same_handles(sent, h_, HANDLES, NUM_HANDLES)) { fail(NAME, "handles differ", ""); break; } \
    s_ = T##_decode(EXPECTED, sizeof EXPECTED, HANDLES, NUM_HANDLES, arena, sizeof arena, &decoded_); \
    if (s_ != IDL_OK) { fail(NAME, "decode:", idl_status_name(s_)); break; }                     \
    s_ = T##_encode(&decoded_, again, sizeof again, &n_, sent, 64, &h_);                         \
    if (s_ != IDL_OK) { fail(NAME, "re-encode:", idl_status_name(s_)); break; }                  \
    if (n_ != sizeof EXPECTED || memcmp(again, EXPECTED, n_) != 0) {                             \
      fail_bytes(NAME, again, n_, EXPECTED, sizeof EXPECTED);                                    \
      break;                                                                                     \
    }                                                                                            \
    if (!same_handles(sent, h_, HANDLES, NUM_HANDLES)) { fail(NAME, "handles differ", ""); break; } \
    passed++;                                                                                    \
  } while (0)

#define CHECK_DECODE_FAILURE(T, NAME, EXPECTED, HANDLES, NUM_HANDLES, KIND)                     \
  do {                                                                                           \
    T decoded_;                                                                                  \
    idl_status_t s_ = T##_decode(EXPECTED, sizeof EXPECTED, HANDLES, NUM_HANDLES, arena,          \
                                 sizeof arena, &decoded_);                                       \
    if (strcmp(idl_status_name(s_), KIND) != 0) { fail(NAME, "got", idl_status_name(s_)); break; } \
    passed++;                                                                                    \
  } while (0)

#define CHECK_ENCODE_FAILURE(T, NAME, KIND, ...)                                                \
  do {                                                                                           \
    T value_ = __VA_ARGS__;                                                                      \
    size_t n_, h_;                                                                               \
    idl_status_t s_ = T##_encode(&value_, buffer, sizeof buffer, &n_, sent, 64, &h_);            \
    if (strcmp(idl_status_name(s_), KIND) != 0) { fail(NAME, "got", idl_status_name(s_)); break; } \
    passed++;                                                                                    \
  } while (0)
"#;

/// The C program for `suite`; it includes the suite library's header.
pub fn runner(ir: &Ir, suite: &Suite) -> Result<String, String> {
    let values = Values {
        decls: Decls::new(ir),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/* Generated by idlc from conformance cases. Do not edit. */\n#include \"{}.h\"\n",
        library_file(&suite.library)
    );
    out.push_str(PRELUDE);
    let mut calls = Vec::new();
    for case in &suite.success {
        let qualified = suite.qualified(&case.ty);
        let ty = type_name(&qualified);
        let value = values.named(&qualified, &case.value)?;
        let function = format!("success_{}", case.name);
        let _ = writeln!(
            out,
            "\nstatic void {function}(void) {{\n  static const uint8_t expected[] = {{{}}};\n  static const idl_handle_info_t handles[] = {{{}}};\n  CHECK_SUCCESS({ty}, \"{function}\", expected, handles, {}, {value});\n}}",
            bytes(&case.bytes.0),
            handles(&case.handles),
            case.handles.len()
        );
        calls.push(function);
    }
    for case in &suite.decode_failure {
        let ty = type_name(&suite.qualified(&case.ty));
        let function = format!("decode_failure_{}", case.name);
        let _ = writeln!(
            out,
            "\nstatic void {function}(void) {{\n  static const uint8_t expected[] = {{{}}};\n  static const idl_handle_info_t handles[] = {{{}}};\n  CHECK_DECODE_FAILURE({ty}, \"{function}\", expected, handles, {}, \"{}\");\n}}",
            bytes(&case.bytes.0),
            handles(&case.handles),
            case.handles.len(),
            case.error
        );
        calls.push(function);
    }
    for case in &suite.encode_failure {
        let qualified = suite.qualified(&case.ty);
        let ty = type_name(&qualified);
        let value = values.named(&qualified, &case.value)?;
        let function = format!("encode_failure_{}", case.name);
        let _ = writeln!(
            out,
            "\nstatic void {function}(void) {{\n  CHECK_ENCODE_FAILURE({ty}, \"{function}\", \"{}\", {value});\n}}",
            case.error
        );
        calls.push(function);
    }
    out.push_str("\nint main(void) {\n");
    for call in calls {
        let _ = writeln!(out, "  {call}();");
    }
    out.push_str(
        "  printf(\"%d passed, %d failed\\n\", passed, failed);\n  return failed != 0;\n}\n",
    );
    Ok(out)
}

fn bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("0x{b:02x}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn handles(handles: &[HandleCase]) -> String {
    if handles.is_empty() {
        return "{0, 0, 0}".into();
    }
    handles
        .iter()
        .map(|h| format!("{{{}, {}, {:#x}}}", h.handle, h.object_type, h.rights))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Values<'a> {
    decls: Decls<'a>,
}

impl Values<'_> {
    fn value(&self, ty: &Type, value: &Value) -> Result<String, String> {
        let optional = match &ty.kind {
            TypeKind::String { optional, .. }
            | TypeKind::Vector { optional, .. }
            | TypeKind::Handle { optional, .. }
            | TypeKind::Endpoint { optional, .. }
            | TypeKind::Identifier { optional, .. } => *optional,
            _ => false,
        };
        if optional && value.is_null() {
            return Ok(match &ty.kind {
                TypeKind::String { .. } => "{ .data = NULL, .size = 0 }".into(),
                TypeKind::Vector { .. } => "{ .data = NULL, .count = 0 }".into(),
                TypeKind::Identifier {
                    decl_kind: DeclKind::Struct,
                    ..
                } => "NULL".into(),
                TypeKind::Identifier { .. } => "{ .tag = 0 }".into(),
                _ => "0".into(),
            });
        }
        Ok(match &ty.kind {
            TypeKind::Primitive { subtype } => primitive_value(*subtype, value)?,
            TypeKind::String { .. } => {
                let text = value
                    .as_str()
                    .ok_or_else(|| format!("expected a string, got {value}"))?;
                format!("{{ .data = {}, .size = {} }}", c_string(text), text.len())
            }
            TypeKind::Vector { element, .. } => {
                let items = value
                    .as_array()
                    .ok_or_else(|| format!("expected a list, got {value}"))?;
                if items.is_empty() {
                    // Any pointer but NULL: the elements are never read.
                    "{ .data = (uint8_t[1]){0}, .count = 0 }".to_string()
                } else {
                    format!(
                        "{{ .data = ({}){{{}}}, .count = {} }}",
                        declare(element, "[]"),
                        self.list(element, items)?,
                        items.len()
                    )
                }
            }
            TypeKind::Array { element, .. } => {
                let items = value
                    .as_array()
                    .ok_or_else(|| format!("expected a list, got {value}"))?;
                format!("{{{}}}", self.list(element, items)?)
            }
            TypeKind::Handle { .. } | TypeKind::Endpoint { .. } => value
                .as_u64()
                .filter(|n| *n <= u64::from(u32::MAX))
                .map(|n| n.to_string())
                .ok_or_else(|| format!("a handle is a number, got {value}"))?,
            TypeKind::Identifier {
                identifier,
                decl_kind,
                optional,
            } => {
                let inner = self.named(identifier, value)?;
                if *optional && *decl_kind == DeclKind::Struct {
                    format!("&({}){inner}", type_name(identifier))
                } else {
                    inner
                }
            }
        })
    }

    fn list(&self, element: &Type, items: &[Value]) -> Result<String, String> {
        Ok(items
            .iter()
            .map(|item| self.value(element, item))
            .collect::<Result<Vec<_>, _>>()?
            .join(", "))
    }

    fn named(&self, name: &str, value: &Value) -> Result<String, String> {
        let c_name = type_name(name);
        match self.decls.get(name)? {
            Decl::Struct(s) => {
                let names: Vec<&str> = s.members.iter().map(|m| m.name.as_str()).collect();
                let fields = object(value, name, &names)?;
                if s.members.is_empty() {
                    return Ok("{ .reserved_ = 0 }".into());
                }
                let mut parts = Vec::new();
                for member in &s.members {
                    let field = fields
                        .get(&member.name)
                        .ok_or_else(|| format!("{name}: member `{}` missing", member.name))?;
                    parts.push(format!(
                        ".{} = {}",
                        member_name(&member.name, &[]),
                        self.value(&member.ty, field)?
                    ));
                }
                Ok(format!("{{ {} }}", parts.join(", ")))
            }
            Decl::Table(t) => {
                let names: Vec<&str> = t.members.iter().filter_map(|m| m.name.as_deref()).collect();
                let fields = object(value, name, &names)?;
                let mut parts = Vec::new();
                for member in &t.members {
                    let (Some(member_name_), Some(ty)) = (&member.name, &member.ty) else {
                        continue;
                    };
                    if let Some(field) = fields.get(member_name_) {
                        let c_field = member_name(member_name_, TABLE_FIELDS);
                        parts.push(format!(".has_{c_field} = true"));
                        parts.push(format!(".{c_field} = {}", self.value(ty, field)?));
                    }
                }
                let unknown = unknown_members(value)?;
                if !unknown.is_empty() {
                    let items: Vec<String> = unknown.iter().map(unknown_value).collect();
                    parts.push(format!(
                        ".unknown = {{ .items = (idl_unknown_t[]){{{}}}, .count = {} }}",
                        items.join(", "),
                        unknown.len()
                    ));
                }
                if parts.is_empty() {
                    return Ok("{ .unknown = { .items = NULL, .count = 0 } }".into());
                }
                Ok(format!("{{ {} }}", parts.join(", ")))
            }
            Decl::Union(u) => {
                let fields = value
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .ok_or_else(|| format!("{name}: a union value has one member, got {value}"))?;
                let (key, inner) = fields.iter().next().expect("one member");
                if key == "$unknown" {
                    let unknown: UnknownCase =
                        serde_json::from_value(inner.clone()).map_err(|e| e.to_string())?;
                    return Ok(format!(
                        "{{ .tag = UINT64_C({}), .unknown = {} }}",
                        unknown.ordinal,
                        unknown_value(&unknown)
                    ));
                }
                let member = u
                    .members
                    .iter()
                    .find(|m| m.name.as_deref() == Some(key))
                    .ok_or_else(|| format!("{name}: no member `{key}`"))?;
                let ty = member.ty.as_ref().expect("named members have types");
                Ok(format!(
                    "{{ .tag = {c_name}_TAG_{key}, .{} = {} }}",
                    member_name(key, UNION_FIELDS),
                    self.value(ty, inner)?
                ))
            }
            Decl::Enum(e) => {
                let (member, number) = enum_value(e, value)?;
                match member {
                    Some(member) => Ok(format!("{c_name}_{member}")),
                    None => Ok(format!("({c_name}){number}")),
                }
            }
            Decl::Bits(_) => {
                let number = value
                    .as_u64()
                    .ok_or_else(|| format!("{name}: bits are a number, got {value}"))?;
                Ok(format!("({c_name})UINT64_C({number})"))
            }
        }
    }
}

fn unknown_value(unknown: &UnknownCase) -> String {
    format!(
        "{{ .ordinal = UINT64_C({}), .bytes = (const uint8_t[]){{{}}}, .num_bytes = {}, .inlined = {} }}",
        unknown.ordinal,
        bytes(&unknown.bytes.0),
        unknown.bytes.0.len(),
        unknown.inline
    )
}

fn primitive_value(p: Primitive, value: &Value) -> Result<String, String> {
    match p {
        Primitive::Bool => value
            .as_bool()
            .map(|b| b.to_string())
            .ok_or_else(|| format!("expected a bool, got {value}")),
        Primitive::Float32 => value
            .as_f64()
            .map(|f| format!("{f:?}f"))
            .ok_or_else(|| format!("expected a number, got {value}")),
        Primitive::Float64 => value
            .as_f64()
            .map(|f| format!("{f:?}"))
            .ok_or_else(|| format!("expected a number, got {value}")),
        _ => literal(p, value).ok_or_else(|| format!("expected an integer, got {value}")),
    }
}

/// A fuzz target over every type the suite names: the first input byte
/// picks the type and how many handles come with the message, the rest
/// is the message. A message the decoder accepts must encode back to
/// exactly the same bytes and handles (FIDL v2 encoding is canonical), so
/// an invalid message that slips through is caught, not only crashes
/// (tables included: a table's last envelope must be present).
///
/// Built with `-DIDL_LIBFUZZER -fsanitize=fuzzer` it is a libFuzzer
/// target; otherwise `main` runs a deterministic mutation fuzzer seeded
/// with the suite's bytes: `fuzz [ITERATIONS] [SEED]`.
pub fn fuzz_target(_ir: &Ir, suite: &Suite) -> String {
    let mut types: Vec<&str> = suite
        .success
        .iter()
        .map(|c| c.ty.as_str())
        .chain(suite.decode_failure.iter().map(|c| c.ty.as_str()))
        .collect();
    types.sort_unstable();
    types.dedup();
    let mut out = format!(
        "/* Generated by idlc from conformance cases. Do not edit. */\n#include \"{}.h\"\n\n",
        library_file(&suite.library)
    );
    out.push_str(
        r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t encoded[1 << 16];
static uint64_t arena[1 << 14];
static idl_handle_disposition_t sent[64];
static const idl_handle_info_t handles[3] = {
    {11, 0, UINT32_C(0xffffffff)}, {12, 0, UINT32_C(0xffffffff)}, {13, 0, UINT32_C(0xffffffff)}};
static unsigned long accepted;

static void accepted_but_not_canonical(const char *type, const uint8_t *data, size_t size) {
  fprintf(stderr, "%s: an accepted message does not re-encode to itself:", type);
  for (size_t i = 0; i < size; i++) fprintf(stderr, " %02x", data[i]);
  fprintf(stderr, "\n");
  abort();
}

#define FUZZ_TYPE(T, NAME)                                                                        \
  static void fuzz_##NAME(const uint8_t *data, size_t size, size_t num_handles) {                \
    T value;                                                                                     \
    size_t n, h;                                                                                 \
    if (T##_decode(data, size, handles, num_handles, arena, sizeof arena, &value) != IDL_OK)      \
      return;                                                                                    \
    accepted++;                                                                                  \
    if (T##_encode(&value, encoded, sizeof encoded, &n, sent, 64, &h) != IDL_OK ||               \
        h != num_handles)                                                                        \
      accepted_but_not_canonical(#T, data, size);                                                \
    for (size_t i = 0; i < h; i++)                                                               \
      if (sent[i].handle != handles[i].handle) accepted_but_not_canonical(#T, data, size);       \
    if (n != size || memcmp(encoded, data, size) != 0) accepted_but_not_canonical(#T, data, size); \
  }
"#,
    );
    for ty in &types {
        let _ = writeln!(out, "FUZZ_TYPE({}, {ty})", type_name(&suite.qualified(ty)));
    }
    let _ = writeln!(
        out,
        "\nstatic void (*const targets[])(const uint8_t *, size_t, size_t) = {{{}}};\n#define TARGETS (sizeof targets / sizeof targets[0])\n",
        types
            .iter()
            .map(|t| format!("fuzz_{t}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str(
        r#"int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  targets[data[0] % TARGETS](data + 1, size - 1, (size_t)(data[0] / TARGETS) % 4);
  return 0;
}

#ifndef IDL_LIBFUZZER
struct seed {
  unsigned char type;
  const uint8_t *bytes;
  size_t size;
};
"#,
    );
    let mut seeds = Vec::new();
    for (bytes_, ty, handles) in suite
        .success
        .iter()
        .map(|c| (&c.bytes.0, &c.ty, c.handles.len()))
        .chain(
            suite
                .decode_failure
                .iter()
                .map(|c| (&c.bytes.0, &c.ty, c.handles.len())),
        )
    {
        let index = types.iter().position(|t| t == ty).expect("listed");
        let selector = index + types.len() * handles.min(3);
        if selector > 255 {
            continue;
        }
        seeds.push(format!(
            "{{{selector}, (const uint8_t[]){{{}}}, {}}}",
            bytes(bytes_),
            bytes_.len()
        ));
    }
    let _ = writeln!(
        out,
        "static const struct seed seeds[] = {{\n  {}\n}};\n#define SEEDS (sizeof seeds / sizeof seeds[0])\n",
        seeds.join(",\n  ")
    );
    out.push_str(
        r#"static uint64_t state;
static uint64_t next(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

int main(int argc, char **argv) {
  unsigned long iterations = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
  state = argc > 2 ? strtoull(argv[2], NULL, 10) | 1 : 0x9e3779b97f4a7c15u;
  static uint8_t input[4096];
  for (unsigned long i = 0; i < iterations; i++) {
    const struct seed *s = &seeds[next() % SEEDS];
    size_t size = s->size + 1;
    input[0] = s->type;
    memcpy(input + 1, s->bytes, s->size);
    unsigned mutations = (unsigned)(next() % 5);
    for (unsigned m = 0; m < mutations; m++) {
      size_t at = 1 + (size > 1 ? next() % (size - 1) : 0);
      switch (next() % 6) {
        case 0: if (at < size) input[at] ^= (uint8_t)(1u << (next() % 8)); break;
        case 1: if (at < size) input[at] = (uint8_t[]){0, 1, 2, 0x7f, 0x80, 0xff}[next() % 6]; break;
        case 2: if (size < sizeof input - 8) { memmove(input + at + 8, input + at, size - at); for (int k = 0; k < 8; k++) input[at + k] = (uint8_t)next(); size += 8; } break;
        case 3: if (at < size) { memmove(input + at, input + at + 1, size - at - 1); size--; } break;
        case 4: size = at; break;
        default: input[0] = (uint8_t)next(); break;
      }
    }
    LLVMFuzzerTestOneInput(input, size);
  }
  printf("%lu inputs, %lu accepted, every accepted one canonical\n", iterations, accepted);
  return 0;
}
#endif
"#,
    );
    out
}
