//! Packets for the ace-node tests.

#![allow(dead_code)] // each test file uses its own part

use std::net::IpAddr;

use ace_node::scope_filter::write_udp_packet;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An IP/UDP packet `src:sport → dst:dport` carrying `payload`, at the
/// start of a 2 KiB buffer (room for an answer); the buffer and the
/// packet's length.
pub fn udp_packet(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> (Vec<u8>, usize) {
    let mut buf = vec![0u8; 2048];
    let len = write_udp_packet((src, sport), (dst, dport), payload, &mut buf).unwrap();
    (buf, len)
}
