//! The endpoint: configuration, handles, events, counters, the message-layer
//! dispatch (RFC 7252 §4) and the timers.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use crate::block::decode_uint;
use crate::client::ClientExchange;
use crate::code::{Method, ResponseCode};
use crate::consts::{self, option};
use crate::dedup::{DedupCache, DedupState, Inserted};
use crate::error::FailReason;
use crate::message::{empty_ack_for, reset_for, Message, MessageType, ParseError};
use crate::server::{Incoming, ResourceKey, StoredBody, Upload};

/// Endpoint configuration. `Config::default()` holds the RFC 7252 §4.8
/// defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// RFC 7252 §4.8 ACK_TIMEOUT.
    pub ack_timeout: Duration,
    /// RFC 7252 §4.8 ACK_RANDOM_FACTOR (values below 1.0 are treated as 1.0).
    pub ack_random_factor: f64,
    /// RFC 7252 §4.8 MAX_RETRANSMIT.
    pub max_retransmit: u32,
    /// RFC 7252 §4.8.2 EXCHANGE_LIFETIME: how long CON Message IDs are
    /// remembered for deduplication, and how long an unanswered
    /// [`Event::Request`] stays answerable.
    pub exchange_lifetime: Duration,
    /// RFC 7252 §4.8.2 NON_LIFETIME: deduplication time of NON messages.
    pub non_lifetime: Duration,
    /// RFC 7959 §2.2 block size exponent: blocks are 2^(szx+4) bytes. The
    /// default 6 (1024 bytes) keeps a datagram (~1024 + ~40 bytes of CoAP
    /// header/options) under the IPv6 minimum MTU of 1280 even with UDP,
    /// IPv6 and ESP overhead. Payloads larger than this go block-wise.
    pub block_szx: u8,
    /// Reassembly cap for Block1 request bodies (server; larger ones get 4.13)
    /// and Block2 response bodies (client; larger ones fail).
    pub max_body: usize,
    /// Bound on the deduplication cache (RFC 7252 §4.5).
    pub max_dedup_entries: usize,
    /// Client: how long to wait for a response after the request was
    /// acknowledged with an empty ACK, or after a NON request was sent.
    pub response_timeout: Duration,
    /// Server: if a CON request is not answered within this time, an empty
    /// ACK is sent and the answer later goes out as a separate CON response
    /// (RFC 7252 §5.2.2). `None`: always piggyback, however late.
    pub separate_response_after: Option<Duration>,
    /// Bound on concurrent server-side block-wise states (Block1 reassemblies
    /// and stored Block2 bodies, each).
    pub max_block_transfers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ack_timeout: consts::ACK_TIMEOUT,
            ack_random_factor: consts::ACK_RANDOM_FACTOR,
            max_retransmit: consts::MAX_RETRANSMIT,
            exchange_lifetime: consts::EXCHANGE_LIFETIME,
            non_lifetime: consts::NON_LIFETIME,
            block_szx: consts::SZX_MAX,
            max_body: 64 * 1024,
            max_dedup_entries: 4096,
            response_timeout: consts::EXCHANGE_LIFETIME,
            separate_response_after: Some(consts::ACK_TIMEOUT / 2),
            max_block_transfers: 32,
        }
    }
}

/// Handle of a client request started with [`Endpoint::request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

impl RequestId {
    /// The number behind the handle (unique per endpoint).
    pub const fn value(self) -> u64 {
        self.0
    }
}

/// Handle of a request received from a peer, answered with
/// [`Endpoint::respond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncomingId(u64);

impl IncomingId {
    /// The number behind the handle (unique per endpoint).
    pub const fn value(self) -> u64 {
        self.0
    }
}

/// A complete (reassembled) CoAP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method code.
    pub method: Method,
    /// "/" followed by the Uri-Path segments joined with "/" (RFC 7252 §6.5);
    /// "/" when there is no Uri-Path. On sending, one leading "/" is removed
    /// and the rest split at "/" into Uri-Path options.
    pub path: String,
    /// Uri-Query options, one string each.
    pub query: Vec<String>,
    /// Content-Format option.
    pub content_format: Option<u16>,
    /// The whole body.
    pub payload: Vec<u8>,
}

impl Request {
    /// A request without query and payload.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            content_format: None,
            payload: Vec::new(),
        }
    }

    /// Set the payload and its Content-Format.
    pub fn with_payload(mut self, content_format: u16, payload: Vec<u8>) -> Self {
        self.content_format = Some(content_format);
        self.payload = payload;
        self
    }

    /// Add a Uri-Query.
    pub fn with_query(mut self, query: impl Into<String>) -> Self {
        self.query.push(query.into());
        self
    }
}

