//! The key schedule and shared-key AUTH against values nobody here wrote:
//! NIST CAVP IKEv2 KDF samples (as shipped by NSS), an independent Python
//! computation, and a live strongSwan 5.9.8 exchange with charon's key log.

mod common;

use common::{hx, load};
use ikev2::auth::{maced_id, signed_octets_from_parts};
use ikev2::consts::{EncrId, IntegId};
use ikev2::payload::{parse_chain, Payload};
use ikev2::{
    psk_auth, signed_octets, verify_psk_auth, ChildSaKeys, CipherSpec, IkeSaKeys, KdfError,
    MessageRepr, PayloadType, Prf, Role, Secret, SkeySeed,
};

const PRF: Prf = Prf::HmacSha256;

fn spi(v: &serde_json::Value) -> [u8; 8] {
    hx(v).try_into().unwrap()
}

#[test]
fn nist_skeyseed() {
    let v = load("nist_cavp_ikev2_sha256.json");
    for t in v["skeyseed"].as_array().unwrap() {
        let s = SkeySeed::initial(PRF, &hx(&t["ni"]), &hx(&t["nr"]), &hx(&t["g_ir"]));
        assert_eq!(s.as_bytes(), hx(&t["skeyseed"]), "NSS id {}", t["nss_id"]);
    }
}

#[test]
fn nist_256_octet_nonces_are_accepted_by_the_nonce_payload() {
    // NSS id 1 uses the largest nonces RFC 7296 §3.9 allows.
    let v = load("nist_cavp_ikev2_sha256.json");
    let ni = hx(&v["skeyseed"][0]["ni"]);
    assert_eq!(ni.len(), 256);
    assert!(ikev2::payload::NonceRepr::parse(&ni).is_ok());
}

#[test]
fn nist_prf_plus_dkm() {
    let v = load("nist_cavp_ikev2_sha256.json");
    for t in v["prf_plus"].as_array().unwrap() {
        let seed = [hx(&t["ni"]), hx(&t["nr"]), hx(&t["spi_i"]), hx(&t["spi_r"])];
        let seed: Vec<&[u8]> = seed.iter().map(Vec::as_slice).collect();
        let len = t["len"].as_u64().unwrap() as usize;
        let dkm = PRF.prf_plus(&hx(&t["key"]), &seed, len).unwrap();
        assert_eq!(dkm.as_bytes(), hx(&t["dkm"]), "NSS id {}", t["nss_id"]);
    }
}

#[test]
fn nist_rekey_skeyseed() {
    let v = load("nist_cavp_ikev2_sha256.json");
    let t = &v["rekey_skeyseed"][0];
    let s = SkeySeed::rekey(
        PRF,
        &Secret::new(hx(&t["sk_d"])),
        &hx(&t["g_ir_new"]),
        &hx(&t["ni"]),
        &hx(&t["nr"]),
    );
    assert_eq!(s.as_bytes(), hx(&t["skeyseed"]));
}

#[test]
fn nist_dkm_is_sk_d_first() {
    // The 132-octet DKM of NSS id 8 starts with the SK_d of id 7, and
    // IkeSaKeys::derive cuts the same stream.
    let v = load("nist_cavp_ikev2_sha256.json");
    let t = &v["skeyseed"][1];
    let seed = SkeySeed::initial(PRF, &hx(&t["ni"]), &hx(&t["nr"]), &hx(&t["g_ir"]));
    let p = &v["prf_plus"][0];
    let cipher = CipherSpec::new(EncrId::ENCR_AES_GCM_16, Some(256), IntegId::NONE).unwrap();
    let keys = IkeSaKeys::derive(
        PRF,
        &seed,
        &cipher,
        &hx(&p["ni"]),
        &hx(&p["nr"]),
        &spi(&p["spi_i"]),
        &spi(&p["spi_r"]),
    )
    .unwrap();
    let dkm = hx(&p["dkm"]);
    // GCM: SK_d 32 | SK_ai 0 | SK_ar 0 | SK_ei 36 | SK_er 36 | SK_pi 32 (-> 132 is past SK_pi's start).
    assert_eq!(keys.sk_d.as_bytes(), &dkm[..32]);
    assert!(keys.sk_ai.is_empty() && keys.sk_ar.is_empty());
    assert_eq!(keys.sk_ei.as_bytes(), &dkm[32..68]);
    assert_eq!(keys.sk_er.as_bytes(), &dkm[68..104]);
    assert_eq!(keys.sk_pi.as_bytes()[..28], dkm[104..132]);
    assert_eq!(
        keys.sk_d.as_bytes(),
        hx(&v["rekey_skeyseed"][0]["sk_d"]).as_slice()
    );
}

