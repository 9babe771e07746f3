//! Other people's bytes: RFC 8392 Appendix A (CWT examples), RFC 9200's
//! diagnostic-notation figures, RFC 9237's AIF example.

use ace_core::coset::{iana, CborSerializable, CoseKey, KeyType, Label};
use ace_core::scope::method_bit_from_coap_code;
use ace_core::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).expect("test hex")
}

// RFC 8392 Appendix A.1, Figure 2: example CWT Claims Set.
const A1_CLAIMS: &str = "a70175636f61703a2f2f61732e6578616d706c652e636f6d02656572696b7703
7818636f61703a2f2f6c696768742e6578616d706c652e636f6d041a5612aeb0
051a5610d9f0061a5610d9f007420b71";

// RFC 8392 Appendix A.2.1, Figure 4: 128-bit symmetric COSE_Key.
const A21_KEY: &str = "a42050231f4c4d4d3051fdc2ec0a3851d5b3830104024c53796d6d6574726963313238030a";

// RFC 8392 Appendix A.2.2, Figure 6: 256-bit symmetric COSE_Key. (Its hex
// says alg 10, its diagnostic notation says alg 4 / HMAC 256/64: the key is
// used with HMAC 256/64 in A.4.)
const A22_KEY: &str = "a4205820403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d795693880104024c53796d6d6574726963323536030a";

// RFC 8392 Appendix A.3, Figure 10: signed CWT (ES256).
const A3_SIGNED: &str = "d28443a10126a104524173796d6d657472696345434453413235365850a701756
36f61703a2f2f61732e6578616d706c652e636f6d02656572696b77037818636f
61703a2f2f6c696768742e6578616d706c652e636f6d041a5612aeb0051a5610d
9f0061a5610d9f007420b7158405427c1ff28d23fbad1f29c4c7c6a555e601d6f
a29f9179bc3d7438bacaca5acd08c8d4d4f96131680c429a01f85951ecee743a5
2b9b63632c57209120e1c9e30";

// RFC 8392 Appendix A.4, Figure 12: MACed CWT with CWT tag.
const A4_MACED: &str = "d83dd18443a10104a1044c53796d6d65747269633235365850a70175636f6170
3a2f2f61732e6578616d706c652e636f6d02656572696b77037818636f61703a
2f2f6c696768742e6578616d706c652e636f6d041a5612aeb0051a5610d9f006
1a5610d9f007420b7148093101ef6d789200";

// RFC 8392 Appendix A.5, Figure 14: encrypted CWT (AES-CCM-16-64-128).
const A5_ENCRYPTED: &str = "d08343a1010aa2044c53796d6d6574726963313238054d99a0d7846e762c49ff
e8a63e0b5858b918a11fd81e438b7f973d9e2e119bcb22424ba0f38a80f27562
f400ee1d0d6c0fdb559c02421fd384fc2ebe22d7071378b0ea7428fff157444d
45f7e6afcda1aae5f6495830c58627087fc5b4974f319a8707a635dd643b";

// RFC 8392 Appendix A.6, Figure 16: signed then encrypted (nested) CWT.
const A6_NESTED: &str = "d08343a1010aa2044c53796d6d6574726963313238054d4a0694c0e69ee6b595
6655c7b258b7f6b0914f993de822cc47e5e57a188d7960b528a747446fe12f0e
7de05650dec74724366763f167a29c002dfd15b34d8993391cf49bc91127f545
dba8703d66f5b7f1ae91237503d371e6333df9708d78c4fb8a8386c8ff09dc49
af768b23179deab78d96490a66d5724fb33900c60799d9872fac6da3bdb89043
d67c2a05414ce331b5b8f1ed8ff7138f45905db2c4d5bc8045ab372bff142631
610a7e0f677b7e9b0bc73adefdcee16d9d5d284c616abeab5d8c291ce0";

fn a1_claims() -> Claims {
    Claims {
        iss: Some("coap://as.example.com".into()),
        sub: Some("erikw".into()),
        aud: Some("coap://light.example.com".into()),
        exp: Some(1444064944),
        nbf: Some(1443944944),
        iat: Some(1443944944),
        cti: Some(vec![0x0b, 0x71]),
        ..Claims::default()
    }
}

