//! Arbitrary bytes as one payload body of the type chosen by the first
//! byte (critical bit by the second), and as an inner chain (the decrypted
//! contents of an SK payload): never a panic, and a parsed payload
//! re-emits to a body that parses to the same representation.
#![no_main]

use ikev2::payload::{emit_chain, parse_chain, Payload, RawPayload};
use ikev2::PayloadType;
use libfuzzer_sys::fuzz_target;

const TYPES: [u8; 18] = [
    0, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 53,
];

fuzz_target!(|data: &[u8]| {
    let (Some(&sel), Some(&flags)) = (data.first(), data.get(1)) else {
        return;
    };
    let body = &data[2..];
    let t = PayloadType(TYPES[usize::from(sel) % TYPES.len()]);
    let raw = RawPayload {
        payload_type: t,
        critical: flags & 0x80 != 0,
        next_payload: PayloadType(flags & 0x3f),
        body,
    };
    if let Ok(Some(p)) = Payload::parse(&raw) {
        let mut out = Vec::new();
        p.emit_body(&mut out).expect("a parsed payload re-emits");
        assert_eq!(out.len(), p.body_len());
        let again = Payload::parse(&RawPayload { body: &out, ..raw })
            .expect("re-emitted body parses")
            .expect("known type");
        assert_eq!(again, p);
    }
    if let Ok(chain) = parse_chain(t, body) {
        let mut out = Vec::new();
        emit_chain(&chain, &mut out).expect("a parsed chain re-emits");
        let first = chain
            .first()
            .map_or(PayloadType::NONE, Payload::payload_type);
        assert_eq!(
            parse_chain(first, &out).expect("re-emitted chain parses"),
            chain
        );
    }
});
