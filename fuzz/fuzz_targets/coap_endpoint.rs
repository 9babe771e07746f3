//! Feed arbitrary datagrams to an `ace_coap::Endpoint` acting as server
//! (answering every request, sometimes late, sometimes block-wise) and as a
//! client with requests in flight. It must never panic.
//!
//! Input layout, repeated: one control byte, one length byte, then that many
//! bytes of datagram. Control bits: 0-1 peer, 2-4 clock step, 5 run timers,
//! 6 answer late.
#![no_main]

use std::time::{Duration, Instant};

use ace_coap::{Config, Endpoint, Event, Method, Request, Response, ResponseCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut now = t0;
    let config = Config {
        max_dedup_entries: 64,
        max_body: 8 * 1024,
        block_szx: 4,
        ..Config::default()
    };
    let mut ep: Endpoint<u8> = Endpoint::new(config, 0);
    ep.request(now, 0, Request::new(Method::Get, "/x"), true);
    ep.request(
        now,
        1,
        Request::new(Method::Post, "/token").with_payload(19, vec![0xA0; 700]),
        false,
    );
    let mut late = Vec::new();

    let mut rest = data;
    while let [ctrl, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;

        now += Duration::from_millis(u64::from((ctrl >> 2) & 7) * 700);
        ep.handle_datagram(now, ctrl & 3, datagram);
        if ctrl & 0x20 != 0 {
            ep.handle_timeout(now);
        }
        while let Some(ev) = ep.poll_event() {
            if let Event::Request { id, request, .. } = ev {
                if ctrl & 0x40 != 0 {
                    late.push(id);
                    continue;
                }
                let mut body = request.payload;
                body.extend_from_slice(request.path.as_bytes());
                let body = body.repeat(1 + usize::from(*len) % 8);
                let _ = ep.respond(
                    now,
                    id,
                    Response::new(ResponseCode::Content).with_payload(60, body),
                );
            }
        }
        if ctrl & 0x60 == 0x60 {
            for id in late.drain(..) {
                let _ = ep.respond(now, id, Response::new(ResponseCode::Changed));
            }
        }
        while ep.poll_transmit().is_some() {}
        let _ = ep.poll_timeout();
    }
    // Run every remaining timer to the end.
    for _ in 0..64 {
        let Some(t) = ep.poll_timeout() else { break };
        now = now.max(t);
        ep.handle_timeout(now);
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
    }
});