/// The `k` (-1) and `kid` of an RFC 8392 A.2 symmetric COSE_Key.
fn symmetric_key(hex_key: &str) -> (Vec<u8>, Vec<u8>) {
    let key = CoseKey::from_slice(&h(hex_key)).expect("RFC COSE_Key");
    assert_eq!(key.kty, KeyType::Assigned(iana::KeyType::Symmetric));
    let k = key
        .params
        .iter()
        .find(|(l, _)| *l == Label::Int(iana::SymmetricKeyParameter::K as i64))
        .and_then(|(_, v)| v.as_bytes().cloned())
        .expect("k");
    (key.key_id, k)
}

#[test]
fn rfc8392_a1_claims_set_decodes_and_reencodes_identically() {
    let claims = Claims::from_cbor(&h(A1_CLAIMS)).unwrap();
    assert_eq!(claims, a1_claims());
    assert_eq!(claims.to_cbor(), h(A1_CLAIMS));
}

#[test]
fn rfc8392_a2_keys_are_the_expected_ones() {
    let (kid, k) = symmetric_key(A21_KEY);
    assert_eq!(kid, b"Symmetric128");
    assert_eq!(k, h("231f4c4d4d3051fdc2ec0a3851d5b383"));
    let (kid, k) = symmetric_key(A22_KEY);
    assert_eq!(kid, b"Symmetric256");
    assert_eq!(
        k,
        h("403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388")
    );
}

#[test]
fn rfc8392_a3_signed_cwt_structure_decodes() {
    let parts = decode_sign1_unverified(&h(A3_SIGNED)).unwrap();
    assert_eq!(parts.alg, -7);
    assert_eq!(parts.kid, b"AsymmetricECDSA256");
    assert_eq!(parts.claims, a1_claims());
    assert_eq!(parts.signature.len(), 64);
    assert_eq!(&parts.signature[..4], &h("5427c1ff")[..]);
    // Sig_structure = ["Signature1", h'a10126', h'', payload]
    let mut tbs = h("846a5369676e61747572653143a1012640");
    tbs.extend_from_slice(&h("5850"));
    tbs.extend_from_slice(&h(A1_CLAIMS));
    assert_eq!(parts.to_be_signed, tbs);
}

#[test]
fn rfc8392_a4_maced_cwt_verifies_with_the_a22_key() {
    let (kid, k) = symmetric_key(A22_KEY);
    let key = MacKey::new(kid, MacAlg::Hmac256_64, &k).unwrap();
    let claims = verify_mac0_token(&h(A4_MACED), |kid| {
        (kid == key.kid.as_slice()).then_some(&key)
    })
    .unwrap();
    assert_eq!(claims, a1_claims());
    // and our MAC0 producer regenerates the RFC's bytes exactly
    assert_eq!(mac0_token(&a1_claims(), &key).unwrap(), h(A4_MACED));
}

#[test]
fn rfc8392_a4_with_a_flipped_tag_bit_fails() {
    let (kid, k) = symmetric_key(A22_KEY);
    let key = MacKey::new(kid, MacAlg::Hmac256_64, &k).unwrap();
    let mut bad = h(A4_MACED);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        verify_mac0_token(&bad, |_| Some(&key)).unwrap_err(),
        CwtError::MacFailed
    );
}

#[test]
fn rfc8392_a5_encrypted_cwt_decrypts_with_the_a21_key() {
    let (kid, k) = symmetric_key(A21_KEY);
    let key = TokenKey::new(kid, ContentAlg::AesCcm16_64_128, &k).unwrap();
    let claims = decrypt_token(&h(A5_ENCRYPTED), |kid| {
        (kid == key.kid.as_slice()).then_some(&key)
    })
    .unwrap();
    assert_eq!(claims, a1_claims());
    // and our encryptor, given the RFC's IV, regenerates the RFC's bytes
    let iv = h("99a0d7846e762c49ffe8a63e0b");
    assert_eq!(
        encrypt_token_with_iv(&a1_claims(), &key, &iv).unwrap(),
        h(A5_ENCRYPTED)
    );
}

#[test]
fn rfc8392_a6_nested_cwt_is_recognised_and_refused() {
    let (kid, k) = symmetric_key(A21_KEY);
    let key = TokenKey::new(kid, ContentAlg::AesCcm16_64_128, &k).unwrap();
    assert_eq!(
        decrypt_token(&h(A6_NESTED), |_| Some(&key)).unwrap_err(),
        CwtError::NestedCwt
    );
}

