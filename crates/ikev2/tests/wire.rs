//! The wire layer: messages captured from other implementations parse and
//! re-emit byte for byte, every payload round-trips, and every malformation
//! is the precise typed error.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::{hx, load};
use ikev2::consts::*;
use ikev2::payload::*;
use ikev2::{EmitError, HeaderRepr, MessageRepr, MessageView, ParseError};

fn types(names: &serde_json::Value) -> Vec<PayloadType> {
    names
        .as_array()
        .unwrap()
        .iter()
        .map(|n| match n.as_str().unwrap() {
            "SA" => PayloadType::SA,
            "KE" => PayloadType::KE,
            "NONCE" => PayloadType::NONCE,
            "NOTIFY" => PayloadType::NOTIFY,
            "VENDOR_ID" => PayloadType::VENDOR_ID,
            "IDI" => PayloadType::IDI,
            "IDR" => PayloadType::IDR,
            "AUTH" => PayloadType::AUTH,
            "TSI" => PayloadType::TSI,
            "TSR" => PayloadType::TSR,
            other => panic!("{other}"),
        })
        .collect()
}

fn roundtrip(bytes: &[u8]) -> MessageRepr {
    let m = MessageRepr::parse(bytes).unwrap();
    assert_eq!(m.buffer_len(), bytes.len());
    assert_eq!(m.emit().unwrap(), bytes, "re-emitted bytes differ");
    m
}

#[test]
fn aosp_ike_sa_init_parses_and_reemits() {
    let v = load("captured_messages.json");
    let t = &v["aosp_ike_sa_init"];
    let m = roundtrip(&hx(&t["hex"]));
    assert_eq!(m.payload_types(), types(&t["payloads"]));
    assert_eq!(m.exchange_type(), ExchangeType::IKE_SA_INIT);
    assert!(m.header.initiator && !m.header.response);
    assert_eq!(m.header.spi_r, [0; 8]);
    let p = &m.sa().unwrap().proposals[0];
    assert_eq!((p.number, p.protocol), (1, ProtocolId::IKE));
    let encr = p.transforms_of(TransformType::ENCR).next().unwrap();
    assert_eq!(EncrId(encr.id), EncrId::ENCR_AES_CBC);
    assert_eq!(encr.key_length(), Some(128));
    assert!(m.notify(NotifyType::NAT_DETECTION_SOURCE_IP).is_some());
    assert_eq!(
        m.notify(NotifyType::NAT_DETECTION_DESTINATION_IP)
            .unwrap()
            .data
            .len(),
        20
    );
    assert_eq!(m.ke().unwrap().group, DhGroup(2));
}

#[test]
fn rub_nds_ike_sa_init_parses_and_reemits() {
    let v = load("captured_messages.json");
    let t = &v["rub_nds_ike_sa_init"];
    let m = roundtrip(&hx(&t["hex"]));
    assert_eq!(m.payload_types(), types(&t["payloads"]));
    assert_eq!(m.sa().unwrap().proposals[0].transforms.len(), 4);
}

