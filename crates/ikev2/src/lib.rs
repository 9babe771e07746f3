//! `ikev2`: the wire format and key schedule of IKEv2 (RFC 7296) for the
//! ACE-OAuth IPsec profile — the foundation the sans-IO state machine
//! builds on.
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
pub mod consts;
pub mod crypto;
pub mod error;
pub mod header;
pub mod keys;
pub mod message;
pub mod payload;
pub mod prf;
mod wire;

pub use auth::{psk_auth, signed_octets, verify_psk_auth, Role};
pub use consts::{
    AuthMethod, CertEncoding, DhGroup, EncrId, EsnId, ExchangeType, IdType, IntegId, NotifyType,
    PayloadType, PrfId, ProtocolId, TransformType, TsType,
};
pub use error::{EmitError, KdfError, ParseError};
pub use header::{Header, HeaderRepr, IkeSpi};
pub use keys::{ChildSaKeys, CipherSpec, IkeSaKeys, SkeySeed};
pub use message::{MessageRepr, MessageView};
pub use payload::{Payload, PayloadIter, RawPayload};
pub use prf::{Prf, Secret};
