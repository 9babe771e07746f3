//! RFC 3602 AES-CBC with RFC 4868 HMAC-SHA-256-128 (encrypt-then-MAC, RFC
//! 4303 §3.3.2), and RFC 2410 NULL encryption with HMAC-SHA-256-128.
//!
//! # The IV (RFC 3602 §3: "The IV MUST be chosen at random" / unpredictable)
//!
//! CBC needs an IV the adversary cannot predict before it sees the packet.
//! This module stays sans-IO (no random source per packet) and follows NIST
//! SP 800-38A Appendix C, second method: the IV is the forward cipher applied
//! to a nonce, here `IV = AES_Kiv(0^64 || ESN)` where ESN is the packet's
//! 64-bit sequence number (unique per SA, never reused) and `Kiv` is a
//! separate key, derived once per SA from the encryption key:
//!
//! ```text
//! Kiv = first |K_enc| octets of HMAC-SHA-256(K_enc, "ipsec-dp AES-CBC IV key")
//! ```
//!
//! Without `Kiv` the counter's encryption is a pseudo-random permutation of
//! distinct inputs, so the IVs are unpredictable and distinct. The receiver
//! does not care how the IV was chosen (it reads it from the packet), so this
//! is a local choice that interoperates with any RFC 3602 peer.

use aes::cipher::{
    consts::U16, BlockCipherDecrypt, BlockCipherEncBackend, BlockCipherEncClosure,
    BlockCipherEncrypt, BlockSizeUser, KeyInit,
};
use aes::{Aes128, Aes256, Block};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::cipher::CryptoError;
use crate::consts::{AES128_KEY_LEN, AES256_KEY_LEN, AES_BLOCK_LEN, HMAC_SHA256_128_ICV_LEN};

type HmacSha256 = Hmac<Sha256>;

/// The label of the IV-key derivation (see the module documentation).
const IV_KEY_LABEL: &[u8] = b"ipsec-dp AES-CBC IV key";

/// RFC 4868 §2.1.1: HMAC-SHA-256-128, keyed once per SA (the inner and outer
/// padded-key states are precomputed; each packet clones them).
#[derive(Clone)]
pub struct HmacSha256_128 {
    mac: HmacSha256,
}

impl core::fmt::Debug for HmacSha256_128 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HmacSha256_128 { .. }")
    }
}

impl HmacSha256_128 {
    /// Keys the MAC (any key length is valid for HMAC, RFC 2104 §3; RFC 4868
    /// §2.1.1 uses 32 octets).
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        Ok(HmacSha256_128 {
            mac: <HmacSha256 as KeyInit>::new_from_slice(key).map_err(|_| CryptoError)?,
        })
    }

    /// The 128-bit ICV over the concatenation of `parts` (RFC 4868 §2.3:
    /// the first 128 bits of HMAC-SHA-256).
    pub fn compute(&self, parts: &[&[u8]]) -> [u8; HMAC_SHA256_128_ICV_LEN] {
        let mut m = self.mac.clone();
        for p in parts {
            m.update(p);
        }
        let full = m.finalize().into_bytes();
        let mut out = [0u8; HMAC_SHA256_128_ICV_LEN];
        if let Some(head) = full.get(..HMAC_SHA256_128_ICV_LEN) {
            out.copy_from_slice(head);
        }
        out
    }

    /// Verifies `icv` in constant time (RFC 4303 §3.4.4.1).
    pub fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        let mut want = self.compute(parts);
        let ok = bool::from(want.as_slice().ct_eq(icv));
        want.zeroize();
        if ok {
            Ok(())
        } else {
            Err(CryptoError)
        }
    }
}

#[derive(Clone)]
enum Aes {
    A128(Aes128),
    A256(Aes256),
}

impl Aes {
    fn new(key: &[u8]) -> Result<Self, CryptoError> {
        Ok(match key.len() {
            AES128_KEY_LEN => Aes::A128(Aes128::new_from_slice(key).map_err(|_| CryptoError)?),
            AES256_KEY_LEN => Aes::A256(Aes256::new_from_slice(key).map_err(|_| CryptoError)?),
            _ => return Err(CryptoError),
        })
    }

    fn encrypt_block(&self, b: &mut Block) {
        match self {
            Aes::A128(c) => c.encrypt_block(b),
            Aes::A256(c) => c.encrypt_block(b),
        }
    }

    fn decrypt_blocks(&self, b: &mut [Block]) {
        match self {
            Aes::A128(c) => c.decrypt_blocks(b),
            Aes::A256(c) => c.decrypt_blocks(b),
        }
    }