/// A complete (reassembled) CoAP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Response code.
    pub code: ResponseCode,
    /// Content-Format option.
    pub content_format: Option<u16>,
    /// The whole body.
    pub payload: Vec<u8>,
}

impl Response {
    /// A response without payload.
    pub fn new(code: ResponseCode) -> Self {
        Response {
            code,
            content_format: None,
            payload: Vec::new(),
        }
    }

    /// Set the payload and its Content-Format.
    pub fn with_payload(mut self, content_format: u16, payload: Vec<u8>) -> Self {
        self.content_format = Some(content_format);
        self.payload = payload;
        self
    }
}

/// What the endpoint tells its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<P> {
    /// A complete request to answer with [`Endpoint::respond`].
    Request {
        /// Handle for `respond`.
        id: IncomingId,
        /// Who sent it.
        peer: P,
        /// The request (Block1 already reassembled).
        request: Request,
    },
    /// The response to a client request (Block2 already reassembled).
    Response {
        /// The handle `request` returned.
        id: RequestId,
        /// Who answered.
        peer: P,
        /// The response.
        response: Response,
    },
    /// A client request ended without a response.
    Failed {
        /// The handle `request` returned.
        id: RequestId,
        /// The peer the request went to.
        peer: P,
        /// Why.
        reason: FailReason,
    },
}

/// Datagrams and exchanges counted by outcome, so the caller can log why
/// input was rejected or ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Datagrams sent (queued for `poll_transmit`), including retransmissions.
    pub datagrams_sent: u64,
    /// Ignored: shorter than the 4-byte header.
    pub too_short: u64,
    /// Ignored: version other than 1 (RFC 7252 §3).
    pub bad_version: u64,
    /// Message format errors (RFC 7252 §3, §4.2): rejected with RST if CON,
    /// else ignored.
    pub format_errors: u64,
    /// Duplicate CON/NON messages (RFC 7252 §4.5): not processed again.
    pub duplicates: u64,
    /// Dropped because the deduplication cache was full of unanswered
    /// requests.
    pub dedup_full: u64,
    /// Empty CON ("CoAP ping", RFC 7252 §4.3), answered with RST.
    pub pings: u64,
    /// Ignored: Empty NON message (RFC 7252 §4.3).
    pub empty_non: u64,
    /// Ignored: ACK or RST matching no outstanding message (late or
    /// duplicate ACKs, RST to a message we forgot).
    pub unmatched_ack: u64,
    /// Ignored: ACK carrying a request, or a non-empty RST (RFC 7252 §4.2).
    pub malformed_ack: u64,
    /// Responses whose token matched no request: RST if CON, else ignored.
    pub unknown_token: u64,
    /// Ignored: piggybacked response whose token differs from the request's
    /// (RFC 7252 §5.3.2).
    pub token_mismatch: u64,
    /// Ignored: stale Block responses (a block already received).
    pub stale_block: u64,
    /// Responses rejected for an unrecognized critical option (RFC 7252
    /// §5.4.1): RST if CON, else ignored.
    pub response_bad_option: u64,
    /// Requests answered 4.02 Bad Option (unrecognized critical option).
    pub request_bad_option: u64,
    /// Requests answered 5.05 Proxying Not Supported.
    pub proxy_not_supported: u64,
    /// Requests answered 4.05 Method Not Allowed (unknown method code).
    pub method_not_allowed: u64,
    /// Requests answered 4.00 Bad Request (bad UTF-8 in Uri options, SZX 7,
    /// short non-final block).
    pub bad_request: u64,
    /// Block1 requests answered 4.08 Request Entity Incomplete.
    pub block1_incomplete: u64,
    /// Requests answered 4.13 Request Entity Too Large.
    pub too_large: u64,
    /// Block2 requests served from a stored body (no event).
    pub block2_served: u64,
    /// Reset messages received (matching an outstanding message).
    pub resets_received: u64,
    /// CON retransmissions sent.
    pub retransmissions: u64,
    /// Client requests failed with `Timeout`.
    pub timeouts: u64,
    /// Client requests failed with `BlockError`.
    pub block_errors: u64,
    /// Separate CON responses that were never acknowledged.
    pub separate_response_timeouts: u64,
    /// Empty ACKs sent because the application answered late.
    pub empty_acks_sent: u64,
    /// Pending incoming requests dropped unanswered after EXCHANGE_LIFETIME.
    pub incoming_expired: u64,
}