fn ike_keys_for(cipher: &CipherSpec) -> IkeSaKeys {
    let v = load("python_ikev2_kdf.json");
    let seed = SkeySeed::initial(PRF, &hx(&v["ni"]), &hx(&v["nr"]), &hx(&v["g_ir"]));
    IkeSaKeys::derive(
        PRF,
        &seed,
        cipher,
        &hx(&v["ni"]),
        &hx(&v["nr"]),
        &spi(&v["spi_i"]),
        &spi(&v["spi_r"]),
    )
    .unwrap()
}

fn assert_ike_keys(keys: &IkeSaKeys, want: &serde_json::Value) {
    for (name, got) in [
        ("sk_d", &keys.sk_d),
        ("sk_ai", &keys.sk_ai),
        ("sk_ar", &keys.sk_ar),
        ("sk_ei", &keys.sk_ei),
        ("sk_er", &keys.sk_er),
        ("sk_pi", &keys.sk_pi),
        ("sk_pr", &keys.sk_pr),
    ] {
        assert_eq!(got.as_bytes(), hx(&want[name]), "{name}");
    }
}

#[test]
fn python_ike_sa_keys_aes_cbc_hmac_sha256() {
    let v = load("python_ikev2_kdf.json");
    let cipher = CipherSpec::new(
        EncrId::ENCR_AES_CBC,
        Some(128),
        IntegId::AUTH_HMAC_SHA2_256_128,
    )
    .unwrap();
    assert_ike_keys(&ike_keys_for(&cipher), &v["ike_aes_cbc_128_hmac_sha256"]);
}

#[test]
fn python_ike_sa_keys_aes_ccm8_carry_a_three_octet_salt() {
    let v = load("python_ikev2_kdf.json");
    let cipher = CipherSpec::new(EncrId::ENCR_AES_CCM_8, Some(128), IntegId::NONE).unwrap();
    let keys = ike_keys_for(&cipher);
    assert_eq!(keys.sk_ei.len(), 16 + 3);
    assert_ike_keys(&keys, &v["ike_aes_ccm8_128"]);
}

fn assert_child(keys: &ChildSaKeys, want: &serde_json::Value) {
    assert_eq!(keys.encr_i.as_bytes(), hx(&want["encr_i"]));
    assert_eq!(keys.integ_i.as_bytes(), hx(&want["integ_i"]));
    assert_eq!(keys.encr_r.as_bytes(), hx(&want["encr_r"]));
    assert_eq!(keys.integ_r.as_bytes(), hx(&want["integ_r"]));
    assert_eq!(
        keys.keymat_i_to_r().as_bytes(),
        [hx(&want["encr_i"]), hx(&want["integ_i"])].concat()
    );
    assert_eq!(
        keys.keymat_r_to_i().as_bytes(),
        [hx(&want["encr_r"]), hx(&want["integ_r"])].concat()
    );
}

#[test]
fn python_child_sa_keymat_with_and_without_pfs() {
    let v = load("python_ikev2_kdf.json");
    let sk_d = Secret::new(hx(&v["ike_aes_cbc_128_hmac_sha256"]["sk_d"]));
    let (ni, nr, g) = (hx(&v["ni"]), hx(&v["nr"]), hx(&v["g_ir_new"]));
    let gcm = CipherSpec::new(EncrId::ENCR_AES_GCM_16, Some(256), IntegId::NONE).unwrap();
    let cbc = CipherSpec::new(
        EncrId::ENCR_AES_CBC,
        Some(128),
        IntegId::AUTH_HMAC_SHA2_256_128,
    )
    .unwrap();
    for (cipher, pfs, name) in [
        (&gcm, false, "child_aes_gcm16_256_no_pfs"),
        (&gcm, true, "child_aes_gcm16_256_pfs"),
        (&cbc, false, "child_aes_cbc_128_hmac_sha256_no_pfs"),
        (&cbc, true, "child_aes_cbc_128_hmac_sha256_pfs"),
    ] {
        let g_ir = pfs.then_some(g.as_slice());
        let keys = ChildSaKeys::derive(PRF, &sk_d, cipher, g_ir, &ni, &nr).unwrap();
        assert_child(&keys, &v[name]);
    }
}

