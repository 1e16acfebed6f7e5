//! Name lookup (`Provider.LookupHost`): smoltcp's DNS client asks the
//! server DHCP gave (QEMU's user network: 10.0.2.3, which forwards to the
//! host's resolver) for A records; the answer, or the failure, answers
//! the client's call (a deferred reply, `replies`).

use crate::replies::ReplyTo;
use crate::Stack;
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::socket::dns;
use smoltcp::wire::{DnsQueryType, IpAddress, Ipv4Address};
use zx::Status;

/// Lookups in progress at once (smoltcp's query slots).
pub const MAX_LOOKUPS: usize = 4;
/// Longest name (`idl/net.idl`'s `MAX_HOST_NAME`).
const MAX_NAME: usize = 255;
/// smoltcp gives up on a query after 10 s without an answer; a failure
/// that late is reported as `TIMED_OUT`, an earlier one as the server's
/// answer (`NOT_FOUND`).
const GIVE_UP_NANOS: i64 = 9_500_000_000;

/// A lookup's outcome: the addresses, or a status.
pub type LookupResult = Result<Vec<[u8; 4]>, i32>;

/// A query waiting for the server.
pub struct Lookup {
    reply: ReplyTo,
    query: dns::QueryHandle,
    started: i64,
}

/// The DNS client, with room for [`MAX_LOOKUPS`] queries.
pub fn socket() -> dns::Socket<'static> {
    dns::Socket::new(&[], (0..MAX_LOOKUPS).map(|_| None).collect::<Vec<_>>())
}

/// What a name is, before asking anyone.
pub enum Name {
    /// An address already (a dotted quad, or `localhost`).
    Address(Ipv4Address),
    /// A host name to ask the server about.
    Host,
}

/// Checks `name` (letters, digits, `-` and `.`, at most 255 bytes, no
/// empty label) and answers it at once if it is an address.
pub fn parse(name: &str) -> Result<Name, i32> {
    if name.eq_ignore_ascii_case("localhost") {
        return Ok(Name::Address(Ipv4Address::new(127, 0, 0, 1)));
    }
    if let Ok(address) = name.parse::<Ipv4Address>() {
        return Ok(Name::Address(address));
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(Name::Host)
    } else {
        Err(Status::INVALID_ARGS.0)
    }
}

impl Stack {
    /// Whether lookups are in progress.
    pub fn looking_up(&self) -> bool {
        !self.lookups.is_empty()
    }

    /// Starts looking `name` up; `Ok(Some)` if it is answered at once,
    /// `Ok(None)` if the reply to `reply` comes from
    /// [`Stack::lookup_results`].
    pub fn start_lookup(
        &mut self,
        reply: ReplyTo,
        name: &str,
    ) -> Result<Option<Vec<[u8; 4]>>, i32> {
        if let Name::Address(address) = parse(name)? {
            return Ok(Some(vec![address.octets()]));
        }
        if self.dns.is_none() {
            return Err(Status::BAD_STATE.0);
        }
        if self.lookups.len() >= MAX_LOOKUPS {
            return Err(Status::NO_RESOURCES.0);
        }
        let query = self
            .sockets
            .get_mut::<dns::Socket>(self.resolver)
            .start_query(self.iface.context(), name, DnsQueryType::A)
            .map_err(|error| match error {
                dns::StartQueryError::NoFreeSlot => Status::NO_RESOURCES.0,
                _ => Status::INVALID_ARGS.0,
            })?;
        self.lookups.push(Lookup {
            reply,
            query,
            started: zx::clock_get_monotonic().into_nanos(),
        });
        Ok(None)
    }

    /// The lookups that ended since the last call.
    pub fn lookup_results(&mut self) -> Vec<(ReplyTo, LookupResult)> {
        let mut results = Vec::new();
        let now = zx::clock_get_monotonic().into_nanos();
        let socket = self.sockets.get_mut::<dns::Socket>(self.resolver);
        self.lookups.retain(|lookup| {
            let result = match socket.get_query_result(lookup.query) {
                Err(dns::GetQueryResultError::Pending) => return true,
                Ok(addresses) => {
                    let found: Vec<[u8; 4]> = addresses
                        .iter()
                        .map(|address| match address {
                            IpAddress::Ipv4(address) => address.octets(),
                        })
                        .collect();
                    if found.is_empty() {
                        Err(Status::NOT_FOUND.0)
                    } else {
                        Ok(found)
                    }
                }
                Err(dns::GetQueryResultError::Failed) if now - lookup.started >= GIVE_UP_NANOS => {
                    Err(Status::TIMED_OUT.0)
                }
                Err(dns::GetQueryResultError::Failed) => Err(Status::NOT_FOUND.0),
            };
            results.push((lookup.reply, result));
            false
        });
        results
    }
}
