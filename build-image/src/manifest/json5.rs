//! A JSON5 parser that keeps the byte span of every key and value, so that
//! every later diagnostic (a wrong type, an unknown protocol, a broken
//! route) can point at the exact place in the manifest.
//!
//! It accepts what manifests need from JSON5: `//` and `/* */` comments,
//! trailing commas, unquoted (identifier) keys, single- and double-quoted
//! strings with escapes, decimal and hexadecimal numbers with an optional
//! sign. The first syntax error ends the parse of a file.

use std::ops::Range;

/// Byte range in the source text.
pub type Span = Range<usize>;

/// A parsed value and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: Kind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Vec<Member>),
}

/// A number as written: integers are kept exact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Integer(i128),
    Float(f64),
}

/// One `key: value` of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub key: String,
    pub key_span: Span,
    pub value: Value,
}

impl Kind {
    /// How diagnostics name this kind of value ("expected a string, found
    /// an array").
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }
}

/// A syntax error: what was expected, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

/// Parses one JSON5 document.
pub fn parse(text: &str) -> Result<Value, SyntaxError> {
    let mut parser = Parser { text, at: 0 };
    parser.skip_trivia()?;
    let value = parser.value(0)?;
    parser.skip_trivia()?;
    if parser.at < text.len() {
        return Err(parser.error_here("expected the end of the file after the top-level value"));
    }
    Ok(value)
}