#[test]
fn strongswan_messages_parse_and_reemit() {
    let v = load("strongswan_psk_exchange.json");
    let req = roundtrip(&hx(&v["ike_sa_init_request"]));
    assert!(req
        .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
        .is_some());
    let hashes = &req
        .notify(NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .unwrap()
        .data;
    assert!(hashes
        .chunks(2)
        .any(|c| c == HashAlgorithm::SHA2_256.0.to_be_bytes()));
    assert_eq!(req.ke().unwrap().group, DhGroup::ECP_256);
    assert_eq!(req.ke().unwrap().data.len(), 64);
    let resp = roundtrip(&hx(&v["ike_sa_init_response"]));
    assert!(resp.header.response && !resp.header.initiator);
    assert_eq!(resp.sa().unwrap().proposals.len(), 1);
    for name in ["ike_auth_request", "ike_auth_response"] {
        let m = roundtrip(&hx(&v[name]));
        assert_eq!(m.exchange_type(), ExchangeType::IKE_AUTH);
        assert_eq!(m.header.message_id, 1);
        assert!(matches!(m.payloads.as_slice(), [Payload::Encrypted(_)]));
    }
}

#[test]
fn aosp_ike_auth_sk_container_boundaries() {
    let v = load("captured_messages.json");
    let t = &v["aosp_ike_auth"];
    let m = roundtrip(&hx(&t["hex"]));
    let Some(Payload::Encrypted(sk)) = m.payloads.last() else {
        panic!()
    };
    assert_eq!(sk.first_inner, PayloadType::IDI);
    let parts = sk.parts(16, 12).unwrap();
    assert_eq!(parts.iv, hx(&t["iv"]));
    assert_eq!(parts.icv, hx(&t["icv"]));
    assert_eq!(parts.ciphertext.len() % 16, 0);
    assert!(matches!(
        sk.parts(200, 12),
        Err(ParseError::EncryptedTooShort { .. })
    ));
}

#[test]
fn aosp_decrypted_ike_auth_chain() {
    let v = load("captured_messages.json");
    let t = &v["aosp_ike_auth_decrypted"];
    let plain = hx(&t["hex"]);
    let pad = *plain.last().unwrap() as usize;
    let inner = &plain[..plain.len() - 1 - pad];
    let payloads = parse_chain(PayloadType::IDI, inner).unwrap();
    let got: Vec<_> = payloads.iter().map(Payload::payload_type).collect();
    assert_eq!(got, types(&t["payloads"]));
    let Payload::IdI(id) = &payloads[0] else {
        panic!()
    };
    assert_eq!(id.id_type, IdType::ID_IPV4_ADDR);
    assert_eq!(id.data, [10, 80, 80, 13]);
    let Payload::Sa(sa) = &payloads[3] else {
        panic!()
    };
    assert_eq!(sa.proposals[0].protocol, ProtocolId::ESP);
    assert_eq!(sa.proposals[0].child_spi(), Some(0x2ad4_c0a2));
    let Payload::TsI(ts) = &payloads[4] else {
        panic!()
    };
    assert_eq!(
        ts.selectors,
        vec![TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            range: TsRange::V4(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST),
        }]
    );
    let mut out = Vec::new();
    emit_chain(&payloads, &mut out).unwrap();
    assert_eq!(out, inner);
}

#[test]
fn aosp_fragment_two_of_two() {
    let v = load("captured_messages.json");
    let t = &v["aosp_ike_fragment"];
    let m = roundtrip(&hx(&t["hex"]));
    let [Payload::EncryptedFragment(f)] = m.payloads.as_slice() else {
        panic!()
    };
    assert_eq!((f.number, f.total), (2, 2));
    assert_eq!(f.first_inner, PayloadType::NONE);
}

#[test]
fn aosp_empty_informational() {
    let v = load("captured_messages.json");
    let t = &v["aosp_empty_informational"];
    let m = roundtrip(&hx(&t["hex"]));
    assert_eq!(m.exchange_type(), ExchangeType::INFORMATIONAL);
    assert!(m.header.initiator && m.header.response);
    let [Payload::Encrypted(sk)] = m.payloads.as_slice() else {
        panic!()
    };
    assert_eq!(sk.first_inner, PayloadType::NONE);
    let p = sk.parts(16, 12).unwrap();
    assert_eq!(p.iv, hx(&t["iv"]));
    assert_eq!(p.ciphertext, hx(&t["ciphertext"]));
    assert_eq!(p.icv, hx(&t["icv"]));
}

// --- header ---------------------------------------------------------------

fn header() -> HeaderRepr {
    HeaderRepr {
        spi_i: [1, 2, 3, 4, 5, 6, 7, 8],
        spi_r: [0; 8],
        next_payload: PayloadType::NONE,
        exchange_type: ExchangeType::IKE_SA_INIT,
        initiator: true,
        response: false,
        version_flag: false,
        message_id: 0,
        length: 0,
    }
}

fn nonce() -> Payload {
    Payload::Nonce(NonceRepr {
        data: vec![0x5a; 32],
    })
}