#[test]
fn python_psk_auth() {
    let v = load("python_ikev2_kdf.json");
    let t = &v["psk_auth"];
    let maced = maced_id(PRF, &Secret::new(hx(&t["sk_pi"])), &hx(&t["id_body"]));
    assert_eq!(maced.as_bytes(), hx(&t["maced_id"]));
    let octets = signed_octets_from_parts(
        &hx(&t["real_message"]),
        &hx(&t["nonce_r"]),
        maced.as_bytes(),
    );
    assert_eq!(octets, hx(&t["signed_octets"]));
    let auth = psk_auth(PRF, &hx(&t["psk"]), &octets);
    assert_eq!(auth.as_bytes(), hx(&t["auth"]));
    assert!(verify_psk_auth(
        PRF,
        &hx(&t["psk"]),
        &octets,
        &hx(&t["auth"])
    ));
}

#[test]
fn ike_auth_with_the_wrong_psk_does_not_verify() {
    let v = load("python_ikev2_kdf.json");
    let t = &v["psk_auth"];
    let octets = hx(&t["signed_octets"]);
    let auth = hx(&t["auth"]);
    assert!(!verify_psk_auth(
        PRF,
        b"not the token's key",
        &octets,
        &auth
    ));
    assert!(!verify_psk_auth(PRF, &hx(&t["psk"]), &octets, &auth[..31]));
    let mut flipped = auth.clone();
    flipped[0] ^= 1;
    assert!(!verify_psk_auth(PRF, &hx(&t["psk"]), &octets, &flipped));
}

#[test]
fn rub_nds_signed_octets_are_message_nonce_maced_id() {
    let v = load("captured_messages.json");
    let t = &v["rub_nds_initiator_signed_octets"];
    assert_eq!(
        signed_octets_from_parts(&hx(&t["message"]), &hx(&t["nonce_r"]), &hx(&t["maced_id"])),
        hx(&t["octets"])
    );
}

// --- strongSwan 5.9.8, captured here (tests/vectors/strongswan/) ---------

struct StrongSwan {
    v: serde_json::Value,
    init_req: Vec<u8>,
    init_resp: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    keys: IkeSaKeys,
    cipher: CipherSpec,
}

fn strongswan() -> StrongSwan {
    let v = load("strongswan_psk_exchange.json");
    let init_req = hx(&v["ike_sa_init_request"]);
    let init_resp = hx(&v["ike_sa_init_response"]);
    let req = MessageRepr::parse(&init_req).unwrap();
    let resp = MessageRepr::parse(&init_resp).unwrap();
    let ni = req.nonce().unwrap().data.clone();
    let nr = resp.nonce().unwrap().data.clone();
    // The proposal the responder chose: AES-GCM-16-256, PRF_HMAC_SHA2_256, ECP-256.
    let chosen = &resp.sa().unwrap().proposals[0];
    let encr = chosen
        .transforms_of(ikev2::TransformType::ENCR)
        .next()
        .unwrap();
    let cipher = CipherSpec::new(EncrId(encr.id), encr.key_length(), IntegId::NONE).unwrap();
    let prf_t = chosen
        .transforms_of(ikev2::TransformType::PRF)
        .next()
        .unwrap();
    assert_eq!(Prf::from_id(ikev2::PrfId(prf_t.id)).unwrap(), PRF);
    let seed = SkeySeed::initial(PRF, &ni, &nr, &hx(&v["g_ir"]));
    assert_eq!(seed.as_bytes(), hx(&v["skeyseed"]));
    let keys = IkeSaKeys::derive(
        PRF,
        &seed,
        &cipher,
        &ni,
        &nr,
        &resp.header.spi_i,
        &resp.header.spi_r,
    )
    .unwrap();
    StrongSwan {
        v,
        init_req,
        init_resp,
        ni,
        nr,
        keys,
        cipher,
    }
}