#[test]
fn rfc8392_a5_under_the_cwt_tag_also_decrypts() {
    let (kid, k) = symmetric_key(A21_KEY);
    let key = TokenKey::new(kid, ContentAlg::AesCcm16_64_128, &k).unwrap();
    let mut tagged = h("d83d");
    tagged.extend_from_slice(&h(A5_ENCRYPTED));
    assert_eq!(decrypt_token(&tagged, |_| Some(&key)).unwrap(), a1_claims());
}

// RFC 9200 §5.3, Figure 2: AS Request Creation Hints.
#[test]
fn rfc9200_figure2_creation_hints() {
    let mut bytes = h("a4 01 781c");
    bytes.extend_from_slice(b"coaps://as.example.com/token");
    bytes.extend_from_slice(&h("05 76"));
    bytes.extend_from_slice(b"coaps://rs.example.com");
    bytes.extend_from_slice(&h("09 66"));
    bytes.extend_from_slice(b"rTempC");
    bytes.extend_from_slice(&h("1827 45 e0a156bb3f"));
    let hints = AsCreationHints::from_cbor(&bytes).unwrap();
    assert_eq!(hints.as_uri, "coaps://as.example.com/token");
    assert_eq!(hints.audience.as_deref(), Some("coaps://rs.example.com"));
    assert_eq!(hints.scope, Some(Scope::Text("rTempC".into())));
    assert_eq!(hints.cnonce, Some(h("e0a156bb3f")));
    assert_eq!(hints.kid, None);
    assert_eq!(hints.to_cbor(), bytes);
}

fn text(s: &str) -> Vec<u8> {
    let mut w = Vec::new();
    ace_core::coset::cbor::ser::into_writer(&Value::Text(s.into()), &mut w).unwrap();
    w
}

// RFC 9200 §5.8.1, Figure 4: token request for a symmetric PoP key.
#[test]
fn rfc9200_figure4_token_request() {
    let mut bytes = h("a2 1818");
    bytes.extend_from_slice(&text("myclient"));
    bytes.extend_from_slice(&h("05"));
    bytes.extend_from_slice(&text("tempSensor4711"));
    let req = TokenRequest::from_cbor(&bytes).unwrap();
    assert_eq!(
        req.grant_type,
        labels::grant_type::CLIENT_CREDENTIALS,
        "absent grant_type means client_credentials"
    );
    assert_eq!(req.client_id.as_deref(), Some("myclient"));
    assert_eq!(req.audience.as_deref(), Some("tempSensor4711"));
    assert_eq!(TokenRequest::from_cbor(&req.to_cbor()).unwrap(), req);
}

// RFC 9200 §5.8.1, Figure 5 (decrypted payload): req_cnf with an EC2 key.
#[test]
fn rfc9200_figure5_token_request_with_asymmetric_key() {
    let mut bytes = h("a2 1818");
    bytes.extend_from_slice(&text("myclient"));
    bytes.extend_from_slice(&h("04 a1 01 a5 0102 02 41 11 2001 21 5820"));
    bytes.extend_from_slice(&h(
        "bac5b11cad8f99f9c72b05cf4b9e26d244dc189f745228255a219a86d6a09eff",
    ));
    bytes.extend_from_slice(&h("22 5820"));
    bytes.extend_from_slice(&h(
        "20138bf82dc1b6d562be0fa54ab7804a3a64b6d72ccfed6b6fb6ed28bbfc117e",
    ));
    let req = TokenRequest::from_cbor(&bytes).unwrap();
    let key = req
        .req_cnf
        .as_ref()
        .and_then(|c| c.cose_key.as_ref())
        .unwrap();
    assert_eq!(key.kty, KeyType::Assigned(iana::KeyType::EC2));
    assert_eq!(key.key_id, vec![0x11]);
    assert_eq!(TokenRequest::from_cbor(&req.to_cbor()).unwrap(), req);
}

