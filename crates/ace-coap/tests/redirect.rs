//! Responses that travel on another peer than their request (the IPsec
//! profile's 2.01 to an unprotected `POST /authz-info`, sent over the SA pair).

use std::time::Instant;

use ace_coap::{Config, Endpoint, Event, Method, Request, Response, ResponseCode};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Peer {
    Plain,
    Secure,
}

fn setup() -> (Endpoint<Peer>, Endpoint<Peer>, Instant) {
    (
        Endpoint::new(Config::default(), 1),
        Endpoint::new(Config::default(), 2),
        Instant::now(),
    )
}

#[test]
fn answer_sent_via_second_peer_completes_the_request_and_duplicates_follow_it() {
    let (mut c, mut s, now) = setup();
    let id = c.request(
        now,
        Peer::Plain,
        Request::new(Method::Post, "/authz-info").with_payload(19, vec![0x41, 0x00]),
        true,
    );
    c.expect_response_from(id, Peer::Secure);
    let (to, req) = c.poll_transmit().unwrap();
    assert_eq!(to, Peer::Plain);

    // Server: the request arrives on the plain peer, the answer leaves on the secure one.
    s.handle_datagram(now, Peer::Plain, &req);
    let Some(Event::Request { id: inc, .. }) = s.poll_event() else {
        panic!("no request")
    };
    s.respond_via(now, inc, Response::new(ResponseCode::Created), Peer::Secure)
        .unwrap();
    let (to, ack) = s.poll_transmit().unwrap();
    assert_eq!(to, Peer::Secure);
    assert!(
        s.poll_transmit().is_none(),
        "nothing goes to the plain peer"
    );

    // A retransmitted request gets the same answer, again on the secure peer.
    s.handle_datagram(now, Peer::Plain, &req);
    assert!(s.poll_event().is_none(), "a duplicate is not a new request");
    let (to, again) = s.poll_transmit().unwrap();
    assert_eq!((to, &again), (Peer::Secure, &ack));

    // Client: the ACK from the secure peer completes the exchange.
    c.handle_datagram(now, Peer::Secure, &ack);
    match c.poll_event() {
        Some(Event::Response {
            id: got,
            peer,
            response,
        }) => {
            assert_eq!(got, id);
            assert_eq!(peer, Peer::Secure, "the event names the peer that answered");
            assert_eq!(response.code, ResponseCode::Created);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.pending_requests(), 0);
}

#[test]
fn an_answer_from_the_second_peer_is_refused_without_registration() {
    let (mut c, mut s, now) = setup();
    let _id = c.request(
        now,
        Peer::Plain,
        Request::new(Method::Post, "/authz-info"),
        true,
    );
    let (_, req) = c.poll_transmit().unwrap();
    s.handle_datagram(now, Peer::Plain, &req);
    let Some(Event::Request { id: inc, .. }) = s.poll_event() else {
        panic!()
    };
    s.respond_via(now, inc, Response::new(ResponseCode::Created), Peer::Secure)
        .unwrap();
    let (_, ack) = s.poll_transmit().unwrap();
    c.handle_datagram(now, Peer::Secure, &ack);
    assert!(c.poll_event().is_none());
    assert_eq!(c.counters().unmatched_ack, 1);
    assert_eq!(c.pending_requests(), 1);
}

#[test]
fn a_refusal_still_comes_back_on_the_request_peer() {
    let (mut c, mut s, now) = setup();
    let id = c.request(
        now,
        Peer::Plain,
        Request::new(Method::Post, "/authz-info"),
        true,
    );
    c.expect_response_from(id, Peer::Secure);
    let (_, req) = c.poll_transmit().unwrap();
    s.handle_datagram(now, Peer::Plain, &req);
    let Some(Event::Request { id: inc, .. }) = s.poll_event() else {
        panic!()
    };
    s.respond(now, inc, Response::new(ResponseCode::Unauthorized))
        .unwrap();
    let (to, ack) = s.poll_transmit().unwrap();
    assert_eq!(to, Peer::Plain);
    c.handle_datagram(now, Peer::Plain, &ack);
    assert!(
        matches!(c.poll_event(), Some(Event::Response { response, peer, .. }) if response.code == ResponseCode::Unauthorized && peer == Peer::Plain)
    );
}