/// Who owns an outstanding outgoing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Client(RequestId),
    SeparateResponse,
}

/// RFC 7252 §4.2: retransmission state of one CON message.
pub(crate) struct Retransmission {
    pub(crate) bytes: Vec<u8>,
    pub(crate) attempts: u32,
    pub(crate) timeout: Duration,
    pub(crate) next: Instant,
}

/// An outgoing message that an ACK or RST may still refer to.
pub(crate) struct Outgoing {
    pub(crate) owner: Owner,
    /// `None` for NON messages (kept only so a RST can be matched).
    pub(crate) retx: Option<Retransmission>,
}

/// A sans-IO CoAP endpoint (client and server) for peers of type `P`.
pub struct Endpoint<P> {
    pub(crate) config: Config,
    pub(crate) rng: Box<dyn RngCore + Send>,
    pub(crate) next_mid: u16,
    pub(crate) next_handle: u64,
    pub(crate) counters: Counters,
    pub(crate) transmits: VecDeque<(P, Vec<u8>)>,
    pub(crate) events: VecDeque<Event<P>>,
    /// Outstanding messages we sent, by (peer, Message ID).
    pub(crate) outgoing: HashMap<(P, u16), Outgoing>,
    pub(crate) dedup: DedupCache<P>,
    // client side
    pub(crate) exchanges: HashMap<RequestId, ClientExchange<P>>,
    pub(crate) tokens: HashMap<(P, Vec<u8>), RequestId>,
    // server side
    pub(crate) incoming: HashMap<IncomingId, Incoming<P>>,
    pub(crate) uploads: HashMap<(P, ResourceKey), Upload>,
    pub(crate) downloads: HashMap<(P, ResourceKey), StoredBody>,
    /// Client side: responses accepted from a second peer, by (that peer, token)
    /// (see [`Endpoint::expect_response_from`]).
    pub(crate) alt_tokens: HashMap<(P, Vec<u8>), RequestId>,
    /// Server side: where the reply to (peer, Message ID) went instead of the
    /// peer (see [`Endpoint::respond_via`]); bounded like the dedup cache.
    pub(crate) redirects: HashMap<(P, u16), P>,
    pub(crate) redirect_order: VecDeque<(P, u16)>,
}

impl<P: Debug> Debug for Endpoint<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("config", &self.config)
            .field("counters", &self.counters)
            .field("client_exchanges", &self.exchanges.len())
            .field("incoming", &self.incoming.len())
            .field("dedup_entries", &self.dedup.len())
            .finish_non_exhaustive()
    }
}

impl<P: Clone + Eq + Hash + Debug> Endpoint<P> {
    /// An endpoint whose randomness (Message ID start, tokens, timeout
    /// jitter) comes from `StdRng::seed_from_u64(seed)`.
    pub fn new(config: Config, seed: u64) -> Self {
        Self::with_rng(config, Box::new(StdRng::seed_from_u64(seed)))
    }

