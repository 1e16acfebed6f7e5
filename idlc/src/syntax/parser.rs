//! pest parse tree → raw AST.
//!
//! The grammar guarantees the shape of the parse tree, so the walkers below
//! only follow it; the few things the grammar cannot check (string escapes,
//! nesting depth) become diagnostics here.

use pest::iterators::Pair;
use pest::Parser as _;

use super::ast::*;
use crate::diagnostics::{Diagnostic, ErrorCode};
use crate::source::{FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "syntax/grammar.pest"]
struct FidlParser;

/// Deeper nesting than this is rejected before parsing, so that neither the
/// parser nor later recursive passes can exhaust the stack.
pub const MAX_NESTING: usize = 64;

/// Parses one file. On failure returns the diagnostics (parsing stops at the
/// first syntax error of a file; other files are still parsed).
pub fn parse(file: FileId, text: &str) -> Result<File, Vec<Diagnostic>> {
    check_nesting(file, text)?;
    let mut pairs =
        FidlParser::parse(Rule::file, text).map_err(|e| vec![syntax_error(file, text, e)])?;
    let root = pairs.next().expect("the file rule always yields one pair");
    let mut walker = Walker {
        file,
        errors: Vec::new(),
    };
    let ast = walker.file(root);
    if walker.errors.is_empty() {
        Ok(ast)
    } else {
        Err(walker.errors)
    }
}

fn check_nesting(file: FileId, text: &str) -> Result<(), Vec<Diagnostic>> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut in_comment = false;
    let mut previous = '\0';
    for (offset, c) in text.char_indices() {
        match c {
            '\n' => in_comment = false,
            _ if in_comment => {}
            '"' if previous != '\\' => in_string = !in_string,
            _ if in_string => {}
            '/' if previous == '/' => in_comment = true,
            '<' | '(' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    let span = Span::new(file, offset, offset + 1);
                    return Err(vec![Diagnostic::new(
                        ErrorCode::NestingTooDeep,
                        span,
                        format!("brackets nest more than {MAX_NESTING} levels deep"),
                    )
                    .label("too deep here")
                    .help("declare inner layouts as named types")]);
                }
            }
            '>' | ')' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
    }
    Ok(())
}

fn syntax_error(file: FileId, text: &str, error: pest::error::Error<Rule>) -> Diagnostic {
    let (start, end) = match error.location {
        pest::error::InputLocation::Pos(p) => (p, p),
        pest::error::InputLocation::Span((s, e)) => (s, e),
    };
    if let Some(after) = missing_semicolon(text, start) {
        return Diagnostic::new(
            ErrorCode::Syntax,
            Span::new(file, after, after),
            "missing `;`",
        )
        .label("expected `;` after this")
        .help("every declaration and member ends with `;`");
    }
    let message = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut expected: Vec<String> = positives.iter().map(|r| describe(*r)).collect();
            expected.sort();
            expected.dedup();
            match expected.len() {
                0 => "unexpected input".to_string(),
                1 => format!("expected {}", expected[0]),
                _ => {
                    let last = expected.pop().unwrap_or_default();
                    format!("expected {} or {}", expected.join(", "), last)
                }
            }
        }
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    Diagnostic::new(ErrorCode::Syntax, Span::new(file, start, end), message)
        .label("unexpected here")
}

/// Where a `;` is missing, if that is what makes the parse fail at `at`:
/// after the last token before `at` when `at` starts a later line, or at
/// the end of `at`'s own line. A candidate counts only if the text with a
/// `;` inserted there parses past the line of `at`, so other mistakes keep
/// the parser's own message.
fn missing_semicolon(text: &str, at: usize) -> Option<usize> {
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |n| from + n);
    let fixed_by = |end: usize| {
        let fixed = format!("{};{}", &text[..end], &text[end..]);
        match FidlParser::parse(Rule::file, &fixed) {
            Ok(_) => true,
            Err(error) => {
                let position = match error.location {
                    pest::error::InputLocation::Pos(p) => p,
                    pest::error::InputLocation::Span((s, _)) => s,
                };
                position > line_end(at) + 1
            }
        }
    };
    let candidates = [previous_token_end(text, at), own_line_end(text, at)];
    candidates.into_iter().flatten().find(|&end| fixed_by(end))
}

