//! `ace-coap`: a sans-IO CoAP endpoint — the RFC 7252 message layer
//! (confirmable retransmission, deduplication, piggybacked and separate
//! responses, Reset) and RFC 7959 block-wise transfers (Block1 uploads,
//! Block2 downloads) — on top of the `coap-lite` codec.
//!
//! Like `quinn-proto`, the [`Endpoint`] owns no socket, clock or thread:
//! the caller feeds datagrams ([`Endpoint::handle_datagram`]) and the time
//! ([`Endpoint::handle_timeout`]), and drains datagrams to send
//! ([`Endpoint::poll_transmit`]), [`Event`]s ([`Endpoint::poll_event`]) and
//! the next deadline ([`Endpoint::poll_timeout`]). The peer address type `P`
//! is opaque: a `SocketAddr`, or an identifier of a peer behind an IPsec SA.
//!
//! One endpoint is client and server at once: [`Endpoint::request`] starts a
//! client exchange that ends in [`Event::Response`] or [`Event::Failed`];
//! a request from a peer surfaces as [`Event::Request`] and is answered with
//! [`Endpoint::respond`].
//!
//! Peer input never panics; every datagram that is rejected or ignored is
//! counted in [`Counters`] by reason.
//!
//! ```
//! use std::time::Instant;
//! use ace_coap::{Config, Endpoint, Event, Method, Request, Response, ResponseCode};
//!
//! let now = Instant::now();
//! let mut client: Endpoint<&str> = Endpoint::new(Config::default(), 1);
//! let mut server: Endpoint<&str> = Endpoint::new(Config::default(), 2);
//! let id = client.request(now, "rs", Request::new(Method::Get, "/authz-info"), true);
//! while let Some((_, datagram)) = client.poll_transmit() {
//!     server.handle_datagram(now, "client", &datagram);
//! }
//! if let Some(Event::Request { id, request, .. }) = server.poll_event() {
//!     assert_eq!(request.path, "/authz-info");
//!     server.respond(now, id, Response::new(ResponseCode::Content)).unwrap();
//! }
//! while let Some((_, datagram)) = server.poll_transmit() {
//!     client.handle_datagram(now, "rs", &datagram);
//! }
//! assert!(matches!(client.poll_event(), Some(Event::Response { id: got, .. }) if got == id));
//! ```

mod alt;
pub mod block;
mod client;
mod code;
pub mod consts;
mod dedup;
mod endpoint;
mod error;
pub mod message;
mod server;

pub use block::BlockOption;
pub use code::{Method, ResponseCode};
pub use endpoint::{Config, Counters, Endpoint, Event, IncomingId, Request, RequestId, Response};
pub use error::{BlockError, CoapError, FailReason};
pub use message::{Message, MessageType, ParseError};
