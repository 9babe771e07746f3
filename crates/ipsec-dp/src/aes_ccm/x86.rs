//! The AES-NI backend of [`super::AesCcm`] (x86_64): the crate's only
//! `unsafe` code.
//!
//! CCM is one serial chain (the CBC-MAC of RFC 3610 §2.2: each AES waits for
//! the previous one) and one parallel stream (the CTR keystream of §2.3). So
//! a packet costs one AES *latency* per 16 octets; the keystream block of
//! the next 16 octets is encrypted in the same rounds as the MAC block of the
//! current ones (two independent states through one round-key sequence, as
//! OpenSSL's `aesni_ccm64_*` do), filling the bubbles of the MAC chain.
//!
//! Safety rests on two facts, argued at each `unsafe` block:
//!
//! - every `#[target_feature(enable = "aes,sse2")]` function is reached only
//!   through [`NiKey`], and a `NiKey` exists only after
//!   `is_x86_feature_detected!("aes")` and `("sse2")` returned true;
//! - memory is read and written only through [`load`] and [`store`], whose
//!   argument is a `[u8; 16]` reference (16 valid octets; `loadu`/`storeu`
//!   need no alignment). Partial blocks go through a stack buffer.

#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, _mm_aesenc_si128, _mm_aesenclast_si128, _mm_aeskeygenassist_si128, _mm_loadu_si128,
    _mm_set_epi64x, _mm_shuffle_epi32, _mm_slli_si128, _mm_storeu_si128, _mm_xor_si128,
};

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::Dir;
use crate::consts::{AES128_KEY_LEN, AES256_KEY_LEN, AES_BLOCK_LEN};

/// FIPS 197 §5.2: AES-128 has 10 rounds, so 11 round keys.
const AES128_ROUND_KEYS: usize = 11;
/// FIPS 197 §5.2: AES-256 has 14 rounds, so 15 round keys.
const AES256_ROUND_KEYS: usize = 15;

type Bytes = [u8; AES_BLOCK_LEN];

/// An expanded AES key schedule of `N` round keys (FIPS 197 §5.2), wiped on
/// drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct RoundKeys<const N: usize>([Bytes; N]);

#[derive(Clone)]
enum Schedule {
    A128(RoundKeys<AES128_ROUND_KEYS>),
    A256(RoundKeys<AES256_ROUND_KEYS>),
}

/// An AES key expanded for AES-NI. Only [`NiKey::new`] builds one, and only
/// on a CPU with AES-NI: holding a `NiKey` proves the features are there.
#[derive(Clone)]
pub(super) struct NiKey {
    schedule: Schedule,
}

impl NiKey {
    /// Expands a 16- or 32-octet key; `None` if the CPU lacks AES-NI (or
    /// the key length is wrong).
    pub(super) fn new(key: &[u8]) -> Option<Self> {
        if !(std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("sse2"))
        {
            return None;
        }
        let schedule = match key.len() {
            AES128_KEY_LEN => {
                let key = <&[u8; AES128_KEY_LEN]>::try_from(key).ok()?;
                // SAFETY: `aes` and `sse2` were detected just above.
                Schedule::A128(unsafe { expand_128(key) })
            }
            AES256_KEY_LEN => {
                let key = <&[u8; AES256_KEY_LEN]>::try_from(key).ok()?;
                // SAFETY: `aes` and `sse2` were detected just above.
                Schedule::A256(unsafe { expand_256(key) })
            }
            _ => return None,
        };
        Some(NiKey { schedule })
    }

    /// One CCM pass over `buf` in place (see [`super::CcmJob`] for the
    /// fields): CTR-encrypts or -decrypts it and writes CBC-MAC XOR S0 to
    /// `tag`.
    pub(super) fn ccm(
        &self,
        b0: &Bytes,
        a0: &Bytes,
        aad: &[u8],
        buf: &mut [u8],
        dir: Dir,
        tag: &mut Bytes,
    ) {
        match &self.schedule {
            // SAFETY: a `NiKey` exists only if `NiKey::new` detected `aes`
            // and `sse2` on this CPU.
            Schedule::A128(rk) => unsafe { ccm(rk, b0, a0, aad, buf, dir, tag) },
            // SAFETY: as above.
            Schedule::A256(rk) => unsafe { ccm(rk, b0, a0, aad, buf, dir, tag) },
        }
    }
}

