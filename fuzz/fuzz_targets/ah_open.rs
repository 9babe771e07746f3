//! Arbitrary bytes into an inbound AH SA (verify, transport and tunnel
//! unprotect): nothing panics and nothing random authenticates. Then a
//! genuine packet around the input, with one bit flipped in an immutable
//! place, must fail.
#![no_main]

use std::time::Instant;

use ipsec_dp::ah::{peek_spi, AhInbound, AhKey, AhOutbound};
use ipsec_dp::ip::{Ipv4Packet, Ipv4Repr};
use libfuzzer_sys::fuzz_target;

const SPI: u32 = 0x0000_3000;

fn key() -> AhKey {
    AhKey::new(&[0x5c; 32]).expect("32-byte key")
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut rx = AhInbound::new(SPI, key(), now, None).expect("spi");
    let mut out = vec![0u8; data.len() + 64];
    let _ = peek_spi(data);
    assert!(rx.verify(now, data).is_err(), "random bytes authenticated");
    assert!(rx.unprotect_transport(now, data, &mut out).is_err());
    assert!(rx.unprotect_tunnel(now, data, &mut out).is_err());

    // A genuine IPv4 packet carrying the input.
    if data.len() > 60_000 {
        return;
    }
    let mut pkt = vec![0u8; 20 + data.len()];
    pkt[20..].copy_from_slice(data);
    Ipv4Repr {
        src_addr: [192, 0, 2, 1].into(),
        dst_addr: [198, 51, 100, 7].into(),
        protocol: 17,
        payload_len: data.len(),
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 1,
        dont_frag: true,
    }
    .emit(&mut pkt)
    .expect("emit");
    let mut tx = AhOutbound::new(SPI, key(), now, None).expect("spi");
    let mut wire = vec![0u8; pkt.len() + 28];
    let p = tx.protect_transport(now, &pkt, &mut wire).expect("protect");
    let mut rx = AhInbound::new(SPI, key(), now, None).expect("spi");
    let mut back = vec![0u8; pkt.len()];
    let u = rx
        .unprotect_transport(now, &wire[..p.len], &mut back)
        .expect("genuine");
    assert_eq!(&back[..u.len], &pkt[..]);
    if let Some(&b) = data.last() {
        // Flip a bit in the payload (immutable) of a fresh copy.
        let mut t = wire[..p.len].to_vec();
        let i = 48 + usize::from(b) % data.len();
        t[i] ^= 1 << (b % 8);
        Ipv4Packet::new_unchecked(&mut t[..]).fill_checksum();
        let mut rx2 = AhInbound::new(SPI, key(), now, None).expect("spi");
        assert!(rx2.verify(now, &t).is_err(), "tampered packet verified");
    }
});
