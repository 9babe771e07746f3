//! Every suite against other people's bytes.
//!
//! - OpenSSL (python `cryptography`) ESP packets of all ten suites, with and
//!   without ESN: tests/vectors/gen_openssl_esp_all.py.
//! - RFC 7634 Appendix A: the ChaCha20-Poly1305 ESP example.
//! - RFC 3602 §4 Cases #1-#4 (AES-CBC), RFC 4868 §2.7.2.1 AUTH256-1..4
//!   (HMAC-SHA-256-128).
//! - Wycheproof (C2SP/wycheproof testvectors_v1, extracted by
//!   tests/vectors/extract_wycheproof.py): ChaCha20-Poly1305, HMAC-SHA-256
//!   with 128-bit tags, AES-CBC (valid vectors), AES-CCM (11/12-byte nonces).
//! - RFC 3610 §8 Packet Vectors #1-#12 through ipsec-dp's own CCM.

mod common;

use std::time::Instant;

use common::{field, load_json, unhex};
use ipsec_dp::aes_ccm::AesCcm;
use ipsec_dp::cbc_hmac::{AesCbc, HmacSha256_128};
use ipsec_dp::consts::*;
use ipsec_dp::{DropReason, EspAead, EspSuite, InboundSa, OutboundSa, SaKeys, SaOptions};

fn options(esn: bool) -> SaOptions {
    SaOptions {
        esn,
        ..SaOptions::default()
    }
}

