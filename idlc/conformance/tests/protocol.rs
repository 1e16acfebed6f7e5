//! Transactional messages: headers, ordinals, a client and a server talking
//! through an in-memory transport, events, epitaphs, unknown methods.

use std::cell::RefCell;
use std::collections::VecDeque;

use idlc_conformance::test_conformance::*;
use idlc_runtime::client::ClientError;
use idlc_runtime::server::DispatchError;
use idlc_runtime::{
    IncomingMessage, OutgoingMessage, TransactionHeader, Transport, DYNAMIC_FLAG_FLEXIBLE,
};

struct EchoImpl {
    notified: Vec<u32>,
}

impl EchoServer for EchoImpl {
    fn echo(&mut self, request: EchoEchoRequest) -> EchoEchoResponse {
        EchoEchoResponse {
            value: request.value,
        }
    }
    fn lookup(&mut self, request: EchoLookupRequest) -> Result<EchoLookupResponse, Error> {
        match request.key {
            0 => Err(Error::NotFound),
            key => Ok(EchoLookupResponse {
                value: u64::from(key) * 10,
            }),
        }
    }
    fn notify(&mut self, request: EchoNotifyRequest) {
        self.notified.push(request.code);
    }
    fn ping(&mut self) {}
}

/// A transport whose peer is a server in the same thread: sending runs
/// the dispatcher and queues its reply.
struct Loopback {
    server: RefCell<EchoImpl>,
    inbox: RefCell<VecDeque<IncomingMessage>>,
}

impl Transport for Loopback {
    type Error = DispatchError;

    fn send(&self, message: OutgoingMessage) -> Result<(), DispatchError> {
        let mut incoming = IncomingMessage::from_outgoing(message);
        if let Some(reply) = dispatch_echo(&mut *self.server.borrow_mut(), &mut incoming)? {
            self.inbox
                .borrow_mut()
                .push_back(IncomingMessage::from_outgoing(reply));
        }
        Ok(())
    }

    fn receive(&self) -> Result<IncomingMessage, DispatchError> {
        self.inbox
            .borrow_mut()
            .pop_front()
            .ok_or(DispatchError::UnknownMethod { ordinal: 0 })
    }
}

fn client() -> EchoClient<Loopback> {
    EchoClient::new(Loopback {
        server: RefCell::new(EchoImpl { notified: vec![] }),
        inbox: RefCell::new(VecDeque::new()),
    })
}

#[test]
fn ordinals_are_sha256_of_the_selector() {
    // First 8 bytes of SHA-256("test.conformance/Echo.Echo"), little-endian,
    // top bit cleared — computed independently of the compiler.
    use sha2_free_check::ordinal;
    assert_eq!(
        EchoMarker::ECHO_ORDINAL,
        ordinal("test.conformance/Echo.Echo")
    );
    assert_eq!(
        EchoMarker::LOOKUP_ORDINAL,
        ordinal("test.conformance/Echo.Lookup")
    );
    assert_eq!(EchoMarker::ECHO_ORDINAL >> 63, 0);
}

#[test]
fn two_way_calls() {
    let client = client();
    let reply = client
        .echo(EchoEchoRequest {
            value: "hello".into(),
        })
        .unwrap();
    assert_eq!(reply.value, "hello");
    assert_eq!(
        client.lookup(EchoLookupRequest { key: 4 }).unwrap(),
        Ok(EchoLookupResponse { value: 40 })
    );
    assert_eq!(
        client.lookup(EchoLookupRequest { key: 0 }).unwrap(),
        Err(Error::NotFound)
    );
    client.ping().unwrap();
}

#[test]
fn one_way_messages() {
    let client = client();
    client.notify(EchoNotifyRequest { code: 7 }).unwrap();
    assert_eq!(
        client.client().transport().server.borrow().notified,
        vec![7]
    );
}

