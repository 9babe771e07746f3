//! The gateway's offload code with arbitrary input: a virtio-net header and
//! packet as the TUN device hands them over (segmentation, checksum
//! completion), and arbitrary packets through the coalescer that joins
//! decrypted segments before the TUN write. Must never panic.
#![no_main]

use ipsec_io::offload::{for_each_segment, TcpCoalescer};
use ipsec_io::tun::VirtioNetHdr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // TUN → network: header + (super-)packet.
        let Some(hdr) = rest.get(..VirtioNetHdr::LEN).and_then(VirtioNetHdr::parse) else {
            return;
        };
        let mut packet = rest.get(VirtioNetHdr::LEN..).unwrap_or(&[]).to_vec();
        let mut scratch = vec![0u8; 65_536];
        let _ = for_each_segment(&hdr, &mut packet, &mut scratch, |seg| {
            std::hint::black_box(seg.len());
        });
    } else {
        // Network → TUN: a burst of packets, cut at 0xFF 0xFE markers.
        let mut c = TcpCoalescer::new();
        if mode & 2 != 0 {
            c.stop_joining_udp();
        }
        for p in rest.split(|&b| b == 0xFF) {
            if !c.push(p) {
                while c.finish().is_some() {}
                let _ = c.push(p);
            }
        }
        while c.finish().is_some() {}
    }
});
