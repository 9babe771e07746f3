//! Property tests: arbitrary and mutated bytes never panic any parser, and
//! every representation survives emit → parse unchanged.

use std::net::{Ipv4Addr, Ipv6Addr};

use ikev2::consts::*;
use ikev2::payload::*;
use ikev2::{HeaderRepr, MessageRepr};
use proptest::prelude::*;

const ALL_TYPES: [u8; 18] = [
    0, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 53,
];

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        any::<u16>().prop_map(Attribute::key_length),
        (1u16..0x7fff, any::<u16>()).prop_map(|(t, v)| Attribute::Tv {
            attr_type: AttributeType(t),
            value: v
        }),
        (
            (1u16..0x7fff).prop_filter("TLV key length is invalid", |t| *t != 14),
            prop::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(t, v)| Attribute::Tlv {
                attr_type: AttributeType(t),
                value: v
            }),
    ]
}

fn transform() -> impl Strategy<Value = Transform> {
    (
        1u8..=5,
        any::<u16>(),
        prop::collection::vec(attribute(), 0..3),
    )
        .prop_map(|(t, id, a)| Transform {
            transform_type: TransformType(t),
            id,
            attributes: a,
        })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (
        any::<u8>(),
        prop_oneof![
            Just((ProtocolId::IKE, 0usize)),
            Just((ProtocolId::IKE, 8)),
            Just((ProtocolId::ESP, 4)),
            Just((ProtocolId::AH, 4)),
        ],
        prop::collection::vec(transform(), 1..6),
        any::<[u8; 8]>(),
    )
        .prop_map(|(number, (protocol, spi_len), transforms, spi)| Proposal {
            number,
            protocol,
            spi: spi[..spi_len].to_vec(),
            transforms,
        })
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    (
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        prop_oneof![
            (any::<u32>(), any::<u32>())
                .prop_map(|(a, b)| TsRange::V4(Ipv4Addr::from(a), Ipv4Addr::from(b))),
            (any::<u128>(), any::<u128>())
                .prop_map(|(a, b)| TsRange::V6(Ipv6Addr::from(a), Ipv6Addr::from(b))),
        ],
    )
        .prop_map(|(p, s, e, range)| TrafficSelector {
            ip_protocol: p,
            start_port: s,
            end_port: e,
            range,
        })
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        prop::collection::vec(proposal(), 1..4)
            .prop_map(|proposals| Payload::Sa(SaRepr { proposals })),
        (any::<u16>(), bytes(80)).prop_map(|(g, data)| Payload::Ke(KeRepr {
            group: DhGroup(g),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(t, data)| Payload::IdI(IdRepr {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(t, data)| Payload::IdR(IdRepr {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(e, data)| Payload::Cert(CertRepr {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(e, a)| Payload::CertReq(CertReqRepr {
            encoding: CertEncoding(e),
            authorities: a
        })),
        (any::<u8>(), bytes(40)).prop_map(|(m, data)| Payload::Auth(AuthRepr {
            method: AuthMethod(m),
            data
        })),
        prop::collection::vec(any::<u8>(), 16..=256)
            .prop_map(|data| Payload::Nonce(NonceRepr { data })),
        (any::<u8>(), bytes(8), any::<u16>(), bytes(40)).prop_map(|(p, spi, t, data)| {
            Payload::Notify(NotifyRepr {
                protocol: ProtocolId(p),
                spi,
                notify_type: NotifyType(t),
                data,
            })
        }),
        Just(Payload::Delete(DeleteRepr::IkeSa)),
        (
            prop_oneof![Just(ProtocolId::ESP), Just(ProtocolId::AH)],
            prop::collection::vec(any::<u32>(), 0..5)
        )
            .prop_map(|(protocol, spis)| Payload::Delete(DeleteRepr::ChildSas { protocol, spis })),
        bytes(40).prop_map(|data| Payload::VendorId(VendorIdRepr { data })),
        prop::collection::vec(selector(), 0..4).prop_map(|s| Payload::TsI(TsRepr { selectors: s })),
        prop::collection::vec(selector(), 0..4).prop_map(|s| Payload::TsR(TsRepr { selectors: s })),
    ]
}

fn tail() -> impl Strategy<Value = Option<Payload>> {
    prop_oneof![
        Just(None),
        (prop::sample::select(ALL_TYPES.to_vec()), bytes(64)).prop_map(|(t, body)| Some(
            Payload::Encrypted(EncryptedRepr {
                first_inner: PayloadType(t),
                body
            })
        )),
        (1u16..10, 0u16..10, bytes(64)).prop_map(|(n, extra, body)| Some(
            Payload::EncryptedFragment(FragmentRepr {
                first_inner: if n == 1 {
                    PayloadType::IDI
                } else {
                    PayloadType::NONE
                },
                number: n,
                total: n + extra,
                body
            })
        )),
    ]
}

fn header(exchange: u8, flags: u8, message_id: u32) -> HeaderRepr {
    HeaderRepr {
        spi_i: [9; 8],
        spi_r: [7; 8],
        next_payload: PayloadType::NONE,
        exchange_type: ExchangeType(exchange),
        initiator: flags & 1 != 0,
        response: flags & 2 != 0,
        version_flag: flags & 4 != 0,
        message_id,
        length: 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(600)) {
        let _ = MessageRepr::parse(&data);
        for t in ALL_TYPES {
            let _ = parse_chain(PayloadType(t), &data);
            for critical in [false, true] {
                let raw = RawPayload {
                    payload_type: PayloadType(t),
                    critical,
                    next_payload: PayloadType::NONE,
                    body: &data,
                };
                let _ = Payload::parse(&raw);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header_never_panic(
        first in prop::sample::select(ALL_TYPES.to_vec()),
        body in bytes(600),
    ) {
        let mut m = header(34, 1, 0);
        m.next_payload = PayloadType(first);
        let mut b = Vec::new();
        m.emit(PayloadType(first), 28 + body.len(), &mut b).unwrap();
        b.extend_from_slice(&body);
        let _ = MessageRepr::parse(&b);
    }

    #[test]
    fn message_round_trip(
        payloads in prop::collection::vec(payload(), 0..6),
        tail in tail(),
        exchange in 30u8..50,
        flags in 0u8..8,
        message_id in any::<u32>(),
    ) {
        let mut payloads = payloads;
        payloads.extend(tail);
        let m = MessageRepr { header: header(exchange, flags, message_id), payloads };
        let b = m.emit().unwrap();
        prop_assert_eq!(b.len(), m.buffer_len());
        let back = MessageRepr::parse(&b).unwrap();
        prop_assert_eq!(&back.payloads, &m.payloads);
        prop_assert_eq!(back.header.message_id, message_id);
        prop_assert_eq!(back.header.flags(), m.header.flags());
        prop_assert_eq!(back.emit().unwrap(), b);
    }

    #[test]
    fn mutated_messages_never_panic(
        payloads in prop::collection::vec(payload(), 1..5),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let m = MessageRepr { header: header(35, 1, 1), payloads };
        let mut b = m.emit().unwrap();
        for (i, x) in flips {
            let i = i.index(b.len());
            b[i] ^= x;
        }
        let _ = MessageRepr::parse(&b);
        let n = cut.index(b.len() + 1);
        let _ = MessageRepr::parse(&b[..n]);
    }
}
