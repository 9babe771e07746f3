//! `ace-node`: the sans-IO host that joins a CoAP endpoint (`ace-coap`), the
//! SAD (`ipsec-dp`) and two UDP interfaces, plus the thin tokio driver and an
//! in-memory network for deterministic tests.
//!
//! A datagram's path: driver socket → [`Node::handle_datagram`] → (ESP port:
//! RFC 3948 classification → SAD lookup by SPI → open → inner UDP) → CoAP
//! endpoint → [`NodeEvent`] → the [`Host`] (AS, RS or Client) → CoAP response →
//! [`Node::poll_transmit`] (seal for secure peers) → driver socket.

pub mod driver;
pub mod host;
pub mod node;
pub mod sim;
pub mod tap;

pub use host::{Host, Now};
pub use node::{
    dp_pair_spec, log_throttle, DpRole, InstallError, Interface, Node, NodeCounters, NodeEvent,
    PairId, PairInfo, Peer, SaPairSpec, SeqState, Transmit, SEQ_RESERVATION,
};
