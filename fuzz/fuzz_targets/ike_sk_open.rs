//! The SK / SKF protection of `ikev2::crypto` (RFC 7296 §3.14, RFC 7383):
//! the first byte picks a suite (AES-GCM-16-128/256, AES-CBC-128/256 +
//! HMAC-SHA-256-128, fixed keys) and a mode:
//!
//! 0. the rest as a received datagram: `open_message` and `open_fragment`
//!    return typed errors, never panic (an ICV never verifies by chance);
//! 1. the rest as AES-CBC ciphertext behind a valid HMAC ICV (computed with
//!    the crate's PRF_HMAC_SHA2_256, the same function): decryption,
//!    Pad Length and the inner chain parser see authenticated garbage;
//! 2. the rest as an inner payload chain: whatever parses is sealed whole
//!    and as fragments (datagram size from the input), and opens and
//!    reassembles to the same payloads, each datagram within its size.
#![no_main]

use ikev2::consts::{EncrId, ExchangeType, IntegId, PayloadType};
use ikev2::crypto::{CryptoError, Reassembler, SkCrypter};
use ikev2::payload::parse_chain;
use ikev2::{CipherSpec, HeaderRepr, Prf, Secret};
use libfuzzer_sys::fuzz_target;

const SK_A: [u8; 32] = [0x5a; 32];

fn suite(n: u8) -> (CipherSpec, Secret, Secret) {
    let (encr, bits, integ) = match n % 4 {
        0 => (EncrId::ENCR_AES_GCM_16, 128, IntegId::NONE),
        1 => (EncrId::ENCR_AES_GCM_16, 256, IntegId::NONE),
        2 => (EncrId::ENCR_AES_CBC, 128, IntegId::AUTH_HMAC_SHA2_256_128),
        _ => (EncrId::ENCR_AES_CBC, 256, IntegId::AUTH_HMAC_SHA2_256_128),
    };
    let spec = CipherSpec::new(encr, Some(bits), integ).expect("spec");
    let e = Secret::new(vec![0xa5; spec.encr_keymat_len()]);
    let a = Secret::new(SK_A[..spec.integ_key_len].to_vec());
    (spec, e, a)
}

fn header() -> HeaderRepr {
    HeaderRepr {
        spi_i: [1; 8],
        spi_r: [2; 8],
        next_payload: PayloadType::NONE,
        exchange_type: ExchangeType::IKE_AUTH,
        initiator: true,
        response: false,
        version_flag: false,
        message_id: 1,
        length: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (spec, e, a) = suite(sel);
    let mut c = SkCrypter::new(&spec, &e, &a).expect("supported suite");
    match (sel >> 2) % 3 {
        0 => {
            let _ = c.open_message(rest);
            let _ = c.open_fragment(rest);
        }
        1 => {
            // header | SK header | IV | ciphertext (whole blocks) | ICV
            let (spec, e, a) = suite(2);
            let c = SkCrypter::new(&spec, &e, &a).expect("CBC");
            let ct_len = (rest.len() / 16).max(1) * 16;
            let mut ct = rest.to_vec();
            ct.resize(ct_len, 0);
            let total = 28 + 4 + 16 + ct_len + 16;
            let mut m = Vec::new();
            header()
                .emit(PayloadType::SK, total, &mut m)
                .expect("header");
            m.extend_from_slice(&[PayloadType::NOTIFY.0, 0]);
            m.extend_from_slice(&((total - 28) as u16).to_be_bytes());
            m.extend_from_slice(&[7; 16]);
            m.extend_from_slice(&ct);
            let icv = Prf::HmacSha256.prf(&SK_A, &[&m]);
            m.extend_from_slice(&icv.as_bytes()[..16]);
            match c.open_message(&m) {
                Ok(_)
                | Err(CryptoError::BadPadding { .. })
                | Err(CryptoError::InnerMalformed(_)) => {}
                Err(other) => panic!("authenticated message refused: {other:?}"),
            }
        }
        _ => {
            let Some((&size, chain)) = rest.split_first() else {
                return;
            };
            let Ok(inner) = parse_chain(PayloadType(size & 0x3f | 0x20), chain) else {
                return;
            };
            let Ok(sealed) = c.seal_message(&header(), &inner) else {
                return;
            };
            assert_eq!(c.open_message(&sealed).expect("own message opens"), inner);
            let max = 60 + usize::from(size) * 4;
            let frags = match c.seal_fragments(&header(), &inner, max) {
                Ok(f) => f,
                Err(CryptoError::DatagramTooSmall { .. }) => return,
                Err(other) => panic!("{other:?}"),
            };
            let mut r = Reassembler::new(u16::MAX, 1 << 20);
            let mut done = None;
            for f in frags.iter().rev() {
                assert!(f.len() <= max);
                done = r
                    .add(c.open_fragment(f).expect("own fragment opens"))
                    .expect("add");
            }
            assert_eq!(done.expect("complete"), inner);
        }
    }
});
