//! RFC 7252 / RFC 7959 scenarios between two endpoints with a fake clock.

mod common;

use std::time::Duration;

use ace_coap::consts::{option, APPLICATION_ACE_CBOR, APPLICATION_CBOR};
use ace_coap::{
    BlockError, BlockOption, Config, Endpoint, Event, FailReason, Message, MessageType, Method,
    Request, Response, ResponseCode,
};
use common::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn block_of(msg: &Message, n: u16) -> Option<BlockOption> {
    msg.option(n).map(|v| BlockOption::decode(v).unwrap())
}

#[test]
fn confirmable_get_gets_piggybacked_response() {
    let mut p = Pair::default_pair();
    let id = p.request(
        Request::new(Method::Get, "/authz-info").with_query("a=b"),
        true,
    );
    p.run_until_client_event(secs(300));
    let resp = p.single_response(id);
    assert_eq!(resp.code, ResponseCode::Content);
    assert_eq!(resp.payload, b"GET /authz-info [\"a=b\"] ".to_vec());
    assert_eq!(p.wire.len(), 2);
    let (req, ack) = (p.wire[0].msg(), p.wire[1].msg());
    assert_eq!(req.mtype, MessageType::Confirmable);
    assert_eq!(ack.mtype, MessageType::Acknowledgement);
    assert_eq!(req.message_id, ack.message_id);
    assert_eq!(req.token.len(), 8);
    assert_eq!(req.token, ack.token);
    assert_eq!(p.server_requests.len(), 1);
    assert_eq!(p.client.pending_requests(), 0);
    assert_eq!(p.server.pending_incoming(), 0);
}

#[test]
fn lost_request_is_retransmitted() {
    let mut p = Pair::default_pair();
    let mut first = true;
    p.loss = Box::new(move |dir, _| {
        let drop = dir == Dir::ToServer && first;
        first = false;
        drop
    });
    let id = p.request(
        Request::new(Method::Post, "/token").with_payload(APPLICATION_ACE_CBOR, vec![0xA0]),
        true,
    );
    p.run_until_client_event(secs(300));
    assert_eq!(p.single_response(id).code, ResponseCode::Content);
    let reqs = p.sent(Dir::ToServer);
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].bytes, reqs[1].bytes,
        "retransmission is byte-identical"
    );
    assert!(reqs[1].at >= secs(2) && reqs[1].at <= Duration::from_millis(3000));
    assert_eq!(p.client.counters().retransmissions, 1);
    assert_eq!(p.server_requests.len(), 1);
}

#[test]
fn lost_response_is_resent_from_the_dedup_cache() {
    let mut p = Pair::default_pair();
    let mut first = true;
    p.loss = Box::new(move |dir, _| {
        let drop = dir == Dir::ToClient && first;
        if dir == Dir::ToClient {
            first = false;
        }
        drop
    });
    let id = p.request(
        Request::new(Method::Post, "/token").with_payload(APPLICATION_ACE_CBOR, vec![1, 2, 3]),
        true,
    );
    p.run_until_client_event(secs(300));
    assert_eq!(p.single_response(id).code, ResponseCode::Content);
    // The application saw the POST once; the server sent the same ACK twice.
    assert_eq!(p.server_requests.len(), 1);
    let acks = p.sent(Dir::ToClient);
    assert_eq!(acks.len(), 2);
    assert_eq!(acks[0].bytes, acks[1].bytes);
    assert_eq!(p.server.counters().duplicates, 1);
}

#[test]
fn timeout_after_max_retransmit_with_exact_backoff() {
    // ACK_RANDOM_FACTOR 1 makes the schedule exact: 0, 2, 6, 14, 30, fail at 62.
    let cfg = Config {
        ack_random_factor: 1.0,
        ..Config::default()
    };
    let mut p = Pair::new(cfg, Config::default());
    p.loss = Box::new(|_, _| true);
    let id = p.request(Request::new(Method::Get, "/x"), true);
    p.run_until_client_event(secs(1000));
    let times: Vec<Duration> = p.sent(Dir::ToServer).iter().map(|s| s.at).collect();
    assert_eq!(times, vec![secs(0), secs(2), secs(6), secs(14), secs(30)]);
    assert_eq!(p.elapsed(), secs(62));
    assert_eq!(
        p.client_events,
        vec![Event::Failed {
            id,
            peer: SERVER,
            reason: FailReason::Timeout
        }]
    );
    assert_eq!(p.client.counters().timeouts, 1);
    assert_eq!(p.client.counters().retransmissions, 4);
    assert_eq!(p.client.poll_timeout(), None);
}

