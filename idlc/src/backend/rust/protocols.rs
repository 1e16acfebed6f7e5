//! Protocols: markers with ordinals, a synchronous client over any
//! `Transport`, a server trait with a `dispatch_*` function, event
//! encoders.

use std::fmt::Write;

use super::names::{camel, free_name, screaming, snake};
use super::Generator;
use crate::ir::{self, MethodKind, Openness};

/// What a method's reply looks like to Rust.
enum Reply {
    None,
    Empty,
    Payload(String),
    /// A result union: (union path, success path, error type or None).
    Result(String, String, Option<String>),
}

impl Generator<'_> {
    fn reply(&self, method: &ir::Method) -> Reply {
        if method.kind != MethodKind::TwoWay {
            return Reply::None;
        }
        match (&method.response, &method.success) {
            (Some(union), Some(success)) => Reply::Result(
                self.path(union),
                self.path(success),
                method.error.as_ref().map(|e| self.rust_type(e)),
            ),
            (Some(payload), None) => Reply::Payload(self.path(payload)),
            (None, _) => Reply::Empty,
        }
    }

    fn reply_type(&self, reply: &Reply) -> String {
        match reply {
            Reply::None | Reply::Empty => "()".into(),
            Reply::Payload(p) => p.clone(),
            Reply::Result(_, success, Some(error)) => format!("Result<{success}, {error}>"),
            Reply::Result(_, success, None) => success.clone(),
        }
    }

    pub(super) fn protocol(&mut self, p: &ir::Protocol) {
        let name = self.path(&p.name);
        let marker = format!("{name}Marker");
        self.line("");
        self.doc(&p.attributes);
        let _ = writeln!(self.out, "/// Marker type of protocol `{}`.", p.name);
        self.line("#[derive(Debug, Clone, Copy, PartialEq, Eq)]");
        let _ = writeln!(self.out, "pub struct {marker};");
        self.line("");
        let _ = writeln!(self.out, "impl {marker} {{");
        let discoverable = match &p.discoverable_name {
            Some(n) => format!("Some({n:?})"),
            None => "None".into(),
        };
        let _ = writeln!(
            self.out,
            "pub const DISCOVERABLE_NAME: Option<&'static str> = {discoverable};"
        );
        for m in &p.methods {
            let _ = writeln!(
                self.out,
                "/// Ordinal of `{}` (selector `{}`).",
                m.name, m.selector
            );
            let _ = writeln!(
                self.out,
                "pub const {}_ORDINAL: u64 = {:#018x};",
                screaming(&m.name),
                m.ordinal
            );
        }
        self.line("}");
        self.client(p, &name, &marker, false);
        self.client(p, &name, &marker, true);
        self.events(p, &name, &marker);
        self.server(p, &name, &marker);
    }

    fn header(&self, marker: &str, m: &ir::Method, txid: &str) -> String {
        format!(
            "_rt::TransactionHeader::new({txid}, {marker}::{}_ORDINAL, {})",
            screaming(&m.name),
            !m.strict
        )
    }

    fn client(&mut self, p: &ir::Protocol, name: &str, marker: &str, asynchronous: bool) {
        let (client, bound, inner, fn_kw, wait) = if asynchronous {
            (
                format!("{name}AsyncClient"),
                "_rt::client::AsyncTransport",
                "_rt::client::AsyncClient",
                "async fn",
                ".await",
            )
        } else {
            (
                format!("{name}Client"),
                "_rt::Transport",
                "_rt::client::Client",
                "fn",
                "",
            )
        };
        self.line("");
        let _ = writeln!(
            self.out,
            "/// {} client of `{}` over any transport.",
            if asynchronous {
                "Asynchronous"
            } else {
                "Synchronous"
            },
            p.name
        );
        let _ = writeln!(self.out, "pub struct {client}<T: {bound}> {{");
        let _ = writeln!(self.out, "client: {inner}<T>,");
        self.line("}");
        self.line("");
        let _ = writeln!(self.out, "impl<T: {bound}> {client}<T> {{");
        let _ = writeln!(
            self.out,
            "pub fn new(transport: T) -> Self {{ Self {{ client: {inner}::new(transport) }} }}"
        );
        let _ = writeln!(
            self.out,
            "pub fn client(&self) -> &{inner}<T> {{ &self.client }}"
        );
        for m in p.methods.iter().filter(|m| m.kind != MethodKind::Event) {
            let reply = self.reply(m);
            let (param, build) = match &m.request {
                Some(req) => (
                    format!(", mut request: {}", self.path(req)),
                    format!(
                        "_rt::OutgoingMessage::encode({}, &mut request)?",
                        self.header(marker, m, "0")
                    ),
                ),
                None => (
                    String::new(),
                    format!(
                        "_rt::OutgoingMessage::empty({})",
                        self.header(marker, m, "0")
                    ),
                ),
            };
            self.line("");
            self.doc(&m.attributes);
            let _ = writeln!(
                self.out,
                "pub {fn_kw} {}(&self{param}) -> Result<{}, _rt::client::ClientError<T::Error>> {{",
                snake(&m.name),
                self.reply_type(&reply)
            );
            // A synchronous two-way call with a request: encoded into the
            // client's reused buffer, the reply decoded in place
            // (`Client::call_body`).
            let in_place = !asynchronous && m.request.is_some() && !matches!(reply, Reply::None);
            if in_place {
                let header = self.header(marker, m, "0");
                let call = |decode: &str| {
                    format!("self.client.call_body({header}, &mut request, |reply| {decode})")
                };
                match &reply {
                    Reply::None => {}
                    Reply::Empty => {
                        let _ = writeln!(self.out, "{}", call("reply.decode_empty()"));
                    }
                    Reply::Payload(payload) => {
                        let decode = format!("reply.decode_body::<{payload}>()");
                        let _ = writeln!(self.out, "{}", call(&decode));
                    }
                    Reply::Result(union, _, error) => {
                        let decode = format!("reply.decode_body::<{union}>()");
                        let _ = writeln!(self.out, "match {}? {{", call(&decode));
                        if error.is_some() {
                            let _ =
                                writeln!(self.out, "{union}::Response(value) => Ok(Ok(value)),");
                            let _ = writeln!(self.out, "{union}::Err(error) => Ok(Err(error)),");
                        } else {
                            let _ = writeln!(self.out, "{union}::Response(value) => Ok(value),");
                        }
                        if !m.strict {
                            let _ = writeln!(self.out, "{union}::FrameworkErr(_) => Err(_rt::client::ClientError::UnknownMethod),");
                        }
                        self.line("}");
                    }
                }
                self.line("}");
                continue;
            }
            let _ = writeln!(self.out, "let message = {build};");
            match &reply {
                Reply::None => {
                    let _ = writeln!(self.out, "self.client.send(message){wait}");
                }
                Reply::Empty => {
                    let _ = writeln!(self.out, "let reply = self.client.call(message){wait}?;");
                    self.line("reply.decode_empty()?;");
                    self.line("Ok(())");
                }
                Reply::Payload(payload) => {
                    let _ = writeln!(
                        self.out,
                        "let mut reply = self.client.call(message){wait}?;"
                    );
                    let _ = writeln!(self.out, "Ok(reply.decode_body::<{payload}>()?)");
                }
                Reply::Result(union, _, error) => {
                    let _ = writeln!(
                        self.out,
                        "let mut reply = self.client.call(message){wait}?;"
                    );
                    let _ = writeln!(self.out, "match reply.decode_body::<{union}>()? {{");
                    if error.is_some() {
                        let _ = writeln!(self.out, "{union}::Response(value) => Ok(Ok(value)),");
                        let _ = writeln!(self.out, "{union}::Err(error) => Ok(Err(error)),");
                    } else {
                        let _ = writeln!(self.out, "{union}::Response(value) => Ok(value),");
                    }
                    if !m.strict {
                        let _ = writeln!(self.out, "{union}::FrameworkErr(_) => Err(_rt::client::ClientError::UnknownMethod),");
                    }
                    self.line("}");
                }
            }
            self.line("}");
        }
        let events: Vec<&ir::Method> = p
            .methods
            .iter()
            .filter(|m| m.kind == MethodKind::Event)
            .collect();
        let event_enum = format!("{name}Event");
        if !events.is_empty() {
            self.line("");
            self.line("/// Waits for the next event.");
            let _ = writeln!(self.out, "pub {fn_kw} next_event(&self) -> Result<{event_enum}, _rt::client::ClientError<T::Error>> {{");
            let _ = writeln!(
                self.out,
                "let mut message = self.client.next_event(){wait}?;"
            );
            self.line("let header = message.header()?;");
            self.line("match header.ordinal {");
            for m in &events {
                let ordinal = format!("{marker}::{}_ORDINAL", screaming(&m.name));
                match &m.response {
                    Some(payload) => {
                        let _ = writeln!(
                            self.out,
                            "{ordinal} => Ok({event_enum}::{}(message.decode_body::<{}>()?)),",
                            camel(&m.name),
                            self.path(payload)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            self.out,
                            "{ordinal} => {{ message.decode_empty()?; Ok({event_enum}::{}) }}",
                            camel(&m.name)
                        );
                    }
                }
            }
            let unknown = unknown_event(&events);
            let _ = writeln!(
                self.out,
                "ordinal if header.is_flexible() => Ok({event_enum}::{unknown} {{ ordinal }}),"
            );
            self.line("ordinal => Err(_rt::DecodeError::UnknownOrdinal { ordinal }.into()),");
            self.line("}");
            self.line("}");
        }
        self.line("}");
    }

    fn events(&mut self, p: &ir::Protocol, name: &str, marker: &str) {
        let events: Vec<&ir::Method> = p
            .methods
            .iter()
            .filter(|m| m.kind == MethodKind::Event)
            .collect();
        let event_enum = format!("{name}Event");
        if !events.is_empty() {
            self.line("");
            let _ = writeln!(self.out, "/// Events of `{}`.", p.name);
            let derive = if events
                .iter()
                .any(|m| m.response.as_ref().is_some_and(|r| self.is_resource(r)))
            {
                "#[derive(Debug, PartialEq)]"
            } else {
                "#[derive(Debug, Clone, PartialEq)]"
            };
            self.line(derive);
            let _ = writeln!(self.out, "pub enum {event_enum} {{");
            for m in &events {
                self.doc(&m.attributes);
                match &m.response {
                    Some(payload) => {
                        let _ = writeln!(self.out, "{}({}),", camel(&m.name), self.path(payload));
                    }
                    None => {
                        let _ = writeln!(self.out, "{},", camel(&m.name));
                    }
                }
            }
            self.line("/// A flexible event this version does not know.");
            let _ = writeln!(self.out, "{} {{ ordinal: u64 }},", unknown_event(&events));
            self.line("}");
            for m in &events {
                self.line("");
                let _ = writeln!(self.out, "/// Encodes event `{}` for sending.", m.name);
                let function = format!(
                    "{}_{}_event",
                    snake(p.name.split('/').nth(1).unwrap_or_default()),
                    snake(&m.name)
                );
                match &m.response {
                    Some(payload) => {
                        let _ = writeln!(
                            self.out,
                            "pub fn {function}(mut payload: {}) -> Result<_rt::OutgoingMessage, _rt::EncodeError> {{ _rt::OutgoingMessage::encode({}, &mut payload) }}",
                            self.path(payload),
                            self.header(marker, m, "0")
                        );
                    }
                    None => {
                        let _ = writeln!(
                            self.out,
                            "pub fn {function}() -> _rt::OutgoingMessage {{ _rt::OutgoingMessage::empty({}) }}",
                            self.header(marker, m, "0")
                        );
                    }
                }
            }
        }
    }

    /// A service: its name and, per member, the instance directory entry
    /// and the protocol marker.
    pub(super) fn service(&mut self, service: &ir::Service) {
        let name = self.path(&service.name);
        self.line("");
        self.doc(&service.attributes);
        let _ = writeln!(self.out, "/// Service `{}`.", service.name);
        self.line("#[derive(Debug, Clone, Copy, PartialEq, Eq)]");
        let _ = writeln!(self.out, "pub struct {name}Service;");
        self.line("");
        let _ = writeln!(self.out, "impl {name}Service {{");
        let _ = writeln!(
            self.out,
            "pub const NAME: &'static str = {:?};",
            service.name.replace('/', ".")
        );
        self.line("/// `(member name, protocol name)` of each member.");
        self.line("pub const MEMBERS: &'static [(&'static str, &'static str)] = &[");
        for m in &service.members {
            let _ = writeln!(
                self.out,
                "({:?}, {:?}),",
                m.name,
                m.protocol.replace('/', ".")
            );
        }
        self.line("];");
        self.line("}");
    }

    fn is_resource(&self, qualified: &str) -> bool {
        self.index
            .structs
            .get(qualified)
            .map(|s| s.resource)
            .or_else(|| self.index.unions.get(qualified).map(|u| u.resource))
            .unwrap_or(true)
    }

    fn server(&mut self, p: &ir::Protocol, name: &str, marker: &str) {
        let server = format!("{name}Server");
        let short = p.name.split('/').nth(1).unwrap_or_default();
        self.line("");
        let _ = writeln!(
            self.out,
            "/// Implement this to serve `{}`; see [`dispatch_{}`].",
            p.name,
            snake(short)
        );
        let _ = writeln!(self.out, "pub trait {server} {{");
        for m in p.methods.iter().filter(|m| m.kind != MethodKind::Event) {
            let reply = self.reply(m);
            let param = match &m.request {
                Some(req) => format!(", request: {}", self.path(req)),
                None => String::new(),
            };
            self.doc(&m.attributes);
            let ret = match reply {
                Reply::None | Reply::Empty => String::new(),
                ref r => format!(" -> {}", self.reply_type(r)),
            };
            let _ = writeln!(self.out, "fn {}(&mut self{param}){ret};", snake(&m.name));
        }
        self.line("}");
        self.line("");
        let _ = writeln!(
            self.out,
            "/// Decodes one message for `{}`, calls the server, and returns the reply to send (if any).",
            p.name
        );
        let _ = writeln!(
            self.out,
            "pub fn dispatch_{}<S: {server}>(server: &mut S, message: &mut _rt::IncomingMessage) -> Result<Option<_rt::OutgoingMessage>, _rt::server::DispatchError> {{",
            snake(short)
        );
        let _ = writeln!(
            self.out,
            "dispatch_{}_reusing(server, message, &mut Vec::new())",
            snake(short)
        );
        self.line("}");
        self.line("");
        let _ = writeln!(
            self.out,
            "/// Like [`dispatch_{}`], but a reply with a payload is encoded into `spare` (taken, its memory reused): a serving loop passes the bytes of the reply it sent last.",
            snake(short)
        );
        self.line("#[allow(unused_variables)]");
        let _ = writeln!(
            self.out,
            "pub fn dispatch_{}_reusing<S: {server}>(server: &mut S, message: &mut _rt::IncomingMessage, spare: &mut Vec<u8>) -> Result<Option<_rt::OutgoingMessage>, _rt::server::DispatchError> {{",
            snake(short)
        );
        self.line("let header = message.header()?;");
        self.line("match header.ordinal {");
        for m in p.methods.iter().filter(|m| m.kind != MethodKind::Event) {
            let _ = writeln!(self.out, "{marker}::{}_ORDINAL => {{", screaming(&m.name));
            let call = match &m.request {
                Some(req) => {
                    let _ = writeln!(
                        self.out,
                        "let request = message.decode_body::<{}>()?;",
                        self.path(req)
                    );
                    format!("server.{}(request)", snake(&m.name))
                }
                None => {
                    self.line("message.decode_empty()?;");
                    format!("server.{}()", snake(&m.name))
                }
            };
            let header = self.header(marker, m, "header.txid");
            match self.reply(m) {
                Reply::None => {
                    let _ = writeln!(self.out, "{call};");
                    self.line("Ok(None)");
                }
                Reply::Empty => {
                    let _ = writeln!(self.out, "{call};");
                    let _ = writeln!(self.out, "Ok(Some(_rt::OutgoingMessage::empty({header})))");
                }
                Reply::Payload(_) => {
                    let _ = writeln!(self.out, "let mut reply = {call};");
                    let _ = writeln!(
                        self.out,
                        "Ok(Some(_rt::OutgoingMessage::encode_reusing(spare, {header}, &mut reply)?))"
                    );
                }
                Reply::Result(union, _, error) => {
                    if error.is_some() {
                        let _ = writeln!(
                            self.out,
                            "let mut reply = match {call} {{ Ok(value) => {union}::Response(value), Err(error) => {union}::Err(error) }};"
                        );
                    } else {
                        let _ = writeln!(self.out, "let mut reply = {union}::Response({call});");
                    }
                    let _ = writeln!(
                        self.out,
                        "Ok(Some(_rt::OutgoingMessage::encode_reusing(spare, {header}, &mut reply)?))"
                    );
                }
            }
            self.line("}");
        }
        match p.openness {
            Openness::Open => {
                self.line("_ if header.is_flexible() && header.txid != 0 => Ok(Some(_rt::server::unknown_method_reply(&header))),");
                self.line("_ if header.is_flexible() => Ok(None),");
            }
            Openness::Ajar => {
                self.line("_ if header.is_flexible() && header.txid == 0 => Ok(None),");
            }
            Openness::Closed => {}
        }
        self.line("ordinal => Err(_rt::server::DispatchError::UnknownMethod { ordinal }),");
        self.line("}");
        self.line("}");
    }
}

/// The variant of an event enum for events this version does not know.
fn unknown_event(events: &[&ir::Method]) -> String {
    let variants: Vec<String> = events.iter().map(|m| camel(&m.name)).collect();
    free_name("Unknown", "UnknownEvent", &variants)
}