    fn encrypt_with_backend(&self, job: CbcEncrypt<'_>) {
        match self {
            Aes::A128(c) => c.encrypt_with_backend(job),
            Aes::A256(c) => c.encrypt_with_backend(job),
        }
    }
}

/// CBC encryption of whole blocks, inside one backend closure so that the
/// serial chain runs with AES-NI inlined.
struct CbcEncrypt<'a> {
    iv: Block,
    buf: &'a mut [u8],
}

impl BlockSizeUser for CbcEncrypt<'_> {
    type BlockSize = U16;
}

impl BlockCipherEncClosure for CbcEncrypt<'_> {
    #[inline(always)]
    fn call<B: BlockCipherEncBackend<BlockSize = U16>>(self, backend: &B) {
        let mut chain = self.iv;
        for blk in self.buf.chunks_exact_mut(AES_BLOCK_LEN) {
            for (c, p) in chain.iter_mut().zip(blk.iter()) {
                *c ^= p;
            }
            backend.encrypt_block_inplace(&mut chain);
            blk.copy_from_slice(&chain);
        }
    }
}

/// A keyed AES-CBC cipher with its IV generator (RFC 3602).
#[derive(Clone)]
pub struct AesCbc {
    aes: Aes,
    iv_key: Aes,
}

impl core::fmt::Debug for AesCbc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AesCbc { .. }")
    }
}

impl AesCbc {
    /// Expands the key schedules of `key` and of the derived IV key.
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let aes = Aes::new(key)?;
        let mut kiv = HmacSha256_128::new(key)?.mac;
        kiv.update(IV_KEY_LABEL);
        let mut full = kiv.finalize().into_bytes();
        let iv_key = Aes::new(full.get(..key.len()).ok_or(CryptoError)?);
        full.zeroize();
        Ok(AesCbc {
            aes,
            iv_key: iv_key?,
        })
    }

    /// The IV for the packet with 64-bit sequence number `seq`:
    /// `AES_Kiv(0^64 || seq)` (see the module documentation).
    pub fn iv_for(&self, seq: u64) -> [u8; AES_BLOCK_LEN] {
        let mut b = Block::default();
        if let Some(lo) = b.get_mut(8..) {
            lo.copy_from_slice(&seq.to_be_bytes());
        }
        self.iv_key.encrypt_block(&mut b);
        b.into()
    }

    /// RFC 3602 §2: CBC-encrypts `buf` (a multiple of 16 octets) in place.
    pub fn encrypt(&self, iv: &[u8; AES_BLOCK_LEN], buf: &mut [u8]) -> Result<(), CryptoError> {
        if !buf.len().is_multiple_of(AES_BLOCK_LEN) {
            return Err(CryptoError);
        }
        self.aes.encrypt_with_backend(CbcEncrypt {
            iv: Block::from(*iv),
            buf,
        });
        Ok(())
    }

    /// RFC 3602 §2: CBC-decrypts `buf` (a multiple of 16 octets) in place,
    /// eight blocks at a time (decryption parallelises).
    pub fn decrypt(&self, iv: &[u8; AES_BLOCK_LEN], buf: &mut [u8]) -> Result<(), CryptoError> {
        const GROUP: usize = 8;
        if !buf.len().is_multiple_of(AES_BLOCK_LEN) {
            return Err(CryptoError);
        }
        let mut prev = Block::from(*iv);
        let mut saved = [Block::default(); GROUP];
        for chunk in buf.chunks_mut(GROUP * AES_BLOCK_LEN) {
            let n = chunk.len() / AES_BLOCK_LEN;
            let blocks = saved.get_mut(..n).ok_or(CryptoError)?;
            for (b, c) in blocks.iter_mut().zip(chunk.chunks_exact(AES_BLOCK_LEN)) {
                b.copy_from_slice(c);
            }
            let mut work = [Block::default(); GROUP];
            let work = work.get_mut(..n).ok_or(CryptoError)?;
            work.copy_from_slice(blocks);
            self.aes.decrypt_blocks(work);
            for ((out, p), c) in chunk
                .chunks_exact_mut(AES_BLOCK_LEN)
                .zip(work.iter())
                .zip(blocks.iter())
            {
                for ((o, x), y) in out.iter_mut().zip(p.iter()).zip(prev.iter()) {
                    *o = x ^ y;
                }
                prev = *c;
            }
        }
        Ok(())
    }
}
