//! Arbitrary bytes as a received IKE datagram: the header and the whole
//! payload chain (RFC 7296 §3.1, §3.2) must parse or fail with a typed
//! error, never panic; whatever parses must re-emit and parse to the same
//! representation; the zero-copy walk must agree with the typed parse.
#![no_main]

use ikev2::payload::Payload;
use ikev2::{MessageRepr, MessageView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = MessageView::new_checked(data) {
        for raw in view.payloads() {
            let Ok(raw) = raw else { break };
            let _ = Payload::parse(&raw);
        }
    }
    if let Ok(m) = MessageRepr::parse(data) {
        let bytes = m.emit().expect("a parsed message re-emits");
        let again = MessageRepr::parse(&bytes).expect("re-emitted message parses");
        assert_eq!(again.payloads, m.payloads);
        assert_eq!(again.emit().expect("emit"), bytes);
    }
});
