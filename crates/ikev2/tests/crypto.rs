//! `ikev2::crypto` against other people's bytes: the RFC 5903, RFC 7748 and
//! RFC 4754 test vectors, a live strongSwan 5.9.8 IKE_AUTH exchange
//! (AES-256-GCM-16), messages, fragments and signatures built by Python's
//! `cryptography` (tests/vectors/gen_python_sk.py); then every typed error,
//! and property tests (round trips, any mutation fails, no panics).

mod common;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use common::{hx, load};
use ikev2::consts::*;
use ikev2::crypto::*;
use ikev2::payload::*;
use ikev2::{CipherSpec, HeaderRepr, MessageRepr, ParseError, Secret};
use proptest::prelude::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

// --- D-H -------------------------------------------------------------------

#[test]
fn rfc5903_8_1_ecp256() {
    // RFC 5903 §8.1 (256-bit random ECP group): i, g^i, r, g^r, g^ir.
    let i = h("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433");
    let gi = h(concat!(
        "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180",
        "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"
    ));
    let r = h("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53");
    let gr = h(concat!(
        "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63",
        "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB"
    ));
    // RFC 5903 §7: g^ir is the x-coordinate only.
    let girx = h("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE");
    let a = DhPrivate::from_private_bytes(DhGroup::ECP_256, &i).unwrap();
    let b = DhPrivate::from_private_bytes(DhGroup::ECP_256, &r).unwrap();
    assert_eq!(a.group(), DhGroup::ECP_256);
    assert_eq!(a.public_key(), gi);
    assert_eq!(b.public_key(), gr);
    assert_eq!(a.agree(&gr).unwrap().as_bytes(), girx);
    assert_eq!(b.agree(&gi).unwrap().as_bytes(), girx);
    // &self: agreeing again (a retransmission) gives the same secret.
    assert_eq!(a.agree(&gr).unwrap().as_bytes(), girx);
    assert_eq!(
        a.ke_repr(),
        KeRepr {
            group: DhGroup::ECP_256,
            data: gi
        }
    );
}

#[test]
fn rfc7748_5_2_x25519() {
    for (k, u, out) in [
        (
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
        ),
        (
            // The high bit of u is set: it must be masked (RFC 7748 §5).
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
        ),
    ] {
        let d = DhPrivate::from_private_bytes(DhGroup::CURVE25519, &h(k)).unwrap();
        assert_eq!(d.agree(&h(u)).unwrap().as_bytes(), h(out));
    }
}

