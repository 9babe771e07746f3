//! What an [`Endpoint`](crate::Endpoint) is configured with: suites,
//! timers, DoS limits, and the identities and credentials of each side.

use std::time::Duration;

use crate::consts::{AuthMethod, DhGroup, IdType};
use crate::crypto::{P256PublicKey, P256SigningKey};
use crate::payload::{IdRepr, TrafficSelector};
use crate::prf::Secret;
use crate::proposal::{ChildSuite, IkeSuite};

/// IPsec mode of a Child SA (RFC 7296 §1.3.1, USE_TRANSPORT_MODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Transport mode: protects the upper-layer payload between the hosts.
    Transport,
    /// Tunnel mode: protects whole inner IP packets.
    Tunnel,
}

/// Endpoint-wide settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// IKE SA suites, in order of preference. The initiator's KE uses the
    /// first suite's group.
    pub ike_suites: Vec<IkeSuite>,
    /// Child SA suites, in order of preference.
    pub child_suites: Vec<ChildSuite>,
    /// D-H group for PFS in CREATE_CHILD_SA rekeys of Child SAs (`None`:
    /// no PFS). The responder accepts any group of `ike_suites`.
    pub child_pfs: Option<DhGroup>,
    /// First retransmission timeout (RFC 7296 §2.1); doubled each time.
    pub retransmit_base: Duration,
    /// Retransmissions before the exchange (and the IKE SA) is given up.
    pub retransmit_tries: u32,
    /// Half-open IKE SAs above which IKE_SA_INIT requests without a valid
    /// COOKIE are answered with one (RFC 7296 §2.6).
    pub cookie_threshold: usize,
    /// Hard limit of half-open IKE SAs; requests beyond it are dropped
    /// (counted).
    pub max_half_open: usize,
    /// How long a responder keeps a half-open IKE SA.
    pub half_open_timeout: Duration,
    /// IKE_SA_INIT requests without a valid cookie accepted per source
    /// address per second (a token bucket with this burst).
    pub init_rate_per_source: u32,
    /// Offer and use IKE fragmentation (RFC 7383).
    pub fragmentation: bool,
    /// Largest IKE datagram (IKE header on) before fragmenting, when both
    /// sides support it.
    pub fragment_mtu: usize,
    /// Always UDP-encapsulate ESP (RFC 3948): send a NAT_DETECTION_SOURCE_IP
    /// that cannot match so that both ends float to the NAT-T port and
    /// encapsulate (RFC 7296 §2.23 allows this).
    pub always_encap: bool,
    /// RFC 7815 minimal initiator: one proposal, no NAT detection, no
    /// fragmentation or signature hash notifies, no INITIAL_CONTACT.
    pub minimal: bool,
    /// Signature AUTH method when signing with a raw key: 14 (RFC 7427)
    /// when the peer announced SIGNATURE_HASH_ALGORITHMS with SHA2-256,
    /// else 9 (RFC 4754). `Some(m)` forces one.
    pub signature_method: Option<AuthMethod>,
    /// Send our raw public key in a CERT payload of encoding 15 (RFC 7670).
    pub send_raw_key_cert: bool,
    /// Largest lifetime of an IKE SA before it is rekeyed (`None`: never).
    pub ike_rekey_after: Option<Duration>,
    /// Liveness check interval on an idle established IKE SA.
    pub liveness_interval: Option<Duration>,
    /// The local NAT-T port (RFC 3948), usually 4500.
    pub natt_port: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ike_suites: vec![
                IkeSuite::AES128GCM_SHA256_X25519,
                IkeSuite::AES128GCM_SHA256_P256,
                IkeSuite::AES256GCM_SHA256_X25519,
                IkeSuite::AES128CBC_SHA256_X25519,
                IkeSuite::AES256CBC_SHA256_P256,
            ],
            child_suites: vec![
                ChildSuite::ESP_AES128GCM16,
                ChildSuite::ESP_AES256GCM16,
                ChildSuite::ESP_AES128CCM8,
                ChildSuite::ESP_AES256CCM8,
                ChildSuite::ESP_CHACHA20POLY1305,
                ChildSuite::ESP_AES128CBC_SHA256,
                ChildSuite::ESP_AES256CBC_SHA256,
            ],
            child_pfs: Some(DhGroup::CURVE25519),
            retransmit_base: Duration::from_millis(500),
            retransmit_tries: 6,
            cookie_threshold: 64,
            max_half_open: 20_000,
            half_open_timeout: Duration::from_secs(10),
            init_rate_per_source: 200,
            fragmentation: true,
            fragment_mtu: 1280,
            always_encap: true,
            minimal: false,
            signature_method: None,
            send_raw_key_cert: false,
            ike_rekey_after: None,
            liveness_interval: None,
            natt_port: 4500,
        }
    }
}

