//! Property tests: every message round-trips, and arbitrary bytes into every
//! decoder never panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ace_core::labels::ace_profile;
use ace_core::*;
use proptest::prelude::*;

fn spi() -> impl Strategy<Value = u32> {
    256u32..=u32::MAX
}

fn arb_ip_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>())
            .prop_map(|(a, b)| (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b)))),
        (any::<[u8; 16]>(), any::<[u8; 16]>())
            .prop_map(|(a, b)| (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))),
    ]
}

fn arb_ipsec() -> impl Strategy<Value = IpsecParams> {
    (
        any::<bool>(),
        any::<bool>(),
        1u32..=u32::MAX,
        arb_ip_pair(),
        proptest::option::of((spi(), spi(), any::<i64>(), any::<[u8; 32]>())),
    )
        .prop_filter_map("distinct SPIs", |(tunnel, esp, life, (c, rs), dp)| {
            let proto = if esp {
                SecProtocol::Esp
            } else {
                SecProtocol::Ah
            };
            let p = if tunnel {
                IpsecParams::tunnel(proto, life, c, rs)
            } else {
                IpsecParams::transport(proto, life)
            };
            match dp {
                None => Some(p),
                Some((a, b, alg, seed)) => {
                    p.with_direct_provisioning(a, b, alg, Seed::new(seed)).ok()
                }
            }
        })
}

fn arb_token_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.:/-]{1,12}"
}

fn arb_scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        proptest::collection::vec(arb_token_text(), 1..4).prop_map(|t| Scope::Text(t.join(" "))),
        proptest::collection::vec(("/[a-z]{0,8}", any::<u64>()), 0..4)
            .prop_map(|e| Scope::Aif(e.into_iter().map(|(p, m)| AifEntry::new(p, m)).collect())),
    ]
}

fn arb_cnf() -> impl Strategy<Value = Cnf> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        proptest::option::of(arb_ipsec()),
        proptest::option::of(prop_oneof![Just(Kmp::Ikev2), Just(Kmp::Edhoc)]),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 16..=16)),
    )
        .prop_map(|(kid, ipsec, kmp, k)| Cnf {
            cose_key: k.map(|k| {
                ace_core::coset::CoseKeyBuilder::new_symmetric_key(k)
                    .key_id(b"pop".to_vec())
                    .build()
            }),
            kid,
            ipsec,
            kmp,
            ipsec_update: None,
        })
}

