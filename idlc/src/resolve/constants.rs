//! Constant evaluation against an expected type.

use super::model::{ConstValue, DeclKind, Primitive, Type};
use super::{Lookup, Resolver};
use crate::diagnostics::{Diagnostic, ErrorCode};
use crate::source::FileId;
use crate::syntax::ast;

/// Parses an integer literal: decimal, `0x…`, `0b…`, with an optional `-`.
pub fn parse_number(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()?
    } else {
        digits.parse::<i128>().ok()?
    };
    Some(if negative { -value } else { value })
}

impl Resolver {
    /// Describes a type for messages.
    pub(super) fn type_name(&self, ty: &Type) -> String {
        match ty {
            Type::Primitive(p) => p.name().to_string(),
            Type::String { .. } => "string".into(),
            Type::Vector { .. } => "vector".into(),
            Type::Array { .. } => "array".into(),
            Type::Handle { .. } => "handle".into(),
            Type::Endpoint { .. } => "endpoint".into(),
            Type::Named { decl, .. } => self.model.qualified_name(*decl),
            Type::Invalid => "<invalid>".into(),
        }
    }

    fn mismatch(&mut self, constant: &ast::Constant, expected: &Type, what: &str) {
        let expected_name = self.type_name(expected);
        self.error(
            Diagnostic::new(
                ErrorCode::ConstantTypeMismatch,
                constant.span(),
                format!("expected a value of type `{expected_name}`, found {what}"),
            )
            .label(format!("not a `{expected_name}`")),
        );
    }

    fn out_of_range(&mut self, constant: &ast::Constant, value: i128, ty: &str) {
        self.error(
            Diagnostic::new(
                ErrorCode::ValueOutOfRange,
                constant.span(),
                format!("value {value} does not fit in `{ty}`"),
            )
            .label("out of range"),
        );
    }