/// How one side proves who it is (RFC 7296 §2.15).
#[derive(Clone)]
pub enum Credential {
    /// A shared key (AUTH method 2): the `k` of a symmetric COSE_Key.
    Psk(Secret),
    /// An ECDSA P-256 key (AUTH method 9 or 14).
    P256(std::sync::Arc<P256SigningKey>),
}

impl core::fmt::Debug for Credential {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Credential::Psk(_) => f.write_str("Credential::Psk(<redacted>)"),
            Credential::P256(_) => f.write_str("Credential::P256(<redacted>)"),
        }
    }
}

/// How the peer must prove who it is.
#[derive(Clone)]
pub enum PeerAuth {
    /// The same shared key.
    Psk(Secret),
    /// This raw public key (from the access token or the AS).
    P256(P256PublicKey),
}

impl core::fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PeerAuth::Psk(_) => f.write_str("PeerAuth::Psk(<redacted>)"),
            PeerAuth::P256(_) => f.write_str("PeerAuth::P256"),
        }
    }
}

/// What the Child SA must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildPolicy {
    /// Transport or tunnel.
    pub mode: Mode,
    /// Our side's traffic (TSi for the initiator, TSr for the responder).
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's side's traffic.
    pub remote_ts: Vec<TrafficSelector>,
    /// Lifetime of each Child SA before it is rekeyed (the initiator of
    /// the IKE SA rekeys) and, for the responder, the bound the Child SA
    /// must not outlive (the token's expiry).
    pub lifetime: Duration,
}

/// What the initiator of an IKE SA sets up.
#[derive(Debug, Clone)]
pub struct InitiatorParams {
    /// IDi.
    pub local_id: IdRepr,
    /// Our credential.
    pub credential: Credential,
    /// IDr we expect (`None`: any, once AUTH verifies).
    pub peer_id: Option<IdRepr>,
    /// The peer's credential.
    pub peer_auth: PeerAuth,
    /// The first Child SA.
    pub child: ChildPolicy,
    /// The peer's NAT-T port (usually 4500).
    pub peer_natt_port: u16,
    /// Nothing set up outlives this instant (the token's `exp`): Child SAs
    /// are cut to it and the IKE SA is deleted then.
    pub not_after: Option<std::time::Instant>,
    /// A value of the caller's, returned in events (e.g. the token).
    pub tag: u64,
}

/// A peer the responder accepts: the ACE binding registers one per access
/// token (the ID is ID_KEY_ID with the PoP key's `kid`).
#[derive(Debug, Clone)]
pub struct PeerEntry {
    /// IDi the peer must send.
    pub id: IdRepr,
    /// How it must authenticate.
    pub auth: PeerAuth,
    /// Our ID towards it (IDr).
    pub local_id: IdRepr,
    /// Our credential towards it (for PSK, the same key).
    pub credential: Credential,
    /// What its Child SAs may carry.
    pub child: ChildPolicy,
    /// Nothing set up for this peer outlives this instant (the token's
    /// `exp`): later IKE_AUTHs fail, SAs are cut to it.
    pub not_after: std::time::Instant,
    /// The caller's value (e.g. the token), returned in events.
    pub tag: u64,
}

/// An ID_KEY_ID identity (RFC 7296 §3.5) — how the ACE binding names a
/// PoP key by its `kid`.
pub fn key_id(kid: &[u8]) -> IdRepr {
    IdRepr {
        id_type: IdType::ID_KEY_ID,
        data: kid.to_vec(),
    }
}
