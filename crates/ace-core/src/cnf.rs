//! The confirmation (`cnf`) map: the `cnf` claim of the access token
//! (RFC 8747 §3.1), the `cnf`/`req_cnf`/`rs_cnf` parameters of the token
//! endpoint (RFC 9201 §3), extended by this profile with the `ipsec` and
//! `kmp` members (draft-aragon-ace-ipsec-profile-01 §2.1, §3.2).
//!
//! ```text
//! cnf = {
//!   ? 1 => COSE_Key,            ; RFC 8747 §3.2
//!   ? 3 => bstr,                ; kid, RFC 8747 §3.4
//!   ? -65537 => ipsec,          ; draft §2.1 (Private Use label)
//!   ? -65538 => uint,           ; kmp: 1 ikev2, 2 edhoc (Private Use label)
//! }
//! ```
//!
//! Members this crate does not understand (including `Encrypted_COSE_Key`,
//! 2) are ignored, as RFC 8747 §3.1 requires.

use ciborium::value::Value;
use coset::{AsCborValue, CoseKey, Label};

use crate::cbor::{uint, MapReader, MapWriter};
use crate::error::DecodeError;
use crate::ipsec::{decode_ipsec_member, IpsecMember, IpsecParams, IpsecSpiUpdate};
use crate::labels::{cnf as l, kmp as kmp_l};

/// A COSE_Key as carried in `cnf` (RFC 9052 §7). Re-exported from coset.
pub type CoseKeyRef = CoseKey;

/// Key management protocol the AS selects (draft §3.2, `kmp` member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kmp {
    /// IKEv2 (RFC 7296), authenticated with the proof-of-possession key
    /// (draft §3.2.2, §3.2.3).
    Ikev2,
    /// EDHOC (RFC 9528), draft Appendix B.
    Edhoc,
}

impl Kmp {
    /// Wire value ([`crate::labels::kmp`]).
    pub fn to_u64(self) -> u64 {
        match self {
            Kmp::Ikev2 => kmp_l::IKEV2,
            Kmp::Edhoc => kmp_l::EDHOC,
        }
    }

    /// Parse a wire value.
    pub fn from_u64(v: u64) -> Option<Self> {
        match v {
            kmp_l::IKEV2 => Some(Kmp::Ikev2),
            kmp_l::EDHOC => Some(Kmp::Edhoc),
            _ => None,
        }
    }
}

/// The confirmation map.
///
/// Which SA set-up method a token selects (draft §3.3): Direct Provisioning
/// when `ipsec` carries sec_B and `cose_key` is absent; IKEv2 with a PSK when
/// `cose_key` is symmetric and `kmp` is IKEv2; IKEv2 with raw public keys
/// when `cose_key` is asymmetric and `kmp` is IKEv2.
#[derive(Clone, Default, PartialEq)]
pub struct Cnf {
    /// `COSE_Key` (1): the proof-of-possession key.
    pub cose_key: Option<CoseKey>,
    /// `kid` (3): reference to a key the recipient already holds.
    pub kid: Option<Vec<u8>>,
    /// `ipsec` (-65537): the SA pair's parameters.
    pub ipsec: Option<IpsecParams>,
    /// `kmp` (-65538): the key management protocol.
    pub kmp: Option<Kmp>,
    /// `ipsec` (-65537) in its token-update form, SPI_SA_RS only (draft
    /// §2.1, last paragraph), as C sends it in `req_cnf`. Encoded only when
    /// `ipsec` is `None`; a decoded map fills exactly one of the two.
    pub ipsec_update: Option<IpsecSpiUpdate>,
}

/// `Debug` that never shows key material: a COSE_Key is shown by type,
/// kid and algorithm only (its parameters may hold a symmetric `k` or a
/// private `d`), the `ipsec` seed is redacted by [`crate::ipsec::Seed`].
impl core::fmt::Debug for Cnf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        struct RedactedKey<'a>(&'a CoseKey);
        impl core::fmt::Debug for RedactedKey<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct("CoseKey")
                    .field("kty", &self.0.kty)
                    .field("kid", &self.0.key_id)
                    .field("alg", &self.0.alg)
                    .field(
                        "params",
                        &format_args!("<{} redacted>", self.0.params.len()),
                    )
                    .finish()
            }
        }
        f.debug_struct("Cnf")
            .field("cose_key", &self.cose_key.as_ref().map(RedactedKey))
            .field("kid", &self.kid)
            .field("ipsec", &self.ipsec)
            .field("kmp", &self.kmp)
            .field("ipsec_update", &self.ipsec_update)
            .finish()
    }
}