#[test]
fn rfc7748_6_1_x25519_exchange() {
    let a = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let b = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let a = DhPrivate::from_private_bytes(DhGroup::CURVE25519, &a).unwrap();
    let b = DhPrivate::from_private_bytes(DhGroup::CURVE25519, &b).unwrap();
    assert_eq!(
        a.public_key(),
        h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        b.public_key(),
        h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    let k = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(a.agree(b.public_key()).unwrap().as_bytes(), k);
    assert_eq!(b.agree(a.public_key()).unwrap().as_bytes(), k);
}

#[test]
fn x25519_small_order_points_are_refused() {
    // RFC 8031 §2.3: points of small order give an all-zero secret (0, 1,
    // two points of order 8, and p = 2^255 - 19 which reduces to 0; Python's
    // cryptography refuses the same five).
    let d = DhPrivate::generate(DhGroup::CURVE25519).unwrap();
    for u in [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ] {
        assert_eq!(
            d.agree(&h(u)).unwrap_err(),
            CryptoError::ZeroSharedSecret,
            "{u}"
        );
    }
}

#[test]
fn p256_points_off_the_curve_are_refused() {
    let d = DhPrivate::generate(DhGroup::ECP_256).unwrap();
    let other = DhPrivate::generate(DhGroup::ECP_256).unwrap();
    let mut bad = other.public_key().to_vec();
    bad[63] ^= 1; // y + 1 (or - 1): not on the curve
    assert_eq!(
        d.agree(&bad).unwrap_err(),
        CryptoError::InvalidPeerPublicValue(DhGroup::ECP_256)
    );
    assert_eq!(
        d.agree(&[0u8; 64]).unwrap_err(),
        CryptoError::InvalidPeerPublicValue(DhGroup::ECP_256)
    );
    // x = p (not reduced).
    let mut p = h("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
    p.extend_from_slice(&other.public_key()[32..]);
    assert_eq!(
        d.agree(&p).unwrap_err(),
        CryptoError::InvalidPeerPublicValue(DhGroup::ECP_256)
    );
    // Both sides of a generated pair agree.
    assert_eq!(
        d.agree(other.public_key()).unwrap().as_bytes(),
        other.agree(d.public_key()).unwrap().as_bytes()
    );
}

#[test]
fn ke_data_lengths_are_checked() {
    assert_eq!(ke_data_len(DhGroup::ECP_256), Some(64));
    assert_eq!(ke_data_len(DhGroup::CURVE25519), Some(32));
    assert_eq!(ke_data_len(DhGroup::MODP_2048), None);
    for (group, good) in [(DhGroup::ECP_256, 64), (DhGroup::CURVE25519, 32)] {
        let d = DhPrivate::generate(group).unwrap();
        assert_eq!(d.public_key().len(), good);
        for got in [0, 1, good - 1, good + 1, 65, 97] {
            assert_eq!(
                d.agree(&vec![7u8; got]).unwrap_err(),
                CryptoError::KeDataLength {
                    group,
                    expected: good,
                    got
                }
            );
        }
    }
}

#[test]
fn unsupported_groups_and_bad_private_values() {
    for g in [
        DhGroup::MODP_2048,
        DhGroup::ECP_384,
        DhGroup::CURVE448,
        DhGroup(0),
    ] {
        assert_eq!(
            DhPrivate::generate(g).unwrap_err(),
            CryptoError::UnsupportedDhGroup(g)
        );
        assert_eq!(
            DhPrivate::from_private_bytes(g, &[1; 32]).unwrap_err(),
            CryptoError::UnsupportedDhGroup(g)
        );
    }
    let n = h("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    for d in [vec![0u8; 32], n, vec![1u8; 31], vec![1u8; 33]] {
        assert!(matches!(
            DhPrivate::from_private_bytes(DhGroup::ECP_256, &d),
            Err(CryptoError::InvalidPrivateKey(_))
        ));
    }
    assert!(matches!(
        DhPrivate::from_private_bytes(DhGroup::CURVE25519, &[1u8; 31]),
        Err(CryptoError::InvalidPrivateKey(_))
    ));
}

#[test]
fn dh_debug_is_redacted() {
    let i = h("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433");
    let d = DhPrivate::from_private_bytes(DhGroup::ECP_256, &i).unwrap();
    let s = format!("{d:?}");
    assert!(s.contains("redacted") && s.contains("ECP_256"), "{s}");
    assert!(!s.to_lowercase().contains("c88f01f5"), "{s}");
}

// --- SK: strongSwan ----------------------------------------------------------

fn gcm256() -> CipherSpec {
    CipherSpec::new(EncrId::ENCR_AES_GCM_16, Some(256), IntegId::NONE).unwrap()
}

fn crypter(spec: &CipherSpec, e: &[u8], a: &[u8]) -> SkCrypter {
    SkCrypter::new(spec, &Secret::from_slice(e), &Secret::from_slice(a)).unwrap()
}

fn auth_of(payloads: &[Payload]) -> &AuthRepr {
    payloads
        .iter()
        .find_map(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        })
        .expect("an AUTH payload")
}

#[test]
fn strongswan_ike_auth_messages_open() {
    let v = load("strongswan_psk_exchange.json");
    let req = hx(&v["ike_auth_request"]);
    let resp = hx(&v["ike_auth_response"]);
    let i_out = crypter(&gcm256(), &hx(&v["sk_ei"]), &[]);
    let r_out = crypter(&gcm256(), &hx(&v["sk_er"]), &[]);

    let inner = i_out.open_message(&req).unwrap();
    assert_eq!(
        inner.first().map(Payload::payload_type),
        Some(PayloadType::IDI)
    );
    let Payload::IdI(id) = &inner[0] else {
        panic!()
    };
    assert_eq!(
        (id.id_type, id.data.as_slice()),
        (IdType::ID_KEY_ID, &b"kid-01"[..])
    );
    let auth = auth_of(&inner);
    assert_eq!(auth.method, AuthMethod::SHARED_KEY_MIC);
    assert_eq!(auth.data, hx(&v["initiator_auth"]));
    assert!(inner.iter().any(|p| matches!(p, Payload::Sa(_))));

    let inner_r = r_out.open_message(&resp).unwrap();
    assert_eq!(auth_of(&inner_r).data, hx(&v["responder_auth"]));
    assert!(inner_r.iter().any(|p| matches!(
        p,
        Payload::Notify(n) if n.notify_type == NotifyType::NO_PROPOSAL_CHOSEN
    )));

    // The other direction's key does not open them.
    assert_eq!(
        r_out.open_message(&req),
        Err(CryptoError::IntegrityCheckFailed)
    );
    assert_eq!(
        i_out.open_message(&resp),
        Err(CryptoError::IntegrityCheckFailed)
    );
}

#[test]
fn strongswan_ike_auth_reseals_and_round_trips() {
    let v = load("strongswan_psk_exchange.json");
    for (name, key) in [
        ("ike_auth_request", "sk_ei"),
        ("ike_auth_response", "sk_er"),
    ] {
        let captured = hx(&v[name]);
        let mut c = crypter(&gcm256(), &hx(&v[key]), &[]);
        let inner = c.open_message(&captured).unwrap();
        let header = HeaderRepr::parse(&captured).unwrap();
        let sealed = c.seal_message(&header, &inner).unwrap();
        // Same length (GCM: no padding beyond Pad Length), same header, a
        // new IV, and it opens to the same payloads.
        assert_eq!(sealed.len(), captured.len(), "{name}");
        assert_eq!(sealed[..32], captured[..32], "{name}");
        assert_eq!(c.open_message(&sealed).unwrap(), inner, "{name}");
        let m = MessageRepr::parse(&sealed).unwrap();
        assert_eq!(m.header, header);
    }
}

// --- SK: Python ----------------------------------------------------------------

fn cbc(bits: u16) -> CipherSpec {
    CipherSpec::new(
        EncrId::ENCR_AES_CBC,
        Some(bits),
        IntegId::AUTH_HMAC_SHA2_256_128,
    )
    .unwrap()
}

fn gcm(bits: u16) -> CipherSpec {
    CipherSpec::new(EncrId::ENCR_AES_GCM_16, Some(bits), IntegId::NONE).unwrap()
}

fn chain_bytes(payloads: &[Payload]) -> Vec<u8> {
    let mut out = Vec::new();
    emit_chain(payloads, &mut out).unwrap();
    out
}

#[test]
fn python_cbc_messages_open_and_round_trip() {
    let v = load("python_ikev2_sk.json");
    for (name, bits) in [
        ("cbc128", 128),
        ("cbc256", 256),
        ("cbc128_long_padding", 128),
    ] {
        let t = &v[name];
        let message = hx(&t["message"]);
        let mut c = crypter(&cbc(bits), &hx(&t["sk_e"]), &hx(&t["sk_a"]));
        let inner = c.open_message(&message).unwrap();
        assert_eq!(chain_bytes(&inner), hx(&t["inner_chain"]), "{name}");
        assert_eq!(
            inner[0].payload_type(),
            PayloadType(t["first_inner"].as_u64().unwrap() as u8)
        );
        let header = HeaderRepr::parse(&message).unwrap();
        let sealed = c.seal_message(&header, &inner).unwrap();
        assert_eq!(c.open_message(&sealed).unwrap(), inner, "{name}");
        // A fresh random IV each time.
        let again = c.seal_message(&header, &inner).unwrap();
        assert_ne!(sealed[32..48], again[32..48]);
    }
}

#[test]
fn python_gcm_message_with_an_unprotected_payload_before_sk() {
    let v = load("python_ikev2_sk.json");
    let t = &v["gcm128_outer_payload"];
    let message = hx(&t["message"]);
    let c = crypter(&gcm(128), &hx(&t["sk_e"]), &[]);
    let all = c.open_message(&message).unwrap();
    assert_eq!(
        all[0],
        Payload::VendorId(VendorIdRepr {
            data: hx(&t["outer_vendor_id"])
        })
    );
    assert_eq!(chain_bytes(&all[1..]), hx(&t["inner_chain"]));
    // The AAD covers the payload before SK (RFC 5282 §5.1).
    let mut tampered = message.clone();
    tampered[28 + 4] ^= 0x20;
    assert_eq!(
        c.open_message(&tampered),
        Err(CryptoError::IntegrityCheckFailed)
    );
}

#[test]
fn python_fragments_open_and_reassemble() {
    let v = load("python_ikev2_sk.json");
    for (name, spec, a) in [
        ("skf_gcm256", gcm(256), vec![]),
        ("skf_cbc128", cbc(128), hx(&v["skf_cbc128"]["sk_a"])),
    ] {
        let t = &v[name];
        let c = crypter(&spec, &hx(&t["sk_e"]), &a);
        let frags: Vec<OpenedFragment> = t["fragments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| c.open_fragment(&hx(f)).unwrap())
            .collect();
        let total = frags.len() as u16;
        for (i, f) in frags.iter().enumerate() {
            assert_eq!((f.number, f.total), (i as u16 + 1, total));
        }
        assert_eq!(frags[0].first_inner, PayloadType::IDI);
        assert_eq!(frags[1].first_inner, PayloadType::NONE);
        // Out of order, with a duplicate.
        let mut r = Reassembler::new(16, 64 * 1024);
        assert_eq!(r.add(frags[3].clone()), Ok(None));
        assert_eq!(r.add(frags[1].clone()), Ok(None));
        assert_eq!(r.add(frags[1].clone()), Ok(None));
        assert_eq!(r.add(frags[0].clone()), Ok(None));
        assert_eq!(r.received(), 3);
        let payloads = r.add(frags[2].clone()).unwrap().expect("complete");
        assert_eq!(chain_bytes(&payloads), hx(&t["inner_chain"]), "{name}");
        assert_eq!(r.received(), 0);
        // A fragment is not a message, and vice versa.
        let f0 = hx(&t["fragments"][0]);
        assert_eq!(
            c.open_message(&f0),
            Err(CryptoError::NotEncrypted {
                expected: PayloadType::SK
            })
        );
    }
}

// --- SK: our own fragments and the Reassembler ----------------------------------

fn header(message_id: u32) -> HeaderRepr {
    HeaderRepr {
        spi_i: [1, 2, 3, 4, 5, 6, 7, 8],
        spi_r: [8, 7, 6, 5, 4, 3, 2, 1],
        next_payload: PayloadType::NONE,
        exchange_type: ExchangeType::IKE_AUTH,
        initiator: true,
        response: false,
        version_flag: false,
        message_id,
        length: 0,
    }
}

fn big_inner() -> Vec<Payload> {
    vec![
        Payload::IdI(IdRepr {
            id_type: IdType::ID_KEY_ID,
            data: b"kid-01".to_vec(),
        }),
        Payload::Cert(CertRepr {
            encoding: CertEncoding::RAW_PUBLIC_KEY,
            data: vec![0x30; 91],
        }),
        Payload::VendorId(VendorIdRepr {
            data: (0..3000u32).map(|i| i as u8).collect(),
        }),
        Payload::Auth(AuthRepr {
            method: AuthMethod::DIGITAL_SIGNATURE,
            data: vec![9; 85],
        }),
    ]
}

fn suites() -> Vec<(CipherSpec, Vec<u8>, Vec<u8>)> {
    vec![
        (gcm(128), vec![1; 20], vec![]),
        (gcm(256), vec![2; 36], vec![]),
        (cbc(128), vec![3; 16], vec![4; 32]),
        (cbc(256), vec![5; 32], vec![6; 32]),
    ]
}

#[test]
fn own_fragments_fit_and_reassemble() {
    for (spec, e, a) in suites() {
        let mut c = crypter(&spec, &e, &a);
        for max in [576, 1280, 1500] {
            let frags = c.seal_fragments(&header(1), &big_inner(), max).unwrap();
            assert!(frags.len() > 1);
            let mut r = Reassembler::new(64, 1 << 20);
            let mut out = None;
            for (i, f) in frags.iter().enumerate().rev() {
                assert!(f.len() <= max, "{} > {max}", f.len());
                let m = MessageRepr::parse(f).unwrap();
                assert_eq!(m.header.message_id, 1);
                assert_eq!(m.header.next_payload, PayloadType::SKF);
                let o = c.open_fragment(f).unwrap();
                assert_eq!(o.number as usize, i + 1);
                out = r.add(o).unwrap();
            }
            assert_eq!(out.unwrap(), big_inner());
        }
        // All but the last fragment fill the datagram as far as whole
        // cipher blocks allow (exactly for GCM).
        let frags = c.seal_fragments(&header(1), &big_inner(), 1000).unwrap();
        let full = if spec.is_aead() {
            1000
        } else {
            1000 - (1000 - 68) % 16
        };
        assert!(frags[..frags.len() - 1].iter().all(|f| f.len() == full));
        // One fragment when it fits; an empty chain is one fragment too.
        assert_eq!(c.seal_fragments(&header(1), &[], 1000).unwrap().len(), 1);
        let one = c
            .seal_fragments(&header(1), &big_inner()[..1], 1000)
            .unwrap();
        let mut r = Reassembler::new(1, 100);
        assert_eq!(
            r.add(c.open_fragment(&one[0]).unwrap()).unwrap(),
            Some(big_inner()[..1].to_vec())
        );
    }
}

#[test]
fn fragment_size_limits() {
    for (spec, e, a) in suites() {
        let mut c = crypter(&spec, &e, &a);
        let Err(CryptoError::DatagramTooSmall { min, .. }) =
            c.seal_fragments(&header(1), &big_inner(), 40)
        else {
            panic!("40 octets cannot carry a fragment")
        };
        assert_eq!(
            c.seal_fragments(&header(1), &big_inner(), min - 1),
            Err(CryptoError::DatagramTooSmall { max: min - 1, min })
        );
        // The smallest size works, one content octet per fragment (GCM) or
        // 15 (CBC).
        let frags = c
            .seal_fragments(&header(1), &big_inner()[..1], min)
            .unwrap();
        assert!(frags.iter().all(|f| f.len() == min));
        assert_eq!(
            c.overhead() + 4,
            c.fragment_overhead(),
            "SKF adds Fragment Number and Total Fragments"
        );
    }
    // More than 65 535 fragments cannot be numbered.
    let mut c = crypter(&gcm(128), &[1; 20], &[]);
    let huge = vec![
        Payload::VendorId(VendorIdRepr {
            data: vec![0; 60_000],
        });
        2
    ];
    let min = 28 + 4 + 4 + 8 + 16 + 2;
    assert!(matches!(
        c.seal_fragments(&header(1), &huge, min),
        Err(CryptoError::TooManyFragments { max: 65535, .. })
    ));
}

fn frag(number: u16, total: u16, data: &[u8]) -> OpenedFragment {
    OpenedFragment {
        number,
        total,
        first_inner: if number == 1 {
            PayloadType::VENDOR_ID
        } else {
            PayloadType::NONE
        },
        plaintext: data.to_vec(),
    }
}

#[test]
fn reassembler_rules() {
    let vid = chain_bytes(&[Payload::VendorId(VendorIdRepr {
        data: b"0123456789".to_vec(),
    })]);
    let (a, b) = vid.split_at(5);
    // RFC 7383 §2.6: a larger Total Fragments restarts reassembly, a
    // smaller one is ignored.
    let mut r = Reassembler::new(8, 1000);
    assert_eq!(r.add(frag(1, 3, b"stale")), Ok(None));
    assert_eq!(r.add(frag(2, 2, a)), Ok(None)); // smaller total: ignored
    assert_eq!((r.received(), r.total()), (1, 3));
    assert_eq!(r.add(frag(2, 4, b"x")), Ok(None)); // larger: restart
    assert_eq!((r.received(), r.total()), (1, 4));
    let mut r = Reassembler::new(8, 1000);
    assert_eq!(r.add(frag(2, 2, b)), Ok(None));
    let got = r.add(frag(1, 2, a)).unwrap().unwrap();
    assert_eq!(chain_bytes(&got), vid);
    // Bounds.
    let mut r = Reassembler::new(4, 12);
    assert_eq!(
        r.add(frag(1, 5, a)),
        Err(CryptoError::TooManyFragments { total: 5, max: 4 })
    );
    assert_eq!(r.add(frag(1, 2, &[0; 8])), Ok(None));
    assert_eq!(
        r.add(frag(2, 2, &[0; 8])),
        Err(CryptoError::ReassemblyTooLarge { bytes: 16, max: 12 })
    );
    assert_eq!(r.received(), 0, "dropped after the size error");
    for (n, t) in [(0, 2), (3, 2), (1, 0)] {
        assert_eq!(
            r.add(frag(n, t, a)),
            Err(CryptoError::BadFragmentNumber {
                number: n,
                total: t
            })
        );
    }
    // Complete but malformed content: an authenticated error.
    let mut r = Reassembler::new(4, 100);
    let e = r.add(frag(1, 1, &[0, 0, 0, 9])).unwrap_err();
    assert!(matches!(e, CryptoError::InnerMalformed(_)), "{e:?}");
    assert_eq!(e.notify(), Some(NotifyType::INVALID_SYNTAX));
}

// --- SK: typed errors -------------------------------------------------------------

#[test]
fn unsupported_ciphers_and_key_lengths() {
    for spec in [
        CipherSpec::new(EncrId::ENCR_AES_CCM_8, Some(128), IntegId::NONE).unwrap(),
        CipherSpec::new(EncrId::ENCR_CHACHA20_POLY1305, None, IntegId::NONE).unwrap(),
        CipherSpec::new(EncrId::ENCR_AES_GCM_16, Some(192), IntegId::NONE).unwrap(),
        CipherSpec::new(
            EncrId::ENCR_AES_CBC,
            Some(192),
            IntegId::AUTH_HMAC_SHA2_256_128,
        )
        .unwrap(),
        CipherSpec::new(EncrId::ENCR_NULL, None, IntegId::AUTH_HMAC_SHA2_256_128).unwrap(),
        CipherSpec::ah(IntegId::AUTH_HMAC_SHA2_256_128).unwrap(),
    ] {
        let e = vec![0; spec.encr_keymat_len()];
        let a = vec![0; spec.integ_key_len];
        assert!(matches!(
            SkCrypter::new(&spec, &Secret::new(e), &Secret::new(a)),
            Err(CryptoError::UnsupportedCipher { .. })
        ));
    }
    assert_eq!(
        SkCrypter::new(&gcm(256), &Secret::new(vec![0; 32]), &Secret::default()).unwrap_err(),
        CryptoError::KeyLength {
            what: "SK_e (key | salt)",
            expected: 36,
            got: 32
        }
    );
    assert_eq!(
        SkCrypter::new(&gcm(128), &Secret::new(vec![0; 20]), &Secret::new(vec![1])).unwrap_err(),
        CryptoError::KeyLength {
            what: "SK_a",
            expected: 0,
            got: 1
        }
    );
    assert_eq!(
        SkCrypter::new(
            &cbc(128),
            &Secret::new(vec![0; 16]),
            &Secret::new(vec![0; 16])
        )
        .unwrap_err(),
        CryptoError::KeyLength {
            what: "SK_a",
            expected: 32,
            got: 16
        }
    );
}

#[test]
fn not_encrypted_and_malformed_outer_structure() {
    let v = load("strongswan_psk_exchange.json");
    let c = crypter(&gcm256(), &hx(&v["sk_ei"]), &[]);
    let init = hx(&v["ike_sa_init_request"]);
    assert_eq!(
        c.open_message(&init),
        Err(CryptoError::NotEncrypted {
            expected: PayloadType::SK
        })
    );
    assert_eq!(
        c.open_fragment(&init),
        Err(CryptoError::NotEncrypted {
            expected: PayloadType::SKF
        })
    );
    let req = hx(&v["ike_auth_request"]);
    assert!(matches!(
        c.open_message(&req[..20]),
        Err(CryptoError::Malformed(ParseError::Truncated { .. }))
    ));
    assert!(matches!(
        c.open_message(&req[..req.len() - 1]),
        Err(CryptoError::Malformed(ParseError::BadLength { .. }))
    ));
    // An SK payload too short for IV and ICV, with consistent lengths.
    let mut short = req[..28 + 4 + 10].to_vec();
    short[24..28].copy_from_slice(&42u32.to_be_bytes());
    short[30..32].copy_from_slice(&14u16.to_be_bytes());
    assert_eq!(
        c.open_message(&short),
        Err(CryptoError::Malformed(ParseError::EncryptedTooShort {
            body: 10,
            iv: 8,
            icv: 16
        }))
    );
}

#[test]
fn cbc_ciphertext_must_be_whole_blocks() {
    let v = load("python_ikev2_sk.json");
    let t = &v["cbc128"];
    let c = crypter(&cbc(128), &hx(&t["sk_e"]), &hx(&t["sk_a"]));
    let mut m = hx(&t["message"]);
    // Drop one ciphertext octet and fix both lengths.
    let at = m.len() - 17;
    m.remove(at);
    let len = m.len() as u32;
    m[24..28].copy_from_slice(&len.to_be_bytes());
    m[30..32].copy_from_slice(&((len - 28) as u16).to_be_bytes());
    assert!(matches!(
        c.open_message(&m),
        Err(CryptoError::CiphertextLength { block: 16, .. })
    ));
}

/// A message built here with aws-lc directly (not through SkCrypter), so
/// that authenticated contents can be anything.
fn gcm128_message(keymat: &[u8], plaintext: &[u8], first_inner: u8) -> Vec<u8> {
    let payload_len = 4 + 8 + plaintext.len() + 16;
    let mut m = Vec::new();
    header(5)
        .emit(PayloadType::SK, 28 + payload_len, &mut m)
        .unwrap();
    m.extend_from_slice(&[first_inner, 0]);
    m.extend_from_slice(&(payload_len as u16).to_be_bytes());
    let iv = [0, 0, 0, 0, 0, 0, 0, 42];
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&keymat[16..]);
    nonce[4..].copy_from_slice(&iv);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &keymat[..16]).unwrap());
    let mut ct = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(m.clone()),
            &mut ct,
        )
        .unwrap();
    m.extend_from_slice(&iv);
    m.extend_from_slice(&ct);
    m.extend_from_slice(tag.as_ref());
    m
}