/// Loads 16 octets (unaligned).
#[inline(always)]
fn load(b: &Bytes) -> __m128i {
    // SAFETY: `b` is a reference to 16 initialised octets, exactly what
    // `loadu` reads; `loadu` has no alignment requirement; SSE2 is part of
    // the x86_64 baseline.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// Stores 16 octets (unaligned).
#[inline(always)]
fn store(b: &mut Bytes, v: __m128i) {
    // SAFETY: `b` is an exclusive reference to 16 octets, exactly what
    // `storeu` writes; `storeu` has no alignment requirement; SSE2 is part
    // of the x86_64 baseline.
    unsafe { _mm_storeu_si128(b.as_mut_ptr().cast(), v) }
}

/// RFC 3610 §2.3: the counter block A_i, from A0 (whose last L octets are
/// zero) and `i` (< 2^(8L), since the message length fits in L octets).
#[inline]
#[target_feature(enable = "aes,sse2")]
fn counter_block(a0: __m128i, i: u64) -> __m128i {
    // The last 8 octets of the block get `i` big-endian; only its low L
    // octets can be non-zero.
    _mm_xor_si128(a0, _mm_set_epi64x(i.swap_bytes() as i64, 0))
}

/// One step of the FIPS 197 §5.2 key expansion for a 4-word half: `w`
/// XOR-accumulated over its words, then XOR the word `SHUF` selects from
/// `assist` (the `aeskeygenassist` output).
#[inline]
#[target_feature(enable = "aes,sse2")]
fn expand_step<const SHUF: i32>(w: __m128i, assist: __m128i) -> __m128i {
    let mut w = w;
    w = _mm_xor_si128(w, _mm_slli_si128::<4>(w));
    w = _mm_xor_si128(w, _mm_slli_si128::<4>(w));
    w = _mm_xor_si128(w, _mm_slli_si128::<4>(w));
    _mm_xor_si128(w, _mm_shuffle_epi32::<SHUF>(assist))
}

/// FIPS 197 §5.2 key expansion for AES-128 (Rcon 01, 02, ..., 36).
#[target_feature(enable = "aes,sse2")]
fn expand_128(key: &[u8; AES128_KEY_LEN]) -> RoundKeys<AES128_ROUND_KEYS> {
    let r0 = load(key);
    let r1 = expand_step::<0xFF>(r0, _mm_aeskeygenassist_si128::<0x01>(r0));
    let r2 = expand_step::<0xFF>(r1, _mm_aeskeygenassist_si128::<0x02>(r1));
    let r3 = expand_step::<0xFF>(r2, _mm_aeskeygenassist_si128::<0x04>(r2));
    let r4 = expand_step::<0xFF>(r3, _mm_aeskeygenassist_si128::<0x08>(r3));
    let r5 = expand_step::<0xFF>(r4, _mm_aeskeygenassist_si128::<0x10>(r4));
    let r6 = expand_step::<0xFF>(r5, _mm_aeskeygenassist_si128::<0x20>(r5));
    let r7 = expand_step::<0xFF>(r6, _mm_aeskeygenassist_si128::<0x40>(r6));
    let r8 = expand_step::<0xFF>(r7, _mm_aeskeygenassist_si128::<0x80>(r7));
    let r9 = expand_step::<0xFF>(r8, _mm_aeskeygenassist_si128::<0x1B>(r8));
    let r10 = expand_step::<0xFF>(r9, _mm_aeskeygenassist_si128::<0x36>(r9));
    to_round_keys([r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10])
}

/// FIPS 197 §5.2 key expansion for AES-256: even round keys take
/// RotWord+SubWord+Rcon of the previous odd one, odd round keys SubWord of
/// the previous even one.
#[target_feature(enable = "aes,sse2")]
fn expand_256(key: &[u8; AES256_KEY_LEN]) -> RoundKeys<AES256_ROUND_KEYS> {
    let (lo, hi) = key.split_at(AES_BLOCK_LEN);
    let mut halves = [Bytes::default(); 2];
    for (h, src) in halves.iter_mut().zip([lo, hi]) {
        h.copy_from_slice(src);
    }
    let r0 = load(&halves[0]);
    let r1 = load(&halves[1]);
    halves.zeroize();
    let odd = |even: __m128i, prev: __m128i| {
        expand_step::<0xAA>(prev, _mm_aeskeygenassist_si128::<0x00>(even))
    };
    let r2 = expand_step::<0xFF>(r0, _mm_aeskeygenassist_si128::<0x01>(r1));
    let r3 = odd(r2, r1);
    let r4 = expand_step::<0xFF>(r2, _mm_aeskeygenassist_si128::<0x02>(r3));
    let r5 = odd(r4, r3);
    let r6 = expand_step::<0xFF>(r4, _mm_aeskeygenassist_si128::<0x04>(r5));
    let r7 = odd(r6, r5);
    let r8 = expand_step::<0xFF>(r6, _mm_aeskeygenassist_si128::<0x08>(r7));
    let r9 = odd(r8, r7);
    let r10 = expand_step::<0xFF>(r8, _mm_aeskeygenassist_si128::<0x10>(r9));
    let r11 = odd(r10, r9);
    let r12 = expand_step::<0xFF>(r10, _mm_aeskeygenassist_si128::<0x20>(r11));
    let r13 = odd(r12, r11);
    let r14 = expand_step::<0xFF>(r12, _mm_aeskeygenassist_si128::<0x40>(r13));
    to_round_keys([
        r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14,
    ])
}

#[inline(always)]
fn to_round_keys<const N: usize>(regs: [__m128i; N]) -> RoundKeys<N> {
    let mut out = RoundKeys([Bytes::default(); N]);
    for (dst, r) in out.0.iter_mut().zip(regs) {
        store(dst, r);
    }
    out
}

/// Loads fewer than 16 octets zero-padded to a block (RFC 3610 §2.2),
/// through a wiped stack buffer.
#[inline]
#[target_feature(enable = "aes,sse2")]
fn load_padded(src: &[u8]) -> __m128i {
    let mut blk = Bytes::default();
    for (d, s) in blk.iter_mut().zip(src) {
        *d = *s;
    }
    let v = load(&blk);
    blk.zeroize();
    v
}

/// The CBC-MAC chain of RFC 3610 §2.2, kept one step short of each block's
/// last round, so that XOR-ing in the next input block costs no latency:
///
/// `E(X) ^ m ^ rk0 = aesenclast(state, rk_last ^ rk0 ^ m)`, where
/// `rk_last ^ rk0 ^ m` does not depend on the chain. The serial path is
/// then AES rounds only, one `aesenc` latency each.
struct MacChain {
    /// X_i after all but the last round.
    state: __m128i,
    /// `rk_last ^ rk0`.
    fold: __m128i,
}

impl MacChain {
    /// Starts the chain with X1 = E(B0) and runs S0 = E(A0) and the first
    /// keystream block E(A1) in the same rounds; returns them.
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn start<const N: usize>(
        k: &[__m128i; N],
        b0: __m128i,
        a0: __m128i,
    ) -> (Self, __m128i, __m128i) {
        let (mut x, mut s0, mut ks) = (b0, a0, counter_block(a0, 1));
        let (mut first, mut last) = (x, x);
        for (r, rk) in k.iter().enumerate() {
            if r == 0 {
                first = *rk;
                x = _mm_xor_si128(x, *rk);
                s0 = _mm_xor_si128(s0, *rk);
                ks = _mm_xor_si128(ks, *rk);
            } else if r + 1 == N {
                last = *rk;
                s0 = _mm_aesenclast_si128(s0, *rk);
                ks = _mm_aesenclast_si128(ks, *rk);
            } else {
                x = _mm_aesenc_si128(x, *rk);
                s0 = _mm_aesenc_si128(s0, *rk);
                ks = _mm_aesenc_si128(ks, *rk);
            }
        }
        let chain = MacChain {
            state: x,
            fold: _mm_xor_si128(first, last),
        };
        (chain, s0, ks)
    }

    /// X_{i+1} = E(X_i ^ m).
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn absorb<const N: usize>(&mut self, k: &[__m128i; N], m: __m128i) {
        let mut x = _mm_aesenclast_si128(self.state, _mm_xor_si128(self.fold, m));
        for (r, rk) in k.iter().enumerate() {
            if r != 0 && r + 1 != N {
                x = _mm_aesenc_si128(x, *rk);
            }
        }
        self.state = x;
    }

    /// X_{i+1} = E(X_i ^ m), and returns E(ctr) computed in the same rounds.
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn absorb_with_ctr<const N: usize>(
        &mut self,
        k: &[__m128i; N],
        m: __m128i,
        ctr: __m128i,
    ) -> __m128i {
        let mut x = _mm_aesenclast_si128(self.state, _mm_xor_si128(self.fold, m));
        let mut c = ctr;
        for (r, rk) in k.iter().enumerate() {
            if r == 0 {
                c = _mm_xor_si128(c, *rk);
            } else if r + 1 == N {
                c = _mm_aesenclast_si128(c, *rk);
            } else {
                x = _mm_aesenc_si128(x, *rk);
                c = _mm_aesenc_si128(c, *rk);
            }
        }
        self.state = x;
        c
    }

    /// The CBC-MAC T (RFC 3610 §2.2): X_last after its last round.
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn finish<const N: usize>(&self, k: &[__m128i; N]) -> __m128i {
        let last = k.last().copied().unwrap_or(self.fold);
        _mm_aesenclast_si128(self.state, last)
    }
}

/// RFC 3610 §2.2-§2.3 in one pass: X1 = E(B0), the AAD blocks, then per
/// 16 octets of data one MAC block (serial) and one keystream block
/// (independent) in the same rounds; the tag is T XOR S0.
#[target_feature(enable = "aes,sse2")]
fn ccm<const N: usize>(
    sched: &RoundKeys<N>,
    b0: &Bytes,
    a0: &Bytes,
    aad: &[u8],
    buf: &mut [u8],
    dir: Dir,
    tag: &mut Bytes,
) {
    let mut k: [__m128i; N] = sched.0.each_ref().map(load);
    let a0 = load(a0);

    // X1 = E(B0), S0 = E(A0), and the first keystream block E(A1).
    let (mut mac, s0, mut ks) = MacChain::start(&k, load(b0), a0);

    // RFC 3610 §2.2: AAD = l(a) encoding || a, zero-padded to blocks.
    if !aad.is_empty() {
        let mut first = Bytes::default();
        let len = aad.len() as u64;
        let hdr = if len < 0xFF00 {
            first
                .iter_mut()
                .zip((len as u16).to_be_bytes())
                .for_each(|(d, s)| *d = s);
            2
        } else {
            first
                .iter_mut()
                .zip([0xFF, 0xFE].into_iter().chain((len as u32).to_be_bytes()))
                .for_each(|(d, s)| *d = s);
            6
        };
        let (head, rest) = aad.split_at(aad.len().min(AES_BLOCK_LEN - hdr));
        for (d, s) in first.iter_mut().skip(hdr).zip(head) {
            *d = *s;
        }
        mac.absorb(&k, load(&first));
        let mut blocks = rest.chunks_exact(AES_BLOCK_LEN);
        for b in &mut blocks {
            if let Ok(b) = <&Bytes>::try_from(b) {
                mac.absorb(&k, load(b));
            }
        }
        let tail = blocks.remainder();
        if !tail.is_empty() {
            mac.absorb(&k, load_padded(tail));
        }
    }

    // The data: `ks` always holds the keystream of the current block, and
    // the next one is encrypted in the same rounds as the MAC of the
    // current one.
    let mut i: u64 = 1;
    let mut blocks = buf.chunks_exact_mut(AES_BLOCK_LEN);
    match dir {
        Dir::Seal => {
            for b in &mut blocks {
                if let Ok(b) = <&mut Bytes>::try_from(b) {
                    let p = load(b);
                    store(b, _mm_xor_si128(p, ks));
                    i = i.wrapping_add(1);
                    ks = mac.absorb_with_ctr(&k, p, counter_block(a0, i));
                }
            }
        }
        Dir::Open => {
            for b in &mut blocks {
                if let Ok(b) = <&mut Bytes>::try_from(b) {
                    let p = _mm_xor_si128(load(b), ks);
                    store(b, p);
                    i = i.wrapping_add(1);
                    ks = mac.absorb_with_ctr(&k, p, counter_block(a0, i));
                }
            }
        }
    }
    let tail = blocks.into_remainder();
    if !tail.is_empty() {
        // The last partial block through a stack buffer: the MAC takes the
        // plaintext zero-padded (RFC 3610 §2.2).
        let mut blk = Bytes::default();
        for (d, s) in blk.iter_mut().zip(tail.iter()) {
            *d = *s;
        }
        let input = load(&blk);
        store(&mut blk, _mm_xor_si128(input, ks));
        for (d, s) in tail.iter_mut().zip(blk.iter()) {
            *d = *s;
        }
        let plain = match dir {
            Dir::Seal => input,
            Dir::Open => {
                for d in blk.iter_mut().skip(tail.len()) {
                    *d = 0;
                }
                load(&blk)
            }
        };
        blk.zeroize();
        mac.absorb(&k, plain);
    }

    store(tag, _mm_xor_si128(mac.finish(&k), s0));
    k.zeroize();
    // The counter-0 keystream, the last keystream block and the MAC state
    // are key-derived too: wipe them as the portable path does.
    let mut s0 = s0;
    wipe(&mut s0);
    wipe(&mut ks);
    wipe(&mut mac.state);
}

/// Overwrites a vector register's stack copy with zeros in a way the
/// compiler cannot elide.
fn wipe(v: &mut __m128i) {
    // SAFETY: `v` is a valid, aligned, exclusive reference to an `__m128i`,
    // and an all-zero bit pattern is a valid `__m128i`.
    unsafe { core::ptr::write_volatile(v, core::mem::zeroed()) }
}
