//! Property tests: round trips, and peer bytes never panic.

mod common;

use std::time::{Duration, Instant};

use common::{keys, pair, SPI};
use ipsec_dp::{classify, parse_udp, EspSuite, InboundSa, Sad};
use proptest::prelude::*;

fn suite() -> impl Strategy<Value = EspSuite> {
    prop::sample::select(EspSuite::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn seal_then_open_returns_the_payload(
        suite in suite(),
        payload in prop::collection::vec(any::<u8>(), 0..2000),
        next_header in any::<u8>().prop_filter("not a dummy packet", |nh| *nh != 59),
        skip in 0u32..3,
    ) {
        let now = Instant::now();
        let (mut tx, mut rx) = pair(suite, now, Some(Duration::from_secs(1)));
        let mut buf = vec![0u8; tx.sealed_len(payload.len())];
        // seal a few packets first so sequence numbers vary
        for _ in 0..skip {
            let n = tx.seal(now, next_header, &payload, &mut buf).unwrap();
            rx.open(now, &mut buf[..n]).unwrap();
        }
        let n = tx.seal(now, next_header, &payload, &mut buf).unwrap();
        prop_assert_eq!(n, buf.len());
        let o = rx.open(now, &mut buf[..n]).unwrap();
        prop_assert_eq!(o.payload, &payload[..]);
        prop_assert_eq!(o.next_header, next_header);
        prop_assert_eq!(o.seq, skip + 1);
    }

    #[test]
    fn arbitrary_bytes_into_inbound_sa_open_never_panic(
        suite in suite(),
        mut bytes in prop::collection::vec(any::<u8>(), 0..200),
        use_spi in any::<bool>(),
    ) {
        let now = Instant::now();
        let mut sa = InboundSa::new(SPI, keys(suite, 0x11), now, None).unwrap();
        if use_spi && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&SPI.to_be_bytes());
        }
        let r = sa.open(now, &mut bytes);
        prop_assert!(r.is_err(), "random bytes must not authenticate");
        prop_assert_eq!(sa.counters().drops.total(), 1);
    }

    #[test]
    fn arbitrary_bytes_into_sad_open_never_panic(
        mut bytes in prop::collection::vec(any::<u8>(), 0..200),
        use_spi in any::<bool>(),
    ) {
        let now = Instant::now();
        let mut sad = Sad::new();
        sad.insert_inbound(InboundSa::new(SPI, keys(EspSuite::AesCcm8_128, 0x11), now, None).unwrap()).unwrap();
        if use_spi && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&SPI.to_be_bytes());
        }
        prop_assert!(sad.open(now, &mut bytes).is_err());
        prop_assert_eq!(sad.drops().total(), 1);
    }

    #[test]
    fn tampered_packets_never_open(
        suite in suite(),
        payload in prop::collection::vec(any::<u8>(), 0..300),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let now = Instant::now();
        let (mut tx, mut rx) = pair(suite, now, None);
        let mut buf = vec![0u8; tx.sealed_len(payload.len())];
        let n = tx.seal(now, 17, &payload, &mut buf).unwrap();
        let i = pos.index(n);
        buf[i] ^= 1 << bit;
        prop_assert!(rx.open(now, &mut buf[..n]).is_err());
    }

    #[test]
    fn classify_and_parse_udp_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
        let _ = classify(&bytes);
        if let Ok(v) = parse_udp(&bytes) {
            prop_assert!(v.payload.len() + 8 <= bytes.len());
        }
    }
}
