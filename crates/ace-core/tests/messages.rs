//! Round trips and rejections of every message, token protection and claim
//! validation, in the words of the specifications' scenarios.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ace_core::labels::{ace_profile, aif_method, cose_alg, ipsec as il};
use ace_core::scope::ALL_COAP_METHODS;
use ace_core::*;

fn seed() -> Seed {
    let mut s = [0u8; 32];
    for (i, b) in s.iter_mut().enumerate() {
        *b = i as u8;
    }
    Seed::new(s)
}

fn dp_params() -> IpsecParams {
    IpsecParams::transport(SecProtocol::Esp, 3600)
        .with_direct_provisioning(
            0x0001_2345,
            0x0005_4321,
            cose_alg::AES_CCM_16_64_128,
            seed(),
        )
        .unwrap()
}

fn claims(now: u64) -> Claims {
    Claims {
        iss: Some("coap://as.example".into()),
        aud: Some("coap://rs.example".into()),
        exp: Some(now + 3600),
        iat: Some(now),
        cti: Some(vec![1, 2, 3]),
        scope: Some(Scope::Text("temp led".into())),
        ace_profile: Some(ace_profile::COAP_IPSEC),
        cnf: Some(Cnf {
            ipsec: Some(dp_params()),
            ..Cnf::default()
        }),
        ..Claims::default()
    }
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut w = Vec::new();
    ace_core::coset::cbor::ser::into_writer(v, &mut w).unwrap();
    w
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

// ---------------------------------------------------------------- ipsec

#[test]
fn ipsec_direct_provisioning_round_trip() {
    let p = dp_params();
    assert_eq!(IpsecParams::from_value(&p.to_value()).unwrap(), p);
    p.validate_dp().unwrap();
}

#[test]
fn ipsec_tunnel_mode_needs_both_addresses() {
    let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let v4b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let ok = IpsecParams::tunnel(SecProtocol::Esp, 1800, v4, v4b);
    assert_eq!(IpsecParams::from_value(&ok.to_value()).unwrap(), ok);
    let mut missing = ok.clone();
    missing.ip_rs = None;
    assert_eq!(missing.validate(), Err(IpsecError::TunnelWithoutAddresses));
    assert!(IpsecParams::from_value(&missing.to_value()).is_err());
    let mixed = IpsecParams::tunnel(SecProtocol::Esp, 1800, v4, v6);
    assert_eq!(mixed.validate(), Err(IpsecError::AddressFamilyMismatch));
    let mut transport = IpsecParams::transport(SecProtocol::Ah, 10);
    transport.ip_c = Some(v4);
    assert_eq!(
        transport.validate(),
        Err(IpsecError::AddressesInTransportMode)
    );
}

#[test]
fn ipsec_sec_b_is_all_or_none() {
    let mut p = dp_params();
    p.seed = None;
    assert_eq!(p.validate(), Err(IpsecError::PartialSecB));
    assert!(matches!(
        IpsecParams::from_value(&p.to_value()),
        Err(DecodeError::InvalidValue { field: "ipsec", .. })
    ));
    assert_eq!(
        IpsecParams::transport(SecProtocol::Esp, 60).validate_dp(),
        Err(IpsecError::MissingSecB)
    );
}

#[test]
fn ipsec_reserved_spis_are_rejected() {
    for spi in [0u32, 1, 255] {
        let r = IpsecParams::transport(SecProtocol::Esp, 60).with_direct_provisioning(
            spi,
            0x1000,
            10,
            seed(),
        );
        assert_eq!(r.unwrap_err(), IpsecError::ReservedSpi(spi));
        assert!(IpsecSpiUpdate::new(spi).is_err());
    }
    assert!(IpsecSpiUpdate::new(256).is_ok());
    let same = IpsecParams::transport(SecProtocol::Esp, 60).with_direct_provisioning(
        0x1000,
        0x1000,
        10,
        seed(),
    );
    assert_eq!(same.unwrap_err(), IpsecError::SameSpis);
}

#[test]
fn ipsec_wire_rejections() {
    // mode 3, protocol 17, seed of 16 bytes, SPI above 32 bits, IP of 5 bytes
    let base = |k: i64, v: Value| {
        let mut entries = vec![(int(1), int(1)), (int(2), int(50)), (int(3), int(60))];
        entries.retain(|(kk, _)| *kk != int(k));
        entries.push((int(k), v));
        Value::Map(entries)
    };
    assert!(IpsecParams::from_value(&base(1, int(3))).is_err());
    assert!(IpsecParams::from_value(&base(2, int(17))).is_err());
    assert!(IpsecParams::from_value(&base(3, int(-1))).is_err());
    assert!(IpsecParams::from_value(&base(4, Value::Bytes(vec![0; 5]))).is_err());
    let mut dup = match base(3, int(60)) {
        Value::Map(m) => m,
        _ => unreachable!(),
    };
    dup.push((int(3), int(61)));
    assert!(matches!(
        IpsecParams::from_value(&Value::Map(dup)),
        Err(DecodeError::DuplicateKey { .. })
    ));
    assert!(
        IpsecParams::from_value(&Value::Map(vec![(int(2), int(50)), (int(3), int(60))])).is_err()
    );
}

#[test]
fn seed_debug_is_redacted() {
    let p = dp_params();
    let dbg = format!("{p:?}");
    assert!(dbg.contains("Seed(<redacted>)"));
    assert!(!dbg.contains("31]"), "{dbg}");
    let key = TokenKey::new(b"k".to_vec(), ContentAlg::A128Gcm, &[0x42; 16]).unwrap();
    assert!(!format!("{key:?}").contains("42, 42"));
    assert!(format!("{key:?}").contains("redacted"));
    let psk = Cnf {
        cose_key: Some(ace_core::coset::CoseKeyBuilder::new_symmetric_key(vec![0x5a; 16]).build()),
        ..Cnf::default()
    };
    let resp = TokenResponse {
        cnf: Some(psk),
        ..TokenResponse::new(vec![])
    };
    let dbg = format!("{resp:?}");
    assert!(!dbg.contains("90, 90"), "{dbg}");
    assert!(dbg.contains("redacted"));
}

#[test]
fn token_update_request_carries_only_spi_sa_rs() {
    // draft §2.1: C asks for a token update with an `ipsec` map holding only SPI_SA_RS.
    let req = TokenRequest {
        audience: Some("rs1".into()),
        req_cnf: Some(Cnf {
            ipsec_update: Some(IpsecSpiUpdate::new(0x0009_9999).unwrap()),
            ..Cnf::default()
        }),
        ..TokenRequest::new()
    };
    let back = TokenRequest::from_cbor(&req.to_cbor()).unwrap();
    assert_eq!(back, req);
    let cnf = back.req_cnf.unwrap();
    assert!(cnf.ipsec.is_none());
    assert_eq!(cnf.ipsec_update.unwrap().spi_sa_rs, 0x0009_9999);
    // an ipsec map with SPI_SA_RS and other fields but no mode is refused
    let bad = Value::Map(vec![
        (int(il::SPI_SA_RS), int(0x1000)),
        (int(il::LIFE), int(5)),
    ]);
    let cnf = Value::Map(vec![(int(ace_core::labels::cnf::IPSEC), bad)]);
    assert_eq!(
        Cnf::from_value(&cnf).unwrap_err(),
        DecodeError::MissingField("ipsec.mode")
    );
}

// ---------------------------------------------------------------- cnf

#[test]
fn cnf_with_kmp_and_kid_round_trips_and_ignores_unknown_members() {
    let c = Cnf {
        kid: Some(b"psk-1".to_vec()),
        kmp: Some(Kmp::Ikev2),
        ipsec: Some(IpsecParams::transport(SecProtocol::Esp, 1800)),
        ..Cnf::default()
    };
    let mut v = c.to_value();
    if let Value::Map(m) = &mut v {
        m.push((int(2), Value::Bytes(vec![1, 2, 3]))); // Encrypted_COSE_Key: ignored
        m.push((Value::Text("x-ext".into()), Value::Null)); // extension label: ignored
        m.push((int(-70000), int(1))); // private label: ignored
    }
    assert_eq!(Cnf::from_value(&v).unwrap(), c);
    let bad_kmp = Value::Map(vec![(int(ace_core::labels::cnf::KMP), int(9))]);
    assert!(matches!(
        Cnf::from_value(&bad_kmp),
        Err(DecodeError::InvalidValue {
            field: "cnf.kmp",
            ..
        })
    ));
}

// ---------------------------------------------------------------- scope

#[test]
fn text_scope_is_checked_against_rfc6749() {
    assert!(Scope::parse_text("read write".into()).is_ok());
    assert!(Scope::parse_text("".into()).is_err());
    assert!(Scope::parse_text("a  b".into()).is_err());
    assert!(Scope::parse_text("quote\"".into()).is_err());
    assert!(Scope::from_value(&Value::Text("back\\slash".into())).is_err());
    assert!(Scope::from_value(&int(3)).is_err());
    assert!(Scope::from_value(&Value::Bytes(vec![0xff])).is_err());
}

#[test]
fn text_scope_resolved_through_rs_configuration() {
    let resolver = |t: &str| match t {
        "temp" => Some(("/s/temp".to_owned(), aif_method::GET)),
        "led" => Some(("/a/led".to_owned(), aif_method::GET | aif_method::PUT)),
        _ => None,
    };
    let s = Scope::Text("temp led".into());
    assert_eq!(
        s.covers("/s/temp", aif_method::GET, &resolver),
        Access::Granted
    );
    assert_eq!(
        s.covers("/s/temp", aif_method::POST, &resolver),
        Access::WrongMethod
    );
    assert_eq!(
        s.covers("/a/led", aif_method::PUT, &resolver),
        Access::Granted
    );
    assert_eq!(
        s.covers("/x", aif_method::GET, &resolver),
        Access::WrongResource
    );
    assert_eq!(
        Scope::Text("unknown".into()).covers("/s/temp", aif_method::GET, &resolver),
        Access::WrongResource
    );
}

#[test]
fn as_grants_the_intersection_or_invalid_scope() {
    let req = Scope::Text("a b c".into());
    let allowed = Scope::Text("c a z".into());
    assert_eq!(req.intersect(&allowed), Some(Scope::Text("a c".into())));
    assert_eq!(Scope::Text("q".into()).intersect(&allowed), None);
    let req = Scope::Aif(vec![
        AifEntry::new("/a", aif_method::GET | aif_method::PUT),
        AifEntry::new("/b", aif_method::DELETE),
    ]);
    let allowed = Scope::Aif(vec![
        AifEntry::new("/a", aif_method::GET),
        AifEntry::new("/b", aif_method::GET),
    ]);
    assert_eq!(
        req.intersect(&allowed),
        Some(Scope::Aif(vec![AifEntry::new("/a", aif_method::GET)]))
    );
    assert_eq!(req.intersect(&Scope::Text("a".into())), None);
    let all = Scope::Aif(vec![AifEntry::new("/a", ALL_COAP_METHODS)]);
    assert!(all.intersect(&all).is_some());
}

// ---------------------------------------------------------------- token endpoint

#[test]
fn token_request_round_trip_and_defaults() {
    let req = TokenRequest {
        audience: Some("coap://rs.example".into()),
        scope: Some(Scope::Aif(vec![AifEntry::new("/s/temp", aif_method::GET)])),
        client_id: Some("client-1".into()),
        cnonce: Some(vec![9, 9]),
        request_ace_profile: true,
        ..TokenRequest::new()
    };
    assert_eq!(TokenRequest::from_cbor(&req.to_cbor()).unwrap(), req);
    assert_eq!(
        TokenRequest::from_cbor(&[0xa0]).unwrap(),
        TokenRequest::new(),
        "an empty map is a client-credentials request"
    );
    // ace_profile must be null in a request
    let bad = cbor(&Value::Map(vec![(int(38), int(1))]));
    assert!(TokenRequest::from_cbor(&bad).is_err());
    // audience of the wrong type
    let bad = cbor(&Value::Map(vec![(int(5), int(1))]));
    assert_eq!(
        TokenRequest::from_cbor(&bad).unwrap_err(),
        DecodeError::WrongType {
            what: "audience",
            expected: "tstr"
        }
    );
    // not a map; trailing bytes; truncated
    assert!(TokenRequest::from_cbor(&[0x80]).is_err());
    assert_eq!(
        TokenRequest::from_cbor(&[0xa0, 0x00]).unwrap_err(),
        DecodeError::TrailingBytes(1)
    );
    assert!(matches!(
        TokenRequest::from_cbor(&[0xa1, 0x05]),
        Err(DecodeError::Cbor(_))
    ));
}

#[test]
fn token_response_requires_access_token() {
    let resp = TokenResponse {
        expires_in: Some(3600),
        ace_profile: Some(ace_profile::COAP_IPSEC),
        cnf: Some(Cnf {
            ipsec: Some(dp_params()),
            ..Cnf::default()
        }),
        scope: Some(Scope::Text("temp".into())),
        ..TokenResponse::new(vec![0xd0, 0x83])
    };
    assert_eq!(TokenResponse::from_cbor(&resp.to_cbor()).unwrap(), resp);
    let no_token = cbor(&Value::Map(vec![(int(2), int(3600))]));
    assert_eq!(
        TokenResponse::from_cbor(&no_token).unwrap_err(),
        DecodeError::MissingField("access_token")
    );
}

#[test]
fn error_response_codes_and_coap_mapping() {
    for (code, n) in [
        (AceErrorCode::InvalidRequest, 1),
        (AceErrorCode::InvalidClient, 2),
        (AceErrorCode::InvalidGrant, 3),
        (AceErrorCode::UnauthorizedClient, 4),
        (AceErrorCode::UnsupportedGrantType, 5),
        (AceErrorCode::InvalidScope, 6),
        (AceErrorCode::UnsupportedPopKey, 7),
        (AceErrorCode::IncompatibleAceProfiles, 8),
    ] {
        assert_eq!(code.to_i64(), n);
        let e = AceErrorResponse::with_description(code, "why");
        let bytes = e.to_cbor();
        assert_eq!(bytes[..3], [0xa2, 0x18, 0x1e]);
        assert_eq!(AceErrorResponse::from_cbor(&bytes).unwrap(), e);
        let expect = if code == AceErrorCode::InvalidClient {
            "4.01"
        } else {
            "4.00"
        };
        assert_eq!(e.coap_code().to_string(), expect);
    }
    assert_eq!(AceErrorCode::from_i64(99), AceErrorCode::Other(99));
    assert_eq!(
        AceErrorResponse::from_cbor(&[0xa0]).unwrap_err(),
        DecodeError::MissingField("error")
    );
    assert_eq!(CoapCode::BAD_REQUEST.to_u8(), 0x80);
    assert_eq!(CoapCode::METHOD_NOT_ALLOWED.to_u8(), 0x85);
}

#[test]
fn creation_hints_round_trip_and_require_as() {
    let hints = AsCreationHints {
        kid: Some(vec![1]),
        audience: Some("rs".into()),
        scope: Some(Scope::Aif(vec![AifEntry::new("/x", 1)])),
        cnonce: Some(vec![7; 8]),
        ..AsCreationHints::new("coap://as.example/token")
    };
    assert_eq!(AsCreationHints::from_cbor(&hints.to_cbor()).unwrap(), hints);
    assert_eq!(
        AsCreationHints::from_cbor(&[0xa0]).unwrap_err(),
        DecodeError::MissingField("AS")
    );
}

// ---------------------------------------------------------------- authz-info

#[test]
fn authz_info_forms() {
    let r = AuthzInfoRequest::new(vec![1, 2, 3], Some(40000));
    let bytes = r.to_cbor();
    // { 1: h'010203', -65537: 40000 }
    assert_eq!(hex::encode(&bytes), "a201430102033a00010000199c40");
    // IKEv2, the RS to start: { 1: h'010203', -65537: 40000, -65539: true }
    let rs_starts = AuthzInfoRequest {
        ike_rs_initiates: true,
        ..r.clone()
    };
    let b2 = rs_starts.to_cbor();
    assert_eq!(hex::encode(&b2), "a301430102033a00010000199c403a00010002f5");
    assert_eq!(AuthzInfoRequest::from_cbor(&b2).unwrap(), rs_starts);
    // only `true` is valid
    let falsy = hex::decode("a301430102033a00010000199c403a00010002f4").unwrap();
    assert!(AuthzInfoRequest::from_cbor(&falsy).is_err());
    // and not beside EDHOC message_1
    let with_m1 = hex::decode("a301430102033a0001000141013a00010002f5").unwrap();
    assert!(ace_core::AuthzInfoUpload::from_cbor(&with_m1).is_err());
    assert_eq!(AuthzInfoRequest::from_cbor(&bytes).unwrap(), r);
    assert_eq!(r.esp_udp_port_or_default(), 40000);
    // a bare bstr is the plain token
    let plain = AuthzInfoRequest::from_cbor(&[0x43, 1, 2, 3]).unwrap();
    assert_eq!(plain.access_token, vec![1, 2, 3]);
    assert_eq!(plain.esp_udp_port_or_default(), 4500);
    // the bare COSE structure (application/cwt) is the token itself
    let cose = [0xd0, 0x83, 0x40, 0xa0, 0x40];
    assert_eq!(
        AuthzInfoRequest::from_cbor(&cose).unwrap().access_token,
        cose.to_vec()
    );
    // port 0 and port > 65535 are refused
    for port in [0i64, 65536] {
        let bad = cbor(&Value::Map(vec![
            (int(1), Value::Bytes(vec![1])),
            (int(-65537), int(port)),
        ]));
        assert!(AuthzInfoRequest::from_cbor(&bad).is_err());
    }
    assert!(AuthzInfoRequest::from_cbor(&[0x01]).is_err());
}

// ---------------------------------------------------------------- tokens

#[test]
fn encrypted_token_round_trips_under_every_content_alg() {
    let mut rng = rand::rng();
    for alg in [
        ContentAlg::A128Gcm,
        ContentAlg::A256Gcm,
        ContentAlg::AesCcm16_64_128,
        ContentAlg::AesCcm16_64_256,
    ] {
        let key = TokenKey::generate(b"as-rs".to_vec(), alg, &mut rng);
        let c = claims(1_700_000_000);
        let token = encrypt_token(&c, &key, &mut rng).unwrap();
        assert_eq!(token[0], 0xd0, "COSE_Encrypt0 tag 16");
        assert_eq!(
            decrypt_token(&token, |kid| (kid == b"as-rs").then_some(&key)).unwrap(),
            c
        );
    }
}

#[test]
fn tampered_token_fails_to_decrypt() {
    let mut rng = rand::rng();
    let key = TokenKey::generate(b"k1".to_vec(), ContentAlg::AesCcm16_64_128, &mut rng);
    let token = encrypt_token(&claims(0), &key, &mut rng).unwrap();
    let mut bad = token.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01; // ciphertext/tag
    assert_eq!(
        decrypt_token(&bad, |_| Some(&key)).unwrap_err(),
        CwtError::DecryptFailed
    );
    // changing the IV also breaks it
    let pos = token.windows(2).position(|w| w == [0x05, 0x4d]).unwrap() + 2;
    let mut bad = token.clone();
    bad[pos] ^= 0x80;
    assert_eq!(
        decrypt_token(&bad, |_| Some(&key)).unwrap_err(),
        CwtError::DecryptFailed
    );
    assert_eq!(CwtError::DecryptFailed.coap_code(), CoapCode::UNAUTHORIZED);
}

#[test]
fn token_under_another_key_is_refused() {
    let mut rng = rand::rng();
    let key = TokenKey::generate(b"k1".to_vec(), ContentAlg::A128Gcm, &mut rng);
    let other_same_kid = TokenKey::generate(b"k1".to_vec(), ContentAlg::A128Gcm, &mut rng);
    let other_kid = TokenKey::generate(b"k2".to_vec(), ContentAlg::A128Gcm, &mut rng);
    let token = encrypt_token(&claims(0), &key, &mut rng).unwrap();
    assert_eq!(
        decrypt_token(&token, |kid| (kid == other_kid.kid.as_slice())
            .then_some(&other_kid))
        .unwrap_err(),
        CwtError::UnknownKid
    );
    assert_eq!(
        decrypt_token(&token, |_| Some(&other_same_kid)).unwrap_err(),
        CwtError::DecryptFailed
    );
    let ccm = TokenKey::new(b"k1".to_vec(), ContentAlg::AesCcm16_64_128, &[0; 16]).unwrap();
    assert_eq!(
        decrypt_token(&token, |_| Some(&ccm)).unwrap_err(),
        CwtError::AlgMismatch { token: 1, key: 10 }
    );
}

#[test]
fn token_structure_rejections() {
    let key = TokenKey::new(b"k".to_vec(), ContentAlg::A128Gcm, &[7; 16]).unwrap();
    let look = |_: &[u8]| Some(&key);
    assert!(matches!(
        decrypt_token(&[], look),
        Err(CwtError::Malformed(_))
    ));
    assert!(matches!(
        decrypt_token(&[0xa0], look),
        Err(CwtError::Malformed(_))
    ));
    // a COSE_Mac0 given to decrypt_token
    assert_eq!(
        decrypt_token(&[0xd1, 0x80], look).unwrap_err(),
        CwtError::WrongStructure(17)
    );
    // alg missing: [h'', {4: h'6b', 5: h'00*12'}, h'00']
    let no_alg = cbor(&Value::Tag(
        16,
        Box::new(Value::Array(vec![
            Value::Bytes(vec![]),
            Value::Map(vec![
                (int(4), Value::Bytes(b"k".to_vec())),
                (int(5), Value::Bytes(vec![0; 12])),
            ]),
            Value::Bytes(vec![0; 20]),
        ])),
    ));
    assert_eq!(
        decrypt_token(&no_alg, look).unwrap_err(),
        CwtError::MissingAlg
    );
    // unsupported alg (HMAC in an Encrypt0), no kid, wrong IV length, crit
    let mk = |prot: Vec<(Value, Value)>, unprot: Vec<(Value, Value)>| {
        cbor(&Value::Tag(
            16,
            Box::new(Value::Array(vec![
                Value::Bytes(cbor(&Value::Map(prot))),
                Value::Map(unprot),
                Value::Bytes(vec![0; 20]),
            ])),
        ))
    };
    let kid = (int(4), Value::Bytes(b"k".to_vec()));
    let iv12 = (int(5), Value::Bytes(vec![0; 12]));
    assert_eq!(
        decrypt_token(
            &mk(vec![(int(1), int(5))], vec![kid.clone(), iv12.clone()]),
            look
        )
        .unwrap_err(),
        CwtError::UnsupportedAlg(5)
    );
    assert_eq!(
        decrypt_token(&mk(vec![(int(1), int(1))], vec![iv12.clone()]), look).unwrap_err(),
        CwtError::MissingKid
    );
    assert_eq!(
        decrypt_token(
            &mk(
                vec![(int(1), int(1))],
                vec![kid.clone(), (int(5), Value::Bytes(vec![0; 13]))]
            ),
            look
        )
        .unwrap_err(),
        CwtError::BadIv {
            expected: 12,
            got: 13
        }
    );
    assert_eq!(
        decrypt_token(
            &mk(
                vec![
                    (int(1), int(1)),
                    (int(2), Value::Array(vec![int(-70000)])),
                    (int(-70000), int(0))
                ],
                vec![kid, iv12]
            ),
            look
        )
        .unwrap_err(),
        CwtError::UnsupportedCritical
    );
    assert_eq!(
        TokenKey::new(b"k".to_vec(), ContentAlg::A256Gcm, &[0; 16]).unwrap_err(),
        CwtError::KeyLength {
            expected: 32,
            got: 16
        }
    );
}

#[test]
fn claims_that_are_not_a_claims_set_are_refused() {
    let key = TokenKey::new(b"k".to_vec(), ContentAlg::A128Gcm, &[7; 16]).unwrap();
    // encrypt a claims set, then check a float exp decodes conservatively
    let c = Claims {
        aud: Some("x".into()),
        ..Claims::default()
    };
    let token = encrypt_token_with_iv(&c, &key, &[0; 12]).unwrap();
    assert_eq!(decrypt_token(&token, |_| Some(&key)).unwrap(), c);
    let float_exp = cbor(&Value::Map(vec![
        (int(4), Value::Float(100.9)),
        (int(5), Value::Float(99.1)),
    ]));
    let parsed = Claims::from_cbor(&float_exp).unwrap();
    assert_eq!((parsed.exp, parsed.nbf), (Some(100), Some(100)));
    assert!(Claims::from_cbor(&cbor(&Value::Map(vec![(int(4), int(-5))]))).is_err());
    assert!(Claims::from_cbor(&cbor(&Value::Map(vec![(int(4), Value::Float(f64::NAN))]))).is_err());
    assert!(matches!(
        CwtError::Claims(DecodeError::MissingField("x")).coap_code(),
        CoapCode {
            class: 4,
            detail: 0
        }
    ));
}

// ---------------------------------------------------------------- validation

#[test]
fn valid_token_passes() {
    let now = 1_700_000_000;
    validate_claims(
        &claims(now),
        now,
        "coap://rs.example",
        Some("coap://as.example"),
    )
    .unwrap();
}

#[test]
fn expired_token_is_refused_with_4_01() {
    let now = 1_700_000_000;
    let c = claims(now);
    let err = validate_claims(&c, now + 3600, "coap://rs.example", None).unwrap_err();
    assert_eq!(err, TokenInvalid::Expired);
    assert_eq!(err.coap_code(), CoapCode::UNAUTHORIZED);
    let mut early = c.clone();
    early.nbf = Some(now + 10);
    assert_eq!(
        validate_claims(&early, now, "coap://rs.example", None).unwrap_err(),
        TokenInvalid::NotYetValid
    );
}

#[test]
fn wrong_audience_is_refused_with_4_03() {
    let now = 1_700_000_000;
    let err = validate_claims(&claims(now), now, "coap://other-rs", None).unwrap_err();
    assert_eq!(err, TokenInvalid::WrongAudience);
    assert_eq!(err.coap_code(), CoapCode::FORBIDDEN);
}

#[test]
fn wrong_issuer_beats_expiry_and_audience() {
    // RFC 9200 §5.10.1.1 order: iss, exp, aud
    let now = 1_700_000_000;
    let err =
        validate_claims(&claims(now), now + 10_000, "nobody", Some("coap://evil-as")).unwrap_err();
    assert_eq!(err, TokenInvalid::WrongIssuer);
    assert_eq!(err.coap_code(), CoapCode::UNAUTHORIZED);
}

#[test]
fn unknown_profile_and_missing_claims() {
    let now = 1_700_000_000;
    let mut c = claims(now);
    c.ace_profile = Some(ace_profile::COAP_DTLS);
    let err = validate_claims(&c, now, "coap://rs.example", None).unwrap_err();
    assert_eq!(err, TokenInvalid::WrongProfile(1));
    assert_eq!(err.coap_code(), CoapCode::BAD_REQUEST);
    c.ace_profile = None;
    validate_claims(&c, now, "coap://rs.example", None).unwrap();
    for (field, f) in [
        ("exp", (|c: &mut Claims| c.exp = None) as fn(&mut Claims)),
        ("aud", |c: &mut Claims| c.aud = None),
        ("scope", |c: &mut Claims| c.scope = None),
        ("cnf", |c: &mut Claims| c.cnf = None),
    ] {
        let mut c = claims(now);
        f(&mut c);
        assert_eq!(
            validate_claims(&c, now, "coap://rs.example", None).unwrap_err(),
            TokenInvalid::MissingClaim(field)
        );
    }
    let mut exi_only = claims(now);
    exi_only.exp = None;
    exi_only.exi = Some(600);
    validate_claims(&exi_only, now, "coap://rs.example", None).unwrap();
}