#[test]
fn authenticated_but_bad_padding_or_payloads() {
    let keymat = [7u8; 20];
    let c = crypter(&gcm(128), &keymat, &[]);
    // Pad Length 5 with only one octet before it.
    let m = gcm128_message(&keymat, &[0xaa, 5], 0);
    let e = c.open_message(&m).unwrap_err();
    assert_eq!(
        e,
        CryptoError::BadPadding {
            pad_len: 5,
            plaintext_len: 2
        }
    );
    assert_eq!(e.notify(), Some(NotifyType::INVALID_SYNTAX));
    // Pad Length may be anything that fits (RFC 7296 §3.14).
    let m = gcm128_message(&keymat, &[1, 2, 3, 3], 0);
    assert_eq!(c.open_message(&m), Ok(vec![]));
    // A payload whose length runs past the decrypted data.
    let m = gcm128_message(&keymat, &[0, 0, 0, 40, 0, 0, 0, 0, 0], 43);
    let e = c.open_message(&m).unwrap_err();
    assert!(
        matches!(e, CryptoError::InnerMalformed(ParseError::BadLength { .. })),
        "{e:?}"
    );
    // An unknown critical inner payload.
    let m = gcm128_message(&keymat, &[0, 0x80, 0, 4, 0], 200);
    let e = c.open_message(&m).unwrap_err();
    assert_eq!(
        e,
        CryptoError::InnerMalformed(ParseError::UnsupportedCriticalPayload(PayloadType(200)))
    );
    assert_eq!(e.notify(), Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD));
    // Errors before authentication are dropped silently.
    assert_eq!(CryptoError::IntegrityCheckFailed.notify(), None);
}

