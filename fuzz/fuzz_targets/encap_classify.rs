//! Arbitrary UDP payloads through RFC 3948 classification and the
//! transport-mode UDP parser: nothing may panic, views stay in bounds.
#![no_main]

use ipsec_dp::transport::verify_udp_checksum;
use ipsec_dp::{classify, parse_udp, Classified};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match classify(data) {
        Ok(Classified::Esp(esp)) => {
            assert_eq!(esp, data);
            assert!(esp.len() >= 8 && esp[..4] != [0, 0, 0, 0]);
        }
        Ok(Classified::Ike(ike)) => {
            assert_eq!(&data[..4], &[0, 0, 0, 0]);
            assert_eq!(ike, &data[4..]);
        }
        Ok(Classified::Keepalive) => assert_eq!(data, &[0xFF]),
        Err(_) => {}
    }

    if let Ok(udp) = parse_udp(data) {
        assert!(udp.payload.len() + 8 <= data.len());
        let v4 = "192.0.2.1".parse().expect("address");
        let v6 = "2001:db8::1".parse().expect("address");
        let _ = verify_udp_checksum(v4, v4, data);
        let _ = verify_udp_checksum(v6, v6, data);
    }
});
