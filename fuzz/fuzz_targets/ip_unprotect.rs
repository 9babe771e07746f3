//! Arbitrary bytes through the ESP transport and tunnel unprotect paths,
//! in both received forms (UDP-encapsulated and raw IP): typed errors,
//! never a panic, never a delivered packet.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::Instant;

use ipsec_dp::mode::{transport_unprotect, tunnel_unprotect, Received};
use ipsec_dp::{EspSuite, InboundSa, SaKeys, Sad};
use libfuzzer_sys::fuzz_target;

const SPIS: [u32; 2] = [0x0000_1000, 0x0000_1001];

struct State {
    sad: Sad,
    now: Instant,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn init() -> State {
    let now = Instant::now();
    let mut sad = Sad::new();
    for (spi, suite) in SPIS
        .into_iter()
        .zip([EspSuite::AesGcm16_128, EspSuite::AesCcm8_128])
    {
        let km: Vec<u8> = (0..suite.keymat_len() as u8).collect();
        let keys = SaKeys::new(suite, &km).expect("keymat");
        sad.insert_inbound(InboundSa::new(spi, keys, now, None).expect("spi"))
            .expect("distinct");
    }
    State { sad, now }
}

fuzz_target!(|data: &[u8]| {
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let st = guard.get_or_insert_with(init);
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if sel & 0x80 != 0 && bytes.len() >= 4 {
        bytes[..4].copy_from_slice(&SPIS[usize::from(sel & 1)].to_be_bytes());
    }
    let received = if sel & 0x40 != 0 {
        Received::RawIp(&mut bytes)
    } else {
        Received::Udp {
            src: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            ecn: sel & 3,
            esp: &mut bytes,
        }
    };
    let mut out = vec![0u8; rest.len() + 64];
    let r = if sel & 0x20 != 0 {
        tunnel_unprotect(&mut st.sad, st.now, received, &mut out)
    } else {
        transport_unprotect(&mut st.sad, st.now, received, &mut out)
    };
    assert!(r.is_err(), "random bytes delivered");
    let _ = r.map_err(|e| e.as_str());
});
