//! RFC 4303 scenarios, one test each, named as the RFC would say them.

mod common;

use std::time::{Duration, Instant};

use common::{craft, keys, pair, std_padding, SPI};
use ipsec_dp::consts::{IPPROTO_IPV4, IPPROTO_NONE, IPPROTO_UDP};
use ipsec_dp::{
    DropReason, EspSuite, InboundSa, OutboundSa, ReplayError, ReplayWindow, SaError, Sad, SadError,
    SealError,
};

const CCM: EspSuite = EspSuite::AesCcm8_128;

fn seal(out: &mut OutboundSa, now: Instant, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; out.sealed_len(payload.len())];
    let n = out.seal(now, IPPROTO_UDP, payload, &mut buf).expect("seal");
    buf.truncate(n);
    buf
}

#[test]
fn round_trip_for_each_suite_at_several_sizes() {
    let now = Instant::now();
    for suite in EspSuite::ALL {
        let (mut tx, mut rx) = pair(suite, now, None);
        for (i, len) in [0usize, 1, 2, 3, 4, 5, 15, 16, 17, 100, 1400, 1500, 9000]
            .into_iter()
            .enumerate()
        {
            let payload: Vec<u8> = (0..len).map(|j| (j * 7 + i) as u8).collect();
            let mut pkt = seal(&mut tx, now, &payload);
            assert_eq!(pkt.len(), tx.sealed_len(len));
            assert_eq!(tx.overhead(len), pkt.len() - len);
            // RFC 4303 §2.4: the ciphertext ends on a 4-octet boundary
            assert_eq!((pkt.len() - 16 - suite.icv_len()) % 4, 0, "{suite} {len}");
            // the payload is not visible on the wire
            if len >= 16 {
                assert!(!pkt.windows(16).any(|w| w == &payload[..16]));
            }
            let o = rx.open(now, &mut pkt).expect("open");
            assert_eq!(o.payload, &payload[..], "{suite} {len}");
            assert_eq!(o.next_header, IPPROTO_UDP);
            assert_eq!(o.seq, i as u32 + 1);
        }
        assert_eq!(rx.counters().packets, 13);
        assert_eq!(tx.counters().packets, 13);
        assert_eq!(rx.counters().drops.total(), 0);
    }
}

#[test]
fn sequence_numbers_and_iv_start_at_one_and_increase() {
    let now = Instant::now();
    let (mut tx, _) = pair(EspSuite::AesGcm16_128, now, None);
    for expect in 1u32..=3 {
        let p = seal(&mut tx, now, b"x");
        assert_eq!(&p[0..4], &SPI.to_be_bytes());
        assert_eq!(&p[4..8], &expect.to_be_bytes());
        assert_eq!(&p[8..16], &u64::from(expect).to_be_bytes());
    }
}

#[test]
fn replayed_packet_inside_the_window_is_dropped() {
    let now = Instant::now();
    let (mut tx, mut rx) = pair(CCM, now, None);
    let p1 = seal(&mut tx, now, b"one");
    let p2 = seal(&mut tx, now, b"two");
    rx.open(now, &mut p2.clone()).unwrap();
    rx.open(now, &mut p1.clone()).unwrap(); // out of order but new: accepted
    assert_eq!(rx.open(now, &mut p1.clone()), Err(DropReason::Replayed));
    assert_eq!(rx.open(now, &mut p2.clone()), Err(DropReason::Replayed));
    assert_eq!(rx.counters().drops.get(DropReason::Replayed), 2);
    assert_eq!(rx.counters().packets, 2);
}

#[test]
fn packet_left_of_the_window_is_dropped_as_too_old() {
    let now = Instant::now();
    let (_, mut rx) = pair(CCM, now, None);
    let pad = std_padding(3);
    let mut newest = craft(CCM, SPI, 1000, b"new", &pad, IPPROTO_UDP);
    rx.open(now, &mut newest).unwrap();
    // window = 64: 937..=1000 are inside, 936 is left of it
    let mut inside = craft(CCM, SPI, 937, b"old", &pad, IPPROTO_UDP);
    assert!(rx.open(now, &mut inside).is_ok());
    let mut left = craft(CCM, SPI, 936, b"old", &pad, IPPROTO_UDP);
    assert_eq!(rx.open(now, &mut left), Err(DropReason::TooOld));
    assert_eq!(rx.counters().drops.get(DropReason::TooOld), 1);
}

#[test]
fn sequence_number_zero_is_never_accepted() {
    let now = Instant::now();
    let (_, mut rx) = pair(CCM, now, None);
    let mut p = craft(CCM, SPI, 0, b"zero", &std_padding(4), IPPROTO_UDP);
    assert_eq!(rx.open(now, &mut p), Err(DropReason::InvalidSequence));
}

