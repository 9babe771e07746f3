//! RFC 7296 §3.4: the Key Exchange Data and the shared secret g^ir, for
//! D-H group 19 (256-bit random ECP group, RFC 5903) and group 31
//! (Curve25519, RFC 8031).
//!
//! - Group 19, RFC 5903 §7: the Key Exchange Data is x | y, each coordinate
//!   32 octets big-endian (no SEC1 0x04 prefix); g^ir is the x-coordinate
//!   of the shared point, 32 octets.
//! - Group 31, RFC 8031 §2: the Key Exchange Data is the 32-octet
//!   little-endian u-coordinate (RFC 7748 §5); g^ir is the 32-octet X25519
//!   output, which must not be all zeros (§2.3).
//!
//! The private key is an aws-lc `agreement::PrivateKey` (not ephemeral),
//! so [`DhPrivate::agree`] takes `&self`: a retransmitted IKE_SA_INIT
//! response, or a second KE payload computed against the same key, needs
//! no new key.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, ECDH_P256, X25519};
use subtle::ConstantTimeEq;

use super::CryptoError;
use crate::consts::DhGroup;
use crate::payload::KeRepr;
use crate::prf::Secret;

/// RFC 5903 §7: one P-256 coordinate (and the shared secret) is 32 octets.
const P256_COORD_LEN: usize = 32;
/// SEC1 §2.3.3: the uncompressed-point prefix aws-lc expects.
const SEC1_UNCOMPRESSED: u8 = 0x04;
/// RFC 8031 §2 / RFC 7748 §5: X25519 public values and outputs are 32 octets.
const X25519_LEN: usize = 32;

/// The length of the Key Exchange Data of `group` (RFC 5903 §7: 64 for
/// group 19; RFC 8031 §2: 32 for group 31), `None` for a group this module
/// does not implement.
pub fn ke_data_len(group: DhGroup) -> Option<usize> {
    match group {
        DhGroup::ECP_256 => Some(2 * P256_COORD_LEN),
        DhGroup::CURVE25519 => Some(X25519_LEN),
        _ => None,
    }
}

fn algorithm(group: DhGroup) -> Result<&'static agreement::Algorithm, CryptoError> {
    match group {
        DhGroup::ECP_256 => Ok(&ECDH_P256),
        DhGroup::CURVE25519 => Ok(&X25519),
        other => Err(CryptoError::UnsupportedDhGroup(other)),
    }
}

/// One side's D-H private key and its public value.
///
/// `Debug` shows the group only.
pub struct DhPrivate {
    group: DhGroup,
    key: PrivateKey,
    /// The Key Exchange Data (RFC 7296 §3.4) in the group's encoding.
    public: Vec<u8>,
}

impl core::fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DhPrivate")
            .field("group", &self.group)
            .field("private", &"<redacted>")
            .finish()
    }
}

impl DhPrivate {
    /// A fresh key pair for `group` from aws-lc's random generator.
    /// Groups other than 19 and 31: [`CryptoError::UnsupportedDhGroup`].
    pub fn generate(group: DhGroup) -> Result<Self, CryptoError> {
        let key = PrivateKey::generate(algorithm(group)?)
            .map_err(|_| CryptoError::Internal("D-H key generation"))?;
        Self::from_key(group, key)
    }

    /// The key pair of a given private value: for group 19 the 32-octet
    /// big-endian scalar (1 ≤ d < n), for group 31 the 32-octet X25519
    /// scalar (clamped as RFC 7748 §5 says). For test vectors and
    /// reproducible runs; use [`DhPrivate::generate`] otherwise.
    pub fn from_private_bytes(group: DhGroup, d: &[u8]) -> Result<Self, CryptoError> {
        let key = PrivateKey::from_private_key(algorithm(group)?, d)
            .map_err(|_| CryptoError::InvalidPrivateKey("D-H"))?;
        Self::from_key(group, key)
    }

    fn from_key(group: DhGroup, key: PrivateKey) -> Result<Self, CryptoError> {
        let computed = key
            .compute_public_key()
            .map_err(|_| CryptoError::Internal("D-H public value"))?;
        let bytes = computed.as_ref();
        let public = match group {
            // aws-lc gives the SEC1 uncompressed point 0x04 | x | y; RFC
            // 5903 §7 sends x | y.
            DhGroup::ECP_256 => match bytes.split_first() {
                Some((&SEC1_UNCOMPRESSED, xy)) if xy.len() == 2 * P256_COORD_LEN => xy.to_vec(),
                _ => return Err(CryptoError::Internal("P-256 public value encoding")),
            },
            _ if bytes.len() == X25519_LEN => bytes.to_vec(),
            _ => return Err(CryptoError::Internal("X25519 public value encoding")),
        };
        Ok(DhPrivate { group, key, public })
    }

    /// The D-H group.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The Key Exchange Data of the KE payload (RFC 7296 §3.4): x | y for
    /// group 19, the u-coordinate for group 31.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The KE payload carrying [`DhPrivate::public_key`].
    pub fn ke_repr(&self) -> KeRepr {
        KeRepr {
            group: self.group,
            data: self.public.clone(),
        }
    }

    /// g^ir (RFC 7296 §2.14) with the peer's Key Exchange Data: the
    /// x-coordinate of the shared point for group 19 (RFC 5903 §7), the
    /// X25519 output for group 31 (RFC 8031 §2.2).
    ///
    /// Peer input is checked: the length against the group
    /// ([`CryptoError::KeDataLength`]), a P-256 value must be a point on
    /// the curve (RFC 6989 §2.3; [`CryptoError::InvalidPeerPublicValue`]),
    /// an X25519 result must not be all zeros (RFC 8031 §2.3;
    /// [`CryptoError::ZeroSharedSecret`]).
    pub fn agree(&self, peer_ke_data: &[u8]) -> Result<Secret, CryptoError> {
        let group = self.group;
        let expected = ke_data_len(group).ok_or(CryptoError::UnsupportedDhGroup(group))?;
        if peer_ke_data.len() != expected {
            return Err(CryptoError::KeDataLength {
                group,
                expected,
                got: peer_ke_data.len(),
            });
        }
        let shared = match group {
            DhGroup::ECP_256 => {
                let mut point = Vec::with_capacity(1 + expected);
                point.push(SEC1_UNCOMPRESSED);
                point.extend_from_slice(peer_ke_data);
                agreement::agree(
                    &self.key,
                    UnparsedPublicKey::new(&ECDH_P256, point),
                    CryptoError::InvalidPeerPublicValue(group),
                    |s| Ok(Secret::from_slice(s)),
                )?
            }
            // Every 32-octet string is an X25519 u-coordinate (RFC 7748
            // §5); aws-lc refuses only an all-zero result, which is the
            // check RFC 8031 §2.3 asks for.
            _ => agreement::agree(
                &self.key,
                UnparsedPublicKey::new(&X25519, peer_ke_data),
                CryptoError::ZeroSharedSecret,
                |s| Ok(Secret::from_slice(s)),
            )?,
        };
        let want = match group {
            DhGroup::ECP_256 => P256_COORD_LEN,
            _ => X25519_LEN,
        };
        if shared.len() != want {
            return Err(CryptoError::Internal("D-H shared secret length"));
        }
        // RFC 8031 §2.3, checked here too so that the rule does not rest on
        // the library alone (constant time: the value is secret).
        if group == DhGroup::CURVE25519 && bool::from(shared.as_bytes().ct_eq(&[0u8; X25519_LEN])) {
            return Err(CryptoError::ZeroSharedSecret);
        }
        Ok(shared)
    }
}