#[test]
fn header_fields() {
    let m = MessageRepr {
        header: header(),
        payloads: vec![nonce()],
    };
    let b = m.emit().unwrap();
    assert_eq!(&b[16..20], &[PayloadType::NONCE.0, 0x20, 34, 0x08]);
    assert_eq!(u32::from_be_bytes(b[24..28].try_into().unwrap()), 28 + 36);
    let v = MessageView::new_checked(&b).unwrap();
    assert_eq!(v.header().major_version(), 2);
    assert_eq!(v.payloads().count(), 1);
    let back = MessageRepr::parse(&b).unwrap();
    assert_eq!(back.header.length, 64);
    assert_eq!(back.header.next_payload, PayloadType::NONCE);
}

#[test]
fn major_version_other_than_2_is_invalid_major_version() {
    let mut b = MessageRepr {
        header: header(),
        payloads: vec![],
    }
    .emit()
    .unwrap();
    b[17] = 0x30;
    let e = MessageRepr::parse(&b).unwrap_err();
    assert_eq!(e, ParseError::UnsupportedMajorVersion(3));
    assert_eq!(e.notify(), NotifyType::INVALID_MAJOR_VERSION);
    b[17] = 0x10; // IKEv1
    assert_eq!(
        MessageRepr::parse(&b).unwrap_err(),
        ParseError::UnsupportedMajorVersion(1)
    );
    b[17] = 0x2f; // minor version ignored
    assert!(MessageRepr::parse(&b).is_ok());
}

#[test]
fn reserved_flag_bits_are_ignored() {
    let mut b = MessageRepr {
        header: header(),
        payloads: vec![],
    }
    .emit()
    .unwrap();
    b[19] |= 0xc7;
    let m = MessageRepr::parse(&b).unwrap();
    assert!(m.header.initiator && !m.header.response && !m.header.version_flag);
}

#[test]
fn length_field_must_match_the_datagram() {
    let b = MessageRepr {
        header: header(),
        payloads: vec![nonce()],
    }
    .emit()
    .unwrap();
    assert!(matches!(
        MessageRepr::parse(&b[..b.len() - 1]),
        Err(ParseError::BadLength { .. })
    ));
    let mut longer = b.clone();
    longer.push(0);
    assert!(matches!(
        MessageRepr::parse(&longer),
        Err(ParseError::BadLength { .. })
    ));
    assert!(matches!(
        MessageRepr::parse(&b[..27]),
        Err(ParseError::Truncated { .. })
    ));
    let mut short = b.clone();
    short[24..28].copy_from_slice(&20u32.to_be_bytes());
    assert!(matches!(
        MessageRepr::parse(&short),
        Err(ParseError::BadLength { .. })
    ));
}

// --- generic chain ----------------------------------------------------------

/// A chain: Nonce, an unknown payload type 200 (critical or not), Nonce.
fn chain_with_unknown(critical: bool) -> Vec<u8> {
    let mut c = Vec::new();
    c.extend_from_slice(&[200, 0, 0, 20]);
    c.extend_from_slice(&[0x11; 16]);
    c.extend_from_slice(&[PayloadType::NONCE.0, if critical { 0x80 } else { 0 }, 0, 7]);
    c.extend_from_slice(&[1, 2, 3]);
    c.extend_from_slice(&[0, 0, 0, 20]);
    c.extend_from_slice(&[0x22; 16]);
    c
}

#[test]
fn unknown_payload_without_critical_bit_is_skipped() {
    let ps = parse_chain(PayloadType::NONCE, &chain_with_unknown(false)).unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(
        PayloadIter::new(PayloadType::NONCE, &chain_with_unknown(false)).count(),
        3
    );
}

