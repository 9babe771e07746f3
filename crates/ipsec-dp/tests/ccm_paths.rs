//! The two AES-CCM backends (AES-NI and portable) agree: same ciphertext,
//! same tag, same verdict, and no plaintext left behind a failed tag.

use ipsec_dp::aes_ccm::{AesCcm, CcmBackend};
use proptest::prelude::*;

/// Both backends for `key`, or `None` on a CPU without AES-NI (nothing to
/// compare there).
fn both(key: &[u8]) -> Option<(AesCcm, AesCcm)> {
    let portable = AesCcm::with_backend(key, CcmBackend::Portable).unwrap();
    assert_eq!(portable.backend(), CcmBackend::Portable);
    let ni = AesCcm::with_backend(key, CcmBackend::AesNi).ok()?;
    assert_eq!(ni.backend(), CcmBackend::AesNi);
    Some((ni, portable))
}

/// Seals with both, checks they agree, opens each other's output, then
/// flips one bit (`flip`: bit index into ciphertext || tag) and checks both
/// reject it and wipe the buffer.
fn check_agree(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    msg: &[u8],
    tag_len: usize,
    flip: usize,
) -> Result<(), TestCaseError> {
    let Some((ni, portable)) = both(key) else {
        return Ok(());
    };
    let (mut ct_ni, mut tag_ni) = (msg.to_vec(), vec![0u8; tag_len]);
    ni.seal(nonce, aad, &mut ct_ni, &mut tag_ni).unwrap();
    let (mut ct_p, mut tag_p) = (msg.to_vec(), vec![0u8; tag_len]);
    portable.seal(nonce, aad, &mut ct_p, &mut tag_p).unwrap();
    prop_assert_eq!(&ct_ni, &ct_p);
    prop_assert_eq!(&tag_ni, &tag_p);

    for (opener, name) in [(&ni, "AES-NI"), (&portable, "portable")] {
        let mut buf = ct_ni.clone();
        prop_assert!(opener.open(nonce, aad, &mut buf, &tag_ni).is_ok(), "{name}");
        prop_assert_eq!(&buf, msg, "{}", name);

        let (mut buf, mut tag) = (ct_ni.clone(), tag_ni.clone());
        let bit = flip % (8 * (buf.len() + tag.len()));
        match buf.get_mut(bit / 8) {
            Some(b) => *b ^= 1 << (bit % 8),
            None => tag[bit / 8 - ct_ni.len()] ^= 1 << (bit % 8),
        }
        prop_assert!(opener.open(nonce, aad, &mut buf, &tag).is_err(), "{name}");
        prop_assert!(
            buf.iter().all(|&b| b == 0),
            "{name}: plaintext left after a failed tag"
        );
    }
    Ok(())
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 16),
        prop::collection::vec(any::<u8>(), 32),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// ESP's shape (RFC 4309): 11-octet nonce, AAD of 8 or 12 octets (ESN),
    /// ICV of 8 or 16 octets.
    #[test]
    fn backends_agree_on_esp_packets(
        key in key(),
        nonce in prop::collection::vec(any::<u8>(), 11),
        aad in prop_oneof![
            prop::collection::vec(any::<u8>(), 8),
            prop::collection::vec(any::<u8>(), 12),
        ],
        msg in prop::collection::vec(any::<u8>(), 0..2000),
        tag_len in prop::sample::select(vec![8usize, 16]),
        flip in any::<usize>(),
    ) {
        check_agree(&key, &nonce, &aad, &msg, tag_len, flip)?;
    }

    /// Every RFC 3610 parameter set: nonce 7..=13 octets (L = 8..=2), any
    /// even tag length 4..=16, any AAD length.
    #[test]
    fn backends_agree_on_any_rfc3610_parameters(
        key in key(),
        nonce in prop::collection::vec(any::<u8>(), 7..=13),
        aad in prop::collection::vec(any::<u8>(), 0..300),
        msg in prop::collection::vec(any::<u8>(), 0..2000),
        tag_len in (2usize..=8).prop_map(|h| 2 * h),
        flip in any::<usize>(),
    ) {
        check_agree(&key, &nonce, &aad, &msg, tag_len, flip)?;
    }
}

#[test]
fn backends_agree_on_every_length_around_block_boundaries() {
    for key_len in [16, 32] {
        let key: Vec<u8> = (0..key_len as u8).collect();
        for len in 0..100 {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            for aad_len in [0, 1, 8, 12, 13, 14, 15, 16, 17, 31, 32, 33] {
                let aad = vec![0xC3u8; aad_len];
                for tag_len in [8, 16] {
                    check_agree(&key, &[9u8; 11], &aad, &msg, tag_len, len * 13).unwrap();
                }
            }
        }
    }
}

/// RFC 3610 §2.2: AAD of 2^16 - 2^8 octets or more is preceded by
/// 0xFF 0xFE and a 4-octet length.
#[test]
fn backends_agree_on_long_aad() {
    for aad_len in [0xFEFF, 0xFF00, 70_000] {
        let aad: Vec<u8> = (0..aad_len).map(|i| (i % 251) as u8).collect();
        check_agree(&[5u8; 16], &[1u8; 13], &aad, b"short message", 16, 3).unwrap();
    }
}

#[test]
fn new_picks_aes_ni_when_the_cpu_has_it() {
    let ccm = AesCcm::new(&[0u8; 16]).unwrap();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("aes") {
        assert_eq!(ccm.backend(), CcmBackend::AesNi);
        return;
    }
    assert_eq!(ccm.backend(), CcmBackend::Portable);
}

#[test]
fn both_backends_reject_bad_keys() {
    for backend in [CcmBackend::AesNi, CcmBackend::Portable] {
        for len in [0, 15, 17, 24, 33] {
            assert!(AesCcm::with_backend(&vec![0u8; len], backend).is_err());
        }
    }
}