#[test]
fn gcm_explicit_ivs_count_up() {
    let mut c = crypter(&gcm(128), &[1; 20], &[]);
    let inner = big_inner()[..1].to_vec();
    let ivs: Vec<u64> = (0..4)
        .map(|_| {
            let m = c.seal_message(&header(2), &inner).unwrap();
            u64::from_be_bytes(m[32..40].try_into().unwrap())
        })
        .collect();
    for w in ivs.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1));
    }
    // Another crypter for the same key starts elsewhere.
    let mut d = crypter(&gcm(128), &[1; 20], &[]);
    let m = d.seal_message(&header(2), &inner).unwrap();
    assert!(!ivs.contains(&u64::from_be_bytes(m[32..40].try_into().unwrap())));
}

#[test]
fn nested_encrypted_payloads_are_refused() {
    let mut c = crypter(&gcm(128), &[1; 20], &[]);
    let inner = vec![Payload::Encrypted(EncryptedRepr {
        first_inner: PayloadType::NONE,
        body: vec![0; 30],
    })];
    assert!(matches!(
        c.seal_message(&header(1), &inner),
        Err(CryptoError::Emit(_))
    ));
}

#[test]
fn crypter_debug_shows_no_key() {
    let c = crypter(&gcm(128), &[0xab; 20], &[]);
    let s = format!("{c:?}");
    assert!(s.contains("ENCR_AES_GCM_16") && !s.contains("ab, ab") && !s.contains("abab"));
}