#[test]
fn bad_icv_is_dropped_and_counted_no_plaintext() {
    let now = Instant::now();
    for suite in EspSuite::ALL {
        let (mut tx, mut rx) = pair(suite, now, None);
        let secret = b"attack at dawn, attack at dawn!!";
        let good = seal(&mut tx, now, secret);
        // flip a bit in the ciphertext, in the ICV, in the SPI-covered AAD (seq)
        for pos in [20, good.len() - 1, 7] {
            let mut bad = good.clone();
            bad[pos] ^= 0x40;
            assert_eq!(
                rx.open(now, &mut bad),
                Err(DropReason::BadIcv),
                "{suite} @{pos}"
            );
            assert!(
                !bad.windows(8).any(|w| w == &secret[..8]),
                "no plaintext left"
            );
        }
        assert_eq!(rx.counters().drops.get(DropReason::BadIcv), 3);
        // the window did not move: the genuine packet still opens
        let mut ok = good.clone();
        assert_eq!(rx.open(now, &mut ok).unwrap().payload, secret);
    }
}

#[test]
fn bad_icv_does_not_advance_the_replay_window() {
    let now = Instant::now();
    let (_, mut rx) = pair(CCM, now, None);
    let mut forged = craft(CCM, SPI, 5000, b"x", &std_padding(1), IPPROTO_UDP);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(rx.open(now, &mut forged), Err(DropReason::BadIcv));
    assert_eq!(rx.replay_window().highest(), 0);
    let mut p1 = craft(CCM, SPI, 1, b"x", &std_padding(1), IPPROTO_UDP);
    assert!(rx.open(now, &mut p1).is_ok());
}

#[test]
fn unknown_spi_is_dropped_and_counted() {
    let now = Instant::now();
    let mut sad = Sad::new();
    let (mut tx, rx) = pair(CCM, now, None);
    sad.insert_inbound(rx).unwrap();
    let mut other = craft(CCM, 0xDEAD_0001, 1, b"hi", &std_padding(2), IPPROTO_UDP);
    assert_eq!(sad.open(now, &mut other), Err(DropReason::UnknownSpi));
    assert_eq!(sad.drops().get(DropReason::UnknownSpi), 1);
    let mut short = [0u8; 3];
    assert_eq!(sad.open(now, &mut short), Err(DropReason::Truncated));
    assert_eq!(sad.drops().get(DropReason::Truncated), 1);
    let mut good = seal(&mut tx, now, b"hello");
    let (spi, o) = sad.open(now, &mut good).unwrap();
    assert_eq!((spi, o.payload), (SPI, &b"hello"[..]));
    assert_eq!(sad.drops().total(), 2);
    // an InboundSa given a packet for another SPI also refuses it
    let mut sa = InboundSa::new(0x5000, keys(CCM, 0x11), now, None).unwrap();
    let mut p = seal(&mut tx, now, b"x");
    assert_eq!(sa.open(now, &mut p), Err(DropReason::UnknownSpi));
}

#[test]
fn expired_sa_refuses_to_seal_and_drops_on_open() {
    let t0 = Instant::now();
    let life = Duration::from_secs(60);
    let (mut tx, mut rx) = pair(CCM, t0, Some(life));
    let mut early = seal(&mut tx, t0, b"early");
    let just_before = t0 + life - Duration::from_nanos(1);
    assert!(!tx.is_expired(just_before));
    let mut late = seal(&mut tx, just_before, b"late");
    let t_end = t0 + life;
    assert!(tx.is_expired(t_end) && rx.is_expired(t_end));
    let mut buf = [0u8; 128];
    assert_eq!(
        tx.seal(t_end, IPPROTO_UDP, b"x", &mut buf),
        Err(SealError::Expired)
    );
    assert_eq!(tx.counters().refused_expired, 1);
    assert_eq!(
        tx.last_seq(),
        2,
        "a refused seal consumes no sequence number"
    );
    assert!(rx.open(just_before, &mut early).is_ok());
    assert_eq!(rx.open(t_end, &mut late), Err(DropReason::Expired));
    assert_eq!(rx.counters().drops.get(DropReason::Expired), 1);

    // the SAD deletes expired SAs
    let mut sad = Sad::new();
    sad.insert_inbound(rx).unwrap();
    let forever = InboundSa::new(0x7777, keys(EspSuite::AesGcm16_256, 1), t0, None).unwrap();
    sad.insert_inbound(forever).unwrap();
    assert!(sad.expire(just_before).is_empty());
    assert_eq!(sad.expire(t_end), vec![SPI]);
    assert!(!sad.contains_spi(SPI) && sad.contains_spi(0x7777));
}