/// The end of the last token before `at` (skipping blank space and `//`
/// lines), if `at` is on a later line and that token is not an attribute.
fn previous_token_end(text: &str, at: usize) -> Option<usize> {
    let before = text.get(..at)?;
    let mut end = before.trim_end().len();
    loop {
        let line_start = before[..end].rfind('\n').map_or(0, |n| n + 1);
        let line = before[line_start..end].trim_start();
        if line.starts_with('@') {
            return None; // what follows an attribute is on its own line
        }
        if !line.starts_with("//") {
            break;
        }
        end = before[..line_start].trim_end().len();
        if end == 0 {
            return None;
        }
    }
    before[end..].contains('\n').then_some(end)
}

/// The end of the text on `at`'s line, if `at` is inside it and no `;`
/// follows `at` there.
fn own_line_end(text: &str, at: usize) -> Option<usize> {
    let rest = text.get(at..)?;
    let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let line = line.split("//").next().unwrap_or_default().trim_end();
    (!line.is_empty() && !line.contains(';')).then_some(at + line.len())
}

fn describe(rule: Rule) -> String {
    let text = match rule {
        Rule::EOI => "end of file",
        Rule::ident | Rule::compound_ident => "an identifier",
        Rule::library_decl | Rule::kw_library => "`library`",
        Rule::using_decl | Rule::kw_using => "`using`",
        Rule::kw_as => "`as`",
        Rule::const_decl | Rule::kw_const => "`const`",
        Rule::alias_decl | Rule::kw_alias => "`alias`",
        Rule::type_decl | Rule::kw_type => "`type`",
        Rule::protocol_decl | Rule::kw_protocol => "`protocol`",
        Rule::service_decl | Rule::kw_service => "`service`",
        Rule::resource_decl | Rule::kw_resource_definition => "`resource_definition`",
        Rule::kw_properties | Rule::resource_properties => "`properties`",
        Rule::kw_compose | Rule::compose => "`compose`",
        Rule::kw_error => "`error`",
        Rule::type_ctor | Rule::inline_layout => "a type",
        Rule::layout_kind => "a layout (`struct`, `table`, `union`, `enum`, `bits`)",
        Rule::layout_params => "`<`",
        Rule::layout_param => "a type or a literal",
        Rule::constraints => "`:`",
        Rule::constant => "a constant",
        Rule::literal | Rule::numeric_literal => "a literal",
        Rule::string_literal => "a string literal",
        Rule::bool_literal => "`true` or `false`",
        Rule::attribute_list | Rule::attribute => "an attribute",
        Rule::attribute_arg => "an attribute argument",
        Rule::doc_comment => "a doc comment",
        Rule::modifier | Rule::modifier_word => "a modifier",
        Rule::modifier_args | Rule::modifier_arg => "a modifier's `added=` or `removed=`",
        Rule::ordinal => "an ordinal",
        Rule::ordinal_member | Rule::value_member | Rule::struct_member => "a member",
        Rule::reserved => "`reserved`",
        Rule::method | Rule::event => "a method",
        Rule::response => "`->`",
        Rule::payload => "`(`",
        Rule::service_member => "a service member",
        Rule::resource_property => "a property",
        other => return format!("{other:?}"),
    };
    text.to_string()
}

struct Walker {
    file: FileId,
    errors: Vec<Diagnostic>,
}

