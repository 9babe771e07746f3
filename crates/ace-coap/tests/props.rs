//! Property tests: peer input never panics; requests and responses survive
//! the round trip; block-wise transfers complete under loss.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ace_coap::{
    Config, Endpoint, Event, Message, MessageType, Method, Request, Response, ResponseCode,
};
use common::*;
use proptest::prelude::*;

/// A server that answers every request, fed arbitrary datagrams.
fn feed_server(datagrams: &[Vec<u8>]) {
    let t0 = Instant::now();
    let mut server: Endpoint<u8> = Endpoint::new(Config::default(), 0);
    let mut client: Endpoint<u8> = Endpoint::new(Config::default(), 1);
    client.request(t0, 0, Request::new(Method::Get, "/x"), true);
    for (i, d) in datagrams.iter().enumerate() {
        let now = t0 + Duration::from_millis(500 * i as u64);
        server.handle_datagram(now, (i % 3) as u8, d);
        client.handle_datagram(now, 0, d);
        while let Some(ev) = server.poll_event() {
            if let Event::Request { id, request, .. } = ev {
                let resp =
                    Response::new(ResponseCode::Content).with_payload(0, request.payload.repeat(3));
                server.respond(now, id, resp).unwrap();
            }
        }
        server.handle_timeout(now);
        client.handle_timeout(now);
        while server.poll_transmit().is_some() {}
        while client.poll_transmit().is_some() {}
        while client.poll_event().is_some() {}
    }
}

/// The body of `fuzz/fuzz_targets/coap_endpoint.rs`, kept identical so the
/// fuzz logic is exercised by `cargo test` too.
fn fuzz_one(data: &[u8]) {
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
}

fn method() -> impl Strategy<Value = Method> {
    proptest::sample::select(Method::ALL.to_vec())
}

fn response_code() -> impl Strategy<Value = ResponseCode> {
    (prop_oneof![Just(2u8), Just(4u8), Just(5u8)], 0u8..32)
        .prop_filter("2.31 is the Block1 Continue", |(c, d)| {
            !(*c == 2 && *d == 31)
        })
        .prop_map(|(c, d)| ResponseCode::from_code((c << 5) | d).unwrap())
}

/// Deterministic loss: each distinct datagram is dropped at most twice, so
/// with MAX_RETRANSMIT = 4 every exchange completes.
fn lossy(seed: u64, percent: u64) -> Loss {
    let mut state = seed | 1;
    let mut drops: HashMap<Vec<u8>, u32> = HashMap::new();
    Box::new(move |_, bytes| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if state % 100 >= percent {
            return false;
        }
        let n = drops.entry(bytes.to_vec()).or_default();
        if *n >= 2 {
            return false;
        }
        *n += 1;
        true
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_datagrams_never_panic(datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..16)) {
        feed_server(&datagrams);
    }

    #[test]
    fn fuzz_target_body_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzz_one(&data);
    }

    #[test]
    fn structured_messages_never_panic(
        msgs in proptest::collection::vec(
            (0u8..4, 0u8..0x50, 0u16..6, proptest::collection::vec(any::<u8>(), 0..3),
             proptest::collection::vec((proptest::sample::select(vec![4u16, 11, 12, 15, 23, 27, 28, 60, 17, 3]),
                                        proptest::collection::vec(any::<u8>(), 0..4)), 0..5),
             0usize..200, any::<u8>()),
            1..40)
    ) {
        let mut data = Vec::new();
        for (mtype, code, mid, token, options, plen, ctrl) in msgs {
            let mtype = [MessageType::Confirmable, MessageType::NonConfirmable,
                         MessageType::Acknowledgement, MessageType::Reset][usize::from(mtype)];
            let mut m = Message { mtype, code, message_id: mid, token, options: vec![], payload: vec![7; plen] };
            for (n, v) in options {
                m.push_option(n, v);
            }
            let Ok(bytes) = m.emit() else { continue };
            if bytes.len() > 255 {
                continue;
            }
            data.push(ctrl);
            data.push(bytes.len() as u8);
            data.extend_from_slice(&bytes);
        }
        fuzz_one(&data);
    }

    #[test]
    fn mutated_requests_never_panic(
        path in "[a-z]{0,8}",
        payload in proptest::collection::vec(any::<u8>(), 0..40),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let t0 = Instant::now();
        let mut client: Endpoint<u8> = Endpoint::new(Config::default(), 9);
        client.request(t0, 0, Request::new(Method::Post, format!("/{path}")).with_query("q=1").with_payload(60, payload), true);
        let (_, mut d) = client.poll_transmit().unwrap();
        for (at, x) in flips {
            let n = d.len();
            d[at % n] ^= x;
        }
        let keep = d.len() - cut % (d.len() / 2 + 1);
        d.truncate(keep);
        feed_server(&[d.clone(), d]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn request_response_round_trip(
        method in method(),
        segments in proptest::collection::vec("[a-zA-Z0-9._~-]{0,12}", 0..4),
        query in proptest::collection::vec("[ -~]{0,20}", 0..3),
        cf in proptest::option::of(any::<u16>()),
        payload in proptest::collection::vec(any::<u8>(), 0..1500),
        code in response_code(),
        resp_cf in proptest::option::of(any::<u16>()),
        resp_payload in proptest::collection::vec(any::<u8>(), 0..1500),
        confirmable in any::<bool>(),
    ) {
        let path = format!("/{}", segments.join("/"));
        let req = Request { method, path, query, content_format: cf, payload };
        let resp = Response { code, content_format: resp_cf, payload: resp_payload };
        let mut p = Pair::default_pair();
        let r = resp.clone();
        p.handler = Box::new(move |_| Some(r.clone()));
        let id = p.request(req.clone(), confirmable);
        p.run_until_client_event(Duration::from_secs(600));
        prop_assert_eq!(p.server_requests.len(), 1);
        prop_assert_eq!(&p.server_requests[0].1, &req);
        prop_assert_eq!(p.single_response(id), resp);
    }

    #[test]
    fn blockwise_round_trip_under_loss(
        up in 0usize..20_000,
        down in 0usize..20_000,
        seed in any::<u64>(),
        percent in 0u64..30,
        szx in 2u8..=6,
    ) {
        let cfg = Config { block_szx: szx, ..Config::default() };
        let mut p = Pair::new(cfg.clone(), cfg);
        p.loss = lossy(seed, percent);
        let down_body = body(down);
        let d = down_body.clone();
        p.handler = Box::new(move |_| Some(Response::new(ResponseCode::Changed).with_payload(42, d.clone())));
        let id = p.request(Request::new(Method::Post, "/token").with_payload(19, body(up)), true);
        p.run_until_client_event(Duration::from_secs(3600));
        prop_assert_eq!(p.server_requests.len(), 1, "one request event");
        prop_assert_eq!(&p.server_requests[0].1.payload, &body(up));
        let resp = p.single_response(id);
        prop_assert_eq!(resp.code, ResponseCode::Changed);
        prop_assert_eq!(resp.content_format, Some(42));
        prop_assert_eq!(resp.payload, down_body);
        // Nothing is left behind on the client.
        prop_assert_eq!(p.client.pending_requests(), 0);
    }
}