#[test]
fn padding_bytes_must_be_monotonic() {
    let now = Instant::now();
    let (_, mut rx) = pair(CCM, now, None);
    // RFC 4303 §2.4: the padding is 1, 2, 3, ...
    let mut bad = craft(CCM, SPI, 1, b"a", &[1, 3, 2, 4, 5], IPPROTO_UDP);
    assert_eq!(rx.open(now, &mut bad), Err(DropReason::BadPadding));
    let mut zeros = craft(CCM, SPI, 2, b"a", &[0, 0, 0], IPPROTO_UDP);
    assert_eq!(rx.open(now, &mut zeros), Err(DropReason::BadPadding));
    assert_eq!(rx.counters().drops.get(DropReason::BadPadding), 2);
    // more padding than needed is fine if it counts up (up to 255)
    let long: Vec<u8> = (1..=255).collect();
    let mut ok = craft(CCM, SPI, 3, b"abc", &long, IPPROTO_UDP);
    assert_eq!(rx.open(now, &mut ok).unwrap().payload, b"abc");
    // a packet with a bad pad was authentic but rejected: its sequence
    // number was not recorded
    assert!(rx.replay_window().check(1).is_ok());
}

#[test]
fn pad_length_larger_than_the_ciphertext_is_bad_padding() {
    let now = Instant::now();
    let (_, mut rx) = pair(CCM, now, None);
    // A peer that writes Pad Length 200 into a 2-octet plaintext.
    let aead = ipsec_dp::EspAead::new(&keys(CCM, 0x11)).unwrap();
    let iv = 3u64.to_be_bytes();
    let mut hdr = SPI.to_be_bytes().to_vec();
    hdr.extend_from_slice(&3u32.to_be_bytes());
    let mut pt = vec![200u8, IPPROTO_UDP];
    let mut icv = [0u8; 8];
    aead.encrypt_detached(&iv, &hdr, &mut pt, &mut icv).unwrap();
    let mut lie = hdr.clone();
    lie.extend_from_slice(&iv);
    lie.extend_from_slice(&pt);
    lie.extend_from_slice(&icv);
    assert_eq!(rx.open(now, &mut lie), Err(DropReason::BadPadding));
}

#[test]
fn dummy_packet_is_discarded_but_advances_the_window() {
    let now = Instant::now();
    let (mut tx, mut rx) = pair(CCM, now, None);
    let mut buf = [0u8; 64];
    let n = tx.seal(now, IPPROTO_NONE, b"", &mut buf).unwrap();
    let mut dummy = buf[..n].to_vec();
    assert_eq!(
        rx.open(now, &mut dummy.clone()),
        Err(DropReason::DummyPacket)
    );
    assert_eq!(rx.open(now, &mut dummy), Err(DropReason::Replayed));
    assert_eq!(rx.counters().drops.get(DropReason::DummyPacket), 1);
}

#[test]
fn tunnel_mode_next_header_is_carried() {
    let now = Instant::now();
    let (mut tx, mut rx) = pair(EspSuite::AesGcm16_128, now, None);
    let mut buf = [0u8; 256];
    let inner_ip = [0x45u8; 40];
    let n = tx.seal(now, IPPROTO_IPV4, &inner_ip, &mut buf).unwrap();
    let o = rx.open(now, &mut buf[..n]).unwrap();
    assert_eq!((o.next_header, o.payload), (IPPROTO_IPV4, &inner_ip[..]));
}

#[test]
fn truncated_packets_are_dropped() {
    let now = Instant::now();
    for suite in EspSuite::ALL_WITH_NULL {
        let (mut tx, mut rx) = pair(suite, now, None);
        let p = seal(&mut tx, now, b"");
        // the shortest packet: header 8 + IV + trailer 2 (+ padding to 4,
        // or to 16 for AES-CBC) + ICV
        let min = 8 + suite.iv_len() + 2 + suite.icv_len();
        assert_eq!(p.len(), min - 2 + suite.block_align());
        for len in 0..min {
            let mut short = p[..len].to_vec();
            assert_eq!(
                rx.open(now, &mut short),
                Err(DropReason::Truncated),
                "{len}"
            );
        }
    }
}

