//! The IKEv2 endpoint under a hostile network: a live PSK exchange between
//! an initiator and a responder (then a Child SA rekey, an IKE SA rekey and
//! a DELETE) where the fuzz input decides the fate of every datagram —
//! deliver, drop, duplicate, flip a byte, truncate, or inject the input's
//! own bytes — and when the clock jumps. Nothing may panic, and whatever
//! pairs come up must fit together.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ikev2::config::key_id;
use ikev2::payload::TrafficSelector;
use ikev2::{
    ChildPolicy, Config, Credential, Endpoint, Event, InitiatorParams, Mode, PeerAuth, PeerEntry,
    Secret,
};
use libfuzzer_sys::fuzz_target;

fn policy(l: Ipv4Addr, r: Ipv4Addr) -> ChildPolicy {
    ChildPolicy {
        mode: Mode::Transport,
        local_ts: vec![TrafficSelector::host_v4(l)],
        remote_ts: vec![TrafficSelector::host_v4(r)],
        lifetime: Duration::from_secs(60),
    }
}

fuzz_target!(|data: &[u8]| {
    let (ia, ra) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let (i_addr, r_addr) = (
        SocketAddr::new(ia.into(), 500),
        SocketAddr::new(ra.into(), 500),
    );
    let k = Secret::from_slice(&[7u8; 32]);
    let mut now = Instant::now();
    let cfg = Config {
        fragment_mtu: 256,
        cookie_threshold: usize::from(data.first().copied().unwrap_or(9) % 4),
        ..Config::default()
    };
    let mut i = Endpoint::new(cfg.clone()).expect("endpoint");
    let mut r = Endpoint::new(cfg).expect("endpoint");
    r.authorize_peer(PeerEntry {
        id: key_id(b"kid"),
        auth: PeerAuth::Psk(k.clone()),
        local_id: key_id(b"rs"),
        credential: Credential::Psk(k.clone()),
        child: policy(ra, ia),
        not_after: now + Duration::from_secs(3600),
        tag: 1,
    });
    let id = i
        .initiate(
            now,
            i_addr,
            r_addr,
            InitiatorParams {
                local_id: key_id(b"kid"),
                credential: Credential::Psk(k.clone()),
                peer_id: None,
                peer_auth: PeerAuth::Psk(k),
                child: policy(ia, ra),
                peer_natt_port: 4500,
                not_after: None,
                tag: 2,
            },
        )
        .expect("initiate");
    let mut input = data.iter().copied();
    let mut ups: Vec<(u32, u32, Vec<u8>, Vec<u8>)> = Vec::new();
    for round in 0..200 {
        let mut moved = false;
        for to_r in [true, false] {
            let src = if to_r { &mut i } else { &mut r };
            let Some(t) = src.poll_transmit() else {
                continue;
            };
            moved = true;
            let op = input.next().unwrap_or(0);
            let mut bytes = t.payload.clone();
            let mut copies = 1;
            match op % 8 {
                0 => copies = 0,
                1 => copies = 2,
                2 => {
                    let at = usize::from(input.next().unwrap_or(0)) % bytes.len().max(1);
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= input.next().unwrap_or(1) | 1;
                    }
                }
                3 => bytes.truncate(usize::from(input.next().unwrap_or(0)) % bytes.len().max(1)),
                4 => {
                    let n = usize::from(input.next().unwrap_or(0));
                    bytes = input.by_ref().take(n).collect();
                }
                _ => {}
            }
            let dst = if to_r { &mut r } else { &mut i };
            for _ in 0..copies {
                dst.handle(now, t.remote, t.local, &bytes);
            }
        }
        for ep in [&mut i, &mut r] {
            while let Some(e) = ep.poll_event() {
                if let Event::ChildSaUp(c) = e {
                    ups.push((
                        c.spi_in,
                        c.spi_out,
                        c.keymat_in.as_bytes().to_vec(),
                        c.keymat_out.as_bytes().to_vec(),
                    ));
                }
            }
        }
        if round == 60 {
            for spi in i.child_spis(id) {
                let _ = i.rekey_child(now, id, spi);
            }
            let _ = i.rekey_ike(now, id);
        }
        if round == 120 {
            let _ = i.delete_ike(now, id);
        }
        if !moved {
            let step = u64::from(input.next().unwrap_or(0)) * 50;
            now += Duration::from_millis(step.max(1));
            i.handle_timeout(now);
            r.handle_timeout(now);
        }
    }
    // Any pair both sides installed fits together.
    for a in &ups {
        for b in &ups {
            if a.0 == b.1 && a.1 == b.0 {
                assert_eq!(a.2, b.3);
                assert_eq!(a.3, b.2);
            }
        }
    }
});