#[test]
fn unknown_payload_with_critical_bit_is_unsupported_critical_payload() {
    let e = parse_chain(PayloadType::NONCE, &chain_with_unknown(true)).unwrap_err();
    assert_eq!(e, ParseError::UnsupportedCriticalPayload(PayloadType(200)));
    assert_eq!(e.notify(), NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
}

#[test]
fn critical_bit_on_a_known_payload_is_fine() {
    let mut c = Vec::new();
    c.extend_from_slice(&[0, 0x80, 0, 20]);
    c.extend_from_slice(&[0x33; 16]);
    assert_eq!(parse_chain(PayloadType::NONCE, &c).unwrap().len(), 1);
}

#[test]
fn payload_length_out_of_bounds() {
    for len in [0u16, 3, 21] {
        let mut c = vec![0, 0];
        c.extend_from_slice(&len.to_be_bytes());
        c.extend_from_slice(&[0x44; 16]);
        assert!(
            matches!(
                parse_chain(PayloadType::NONCE, &c),
                Err(ParseError::BadLength {
                    what: "Payload Length",
                    ..
                })
            ),
            "length {len}"
        );
    }
    assert!(matches!(
        parse_chain(PayloadType::NONCE, &[0, 0, 0]),
        Err(ParseError::Truncated { .. })
    ));
}

#[test]
fn octets_after_the_last_payload_are_rejected() {
    let mut c = vec![0, 0, 0, 20];
    c.extend_from_slice(&[0x44; 16]);
    c.push(0);
    assert!(matches!(
        parse_chain(PayloadType::NONCE, &c),
        Err(ParseError::BadLength { .. })
    ));
}

#[test]
fn payload_after_encrypted_is_rejected() {
    let mut c = vec![PayloadType::IDI.0, 0, 0, 8, 1, 2, 3, 4];
    c.extend_from_slice(&[0, 0, 0, 20]);
    c.extend_from_slice(&[0x44; 16]);
    assert_eq!(
        parse_chain(PayloadType::SK, &c).unwrap_err(),
        ParseError::PayloadAfterEncrypted
    );
    let bad = vec![
        Payload::Encrypted(EncryptedRepr {
            first_inner: PayloadType::IDI,
            body: vec![1],
        }),
        nonce(),
    ];
    assert_eq!(
        emit_chain(&bad, &mut Vec::new()),
        Err(EmitError::EncryptedNotLast)
    );
}

// --- one round trip per payload -------------------------------------------

fn sample_payloads() -> Vec<Payload> {
    vec![
        Payload::Sa(SaRepr {
            proposals: vec![
                Proposal {
                    number: 1,
                    protocol: ProtocolId::IKE,
                    spi: vec![],
                    transforms: vec![
                        Transform::encr(EncrId::ENCR_AES_GCM_16, Some(256)),
                        Transform::encr(EncrId::ENCR_CHACHA20_POLY1305, None),
                        Transform::prf(PrfId::PRF_HMAC_SHA2_256),
                        Transform::dh(DhGroup::CURVE25519),
                        Transform::dh(DhGroup::ECP_256),
                    ],
                },
                Proposal {
                    number: 2,
                    protocol: ProtocolId::IKE,
                    spi: vec![],
                    transforms: vec![
                        Transform::encr(EncrId::ENCR_AES_CBC, Some(128)),
                        Transform::prf(PrfId::PRF_HMAC_SHA2_256),
                        Transform::integ(IntegId::AUTH_HMAC_SHA2_256_128),
                        Transform {
                            transform_type: TransformType::DH,
                            id: 19,
                            attributes: vec![Attribute::Tlv {
                                attr_type: AttributeType(77),
                                value: vec![9, 9, 9],
                            }],
                        },
                    ],
                },
                Proposal {
                    number: 3,
                    protocol: ProtocolId::ESP,
                    spi: vec![0xde, 0xad, 0xbe, 0xef],
                    transforms: vec![
                        Transform::encr(EncrId::ENCR_AES_CCM_8, Some(128)),
                        Transform::esn(EsnId::NO_ESN),
                        Transform::esn(EsnId::ESN),
                    ],
                },
            ],
        }),
        Payload::Ke(KeRepr {
            group: DhGroup::CURVE25519,
            data: vec![7; 32],
        }),
        Payload::IdI(IdRepr {
            id_type: IdType::ID_KEY_ID,
            data: b"kid-01".to_vec(),
        }),
        Payload::IdR(IdRepr {
            id_type: IdType::ID_FQDN,
            data: b"rs.example".to_vec(),
        }),
        Payload::Cert(CertRepr {
            encoding: CertEncoding::RAW_PUBLIC_KEY,
            data: vec![0x30, 0x59, 1, 2, 3],
        }),
        Payload::CertReq(CertReqRepr {
            encoding: CertEncoding::X509_SIGNATURE,
            authorities: vec![0xaa; 20],
        }),
        Payload::Auth(AuthRepr {
            method: AuthMethod::SHARED_KEY_MIC,
            data: vec![0x55; 32],
        }),
        nonce(),
        Payload::Notify(NotifyRepr::new(
            NotifyType::INVALID_KE_PAYLOAD,
            DhGroup::ECP_256.0.to_be_bytes().to_vec(),
        )),
        Payload::Notify(NotifyRepr {
            protocol: ProtocolId::ESP,
            spi: vec![1, 2, 3, 4],
            notify_type: NotifyType::REKEY_SA,
            data: vec![],
        }),
        Payload::Notify(NotifyRepr::new(NotifyType::USE_TRANSPORT_MODE, vec![])),
        Payload::Notify(NotifyRepr::new(NotifyType::COOKIE, vec![0xc0; 32])),
        Payload::Delete(DeleteRepr::IkeSa),
        Payload::Delete(DeleteRepr::ChildSas {
            protocol: ProtocolId::ESP,
            spis: vec![0x1000_0001, 0x1000_0002],
        }),
        Payload::VendorId(VendorIdRepr {
            data: b"ace-ipsec".to_vec(),
        }),
        Payload::TsI(TsRepr {
            selectors: vec![
                TrafficSelector::host_v4(Ipv4Addr::new(10, 0, 0, 1)),
                TrafficSelector {
                    ip_protocol: 17,
                    start_port: 5683,
                    end_port: 5684,
                    range: TsRange::V6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST),
                },
            ],
        }),
        Payload::TsR(TsRepr {
            selectors: vec![TrafficSelector::any_v4()],
        }),
        Payload::Encrypted(EncryptedRepr {
            first_inner: PayloadType::IDI,
            body: vec![0xee; 40],
        }),
    ]
}