#[test]
fn openssl_esp_packets_of_every_suite_with_and_without_esn() {
    let v = load_json("openssl_esp_packets_all.json");
    let now = Instant::now();
    let tests = v["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 100);
    let mut seen = std::collections::BTreeSet::new();
    for t in tests {
        let suite = EspSuite::from_name(field(t, "suite")).unwrap();
        seen.insert(suite.name());
        let keymat = unhex(field(t, "keymat"));
        let spi = t["spi"].as_u64().unwrap() as u32;
        let esn = t["esn"].as_bool().unwrap();
        let seq = t["seq"].as_u64().unwrap();
        let nh = t["next_header"].as_u64().unwrap() as u8;
        let payload = unhex(field(t, "payload"));
        let packet = unhex(field(t, "packet"));
        let keys = || SaKeys::new(suite, &keymat).unwrap();
        let ctx = format!("{suite} esn={esn} seq={seq:#x}");

        // seal: byte for byte
        let mut tx = OutboundSa::with_options(spi, keys(), now, options(esn))
            .unwrap()
            .resume_after64(seq - 1);
        let mut out = vec![0u8; 2048];
        let n = tx.seal(now, nh, &payload, &mut out).unwrap();
        assert_eq!(n, tx.sealed_len(payload.len()), "{ctx}");
        assert_eq!(hex::encode(&out[..n]), hex::encode(&packet), "{ctx}");

        // open: with a window just behind (the receiver infers the ESN high bits)
        let mut rx = InboundSa::with_options(spi, keys(), now, options(esn))
            .unwrap()
            .resume_after64(seq - 1);
        let mut buf = packet.clone();
        match rx.open(now, &mut buf) {
            Ok(o) => assert_eq!(
                (o.next_header, o.payload, o.seq),
                (nh, &payload[..], seq as u32),
                "{ctx}"
            ),
            Err(DropReason::DummyPacket) => assert_eq!(nh, IPPROTO_NONE, "{ctx}"),
            Err(e) => panic!("{ctx}: {e}"),
        }
        assert_eq!(rx.last_opened_seq64(), seq, "{ctx}");

        // a flipped ICV bit, and the other ESN setting, both drop as BadIcv
        let mut bad = packet.clone();
        *bad.last_mut().unwrap() ^= 1;
        let mut fresh = InboundSa::with_options(spi, keys(), now, options(esn))
            .unwrap()
            .resume_after64(seq - 1);
        assert_eq!(fresh.open(now, &mut bad), Err(DropReason::BadIcv), "{ctx}");
        let mut other = InboundSa::with_options(spi, keys(), now, options(!esn))
            .unwrap()
            .resume_after64((seq - 1) & 0xFFFF_FFFF);
        let mut buf = packet.clone();
        assert!(
            other.open(now, &mut buf).is_err(),
            "{ctx}: ESN mismatch opened"
        );
    }
    assert_eq!(seen.len(), EspSuite::ALL_WITH_NULL.len());
}

/// RFC 7634 Appendix A: KEYMAT 80..9f || a0a1a2a3, SPI 0x01020304, sequence
/// number 5, IV 10..17, a tunnel-mode ICMP echo request (Next Header 4).
const RFC7634_KEYMAT: &str =
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3";
const RFC7634_PLAINTEXT: &str = "45000054a6f2000040 01e778c6336405c000020508005b7a3a080000553bec100007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637 01020204";
const RFC7634_CT_TAG: &str = "24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c614ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3cbec163fac469b502773f6fb94e664da9165b82829f641e076aaa8266b7fb0f7b11b369907e1ad43";

fn clean(h: &str) -> Vec<u8> {
    unhex(&h.replace(' ', ""))
}

#[test]
fn rfc7634_appendix_a_esp_example() {
    let keys = SaKeys::new(EspSuite::ChaCha20Poly1305, &clean(RFC7634_KEYMAT)).unwrap();
    let aead = EspAead::new(&keys).unwrap();
    let iv = [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17];
    let aad = [1, 2, 3, 4, 0, 0, 0, 5];
    let pt = clean(RFC7634_PLAINTEXT);
    let expected = clean(RFC7634_CT_TAG);
    let mut buf = pt.clone();
    let mut icv = [0u8; 16];
    aead.encrypt_detached(&iv, &aad, &mut buf, &mut icv)
        .unwrap();
    buf.extend_from_slice(&icv);
    assert_eq!(hex::encode(&buf), hex::encode(&expected));

    // The complete ESP packet opens through an inbound SA.
    let now = Instant::now();
    let mut sa = InboundSa::new(0x0102_0304, keys.clone(), now, None).unwrap();
    let mut packet = vec![1, 2, 3, 4, 0, 0, 0, 5];
    packet.extend_from_slice(&iv);
    packet.extend_from_slice(&expected);
    let o = sa.open(now, &mut packet).unwrap();
    assert_eq!(o.next_header, IPPROTO_IPV4);
    assert_eq!(o.payload, &pt[..84]);
    assert_eq!(o.seq, 5);
}

#[test]
fn rfc3602_aes_cbc_cases_1_to_4() {
    // RFC 3602 §4 (key, IV, plaintext, ciphertext)
    let cases = [
        ("06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
         hex::encode(b"Single block msg"), "e353779c1079aeb82708942dbe77181a"),
        ("c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
         "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f".to_owned(),
         "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"),
        ("6c3ea0477630ce21a2ce334aa746c2cd", "c782dc4c098c66cbd9cd27d825682c81",
         hex::encode(b"This is a 48-byte message (exactly 3 AES blocks)"),
         "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684"),
        ("56e47a38c5598974bc46903dba290349", "8ce82eefbea0da3c44699ed7db51b7d9",
         "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf".to_owned(),
         "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55"),
    ];
    for (key, iv, pt, ct) in cases {
        let cbc = AesCbc::new(&unhex(key)).unwrap();
        let iv: [u8; 16] = unhex(iv).try_into().unwrap();
        let mut buf = unhex(&pt);
        cbc.encrypt(&iv, &mut buf).unwrap();
        assert_eq!(hex::encode(&buf), ct);
        cbc.decrypt(&iv, &mut buf).unwrap();
        assert_eq!(hex::encode(&buf), pt);
    }
}

#[test]
fn rfc4868_auth256_vectors() {
    // RFC 4868 §2.7.2.1: (key, data, HMAC-SHA-256-128)
    let cases = [
        (
            "0b".repeat(32),
            hex::encode(b"Hi There"),
            "198a607eb44bfbc69903a0f1cf2bbdc5",
        ),
        (
            hex::encode(b"JefeJefeJefeJefeJefeJefeJefeJefe"),
            hex::encode(b"what do ya want for nothing?"),
            "167f928588c5cc2eef8e3093caa0e87c",
        ),
        (
            "aa".repeat(32),
            "dd".repeat(50),
            "cdcb1220d1ecccea91e53aba3092f962",
        ),
        (
            "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20".to_owned(),
            "cd".repeat(50),
            "372efcf9b40b35c2115b1346903d2ef4",
        ),
    ];
    for (key, data, icv) in cases {
        let mac = HmacSha256_128::new(&unhex(&key)).unwrap();
        let data = unhex(&data);
        let (a, b) = data.split_at(data.len() / 3);
        assert_eq!(hex::encode(mac.compute(&[a, b])), icv);
        assert!(mac.verify(&[&data], &unhex(icv)).is_ok());
        let mut bad = unhex(icv);
        bad[15] ^= 0x80;
        assert!(mac.verify(&[&data], &bad).is_err());
    }
}

#[test]
fn wycheproof_chacha20_poly1305_through_the_esp_transform() {
    // RFC 7634 §2: nonce = salt (4) || IV (8); any 96-bit nonce splits so.
    let v = load_json("wycheproof_chacha20_poly1305.json");
    let (mut valid, mut invalid) = (0, 0);
    for t in v["tests"].as_array().unwrap() {
        let nonce = unhex(field(t, "iv"));
        let mut keymat = unhex(field(t, "key"));
        keymat.extend_from_slice(&nonce[..4]);
        let aead =
            EspAead::new(&SaKeys::new(EspSuite::ChaCha20Poly1305, &keymat).unwrap()).unwrap();
        let iv: [u8; 8] = nonce[4..].try_into().unwrap();
        let (aad, msg, ct, tag) = (
            unhex(field(t, "aad")),
            unhex(field(t, "msg")),
            unhex(field(t, "ct")),
            unhex(field(t, "tag")),
        );
        let id = &t["tcId"];
        let mut buf = ct.clone();
        let r = aead.decrypt_detached(&iv, &aad, &mut buf, &tag);
        if field(t, "result") == "valid" {
            r.unwrap_or_else(|_| panic!("tcId {id} must open"));
            assert_eq!(buf, msg, "tcId {id}");
            let mut buf = msg.clone();
            let mut icv = [0u8; 16];
            aead.encrypt_detached(&iv, &aad, &mut buf, &mut icv)
                .unwrap();
            assert_eq!((buf, icv.to_vec()), (ct, tag), "tcId {id}");
            valid += 1;
        } else {
            assert!(r.is_err(), "tcId {id} must be rejected");
            invalid += 1;
        }
    }
    assert!(
        valid >= 200 && invalid >= 50,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn wycheproof_hmac_sha256_128() {
    let v = load_json("wycheproof_hmac_sha256_128.json");
    let mut n = 0;
    for t in v["tests"].as_array().unwrap() {
        let mac = HmacSha256_128::new(&unhex(field(t, "key"))).unwrap();
        let msg = unhex(field(t, "msg"));
        let tag = unhex(field(t, "tag"));
        let ok = mac.verify(&[&msg], &tag).is_ok();
        assert_eq!(ok, field(t, "result") == "valid", "tcId {}", t["tcId"]);
        if ok {
            assert_eq!(mac.compute(&[&msg]).to_vec(), tag);
        }
        n += 1;
    }
    assert!(n >= 60);
}

#[test]
fn wycheproof_aes_cbc_valid_vectors() {
    let v = load_json("wycheproof_aes_cbc_valid.json");
    for t in v["tests"].as_array().unwrap() {
        let cbc = AesCbc::new(&unhex(field(t, "key"))).unwrap();
        let iv: [u8; 16] = unhex(field(t, "iv")).try_into().unwrap();
        let mut buf = unhex(field(t, "msg"));
        let pad = 16 - buf.len() % 16; // PKCS#5
        buf.extend(std::iter::repeat_n(pad as u8, pad));
        let padded = buf.clone();
        cbc.encrypt(&iv, &mut buf).unwrap();
        assert_eq!(hex::encode(&buf), field(t, "ct"), "tcId {}", t["tcId"]);
        cbc.decrypt(&iv, &mut buf).unwrap();
        assert_eq!(buf, padded);
    }
}

#[test]
fn own_ccm_matches_wycheproof_11_and_12_byte_nonces() {
    let v = load_json("wycheproof_aes_ccm_ivlen11_12.json");
    let (mut valid, mut invalid) = (0, 0);
    for t in v["tests"].as_array().unwrap() {
        let ccm = AesCcm::new(&unhex(field(t, "key"))).unwrap();
        let nonce = unhex(field(t, "iv"));
        let (aad, msg, ct, tag) = (
            unhex(field(t, "aad")),
            unhex(field(t, "msg")),
            unhex(field(t, "ct")),
            unhex(field(t, "tag")),
        );
        let tag_len = t["tagSize"].as_u64().unwrap() as usize / 8;
        let id = &t["tcId"];
        let mut buf = ct.clone();
        let r = if tag.len() == tag_len {
            ccm.open(&nonce, &aad, &mut buf, &tag)
        } else {
            Err(ipsec_dp::CryptoError)
        };
        if field(t, "result") == "valid" {
            r.unwrap_or_else(|_| panic!("tcId {id} must open"));
            assert_eq!(buf, msg, "tcId {id}");
            let mut buf = msg.clone();
            let mut out = vec![0u8; tag_len];
            ccm.seal(&nonce, &aad, &mut buf, &mut out).unwrap();
            assert_eq!((buf, out), (ct, tag), "tcId {id}");
            valid += 1;
        } else {
            assert!(r.is_err(), "tcId {id} must be rejected");
            invalid += 1;
        }
    }
    assert!(
        valid >= 40 && invalid >= 50,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn own_ccm_matches_rfc3610_and_wipes_on_failure() {
    let v = load_json("rfc3610_ccm.json");
    for t in v["tests"].as_array().unwrap() {
        let ccm = AesCcm::new(&unhex(field(t, "key"))).unwrap();
        let nonce = unhex(field(t, "nonce"));
        let aad = unhex(field(t, "aad"));
        let msg = unhex(field(t, "msg"));
        let ct_tag = unhex(field(t, "ct_tag"));
        let mut buf = msg.clone();
        let mut tag = [0u8; 8];
        ccm.seal(&nonce, &aad, &mut buf, &mut tag).unwrap();
        buf.extend_from_slice(&tag);
        assert_eq!(
            hex::encode(&buf),
            hex::encode(&ct_tag),
            "vector {}",
            t["vector"]
        );
        let (ct, tag) = ct_tag.split_at(ct_tag.len() - 8);
        let mut buf = ct.to_vec();
        ccm.open(&nonce, &aad, &mut buf, tag).unwrap();
        assert_eq!(buf, msg);
        let mut bad = tag.to_vec();
        bad[3] ^= 4;
        let mut buf = ct.to_vec();
        assert!(ccm.open(&nonce, &aad, &mut buf, &bad).is_err());
        assert!(
            buf.iter().all(|&b| b == 0),
            "no plaintext after a failed tag"
        );
    }
}

#[test]
fn own_ccm_agrees_with_rustcrypto_ccm_on_many_lengths() {
    use aead::array::Array;
    use aead::{AeadInOut, KeyInit};
    use ccm::consts::{U11, U16, U8};
    let key = [0x42u8; 16];
    let ours = AesCcm::new(&key).unwrap();
    let c8 = ccm::Ccm::<aes::Aes128, U8, U11>::new_from_slice(&key).unwrap();
    let c16 = ccm::Ccm::<aes::Aes128, U16, U11>::new_from_slice(&key).unwrap();
    let nonce = [7u8; 11];
    for len in (0..300).chain([1400, 1500, 4000]) {
        let msg: Vec<u8> = (0..len).map(|i| (i * 31 + 5) as u8).collect();
        for aad_len in [0usize, 8, 12, 30] {
            let aad = vec![0xA5u8; aad_len];
            let mut a = msg.clone();
            let mut t8 = [0u8; 8];
            ours.seal(&nonce, &aad, &mut a, &mut t8).unwrap();
            let mut b = msg.clone();
            let tb = c8
                .encrypt_inout_detached(&Array::from(nonce), &aad, b.as_mut_slice().into())
                .unwrap();
            assert_eq!((&a, &t8[..]), (&b, &tb[..]), "len {len} aad {aad_len}");
            let mut b = msg.clone();
            let mut t16 = [0u8; 16];
            ours.seal(&nonce, &aad, &mut b, &mut t16).unwrap();
            let mut c = msg.clone();
            let tc = c16
                .encrypt_inout_detached(&Array::from(nonce), &aad, c.as_mut_slice().into())
                .unwrap();
            assert_eq!((&b, &t16[..]), (&c, &tc[..]), "len {len} aad {aad_len}");
            ours.open(&nonce, &aad, &mut b, &t16).unwrap();
            assert_eq!(b, msg);
        }
    }
}

#[test]
fn cose_identifiers_and_the_null_gate() {
    let expect = [
        (COSE_ALG_AES_CCM_16_64_128, EspSuite::AesCcm8_128),
        (COSE_ALG_AES_CCM_16_64_256, EspSuite::AesCcm8_256),
        (COSE_ALG_AES_CCM_16_128_128, EspSuite::AesCcm16_128),
        (COSE_ALG_AES_CCM_16_128_256, EspSuite::AesCcm16_256),
        (COSE_ALG_A128GCM, EspSuite::AesGcm16_128),
        (COSE_ALG_A256GCM, EspSuite::AesGcm16_256),
        (COSE_ALG_CHACHA20_POLY1305, EspSuite::ChaCha20Poly1305),
        (-65601, EspSuite::AesCbc128HmacSha256),
        (-65602, EspSuite::AesCbc256HmacSha256),
    ];
    for (alg, suite) in expect {
        assert_eq!(EspSuite::from_cose_alg(alg), Some(suite));
        assert_eq!(suite.cose_alg(), alg);
    }
    assert_eq!(
        (30, 31, 24),
        (
            COSE_ALG_AES_CCM_16_128_128,
            COSE_ALG_AES_CCM_16_128_256,
            COSE_ALG_CHACHA20_POLY1305
        )
    );
    // NULL encryption is never chosen unless explicitly allowed.
    assert_eq!(EspSuite::from_cose_alg(-65603), None);
    assert_eq!(EspSuite::from_cose_alg_allow_null(-65603, false), None);
    assert_eq!(
        EspSuite::from_cose_alg_allow_null(-65603, true),
        Some(EspSuite::NullHmacSha256)
    );
    assert!(!EspSuite::ALL.contains(&EspSuite::NullHmacSha256));
    const { assert!(COSE_ALG_PRIVATE_NULL_HMAC_SHA256_128 < -65536) };
    // IKEv2 transform IDs (RFC 7296 §3.3.2 registry)
    assert_eq!(EspSuite::AesCcm8_128.ikev2_transform_id(), 14);
    assert_eq!(EspSuite::AesCcm16_256.ikev2_transform_id(), 16);
    assert_eq!(EspSuite::ChaCha20Poly1305.ikev2_transform_id(), 28);
    assert_eq!(EspSuite::AesCbc128HmacSha256.ikev2_integrity_id(), Some(12));
}

#[test]
fn keymat_layout_per_suite() {
    // RFC 7296 §2.17 order: encryption key (+ salt), then integrity key.
    let table = [
        (EspSuite::AesCcm8_128, 16, 3, 0),
        (EspSuite::AesCcm16_256, 32, 3, 0),
        (EspSuite::AesGcm16_128, 16, 4, 0),
        (EspSuite::ChaCha20Poly1305, 32, 4, 0),
        (EspSuite::AesCbc128HmacSha256, 16, 0, 32),
        (EspSuite::AesCbc256HmacSha256, 32, 0, 32),
        (EspSuite::NullHmacSha256, 0, 0, 32),
    ];
    for (suite, k, s, i) in table {
        assert_eq!(suite.keymat_len(), k + s + i, "{suite}");
        let km: Vec<u8> = (0..suite.keymat_len() as u8).collect();
        let keys = SaKeys::new(suite, &km).unwrap();
        assert_eq!(keys.key(), &km[..k]);
        assert_eq!(keys.salt(), &km[k..k + s]);
        assert_eq!(keys.integ_key(), &km[k + s..]);
        assert!(SaKeys::new(suite, &km[1..]).is_err());
        // The DP KDF yields two SAs' worth in the same order.
        let (c, rs) = ipsec_dp::derive_dp_sa_pair(b"seed", 0x1000, 0x2000, suite).unwrap();
        assert_ne!(c, rs);
    }
}