// RFC 9200 §5.8.1, Figure 6: token request referencing a key by kid.
#[test]
fn rfc9200_figure6_token_request_with_kid() {
    let mut bytes = h("a4 1818");
    bytes.extend_from_slice(&text("myclient"));
    bytes.extend_from_slice(&h("05"));
    bytes.extend_from_slice(&text("valve424"));
    bytes.extend_from_slice(&h("09"));
    bytes.extend_from_slice(&text("read"));
    bytes.extend_from_slice(&h("04 a1 03 48 ea483475724cd775"));
    let req = TokenRequest::from_cbor(&bytes).unwrap();
    assert_eq!(req.scope, Some(Scope::Text("read".into())));
    assert_eq!(
        req.req_cnf.as_ref().unwrap().kid,
        Some(h("ea483475724cd775"))
    );
    assert_eq!(req.audience.as_deref(), Some("valve424"));
}

// RFC 9200 §5.8.2, Figure 7: response with a symmetric PoP key. The figure
// writes ace_profile as the text "coap_dtls", which RFC 9200 §5.8.4.3 forbids
// in CBOR; with the integer value (1, as in Figure 10) it decodes.
#[test]
fn rfc9200_figure7_token_response() {
    let tail = {
        let mut t = h("02 190e10 08 a1 01 a3 0104 02 44 dfd1aa97 20 4f");
        t.extend_from_slice(&h("849b5786457c1491be3a76dcea6c42"));
        t
    };
    let mut as_text = h("a4 01 46 4a5015df6864 1826");
    as_text.extend_from_slice(&text("coap_dtls"));
    as_text.extend_from_slice(&tail);
    assert!(matches!(
        TokenResponse::from_cbor(&as_text),
        Err(DecodeError::WrongType {
            what: "ace_profile",
            ..
        })
    ));
    let mut as_int = h("a4 01 46 4a5015df6864 1826 01");
    as_int.extend_from_slice(&tail);
    let resp = TokenResponse::from_cbor(&as_int).unwrap();
    assert_eq!(resp.access_token, h("4a5015df6864"));
    assert_eq!(resp.expires_in, Some(3600));
    assert_eq!(resp.ace_profile, Some(labels::ace_profile::COAP_DTLS));
    let key = resp.cnf.as_ref().unwrap().cose_key.as_ref().unwrap();
    assert_eq!(key.kty, KeyType::Assigned(iana::KeyType::Symmetric));
    assert_eq!(key.key_id, h("dfd1aa97"));
    assert_eq!(TokenResponse::from_cbor(&resp.to_cbor()).unwrap(), resp);
}

// RFC 9200 Appendix E.1, Figure 12: response with rs_cnf.
#[test]
fn rfc9200_figure12_token_response_with_rs_cnf() {
    let mut bytes = h("a2 01 52 d08343a1010aa1054d2a45df6fbc5a5aa313");
    bytes.extend_from_slice(&h(
        "1829 a1 01 a5 02 52 736f6d65207075626c6963206b6579206964 0102 2001 21 5820",
    ));
    bytes.extend_from_slice(&h(
        "30a0424cd21c2944838a2d75c92b37e76ea20d9f00893a3b4eee8a3c0aafec3e",
    ));
    bytes.extend_from_slice(&h("22 5820"));
    bytes.extend_from_slice(&h(
        "e04b65e92456d9888b52b379bdfbd51ee869ef1f0fc65b6659695b6cce081723",
    ));
    let resp = TokenResponse::from_cbor(&bytes).unwrap();
    let rs = resp.rs_cnf.as_ref().unwrap();
    assert_eq!(rs.key_id, b"some public key id");
    assert_eq!(rs.kty, KeyType::Assigned(iana::KeyType::EC2));
    assert_eq!(TokenResponse::from_cbor(&resp.to_cbor()).unwrap(), resp);
}

