//! Whole transactional messages through a generated server dispatcher.
#![no_main]

use idlc_conformance::test_conformance::*;
use idlc_runtime::{HandleInfo, IncomingMessage};
use libfuzzer_sys::fuzz_target;

struct Server;

impl EchoServer for Server {
    fn echo(&mut self, request: EchoEchoRequest) -> EchoEchoResponse {
        EchoEchoResponse { value: request.value }
    }
    fn lookup(&mut self, request: EchoLookupRequest) -> Result<EchoLookupResponse, Error> {
        Ok(EchoLookupResponse { value: u64::from(request.key) })
    }
    fn notify(&mut self, _: EchoNotifyRequest) {}
    fn ping(&mut self) {}
}

fuzz_target!(|data: &[u8]| {
    let mut message = IncomingMessage {
        bytes: data.to_vec(),
        handles: vec![HandleInfo::untyped(1)],
    };
    let _ = dispatch_echo(&mut Server, &mut message);
    let _ = message.epitaph_status();
});
