//! `ace-node`: the sans-IO host that joins a CoAP endpoint (`ace-coap`), the
//! SAD (`ipsec-dp`) and two UDP interfaces, plus the thin tokio driver and an
//! in-memory network for deterministic tests.
//!
//! A datagram's path: driver socket → [`Node::handle_datagram`] → (ESP port:
//! RFC 3948 classification → SAD lookup by SPI → open → inner UDP) → CoAP
//! endpoint → [`NodeEvent`] → the [`Host`] (AS, RS or Client) → CoAP response →
//! [`Node::poll_transmit`] (seal for secure peers) → driver socket.
//!
//! In transparent mode ([`transparent`]) a token's pair moves from the node
//! into a TUN data path (`ipsec-gw`) once the profile's exchange on it is
//! done, and an RS checks the token's scope on the data path's packets
//! ([`scope_filter`]).

pub mod driver;
pub mod host;
pub mod node;
pub mod scope;
pub mod scope_filter;
pub mod sim;
pub mod tap;
pub mod transparent;

pub use host::{Host, Now};
/// The transparent-mode core the handed-over pairs go to.
pub use ipsec_gw;
pub use node::{
    dp_pair_spec, esp_suite_of, ike_pair_spec, log_throttle, DetachedPair, DpRole, InstallError,
    Interface, Node, NodeCounters, NodeEvent, PairId, PairInfo, Peer, SaPairSpec, SeqState,
    TakeError, Transmit, SEQ_RESERVATION,
};
