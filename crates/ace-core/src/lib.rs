//! ace-core: the messages of ACE-OAuth (RFC 9200) and of its IPsec profile
//! (draft-aragon-ace-ipsec-profile-01) as typed Rust values with CBOR
//! encoding, and the CWT access tokens (RFC 8392) that carry them.
//!
//! Pure functions: no I/O, no clock (time comes in as unix seconds), no
//! panics on peer input. Every wire number is in [`labels`].
//!
//! | module | what |
//! |---|---|
//! | [`labels`] | every integer label and value, with its source |
//! | [`ipsec`] | the `ipsec` structure (draft §2.1) |
//! | [`cnf`] | the confirmation map with `COSE_Key`, `kid`, `ipsec`, `kmp` |
//! | [`scope`] | text and AIF scopes, access decisions, AS grants |
//! | [`token`] | `/token` request, response, error (RFC 9200 §5.8) |
//! | [`hints`] | AS Request Creation Hints (RFC 9200 §5.3) |
//! | [`authz_info`] | the `/authz-info` payload of this profile (with EDHOC message_1 for Appendix B) |
//! | [`edhoc`] | EDHOC (RFC 9528) glue over `lakers`: credentials, exporter, the IPsec seed |
//! | [`cwt`] | claims, COSE_Encrypt0 / COSE_Mac0 / COSE_Sign1 tokens |
//! | [`validate`] | the RS's claim checks (RFC 9200 §5.10.1.1) |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod authz_info;
mod cbor;
pub mod cnf;
pub mod cwt;
pub mod edhoc;
pub mod error;
pub mod hints;
pub mod ipsec;
pub mod labels;
pub mod scope;
pub mod token;
pub mod validate;

pub use authz_info::{AuthzInfoEdhoc, AuthzInfoRequest, AuthzInfoUpload};
pub use cnf::{Cnf, CoseKeyRef, Kmp};
pub use cwt::{
    decode_sign1_unverified, decrypt_token, encrypt_token, encrypt_token_with_iv, mac0_token,
    verify_mac0_token, Claims, ContentAlg, CwtError, MacAlg, MacKey, Sign1Parts, TokenKey,
};
pub use error::{CoapCode, DecodeError};
pub use hints::AsCreationHints;
pub use ipsec::{IpsecError, IpsecParams, IpsecSpiUpdate, Mode, SecProtocol, Seed};
pub use scope::{Access, AifEntry, NoTextScopes, Scope, ScopeResolver};
pub use token::{AceErrorCode, AceErrorResponse, TokenRequest, TokenResponse};
pub use validate::{validate_claims, TokenInvalid};

/// Re-exported CBOR value type used by every `to_value`/`from_value`.
pub use ciborium::value::Value;
/// Re-exported so that callers build `COSE_Key`s with the same coset.
pub use coset;