#[test]
fn randomized_backoff_doubles_from_a_value_in_range() {
    for seed in 0..20 {
        let mut client: Endpoint<u8> = Endpoint::new(Config::default(), seed);
        let t0 = std::time::Instant::now();
        client.request(t0, 1, Request::new(Method::Get, "/"), true);
        let mut sends = vec![];
        let mut now = t0;
        while client.poll_event().is_none() {
            while client.poll_transmit().is_some() {
                sends.push(now - t0);
            }
            now = client.poll_timeout().unwrap();
            client.handle_timeout(now);
        }
        let fail_at = now - t0;
        assert_eq!(sends.len(), 5);
        let t = sends[1];
        assert!(t >= secs(2) && t <= secs(3), "initial timeout {t:?}");
        for (i, s) in sends.iter().enumerate() {
            // Retransmission i is sent after (2^i - 1) * T.
            let expect = t * ((1 << i) - 1);
            assert!(
                s.abs_diff(expect) < Duration::from_micros(10),
                "{i}: {s:?} vs {expect:?}"
            );
        }
        assert!(fail_at.abs_diff(t * 31) < Duration::from_micros(10));
    }
}

#[test]
fn duplicate_request_yields_one_event_and_identical_responses() {
    // What keeps a retransmitted POST /token from issuing two tokens.
    let t0 = std::time::Instant::now();
    let mut client: Endpoint<&str> = Endpoint::new(Config::default(), 7);
    let mut server: Endpoint<&str> = Endpoint::new(Config::default(), 8);
    client.request(
        t0,
        SERVER,
        Request::new(Method::Post, "/token")
            .with_payload(APPLICATION_ACE_CBOR, vec![0xA1, 0x01, 0x02]),
        true,
    );
    let (_, datagram) = client.poll_transmit().unwrap();

    server.handle_datagram(t0, CLIENT, &datagram);
    let Some(Event::Request { id, request, .. }) = server.poll_event() else {
        panic!("no request event")
    };
    assert_eq!(request.path, "/token");
    // Duplicate before the answer: no event, nothing sent (documented).
    server.handle_datagram(t0, CLIENT, &datagram);
    assert!(server.poll_event().is_none());
    assert!(server.poll_transmit().is_none());

    server
        .respond(
            t0,
            id,
            Response::new(ResponseCode::Created)
                .with_payload(APPLICATION_ACE_CBOR, b"token-1".to_vec()),
        )
        .unwrap();
    let (_, first) = server.poll_transmit().unwrap();
    // Duplicate after the answer: the cached ACK again, still no event.
    server.handle_datagram(t0 + secs(3), CLIENT, &datagram);
    assert!(server.poll_event().is_none());
    let (_, second) = server.poll_transmit().unwrap();
    assert_eq!(first, second);
    assert!(server.poll_transmit().is_none());
    assert_eq!(server.counters().duplicates, 2);
    // Answering twice is an error.
    assert!(server
        .respond(t0, id, Response::new(ResponseCode::Created))
        .is_err());

    // After EXCHANGE_LIFETIME the Message ID is forgotten.
    server.handle_timeout(t0 + secs(248));
    server.handle_datagram(t0 + secs(248), CLIENT, &datagram);
    assert!(matches!(server.poll_event(), Some(Event::Request { .. })));
}

#[test]
fn late_answer_goes_out_as_separate_response() {
    let mut p = Pair::default_pair();
    p.handler = Box::new(|_| None);
    let id = p.request(Request::new(Method::Get, "/slow"), true);
    p.pump();
    assert_eq!(p.unanswered.len(), 1);
    // ACK_TIMEOUT/2 later the server sends an empty ACK.
    p.advance_to(secs(1));
    let ack = p.wire.last().unwrap().msg();
    assert_eq!(ack.mtype, MessageType::Acknowledgement);
    assert!(ack.is_empty_message());
    assert_eq!(ack.message_id, p.wire[0].msg().message_id);
    // The client stops retransmitting.
    p.advance_to(secs(20));
    assert_eq!(p.sent(Dir::ToServer).len(), 1);
    // The answer: a CON response, ACKed by the client.
    let inc = p.unanswered.pop().unwrap();
    let now = p.now;
    p.server
        .respond(
            now,
            inc,
            Response::new(ResponseCode::Content).with_payload(APPLICATION_CBOR, vec![0xF5]),
        )
        .unwrap();
    p.pump();
    let resp = p.single_response(id);
    assert_eq!(resp.payload, vec![0xF5]);
    assert_eq!(resp.content_format, Some(APPLICATION_CBOR));
    let n = p.wire.len();
    let (con, client_ack) = (p.wire[n - 2].msg(), p.wire[n - 1].msg());
    assert_eq!(con.mtype, MessageType::Confirmable);
    assert_eq!(client_ack.mtype, MessageType::Acknowledgement);
    assert!(client_ack.is_empty_message());
    assert_eq!(client_ack.message_id, con.message_id);
    // Nothing left to retransmit on either side.
    p.advance_to(secs(200));
    assert_eq!(p.wire.len(), n);
}