    /// An endpoint drawing its randomness from `rng` (RFC 7252 §5.3.1 asks
    /// for unguessable tokens when the transport is not secured: pass a
    /// CSPRNG, e.g. `StdRng::from_os_rng()`).
    pub fn with_rng(config: Config, mut rng: Box<dyn RngCore + Send>) -> Self {
        // RFC 7252 §4.4: "randomize the initial value".
        let next_mid = (rng.next_u32() & 0xFFFF) as u16;
        let dedup = DedupCache::new(config.max_dedup_entries);
        Endpoint {
            config,
            rng,
            next_mid,
            next_handle: 1,
            counters: Counters::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            outgoing: HashMap::new(),
            dedup,
            exchanges: HashMap::new(),
            tokens: HashMap::new(),
            incoming: HashMap::new(),
            uploads: HashMap::new(),
            downloads: HashMap::new(),
            alt_tokens: HashMap::new(),
            redirects: HashMap::new(),
            redirect_order: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters of what happened to input and exchanges.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(P, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event<P>> {
        self.events.pop_front()
    }

    /// Number of client requests in progress.
    pub fn pending_requests(&self) -> usize {
        self.exchanges.len()
    }

    /// Number of received requests not answered yet.
    pub fn pending_incoming(&self) -> usize {
        self.incoming.len()
    }

    pub(crate) fn next_message_id(&mut self) -> u16 {
        let mid = self.next_mid;
        self.next_mid = self.next_mid.wrapping_add(1);
        mid
    }

    pub(crate) fn next_handle(&mut self) -> u64 {
        let h = self.next_handle;
        self.next_handle += 1;
        h
    }

    pub(crate) fn new_request_id(&mut self) -> RequestId {
        RequestId(self.next_handle())
    }

    pub(crate) fn new_incoming_id(&mut self) -> IncomingId {
        IncomingId(self.next_handle())
    }

    pub(crate) fn random_token(&mut self) -> Vec<u8> {
        let mut token = vec![0u8; consts::TOKEN_LEN];
        self.rng.fill_bytes(&mut token);
        token
    }

    /// RFC 7252 §4.2: initial timeout, random in
    /// [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR].
    pub(crate) fn initial_timeout(&mut self) -> Duration {
        let factor = self.config.ack_random_factor;
        let factor = if factor.is_finite() && factor > 1.0 {
            factor
        } else {
            1.0
        };
        if factor == 1.0 {
            return self.config.ack_timeout;
        }
        let r: f64 = self.rng.random_range(1.0..=factor);
        self.config.ack_timeout.mul_f64(r)
    }

    pub(crate) fn transmit(&mut self, peer: P, bytes: Vec<u8>) {
        self.counters.datagrams_sent += 1;
        self.transmits.push_back((peer, bytes));
    }

    /// Send a CON message and arm its retransmission (RFC 7252 §4.2).
    pub(crate) fn send_confirmable(
        &mut self,
        now: Instant,
        peer: P,
        mid: u16,
        bytes: Vec<u8>,
        owner: Owner,
    ) {
        let timeout = self.initial_timeout();
        self.outgoing.insert(
            (peer.clone(), mid),
            Outgoing {
                owner,
                retx: Some(Retransmission {
                    bytes: bytes.clone(),
                    attempts: 0,
                    timeout,
                    next: now + timeout,
                }),
            },
        );
        self.transmit(peer, bytes);
    }

    /// Feed one received datagram. Never panics; whatever is rejected or
    /// ignored is counted in [`Counters`].
    pub fn handle_datagram(&mut self, now: Instant, peer: P, datagram: &[u8]) {
        self.counters.datagrams_received += 1;
        let msg = match Message::parse(datagram) {
            Ok(msg) => msg,
            Err(ParseError::TooShort) => {
                self.counters.too_short += 1;
                return;
            }
            Err(ParseError::BadVersion) => {
                self.counters.bad_version += 1;
                return;
            }
            Err(ParseError::Format { mtype, message_id }) => {
                self.counters.format_errors += 1;
                // RFC 7252 §4.2: a CON with a message format error is
                // rejected with RST; §4.3: a NON MAY be, we ignore it.
                if mtype == MessageType::Confirmable {
                    self.transmit(peer, reset_for(message_id));
                }
                return;
            }
        };
        match msg.mtype {
            MessageType::Acknowledgement => self.on_ack(now, peer, msg),
            MessageType::Reset => self.on_reset(peer, msg),
            MessageType::Confirmable | MessageType::NonConfirmable => {
                self.on_con_non(now, peer, msg)
            }
        }
    }

    fn on_con_non(&mut self, now: Instant, peer: P, msg: Message) {
        let con = msg.mtype == MessageType::Confirmable;
        if msg.is_empty_message() {
            if con {
                // RFC 7252 §4.3: Empty CON ("ping") is answered with RST.
                self.counters.pings += 1;
                self.transmit(peer, reset_for(msg.message_id));
            } else {
                self.counters.empty_non += 1;
            }
            return;
        }
        let key = (peer.clone(), msg.message_id);
        // RFC 7252 §4.5: deduplication.
        if let Some(state) = self.dedup.lookup(now, &key) {
            self.counters.duplicates += 1;
            if let DedupState::Reply(bytes) = state {
                let bytes = bytes.clone();
                let to = self.redirects.get(&key).cloned().unwrap_or(peer);
                self.transmit(to, bytes);
            }
            return;
        }
        let lifetime = if con {
            self.config.exchange_lifetime
        } else {
            self.config.non_lifetime
        };
        // A fresh exchange under this (peer, MID): a redirect remembered for
        // an earlier one must not apply to it.
        self.redirects.remove(&key);
        if self.dedup.insert(now, key, DedupState::Silent, lifetime) == Inserted::Full {
            self.counters.dedup_full += 1;
            return;
        }
        if msg.is_request() {
            self.on_request(now, peer, msg);
        } else {
            self.on_separate_response(now, peer, msg);
        }
    }

    /// Record what duplicates of (peer, mid) get, and send it.
    pub(crate) fn reply_and_remember(&mut self, peer: P, mid: u16, bytes: Vec<u8>) {
        self.dedup
            .set_state(&(peer.clone(), mid), DedupState::Reply(bytes.clone()));
        self.transmit(peer, bytes);
    }

    /// RFC 7252 §4.2: an ACK, empty or with a piggybacked response.
    fn on_ack(&mut self, now: Instant, peer: P, msg: Message) {
        if msg.is_request() {
            // RFC 7252 §4.2: an ACK carrying a request is silently ignored.
            self.counters.malformed_ack += 1;
            return;
        }
        if !self.outgoing.contains_key(&(peer.clone(), msg.message_id)) {
            // An answer from the second peer of an exchange (expect_response_from):
            // handle it as if the request's own peer had sent it.
            if let Some(orig) = self.alt_origin(&peer, &msg) {
                return self.on_ack(now, orig, msg);
            }
        }
        let key = (peer.clone(), msg.message_id);
        // Only CON messages are acknowledged (a NON entry is kept for RST).
        let Some(owner) = self
            .outgoing
            .get(&key)
            .filter(|o| o.retx.is_some())
            .map(|o| o.owner)
        else {
            self.counters.unmatched_ack += 1;
            return;
        };
        match owner {
            Owner::SeparateResponse => {
                if msg.is_empty_message() {
                    self.outgoing.remove(&key);
                } else {
                    self.counters.malformed_ack += 1;
                }
            }
            Owner::Client(id) => {
                if msg.is_empty_message() {
                    self.outgoing.remove(&key);
                    self.client_acked(now, id);
                    return;
                }
                let token_ok = self
                    .exchanges
                    .get(&id)
                    .is_some_and(|e| e.token == msg.token);
                if !token_ok {
                    // RFC 7252 §5.3.2: piggybacked responses match on both
                    // Message ID and token.
                    self.counters.token_mismatch += 1;
                    return;
                }
                if has_unknown_critical_response_option(&msg) {
                    // RFC 7252 §5.4.1: reject, which for an ACK means ignore.
                    self.counters.response_bad_option += 1;
                    return;
                }
                self.outgoing.remove(&key);
                self.client_response(now, id, msg);
            }
        }
    }

    /// RFC 7252 §4.2/§4.3: a Reset message.
    fn on_reset(&mut self, peer: P, msg: Message) {
        if !msg.is_empty_message() {
            self.counters.malformed_ack += 1;
            return;
        }
        let Some(out) = self.outgoing.remove(&(peer, msg.message_id)) else {
            self.counters.unmatched_ack += 1;
            return;
        };
        self.counters.resets_received += 1;
        if let Owner::Client(id) = out.owner {
            self.client_fail(id, FailReason::Reset);
        }
    }

    /// A response in a CON or NON message (RFC 7252 §5.2.2 separate
    /// response, or the response to a NON request).
    fn on_separate_response(&mut self, now: Instant, peer: P, msg: Message) {
        let con = msg.mtype == MessageType::Confirmable;
        let known = self.tokens.get(&(peer.clone(), msg.token.clone())).copied();
        let Some(id) = known.or_else(|| {
            self.alt_tokens
                .get(&(peer.clone(), msg.token.clone()))
                .copied()
        }) else {
            self.counters.unknown_token += 1;
            if con {
                self.reply_and_remember(peer, msg.message_id, reset_for(msg.message_id));
            }
            return;
        };
        if known.is_none() {
            if let Some(exch) = self.exchanges.get_mut(&id) {
                exch.answered_by_alt = true;
            }
        }
        if has_unknown_critical_response_option(&msg) {
            self.counters.response_bad_option += 1;
            if con {
                self.reply_and_remember(peer, msg.message_id, reset_for(msg.message_id));
            }
            return;
        }
        if con {
            self.reply_and_remember(peer.clone(), msg.message_id, empty_ack_for(msg.message_id));
        }
        // The response implies our request arrived (RFC 7252 §5.2.2).
        if let Some((orig, mid)) = self.exchanges.get(&id).map(|e| (e.peer.clone(), e.mid)) {
            self.outgoing.remove(&(orig, mid));
        }
        self.client_response(now, id, msg);
    }

    /// The earliest time at which [`Endpoint::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retx = self
            .outgoing
            .values()
            .filter_map(|o| o.retx.as_ref().map(|r| r.next));
        let responses = self.exchanges.values().filter_map(|e| e.response_deadline);
        let incoming = self.incoming.values().map(|i| self.incoming_deadline(i));
        let uploads = self.uploads.values().map(|u| u.expires);
        let downloads = self.downloads.values().map(|d| d.expires);
        retx.chain(responses)
            .chain(incoming)
            .chain(uploads)
            .chain(downloads)
            .chain(self.dedup.next_expiry())
            .min()
    }

    fn incoming_deadline(&self, inc: &Incoming<P>) -> Instant {
        let expiry = inc.received + self.config.exchange_lifetime;
        match self.config.separate_response_after {
            Some(after) if inc.confirmable && !inc.acked => expiry.min(inc.received + after),
            _ => expiry,
        }
    }

    /// Run the timers due at `now`: retransmissions (RFC 7252 §4.2),
    /// response timeouts, empty ACKs for late answers, and expiry of the
    /// deduplication cache and block-wise state.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Retransmissions, in deadline order for determinism.
        let mut due: Vec<(Instant, u16, P)> = self
            .outgoing
            .iter()
            .filter_map(|((peer, mid), o)| {
                o.retx
                    .as_ref()
                    .filter(|r| r.next <= now)
                    .map(|r| (r.next, *mid, peer.clone()))
            })
            .collect();
        due.sort_by_key(|(t, mid, _)| (*t, *mid));
        for (_, mid, peer) in due {
            let key = (peer.clone(), mid);
            let max = self.config.max_retransmit;
            let Some(out) = self.outgoing.get_mut(&key) else {
                continue;
            };
            let Some(retx) = out.retx.as_mut() else {
                continue;
            };
            if retx.attempts < max {
                retx.attempts += 1;
                retx.timeout *= 2;
                retx.next += retx.timeout;
                let bytes = retx.bytes.clone();
                self.counters.retransmissions += 1;
                self.transmit(peer, bytes);
            } else {
                let owner = out.owner;
                self.outgoing.remove(&key);
                match owner {
                    Owner::Client(id) => self.client_fail(id, FailReason::Timeout),
                    Owner::SeparateResponse => self.counters.separate_response_timeouts += 1,
                }
            }
        }

        // Client response deadlines.
        let mut late: Vec<RequestId> = self
            .exchanges
            .iter()
            .filter(|(_, e)| e.response_deadline.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        late.sort();
        for id in late {
            self.client_fail(id, FailReason::Timeout);
        }

        // Server: empty ACK for requests the application has not answered
        // (RFC 7252 §5.2.2), expiry of unanswered requests.
        let mut to_ack = Vec::new();
        let mut expired = Vec::new();
        for (id, inc) in &self.incoming {
            if inc.received + self.config.exchange_lifetime <= now {
                expired.push(*id);
            } else if let Some(after) = self.config.separate_response_after {
                if inc.confirmable && !inc.acked && inc.received + after <= now {
                    to_ack.push(*id);
                }
            }
        }
        to_ack.sort();
        for id in to_ack {
            if let Some(inc) = self.incoming.get_mut(&id) {
                inc.acked = true;
                let (peer, mid) = (inc.peer.clone(), inc.mid);
                self.counters.empty_acks_sent += 1;
                self.reply_and_remember(peer, mid, empty_ack_for(mid));
            }
        }
        for id in expired {
            self.incoming.remove(&id);
            self.counters.incoming_expired += 1;
        }

        self.uploads.retain(|_, u| u.expires > now);
        self.downloads.retain(|_, d| d.expires > now);
        self.dedup.expire(now);
    }
}

/// RFC 7252 §5.4.1: critical options this endpoint understands in
/// responses (Block1/Block2, RFC 7959).
fn has_unknown_critical_response_option(msg: &Message) -> bool {
    msg.options
        .iter()
        .any(|(n, _)| option::is_critical(*n) && *n != option::BLOCK1 && *n != option::BLOCK2)
}

/// RFC 7252 §5.10.3: Content-Format is a `uint` of 0 to 2 bytes; a longer
/// value is treated as an unrecognized elective option, i.e. ignored.
pub(crate) fn content_format_of(msg: &Message) -> Option<u16> {
    msg.option(option::CONTENT_FORMAT)
        .and_then(|v| decode_uint(v, 2))
        .and_then(|v| u16::try_from(v).ok())
}

/// The response code of a message known to be a response.
pub(crate) fn response_code_of(msg: &Message) -> ResponseCode {
    ResponseCode::from_code(msg.code).unwrap_or(ResponseCode::Other(msg.code))
}
