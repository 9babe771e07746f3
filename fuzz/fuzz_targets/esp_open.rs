//! Arbitrary bytes into a Security Association Database holding one inbound
//! SA per suite (NULL encryption included, with and without ESN): nothing
//! may panic, and nothing random may authenticate. The first byte picks the
//! suite (and ESN) of the genuine-packet round trip.
#![no_main]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipsec_dp::{EspSuite, InboundSa, OutboundSa, SaKeys, SaOptions, Sad};
use libfuzzer_sys::fuzz_target;

const SUITES: [EspSuite; 10] = EspSuite::ALL_WITH_NULL;

/// One inbound SA per suite without ESN (SPI 0x1000 + i) and one with ESN
/// (SPI 0x1100 + i).
fn spi_of(i: usize, esn: bool) -> u32 {
    0x0000_1000 + i as u32 + if esn { 0x100 } else { 0 }
}

struct State {
    sad: Sad,
    start: Instant,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn keys(suite: EspSuite) -> SaKeys {
    let keymat: Vec<u8> = (0..suite.keymat_len() as u8).collect();
    SaKeys::new(suite, &keymat).expect("keymat length")
}

fn init() -> State {
    let start = Instant::now();
    let mut sad = Sad::new();
    for (i, suite) in SUITES.into_iter().enumerate() {
        for esn in [false, true] {
            let sa = InboundSa::new(
                spi_of(i, esn),
                keys(suite),
                start,
                Some(Duration::from_secs(3600)),
            )
            .expect("valid SPI")
            .with_esn(esn);
            sad.insert_inbound(sa).expect("distinct SPIs");
        }
    }
    State { sad, start }
}

fuzz_target!(|data: &[u8]| {
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let state = guard.get_or_insert_with(init);
    let now = state.start;

    // 1. The raw input as a packet (first byte chooses whether to aim it at
    //    a real SPI so that it reaches the replay check and the AEAD).
    let mut packet = data.to_vec();
    if let (Some(&sel), true) = (data.first(), packet.len() >= 4) {
        let spi = spi_of(usize::from(sel) % SUITES.len(), sel & 0x40 != 0);
        if sel & 0x80 != 0 {
            packet[..4].copy_from_slice(&spi.to_be_bytes());
        }
    }
    assert!(
        state.sad.open(now, &mut packet).is_err(),
        "random bytes authenticated"
    );

    // 2. A genuine packet with the input as payload, then a one-bit
    //    corruption chosen by the input: it must open, then never open again.
    let sel = usize::from(data.first().copied().unwrap_or(0));
    let suite = SUITES[sel % SUITES.len()];
    let options = SaOptions {
        esn: sel & 0x40 != 0,
        ..SaOptions::default()
    };
    let spi = 0x0000_2000 + data.len() as u32 % 0x1000;
    let mut tx = OutboundSa::with_options(spi, keys(suite), now, options).expect("valid SPI");
    let mut rx = InboundSa::with_options(spi, keys(suite), now, options).expect("valid SPI");
    let mut buf = vec![0u8; tx.sealed_len(data.len())];
    let n = tx.seal(now, 17, data, &mut buf).expect("seal");
    let mut tampered = buf[..n].to_vec();
    let opened = rx.open(now, &mut buf[..n]).expect("genuine packet opens");
    assert_eq!(opened.payload, data);
    if let Some(&b) = data.last() {
        let i = usize::from(b) * 7 % tampered.len();
        tampered[i] ^= 1 << (b % 8);
        let mut rx2 = InboundSa::with_options(spi, keys(suite), now, options).expect("valid SPI");
        assert!(
            rx2.open(now, &mut tampered).is_err(),
            "tampered packet opened"
        );
    }
});
