//! The key schedule: SKEYSEED and the IKE SA keys (RFC 7296 §2.14), Child
//! SA KEYMAT (§2.17) and the rekeyed SKEYSEED (§2.18), with key lengths per
//! negotiated transform ([`CipherSpec`]).

use crate::consts::{
    EncrId, IntegId, AEAD_IV_LEN, AES_CBC_IV_LEN, AES_CCM_SALT_LEN, AES_GCM_SALT_LEN,
    AUTH_HMAC_SHA2_256_128_ICV_LEN, AUTH_HMAC_SHA2_256_128_KEY_LEN, CHACHA20_POLY1305_KEY_LEN,
    CHACHA20_POLY1305_SALT_LEN,
};
use crate::error::KdfError;
use crate::header::IkeSpi;
use crate::prf::{Prf, Secret};

/// The encryption and integrity transforms of an SA, reduced to what the key
/// schedule and the SK/ESP containers need: key, salt, IV and ICV lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherSpec {
    /// ENCR Transform ID (`None` for AH, which has integrity only).
    pub encr: Option<EncrId>,
    /// INTEG Transform ID ([`IntegId::NONE`] for the AEADs).
    pub integ: IntegId,
    /// Encryption key octets (without salt).
    pub encr_key_len: usize,
    /// Salt octets appended to the encryption key in the keying material
    /// (RFC 5282 §7.1, RFC 4106 §8.1, RFC 4309 §7.1, RFC 7634 §4).
    pub salt_len: usize,
    /// Integrity key octets (0 for the AEADs).
    pub integ_key_len: usize,
    /// Explicit IV octets in each SK payload / ESP packet.
    pub iv_len: usize,
    /// Integrity Checksum Data octets (the AEAD tag for combined modes).
    pub icv_len: usize,
}

impl CipherSpec {
    /// The spec for an ENCR transform (with its Key Length attribute in
    /// bits, if any) and an INTEG transform ([`IntegId::NONE`] or absent for
    /// the AEADs), for the IKE SA (SK payload) or an ESP Child SA.
    ///
    /// Supported: ENCR_AES_CBC (128/192/256) with AUTH_HMAC_SHA2_256_128;
    /// ENCR_AES_GCM_16 and ENCR_AES_CCM_8 (128/192/256) and
    /// ENCR_CHACHA20_POLY1305 (no Key Length, or 256) without INTEG (RFC
    /// 5282 §8: combined-mode ciphers carry no integrity transform); and
    /// for ESP only, ENCR_NULL with AUTH_HMAC_SHA2_256_128 (the IKE SA must
    /// refuse ENCR_NULL, RFC 7296 §3.3.2).
    pub fn new(encr: EncrId, key_bits: Option<u16>, integ: IntegId) -> Result<Self, KdfError> {
        let aes_key = |bits: Option<u16>| match bits {
            Some(128) => Ok(16),
            Some(192) => Ok(24),
            Some(256) => Ok(32),
            other => Err(KdfError::BadKeyLength(other)),
        };
        let (encr_key_len, salt_len, iv_len, aead_icv) = match encr {
            EncrId::ENCR_AES_CBC => (aes_key(key_bits)?, 0, AES_CBC_IV_LEN, None),
            EncrId::ENCR_AES_GCM_16 => {
                (aes_key(key_bits)?, AES_GCM_SALT_LEN, AEAD_IV_LEN, Some(16))
            }
            EncrId::ENCR_AES_CCM_8 => (aes_key(key_bits)?, AES_CCM_SALT_LEN, AEAD_IV_LEN, Some(8)),
            EncrId::ENCR_CHACHA20_POLY1305 => match key_bits {
                None | Some(256) => (
                    CHACHA20_POLY1305_KEY_LEN,
                    CHACHA20_POLY1305_SALT_LEN,
                    AEAD_IV_LEN,
                    Some(16),
                ),
                other => return Err(KdfError::BadKeyLength(other)),
            },
            EncrId::ENCR_NULL => match key_bits {
                None => (0, 0, 0, None),
                other => return Err(KdfError::BadKeyLength(other)),
            },
            other => {
                return Err(KdfError::UnsupportedTransform {
                    kind: "ENCR",
                    id: other.0,
                })
            }
        };
        let (integ_key_len, icv_len) = match (aead_icv, integ) {
            (Some(icv), IntegId::NONE) => (0, icv),
            (Some(_), other) => return Err(KdfError::IntegrityMismatch(other.0)),
            (None, IntegId::AUTH_HMAC_SHA2_256_128) => (
                AUTH_HMAC_SHA2_256_128_KEY_LEN,
                AUTH_HMAC_SHA2_256_128_ICV_LEN,
            ),
            (None, IntegId::NONE) => return Err(KdfError::IntegrityMismatch(0)),
            (None, other) => {
                return Err(KdfError::UnsupportedTransform {
                    kind: "INTEG",
                    id: other.0,
                })
            }
        };
        Ok(CipherSpec {
            encr: Some(encr),
            integ,
            encr_key_len,
            salt_len,
            integ_key_len,
            iv_len,
            icv_len,
        })
    }

