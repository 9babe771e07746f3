//! What the sans-IO [`Endpoint`](crate::Endpoint) hands to its driver:
//! datagrams to send ([`Transmit`]), things that happened ([`Event`]) and
//! why things were refused ([`Counters`]).

use std::net::SocketAddr;
use std::time::Duration;

use crate::auth::Role;
use crate::config::Mode;
use crate::consts::{NotifyType, ProtocolId};
use crate::keys::CipherSpec;
use crate::payload::{IdRepr, TrafficSelector};
use crate::prf::Secret;
use crate::proposal::ChildSuite;

/// The endpoint's handle of one IKE SA.
pub type IkeSaId = u64;

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The local address to send from (IKE port or NAT-T port).
    pub local: SocketAddr,
    /// The destination.
    pub remote: SocketAddr,
    /// Prefix the four-octet non-ESP marker (RFC 3948 §2.2): set when the
    /// datagram goes out on the NAT-T port.
    pub non_esp_marker: bool,
    /// The IKE message (without the marker).
    pub payload: Vec<u8>,
}

/// A Child SA pair ready for the data plane (RFC 7296 §2.17).
#[derive(Debug, Clone)]
pub struct ChildSa {
    /// The IKE SA that negotiated it.
    pub ike: IkeSaId,
    /// The caller's tag of the IKE SA (e.g. the access token).
    pub tag: u64,
    /// ESP or AH.
    pub protocol: ProtocolId,
    /// Transport or tunnel.
    pub mode: Mode,
    /// The negotiated transforms.
    pub suite: ChildSuite,
    /// Key, salt, IV and ICV lengths.
    pub cipher: CipherSpec,
    /// SPI of the inbound SA (ours, chosen by us).
    pub spi_in: u32,
    /// SPI of the outbound SA (chosen by the peer).
    pub spi_out: u32,
    /// Inbound keying material: encryption key | salt | integrity key.
    pub keymat_in: Secret,
    /// Outbound keying material.
    pub keymat_out: Secret,
    /// Our traffic selectors.
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's traffic selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// Our address (for ESP-in-UDP: the NAT-T port).
    pub local: SocketAddr,
    /// The peer's address (for ESP-in-UDP: its NAT-T port).
    pub remote: SocketAddr,
    /// UDP-encapsulate ESP (RFC 3948): NAT detected or always on.
    pub encap: bool,
    /// How long the SA lives: never beyond the peer's authorization.
    pub lifetime: Duration,
    /// The inbound SPI of the Child SA this one replaces (a rekey).
    pub rekeyed_from: Option<u32>,
}

/// Why an IKE SA or an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The peer sent this error notification.
    Notified(NotifyType),
    /// The peer's AUTH did not verify (or its ID was not the expected one).
    AuthenticationFailed,
    /// Nothing in the answer was one of our proposals.
    NoProposalChosen,
    /// No answer after every retransmission.
    Timeout,
    /// The answer broke the protocol in this way.
    Invalid(&'static str),
    /// The half-open IKE SA was not completed in time.
    HalfOpenExpired,
}

/// Why an established IKE SA went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// The peer deleted it (INFORMATIONAL DELETE).
    DeletedByPeer,
    /// We deleted it (API call, revocation, expiry).
    DeletedLocally,
    /// The peer's authorization (token) expired.
    Expired,
    /// The peer stopped answering.
    Timeout,
    /// It was replaced by a rekeyed IKE SA.
    Rekeyed,
}

/// Something the driver must act on.
#[derive(Debug, Clone)]
pub enum Event {
    /// An IKE SA is authenticated both ways.
    IkeSaUp {
        /// The IKE SA.
        sa: IkeSaId,
        /// The caller's tag.
        tag: u64,
        /// Which end we are.
        role: Role,
        /// The peer's ID.
        peer_id: IdRepr,
        /// The peer's address.
        remote: SocketAddr,
    },
    /// A Child SA pair to install.
    ChildSaUp(Box<ChildSa>),
    /// A Child SA pair to remove.
    ChildSaDeleted {
        /// The IKE SA.
        sa: IkeSaId,
        /// The caller's tag.
        tag: u64,
        /// Our inbound SPI.
        spi_in: u32,
        /// Our outbound SPI.
        spi_out: u32,
    },
    /// A Child SA could not be set up (the IKE SA stays).
    ChildSaFailed {
        /// The IKE SA.
        sa: IkeSaId,
        /// The caller's tag.
        tag: u64,
        /// Why.
        failure: Failure,
    },
    /// An IKE SA was replaced by a rekeyed one (RFC 7296 §2.18); its Child
    /// SAs now belong to `new`.
    IkeSaRekeyed {
        /// The old IKE SA.
        old: IkeSaId,
        /// The new one.
        new: IkeSaId,
    },
    /// An established IKE SA is gone, with all its Child SAs (each also
    /// reported by `ChildSaDeleted`).
    IkeSaDown {
        /// The IKE SA.
        sa: IkeSaId,
        /// The caller's tag.
        tag: u64,
        /// Why.
        reason: DownReason,
    },
    /// An IKE SA that was being set up failed.
    Failed {
        /// The IKE SA.
        sa: IkeSaId,
        /// The caller's tag (0 for a responder that had not seen IDi).
        tag: u64,
        /// The peer's address.
        remote: SocketAddr,
        /// Why.
        failure: Failure,
    },
}

/// Everything the endpoint refused, dropped or did, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams that did not parse as IKE messages.
    pub malformed: u64,
    /// Messages for an IKE SPI we do not have.
    pub unknown_spi: u64,
    /// SK/SKF payloads whose ICV did not verify (or did not decrypt).
    pub bad_icv: u64,
    /// Messages with an unexpected Message ID or response.
    pub unexpected_message: u64,
    /// IKE_SA_INIT requests received.
    pub init_requests: u64,
    /// COOKIE notifications sent (RFC 7296 §2.6).
    pub cookies_sent: u64,
    /// IKE_SA_INIT requests with a wrong or stale cookie.
    pub bad_cookie: u64,
    /// IKE_SA_INIT requests dropped by the per-source rate limit.
    pub rate_limited: u64,
    /// IKE_SA_INIT requests dropped because the half-open table is full.
    pub half_open_full: u64,
    /// NO_PROPOSAL_CHOSEN answers sent.
    pub no_proposal_chosen: u64,
    /// INVALID_KE_PAYLOAD answers sent.
    pub invalid_ke: u64,
    /// IKE_AUTH refused: unknown ID, expired authorization, or AUTH wrong.
    pub auth_failed: u64,
    /// TS_UNACCEPTABLE answers sent.
    pub ts_unacceptable: u64,
    /// Retransmissions of our requests.
    pub retransmits: u64,
    /// Cached responses sent again for retransmitted requests.
    pub responses_replayed: u64,
    /// Half-open IKE SAs that expired.
    pub half_open_expired: u64,
    /// IKE SAs established.
    pub ike_sa_up: u64,
    /// Child SAs established (incl. rekeys).
    pub child_sa_up: u64,
    /// IKE SAs given up after retransmissions.
    pub timeouts: u64,
    /// Timers that stayed due after they ran (a bug if ever non-zero; the
    /// SA is retried 100 ms later instead of spinning).
    pub stuck_timers: u64,
    /// Requests refused by the peer's Message ID window or other protocol
    /// violations in requests (INVALID_SYNTAX etc.).
    pub invalid_requests: u64,
    /// Simultaneous rekeys of one Child SA by both ends (RFC 7296 §2.8.1),
    /// settled by the lowest nonce.
    pub rekey_collisions: u64,
}
