//! RFC 3948 classification on UDP 4500 and the transport-mode UDP datagram.

use std::net::IpAddr;

use ipsec_dp::consts::{NAT_KEEPALIVE, NON_ESP_MARKER};
use ipsec_dp::encap::{keepalive, write_ike};
use ipsec_dp::transport::verify_udp_checksum;
use ipsec_dp::{classify, parse_udp, write_udp, Classified, EncapError, UdpError};

#[test]
fn keepalive_is_a_single_0xff_octet() {
    assert_eq!(classify(&[NAT_KEEPALIVE]), Ok(Classified::Keepalive));
    assert_eq!(classify(&keepalive()), Ok(Classified::Keepalive));
    assert_eq!(classify(&[0x00]), Err(EncapError::Truncated));
    assert_eq!(classify(&[0xFF, 0xFF]), Err(EncapError::Truncated));
    assert_eq!(classify(&[]), Err(EncapError::Empty));
}

#[test]
fn non_esp_marker_announces_ike() {
    let ike = [0x11u8; 28];
    let mut buf = [0u8; 64];
    let n = write_ike(&ike, &mut buf).unwrap();
    assert_eq!(&buf[..4], &NON_ESP_MARKER);
    assert_eq!(classify(&buf[..n]), Ok(Classified::Ike(&ike[..])));
    assert_eq!(classify(&NON_ESP_MARKER), Err(EncapError::Truncated));
    assert!(write_ike(&ike, &mut [0u8; 31]).is_none());
}

#[test]
fn non_zero_spi_is_esp() {
    let esp = [0, 0, 0x10, 0x00, 0, 0, 0, 1, 0xAA, 0xBB];
    assert_eq!(classify(&esp), Ok(Classified::Esp(&esp[..])));
    // SPI non-zero but shorter than the 8-octet ESP header
    assert_eq!(classify(&[0, 0, 1, 0, 0, 0, 1]), Err(EncapError::Truncated));
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// Expected datagrams computed independently (Python struct/ipaddress, RFC 768
// and RFC 8200 §8.1 pseudo-headers).
const UDP4: &str = "1633f0b00011336668656c6c6f20455350";
const UDP6: &str = "1633f0b00012c40368656c6c6f2045535021";

#[test]
fn udp_checksum_over_the_ipv4_pseudo_header() {
    let mut out = [0u8; 64];
    let n = write_udp(
        5683,
        61616,
        ip("192.0.2.1"),
        ip("198.51.100.7"),
        b"hello ESP",
        &mut out,
    )
    .unwrap();
    assert_eq!(hex::encode(&out[..n]), UDP4);
    assert!(verify_udp_checksum(
        ip("192.0.2.1"),
        ip("198.51.100.7"),
        &out[..n]
    ));
    assert!(!verify_udp_checksum(
        ip("192.0.2.2"),
        ip("198.51.100.7"),
        &out[..n]
    ));
    let v = parse_udp(&out[..n]).unwrap();
    assert_eq!(
        (v.src_port, v.dst_port, v.payload),
        (5683, 61616, &b"hello ESP"[..])
    );
}

#[test]
fn udp_checksum_over_the_ipv6_pseudo_header() {
    let mut out = [0u8; 64];
    let (s, d) = (ip("2001:db8::1"), ip("2001:db8::2:7"));
    let n = write_udp(5683, 61616, s, d, b"hello ESP!", &mut out).unwrap();
    assert_eq!(hex::encode(&out[..n]), UDP6);
    assert!(verify_udp_checksum(s, d, &out[..n]));
    let mut zero = out[..n].to_vec();
    zero[6] = 0;
    zero[7] = 0;
    assert!(
        !verify_udp_checksum(s, d, &zero),
        "zero checksum is invalid over IPv6"
    );
}

#[test]
fn udp_length_field_is_validated() {
    assert_eq!(parse_udp(&[0; 7]), Err(UdpError::Truncated));
    // length 7 < header
    let short = [0, 1, 0, 2, 0, 7, 0, 0];
    assert_eq!(
        parse_udp(&short),
        Err(UdpError::BadLength {
            field: 7,
            available: 8
        })
    );
    // length beyond the bytes
    let long = [0, 1, 0, 2, 0, 10, 0, 0, 9];
    assert_eq!(
        parse_udp(&long),
        Err(UdpError::BadLength {
            field: 10,
            available: 9
        })
    );
    // trailing octets beyond Length are ignored
    let trailing = [0, 1, 0, 2, 0, 9, 0, 0, 7, 8, 9];
    assert_eq!(parse_udp(&trailing).unwrap().payload, &[7]);
}

#[test]
fn write_udp_refuses_bad_inputs() {
    let mut out = [0u8; 16];
    assert_eq!(
        write_udp(1, 2, ip("192.0.2.1"), ip("::1"), b"", &mut out),
        Err(UdpError::AddressFamilyMismatch)
    );
    assert_eq!(
        write_udp(1, 2, ip("192.0.2.1"), ip("192.0.2.2"), &[0; 9], &mut out),
        Err(UdpError::BufferTooSmall)
    );
    let big = vec![0u8; 65528];
    let mut out = vec![0u8; 70000];
    assert_eq!(
        write_udp(1, 2, ip("192.0.2.1"), ip("192.0.2.2"), &big, &mut out),
        Err(UdpError::TooLong)
    );
    assert_eq!(
        write_udp(1, 2, ip("192.0.2.1"), ip("192.0.2.2"), &big[1..], &mut out),
        Ok(65535)
    );
}