impl Walker {
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    fn file(&mut self, pair: Pair<Rule>) -> File {
        let mut inner = pair.into_inner();
        let library = inner.next().expect("library_decl");
        let mut lib_inner = library.into_inner();
        let library_attributes = self.attributes(lib_inner.next().expect("attributes"));
        lib_inner.next(); // `library`
        let library_name = self.compound_ident(lib_inner.next().expect("name"));
        let mut usings = Vec::new();
        let mut declarations = Vec::new();
        for item in inner {
            match item.as_rule() {
                Rule::using_decl => usings.push(self.using(item)),
                Rule::const_decl => declarations.push(Declaration::Const(self.const_decl(item))),
                Rule::alias_decl => declarations.push(Declaration::Alias(self.alias_decl(item))),
                Rule::type_decl => declarations.push(Declaration::Type(self.type_decl(item))),
                Rule::protocol_decl => {
                    declarations.push(Declaration::Protocol(self.protocol_decl(item)))
                }
                Rule::service_decl => {
                    declarations.push(Declaration::Service(self.service_decl(item)))
                }
                Rule::resource_decl => {
                    declarations.push(Declaration::Resource(self.resource_decl(item)))
                }
                _ => {}
            }
        }
        File {
            library: library_name,
            library_attributes,
            usings,
            declarations,
        }
    }

    fn using(&mut self, pair: Pair<Rule>) -> Using {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let attributes = self.attributes(inner.next().expect("attributes"));
        inner.next(); // `using`
        let library = self.compound_ident(inner.next().expect("name"));
        let alias = inner.nth(1).map(|p| self.ident(p));
        Using {
            attributes,
            library,
            alias,
            span,
        }
    }

    fn const_decl(&mut self, pair: Pair<Rule>) -> ConstDecl {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let attributes = self.attributes(inner.next().expect("attributes"));
        inner.next();
        let name = self.ident(inner.next().expect("name"));
        let ty = self.type_ctor(inner.next().expect("type"));
        let value = self.constant(inner.next().expect("value"));
        ConstDecl {
            attributes,
            name,
            ty,
            value,
            span,
        }
    }

    fn alias_decl(&mut self, pair: Pair<Rule>) -> AliasDecl {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let attributes = self.attributes(inner.next().expect("attributes"));
        inner.next();
        let name = self.ident(inner.next().expect("name"));
        let target = self.type_ctor(inner.next().expect("type"));
        AliasDecl {
            attributes,
            name,
            target,
            span,
        }
    }

    fn type_decl(&mut self, pair: Pair<Rule>) -> TypeDecl {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let attributes = self.attributes(inner.next().expect("attributes"));
        inner.next();
        let name = self.ident(inner.next().expect("name"));
        let ty = self.type_ctor(inner.next().expect("type"));
        TypeDecl {
            attributes,
            name,
            ty,
            span,
        }
    }

    fn protocol_decl(&mut self, pair: Pair<Rule>) -> ProtocolDecl {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let attributes = self.attributes(inner.next().expect("attributes"));
        let mut modifiers = Vec::new();
        let mut name = None;
        let mut composes = Vec::new();
        let mut methods = Vec::new();
        for item in inner {
            match item.as_rule() {
                Rule::modifier => modifiers.push(self.modifier(item)),
                Rule::ident => name = Some(self.ident(item)),
                Rule::compose => {
                    let span = self.span(&item);
                    let mut c = item.into_inner();
                    let attributes = self.attributes(c.next().expect("attributes"));
                    c.next();
                    let protocol = self.compound_ident(c.next().expect("name"));
                    composes.push(Compose {
                        attributes,
                        protocol,
                        span,
                    });
                }
                Rule::method | Rule::event => methods.push(self.method(item)),
                _ => {}
            }
        }
        ProtocolDecl {
            attributes,
            modifiers,
            name: name.expect("protocol name"),
            composes,
            methods,
            span,
        }
    }