#[test]
fn message_header_bytes() {
    let mut request = EchoLookupRequest { key: 1 };
    let header = TransactionHeader::new(5, EchoMarker::LOOKUP_ORDINAL, true);
    let message = OutgoingMessage::encode(header, &mut request).unwrap();
    assert_eq!(&message.bytes[0..4], &[5, 0, 0, 0]);
    assert_eq!(message.bytes[4], 0x02, "wire format v2");
    assert_eq!(message.bytes[6], DYNAMIC_FLAG_FLEXIBLE);
    assert_eq!(message.bytes[7], 1, "magic number");
    assert_eq!(
        &message.bytes[8..16],
        &EchoMarker::LOOKUP_ORDINAL.to_le_bytes()
    );
    assert_eq!(&message.bytes[16..], &[1, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn events_and_epitaphs() {
    let client = client();
    let event = echo_on_alert_event(EchoOnAlertRequest { level: 3 }).unwrap();
    client
        .client()
        .transport()
        .inbox
        .borrow_mut()
        .push_back(IncomingMessage::from_outgoing(event));
    assert_eq!(
        client.next_event().unwrap(),
        EchoEvent::OnAlert(EchoOnAlertRequest { level: 3 })
    );
    client
        .client()
        .transport()
        .inbox
        .borrow_mut()
        .push_back(IncomingMessage::from_outgoing(OutgoingMessage::epitaph(
            -24,
        )));
    assert_eq!(
        client.next_event(),
        Err(ClientError::Closed { status: -24 })
    );
}

/// A loopback whose transport makes a two-way call in one step, as the
/// kernel's `channel_call` does: it picks the txid and leaves every other
/// queued message where it is.
struct CallingLoopback {
    inner: Loopback,
    calls: std::cell::Cell<u32>,
}

impl Transport for CallingLoopback {
    type Error = DispatchError;

    fn send(&self, message: OutgoingMessage) -> Result<(), DispatchError> {
        self.inner.send(message)
    }

    fn receive(&self) -> Result<IncomingMessage, DispatchError> {
        self.inner.receive()
    }

    fn can_call(&self) -> bool {
        true
    }

    fn call(&self, mut message: OutgoingMessage) -> Result<IncomingMessage, DispatchError> {
        self.calls.set(self.calls.get() + 1);
        message.set_txid(0x8000_0001);
        let mut incoming = IncomingMessage::from_outgoing(message);
        let reply = dispatch_echo(&mut *self.inner.server.borrow_mut(), &mut incoming)?
            .ok_or(DispatchError::UnknownMethod { ordinal: 0 })?;
        Ok(IncomingMessage::from_outgoing(reply))
    }
}

#[test]
fn two_way_calls_through_a_calling_transport() {
    let client = EchoClient::new(CallingLoopback {
        inner: Loopback {
            server: RefCell::new(EchoImpl { notified: vec![] }),
            inbox: RefCell::new(VecDeque::new()),
        },
        calls: std::cell::Cell::new(0),
    });
    // An event queued before the call stays queued through it.
    let event = echo_on_alert_event(EchoOnAlertRequest { level: 5 }).unwrap();
    client
        .client()
        .transport()
        .inner
        .inbox
        .borrow_mut()
        .push_back(IncomingMessage::from_outgoing(event));
    let reply = client
        .echo(EchoEchoRequest {
            value: "fast".into(),
        })
        .unwrap();
    assert_eq!(reply.value, "fast");
    assert_eq!(
        client.lookup(EchoLookupRequest { key: 2 }).unwrap(),
        Ok(EchoLookupResponse { value: 20 })
    );
    assert_eq!(client.client().transport().calls.get(), 2);
    assert_eq!(
        client.next_event().unwrap(),
        EchoEvent::OnAlert(EchoOnAlertRequest { level: 5 })
    );
}

#[test]
fn unknown_methods() {
    let mut server = EchoImpl { notified: vec![] };
    // Flexible two-way: the open protocol replies with framework_err.
    let header = TransactionHeader::new(9, 0x1234, true);
    let mut message = IncomingMessage::from_outgoing(OutgoingMessage::empty(header));
    let reply = dispatch_echo(&mut server, &mut message).unwrap().unwrap();
    let mut reply = IncomingMessage::from_outgoing(reply);
    assert_eq!(reply.header().unwrap().txid, 9);
    let body: EchoLookupResult = reply.decode_body().unwrap();
    assert_eq!(body, EchoLookupResult::FrameworkErr(-2));
    // Strict unknown methods are errors (the channel should be closed).
    let header = TransactionHeader::new(9, 0x1234, false);
    let mut message = IncomingMessage::from_outgoing(OutgoingMessage::empty(header));
    assert_eq!(
        dispatch_echo(&mut server, &mut message),
        Err(DispatchError::UnknownMethod { ordinal: 0x1234 })
    );
}

#[test]
fn malformed_requests_are_errors() {
    let mut server = EchoImpl { notified: vec![] };
    let header = TransactionHeader::new(1, EchoMarker::ECHO_ORDINAL, false);
    let mut bytes = header.to_bytes().to_vec();
    bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7]);
    let mut message = IncomingMessage {
        bytes,
        handles: vec![],
    };
    assert!(matches!(
        dispatch_echo(&mut server, &mut message),
        Err(DispatchError::Decode(_))
    ));
    let mut short = IncomingMessage {
        bytes: vec![1, 2, 3],
        handles: vec![],
    };
    assert!(dispatch_echo(&mut server, &mut short).is_err());
}

/// SHA-256, small and independent of the compiler's implementation.
mod sha2_free_check {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    fn sha256(data: &[u8]) -> [u8; 32] {
        let mut h: [u32; 8] = [
            0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
            0x5be0cd19,
        ];
        let mut message = data.to_vec();
        message.push(0x80);
        while message.len() % 64 != 56 {
            message.push(0);
        }
        message.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
        for block in message.chunks(64) {
            let mut w = [0u32; 64];
            for i in 0..16 {
                w[i] = u32::from_be_bytes([
                    block[4 * i],
                    block[4 * i + 1],
                    block[4 * i + 2],
                    block[4 * i + 3],
                ]);
            }
            for i in 16..64 {
                let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16]
                    .wrapping_add(s0)
                    .wrapping_add(w[i - 7])
                    .wrapping_add(s1);
            }
            let mut v = h;
            for i in 0..64 {
                let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
                let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
                let t1 = v[7]
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add(K[i])
                    .wrapping_add(w[i]);
                let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
                let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
                let t2 = s0.wrapping_add(maj);
                v = [
                    t1.wrapping_add(t2),
                    v[0],
                    v[1],
                    v[2],
                    v[3].wrapping_add(t1),
                    v[4],
                    v[5],
                    v[6],
                ];
            }
            for (a, b) in h.iter_mut().zip(v) {
                *a = a.wrapping_add(b);
            }
        }
        let mut out = [0u8; 32];
        for (i, word) in h.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    pub fn ordinal(selector: &str) -> u64 {
        let digest = sha256(selector.as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(bytes) & 0x7fff_ffff_ffff_ffff
    }

    #[test]
    fn known_vector() {
        // SHA-256("abc") = ba7816bf…
        assert_eq!(&sha256(b"abc")[..4], &[0xba, 0x78, 0x16, 0xbf]);
    }
}

mod asynchronous {
    use super::*;
    use idlc_runtime::client::AsyncTransport;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Polls a future whose transport is always ready.
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let mut context = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
                return value;
            }
        }
    }

    struct AsyncLoopback(Loopback);

    impl AsyncTransport for AsyncLoopback {
        type Error = DispatchError;

        async fn send(&self, message: OutgoingMessage) -> Result<(), DispatchError> {
            self.0.send(message)
        }

        async fn receive(&self) -> Result<IncomingMessage, DispatchError> {
            self.0.receive()
        }
    }

    #[test]
    fn async_client_calls_and_events() {
        let client = EchoAsyncClient::new(AsyncLoopback(Loopback {
            server: RefCell::new(EchoImpl { notified: vec![] }),
            inbox: RefCell::new(VecDeque::new()),
        }));
        block_on(async {
            let reply = client
                .echo(EchoEchoRequest { value: "hi".into() })
                .await
                .unwrap();
            assert_eq!(reply.value, "hi");
            assert_eq!(
                client.lookup(EchoLookupRequest { key: 0 }).await.unwrap(),
                Err(Error::NotFound)
            );
            client.notify(EchoNotifyRequest { code: 1 }).await.unwrap();
            let event = echo_on_alert_event(EchoOnAlertRequest { level: 9 }).unwrap();
            client
                .client()
                .transport()
                .0
                .inbox
                .borrow_mut()
                .push_back(IncomingMessage::from_outgoing(event));
            assert_eq!(
                client.next_event().await.unwrap(),
                EchoEvent::OnAlert(EchoOnAlertRequest { level: 9 })
            );
        });
    }
}
