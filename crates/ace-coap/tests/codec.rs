//! Encodings from the RFCs: RFC 7252 Appendix A exchanges and the RFC 7959
//! figures, reproduced byte for byte or as message sequences.

mod common;

use std::time::{Duration, Instant};

use ace_coap::consts::option;
use ace_coap::{
    BlockOption, Config, Endpoint, Event, Message, MessageType, Method, Request, Response,
    ResponseCode,
};
use common::*;

/// RFC 7252 Appendix A.1 (Figure 16): CON [0x7d34] GET /temperature,
/// answered ACK [0x7d34] 2.05 Content "22.3 C".
const GET_TEMPERATURE: [u8; 16] = [
    0x40, 0x01, 0x7d, 0x34, 0xbb, b't', b'e', b'm', b'p', b'e', b'r', b'a', b't', b'u', b'r', b'e',
];
const CONTENT_22_3_C: [u8; 11] = [
    0x60, 0x45, 0x7d, 0x34, 0xff, b'2', b'2', b'.', b'3', b' ', b'C',
];

#[test]
fn rfc7252_a1_request_parses() {
    let m = Message::parse(&GET_TEMPERATURE).unwrap();
    assert_eq!(m.mtype, MessageType::Confirmable);
    assert_eq!(m.code, Method::Get.code());
    assert_eq!(m.message_id, 0x7d34);
    assert!(m.token.is_empty());
    assert_eq!(m.options, vec![(option::URI_PATH, b"temperature".to_vec())]);
    assert_eq!(m.emit().unwrap(), GET_TEMPERATURE.to_vec());
}

#[test]
fn rfc7252_a1_server_answers_with_the_rfc_bytes() {
    let t0 = Instant::now();
    let mut server: Endpoint<&str> = Endpoint::new(Config::default(), 0);
    server.handle_datagram(t0, CLIENT, &GET_TEMPERATURE);
    let Some(Event::Request { id, request, .. }) = server.poll_event() else {
        panic!("no request")
    };
    assert_eq!(request, Request::new(Method::Get, "/temperature"));
    let resp = Response {
        code: ResponseCode::Content,
        content_format: None,
        payload: b"22.3 C".to_vec(),
    };
    server.respond(t0, id, resp).unwrap();
    assert_eq!(
        server.poll_transmit(),
        Some((CLIENT, CONTENT_22_3_C.to_vec()))
    );
}

#[test]
fn rfc7252_a_empty_ack_and_reset_bytes() {
    assert_eq!(
        Message::empty(MessageType::Acknowledgement, 0x7d38)
            .emit()
            .unwrap(),
        vec![0x60, 0x00, 0x7d, 0x38]
    );
    assert_eq!(
        Message::empty(MessageType::Reset, 0x7d38).emit().unwrap(),
        vec![0x70, 0x00, 0x7d, 0x38]
    );
}

#[test]
fn client_con_get_header_with_token_and_uri_path() {
    // RFC 7252 §3: Ver 1, T CON, TKL 8 → 0x48; GET 0x01; then the token and
    // Uri-Path "authz-info" (delta 11, length 10 → 0xBA).
    let t0 = Instant::now();
    let mut client: Endpoint<u8> = Endpoint::new(Config::default(), 42);
    client.request(t0, 1, Request::new(Method::Get, "/authz-info"), true);
    let (_, bytes) = client.poll_transmit().unwrap();
    assert_eq!(bytes.len(), 4 + 8 + 1 + 10);
    assert_eq!(bytes[0], 0x48);
    assert_eq!(bytes[1], 0x01);
    assert_eq!(bytes[12], 0xBA);
    assert_eq!(&bytes[13..], b"authz-info");
    // Deterministic for a given seed.
    let mut again: Endpoint<u8> = Endpoint::new(Config::default(), 42);
    again.request(t0, 1, Request::new(Method::Get, "/authz-info"), true);
    assert_eq!(again.poll_transmit().unwrap().1, bytes);
}

#[test]
fn option_encoding_with_extended_deltas_and_content_format() {
    // Content-Format application/ace+cbor (19) and Size1 (60, delta 48 → 13+35).
    let m = Message {
        mtype: MessageType::NonConfirmable,
        code: Method::Post.code(),
        message_id: 1,
        token: vec![],
        options: vec![
            (option::CONTENT_FORMAT, vec![19]),
            (option::SIZE1, vec![0x0B, 0xB8]),
        ],
        payload: vec![0xA0],
    };
    let bytes = m.emit().unwrap();
    assert_eq!(
        bytes,
        vec![0x50, 0x02, 0x00, 0x01, 0xC1, 19, 0xD2, 35, 0x0B, 0xB8, 0xFF, 0xA0]
    );
    assert_eq!(Message::parse(&bytes).unwrap(), m);
}