#[test]
fn every_payload_round_trips_alone_and_in_a_message() {
    for p in sample_payloads() {
        let mut body = Vec::new();
        p.emit_body(&mut body).unwrap();
        assert_eq!(body.len(), p.body_len(), "{p:?}");
        let msg = MessageRepr {
            header: header(),
            payloads: vec![p.clone()],
        };
        let bytes = msg.emit().unwrap();
        let back = MessageRepr::parse(&bytes).unwrap();
        assert_eq!(back.payloads, vec![p.clone()]);
        assert_eq!(back.emit().unwrap(), bytes);
    }
    let all = MessageRepr {
        header: header(),
        payloads: sample_payloads(),
    };
    let bytes = all.emit().unwrap();
    let back = MessageRepr::parse(&bytes).unwrap();
    assert_eq!(back.payloads, all.payloads);
}

#[test]
fn fragment_round_trip_and_numbering() {
    let f = FragmentRepr {
        first_inner: PayloadType::IDI,
        number: 1,
        total: 3,
        body: vec![0xab; 44],
    };
    let m = MessageRepr {
        header: header(),
        payloads: vec![Payload::EncryptedFragment(f.clone())],
    };
    let b = m.emit().unwrap();
    assert_eq!(MessageRepr::parse(&b).unwrap(), {
        let mut m2 = m.clone();
        m2.header.next_payload = PayloadType::SKF;
        m2.header.length = b.len() as u32;
        m2
    });
    for (n, t) in [(0u16, 3u16), (4, 3), (1, 0)] {
        let mut body = n.to_be_bytes().to_vec();
        body.extend_from_slice(&t.to_be_bytes());
        assert_eq!(
            FragmentRepr::parse(PayloadType::NONE, &body),
            Err(ParseError::BadFragmentNumber {
                number: n,
                total: t
            })
        );
    }
    let bad = FragmentRepr { number: 0, ..f };
    assert!(bad.emit_body(&mut Vec::new()).is_err());
}