fn arb_claims() -> impl Strategy<Value = Claims> {
    (
        (
            proptest::option::of(".{0,10}"),
            proptest::option::of(".{0,10}"),
            proptest::option::of(".{0,10}"),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
        ),
        (
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            proptest::option::of(arb_scope()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(arb_cnf()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        ),
    )
        .prop_map(
            |((iss, sub, aud, exp, nbf, iat), (cti, scope, prof, cnf, exi, cnonce))| Claims {
                iss,
                sub,
                aud,
                exp,
                nbf,
                iat,
                cti,
                scope,
                ace_profile: prof,
                cnf,
                exi,
                cnonce,
            },
        )
}

proptest! {
    #[test]
    fn ipsec_params_round_trip(p in arb_ipsec()) {
        prop_assert_eq!(IpsecParams::from_value(&p.to_value()).unwrap(), p);
    }

    #[test]
    fn scope_round_trip(s in arb_scope()) {
        prop_assert_eq!(Scope::from_value(&s.to_value()).unwrap(), s);
    }

    #[test]
    fn claims_round_trip(c in arb_claims()) {
        prop_assert_eq!(Claims::from_cbor(&c.to_cbor()).unwrap(), c);
    }

    #[test]
    fn encrypted_claims_round_trip(c in arb_claims(), iv in any::<[u8; 13]>()) {
        let key = TokenKey::new(b"kid".to_vec(), ContentAlg::AesCcm16_64_128, &[3; 16]).unwrap();
        let token = encrypt_token_with_iv(&c, &key, &iv).unwrap();
        prop_assert_eq!(decrypt_token(&token, |_| Some(&key)).unwrap(), c);
    }

    #[test]
    fn token_request_round_trip(
        grant in 0u64..5,
        aud in proptest::option::of(".{0,12}"),
        scope in proptest::option::of(arb_scope()),
        req_cnf in proptest::option::of(arb_cnf()),
        client in proptest::option::of(".{0,12}"),
        cnonce in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        flag in any::<bool>(),
    ) {
        let r = TokenRequest { grant_type: grant, audience: aud, scope, req_cnf, client_id: client, cnonce, request_ace_profile: flag };
        prop_assert_eq!(TokenRequest::from_cbor(&r.to_cbor()).unwrap(), r);
    }

    #[test]
    fn token_response_round_trip(
        token in proptest::collection::vec(any::<u8>(), 0..64),
        exp in proptest::option::of(any::<u64>()),
        prof in proptest::option::of(prop_oneof![Just(ace_profile::COAP_IPSEC), any::<i64>()]),
        cnf in proptest::option::of(arb_cnf()),
        scope in proptest::option::of(arb_scope()),
        rs in any::<bool>(),
    ) {
        let rs_cnf = rs.then(|| ace_core::coset::CoseKeyBuilder::new_ec2_pub_key(
            ace_core::coset::iana::EllipticCurve::P_256, vec![1; 32], vec![2; 32]).build());
        let r = TokenResponse { access_token: token, expires_in: exp, ace_profile: prof, cnf, rs_cnf, scope };
        prop_assert_eq!(TokenResponse::from_cbor(&r.to_cbor()).unwrap(), r);
    }

    #[test]
    fn authz_info_round_trip(token in proptest::collection::vec(any::<u8>(), 0..64), port in proptest::option::of(1u16..), rs_starts in any::<bool>()) {
        let r = AuthzInfoRequest { access_token: token, esp_udp_port: port, ike_rs_initiates: rs_starts };
        prop_assert_eq!(AuthzInfoRequest::from_cbor(&r.to_cbor()).unwrap(), r);
    }

    #[test]
    fn error_response_round_trip(code in 1i64..=8, desc in proptest::option::of(".{0,20}")) {
        let e = AceErrorResponse { error: AceErrorCode::from_i64(code), error_description: desc, error_uri: None };
        prop_assert_eq!(AceErrorResponse::from_cbor(&e.to_cbor()).unwrap(), e);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = TokenRequest::from_cbor(&bytes);
        let _ = TokenResponse::from_cbor(&bytes);
        let _ = AceErrorResponse::from_cbor(&bytes);
        let _ = AsCreationHints::from_cbor(&bytes);
        let _ = AuthzInfoRequest::from_cbor(&bytes);
        let _ = Claims::from_cbor(&bytes);
        let key = TokenKey::new(b"k".to_vec(), ContentAlg::A128Gcm, &[1; 16]).unwrap();
        let _ = decrypt_token(&bytes, |_| Some(&key));
        let mk = MacKey::new(b"k".to_vec(), MacAlg::Hmac256_64, &[1; 32]).unwrap();
        let _ = verify_mac0_token(&bytes, |_| Some(&mk));
        let _ = decode_sign1_unverified(&bytes);
    }

    /// Structured garbage: valid CBOR maps with random integer keys and
    /// values reach deeper into the decoders than random bytes.
    #[test]
    fn random_maps_never_panic(entries in proptest::collection::vec((-70000i64..70000, arb_value()), 0..12)) {
        let v = Value::Map(entries.into_iter().map(|(k, v)| (Value::Integer(k.into()), v)).collect());
        let _ = Cnf::from_value(&v);
        let _ = IpsecParams::from_value(&v);
        let _ = Claims::from_value(&v);
        let _ = TokenRequest::from_value(&v);
        let _ = TokenResponse::from_value(&v);
        let _ = AsCreationHints::from_value(&v);
        let _ = AuthzInfoRequest::from_value(&v);
        let _ = Scope::from_value(&v);
    }

    /// Any flipped byte of a valid token is detected (or the token stops
    /// parsing), never accepted with different claims.
    #[test]
    fn bit_flips_are_detected(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let key = TokenKey::new(b"kid".to_vec(), ContentAlg::A128Gcm, &[5; 16]).unwrap();
        let c = Claims { aud: Some("rs".into()), exp: Some(10), ..Claims::default() };
        let mut token = encrypt_token_with_iv(&c, &key, &[9; 12]).unwrap();
        let i = pos.index(token.len());
        token[i] ^= 1 << bit;
        // e.g. a flip in a way that re-encodes the same structure
        if let Ok(got) = decrypt_token(&token, |k| (k == b"kid").then_some(&key)) {
            prop_assert_eq!(got, c);
        }
    }
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        ".{0,8}".prop_map(Value::Text),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(Value::Float),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    (-70000i64..70000).prop_map(|k| Value::Integer(k.into())),
                    inner.clone()
                ),
                0..6
            )
            .prop_map(Value::Map),
            (0u64..100, inner).prop_map(|(t, v)| Value::Tag(t, Box::new(v))),
        ]
    })
}