    fn method(&mut self, pair: Pair<Rule>) -> Method {
        let span = self.span(&pair);
        let is_event = pair.as_rule() == Rule::event;
        let mut inner = pair.into_inner();
        let attributes = self.attributes(inner.next().expect("attributes"));
        let mut modifiers = Vec::new();
        let mut name = None;
        let mut first_payload = None;
        let mut response = None;
        let mut error = None;
        for item in inner {
            match item.as_rule() {
                Rule::modifier => modifiers.push(self.modifier(item)),
                Rule::ident => name = Some(self.ident(item)),
                Rule::payload => first_payload = Some(self.payload(item)),
                Rule::response => {
                    for r in item.into_inner() {
                        match r.as_rule() {
                            Rule::payload => response = Some(self.payload(r)),
                            Rule::type_ctor => error = Some(self.type_ctor(r)),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let first_payload = first_payload.expect("payload");
        let (request, response) = if is_event {
            (None, Some(first_payload))
        } else {
            (Some(first_payload), response)
        };
        Method {
            attributes,
            modifiers,
            name: name.expect("method name"),
            request,
            response,
            error,
            span,
        }
    }

    fn payload(&mut self, pair: Pair<Rule>) -> Payload {
        let span = self.span(&pair);
        let ty = pair.into_inner().next().map(|t| self.type_ctor(t));
        Payload { ty, span }
    }

    fn service_decl(&mut self, pair: Pair<Rule>) -> ServiceDecl {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let attributes = self.attributes(inner.next().expect("attributes"));
        inner.next();
        let name = self.ident(inner.next().expect("name"));
        let members = inner
            .map(|m| {
                let span = self.span(&m);
                let mut mi = m.into_inner();
                let attributes = self.attributes(mi.next().expect("attributes"));
                let name = self.ident(mi.next().expect("name"));
                let ty = self.type_ctor(mi.next().expect("type"));
                ServiceMember {
                    attributes,
                    name,
                    ty,
                    span,
                }
            })
            .collect();
        ServiceDecl {
            attributes,
            name,
            members,
            span,
        }
    }

    fn resource_decl(&mut self, pair: Pair<Rule>) -> ResourceDecl {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let attributes = self.attributes(inner.next().expect("attributes"));
        inner.next();
        let name = self.ident(inner.next().expect("name"));
        let mut underlying = None;
        let mut properties = Vec::new();
        for item in inner {
            match item.as_rule() {
                Rule::type_ctor => underlying = Some(self.type_ctor(item)),
                Rule::resource_properties => {
                    for p in item
                        .into_inner()
                        .filter(|p| p.as_rule() == Rule::resource_property)
                    {
                        let span = self.span(&p);
                        let mut pi = p.into_inner();
                        let attributes = self.attributes(pi.next().expect("attributes"));
                        let name = self.ident(pi.next().expect("name"));
                        let ty = self.type_ctor(pi.next().expect("type"));
                        properties.push(ResourceProperty {
                            attributes,
                            name,
                            ty,
                            span,
                        });
                    }
                }
                _ => {}
            }
        }
        ResourceDecl {
            attributes,
            name,
            underlying,
            properties,
            span,
        }
    }

    fn type_ctor(&mut self, pair: Pair<Rule>) -> TypeCtor {
        let span = self.span(&pair);
        let mut layout = None;
        let mut params = Vec::new();
        let mut params_span = None;
        let mut constraints = Vec::new();
        let mut constraints_span = None;
        for item in pair.into_inner() {
            match item.as_rule() {
                Rule::compound_ident => layout = Some(LayoutRef::Named(self.compound_ident(item))),
                Rule::inline_layout => {
                    layout = Some(LayoutRef::Inline(Box::new(self.inline_layout(item))))
                }
                Rule::layout_params => {
                    params_span = Some(self.span(&item));
                    for param in item.into_inner() {
                        let inner = param.into_inner().next().expect("param");
                        params.push(match inner.as_rule() {
                            Rule::type_ctor => LayoutParam::Type(self.type_ctor(inner)),
                            _ => {
                                let span = self.span(&inner);
                                LayoutParam::Literal(self.literal(inner), span)
                            }
                        });
                    }
                }
                Rule::constraints => {
                    constraints_span = Some(self.span(&item));
                    constraints = item.into_inner().map(|c| self.constant(c)).collect();
                }
                _ => {}
            }
        }
        TypeCtor {
            layout: layout.expect("layout"),
            params,
            params_span,
            constraints,
            constraints_span,
            span,
        }
    }

    fn inline_layout(&mut self, pair: Pair<Rule>) -> Layout {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let attributes = self.attributes(inner.next().expect("attributes"));
        let mut modifiers = Vec::new();
        let mut kind = None;
        let mut subtype = None;
        let mut members = Vec::new();
        for item in inner {
            match item.as_rule() {
                Rule::modifier => modifiers.push(self.modifier(item)),
                Rule::layout_kind => {
                    let k = match item.as_str() {
                        "struct" => LayoutKind::Struct,
                        "table" => LayoutKind::Table,
                        "union" => LayoutKind::Union,
                        "enum" => LayoutKind::Enum,
                        _ => LayoutKind::Bits,
                    };
                    kind = Some((k, self.span(&item)));
                }
                Rule::type_ctor => subtype = Some(self.type_ctor(item)),
                Rule::ordinal_member | Rule::value_member | Rule::struct_member => {
                    members.push(self.layout_member(item))
                }
                _ => {}
            }
        }
        let (kind, kind_span) = kind.expect("layout kind");
        Layout {
            attributes,
            modifiers,
            kind,
            kind_span,
            subtype,
            members,
            span,
        }
    }

    fn layout_member(&mut self, pair: Pair<Rule>) -> LayoutMember {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        let attributes = self.attributes(inner.next().expect("attributes"));
        match rule {
            Rule::ordinal_member => {
                let ordinal_pair = inner.next().expect("ordinal");
                let ordinal_span = self.span(&ordinal_pair);
                // Out-of-range values saturate; the resolver rejects them.
                let ordinal = ordinal_pair.as_str().parse::<u64>().unwrap_or(u64::MAX);
                let next = inner.next().expect("member");
                let member = if next.as_rule() == Rule::reserved {
                    None
                } else {
                    let name = self.ident(next);
                    let ty = self.type_ctor(inner.next().expect("type"));
                    Some((name, ty))
                };
                LayoutMember::Ordinal {
                    attributes,
                    ordinal,
                    ordinal_span,
                    member,
                    span,
                }
            }
            Rule::value_member => {
                let name = self.ident(inner.next().expect("name"));
                let value = self.constant(inner.next().expect("value"));
                LayoutMember::Value {
                    attributes,
                    name,
                    value,
                    span,
                }
            }
            _ => {
                let name = self.ident(inner.next().expect("name"));
                let ty = self.type_ctor(inner.next().expect("type"));
                let default = inner.next().map(|c| self.constant(c));
                LayoutMember::Struct {
                    attributes,
                    name,
                    ty,
                    default,
                    span,
                }
            }
        }
    }

    fn constant(&mut self, pair: Pair<Rule>) -> Constant {
        let terms: Vec<Constant> = pair.into_inner().map(|t| self.constant_term(t)).collect();
        balanced_or(terms)
    }

    fn constant_term(&mut self, pair: Pair<Rule>) -> Constant {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::literal => Constant::Literal(self.literal(pair), span),
            Rule::compound_ident => Constant::Identifier(self.compound_ident(pair)),
            _ => self.constant(pair),
        }
    }

    fn literal(&mut self, pair: Pair<Rule>) -> Literal {
        let inner = pair.into_inner().next().expect("literal");
        match inner.as_rule() {
            Rule::bool_literal => Literal::Bool(inner.as_str() == "true"),
            Rule::numeric_literal => Literal::Number(inner.as_str().to_string()),
            _ => {
                let span = self.span(&inner);
                let text = inner.as_str();
                Literal::String(self.unescape(&text[1..text.len() - 1], span))
            }
        }
    }

    fn unescape(&mut self, body: &str, span: Span) -> String {
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let escaped = chars.next().map(|(_, e)| e);
            let value = match escaped {
                Some('n') => Some('\n'),
                Some('t') => Some('\t'),
                Some('r') => Some('\r'),
                Some('\\') => Some('\\'),
                Some('"') => Some('"'),
                Some('0') => Some('\0'),
                _ => None,
            };
            match value {
                Some(v) => out.push(v),
                None => {
                    let start = span.start as usize + 1 + i;
                    let len = 1 + escaped.map_or(0, char::len_utf8);
                    self.errors.push(
                        Diagnostic::new(
                            ErrorCode::InvalidStringEscape,
                            Span::new(self.file, start, start + len),
                            "invalid escape sequence in string literal",
                        )
                        .label("unknown escape")
                        .help(r#"valid escapes are \n \t \r \\ \" \0"#),
                    );
                }
            }
        }
        out
    }

    fn attributes(&mut self, pair: Pair<Rule>) -> Vec<Attribute> {
        let mut attributes: Vec<Attribute> = Vec::new();
        let mut previous_was_doc = false;
        for item in pair.into_inner() {
            let span = self.span(&item);
            if item.as_rule() == Rule::doc_comment {
                let text = format!("{}\n", item.as_str().trim_start_matches("///"));
                // Consecutive `///` lines form one `doc` attribute.
                if previous_was_doc {
                    if let Some(last) = attributes.last_mut() {
                        if let Some(arg) = last.args.first_mut() {
                            if let Constant::Literal(Literal::String(s), s_span) = &mut arg.value {
                                s.push_str(&text);
                                *s_span = s_span.to(span);
                            }
                            arg.span = arg.span.to(span);
                        }
                        last.span = last.span.to(span);
                        continue;
                    }
                }
                previous_was_doc = true;
                attributes.push(Attribute {
                    name: Ident {
                        name: "doc".into(),
                        span,
                    },
                    args: vec![AttributeArg {
                        name: None,
                        value: Constant::Literal(Literal::String(text), span),
                        span,
                    }],
                    span,
                });
                continue;
            }
            previous_was_doc = false;
            let mut inner = item.into_inner();
            let name = self.ident(inner.next().expect("name"));
            let args = inner
                .map(|arg| {
                    let span = self.span(&arg);
                    let mut parts: Vec<Pair<Rule>> = arg.into_inner().collect();
                    let value = self.constant(parts.pop().expect("value"));
                    let name = parts.pop().map(|p| self.ident(p));
                    AttributeArg { name, value, span }
                })
                .collect();
            attributes.push(Attribute { name, args, span });
        }
        attributes
    }

    fn modifier(&mut self, pair: Pair<Rule>) -> Modifier {
        let mut inner = pair.into_inner();
        let word = inner.next().expect("modifier word");
        // The pair's own span would include the whitespace pest skips while
        // looking for arguments.
        let mut span = self.span(&word);
        let availability = inner
            .next()
            .map(|args| {
                span = span.to(self.span(&args));
                args.into_inner()
                    .map(|arg| {
                        let span = self.span(&arg);
                        let mut parts = arg.into_inner();
                        let name = self.ident(parts.next().expect("name"));
                        let value = self.constant(parts.next().expect("value"));
                        AttributeArg {
                            name: Some(name),
                            value,
                            span,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let kind = match word.as_str() {
            "strict" => ModifierKind::Strict,
            "flexible" => ModifierKind::Flexible,
            "resource" => ModifierKind::Resource,
            "open" => ModifierKind::Open,
            "ajar" => ModifierKind::Ajar,
            _ => ModifierKind::Closed,
        };
        Modifier {
            kind,
            span,
            availability,
        }
    }

    fn compound_ident(&mut self, pair: Pair<Rule>) -> CompoundIdent {
        let span = self.span(&pair);
        let parts = pair.into_inner().map(|p| self.ident(p)).collect();
        CompoundIdent { parts, span }
    }

    fn ident(&mut self, pair: Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }
}

/// Combines `a | b | c | …` into a balanced tree, so that evaluating (and
/// dropping) a long chain recurses only logarithmically deep.
fn balanced_or(mut terms: Vec<Constant>) -> Constant {
    if terms.len() <= 1 {
        return terms.pop().expect("the grammar yields at least one term");
    }
    let right = terms.split_off(terms.len() / 2);
    let (left, right) = (balanced_or(terms), balanced_or(right));
    let span = left.span().to(right.span());
    Constant::Or(Box::new(left), Box::new(right), span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> File {
        match parse(FileId(0), text) {
            Ok(f) => f,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn parses_every_construct() {
        let file = parse_ok(
            r#"
            /// The library.
            library example.things;
            using zx;
            using fuchsia.io as io;
            const MAX uint32 = 0x10;
            const NAME string:10 = "a\"b";
            const FLAGS Flags = Flags.A | Flags.B;
            alias Bytes = vector<uint8>:MAX;
            /// A point.
            /// Two lines.
            @available(added=1, removed=3)
            type Point = struct { x int32; y int32 = 3; inner struct { z bool; }; };
            type T = resource table { 1: a uint32; 2: reserved; 3: h zx.Handle:<VMO, zx.Rights.READ | zx.Rights.WRITE, optional>; };
            type U = strict union { 1: a array<uint8, 4>; };
            type E = flexible enum : uint8 { A = 1; B = 2; };
            type Flags = strict bits { A = 0b1; B = 2; };
            @discoverable
            open protocol P {
                compose Q;
                strict Get(struct { id uint32; }) -> (struct { v box<Point>; }) error E;
                flexible OneWay(T);
                -> OnEvent(struct { c client_end:<P, optional>; });
                strict -> OnStrict();
                Empty() -> ();
            };
            service S { p client_end:P; };
            resource_definition handle : uint32 { properties { subtype ObjType; rights Rights; }; };
            "#,
        );
        assert_eq!(file.library.dotted(), "example.things");
        assert_eq!(file.usings.len(), 2);
        assert_eq!(
            file.usings[1].alias.as_ref().map(|a| a.name.as_str()),
            Some("io")
        );
        assert_eq!(file.declarations.len(), 12);
        let Declaration::Type(point) = &file.declarations[4] else {
            panic!()
        };
        let doc = &point.attributes[0];
        assert_eq!(doc.name.name, "doc");
        let Constant::Literal(Literal::String(text), _) = &doc.args[0].value else {
            panic!()
        };
        assert_eq!(text, " A point.\n Two lines.\n");
        let Declaration::Protocol(p) = &file.declarations[9] else {
            panic!()
        };
        assert_eq!(p.composes.len(), 1);
        assert_eq!(p.methods.len(), 5);
        assert!(p.methods[2].request.is_none());
        assert!(p.methods[1].response.is_none());
        assert!(p.methods[0].error.is_some());
    }

    #[test]
    fn keywords_are_contextual() {
        parse_ok("library a; type struct = struct { struct struct; table uint8; strict bool; };");
        parse_ok("library a; protocol P { strict(); compose(); };");
    }

    #[test]
    fn syntax_error_points_at_token() {
        let errors = parse(FileId(0), "library a;\ntype X = struct { a uint32 };").unwrap_err();
        assert_eq!(errors[0].code, ErrorCode::Syntax);
        assert_eq!(errors[0].span.start, 38);
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let text = format!(
            "library a; alias X = {}uint8{};",
            "vector<".repeat(100),
            ">".repeat(100)
        );
        let errors = parse(FileId(0), &text).unwrap_err();
        assert_eq!(errors[0].code, ErrorCode::NestingTooDeep);
    }
}
