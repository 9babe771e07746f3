//! RFC 7296 §2.15: the octets each side signs, and the shared-key AUTH
//! computation.
//!
//! ```text
//! InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
//! MACedIDForI = prf(SK_pi, RestOfInitIDPayload)
//! ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
//! MACedIDForR = prf(SK_pr, RestOfRespIDPayload)
//!
//! AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <*SignedOctets>)
//! ```
//!
//! RealMessage1/2 are the IKE_SA_INIT request/response exactly as sent
//! (from the IKE header to the end of the last payload, without the non-ESP
//! marker); NonceRData/NonceIData the peer's Nonce Data; RestOf*IDPayload
//! the ID payload body (ID Type, RESERVED, Identification Data).

use subtle::ConstantTimeEq;

use crate::consts::KEY_PAD_FOR_IKEV2;
use crate::keys::IkeSaKeys;
use crate::prf::{Prf, Secret};

/// Which end of the IKE SA (the original initiator or responder, RFC 7296
/// §2.2) — not who started the current exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The original initiator of the IKE SA.
    Initiator,
    /// The original responder.
    Responder,
}

/// `MACedIDForI = prf(SK_pi, RestOfInitIDPayload)` or `MACedIDForR =
/// prf(SK_pr, RestOfRespIDPayload)`.
pub fn maced_id(prf: Prf, sk_p: &Secret, rest_of_id_payload: &[u8]) -> Secret {
    prf.prf(sk_p.as_bytes(), &[rest_of_id_payload])
}

/// The octets `signer` signs (RFC 7296 §2.15): its own IKE_SA_INIT message
/// (`signer_message`), the other side's Nonce Data, and the MAC of its own
/// ID payload body under its SK_p. Both sides compute the same octets for
/// the same signer: the signer to produce AUTH, the peer to verify it.
pub fn signed_octets(
    prf: Prf,
    keys: &IkeSaKeys,
    signer: Role,
    signer_message: &[u8],
    other_nonce: &[u8],
    signer_id_body: &[u8],
) -> Vec<u8> {
    let sk_p = match signer {
        Role::Initiator => &keys.sk_pi,
        Role::Responder => &keys.sk_pr,
    };
    let maced = maced_id(prf, sk_p, signer_id_body);
    signed_octets_from_parts(signer_message, other_nonce, maced.as_bytes())
}

/// `RealMessage | NonceData | MACedID`, the concatenation of §2.15.
pub fn signed_octets_from_parts(real_message: &[u8], nonce: &[u8], maced_id: &[u8]) -> Vec<u8> {
    [real_message, nonce, maced_id].concat()
}

/// Shared Key Message Integrity Code (Auth Method 2, RFC 7296 §2.15):
/// `AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)`.
pub fn psk_auth(prf: Prf, shared_secret: &[u8], signed_octets: &[u8]) -> Secret {
    let padded = prf.prf(shared_secret, &[KEY_PAD_FOR_IKEV2]);
    prf.prf(padded.as_bytes(), &[signed_octets])
}

/// Checks a received shared-key AUTH in constant time. A mismatch is
/// answered with AUTHENTICATION_FAILED (RFC 7296 §2.21.2).
pub fn verify_psk_auth(
    prf: Prf,
    shared_secret: &[u8],
    signed_octets: &[u8],
    received: &[u8],
) -> bool {
    let expected = psk_auth(prf, shared_secret, signed_octets);
    bool::from(expected.as_bytes().ct_eq(received))
}