// --- payload-specific malformations ----------------------------------------

#[test]
fn nonce_outside_16_to_256_octets() {
    assert_eq!(
        NonceRepr::parse(&[0; 15]),
        Err(ParseError::BadNonceLength(15))
    );
    assert_eq!(
        NonceRepr::parse(&[0; 257]),
        Err(ParseError::BadNonceLength(257))
    );
    assert!(NonceRepr::parse(&[0; 16]).is_ok());
    assert!(NonceRepr { data: vec![0; 8] }
        .emit_body(&mut Vec::new())
        .is_err());
}

fn sa_body(p: &SaRepr) -> Vec<u8> {
    let mut b = Vec::new();
    p.emit_body(&mut b).unwrap();
    b
}

fn one_proposal() -> SaRepr {
    SaRepr {
        proposals: vec![Proposal {
            number: 1,
            protocol: ProtocolId::IKE,
            spi: vec![],
            transforms: vec![
                Transform::encr(EncrId::ENCR_AES_GCM_16, Some(128)),
                Transform::prf(PrfId::PRF_HMAC_SHA2_256),
            ],
        }],
    }
}

#[test]
fn sa_structure_errors() {
    let good = sa_body(&one_proposal());
    assert_eq!(SaRepr::parse(&good).unwrap(), one_proposal());
    assert_eq!(SaRepr::parse(&[]), Err(ParseError::Empty("SA payload")));

    let mut b = good.clone();
    b[0] = 2; // says more proposals follow
    assert!(matches!(
        SaRepr::parse(&b),
        Err(ParseError::BadLastSubstruc {
            what: "Proposal",
            value: 2
        })
    ));
    let mut b = good.clone();
    b[7] = 3; // Num Transforms
    assert_eq!(
        SaRepr::parse(&b),
        Err(ParseError::TransformCountMismatch {
            announced: 3,
            found: 2
        })
    );
    let mut b = good.clone();
    b[8] = 0; // first transform claims to be last
    assert!(matches!(
        SaRepr::parse(&b),
        Err(ParseError::BadLastSubstruc {
            what: "Transform",
            ..
        })
    ));
    let mut b = good.clone();
    b[6] = 4; // SPI size 4 for IKE
    assert!(matches!(
        SaRepr::parse(&b),
        Err(ParseError::BadSpiSize {
            protocol: 1,
            spi_size: 4
        })
    ));
    let mut b = good.clone();
    b[3] = 200; // Proposal Length past the payload
    assert!(matches!(
        SaRepr::parse(&b),
        Err(ParseError::BadLength {
            what: "Proposal Length",
            ..
        })
    ));
    let mut b = good.clone();
    b[11] = 4; // Transform Length below 8
    assert!(matches!(
        SaRepr::parse(&b),
        Err(ParseError::BadLength {
            what: "Transform Length",
            ..
        })
    ));
    // Key Length in TLV format.
    let mut b = good.clone();
    b[16] = 0x00; // clear the AF bit of the first attribute
    assert!(SaRepr::parse(&b).is_err());
    let mut b = good.clone();
    b[16..20].copy_from_slice(&[0x00, 0x0e, 0x00, 0x00]);
    assert_eq!(SaRepr::parse(&b), Err(ParseError::KeyLengthNotTv));
}

#[test]
fn proposal_numbering_in_requests() {
    let mut sa = one_proposal();
    assert!(sa.check_request_numbering().is_ok());
    sa.proposals[0].number = 2;
    assert_eq!(
        sa.check_request_numbering(),
        Err(ParseError::BadProposalNumber {
            previous: 0,
            found: 2
        })
    );
}

#[test]
fn unknown_transform_attributes_are_flagged() {
    let Payload::Sa(sa) = &sample_payloads()[0] else {
        panic!()
    };
    assert!(!sa.proposals[0].transforms[0].has_unknown_attributes());
    assert!(sa.proposals[1].transforms[3].has_unknown_attributes());
}