    /// The spec of an AH Child SA: integrity only (AUTH_HMAC_SHA2_256_128).
    pub fn ah(integ: IntegId) -> Result<Self, KdfError> {
        match integ {
            IntegId::AUTH_HMAC_SHA2_256_128 => Ok(CipherSpec {
                encr: None,
                integ,
                encr_key_len: 0,
                salt_len: 0,
                integ_key_len: AUTH_HMAC_SHA2_256_128_KEY_LEN,
                iv_len: 0,
                icv_len: AUTH_HMAC_SHA2_256_128_ICV_LEN,
            }),
            other => Err(KdfError::UnsupportedTransform {
                kind: "INTEG",
                id: other.0,
            }),
        }
    }

    /// Whether the cipher is a combined mode (AEAD).
    pub fn is_aead(&self) -> bool {
        self.integ == IntegId::NONE && self.encr.is_some()
    }

    /// Encryption keying material per direction: key followed by salt.
    pub fn encr_keymat_len(&self) -> usize {
        self.encr_key_len + self.salt_len
    }

    /// Keying material per direction for a Child SA: encryption key (and
    /// salt), then integrity key (RFC 7296 §2.17).
    pub fn keymat_len(&self) -> usize {
        self.encr_keymat_len() + self.integ_key_len
    }
}

/// SKEYSEED (RFC 7296 §2.14, §2.18). Zeroized on drop, never printed.
#[derive(Clone)]
pub struct SkeySeed(Secret);

impl core::fmt::Debug for SkeySeed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SkeySeed(<redacted>)")
    }
}