    /// The primitive that carries values of `ty`, for integer-like types.
    pub(super) fn underlying(&mut self, ty: &Type) -> Option<Primitive> {
        match ty {
            Type::Primitive(p) => Some(*p),
            Type::Named { decl, .. } => {
                self.ensure(*decl);
                match &self.model.decls[*decl].kind {
                    DeclKind::Enum(e) => Some(e.underlying),
                    DeclKind::Bits(b) => Some(b.underlying),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Evaluates `constant` as a value of `expected`. `None` after an error.
    pub(super) fn constant(
        &mut self,
        file: FileId,
        constant: &ast::Constant,
        expected: &Type,
    ) -> Option<ConstValue> {
        if matches!(expected, Type::Invalid) {
            return None;
        }
        match constant {
            ast::Constant::Literal(literal, _) => self.literal(constant, literal, expected),
            ast::Constant::Identifier(id) => self.reference(file, constant, id, expected),
            ast::Constant::Or(left, right, _) => {
                let is_bits = matches!(expected, Type::Named { decl, .. }
                    if matches!(self.model.decls[*decl].kind, DeclKind::Bits(_)) || self.class_is_bits(*decl));
                let unsigned = matches!(expected, Type::Primitive(p) if p.is_unsigned());
                if !is_bits && !unsigned {
                    self.mismatch(constant, expected, "a `|` expression");
                    return None;
                }
                let a = self.constant(file, left, expected)?;
                let b = self.constant(file, right, expected)?;
                match (a, b) {
                    (ConstValue::Int(a), ConstValue::Int(b)) => Some(ConstValue::Int(a | b)),
                    _ => None,
                }
            }
        }
    }

    fn literal(
        &mut self,
        constant: &ast::Constant,
        literal: &ast::Literal,
        expected: &Type,
    ) -> Option<ConstValue> {
        match (literal, expected) {
            (ast::Literal::Bool(b), Type::Primitive(Primitive::Bool)) => Some(ConstValue::Bool(*b)),
            (ast::Literal::String(s), Type::String { max, .. }) => {
                if let Some(max) = max {
                    if s.len() > *max as usize {
                        self.error(
                            Diagnostic::new(
                                ErrorCode::StringTooLong,
                                constant.span(),
                                format!("string of {} bytes exceeds the bound {max}", s.len()),
                            )
                            .label("too long")
                            .help(format!("raise the bound to at least `string:{}`", s.len())),
                        );
                        return None;
                    }
                }
                Some(ConstValue::String(s.clone()))
            }
            (ast::Literal::Number(n), Type::Primitive(p)) if p.is_float() => match n.parse::<f64>()
            {
                Ok(v) => Some(ConstValue::Float(v)),
                Err(_) => {
                    self.invalid_number(constant, n);
                    None
                }
            },
            (ast::Literal::Number(n), Type::Primitive(p)) if p.is_integer() => {
                let Some(value) = parse_number(n) else {
                    if n.contains('.') || n.contains('e') {
                        self.mismatch(constant, expected, "a floating-point number");
                    } else {
                        self.invalid_number(constant, n);
                    }
                    return None;
                };
                let (low, high) = p.range();
                if value < low || value > high {
                    self.out_of_range(constant, value, p.name());
                    return None;
                }
                Some(ConstValue::Int(value))
            }
            (literal, _) => {
                let what = match literal {
                    ast::Literal::Bool(_) => "a boolean",
                    ast::Literal::Number(_) => "a number",
                    ast::Literal::String(_) => "a string",
                };
                self.mismatch(constant, expected, what);
                None
            }
        }
    }

    fn invalid_number(&mut self, constant: &ast::Constant, text: &str) {
        self.error(
            Diagnostic::new(
                ErrorCode::InvalidNumber,
                constant.span(),
                format!("`{text}` is not a valid number"),
            )
            .label("invalid number")
            .help("integers are decimal, `0x` hexadecimal or `0b` binary, up to 128 bits"),
        );
    }

    fn reference(
        &mut self,
        file: FileId,
        constant: &ast::Constant,
        id: &ast::CompoundIdent,
        expected: &Type,
    ) -> Option<ConstValue> {
        match self.lookup(file, id) {
            Lookup::Decl(decl) => {
                if !self.class(decl).is_const() {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::NotAConstant,
                            id.span,
                            format!(
                                "`{}` is a {}, not a constant",
                                id.dotted(),
                                self.class(decl).name()
                            ),
                        )
                        .label("expected a constant"),
                    );
                    return None;
                }
                if !self.ensure(decl) {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::ConstantCycle,
                            id.span,
                            format!("the value of `{}` depends on itself", id.dotted()),
                        )
                        .label("refers back to a constant being computed")
                        .help("break the cycle by writing one of the values as a literal"),
                    );
                    return None;
                }
                let DeclKind::Const(c) = &self.model.decls[decl].kind else {
                    return None;
                };
                let (ty, value) = (c.ty.clone(), c.value.clone());
                self.convert(constant, &ty, value, expected)
            }
            Lookup::Member(decl, member) => {
                let class = self.class(decl);
                if !matches!(class, super::Class::Enum | super::Class::Bits) {
                    self.error(self.undefined(file, id, &[]));
                    return None;
                }
                self.ensure(decl);
                let members = match &self.model.decls[decl].kind {
                    DeclKind::Enum(e) => &e.members,
                    DeclKind::Bits(b) => &b.members,
                    _ => return None,
                };
                let Some(found) = members.iter().find(|m| m.name == member.name) else {
                    let help = crate::diagnostics::did_you_mean(
                        &member.name,
                        members.iter().map(|m| m.name.as_str()),
                    );
                    let name = self.model.decls[decl].name.clone();
                    self.error(
                        Diagnostic::new(
                            ErrorCode::UndefinedName,
                            member.span,
                            format!("`{name}` has no member `{}`", member.name),
                        )
                        .label("no such member")
                        .maybe_help(help),
                    );
                    return None;
                };
                let value = found.value;
                let matches = matches!(expected, Type::Named { decl: d, .. } if *d == decl);
                if !matches {
                    let name = self.model.qualified_name(decl);
                    self.mismatch(constant, expected, &format!("a member of `{name}`"));
                    return None;
                }
                Some(ConstValue::Int(value))
            }
            Lookup::NotFound => {
                if id.parts.len() == 1 && id.parts[0].name == "MAX" {
                    if let Some(p) = self.underlying(expected).filter(|p| p.is_integer()) {
                        return Some(ConstValue::Int(p.range().1));
                    }
                }
                self.error(self.undefined(file, id, &[]));
                None
            }
        }
    }

    /// Converts a typed constant's value to `expected`.
    fn convert(
        &mut self,
        constant: &ast::Constant,
        from: &Type,
        value: ConstValue,
        expected: &Type,
    ) -> Option<ConstValue> {
        match (&value, expected) {
            (_, _) if from == expected => Some(value),
            (ConstValue::Int(v), Type::Primitive(p)) if p.is_integer() => {
                if !matches!(from, Type::Primitive(_)) {
                    self.mismatch(constant, expected, &format!("a `{}`", self.type_name(from)));
                    return None;
                }
                let (low, high) = p.range();
                if *v < low || *v > high {
                    self.out_of_range(constant, *v, p.name());
                    return None;
                }
                Some(value)
            }
            (ConstValue::Int(v), Type::Primitive(p)) if p.is_float() => {
                Some(ConstValue::Float(*v as f64))
            }
            (ConstValue::Float(_), Type::Primitive(p)) if p.is_float() => Some(value),
            (ConstValue::Bool(_), Type::Primitive(Primitive::Bool)) => Some(value),
            (ConstValue::String(s), Type::String { max, .. }) => {
                if max.is_some_and(|m| s.len() > m as usize) {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::StringTooLong,
                            constant.span(),
                            format!("string of {} bytes exceeds the bound", s.len()),
                        )
                        .label("too long"),
                    );
                    return None;
                }
                Some(value)
            }
            _ => {
                self.mismatch(constant, expected, &format!("a `{}`", self.type_name(from)));
                None
            }
        }
    }

    fn class_is_bits(&self, decl: super::model::DeclId) -> bool {
        matches!(self.class(decl), super::Class::Bits)
    }
}