#[test]
fn strongswan_ike_sa_keys_match_charons_log() {
    let s = strongswan();
    assert_eq!(s.keys.sk_d.as_bytes(), hx(&s.v["sk_d"]));
    assert!(s.keys.sk_ai.is_empty() && s.keys.sk_ar.is_empty());
    assert_eq!(s.keys.sk_ei.as_bytes(), hx(&s.v["sk_ei"]));
    assert_eq!(s.keys.sk_er.as_bytes(), hx(&s.v["sk_er"]));
    assert_eq!(s.keys.sk_pi.as_bytes(), hx(&s.v["sk_pi"]));
    assert_eq!(s.keys.sk_pr.as_bytes(), hx(&s.v["sk_pr"]));
}

#[test]
fn strongswan_psk_auth_of_both_sides() {
    let s = strongswan();
    let psk = s.v["psk"].as_str().unwrap().as_bytes();
    // Initiator: RealMessage1 | NonceRData | prf(SK_pi, IDi').
    let oi = signed_octets(
        PRF,
        &s.keys,
        Role::Initiator,
        &s.init_req,
        &s.nr,
        &hx(&s.v["initiator_id_body"]),
    );
    assert_eq!(oi, hx(&s.v["initiator_signed_octets"]));
    assert_eq!(
        psk_auth(PRF, psk, &oi).as_bytes(),
        hx(&s.v["initiator_auth"])
    );
    assert_eq!(
        PRF.prf(psk, &[ikev2::consts::KEY_PAD_FOR_IKEV2]).as_bytes(),
        hx(&s.v["initiator_prf_secret_keypad"])
    );
    // Responder: RealMessage2 | NonceIData | prf(SK_pr, IDr').
    let or = signed_octets(
        PRF,
        &s.keys,
        Role::Responder,
        &s.init_resp,
        &s.ni,
        &hx(&s.v["responder_id_body"]),
    );
    assert_eq!(or, hx(&s.v["responder_signed_octets"]));
    assert!(verify_psk_auth(PRF, psk, &or, &hx(&s.v["responder_auth"])));
}

/// RFC 5282 §5.1: AAD is the IKE header and the SK generic header; the
/// nonce is salt (last 4 octets of SK_e) | IV.
fn open_sk(message: &[u8], sk_e: &Secret, cipher: &CipherSpec) -> (PayloadType, Vec<u8>) {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let msg = MessageRepr::parse(message).unwrap();
    let Some(Payload::Encrypted(sk)) = msg.payloads.last() else {
        panic!("no SK payload")
    };
    let parts = sk.parts(cipher.iv_len, cipher.icv_len).unwrap();
    let aad_len = message.len() - sk.body.len();
    let (key, salt) = sk_e.as_bytes().split_at(cipher.encr_key_len);
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(salt);
    nonce[4..].copy_from_slice(parts.iv);
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
    let mut in_out = [parts.ciphertext, parts.icv].concat();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&message[..aad_len]),
            &mut in_out,
        )
        .expect("strongSwan's SK payload opens with our keys");
    // RFC 7296 §3.14: Padding, then Pad Length.
    let pad = *plain.last().unwrap() as usize;
    let inner = plain[..plain.len() - 1 - pad].to_vec();
    (sk.first_inner, inner)
}

#[test]
fn strongswan_ike_auth_request_opens_and_carries_the_logged_auth() {
    let s = strongswan();
    let (first, inner) = open_sk(&hx(&s.v["ike_auth_request"]), &s.keys.sk_ei, &s.cipher);
    assert_eq!(first, PayloadType::IDI);
    let payloads = parse_chain(first, &inner).unwrap();
    let types: Vec<_> = payloads.iter().map(Payload::payload_type).collect();
    assert_eq!(
        &types[..4],
        &[
            PayloadType::IDI,
            PayloadType::NOTIFY,
            PayloadType::IDR,
            PayloadType::AUTH
        ]
    );
    assert!(types.contains(&PayloadType::SA));
    assert!(types.contains(&PayloadType::TSI) && types.contains(&PayloadType::TSR));
    let Payload::IdI(idi) = &payloads[0] else {
        panic!()
    };
    assert_eq!(idi.id_type, ikev2::IdType::ID_KEY_ID);
    assert_eq!(idi.data, b"kid-01");
    assert_eq!(idi.rest_of_payload(), hx(&s.v["initiator_id_body"]));
    let Payload::Auth(auth) = &payloads[3] else {
        panic!()
    };
    assert_eq!(auth.method, ikev2::AuthMethod::SHARED_KEY_MIC);
    assert_eq!(auth.data, hx(&s.v["initiator_auth"]));
    // The inner chain re-emits to the same octets.
    let mut out = Vec::new();
    ikev2::payload::emit_chain(&payloads, &mut out).unwrap();
    assert_eq!(out, inner);
}

