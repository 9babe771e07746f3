//! EDHOC glue against RFC 9529 §3 (method 3, cipher suite 2, static DH keys),
//! and the byte-level example of the combined token + message_1 upload that
//! `docs/profile.md` publishes.

use ace_core::authz_info::{AuthzInfoEdhoc, AuthzInfoUpload};
use ace_core::edhoc::{self, edhoc_exporter, edhoc_kdf, StaticKey};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

/// RFC 9529 §3.5.4 / §3.6: PRK_out of the trace.
const PRK_OUT: &str = "2c71afc1a9338a940bb3529ca734b886f30d1aba0b4dc51beeaeabdfea9ecbf8";
/// RFC 9529 §3.6: PRK_exporter = EDHOC_KDF(PRK_out, 10, h'', 32).
const PRK_EXPORTER: &str = "e14d06699cee248c5a04bf9227bbcd4ce394de7dcb56db43555474171e6446db";
/// RFC 9529 §3, message_1 (C_I = -24, SUITES_I = [6, 2], G_X).
pub const MESSAGE_1: &str =
    "0382060258208af6f430ebe18d34184017a9a11bf511c8dff8f834730b96c1b7c8dbca2fc3b637";

fn prk_out() -> [u8; 32] {
    h(PRK_OUT).try_into().unwrap()
}

#[test]
fn rfc9529_prk_exporter_and_oscore_secrets_from_our_exporter() {
    assert_eq!(
        edhoc_kdf(&prk_out(), 10, &[], 32).as_slice(),
        h(PRK_EXPORTER)
    );
    // RFC 9529 §3.7: OSCORE Master Secret (label 0, 16 bytes) and Salt (label 1, 8 bytes).
    assert_eq!(
        edhoc_exporter(&prk_out(), 0, &[], 16).as_slice(),
        h("f9868f6a3aca78a05d1485b35030b162")
    );
    assert_eq!(
        edhoc_exporter(&prk_out(), 1, &[], 8).as_slice(),
        h("ada24c7dbfc85eeb")
    );
}

/// The seed vector of docs/profile.md §11: PRK_out of RFC 9529 §3 and the
/// access token 00 01 … 0f.
#[test]
fn ipsec_seed_vector() {
    let token: Vec<u8> = (0u8..16).collect();
    assert_eq!(
        hex::encode(edhoc::seed_context(&token)),
        "be45cb2605bf36bebde684841a28f0fd43c69850a3dce5fedba69928ee3a8991"
    );
    let seed = edhoc::ipsec_seed(&prk_out(), &token);
    assert_eq!(
        hex::encode(seed.as_bytes()),
        "15232476da6e22c24ce0798f7d10e8cba00134095e6d49f0c3a59aa9084d93d6"
    );
}

#[test]
fn rfc9529_message_1_travels_in_the_authz_info_map() {
    let upload = AuthzInfoEdhoc {
        access_token: h("d08343"),
        esp_udp_port: Some(40001),
        message_1: h(MESSAGE_1),
    };
    let bytes = upload.to_cbor();
    assert_eq!(hex::encode(&bytes), "a30143d083433a00010000199c413a0001000158270382060258208af6f430ebe18d34184017a9a11bf511c8dff8f834730b96c1b7c8dbca2fc3b637");
    assert_eq!(
        AuthzInfoUpload::from_cbor(&bytes).unwrap(),
        AuthzInfoUpload::TokenWithEdhoc(upload)
    );
}

#[test]
fn rs_glue_accepts_the_rfc9529_message_1() {
    // R of RFC 9529 §3.3 (the RS's static key), kid 0x32 as in the trace.
    let r = h("72cc4761dbd4c78f758931aa589d348d1ef874a7e303ede2f140dcf3e6aa4aac");
    let rs = StaticKey::from_private(&r, vec![0x32]).unwrap();
    // G_R of the trace is the x coordinate of R's public key.
    assert_eq!(
        hex::encode(rs.public().x),
        "bbc34960526ea4d32e940cad2a234148ddc21791a12afbcbac93622046dd44f0"
    );
    let (_wait, m2) =
        edhoc::respond(StdRng::seed_from_u64(1), &rs, &h(MESSAGE_1), &[0x27]).unwrap();
    // message_2 = bstr(G_Y ‖ CIPHERTEXT_2): 32 + (C_R 1 + ID_CRED_R 1 + MAC_2 8 (+ bstr 1))
    assert_eq!(m2[0], 0x58);
    assert_eq!(usize::from(m2[1]) + 2, m2.len());
}

/// The message_1 regressions of `fuzz/fuzz_targets/authz_info_edhoc.rs`
/// (each panicked lakers 0.8 inside the RS) are refused by the framing
/// check, before lakers runs: an EDHOC protocol error, no panic caught.
#[test]
fn message_1_that_panicked_lakers_is_refused_before_it() {
    let rs = StaticKey::from_private(&[0x42; 32], vec![0x32]).unwrap();
    let zeros = "00".repeat(31);
    let regressions = [
        // SUITES_I = 98 00: an empty array (lakers indexed its last element).
        format!("039800 5820 {} 00", "11".repeat(32)),
        // G_X = 1: no P-256 x-coordinate (the ECDH panicked).
        format!("0302 5820 {zeros}01 00"),
        // C_I = an 8-byte byte string (lakers' ConnId holds 7).
        format!("0302 5820 {zeros}05 48 0102030405060708"),
    ];
    for m1 in regressions {
        let e = edhoc::respond(StdRng::seed_from_u64(1), &rs, &h(&m1), &[0x27]).unwrap_err();
        assert!(matches!(e, edhoc::EdhocError::Protocol(_)), "{m1}: {e:?}");
    }
    assert_eq!(edhoc::lakers_panics(), 0, "refused before lakers ran");
    // The same bytes minus the defect are accepted.
    let ok = format!("0302 5820 {zeros}05 47 01020304050607");
    edhoc::respond(StdRng::seed_from_u64(1), &rs, &h(&ok), &[0x27]).unwrap();
}