// --- Signatures -----------------------------------------------------------------

const RFC4754_W: &str = "DC51D3866A15BACDE33D96F992FCA99DA7E6EF0934E7097559C27F1614C88A7F";
const RFC4754_GWX: &str = "2442A5CC0ECD015FA3CA31DC8E2BBC70BF42D60CBCA20085E0822CB04235E970";
const RFC4754_GWY: &str = "6FC98BD7E50211A4A27102FA3549DF79EBCB4BF246B80945CDDFE7D509BBFD7D";
const RFC4754_R: &str = "CB28E0999B9C7715FD0A80D8E47A77079716CBBF917DD72E97566EA1C066957C";
const RFC4754_S: &str = "86FA3BB4E26CAD5BF90B7F81899256CE7594BB1EA0C89212748BFF3B3D5B0315";

#[test]
fn rfc4754_8_1_signature_verifies() {
    // RFC 4754 §8.1: ECDSA-256 over the message "abc".
    let key = P256PublicKey::from_xy(&h(RFC4754_GWX), &h(RFC4754_GWY)).unwrap();
    let w: [u8; 32] = h(RFC4754_W).try_into().unwrap();
    assert_eq!(
        P256SigningKey::from_private_scalar(&w)
            .unwrap()
            .public_key(),
        key
    );
    let rs = [h(RFC4754_R), h(RFC4754_S)].concat();
    assert_eq!(
        verify_auth(AuthMethod::ECDSA_SHA256_P256, &key, b"abc", &rs),
        Ok(())
    );
    assert_eq!(
        verify_auth(AuthMethod::ECDSA_SHA256_P256, &key, b"abd", &rs),
        Err(CryptoError::SignatureInvalid)
    );
    // The same signature as RFC 7427 AUTH data: length, ecdsa-with-SHA256,
    // DER Ecdsa-Sig-Value (r and s have their high bit set: 0x00 prefix).
    let der = [h("3046022100"), h(RFC4754_R), h("022100"), h(RFC4754_S)].concat();
    let auth14 = [h("0c300a06082a8648ce3d040302"), der].concat();
    assert_eq!(
        verify_auth(AuthMethod::DIGITAL_SIGNATURE, &key, b"abc", &auth14),
        Ok(())
    );
    assert_eq!(
        verify_auth(AuthMethod::DIGITAL_SIGNATURE, &key, b"abd", &auth14),
        Err(CryptoError::SignatureInvalid)
    );
}