impl SkeySeed {
    /// RFC 7296 §2.14: `SKEYSEED = prf(Ni | Nr, g^ir)`, with Ni and Nr the
    /// Nonce Data (no payload headers) and g^ir the shared secret as the DH
    /// code produces it (RFC 5903 §7: the x-coordinate for ECP groups; RFC
    /// 8031 §2.2: the 32-octet X25519 output).
    pub fn initial(prf: Prf, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> Self {
        let key = Secret::new([ni, nr].concat());
        SkeySeed(prf.prf(key.as_bytes(), &[g_ir]))
    }

    /// RFC 7296 §2.18: `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)`,
    /// with SK_d of the IKE SA being rekeyed and the nonces of the
    /// CREATE_CHILD_SA exchange.
    pub fn rekey(prf: Prf, old_sk_d: &Secret, g_ir_new: &[u8], ni: &[u8], nr: &[u8]) -> Self {
        SkeySeed(prf.prf(old_sk_d.as_bytes(), &[g_ir_new, ni, nr]))
    }

    /// The octets. Secret: do not log.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The seven keys of an IKE SA (RFC 7296 §2.14). Zeroized on drop; `Debug`
/// shows lengths only.
#[derive(Debug, Clone)]
pub struct IkeSaKeys {
    /// Derives the Child SAs' keys and the rekeyed SKEYSEED.
    pub sk_d: Secret,
    /// Integrity key of the initiator's SK payloads (empty for AEADs).
    pub sk_ai: Secret,
    /// Integrity key of the responder's SK payloads (empty for AEADs).
    pub sk_ar: Secret,
    /// Encryption key (and salt) of the initiator's SK payloads.
    pub sk_ei: Secret,
    /// Encryption key (and salt) of the responder's SK payloads.
    pub sk_er: Secret,
    /// Keys the initiator's AUTH (MACedIDForI, §2.15).
    pub sk_pi: Secret,
    /// Keys the responder's AUTH (MACedIDForR, §2.15).
    pub sk_pr: Secret,
}

impl IkeSaKeys {
    /// RFC 7296 §2.14:
    ///
    /// ```text
    /// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
    ///                 = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
    /// ```
    ///
    /// SK_d, SK_pi, SK_pr take the PRF's key length; SK_a* the integrity
    /// key length (0 for AEADs); SK_e* the encryption key plus salt (RFC
    /// 5282 §7.1). For a rekey (§2.18), pass the new SKEYSEED, the
    /// CREATE_CHILD_SA nonces and the new SPIs.
    pub fn derive(
        prf: Prf,
        skeyseed: &SkeySeed,
        cipher: &CipherSpec,
        ni: &[u8],
        nr: &[u8],
        spi_i: &IkeSpi,
        spi_r: &IkeSpi,
    ) -> Result<Self, KdfError> {
        let lens = [
            prf.key_len(),
            cipher.integ_key_len,
            cipher.integ_key_len,
            cipher.encr_keymat_len(),
            cipher.encr_keymat_len(),
            prf.key_len(),
            prf.key_len(),
        ];
        let total = lens.iter().sum();
        let km = prf.prf_plus(skeyseed.as_bytes(), &[ni, nr, spi_i, spi_r], total)?;
        let mut parts = split(km.as_bytes(), &lens).into_iter();
        let mut next = || parts.next().unwrap_or_default();
        Ok(IkeSaKeys {
            sk_d: next(),
            sk_ai: next(),
            sk_ar: next(),
            sk_ei: next(),
            sk_er: next(),
            sk_pi: next(),
            sk_pr: next(),
        })
    }
}

/// Cuts `km` into consecutive pieces of the given lengths (the caller made
/// `km` exactly as long as their sum).
fn split(km: &[u8], lens: &[usize]) -> Vec<Secret> {
    let mut out = Vec::with_capacity(lens.len());
    let mut at = 0usize;
    for &n in lens {
        out.push(Secret::from_slice(km.get(at..at + n).unwrap_or(&[])));
        at += n;
    }
    out
}

/// The keys of a Child SA pair (RFC 7296 §2.17). Zeroized on drop; `Debug`
/// shows lengths only.
#[derive(Debug, Clone)]
pub struct ChildSaKeys {
    /// Encryption key and salt, initiator to responder.
    pub encr_i: Secret,
    /// Integrity key, initiator to responder.
    pub integ_i: Secret,
    /// Encryption key and salt, responder to initiator.
    pub encr_r: Secret,
    /// Integrity key, responder to initiator.
    pub integ_r: Secret,
}

impl ChildSaKeys {
    /// RFC 7296 §2.17:
    ///
    /// ```text
    /// KEYMAT = prf+(SK_d, Ni | Nr)                  (no PFS)
    /// KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)     (PFS)
    /// ```
    ///
    /// "All keys for SAs carrying data from the initiator to the responder
    /// are taken before SAs going from the responder to the initiator",
    /// and within one SA the encryption key (with its salt) comes before
    /// the integrity key. Ni and Nr are the nonces of the IKE_SA_INIT
    /// exchange for the first Child SA, of the CREATE_CHILD_SA exchange
    /// otherwise.
    pub fn derive(
        prf: Prf,
        sk_d: &Secret,
        cipher: &CipherSpec,
        g_ir_new: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<Self, KdfError> {
        let e = cipher.encr_keymat_len();
        let a = cipher.integ_key_len;
        let seed: [&[u8]; 3] = [g_ir_new.unwrap_or(&[]), ni, nr];
        let km = prf.prf_plus(sk_d.as_bytes(), &seed, 2 * (e + a))?;
        let mut parts = split(km.as_bytes(), &[e, a, e, a]).into_iter();
        let mut next = || parts.next().unwrap_or_default();
        Ok(ChildSaKeys {
            encr_i: next(),
            integ_i: next(),
            encr_r: next(),
            integ_r: next(),
        })
    }

    /// The keying material of the initiator-to-responder SA as the data
    /// plane takes it: encryption key | salt | integrity key.
    pub fn keymat_i_to_r(&self) -> Secret {
        Secret::new([self.encr_i.as_bytes(), self.integ_i.as_bytes()].concat())
    }

    /// The keying material of the responder-to-initiator SA.
    pub fn keymat_r_to_i(&self) -> Secret {
        Secret::new([self.encr_r.as_bytes(), self.integ_r.as_bytes()].concat())
    }
}