// RFC 9200 Appendix E.1, Figure 13: access token claims with a public key.
#[test]
fn rfc9200_figure13_access_token_claims() {
    let mut bytes = h("a5 03");
    bytes.extend_from_slice(&text("tempSensorInLivingRoom"));
    bytes.extend_from_slice(&h("06 1a5d30606c 04 1a5d306648 09"));
    bytes.extend_from_slice(&text("temperature_g firmware_p"));
    // cnf: COSE_Key with kid b64'1Bg8vub9tLe1gHMzV76e' (15 bytes), EC2, P-256
    bytes.extend_from_slice(&h(
        "08 a1 01 a5 02 4f d4183cbee6fdb4b7b580733357be9e 0102 2001 21 5820",
    ));
    // x = b64'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU'
    bytes.extend_from_slice(&h(
        "7fcdce2770f6c45d4183cbee6fdb4b7b580733357be9ef13bacf6e3c7bd15445",
    ));
    // y = b64'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0'
    bytes.extend_from_slice(&h("22 5820"));
    bytes.extend_from_slice(&h(
        "c7f144cd1bbd9b7e872cdfedb9eeb9f4b3695d6ea90b24ad8a4623288588e5ad",
    ));
    let claims = Claims::from_cbor(&bytes).unwrap();
    assert_eq!(claims.aud.as_deref(), Some("tempSensorInLivingRoom"));
    assert_eq!(claims.iat, Some(1563451500));
    assert_eq!(claims.exp, Some(1563453000));
    let scope = claims.scope.as_ref().unwrap();
    assert_eq!(
        scope.tokens().collect::<Vec<_>>(),
        vec!["temperature_g", "firmware_p"]
    );
    assert!(claims.cnf.as_ref().unwrap().cose_key.is_some());
    assert_eq!(Claims::from_cbor(&claims.to_cbor()).unwrap(), claims);
}

// RFC 9237 §3, Figure 5 (dm-cbor): the AIF example, 28 bytes.
const AIF_EXAMPLE: &str = "83 82 67 2f732f74656d70 01 82 66 2f612f6c6564 05 82 65 2f64746c73 02";

#[test]
fn rfc9237_aif_example_as_scope() {
    let aif = h(AIF_EXAMPLE);
    assert_eq!(aif.len(), 28);
    let scope = Scope::from_value(&Value::Bytes(aif.clone())).unwrap();
    assert_eq!(
        scope,
        Scope::Aif(vec![
            AifEntry::new("/s/temp", labels::aif_method::GET),
            AifEntry::new("/a/led", labels::aif_method::GET | labels::aif_method::PUT),
            AifEntry::new("/dtls", labels::aif_method::POST),
        ])
    );
    assert_eq!(scope.to_value(), Value::Bytes(aif.clone()));
    // a bare array (not wrapped in a bstr) is accepted on decode
    let bare = ace_core::coset::cbor::de::from_reader::<Value, _>(&aif[..]).unwrap();
    assert_eq!(Scope::from_value(&bare).unwrap(), scope);

    let none = NoTextScopes;
    let put = method_bit_from_coap_code(3).unwrap();
    let post = method_bit_from_coap_code(2).unwrap();
    assert_eq!(scope.covers("/a/led", put, &none), Access::Granted);
    assert_eq!(scope.covers("a/led", put, &none), Access::Granted);
    assert_eq!(scope.covers("/a/led", post, &none), Access::WrongMethod);
    assert_eq!(
        scope.covers("/s/hum", labels::aif_method::GET, &none),
        Access::WrongResource
    );
}

/// Every truncation and every single-byte corruption of the RFC tokens is
/// refused or decoded, never a panic; corruptions of the AEAD and MAC
/// protected tokens never yield other claims.
#[test]
fn corrupted_rfc_tokens_never_panic_nor_pass() {
    let (kid128, k128) = symmetric_key(A21_KEY);
    let aead = TokenKey::new(kid128, ContentAlg::AesCcm16_64_128, &k128).unwrap();
    let (kid256, k256) = symmetric_key(A22_KEY);
    let mac = MacKey::new(kid256, MacAlg::Hmac256_64, &k256).unwrap();
    for vector in [A3_SIGNED, A4_MACED, A5_ENCRYPTED, A6_NESTED, A1_CLAIMS] {
        let bytes = h(vector);
        let mut variants: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
        for i in 0..bytes.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= x;
                variants.push(b);
            }
        }
        for v in variants {
            if let Ok(c) = decrypt_token(&v, |_| Some(&aead)) {
                assert_eq!(c, a1_claims());
            }
            if let Ok(c) = verify_mac0_token(&v, |_| Some(&mac)) {
                assert_eq!(c, a1_claims());
            }
            let _ = decode_sign1_unverified(&v);
            let _ = Claims::from_cbor(&v);
            let _ = TokenRequest::from_cbor(&v);
            let _ = TokenResponse::from_cbor(&v);
            let _ = AuthzInfoRequest::from_cbor(&v);
            let _ = AsCreationHints::from_cbor(&v);
        }
    }
}