#[test]
fn delete_payload_rules() {
    // IKE with a non-zero SPI size.
    assert_eq!(
        DeleteRepr::parse(&[1, 8, 0, 0]),
        Err(ParseError::BadSpiSize {
            protocol: 1,
            spi_size: 8
        })
    );
    // ESP with 2 SPIs announced, 1 present.
    assert!(matches!(
        DeleteRepr::parse(&[3, 4, 0, 2, 0, 0, 0, 1]),
        Err(ParseError::BadLength { .. })
    ));
    assert_eq!(
        DeleteRepr::parse(&[3, 4, 0, 1, 0, 0, 0, 9]),
        Ok(DeleteRepr::ChildSas {
            protocol: ProtocolId::ESP,
            spis: vec![9]
        })
    );
}

#[test]
fn traffic_selector_rules() {
    let ts = TsRepr {
        selectors: vec![TrafficSelector::any_v4()],
    };
    let mut b = Vec::new();
    ts.emit_body(&mut b).unwrap();
    let mut wrong_count = b.clone();
    wrong_count[0] = 2;
    assert_eq!(
        TsRepr::parse(&wrong_count),
        Err(ParseError::TsCountMismatch {
            announced: 2,
            found: 1
        })
    );
    let mut unknown = b.clone();
    unknown[4] = 10; // TS_SECLABEL (RFC 9478)
    let e = TsRepr::parse(&unknown).unwrap_err();
    assert_eq!(e, ParseError::UnsupportedTsType(10));
    assert_eq!(e.notify(), NotifyType::TS_UNACCEPTABLE);
    let mut bad_len = b.clone();
    bad_len[7] = 40; // an IPv4 selector claiming the IPv6 length
    assert!(matches!(
        TsRepr::parse(&bad_len),
        Err(ParseError::BadLength {
            what: "Selector Length",
            ..
        })
    ));
    assert!(matches!(
        TsRepr::parse(&b[..10]),
        Err(ParseError::Truncated { .. })
    ));
}

#[test]
fn truncated_fixed_parts() {
    assert!(matches!(
        KeRepr::parse(&[0, 19, 0]),
        Err(ParseError::Truncated { .. })
    ));
    assert!(matches!(
        IdRepr::parse(&[11, 0]),
        Err(ParseError::Truncated { .. })
    ));
    assert!(matches!(
        AuthRepr::parse(&[2]),
        Err(ParseError::Truncated { .. })
    ));
    assert!(matches!(
        CertRepr::parse(&[]),
        Err(ParseError::Truncated { .. })
    ));
    assert!(matches!(
        NotifyRepr::parse(&[3, 4, 0x40, 0x09, 1, 2]),
        Err(ParseError::Truncated { .. })
    ));
}

#[test]
fn emit_refuses_what_does_not_fit() {
    let huge = Payload::VendorId(VendorIdRepr {
        data: vec![0; 70_000],
    });
    assert!(matches!(
        emit_chain(&[huge], &mut Vec::new()),
        Err(EmitError::TooLong { .. })
    ));
    let bad_spi = SaRepr {
        proposals: vec![Proposal {
            number: 1,
            protocol: ProtocolId::ESP,
            spi: vec![1, 2],
            transforms: vec![Transform::esn(EsnId::NO_ESN)],
        }],
    };
    assert!(bad_spi.emit_body(&mut Vec::new()).is_err());
}

#[test]
fn names_of_wire_values() {
    assert_eq!(
        format!("{:?}", NotifyType::AUTHENTICATION_FAILED),
        "AUTHENTICATION_FAILED"
    );
    assert_eq!(format!("{:?}", NotifyType(12345)), "NotifyType(12345)");
    assert!(NotifyType::NO_PROPOSAL_CHOSEN.is_error());
    assert!(!NotifyType::NAT_DETECTION_SOURCE_IP.is_error());
    assert_eq!(EncrId::ENCR_AES_GCM_16.name(), Some("ENCR_AES_GCM_16"));
}