impl Cnf {
    /// Encode (deterministic key order).
    pub fn to_value(&self) -> Value {
        let mut m = MapWriter::new();
        m.put_opt(l::COSE_KEY, self.cose_key.as_ref().map(cose_key_to_value))
            .put_opt(l::KID, self.kid.clone().map(Value::Bytes))
            .put_opt(
                l::IPSEC,
                match (&self.ipsec, &self.ipsec_update) {
                    (Some(p), _) => Some(p.to_value()),
                    (None, Some(u)) => Some(u.to_value()),
                    (None, None) => None,
                },
            )
            .put_opt(l::KMP, self.kmp.map(|k| uint(k.to_u64())));
        m.finish()
    }

    /// Decode from a borrowed CBOR value; [`Self::from_owned_value`] avoids the copy.
    pub fn from_value(value: &Value) -> Result<Self, DecodeError> {
        Self::from_owned_value(value.clone())
    }

    /// Decode. Unknown members are ignored (RFC 8747 §3.1); an unknown
    /// `kmp` value is an error, since C and RS must run the same protocol.
    pub fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        let mut m = MapReader::new(value, "cnf")?;
        let cose_key = match m.take(l::COSE_KEY) {
            None => None,
            Some(v) => Some(cose_key_from_value(v)?),
        };
        let kid = m.bytes(l::KID, "cnf.kid")?;
        let kmp = match m.uint(l::KMP, "cnf.kmp")? {
            None => None,
            Some(v) => Some(Kmp::from_u64(v).ok_or(DecodeError::invalid(
                "cnf.kmp",
                "unknown key management protocol",
            ))?),
        };
        // Beside `kmp`, sec_B may come without `seed` (draft Appendix B.1).
        let (ipsec, ipsec_update) = match m.take(l::IPSEC) {
            None => (None, None),
            Some(v) => match decode_ipsec_member(v, kmp.is_some())? {
                IpsecMember::Full(p) => (Some(p), None),
                IpsecMember::SpiUpdate(u) => (None, Some(u)),
            },
        };
        Ok(Cnf {
            cose_key,
            kid,
            ipsec,
            kmp,
            ipsec_update,
        })
    }
}

/// The `k` of a symmetric COSE_Key (RFC 9053 §6.1), if it has one of at
/// least 16 octets: the PSK of an IKEv2 token (draft §3.2.2).
pub fn symmetric_k(key: &CoseKey) -> Option<&[u8]> {
    if key.kty != coset::KeyType::Assigned(coset::iana::KeyType::Symmetric) {
        return None;
    }
    let k_label = Label::Int(coset::iana::SymmetricKeyParameter::K as i64);
    key.params
        .iter()
        .find(|(l, _)| *l == k_label)
        .and_then(|(_, v)| v.as_bytes())
        .map(Vec::as_slice)
        .filter(|k| k.len() >= 16)
}

/// Decode a COSE_Key (RFC 9052 §7).
pub(crate) fn cose_key_from_value(v: Value) -> Result<CoseKey, DecodeError> {
    CoseKey::from_cbor_value(v).map_err(|e| DecodeError::Cose(format!("COSE_Key: {e:?}")))
}

/// Encode a COSE_Key. Never fails: parameters whose label repeats (which
/// coset refuses to encode) keep their first occurrence only.
pub(crate) fn cose_key_to_value(key: &CoseKey) -> Value {
    let mut k = key.clone();
    let reserved = [1i64, 2, 3, 4, 5];
    let mut seen: Vec<Label> = Vec::new();
    k.params.retain(|(label, _)| {
        let clash = matches!(label, Label::Int(i) if reserved.contains(i)) || seen.contains(label);
        if !clash {
            seen.push(label.clone());
        }
        !clash
    });
    k.to_cbor_value().unwrap_or(Value::Null)
}

/// Encode the `rs_cnf` parameter (RFC 9201 §3.2, RFC 9200 Figure 12):
/// `{ 1 => COSE_Key }`.
pub(crate) fn rs_cnf_to_value(key: &CoseKey) -> Value {
    let mut m = MapWriter::new();
    m.put(l::COSE_KEY, cose_key_to_value(key));
    m.finish()
}

/// Decode `rs_cnf`: a confirmation map that must carry a COSE_Key.
pub(crate) fn rs_cnf_from_value(v: Value) -> Result<CoseKey, DecodeError> {
    let mut m = MapReader::new(v, "rs_cnf")?;
    let key = m
        .take(l::COSE_KEY)
        .ok_or(DecodeError::MissingField("rs_cnf.COSE_Key"))?;
    cose_key_from_value(key)
}