/// Nesting deeper than this is refused (manifests are shallow; this keeps
/// the recursion bounded).
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        Some(c)
    }

    fn error_here(&self, message: &str) -> SyntaxError {
        let len = self.peek().map_or(0, char::len_utf8);
        SyntaxError {
            message: message.into(),
            span: self.at..self.at + len,
        }
    }

    fn skip_trivia(&mut self) -> Result<(), SyntaxError> {
        loop {
            let rest = &self.text[self.at..];
            if rest.starts_with("//") {
                self.at += rest.find('\n').unwrap_or(rest.len());
            } else if let Some(comment) = rest.strip_prefix("/*") {
                let Some(end) = comment.find("*/") else {
                    return Err(SyntaxError {
                        message: "unterminated block comment".into(),
                        span: self.at..self.at + 2,
                    });
                };
                self.at += end + 4;
            } else if self
                .peek()
                .is_some_and(|c| c.is_whitespace() || c == '\u{feff}')
            {
                self.bump();
            } else {
                return Ok(());
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error_here("values are nested too deeply"));
        }
        let start = self.at;
        let kind = match self.peek() {
            Some('{') => self.object(depth)?,
            Some('[') => self.array(depth)?,
            Some(quote @ ('"' | '\'')) => Kind::String(self.string(quote)?),
            Some(c) if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') => self.number()?,
            Some(c) if is_identifier_start(c) => {
                let word = self.identifier();
                match word {
                    "true" => Kind::Bool(true),
                    "false" => Kind::Bool(false),
                    "null" => Kind::Null,
                    "Infinity" => Kind::Number(Number::Float(f64::INFINITY)),
                    "NaN" => Kind::Number(Number::Float(f64::NAN)),
                    _ => {
                        return Err(SyntaxError {
                            message: format!(
                                "unexpected word `{word}`: strings must be quoted in values"
                            ),
                            span: start..self.at,
                        })
                    }
                }
            }
            Some(_) => return Err(self.error_here("expected a value")),
            None => return Err(self.error_here("expected a value, found the end of the file")),
        };
        Ok(Value {
            kind,
            span: start..self.at,
        })
    }

    fn object(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.bump(); // '{'
        let mut members = Vec::new();
        loop {
            self.skip_trivia()?;
            if self.peek() == Some('}') {
                self.bump();
                return Ok(Kind::Object(members));
            }
            let key_start = self.at;
            let key = match self.peek() {
                Some(quote @ ('"' | '\'')) => self.string(quote)?,
                Some(c) if is_identifier_start(c) => self.identifier().to_string(),
                _ => return Err(self.error_here("expected a key or `}`")),
            };
            let key_span = key_start..self.at;
            self.skip_trivia()?;
            if self.peek() != Some(':') {
                return Err(self.error_here("expected `:` after the key"));
            }
            self.bump();
            self.skip_trivia()?;
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_span,
                value,
            });
            self.skip_trivia()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {}
                _ => return Err(self.error_here("expected `,` or `}` after the value")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.bump(); // '['
        let mut items = Vec::new();
        loop {
            self.skip_trivia()?;
            if self.peek() == Some(']') {
                self.bump();
                return Ok(Kind::Array(items));
            }
            items.push(self.value(depth + 1)?);
            self.skip_trivia()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {}
                _ => return Err(self.error_here("expected `,` or `]` after the value")),
            }
        }
    }

    fn identifier(&mut self) -> &str {
        let start = self.at;
        while self.peek().is_some_and(is_identifier_continue) {
            self.bump();
        }
        &self.text[start..self.at]
    }

    fn string(&mut self, quote: char) -> Result<String, SyntaxError> {
        let start = self.at;
        self.bump();
        let mut out = String::new();
        loop {
            let escape_at = self.at;
            match self.bump() {
                None | Some('\n') => {
                    return Err(SyntaxError {
                        message: "unterminated string".into(),
                        span: start..start + 1,
                    })
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('b') => out.push('\u{8}'),
                    Some('f') => out.push('\u{c}'),
                    Some('v') => out.push('\u{b}'),
                    Some('0') => out.push('\0'),
                    Some('\n') => {}
                    Some('u') => {
                        let hex = self.text.get(self.at..self.at + 4).unwrap_or("");
                        match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                            Some(c) if hex.len() == 4 => {
                                out.push(c);
                                self.at += 4;
                            }
                            _ => {
                                return Err(SyntaxError {
                                    message: "expected four hexadecimal digits after `\\u`".into(),
                                    span: escape_at..self.at,
                                })
                            }
                        }
                    }
                    Some(c) if !c.is_ascii_alphanumeric() => out.push(c),
                    _ => {
                        return Err(SyntaxError {
                            message: "unknown escape sequence".into(),
                            span: escape_at..self.at,
                        })
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn number(&mut self) -> Result<Kind, SyntaxError> {
        let start = self.at;
        let negative = match self.peek() {
            Some('-') => {
                self.bump();
                true
            }
            Some('+') => {
                self.bump();
                false
            }
            _ => false,
        };
        let digits_start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
            || (self.text[..self.at].ends_with(['e', 'E'])
                && !self.text[digits_start..].starts_with("0x")
                && self.peek().is_some_and(|c| c == '-' || c == '+'))
        {
            self.bump();
        }
        let digits = &self.text[digits_start..self.at];
        let invalid = || SyntaxError {
            message: format!("invalid number `{}`", &self.text[start..self.at]),
            span: start..self.at,
        };
        let sign = if negative { -1 } else { 1 };
        if digits == "Infinity" {
            return Ok(Kind::Number(Number::Float(sign as f64 * f64::INFINITY)));
        }
        if let Some(hex) = digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            let value = i128::from_str_radix(hex, 16).map_err(|_| invalid())?;
            return Ok(Kind::Number(Number::Integer(sign * value)));
        }
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let value: i128 = digits.parse().map_err(|_| invalid())?;
            return Ok(Kind::Number(Number::Integer(sign * value)));
        }
        let looks_numeric = digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
        match digits.parse::<f64>() {
            Ok(value) if looks_numeric => Ok(Kind::Number(Number::Float(sign as f64 * value))),
            _ => Err(invalid()),
        }
    }
}

fn is_identifier_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

fn is_identifier_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Vec<Member> {
        match parse(text).unwrap().kind {
            Kind::Object(members) => members,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn accepts_json5_features() {
        let text = "// a comment\n{ unquoted: 'single', \"double\": [1, 0x10, -2.5,], /* b */ yes: true, }";
        let members = object(text);
        assert_eq!(members.len(), 3);
        assert_eq!(members[0].key, "unquoted");
        assert_eq!(members[0].value.kind, Kind::String("single".into()));
        let Kind::Array(items) = &members[1].value.kind else {
            panic!("not an array");
        };
        let numbers: Vec<_> = items.iter().map(|v| v.kind.clone()).collect();
        assert_eq!(
            numbers,
            [
                Kind::Number(Number::Integer(1)),
                Kind::Number(Number::Integer(16)),
                Kind::Number(Number::Float(-2.5)),
            ]
        );
        assert_eq!(&text[items[1].span.clone()], "0x10");
        assert_eq!(members[2].value.kind, Kind::Bool(true));
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "{\n  name: \"echo\",\n}";
        let members = object(text);
        assert_eq!(&text[members[0].key_span.clone()], "name");
        assert_eq!(&text[members[0].value.span.clone()], "\"echo\"");
    }

    #[test]
    fn escapes() {
        let members = object(r#"{ a: "x\n\u0041\"", b: 'it\'s' }"#);
        assert_eq!(members[0].value.kind, Kind::String("x\nA\"".into()));
        assert_eq!(members[1].value.kind, Kind::String("it's".into()));
    }

    #[test]
    fn reports_the_place_of_a_syntax_error() {
        let text = "{ a: 1 b: 2 }";
        let error = parse(text).unwrap_err();
        assert_eq!(error.span, 7..8);
        assert!(error.message.contains("`,` or `}`"), "{}", error.message);
        assert!(parse("{ a: 'open }").is_err());
        assert!(parse("/* open").is_err());
        assert!(parse("{ a: bare }").is_err());
        assert!(parse("{} {}").is_err());
        assert!(parse(&"[".repeat(100)).is_err());
    }

    #[test]
    fn numbers() {
        for (text, expected) in [
            ("0", Number::Integer(0)),
            ("+7", Number::Integer(7)),
            ("-0x1F", Number::Integer(-31)),
            ("1e3", Number::Float(1000.0)),
            (".5", Number::Float(0.5)),
            ("2.5e-1", Number::Float(0.25)),
        ] {
            assert_eq!(parse(text).unwrap().kind, Kind::Number(expected), "{text}");
        }
        assert!(parse("12abc").is_err());
    }
}