fn blocks(dir: Dir, p: &Pair, n: u16) -> Vec<Option<Vec<u8>>> {
    p.sent(dir)
        .iter()
        .map(|s| s.msg().option(n).map(<[u8]>::to_vec))
        .collect()
}

#[test]
fn rfc7959_figure2_simple_block2_get() {
    // Server with 128-byte blocks (SZX 3): 2:0/1/128, 2:1/1/128, 2:2/0/128.
    let s = Config {
        block_szx: 3,
        ..Config::default()
    };
    let mut p = Pair::new(Config::default(), s);
    let status = body(300);
    let st = status.clone();
    p.handler =
        Box::new(move |_| Some(Response::new(ResponseCode::Content).with_payload(0, st.clone())));
    let id = p.request(Request::new(Method::Get, "/status"), true);
    p.run_until_client_event(Duration::from_secs(60));
    assert_eq!(p.single_response(id).payload, status);
    assert_eq!(
        blocks(Dir::ToServer, &p, option::BLOCK2),
        vec![None, Some(vec![0x13]), Some(vec![0x23])]
    );
    assert_eq!(
        blocks(Dir::ToClient, &p, option::BLOCK2),
        vec![Some(vec![0x0B]), Some(vec![0x1B]), Some(vec![0x23])]
    );
    let mids: Vec<(u16, MessageType)> = p
        .wire
        .iter()
        .map(|s| (s.msg().message_id, s.msg().mtype))
        .collect();
    for pair in mids.chunks(2) {
        assert_eq!(pair[0].0, pair[1].0);
        assert_eq!(
            (pair[0].1, pair[1].1),
            (MessageType::Confirmable, MessageType::Acknowledgement)
        );
    }
    // Consecutive Message IDs.
    assert_eq!(mids[2].0, mids[0].0.wrapping_add(1));
}

#[test]
fn rfc7959_figure6_simple_atomic_block1_put() {
    // Client with 128-byte blocks: 1:0/1/128 → 2.31 1:0/1/128, 1:1/1/128 →
    // 2.31 1:1/1/128, 1:2/0/128 → 2.04 1:2/0/128.
    let c = Config {
        block_szx: 3,
        ..Config::default()
    };
    let mut p = Pair::new(c, Config::default());
    p.handler = Box::new(|_| Some(Response::new(ResponseCode::Changed)));
    let id = p.request(
        Request::new(Method::Put, "/options").with_payload(0, body(300)),
        true,
    );
    p.run_until_client_event(Duration::from_secs(60));
    assert_eq!(p.single_response(id).code, ResponseCode::Changed);
    let b1 = vec![Some(vec![0x0B]), Some(vec![0x1B]), Some(vec![0x23])];
    assert_eq!(blocks(Dir::ToServer, &p, option::BLOCK1), b1);
    assert_eq!(blocks(Dir::ToClient, &p, option::BLOCK1), b1);
    let codes: Vec<ResponseCode> = p
        .sent(Dir::ToClient)
        .iter()
        .map(|s| ResponseCode::from_code(s.msg().code).unwrap())
        .collect();
    assert_eq!(
        codes,
        vec![
            ResponseCode::Continue,
            ResponseCode::Continue,
            ResponseCode::Changed
        ]
    );
}

#[test]
fn rfc7959_figure7_server_prefers_smaller_blocks() {
    // 1:0/1/1024 → 2.31 1:0/1/128, then the client goes on with 1:8/1/128.
    let s = Config {
        block_szx: 3,
        ..Config::default()
    };
    let mut p = Pair::new(Config::default(), s);
    p.handler = Box::new(|req| {
        assert_eq!(req.payload, body(1300));
        Some(Response::new(ResponseCode::Changed))
    });
    let id = p.request(
        Request::new(Method::Put, "/options").with_payload(0, body(1300)),
        true,
    );
    p.run_until_client_event(Duration::from_secs(60));
    assert_eq!(p.single_response(id).code, ResponseCode::Changed);
    let sent: Vec<BlockOption> = blocks(Dir::ToServer, &p, option::BLOCK1)
        .into_iter()
        .map(|v| BlockOption::decode(&v.unwrap()).unwrap())
        .collect();
    assert_eq!(sent[0], BlockOption::new(0, true, 6));
    assert_eq!(sent[1], BlockOption::new(8, true, 3));
    assert_eq!(sent.last().copied(), Some(BlockOption::new(10, false, 3)));
    let acked = BlockOption::decode(
        &blocks(Dir::ToClient, &p, option::BLOCK1)[0]
            .clone()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(acked, BlockOption::new(0, true, 3));
}
