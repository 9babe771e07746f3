//! The RS's EDHOC input path (draft Appendix B.2) with arbitrary bytes:
//! the combined token + message_1 `/authz-info` payload, message_1 into the
//! Responder, C_R ‖ message_3 into a Responder that waits for it, and
//! message_2 into an Initiator (the client's side of the same path). None
//! may panic; whatever upload decodes must re-encode stably.
//!
//! Regressions (inputs that once crashed the RS) are replayed on the first
//! run and belong in the corpus as seeds, e.g. `printf '\x01\x03\x98\x00…'
//! > fuzz/corpus/authz_info_edhoc/regression-empty-suites-i` (mode byte 1,
//! then a message_1 of `REGRESSIONS`). libfuzzer-sys aborts on any panic, also
//! one the glue catches: a report here is a lakers panic worth a framing
//! check, even if production code would survive it.

#![no_main]

use std::sync::{Once, OnceLock};

use ace_core::authz_info::{AuthzInfoEdhoc, AuthzInfoUpload};
use ace_core::edhoc::{self, seeded_rng, StaticKey};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static (StaticKey, StaticKey) {
    static K: OnceLock<(StaticKey, StaticKey)> = OnceLock::new();
    K.get_or_init(|| {
        let mut rng = seeded_rng(1);
        (
            StaticKey::generate(&mut rng, vec![0x2b]).unwrap(),
            StaticKey::generate(&mut rng, vec![0x32]).unwrap(),
        )
    })
}

/// message_1 inputs that panicked lakers 0.8 inside the RS.
const REGRESSIONS: &[&[u8]] = &[
    // SUITES_I = `98 00`, an empty array: lakers indexed `suites_i[len - 1]`.
    &[
        0x03, 0x98, 0x00, 0x58, 0x20, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
        0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
        0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x00,
    ],
    // G_X = 1, no P-256 x-coordinate: the RustCrypto backend's ECDH panicked.
    &[
        0x03, 0x02, 0x58, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
    ],
    // C_I = an 8-byte byte string: lakers' `ConnId` holds 7.
    &[
        0x03, 0x02, 0x58, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x48, 1, 2, 3, 4, 5, 6, 7, 8,
    ],
];

fn replay_regressions(rs: &StaticKey) {
    static DONE: Once = Once::new();
    DONE.call_once(|| {
        for m1 in REGRESSIONS {
            assert!(edhoc::respond(seeded_rng(2), rs, m1, &[0x05]).is_err());
        }
    });
}

fuzz_target!(|data: &[u8]| {
    let (c, rs) = keys();
    replay_regressions(rs);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        // The /authz-info payload; its message_1 into the Responder.
        0 => {
            if let Ok(AuthzInfoUpload::TokenWithEdhoc(u)) = AuthzInfoUpload::from_cbor(rest) {
                let once = u.to_cbor();
                let again = match AuthzInfoUpload::from_cbor(&once) {
                    Ok(AuthzInfoUpload::TokenWithEdhoc(a)) => a,
                    other => panic!("re-encoded upload decodes differently: {other:?}"),
                };
                assert_eq!(again.to_cbor(), once);
                let _ = edhoc::respond(seeded_rng(2), rs, &u.message_1, &[0x05]);
            }
        }
        // A bare message_1 into the Responder.
        1 => {
            let _ = edhoc::respond(seeded_rng(2), rs, rest, &[0x05]);
        }
        // message_2 into an Initiator that sent message_1.
        3 => {
            let (wait_m2, _m1) = edhoc::initiate(seeded_rng(3), c).unwrap();
            let _ = wait_m2.process_message_2(rest, rs.public());
        }
        // C_R ‖ message_3 after a genuine message_1/message_2.
        _ => {
            let (_wait_m2, m1) = edhoc::initiate(seeded_rng(3), c).unwrap();
            let (mut wait_m3, _m2) = edhoc::respond(seeded_rng(4), rs, &m1, &[0x05]).unwrap();
            if let Ok((_c_r, m3)) = edhoc::parse_message_3_request(rest) {
                let _ = wait_m3.process_message_3(m3, c.public());
            }
            let _ = AuthzInfoEdhoc {
                access_token: rest.to_vec(),
                esp_udp_port: None,
                message_1: m1,
            }
            .to_cbor();
        }
    }
});
