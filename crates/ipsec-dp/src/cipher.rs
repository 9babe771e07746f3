//! The ESP transform of one SA: an AEAD (RFC 4106 AES-GCM, RFC 4309 AES-CCM,
//! RFC 7634 ChaCha20-Poly1305) with the salt that completes its nonce, or
//! AES-CBC / NULL with HMAC-SHA-256-128 (RFC 3602, RFC 2410, RFC 4868). The
//! implementation behind each suite is chosen in [`crate::provider`].

use aws_lc_rs::aead::{Aad, Nonce};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::consts::{
    CCM_NONCE_LEN, CCM_SALT_LEN, CHACHA20_SALT_LEN, ESN_HIGH_LEN, ESP_AAD_ESN_LEN, ESP_HEADER_LEN,
    ESP_IV_LEN, ESP_SPI_LEN, GCM_NONCE_LEN, GCM_SALT_LEN,
};
use crate::error::KeyError;
use crate::keys::SaKeys;
use crate::provider::{new_engine, Engine};
use crate::suite::EspSuite;

/// The transform rejected its input: the ICV did not verify, or a length is
/// out of the algorithm's range. Carries nothing on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("AEAD operation failed")]
pub struct CryptoError;

/// A keyed ESP transform.
///
/// The key schedules (and GHASH / Poly1305 / HMAC precomputations) are
/// computed once, in [`EspAead::new`]; sealing and opening neither allocate
/// nor re-key. Key schedules wipe themselves on drop; the salt is wiped by
/// this type.
pub struct EspAead {
    suite: EspSuite,
    salt: [u8; GCM_SALT_LEN],
    engine: Engine,
}

impl Drop for EspAead {
    fn drop(&mut self) {
        self.salt.zeroize();
    }
}

impl ZeroizeOnDrop for EspAead {}

impl core::fmt::Debug for EspAead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EspAead")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// RFC 4106 §5 / RFC 4309 §5 / RFC 7634 §2.1: AAD = SPI || Sequence Number,
/// or SPI || ESN high 32 bits || ESN low 32 bits with extended sequence
/// numbers. `header` = SPI || 32-bit Sequence Number as on the wire.
fn esp_aad(header: &[u8], seq: u64, esn: bool) -> ([u8; ESP_AAD_ESN_LEN], usize) {
    let mut aad = [0u8; ESP_AAD_ESN_LEN];
    if !esn {
        if let (Some(dst), Some(src)) =
            (aad.get_mut(..ESP_HEADER_LEN), header.get(..ESP_HEADER_LEN))
        {
            dst.copy_from_slice(src);
        }
        return (aad, ESP_HEADER_LEN);
    }
    let (spi, rest) = aad.split_at_mut(ESP_SPI_LEN);
    if let Some(src) = header.get(..ESP_SPI_LEN) {
        spi.copy_from_slice(src);
    }
    rest.copy_from_slice(&seq.to_be_bytes());
    (aad, ESP_AAD_ESN_LEN)
}

/// RFC 4303 §2.2.1 / RFC 4304 §2: the high-order 32 bits of the ESN that a
/// separate integrity algorithm appends after the packet (empty without ESN).
fn esn_trailer(seq: u64, esn: bool) -> ([u8; ESN_HIGH_LEN], usize) {
    (
        ((seq >> 32) as u32).to_be_bytes(),
        if esn { ESN_HIGH_LEN } else { 0 },
    )
}

impl EspAead {
    /// Expands the key schedule for `keys` with the provider's backend.
    ///
    /// Fails only if the key length does not match the suite, which
    /// [`SaKeys::new`] already rules out.
    pub fn new(keys: &SaKeys) -> Result<Self, KeyError> {
        let suite = keys.suite();
        let mut salt = [0u8; GCM_SALT_LEN];
        let s = keys.salt();
        if let Some(dst) = salt.get_mut(..s.len()) {
            dst.copy_from_slice(s);
        }
        let engine = new_engine(keys).map_err(|_| KeyError::BadKeymatLength {
            suite: suite.name(),
            expected: suite.keymat_len(),
            got: keys.key().len() + s.len() + keys.integ_key().len(),
        })?;
        Ok(EspAead {
            suite,
            salt,
            engine,
        })
    }