#[test]
fn python_signatures_and_raw_key() {
    let v = load("python_ikev2_sk.json");
    let t = &v["ecdsa"];
    let d: [u8; 32] = hx(&t["d"]).try_into().unwrap();
    let sk = P256SigningKey::from_private_scalar(&d).unwrap();
    let pk = sk.public_key();
    let xy = [hx(&t["x"]), hx(&t["y"])].concat();
    assert_eq!(pk.to_xy().to_vec(), xy);
    // RFC 7670 CERT encoding 15: byte for byte Python's SubjectPublicKeyInfo.
    assert_eq!(pk.spki_der(), hx(&t["spki_der"]));
    assert_eq!(
        P256PublicKey::from_spki_der(&hx(&t["spki_der"])).unwrap(),
        pk
    );
    let signed = hx(&t["signed_octets"]);
    assert_eq!(
        signed,
        hx(&load("strongswan_psk_exchange.json")["initiator_signed_octets"])
    );
    assert_eq!(
        verify_auth(
            AuthMethod::ECDSA_SHA256_P256,
            &pk,
            &signed,
            &hx(&t["auth_method_9"])
        ),
        Ok(())
    );
    assert_eq!(
        verify_auth(
            AuthMethod::DIGITAL_SIGNATURE,
            &pk,
            &signed,
            &hx(&t["auth_method_14"])
        ),
        Ok(())
    );
    // Ours verify with the same key, and have the shape of the RFCs.
    let s9 = sign_auth(AuthMethod::ECDSA_SHA256_P256, &sk, &signed).unwrap();
    assert_eq!(s9.len(), 64);
    assert_eq!(
        verify_auth(AuthMethod::ECDSA_SHA256_P256, &pk, &signed, &s9),
        Ok(())
    );
    let s14 = sign_auth(AuthMethod::DIGITAL_SIGNATURE, &sk, &signed).unwrap();
    assert_eq!(s14[..13], h("0c300a06082a8648ce3d040302"));
    assert_eq!(s14[13], 0x30, "DER SEQUENCE");
    assert_eq!(
        verify_auth(AuthMethod::DIGITAL_SIGNATURE, &pk, &signed, &s14),
        Ok(())
    );
    let s = format!("{sk:?}");
    assert!(s.contains("redacted") && !s.contains(&t["d"].as_str().unwrap()[..16]));
}