#[test]
fn strongswan_ike_auth_response_opens_and_carries_the_logged_auth() {
    let s = strongswan();
    let (first, inner) = open_sk(&hx(&s.v["ike_auth_response"]), &s.keys.sk_er, &s.cipher);
    let payloads = parse_chain(first, &inner).unwrap();
    let auth = payloads
        .iter()
        .find_map(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        })
        .unwrap();
    assert_eq!(auth.data, hx(&s.v["responder_auth"]));
    let no_proposal = payloads.iter().any(|p| {
        matches!(p, Payload::Notify(n) if n.notify_type == ikev2::NotifyType::NO_PROPOSAL_CHOSEN)
    });
    assert!(
        no_proposal,
        "this kernel has no ESP: charon refuses the Child SA"
    );
}

#[test]
fn unsupported_transforms_are_typed_errors() {
    assert_eq!(
        Prf::from_id(ikev2::PrfId::PRF_HMAC_SHA1),
        Err(KdfError::UnsupportedTransform { kind: "PRF", id: 2 })
    );
    assert_eq!(
        CipherSpec::new(EncrId::ENCR_AES_CBC, None, IntegId::AUTH_HMAC_SHA2_256_128),
        Err(KdfError::BadKeyLength(None))
    );
    assert_eq!(
        CipherSpec::new(
            EncrId::ENCR_AES_GCM_16,
            Some(256),
            IntegId::AUTH_HMAC_SHA2_256_128
        ),
        Err(KdfError::IntegrityMismatch(12))
    );
    assert_eq!(
        CipherSpec::new(EncrId::ENCR_AES_CBC, Some(128), IntegId::NONE),
        Err(KdfError::IntegrityMismatch(0))
    );
    assert_eq!(
        CipherSpec::new(EncrId::ENCR_CHACHA20_POLY1305, Some(128), IntegId::NONE),
        Err(KdfError::BadKeyLength(Some(128)))
    );
    assert!(matches!(
        PRF.prf_plus(b"k", &[b"s"], 255 * 32 + 1),
        Err(KdfError::OutputTooLong { .. })
    ));
    assert_eq!(PRF.prf_plus(b"k", &[b"s"], 255 * 32).unwrap().len(), 8160);
}

#[test]
fn cipher_specs_of_the_supported_suites() {
    let c = CipherSpec::new(EncrId::ENCR_CHACHA20_POLY1305, None, IntegId::NONE).unwrap();
    assert_eq!((c.encr_keymat_len(), c.iv_len, c.icv_len), (36, 8, 16));
    assert!(c.is_aead());
    let c = CipherSpec::new(EncrId::ENCR_AES_CCM_8, Some(128), IntegId::NONE).unwrap();
    assert_eq!((c.encr_keymat_len(), c.iv_len, c.icv_len), (19, 8, 8));
    let c = CipherSpec::new(
        EncrId::ENCR_AES_CBC,
        Some(256),
        IntegId::AUTH_HMAC_SHA2_256_128,
    )
    .unwrap();
    assert_eq!((c.keymat_len(), c.iv_len, c.icv_len), (64, 16, 16));
    assert!(!c.is_aead());
    let c = CipherSpec::ah(IntegId::AUTH_HMAC_SHA2_256_128).unwrap();
    assert_eq!((c.keymat_len(), c.icv_len), (32, 16));
}

#[test]
fn secrets_never_print() {
    let s = strongswan();
    let dbg = format!(
        "{:?} {:?}",
        s.keys,
        SkeySeed::initial(PRF, &s.ni, &s.nr, b"x")
    );
    assert!(!dbg.contains(&hex::encode(s.keys.sk_d.as_bytes())));
    assert!(!dbg.to_lowercase().contains("c8 44") && dbg.contains("redacted"));
}