    /// The suite.
    pub fn suite(&self) -> EspSuite {
        self.suite
    }

    /// The implementation running this suite (see [`crate::provider`]).
    pub fn backend(&self) -> &'static str {
        crate::provider::backend_name(self.suite)
    }

    /// AEAD suites only: encrypts `buf` in place and writes the ICV into
    /// `icv` (which must be exactly [`EspSuite::icv_len`] bytes).
    ///
    /// Nonce = salt || `iv` (RFC 4309 §4: 3 + 8 octets; RFC 4106 §4 and RFC
    /// 7634 §2: 4 + 8 octets). `aad` is SPI || Sequence Number (RFC 4309 §5,
    /// RFC 4106 §5), or SPI || 64-bit ESN.
    pub fn encrypt_detached(
        &self,
        iv: &[u8; ESP_IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        if icv.len() != self.suite.icv_len() {
            return Err(CryptoError);
        }
        match &self.engine {
            Engine::Ccm(c) => c.seal(&self.ccm_nonce(iv), aad, buf, icv),
            Engine::AwsLc(k) => {
                let tag = k
                    .seal_in_place_separate_tag(self.aws_nonce(iv), Aad::from(aad), buf)
                    .map_err(|_| CryptoError)?;
                let t = tag.as_ref();
                if t.len() != icv.len() {
                    return Err(CryptoError);
                }
                icv.copy_from_slice(t);
                Ok(())
            }
            Engine::CbcHmac(_) | Engine::NullHmac(_) => Err(CryptoError),
        }
    }

    /// AEAD suites only: verifies `icv` over `aad` and the ciphertext in
    /// `buf`, and decrypts `buf` in place. On failure `buf` is wiped (no
    /// unauthenticated plaintext is ever left behind).
    pub fn decrypt_detached(
        &self,
        iv: &[u8; ESP_IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        if icv.len() != self.suite.icv_len() {
            return Err(CryptoError);
        }
        match &self.engine {
            Engine::Ccm(c) => c.open(&self.ccm_nonce(iv), aad, buf, icv),
            Engine::AwsLc(k) => k
                .open_in_place_separate_tag(self.aws_nonce(iv), Aad::from(aad), icv, buf)
                .map(|_| ())
                .map_err(|_| {
                    // AWS-LC's GCM is single-pass and does not promise what
                    // `buf` holds after a failed tag: wipe it.
                    buf.zeroize();
                    CryptoError
                }),
            Engine::CbcHmac(_) | Engine::NullHmac(_) => Err(CryptoError),
        }
    }

    /// RFC 4303 §3.3.2: protects one packet in place, any suite.
    ///
    /// `prefix` = SPI || Sequence Number || IV field ([`EspSuite::iv_len`]
    /// octets, written here); `body` = payload | padding | Pad Length | Next
    /// Header, encrypted in place (a multiple of 16 octets for AES-CBC);
    /// `icv` receives the ICV. `seq` is the packet's 64-bit sequence number;
    /// with `esn` its high half enters the AAD (RFC 4106 §5, RFC 4309 §5,
    /// RFC 7634 §2.1) or is appended for the ICV (RFC 4303 §2.2.1).
    ///
    /// IV: the 64-bit sequence number for the AEADs (unique per key, RFC
    /// 4106 §3.1); `AES_Kiv(seq)` for CBC (see [`crate::cbc_hmac`]).
    pub fn seal_esp(
        &self,
        seq: u64,
        esn: bool,
        prefix: &mut [u8],
        body: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        if icv.len() != self.suite.icv_len() || prefix.len() != ESP_HEADER_LEN + self.suite.iv_len()
        {
            return Err(CryptoError);
        }
        let (header, iv_field) = prefix.split_at_mut(ESP_HEADER_LEN);
        match &self.engine {
            Engine::Ccm(_) | Engine::AwsLc(_) => {
                let iv = seq.to_be_bytes();
                iv_field.copy_from_slice(&iv);
                let (aad, n) = esp_aad(header, seq, esn);
                self.encrypt_detached(&iv, aad.get(..n).ok_or(CryptoError)?, body, icv)
            }
            Engine::CbcHmac(e) => {
                let (cbc, mac) = &**e;
                let iv = cbc.iv_for(seq);
                iv_field.copy_from_slice(&iv);
                cbc.encrypt(&iv, body)?;
                let (hi, n) = esn_trailer(seq, esn);
                let t = mac.compute(&[header, &iv, body, hi.get(..n).unwrap_or(&[])]);
                icv.copy_from_slice(&t);
                Ok(())
            }
            Engine::NullHmac(mac) => {
                let (hi, n) = esn_trailer(seq, esn);
                let t = mac.compute(&[header, body, hi.get(..n).unwrap_or(&[])]);
                icv.copy_from_slice(&t);
                Ok(())
            }
        }
    }

    /// RFC 4303 §3.4.4: verifies and decrypts one packet in place, any suite
    /// (the inverse of [`EspAead::seal_esp`]; `seq` is the 64-bit sequence
    /// number the receiver inferred, RFC 4303 Appendix A2.2). The ICV is
    /// verified in constant time before anything is decrypted, except for
    /// CCM, which wipes `body` when the ICV fails.
    pub fn open_esp(
        &self,
        seq: u64,
        esn: bool,
        prefix: &[u8],
        body: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        if icv.len() != self.suite.icv_len() || prefix.len() != ESP_HEADER_LEN + self.suite.iv_len()
        {
            return Err(CryptoError);
        }
        let (header, iv_field) = prefix.split_at(ESP_HEADER_LEN);
        match &self.engine {
            Engine::Ccm(_) | Engine::AwsLc(_) => {
                let iv: [u8; ESP_IV_LEN] = iv_field.try_into().map_err(|_| CryptoError)?;
                let (aad, n) = esp_aad(header, seq, esn);
                self.decrypt_detached(&iv, aad.get(..n).ok_or(CryptoError)?, body, icv)
            }
            Engine::CbcHmac(e) => {
                let (cbc, mac) = &**e;
                let (hi, n) = esn_trailer(seq, esn);
                // Encrypt-then-MAC: authenticate the ciphertext first.
                mac.verify(&[header, iv_field, body, hi.get(..n).unwrap_or(&[])], icv)?;
                let iv: [u8; 16] = iv_field.try_into().map_err(|_| CryptoError)?;
                cbc.decrypt(&iv, body)
            }
            Engine::NullHmac(mac) => {
                let (hi, n) = esn_trailer(seq, esn);
                mac.verify(&[header, body, hi.get(..n).unwrap_or(&[])], icv)
            }
        }
    }

    /// RFC 4309 §4: nonce = 3-octet salt || 8-octet IV.
    fn ccm_nonce(&self, iv: &[u8; ESP_IV_LEN]) -> [u8; CCM_NONCE_LEN] {
        let mut n = [0u8; CCM_NONCE_LEN];
        let (s, i) = n.split_at_mut(CCM_SALT_LEN);
        s.copy_from_slice(self.salt.get(..CCM_SALT_LEN).unwrap_or(&[0; CCM_SALT_LEN]));
        i.copy_from_slice(iv);
        n
    }

    /// RFC 4106 §4 / RFC 7634 §2: nonce = 4-octet salt || 8-octet IV.
    fn aws_nonce(&self, iv: &[u8; ESP_IV_LEN]) -> Nonce {
        const _: () = assert!(GCM_SALT_LEN == CHACHA20_SALT_LEN);
        let mut n = [0u8; GCM_NONCE_LEN];
        let (s, i) = n.split_at_mut(GCM_SALT_LEN);
        s.copy_from_slice(&self.salt);
        i.copy_from_slice(iv);
        Nonce::assume_unique_for_key(n)
    }
}