#[test]
fn signature_errors_are_typed() {
    let sk = P256SigningKey::generate().unwrap();
    let pk = sk.public_key();
    let other = P256SigningKey::generate().unwrap().public_key();
    let msg = b"signed octets";
    let s9 = sign_auth(AuthMethod::ECDSA_SHA256_P256, &sk, msg).unwrap();
    let s14 = sign_auth(AuthMethod::DIGITAL_SIGNATURE, &sk, msg).unwrap();
    assert_eq!(
        verify_auth(AuthMethod::ECDSA_SHA256_P256, &other, msg, &s9),
        Err(CryptoError::SignatureInvalid)
    );
    assert_eq!(
        verify_auth(AuthMethod::DIGITAL_SIGNATURE, &other, msg, &s14),
        Err(CryptoError::SignatureInvalid)
    );
    assert_eq!(
        verify_auth(AuthMethod::ECDSA_SHA256_P256, &pk, msg, &s9[..63]),
        Err(CryptoError::SignatureLength {
            expected: 64,
            got: 63
        })
    );
    // Method 9 data under method 14: its first octet, read as the length
    // of the AlgorithmIdentifier, either runs past the data or frames
    // octets that are not ecdsa-with-SHA256.
    let e = verify_auth(AuthMethod::DIGITAL_SIGNATURE, &pk, msg, &s9).unwrap_err();
    let expected = if usize::from(s9[0]) > 63 {
        CryptoError::MalformedSignatureAuth
    } else {
        CryptoError::SignatureAlgorithmMismatch
    };
    assert_eq!(e, expected);
    assert!(matches!(
        verify_auth(AuthMethod::ECDSA_SHA256_P256, &pk, msg, &s14),
        Err(CryptoError::SignatureLength { .. }) | Err(CryptoError::SignatureInvalid)
    ));
    // Other AlgorithmIdentifiers: with NULL parameters, ecdsa-with-SHA384,
    // sha256WithRSAEncryption.
    let der = &s14[13..];
    for alg in [
        "0c300c06082a8648ce3d0403020500",
        "0c300a06082a8648ce3d040303",
        "0f300d06092a864886f70d01010b0500",
    ] {
        let mut data = h(alg);
        data[0] = (data.len() - 1) as u8;
        data.extend_from_slice(der);
        assert_eq!(
            verify_auth(AuthMethod::DIGITAL_SIGNATURE, &pk, msg, &data),
            Err(CryptoError::SignatureAlgorithmMismatch),
            "{alg}"
        );
    }
    for data in [vec![], vec![12], h("0d300a06082a8648ce3d040302")] {
        assert_eq!(
            verify_auth(AuthMethod::DIGITAL_SIGNATURE, &pk, msg, &data),
            Err(CryptoError::MalformedSignatureAuth)
        );
    }
    // A non-DER signature (the fixed form behind a correct AlgorithmIdentifier).
    let fixed_as_14 = [h("0c300a06082a8648ce3d040302"), s9.clone()].concat();
    assert_eq!(
        verify_auth(AuthMethod::DIGITAL_SIGNATURE, &pk, msg, &fixed_as_14),
        Err(CryptoError::SignatureInvalid)
    );
    for m in [
        AuthMethod::SHARED_KEY_MIC,
        AuthMethod::RSA_DIGITAL_SIGNATURE,
        AuthMethod::ECDSA_SHA384_P384,
    ] {
        assert_eq!(
            sign_auth(m, &sk, msg),
            Err(CryptoError::UnsupportedAuthMethod(m))
        );
        assert_eq!(
            verify_auth(m, &pk, msg, &s9),
            Err(CryptoError::UnsupportedAuthMethod(m))
        );
    }
}

#[test]
fn public_key_encodings() {
    let pk = P256SigningKey::generate().unwrap().public_key();
    let xy = pk.to_xy();
    assert_eq!(P256PublicKey::from_xy(&xy[..32], &xy[32..]).unwrap(), pk);
    let sec1 = pk.to_sec1_uncompressed();
    assert_eq!(sec1[0], 4);
    assert_eq!(P256PublicKey::from_sec1_uncompressed(&sec1).unwrap(), pk);
    let spki = pk.spki_der();
    assert_eq!(spki.len(), 91);
    assert_eq!(P256PublicKey::from_spki_der(&spki).unwrap(), pk);
    // Off the curve, wrong sizes, compressed points, other SPKIs.
    let mut off = xy;
    off[63] ^= 1;
    assert!(matches!(
        P256PublicKey::from_xy(&off[..32], &off[32..]),
        Err(CryptoError::InvalidPublicKey(_))
    ));
    let mut off_spki = spki.clone();
    off_spki[90] ^= 1;
    assert!(P256PublicKey::from_spki_der(&off_spki).is_err());
    assert!(P256PublicKey::from_xy(&xy[..31], &xy[32..]).is_err());
    assert!(P256PublicKey::from_sec1_uncompressed(&sec1[..64]).is_err());
    let mut compressed = sec1.to_vec();
    compressed[0] = 2;
    assert!(P256PublicKey::from_sec1_uncompressed(&compressed).is_err());
    assert!(P256PublicKey::from_spki_der(&spki[..90]).is_err());
    assert!(P256PublicKey::from_spki_der(&[spki.clone(), vec![0]].concat()).is_err());
    let mut p384 = spki.clone();
    p384[20] = 0x22; // another curve OID
    assert!(P256PublicKey::from_spki_der(&p384).is_err());
    // A private scalar of zero or n is refused.
    assert!(matches!(
        P256SigningKey::from_private_scalar(&[0; 32]),
        Err(CryptoError::InvalidPrivateKey(_))
    ));
    let n: [u8; 32] = h("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
        .try_into()
        .unwrap();
    assert!(P256SigningKey::from_private_scalar(&n).is_err());
}

// --- Properties --------------------------------------------------------------------

fn inner_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (any::<u16>(), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(t, d)| Payload::Notify(NotifyRepr::new(NotifyType(t), d))),
        prop::collection::vec(any::<u8>(), 16..=64)
            .prop_map(|d| Payload::Nonce(NonceRepr { data: d })),
        prop::collection::vec(any::<u8>(), 0..400)
            .prop_map(|d| Payload::VendorId(VendorIdRepr { data: d })),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|d| Payload::IdI(IdRepr {
            id_type: IdType::ID_KEY_ID,
            data: d
        })),
    ]
}

