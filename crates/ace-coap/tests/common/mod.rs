//! Two endpoints wired together in one thread with a fake clock.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use ace_coap::{Config, Endpoint, Event, IncomingId, Message, Request, RequestId, Response};

pub const CLIENT: &str = "client";
pub const SERVER: &str = "server";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ToServer,
    ToClient,
}

/// One datagram seen on the wire.
#[derive(Debug, Clone)]
pub struct Seen {
    pub dir: Dir,
    pub at: Duration,
    pub bytes: Vec<u8>,
    pub dropped: bool,
}

impl Seen {
    pub fn msg(&self) -> Message {
        Message::parse(&self.bytes).expect("endpoint emitted an unparsable datagram")
    }
}

pub type Handler = Box<dyn FnMut(&Request) -> Option<Response>>;
pub type Loss = Box<dyn FnMut(Dir, &[u8]) -> bool>;

pub struct Pair {
    pub t0: Instant,
    pub now: Instant,
    pub client: Endpoint<&'static str>,
    pub server: Endpoint<&'static str>,
    /// Returns true to drop the datagram.
    pub loss: Loss,
    /// Answers server requests; `None` leaves the request pending in
    /// `unanswered`.
    pub handler: Handler,
    pub wire: Vec<Seen>,
    pub client_events: Vec<Event<&'static str>>,
    pub server_requests: Vec<(IncomingId, Request)>,
    pub unanswered: Vec<IncomingId>,
}

impl Pair {
    pub fn new(client_cfg: Config, server_cfg: Config) -> Self {
        let t0 = Instant::now();
        Pair {
            t0,
            now: t0,
            client: Endpoint::new(client_cfg, 1),
            server: Endpoint::new(server_cfg, 2),
            loss: Box::new(|_, _| false),
            handler: Box::new(|req| Some(echo(req))),
            wire: Vec::new(),
            client_events: Vec::new(),
            server_requests: Vec::new(),
            unanswered: Vec::new(),
        }
    }

    pub fn default_pair() -> Self {
        Self::new(Config::default(), Config::default())
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Move datagrams and events until nothing moves.
    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some((peer, bytes)) = self.client.poll_transmit() {
                assert_eq!(peer, SERVER);
                moved = true;
                self.carry(Dir::ToServer, bytes);
            }
            while let Some((peer, bytes)) = self.server.poll_transmit() {
                assert_eq!(peer, CLIENT);
                moved = true;
                self.carry(Dir::ToClient, bytes);
            }
            while let Some(ev) = self.server.poll_event() {
                moved = true;
                match ev {
                    Event::Request { id, peer, request } => {
                        assert_eq!(peer, CLIENT);
                        self.server_requests.push((id, request.clone()));
                        match (self.handler)(&request) {
                            Some(resp) => self.server.respond(self.now, id, resp).unwrap(),
                            None => self.unanswered.push(id),
                        }
                    }
                    other => panic!("server got a client event: {other:?}"),
                }
            }
            while let Some(ev) = self.client.poll_event() {
                moved = true;
                self.client_events.push(ev);
            }
            if !moved {
                break;
            }
        }
    }

    fn carry(&mut self, dir: Dir, bytes: Vec<u8>) {
        let dropped = (self.loss)(dir, &bytes);
        self.wire.push(Seen {
            dir,
            at: self.now - self.t0,
            bytes: bytes.clone(),
            dropped,
        });
        if dropped {
            return;
        }
        match dir {
            Dir::ToServer => self.server.handle_datagram(self.now, CLIENT, &bytes),
            Dir::ToClient => self.client.handle_datagram(self.now, SERVER, &bytes),
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match (self.client.poll_timeout(), self.server.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advance the clock to `t` (relative to t0), running timers.
    pub fn advance_to(&mut self, t: Duration) {
        let target = self.t0 + t;
        while let Some(next) = self.next_timeout() {
            if next > target {
                break;
            }
            self.now = next.max(self.now);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.pump();
        }
        self.now = target.max(self.now);
        self.pump();
    }

    /// Pump and run timers until the client has an event (or `limit`).
    pub fn run_until_client_event(&mut self, limit: Duration) {
        self.pump();
        while self.client_events.is_empty() {
            let Some(next) = self.next_timeout() else {
                break;
            };
            if next > self.t0 + limit {
                break;
            }
            self.now = next.max(self.now);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.pump();
        }
    }

    pub fn request(&mut self, req: Request, confirmable: bool) -> RequestId {
        let now = self.now;
        self.client.request(now, SERVER, req, confirmable)
    }

    pub fn single_response(&self, id: RequestId) -> Response {
        assert_eq!(
            self.client_events.len(),
            1,
            "events: {:?}",
            self.client_events
        );
        match &self.client_events[0] {
            Event::Response {
                id: got,
                peer,
                response,
            } => {
                assert_eq!(*got, id);
                assert_eq!(*peer, SERVER);
                response.clone()
            }
            other => panic!("expected a response, got {other:?}"),
        }
    }

    pub fn sent(&self, dir: Dir) -> Vec<&Seen> {
        self.wire.iter().filter(|s| s.dir == dir).collect()
    }
}

/// 2.05 Content echoing method, path, query and payload.
pub fn echo(req: &Request) -> Response {
    let mut body = format!("{} {} {:?} ", req.method, req.path, req.query).into_bytes();
    body.extend_from_slice(&req.payload);
    Response {
        code: ace_coap::ResponseCode::Content,
        content_format: req.content_format,
        payload: body,
    }
}

pub fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 256) as u8).collect()
}