#[test]
fn seal_reports_a_too_small_buffer_and_consumes_nothing() {
    let now = Instant::now();
    let (mut tx, mut rx) = pair(CCM, now, None);
    let need = tx.sealed_len(10);
    let mut small = vec![0u8; need - 1];
    assert_eq!(
        tx.seal(now, IPPROTO_UDP, &[0; 10], &mut small),
        Err(SealError::BufferTooSmall {
            needed: need,
            available: need - 1
        })
    );
    assert_eq!(tx.last_seq(), 0);
    let mut p = seal(&mut tx, now, &[9; 10]);
    assert_eq!(rx.open(now, &mut p).unwrap().seq, 1);
    // max_payload_len is the inverse of sealed_len
    for mtu in [0, 20, 40, 100, 1400, 1500] {
        let m = tx.max_payload_len(mtu);
        if m > 0 {
            assert!(tx.sealed_len(m) <= mtu);
            assert!(tx.sealed_len(m + 1) > mtu);
        }
    }
    assert_eq!(tx.max_payload_len(1400), 1374);
    assert_eq!(tx.sealed_len(1374), 1400);
}

#[test]
fn reserved_spis_are_refused() {
    let now = Instant::now();
    for spi in [0, 1, 255] {
        assert_eq!(
            OutboundSa::new(spi, keys(CCM, 1), now, None).err(),
            Some(SaError::ReservedSpi(spi))
        );
        assert_eq!(
            InboundSa::new(spi, keys(CCM, 1), now, None).err(),
            Some(SaError::ReservedSpi(spi))
        );
    }
    assert!(InboundSa::new(256, keys(CCM, 1), now, None).is_ok());
}

#[test]
fn an_spi_in_use_is_refused_by_the_sad() {
    let now = Instant::now();
    let mut sad = Sad::new();
    sad.insert_inbound(InboundSa::new(0x1000, keys(CCM, 1), now, None).unwrap())
        .unwrap();
    assert_eq!(
        sad.insert_inbound(InboundSa::new(0x1000, keys(CCM, 2), now, None).unwrap()),
        Err(SadError::SpiInUse(0x1000))
    );
    assert!(sad.remove_inbound(0x1000).is_some());
    assert!(sad.is_empty());
}

#[test]
fn replay_window_slides_and_remembers() {
    let mut w = ReplayWindow::new();
    assert_eq!(w.size(), 64);
    assert_eq!(w.check(0), Err(ReplayError::Zero));
    for s in [1u32, 3, 64, 65] {
        w.check(s).unwrap();
        w.update(s);
    }
    assert_eq!(w.check(1), Err(ReplayError::TooOld)); // 65 - 64 = 1 slid out
    assert_eq!(w.check(3), Err(ReplayError::Replayed));
    assert!(w.check(2).is_ok());
    w.update(65 + 1000); // a big jump clears everything
    assert_eq!(w.check(65), Err(ReplayError::TooOld));
    assert!(w.check(1065 - 63).is_ok());
    assert_eq!(w.check(1065), Err(ReplayError::Replayed));
    // near the top of the sequence space
    w.update(u32::MAX);
    assert_eq!(w.check(u32::MAX), Err(ReplayError::Replayed));
    assert!(w.check(u32::MAX - 63).is_ok());
    assert_eq!(w.check(u32::MAX - 64), Err(ReplayError::TooOld));
}

#[test]
fn replay_window_size_is_configurable() {
    let now = Instant::now();
    let (_, rx) = pair(CCM, now, None);
    let mut rx = rx.with_replay_window(1024);
    assert_eq!(rx.replay_window().size(), 1024);
    let pad = std_padding(1);
    rx.open(now, &mut craft(CCM, SPI, 2000, b"x", &pad, IPPROTO_UDP))
        .unwrap();
    assert!(rx
        .open(now, &mut craft(CCM, SPI, 977, b"x", &pad, IPPROTO_UDP))
        .is_ok());
    assert_eq!(
        rx.open(now, &mut craft(CCM, SPI, 976, b"x", &pad, IPPROTO_UDP)),
        Err(DropReason::TooOld)
    );
    assert_eq!(ReplayWindow::with_size(1).size(), 64);
    assert_eq!(ReplayWindow::with_size(100).size(), 128);
}

#[test]
fn keys_never_show_in_debug() {
    let k = keys(EspSuite::AesGcm16_256, 0xA0);
    let dbg = format!("{k:?}");
    assert!(!dbg.to_lowercase().contains("a0a1a2"), "{dbg}");
    let (tx, rx) = pair(EspSuite::AesGcm16_256, Instant::now(), None);
    for s in [format!("{tx:?}"), format!("{rx:?}")] {
        assert!(!s.contains("17, 18, 19") && !s.contains("111213"), "{s}");
    }
}

#[test]
fn drop_reasons_have_stable_labels() {
    let labels: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        labels,
        [
            "truncated",
            "unknown_spi",
            "invalid_sequence",
            "replayed",
            "too_old",
            "expired",
            "bad_icv",
            "bad_padding",
            "dummy_packet"
        ]
    );
    for (i, r) in DropReason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
    }
}