fn inner_chain() -> impl Strategy<Value = Vec<Payload>> {
    prop::collection::vec(inner_payload(), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn seal_open_round_trip(suite in 0usize..4, inner in inner_chain(), mid in any::<u32>()) {
        let (spec, e, a) = suites().swap_remove(suite);
        let mut c = crypter(&spec, &e, &a);
        let m = c.seal_message(&header(mid), &inner).unwrap();
        prop_assert!(m.len() <= 28 + ikev2::payload::chain_len(&inner) + c.overhead());
        prop_assert_eq!(c.open_message(&m).unwrap(), inner);
        let parsed = MessageRepr::parse(&m).unwrap();
        prop_assert_eq!(parsed.header.message_id, mid);
    }

    #[test]
    fn any_mutation_of_a_sealed_message_fails(
        suite in 0usize..4,
        inner in inner_chain(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let (spec, e, a) = suites().swap_remove(suite);
        let mut c = crypter(&spec, &e, &a);
        let mut m = c.seal_message(&header(3), &inner).unwrap();
        let i = at.index(m.len());
        m[i] ^= flip;
        prop_assert!(c.open_message(&m).is_err(), "mutated octet {} still opens", i);
    }

    #[test]
    fn any_mutation_of_a_fragment_fails(
        suite in 0usize..4,
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        max in 200usize..700,
    ) {
        let (spec, e, a) = suites().swap_remove(suite);
        let mut c = crypter(&spec, &e, &a);
        let mut frags = c.seal_fragments(&header(4), &big_inner(), max).unwrap();
        let k = at.index(frags.len());
        let f = &mut frags[k];
        let i = at.index(f.len());
        f[i] ^= flip;
        prop_assert!(c.open_fragment(f).is_err());
    }

    #[test]
    fn truncated_messages_fail(suite in 0usize..4, inner in inner_chain(), cut in any::<prop::sample::Index>()) {
        let (spec, e, a) = suites().swap_remove(suite);
        let mut c = crypter(&spec, &e, &a);
        let m = c.seal_message(&header(3), &inner).unwrap();
        let n = cut.index(m.len());
        prop_assert!(c.open_message(&m[..n]).is_err());
    }

    #[test]
    fn fragments_reassemble_in_any_order(
        suite in 0usize..4,
        inner in inner_chain(),
        max in 120usize..600,
        order in any::<prop::sample::Index>(),
        dup in any::<prop::sample::Index>(),
    ) {
        let (spec, e, a) = suites().swap_remove(suite);
        let mut c = crypter(&spec, &e, &a);
        let frags = match c.seal_fragments(&header(9), &inner, max) {
            Ok(f) => f,
            Err(CryptoError::DatagramTooSmall { .. }) => return Ok(()),
            Err(e) => panic!("{e:?}"),
        };
        let mut opened: Vec<OpenedFragment> =
            frags.iter().map(|f| c.open_fragment(f).unwrap()).collect();
        for f in &frags {
            prop_assert!(f.len() <= max);
        }
        let n = opened.len();
        opened.rotate_left(order.index(n));
        let d = opened[dup.index(n)].clone();
        opened.insert(dup.index(n), d);
        let mut r = Reassembler::new(u16::MAX, 1 << 20);
        let mut done = Vec::new();
        for f in opened {
            if let Some(p) = r.add(f).unwrap() {
                done.push(p);
            }
        }
        // Complete once; a duplicate arriving after completion starts a new
        // reassembly, which only a one-fragment message completes again.
        prop_assert_eq!(done.len(), if n == 1 { 2 } else { 1 });
        prop_assert!(done.into_iter().all(|p| p == inner));
    }

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
        for (spec, e, a) in suites() {
            let c = crypter(&spec, &e, &a);
            let _ = c.open_message(&data);
            let _ = c.open_fragment(&data);
        }
        let key = P256SigningKey::from_private_scalar(&[0x11; 32]).unwrap().public_key();
        let _ = verify_auth(AuthMethod::DIGITAL_SIGNATURE, &key, b"x", &data);
        let _ = verify_auth(AuthMethod::ECDSA_SHA256_P256, &key, b"x", &data);
        let _ = P256PublicKey::from_spki_der(&data);
        let d = DhPrivate::from_private_bytes(DhGroup::ECP_256, &[0x22; 32]).unwrap();
        let _ = d.agree(&data);
        let x = DhPrivate::from_private_bytes(DhGroup::CURVE25519, &[0x22; 32]).unwrap();
        let _ = x.agree(&data);
    }

    #[test]
    fn random_ke_data_of_the_right_length(data in prop::collection::vec(any::<u8>(), 64)) {
        let d = DhPrivate::from_private_bytes(DhGroup::ECP_256, &[0x22; 32]).unwrap();
        match d.agree(&data) {
            Ok(s) => prop_assert_eq!(s.len(), 32),
            Err(e) => prop_assert_eq!(e, CryptoError::InvalidPeerPublicValue(DhGroup::ECP_256)),
        }
        let x = DhPrivate::from_private_bytes(DhGroup::CURVE25519, &[0x22; 32]).unwrap();
        prop_assert_eq!(x.agree(&data[..32]).unwrap().len(), 32);
    }
}
