//! `ipsec-dp`: the sans-IO ESP data plane of the ACE-OAuth IPsec profile
//! (draft-aragon-ace-ipsec-profile).
//!
//! No sockets, no clocks, no threads: packets come in as byte slices owned by
//! the caller and time comes in as [`std::time::Instant`] arguments.
//!
//! - [`suite`]: the ESP suites (RFC 4309 AES-CCM-8/16, RFC 4106 AES-GCM-16,
//!   RFC 7634 ChaCha20-Poly1305, RFC 3602 AES-CBC and RFC 2410 NULL with
//!   RFC 4868 HMAC-SHA-256-128) and their COSE identifiers (RFC 9053).
//! - [`provider`]: which implementation runs each algorithm ([`aes_ccm`],
//!   [`cbc_hmac`], aws-lc-rs).
//! - [`bench`]: ESP against the raw transform, without criterion.
//! - [`keys`], [`kdf`]: per-SA keying material (zeroized on drop), RFC 7296
//!   §2.13 prf+ and the profile's Direct Provisioning derivation.
//! - [`cipher`]: the keyed transform with the RFC 4106 / RFC 4309 / RFC 7634
//!   nonce and AAD layouts (ESN included).
//! - [`sa`]: [`OutboundSa::seal`] (RFC 4303 §3.3) and [`InboundSa::open`]
//!   (RFC 4303 §3.4) in place, with the [`replay`] window of RFC 4303 §3.4.3.
//! - [`sad`]: the inbound Security Association Database (RFC 4301 §4.4.2).
//! - [`encap`]: RFC 3948 demultiplexing of UDP port 4500.
//! - [`transport`]: the UDP datagram that transport mode carries (RFC 768).
//!
//! Peer input never panics: every parser returns a typed error, and
//! [`DropReason`] says why an inbound packet was dropped.

#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod aes_ccm;
pub mod ah;
pub mod bench;
pub mod cbc_hmac;
pub mod cipher;
pub mod consts;
pub mod encap;
pub mod error;
pub mod ip;
pub mod kdf;
pub mod keys;
pub mod mode;
pub mod provider;
pub mod replay;
pub mod sa;
pub mod sad;
pub mod spd;
pub mod suite;
pub mod transport;

pub use cipher::{CryptoError, EspAead};
pub use encap::{classify, Classified};
pub use error::{
    DropCounters, DropReason, EncapError, KdfError, KeyError, SaError, SadError, SealError,
    UdpError,
};
pub use kdf::{derive_dp_sa_pair, prf_plus};
pub use keys::SaKeys;
pub use replay::{ReplayError, ReplayWindow};
pub use sa::{
    InboundSa, LifetimeStatus, Opened, OutboundSa, SaCounters, SaLifetime, SaOptions, SealCounters,
};
pub use sad::Sad;
pub use suite::EspSuite;
pub use transport::{parse_udp, write_udp, UdpView};