#[test]
fn separate_response_retransmitted_when_client_ack_lost() {
    let mut p = Pair::default_pair();
    p.handler = Box::new(|_| None);
    let mut drops = 0;
    p.loss = Box::new(move |dir, bytes| {
        // Drop the client's first ACK of the separate response.
        let m = Message::parse(bytes).unwrap();
        if dir == Dir::ToServer && m.mtype == MessageType::Acknowledgement && drops == 0 {
            drops += 1;
            return true;
        }
        false
    });
    let id = p.request(Request::new(Method::Get, "/slow"), true);
    p.advance_to(secs(5));
    let inc = p.unanswered.pop().unwrap();
    let now = p.now;
    p.server
        .respond(now, inc, Response::new(ResponseCode::Content))
        .unwrap();
    p.advance_to(secs(100));
    // One response event even though the CON response arrived twice.
    assert_eq!(p.single_response(id).code, ResponseCode::Content);
    assert_eq!(p.client.counters().duplicates, 1);
    assert_eq!(p.server.counters().retransmissions, 1);
}

#[test]
fn reset_fails_the_request() {
    let t0 = std::time::Instant::now();
    let mut client: Endpoint<&str> = Endpoint::new(Config::default(), 3);
    let id = client.request(t0, SERVER, Request::new(Method::Get, "/"), true);
    let (_, bytes) = client.poll_transmit().unwrap();
    let req = Message::parse(&bytes).unwrap();
    // A RST from another peer does not match.
    let rst = Message::empty(MessageType::Reset, req.message_id)
        .emit()
        .unwrap();
    client.handle_datagram(t0, "someone-else", &rst);
    assert!(client.poll_event().is_none());
    assert_eq!(client.counters().unmatched_ack, 1);
    client.handle_datagram(t0, SERVER, &rst);
    assert_eq!(
        client.poll_event(),
        Some(Event::Failed {
            id,
            peer: SERVER,
            reason: FailReason::Reset
        })
    );
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn empty_confirmable_ping_gets_reset() {
    let t0 = std::time::Instant::now();
    let mut server: Endpoint<&str> = Endpoint::new(Config::default(), 3);
    server.handle_datagram(t0, CLIENT, &[0x40, 0x00, 0x12, 0x34]);
    assert_eq!(
        server.poll_transmit(),
        Some((CLIENT, vec![0x70, 0x00, 0x12, 0x34]))
    );
    assert_eq!(server.counters().pings, 1);
}

#[test]
fn token_mismatch_and_unknown_token_are_rejected() {
    let t0 = std::time::Instant::now();
    let mut client: Endpoint<&str> = Endpoint::new(Config::default(), 3);
    let id = client.request(t0, SERVER, Request::new(Method::Get, "/"), true);
    let (_, bytes) = client.poll_transmit().unwrap();
    let req = Message::parse(&bytes).unwrap();
    let mut ack = Message {
        mtype: MessageType::Acknowledgement,
        code: ResponseCode::Content.code(),
        message_id: req.message_id,
        token: vec![9; 8],
        options: vec![],
        payload: b"wrong".to_vec(),
    };
    client.handle_datagram(t0, SERVER, &ack.emit().unwrap());
    assert!(client.poll_event().is_none());
    assert_eq!(client.counters().token_mismatch, 1);

    // A separate CON response with an unknown token gets RST.
    let stray = Message {
        mtype: MessageType::Confirmable,
        code: ResponseCode::Content.code(),
        message_id: 0x4242,
        token: vec![1, 2, 3, 4],
        options: vec![],
        payload: vec![],
    };
    client.handle_datagram(t0, SERVER, &stray.emit().unwrap());
    assert_eq!(
        client.poll_transmit(),
        Some((SERVER, vec![0x70, 0, 0x42, 0x42]))
    );
    // The same as NON is ignored.
    let mut stray_non = stray.clone();
    stray_non.mtype = MessageType::NonConfirmable;
    stray_non.message_id = 0x4243;
    client.handle_datagram(t0, SERVER, &stray_non.emit().unwrap());
    assert!(client.poll_transmit().is_none());
    assert_eq!(client.counters().unknown_token, 2);

    // The right token completes the request.
    ack.token = req.token.clone();
    ack.payload = b"right".to_vec();
    client.handle_datagram(t0, SERVER, &ack.emit().unwrap());
    match client.poll_event() {
        Some(Event::Response {
            id: got, response, ..
        }) => {
            assert_eq!(got, id);
            assert_eq!(response.payload, b"right");
        }
        other => panic!("{other:?}"),
    }
    // A late duplicate ACK matches nothing.
    client.handle_datagram(t0, SERVER, &ack.emit().unwrap());
    assert!(client.poll_event().is_none());
    assert_eq!(client.counters().unmatched_ack, 1);
}

#[test]
fn non_confirmable_request_and_response() {
    let mut p = Pair::default_pair();
    let id = p.request(Request::new(Method::Get, "/n"), false);
    p.run_until_client_event(secs(300));
    assert_eq!(p.single_response(id).code, ResponseCode::Content);
    assert_eq!(p.wire[0].msg().mtype, MessageType::NonConfirmable);
    assert_eq!(p.wire[1].msg().mtype, MessageType::NonConfirmable);
    assert_eq!(p.wire.len(), 2);
}

#[test]
fn non_request_without_response_times_out() {
    let cfg = Config {
        response_timeout: secs(10),
        ..Config::default()
    };
    let mut p = Pair::new(cfg, Config::default());
    p.loss = Box::new(|_, _| true);
    let id = p.request(Request::new(Method::Get, "/n"), false);
    p.run_until_client_event(secs(300));
    assert_eq!(p.elapsed(), secs(10));
    assert_eq!(p.sent(Dir::ToServer).len(), 1, "NON is not retransmitted");
    assert!(
        matches!(p.client_events[..], [Event::Failed { id: got, reason: FailReason::Timeout, .. }] if got == id)
    );
}

#[test]
fn blockwise_upload_of_3000_bytes() {
    let mut p = Pair::default_pair();
    let data = body(3000);
    p.handler = Box::new(|req| {
        Some(
            Response::new(ResponseCode::Changed)
                .with_payload(0, req.payload.len().to_string().into_bytes()),
        )
    });
    let id = p.request(
        Request::new(Method::Put, "/big").with_payload(APPLICATION_CBOR, data.clone()),
        true,
    );
    p.run_until_client_event(secs(300));
    let resp = p.single_response(id);
    assert_eq!(resp.code, ResponseCode::Changed);
    assert_eq!(resp.payload, b"3000");
    assert_eq!(p.server_requests.len(), 1);
    assert_eq!(p.server_requests[0].1.payload, data);
    assert_eq!(
        p.server_requests[0].1.content_format,
        Some(APPLICATION_CBOR)
    );
    // RFC 7959 Figure 6 shape: 1:0/1/1024, 1:1/1/1024, 1:2/0/1024 answered
    // 2.31, 2.31, 2.04 echoing the Block1 option.
    let reqs: Vec<Message> = p.sent(Dir::ToServer).iter().map(|s| s.msg()).collect();
    let resps: Vec<Message> = p.sent(Dir::ToClient).iter().map(|s| s.msg()).collect();
    let b1: Vec<BlockOption> = reqs
        .iter()
        .map(|m| block_of(m, option::BLOCK1).unwrap())
        .collect();
    assert_eq!(
        b1,
        vec![
            BlockOption::new(0, true, 6),
            BlockOption::new(1, true, 6),
            BlockOption::new(2, false, 6)
        ]
    );
    assert_eq!(reqs[0].option(option::SIZE1), Some(&[0x0B, 0xB8][..]));
    assert_eq!(reqs[2].payload.len(), 3000 - 2048);
    let codes: Vec<u8> = resps.iter().map(|m| m.code).collect();
    assert_eq!(codes, vec![0x5F, 0x5F, 0x44]);
    for (req, resp) in reqs.iter().zip(&resps) {
        assert_eq!(
            block_of(req, option::BLOCK1),
            block_of(resp, option::BLOCK1)
        );
        assert_eq!(req.token, resp.token);
    }
}

#[test]
fn blockwise_download_of_5000_bytes_with_a_lost_block() {
    let mut p = Pair::default_pair();
    let data = body(5000);
    let served = data.clone();
    p.handler = Box::new(move |_| {
        Some(Response::new(ResponseCode::Content).with_payload(APPLICATION_CBOR, served.clone()))
    });
    // Lose the response carrying block 2, once.
    let mut lost = false;
    p.loss = Box::new(move |dir, bytes| {
        let m = Message::parse(bytes).unwrap();
        let is_block2 = m
            .option(option::BLOCK2)
            .map(|v| BlockOption::decode(v).unwrap().num)
            == Some(2);
        if dir == Dir::ToClient && is_block2 && !lost {
            lost = true;
            return true;
        }
        false
    });
    let id = p.request(Request::new(Method::Get, "/big"), true);
    p.run_until_client_event(secs(300));
    let resp = p.single_response(id);
    assert_eq!(resp.payload, data);
    assert_eq!(resp.content_format, Some(APPLICATION_CBOR));
    assert_eq!(
        p.server_requests.len(),
        1,
        "later blocks are served without events"
    );
    let resps: Vec<Message> = p.sent(Dir::ToClient).iter().map(|s| s.msg()).collect();
    let nums: Vec<(u32, bool)> = resps
        .iter()
        .map(|m| {
            block_of(m, option::BLOCK2)
                .map(|b| (b.num, b.more))
                .unwrap()
        })
        .collect();
    assert_eq!(
        nums,
        vec![
            (0, true),
            (1, true),
            (2, true),
            (2, true),
            (3, true),
            (4, false)
        ]
    );
    assert_eq!(resps[0].option(option::SIZE2), Some(&[0x13, 0x88][..]));
    assert_eq!(p.client.counters().retransmissions, 1);
    assert_eq!(p.server.counters().duplicates, 1);
    // Follow-up requests: 2:n/0/1024 and no payload.
    let reqs: Vec<Message> = p.sent(Dir::ToServer).iter().map(|s| s.msg()).collect();
    assert_eq!(
        block_of(&reqs[1], option::BLOCK2),
        Some(BlockOption::new(1, false, 6))
    );
    assert!(reqs.iter().all(|m| m.payload.is_empty()));
}

#[test]
fn combined_block1_and_block2_post() {
    let mut p = Pair::default_pair();
    let up = body(2500);
    let down = body(4000);
    let d = down.clone();
    p.handler = Box::new(move |req| {
        assert_eq!(req.payload.len(), 2500);
        Some(Response::new(ResponseCode::Changed).with_payload(APPLICATION_ACE_CBOR, d.clone()))
    });
    let id = p.request(
        Request::new(Method::Post, "/token").with_payload(APPLICATION_ACE_CBOR, up),
        true,
    );
    p.run_until_client_event(secs(300));
    let resp = p.single_response(id);
    assert_eq!(resp.code, ResponseCode::Changed);
    assert_eq!(resp.payload, down);
    assert_eq!(p.server_requests.len(), 1);
    // RFC 7959 Figure 8: final Block1 response carries Block1 and Block2.
    let resps: Vec<Message> = p.sent(Dir::ToClient).iter().map(|s| s.msg()).collect();
    assert_eq!(
        block_of(&resps[2], option::BLOCK1),
        Some(BlockOption::new(2, false, 6))
    );
    assert_eq!(
        block_of(&resps[2], option::BLOCK2),
        Some(BlockOption::new(0, true, 6))
    );
}

#[test]
fn server_with_smaller_blocks_steers_the_client() {
    // RFC 7959 Figure 7: the client starts at 1024, the server prefers 256.
    let small = Config {
        block_szx: 4,
        ..Config::default()
    };
    let mut p = Pair::new(Config::default(), small);
    let data = body(3000);
    p.handler = Box::new(|req| {
        Some(Response::new(ResponseCode::Changed).with_payload(0, req.payload.clone()))
    });
    let id = p.request(
        Request::new(Method::Put, "/big").with_payload(0, data.clone()),
        true,
    );
    p.run_until_client_event(secs(300));
    let resp = p.single_response(id);
    assert_eq!(p.server_requests[0].1.payload, data);
    assert_eq!(resp.payload, data);
    let reqs: Vec<Message> = p.sent(Dir::ToServer).iter().map(|s| s.msg()).collect();
    assert_eq!(
        block_of(&reqs[0], option::BLOCK1),
        Some(BlockOption::new(0, true, 6))
    );
    assert_eq!(
        block_of(&reqs[1], option::BLOCK1),
        Some(BlockOption::new(4, true, 4))
    );
    let resps: Vec<Message> = p.sent(Dir::ToClient).iter().map(|s| s.msg()).collect();
    assert_eq!(
        block_of(&resps[0], option::BLOCK1),
        Some(BlockOption::new(0, true, 4))
    );
}

#[test]
fn reassembly_cap_gives_4_13() {
    let cap = Config {
        max_body: 2000,
        ..Config::default()
    };
    let mut p = Pair::new(Config::default(), cap.clone());
    let id = p.request(
        Request::new(Method::Post, "/big").with_payload(0, body(3000)),
        true,
    );
    p.run_until_client_event(secs(300));
    let resp = p.single_response(id);
    assert_eq!(resp.code, ResponseCode::RequestEntityTooLarge);
    assert!(p.server_requests.is_empty());
    // Size1 = 3000 announced in block 0 already exceeds the cap.
    assert_eq!(p.sent(Dir::ToServer).len(), 1);
    let answer = p.sent(Dir::ToClient)[0].msg();
    assert_eq!(answer.option(option::SIZE1), Some(&[0x07, 0xD0][..]));

    // Without Size1, the cap is hit while reassembling.
    let t0 = std::time::Instant::now();
    let mut server: Endpoint<&str> = Endpoint::new(cap, 1);
    for num in 0..2u32 {
        let m = Message {
            mtype: MessageType::Confirmable,
            code: Method::Post.code(),
            message_id: 100 + num as u16,
            token: vec![1],
            options: vec![(option::BLOCK1, BlockOption::new(num, true, 6).encode())],
            payload: vec![0; 1024],
        };
        server.handle_datagram(t0, CLIENT, &m.emit().unwrap());
    }
    let codes: Vec<u8> = std::iter::from_fn(|| server.poll_transmit())
        .map(|(_, b)| Message::parse(&b).unwrap().code)
        .collect();
    assert_eq!(
        codes,
        vec![
            ResponseCode::Continue.code(),
            ResponseCode::RequestEntityTooLarge.code()
        ]
    );
    assert!(server.poll_event().is_none());
}

#[test]
fn block1_gap_gives_4_08() {
    let t0 = std::time::Instant::now();
    let mut server: Endpoint<&str> = Endpoint::new(Config::default(), 1);
    let block = |num: u32, mid: u16| Message {
        mtype: MessageType::Confirmable,
        code: Method::Put.code(),
        message_id: mid,
        token: vec![1, 2],
        options: vec![
            (option::URI_PATH, b"f".to_vec()),
            (option::BLOCK1, BlockOption::new(num, true, 6).encode()),
        ],
        payload: vec![0; 1024],
    };
    server.handle_datagram(t0, CLIENT, &block(0, 1).emit().unwrap());
    server.handle_datagram(t0, CLIENT, &block(2, 2).emit().unwrap());
    let codes: Vec<u8> = std::iter::from_fn(|| server.poll_transmit())
        .map(|(_, b)| Message::parse(&b).unwrap().code)
        .collect();
    assert_eq!(
        codes,
        vec![
            ResponseCode::Continue.code(),
            ResponseCode::RequestEntityIncomplete.code()
        ]
    );
    assert_eq!(server.counters().block1_incomplete, 1);
}

#[test]
fn option_and_method_errors() {
    let t0 = std::time::Instant::now();
    let mut server: Endpoint<&str> = Endpoint::new(Config::default(), 1);
    let req = |code: u8, mid: u16, options: Vec<(u16, Vec<u8>)>| Message {
        mtype: MessageType::Confirmable,
        code,
        message_id: mid,
        token: vec![7],
        options,
        payload: vec![],
    };
    let cases = [
        // Unknown critical option 2049 (odd) → 4.02.
        (req(1, 1, vec![(2049, vec![1])]), ResponseCode::BadOption),
        // If-Match is critical and not implemented → 4.02.
        (
            req(1, 2, vec![(option::IF_MATCH, vec![1])]),
            ResponseCode::BadOption,
        ),
        // Proxy-Uri → 5.05.
        (
            req(1, 3, vec![(option::PROXY_URI, b"coap://x".to_vec())]),
            ResponseCode::ProxyingNotSupported,
        ),
        // Method 0.08 → 4.05.
        (req(8, 4, vec![]), ResponseCode::MethodNotAllowed),
        // Uri-Path not UTF-8 → 4.00.
        (
            req(1, 5, vec![(option::URI_PATH, vec![0xFF])]),
            ResponseCode::BadRequest,
        ),
        // Block2 with SZX 7 → 4.00.
        (
            req(1, 6, vec![(option::BLOCK2, vec![0x07])]),
            ResponseCode::BadRequest,
        ),
        // Block1 of 4 bytes → 4.02.
        (
            req(2, 7, vec![(option::BLOCK1, vec![0, 0, 0, 0])]),
            ResponseCode::BadOption,
        ),
    ];
    for (msg, want) in cases {
        server.handle_datagram(t0, CLIENT, &msg.emit().unwrap());
        let (_, bytes) = server.poll_transmit().unwrap();
        let ans = Message::parse(&bytes).unwrap();
        assert_eq!(ans.mtype, MessageType::Acknowledgement);
        assert_eq!(ans.message_id, msg.message_id);
        assert_eq!(ans.token, msg.token);
        assert_eq!(ans.code, want.code(), "for {msg:?}");
    }
    assert!(server.poll_event().is_none());
    // An unknown elective option (even number) is ignored.
    server.handle_datagram(
        t0,
        CLIENT,
        &req(1, 9, vec![(2048, vec![1])]).emit().unwrap(),
    );
    assert!(matches!(server.poll_event(), Some(Event::Request { .. })));
    assert_eq!(server.counters().request_bad_option, 3);
}

#[test]
fn malformed_datagrams_are_counted_and_con_is_reset() {
    let t0 = std::time::Instant::now();
    let mut ep: Endpoint<&str> = Endpoint::new(Config::default(), 1);
    // Too short.
    ep.handle_datagram(t0, CLIENT, &[0x40, 0x01]);
    // Version 2: silently ignored.
    ep.handle_datagram(t0, CLIENT, &[0x80, 0x01, 0, 1]);
    // CON with TKL 9: format error → RST.
    ep.handle_datagram(
        t0,
        CLIENT,
        &[0x49, 0x01, 0xAB, 0xCD, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert_eq!(
        ep.poll_transmit(),
        Some((CLIENT, vec![0x70, 0x00, 0xAB, 0xCD]))
    );
    // CON with a payload marker and no payload → RST.
    ep.handle_datagram(t0, CLIENT, &[0x40, 0x01, 0x00, 0x02, 0xFF]);
    assert_eq!(
        ep.poll_transmit(),
        Some((CLIENT, vec![0x70, 0x00, 0x00, 0x02]))
    );
    // Empty message with a token → format error → RST (it is CON).
    ep.handle_datagram(t0, CLIENT, &[0x41, 0x00, 0x00, 0x03, 0x01]);
    assert_eq!(
        ep.poll_transmit(),
        Some((CLIENT, vec![0x70, 0x00, 0x00, 0x03]))
    );
    // NON with option delta 15: ignored.
    ep.handle_datagram(t0, CLIENT, &[0x50, 0x01, 0x00, 0x04, 0xF1, 0x00]);
    // Code class 1 (reserved) in NON: ignored.
    ep.handle_datagram(t0, CLIENT, &[0x50, 0x21, 0x00, 0x05]);
    // Empty NON: ignored.
    ep.handle_datagram(t0, CLIENT, &[0x50, 0x00, 0x00, 0x06]);
    // ACK carrying a request: ignored.
    ep.handle_datagram(t0, CLIENT, &[0x60, 0x01, 0x00, 0x07]);
    assert_eq!(ep.poll_transmit(), None);
    assert!(ep.poll_event().is_none());
    let c = ep.counters();
    assert_eq!(c.datagrams_received, 9);
    assert_eq!((c.too_short, c.bad_version, c.format_errors), (1, 1, 5));
    assert_eq!((c.empty_non, c.malformed_ack), (1, 1));
}

#[test]
fn dedup_cache_is_bounded() {
    let t0 = std::time::Instant::now();
    let cfg = Config {
        max_dedup_entries: 8,
        ..Config::default()
    };
    let mut server: Endpoint<u32> = Endpoint::new(cfg, 1);
    let get = |mid: u16| Message {
        mtype: MessageType::Confirmable,
        code: 1,
        message_id: mid,
        token: vec![],
        options: vec![],
        payload: vec![],
    };
    // 8 unanswered requests fill the cache; the 9th is dropped, not processed
    // without duplicate protection.
    for mid in 0..9u16 {
        server.handle_datagram(t0, 1, &get(mid).emit().unwrap());
    }
    let ids: Vec<_> = std::iter::from_fn(|| server.poll_event())
        .map(|e| match e {
            Event::Request { id, .. } => id,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(ids.len(), 8);
    assert_eq!(server.counters().dedup_full, 1);
    // Answered entries are evicted oldest first to make room.
    for id in ids {
        server
            .respond(t0, id, Response::new(ResponseCode::Content))
            .unwrap();
    }
    for mid in 100..1100u16 {
        server.handle_datagram(t0, 2, &get(mid).emit().unwrap());
        while let Some(Event::Request { id, .. }) = server.poll_event() {
            server
                .respond(t0, id, Response::new(ResponseCode::Content))
                .unwrap();
        }
    }
    assert_eq!(server.counters().dedup_full, 1);
    assert_eq!(server.pending_incoming(), 0);
}

#[test]
fn unanswered_incoming_expires() {
    let t0 = std::time::Instant::now();
    let mut server: Endpoint<u32> = Endpoint::new(Config::default(), 1);
    let m = Message {
        mtype: MessageType::NonConfirmable,
        code: 1,
        message_id: 1,
        token: vec![],
        options: vec![],
        payload: vec![],
    };
    server.handle_datagram(t0, 1, &m.emit().unwrap());
    let Some(Event::Request { id, .. }) = server.poll_event() else {
        panic!()
    };
    server.handle_timeout(t0 + secs(300));
    assert_eq!(server.pending_incoming(), 0);
    assert!(server
        .respond(t0 + secs(300), id, Response::new(ResponseCode::Content))
        .is_err());
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn block2_follow_up_without_stored_body() {
    // A GET for block 1 with nothing stored is handed to the application and
    // the requested block cut from its answer; a POST gets 4.08.
    let t0 = std::time::Instant::now();
    let mut server: Endpoint<u32> = Endpoint::new(Config::default(), 1);
    let req = |code: u8, mid: u16| Message {
        mtype: MessageType::Confirmable,
        code,
        message_id: mid,
        token: vec![5],
        options: vec![(option::BLOCK2, BlockOption::new(1, false, 6).encode())],
        payload: vec![],
    };
    server.handle_datagram(t0, 1, &req(1, 1).emit().unwrap());
    let Some(Event::Request { id, .. }) = server.poll_event() else {
        panic!()
    };
    server
        .respond(
            t0,
            id,
            Response::new(ResponseCode::Content).with_payload(0, body(1500)),
        )
        .unwrap();
    let ans = Message::parse(&server.poll_transmit().unwrap().1).unwrap();
    assert_eq!(
        block_of(&ans, option::BLOCK2),
        Some(BlockOption::new(1, false, 6))
    );
    assert_eq!(ans.payload, body(1500)[1024..].to_vec());

    server.handle_datagram(t0, 2, &req(2, 2).emit().unwrap());
    assert!(server.poll_event().is_none());
    let ans = Message::parse(&server.poll_transmit().unwrap().1).unwrap();
    assert_eq!(ans.code, ResponseCode::RequestEntityIncomplete.code());
}

#[test]
fn block2_etag_change_fails_the_download() {
    let t0 = std::time::Instant::now();
    let mut client: Endpoint<u32> = Endpoint::new(Config::default(), 1);
    let id = client.request(t0, 9, Request::new(Method::Get, "/r"), true);
    let req = Message::parse(&client.poll_transmit().unwrap().1).unwrap();
    let resp = |mid: u16, num: u32, etag: u8| Message {
        mtype: MessageType::Acknowledgement,
        code: ResponseCode::Content.code(),
        message_id: mid,
        token: req.token.clone(),
        options: vec![
            (option::ETAG, vec![etag]),
            (option::BLOCK2, BlockOption::new(num, true, 6).encode()),
        ],
        payload: vec![0; 1024],
    };
    client.handle_datagram(t0, 9, &resp(req.message_id, 0, 1).emit().unwrap());
    let req2 = Message::parse(&client.poll_transmit().unwrap().1).unwrap();
    assert_eq!(
        block_of(&req2, option::BLOCK2),
        Some(BlockOption::new(1, false, 6))
    );
    client.handle_datagram(t0, 9, &resp(req2.message_id, 1, 2).emit().unwrap());
    assert_eq!(
        client.poll_event(),
        Some(Event::Failed {
            id,
            peer: 9,
            reason: FailReason::BlockError(BlockError::EtagMismatch)
        })
    );
}

#[test]
fn block2_follow_up_repeating_the_post_payload_is_not_processed_again() {
    // Some clients resend the request body with each Block2 request
    // (core-wg/corrclar#27); the stored body answers, the POST runs once.
    let t0 = std::time::Instant::now();
    let mut server: Endpoint<u32> = Endpoint::new(Config::default(), 1);
    let post = |mid: u16, block2: Option<BlockOption>| {
        let mut m = Message {
            mtype: MessageType::Confirmable,
            code: Method::Post.code(),
            message_id: mid,
            token: vec![mid as u8],
            options: vec![(option::URI_PATH, b"token".to_vec())],
            payload: vec![0xA0],
        };
        if let Some(b) = block2 {
            m.push_option(option::BLOCK2, b.encode());
        }
        m.emit().unwrap()
    };
    server.handle_datagram(t0, 1, &post(1, None));
    let Some(Event::Request { id, .. }) = server.poll_event() else {
        panic!()
    };
    server
        .respond(
            t0,
            id,
            Response::new(ResponseCode::Created).with_payload(19, body(1500)),
        )
        .unwrap();
    server.handle_datagram(t0, 1, &post(2, Some(BlockOption::new(1, false, 6))));
    assert!(server.poll_event().is_none());
    let answers: Vec<Message> = std::iter::from_fn(|| server.poll_transmit())
        .map(|(_, b)| Message::parse(&b).unwrap())
        .collect();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[1].code, ResponseCode::Created.code());
    assert_eq!(answers[1].payload, body(1500)[1024..].to_vec());
    assert_eq!(server.counters().block2_served, 1);
}
