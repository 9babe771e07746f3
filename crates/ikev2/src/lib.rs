//! `ikev2`: IKEv2 (RFC 7296) for the ACE-OAuth IPsec profile, as a sans-IO
//! state machine: wire format, key schedule, cryptography, and the
//! initiator/responder [`Endpoint`].
//!
//! No sockets, no clocks: bytes in, typed values out, and back.
//!
//! - [`consts`]: every wire constant, next to the RFC / IANA table it comes
//!   from.
//! - [`header`]: the IKE header (§3.1), view and repr.
//! - [`payload`]: the generic payload chain (§3.2, critical bit handling)
//!   and every payload: SA (§3.3), KE (§3.4), IDi/IDr (§3.5), CERT (§3.6),
//!   CERTREQ (§3.7), AUTH (§3.8), Nonce (§3.9), Notify (§3.10), Delete
//!   (§3.11), Vendor ID (§3.12), TSi/TSr (§3.13), SK (§3.14, the container)
//!   and SKF (RFC 7383 §2.5).
//! - [`message`]: a whole message, parsed and emitted with every length and
//!   Next Payload computed.
//! - [`prf`]: PRF_HMAC_SHA2_256 and prf+ (§2.13), and [`Secret`].
//! - [`keys`]: SKEYSEED, the IKE SA keys (§2.14), Child SA KEYMAT (§2.17),
//!   the rekeyed SKEYSEED (§2.18), key lengths per transform.
//! - [`auth`]: the signed octets and the shared-key AUTH (§2.15).
//! - [`crypto`]: D-H groups 19 and 31, the SK/SKF payload protection
//!   (AES-GCM-16, AES-CBC + HMAC-SHA-256-128) with RFC 7383 reassembly, and
//!   ECDSA P-256 AUTH (RFC 4754, RFC 7427) with raw public keys.
//! - [`proposal`], [`selectors`]: suites and proposal choice (§2.7, §3.3),
//!   traffic selector narrowing (§2.9).
//! - [`endpoint`]: every IKE SA of a host — IKE_SA_INIT, IKE_AUTH,
//!   CREATE_CHILD_SA (Child SA and IKE SA rekeys with PFS), INFORMATIONAL
//!   (DELETE, liveness), retransmission, cookies (§2.6), NAT detection and
//!   the float to the NAT-T port (§2.23), fragmentation (RFC 7383), the
//!   RFC 7815 minimal initiator. [`config`] and [`event`] are its inputs and
//!   outputs.
//!
//! Peer input never panics: every parser returns a [`ParseError`] naming
//! the rule broken, and [`ParseError::notify`] the notification to answer.

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

pub mod auth;
pub mod config;
pub mod consts;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod header;
mod ike_sa;
pub mod keys;
pub mod message;
pub mod payload;
pub mod prf;
pub mod proposal;
pub mod selectors;
mod util;
mod wire;

pub use auth::{psk_auth, signed_octets, verify_psk_auth, Role};
pub use config::{ChildPolicy, Config, Credential, InitiatorParams, Mode, PeerAuth, PeerEntry};
pub use consts::{
    AuthMethod, CertEncoding, DhGroup, EncrId, EsnId, ExchangeType, IdType, IntegId, NotifyType,
    PayloadType, PrfId, ProtocolId, TransformType, TsType,
};
pub use endpoint::Endpoint;
pub use error::IkeError;
pub use error::{EmitError, KdfError, ParseError};
pub use event::{ChildSa, Counters, DownReason, Event, Failure, IkeSaId, Transmit};
pub use header::{Header, HeaderRepr, IkeSpi};
pub use keys::{ChildSaKeys, CipherSpec, IkeSaKeys, SkeySeed};
pub use message::{MessageRepr, MessageView};
pub use payload::{Payload, PayloadIter, RawPayload};
pub use prf::{Prf, Secret};
pub use proposal::{ChildSuite, IkeSuite};
