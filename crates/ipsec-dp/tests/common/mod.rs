//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use ipsec_dp::{EspAead, EspSuite, InboundSa, OutboundSa, SaKeys};

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

pub fn load_json(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn field<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("missing {k} in {v}"))
}

/// Deterministic keying material for a suite.
pub fn keymat(suite: EspSuite, fill: u8) -> Vec<u8> {
    (0..suite.keymat_len())
        .map(|i| fill.wrapping_add(i as u8))
        .collect()
}

pub fn keys(suite: EspSuite, fill: u8) -> SaKeys {
    SaKeys::new(suite, &keymat(suite, fill)).expect("keymat length")
}

pub const SPI: u32 = 0x0001_0203;

/// An outbound/inbound SA pair sharing keys.
pub fn pair(suite: EspSuite, now: Instant, lifetime: Option<Duration>) -> (OutboundSa, InboundSa) {
    let out = OutboundSa::new(SPI, keys(suite, 0x11), now, lifetime).expect("outbound");
    let inb = InboundSa::new(SPI, keys(suite, 0x11), now, lifetime).expect("inbound");
    (out, inb)
}

/// Builds an ESP packet with an arbitrary sequence number and padding, the
/// way a (possibly misbehaving) peer could, through the public AEAD wrapper.
pub fn craft(
    suite: EspSuite,
    spi: u32,
    seq: u32,
    payload: &[u8],
    padding: &[u8],
    next_header: u8,
) -> Vec<u8> {
    let aead = EspAead::new(&keys(suite, 0x11)).expect("aead");
    let iv = u64::from(seq).to_be_bytes();
    let mut pkt = Vec::new();
    pkt.extend_from_slice(&spi.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(&iv);
    let mut pt = payload.to_vec();
    pt.extend_from_slice(padding);
    pt.push(padding.len() as u8);
    pt.push(next_header);
    let mut icv = vec![0u8; suite.icv_len()];
    let aad = pkt[..8].to_vec();
    aead.encrypt_detached(&iv, &aad, &mut pt, &mut icv)
        .expect("encrypt");
    pkt.extend_from_slice(&pt);
    pkt.extend_from_slice(&icv);
    pkt
}

/// Standard RFC 4303 §2.4 padding 1, 2, 3, ... for `payload_len`.
pub fn std_padding(payload_len: usize) -> Vec<u8> {
    (1..=ipsec_dp::sa::padding_len(payload_len) as u8).collect()
}
