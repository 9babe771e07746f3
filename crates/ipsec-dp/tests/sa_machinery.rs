//! SA machinery: extended sequence numbers (RFC 4304, RFC 4303 Appendix A),
//! large anti-replay windows, exhaustion, soft and hard lifetimes, and bad
//! input counted by reason in every suite.

mod common;

use std::time::{Duration, Instant};

use common::keys;
use ipsec_dp::consts::IPPROTO_UDP;
use ipsec_dp::{
    DropReason, EspSuite, InboundSa, LifetimeStatus, OutboundSa, ReplayWindow, SaLifetime,
    SaOptions, Sad, SealError,
};

const SPI: u32 = 0x0000_4242;

fn esn_pair(suite: EspSuite, window: u32) -> (OutboundSa, InboundSa) {
    let now = Instant::now();
    let o = SaOptions {
        esn: true,
        replay_window: window,
        ..SaOptions::default()
    };
    (
        OutboundSa::with_options(SPI, keys(suite, 3), now, o).unwrap(),
        InboundSa::with_options(SPI, keys(suite, 3), now, o).unwrap(),
    )
}

fn seal(tx: &mut OutboundSa, now: Instant, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; tx.sealed_len(payload.len())];
    let n = tx.seal(now, IPPROTO_UDP, payload, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn esn_crosses_the_32_bit_boundary_in_every_suite() {
    let now = Instant::now();
    for suite in EspSuite::ALL_WITH_NULL {
        let (tx, rx) = esn_pair(suite, 64);
        let mut tx = tx.resume_after64((1 << 32) - 4);
        let mut rx = rx.resume_after64((1 << 32) - 10);
        let pkts: Vec<_> = (0..8).map(|i| seal(&mut tx, now, &[i as u8; 20])).collect();
        assert_eq!(tx.last_seq64(), (1 << 32) + 4);
        // Only the low 32 bits travel (RFC 4304 §2).
        assert_eq!(&pkts[4][4..8], &[0, 0, 0, 1]);
        // Deliver out of order around the boundary: the receiver infers the
        // high half (RFC 4303 Appendix A2.2, Cases A and B).
        for i in [5usize, 1, 7, 0, 3, 2, 6, 4] {
            let mut p = pkts[i].clone();
            let o = rx
                .open(now, &mut p)
                .unwrap_or_else(|e| panic!("{suite} pkt {i}: {e}"));
            assert_eq!(o.payload, &[i as u8; 20][..]);
            assert_eq!(rx.last_opened_seq64(), (1 << 32) - 3 + i as u64);
        }
        assert_eq!(rx.replay_window().highest64(), (1 << 32) + 4);
        // Replays across the boundary are caught.
        for i in [0usize, 4, 7] {
            let mut p = pkts[i].clone();
            assert_eq!(rx.open(now, &mut p), Err(DropReason::Replayed), "{suite}");
        }
    }
}

#[test]
fn esn_counter_is_exhausted_at_2_pow_64_minus_1_and_32_bit_at_2_pow_32_minus_1() {
    let now = Instant::now();
    let (tx, _) = esn_pair(EspSuite::AesGcm16_128, 64);
    let mut tx = tx.resume_after64(u64::MAX - 1);
    seal(&mut tx, now, b"last");
    assert_eq!(tx.last_seq64(), u64::MAX);
    let mut buf = [0u8; 128];
    assert_eq!(
        tx.seal(now, IPPROTO_UDP, b"x", &mut buf),
        Err(SealError::SequenceExhausted)
    );
    let mut tx32 = OutboundSa::new(SPI, keys(EspSuite::AesGcm16_128, 1), now, None)
        .unwrap()
        .resume_after(u32::MAX);
    assert_eq!(
        tx32.seal(now, IPPROTO_UDP, b"x", &mut buf),
        Err(SealError::SequenceExhausted)
    );
}

#[test]
fn a_4096_packet_window_accepts_late_packets_and_refuses_older_ones() {
    let now = Instant::now();
    let o = SaOptions {
        replay_window: 4096,
        ..SaOptions::default()
    };
    let suite = EspSuite::AesCcm8_128;
    let mut tx = OutboundSa::with_options(SPI, keys(suite, 3), now, o).unwrap();
    let mut rx = InboundSa::with_options(SPI, keys(suite, 3), now, o).unwrap();
    assert_eq!(rx.replay_window().size(), 4096);
    let pkts: Vec<_> = (0..5000).map(|_| seal(&mut tx, now, b"p")).collect();
    let mut last = pkts[4999].clone();
    rx.open(now, &mut last).unwrap();
    // 5000 - 4095 = 905 is the oldest still inside the window.
    let mut p = pkts[904].clone();
    assert!(rx.open(now, &mut p).is_ok());
    let mut p = pkts[903].clone();
    assert_eq!(rx.open(now, &mut p), Err(DropReason::TooOld));
    let mut p = pkts[904].clone();
    assert_eq!(rx.open(now, &mut p), Err(DropReason::Replayed));
    assert_eq!(rx.counters().drops.get(DropReason::TooOld), 1);
}

#[test]
fn replay_window_sizes_and_large_jumps() {
    assert_eq!(ReplayWindow::with_size(32).size(), 64);
    assert_eq!(ReplayWindow::with_size(100).size(), 128);
    assert_eq!(ReplayWindow::with_size(1 << 20).size(), 65536);
    for size in [64u32, 128, 1024, 4096, 65536] {
        let mut w = ReplayWindow::with_size(size);
        let mut model = std::collections::BTreeSet::new();
        let mut top = 0u64;
        // jumps of all sizes, then fill-ins behind
        for (i, step) in [1u64, 2, 63, 64, 65, 1000, 5000, 70_000, 3, 1 << 33]
            .iter()
            .enumerate()
        {
            top += step;
            assert!(w.check64(top).is_ok());
            w.update64(top);
            model.insert(top);
            for back in [1u64, 5, 63, 64, u64::from(size) - 1, u64::from(size)] {
                let s = top.saturating_sub(back);
                let want = if s == 0 || back >= u64::from(size) {
                    false
                } else {
                    !model.contains(&s)
                };
                assert_eq!(
                    w.check64(s).is_ok(),
                    want,
                    "size {size} step {i} back {back}"
                );
                if want {
                    w.update64(s);
                    model.insert(s);
                    assert!(w.check64(s).is_err());
                }
            }
        }
    }
}

#[test]
fn lifetimes_soft_then_hard_by_packets_bytes_and_time() {
    let t0 = Instant::now();
    let suite = EspSuite::ChaCha20Poly1305;
    let life = SaLifetime {
        soft_packets: Some(3),
        hard_packets: Some(5),
        ..SaLifetime::default()
    };
    let mut tx = OutboundSa::new(SPI, keys(suite, 9), t0, None)
        .unwrap()
        .with_lifetime(life);
    let mut rx = InboundSa::new(SPI, keys(suite, 9), t0, None)
        .unwrap()
        .with_lifetime(life);
    let mut statuses = vec![];
    for _ in 0..5 {
        statuses.push(tx.lifetime_status(t0));
        let mut p = seal(&mut tx, t0, b"data");
        rx.open(t0, &mut p).unwrap();
    }
    use LifetimeStatus::*;
    assert_eq!(statuses, [Fresh, Fresh, Fresh, Soft, Soft]);
    assert_eq!(tx.lifetime_status(t0), Hard);
    assert_eq!(rx.lifetime_status(t0), Hard);
    let mut buf = [0u8; 128];
    assert_eq!(
        tx.seal(t0, IPPROTO_UDP, b"x", &mut buf),
        Err(SealError::Expired)
    );
    assert_eq!(tx.counters().refused_expired, 1);

    // bytes
    let life = SaLifetime {
        soft_bytes: Some(100),
        hard_bytes: Some(200),
        ..SaLifetime::default()
    };
    let mut tx = OutboundSa::new(SPI, keys(suite, 9), t0, None)
        .unwrap()
        .with_lifetime(life);
    seal(&mut tx, t0, &[0; 150]);
    assert_eq!(tx.lifetime_status(t0), Soft);
    seal(&mut tx, t0, &[0; 60]);
    assert_eq!(tx.lifetime_status(t0), Hard);

    // time: soft at 10 s, hard at 20 s; the inbound side drops as Expired
    let life = SaLifetime {
        soft_time: Some(Duration::from_secs(10)),
        hard_time: Some(Duration::from_secs(20)),
        ..SaLifetime::default()
    };
    let mut tx = OutboundSa::new(SPI, keys(suite, 9), t0, None)
        .unwrap()
        .with_lifetime(life);
    let mut rx = InboundSa::new(SPI, keys(suite, 9), t0, None)
        .unwrap()
        .with_lifetime(life);
    assert_eq!(tx.lifetime_status(t0 + Duration::from_secs(9)), Fresh);
    assert_eq!(tx.lifetime_status(t0 + Duration::from_secs(10)), Soft);
    let mut p = seal(&mut tx, t0 + Duration::from_secs(15), b"late");
    assert!(rx
        .open(t0 + Duration::from_secs(15), &mut p.clone())
        .is_ok());
    assert_eq!(
        rx.open(t0 + Duration::from_secs(20), &mut p),
        Err(DropReason::Expired)
    );
    assert!(tx.is_expired(t0 + Duration::from_secs(20)));

    // the SAD lists SAs to rekey and deletes hard-expired ones
    let mut sad = Sad::with_capacity(4);
    sad.insert_inbound(rx).unwrap();
    assert_eq!(sad.needing_rekey(t0 + Duration::from_secs(11)), vec![SPI]);
    assert!(sad.needing_rekey(t0).is_empty());
    assert_eq!(sad.expire(t0 + Duration::from_secs(21)), vec![SPI]);
}

#[test]
fn bad_input_in_every_suite_is_dropped_counted_and_never_released() {
    let now = Instant::now();
    for suite in EspSuite::ALL_WITH_NULL {
        let mut tx = OutboundSa::new(SPI, keys(suite, 5), now, None).unwrap();
        let mut rx = InboundSa::new(SPI, keys(suite, 5), now, None).unwrap();
        let mut sad = Sad::new();
        let good = seal(&mut tx, now, b"secret payload here");
        // every single-bit flip after the SPI fails (BadIcv, or a replay /
        // too-old verdict when the flip hits the sequence number)
        for i in 4..good.len() {
            let mut p = good.clone();
            p[i] ^= 0x10;
            let r = rx.open(now, &mut p);
            assert!(r.is_err(), "{suite} byte {i}");
            assert!(!p.windows(6).any(|w| w == b"secret") || !suite.is_confidential());
        }
        assert!(rx.counters().drops.get(DropReason::BadIcv) > 0, "{suite}");
        // truncations
        for len in [0usize, 3, 8, good.len() - 1] {
            let mut p = good[..len].to_vec();
            assert!(rx.open(now, &mut p).is_err(), "{suite} len {len}");
        }
        // unknown SPI through the SAD
        let mut p = good.clone();
        assert_eq!(
            sad.open(now, &mut p).map(|_| ()),
            Err(DropReason::UnknownSpi)
        );
        assert_eq!(sad.drops().get(DropReason::UnknownSpi), 1);
        // the genuine packet still opens once, then is a replay
        let mut p = good.clone();
        assert!(rx.open(now, &mut p).is_ok(), "{suite}");
        let mut p = good.clone();
        assert_eq!(rx.open(now, &mut p), Err(DropReason::Replayed));
        assert_eq!(rx.counters().packets, 1);
    }
}

#[test]
fn cbc_ivs_are_unpredictable_and_distinct() {
    let now = Instant::now();
    let mut tx = OutboundSa::new(SPI, keys(EspSuite::AesCbc128HmacSha256, 1), now, None).unwrap();
    let mut ivs = std::collections::HashSet::new();
    for _ in 0..1000 {
        let p = seal(&mut tx, now, b"x");
        let iv = p[8..24].to_vec();
        // not the sequence number in the clear
        assert_ne!(&iv[8..], &(tx.last_seq64()).to_be_bytes()[..]);
        assert!(ivs.insert(iv));
    }
}

#[test]
fn the_bench_module_measures_every_suite() {
    for suite in EspSuite::ALL_WITH_NULL {
        let r = ipsec_dp::bench::esp_vs_raw(suite, 100, Duration::from_millis(10)).unwrap();
        assert!(
            r.esp_bytes_per_sec > 0.0 && r.raw_bytes_per_sec > 0.0,
            "{suite}"
        );
        assert!(r.ratio() > 0.0);
    }
}
