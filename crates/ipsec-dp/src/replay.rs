//! RFC 4303 §3.4.3: the receiver's anti-replay window.

use thiserror::Error;

use crate::consts::{REPLAY_WINDOW_DEFAULT, REPLAY_WINDOW_MAX, REPLAY_WINDOW_MIN};

/// Why a sequence number fails the anti-replay check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReplayError {
    /// Sequence number 0 is never sent (RFC 4303 §3.3.3: the first packet
    /// carries 1).
    #[error("sequence number 0")]
    Zero,
    /// Already received (a duplicate inside the window).
    #[error("replayed")]
    Replayed,
    /// Left of the window.
    #[error("left of the window")]
    TooOld,
}

/// RFC 4303 §3.4.3 sliding receive window, over 32-bit sequence numbers or
/// 64-bit extended sequence numbers (RFC 4304, RFC 4303 Appendix A).
///
/// The right edge is the highest sequence number authenticated so far; a
/// bitmap records which of the `size` numbers ending at the right edge were
/// received. The bitmap is a ring of 64-bit words indexed by `seq / 64`, with
/// one word more than `size / 64` (the RFC 6479 layout), so sliding the
/// window clears whole words: the cost per packet is O(1) for a given size
/// and never proportional to the jump in sequence numbers (a jump of more
/// than the window clears at most `size / 64 + 1` words).
///
/// Use [`ReplayWindow::check`] before verifying the ICV (no state change) and
/// [`ReplayWindow::update`] only after the ICV verified, as §3.4.3 requires.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest authenticated sequence number; 0 = nothing received yet.
    top: u64,
    /// Window size in packets (a multiple of 64).
    size: u32,
    /// `size / 64 + 1` words.
    bits: Box<[u64]>,
}

impl core::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("top", &self.top)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// A window of the RFC 4303 §3.4.3 default size, 64 packets.
    pub fn new() -> Self {
        Self::with_size(REPLAY_WINDOW_DEFAULT)
    }

    /// A window of `size` packets, rounded up to a multiple of 64 and to at
    /// least 64 (RFC 4303 §3.4.3: at least 32), and at most
    /// [`REPLAY_WINDOW_MAX`] (65536).
    pub fn with_size(size: u32) -> Self {
        let size = size.clamp(REPLAY_WINDOW_MIN, REPLAY_WINDOW_MAX);
        let words = size.div_ceil(64).max(1);
        ReplayWindow {
            top: 0,
            size: words.saturating_mul(64),
            bits: vec![0u64; words as usize + 1].into_boxed_slice(),
        }
    }

    /// A window that treats every number up to and including `highest` as
    /// already received: for an SA resumed after a restart, whose last
    /// received number was persisted (RFC 4303 §3.4.3 keeps the window across
    /// the SA's life; a restart must not reopen it).
    pub fn resumed_after(size: u32, highest: u32) -> Self {
        Self::resumed_after64(size, u64::from(highest))
    }

    /// [`ReplayWindow::resumed_after`] with a 64-bit (ESN) sequence number.
    pub fn resumed_after64(size: u32, highest: u64) -> Self {
        let mut w = Self::with_size(size);
        w.top = highest;
        if highest > 0 {
            w.bits.iter_mut().for_each(|word| *word = u64::MAX);
            // Numbers above `highest` in its own word were not received.
            let (i, m) = w.slot(highest);
            if let Some(word) = w.bits.get_mut(i) {
                *word = m | (m - 1);
            }
        }
        w
    }

    /// The window size in packets.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The right edge: the low 32 bits of the highest sequence number
    /// authenticated so far (0 if none); all of it without ESN.
    pub fn highest(&self) -> u32 {
        self.top as u32
    }

    /// The right edge as a 64-bit (ESN) sequence number.
    pub fn highest64(&self) -> u64 {
        self.top
    }

    /// RFC 4303 §3.4.3: would `seq` be accepted? Does not change the window.
    pub fn check(&self, seq: u32) -> Result<(), ReplayError> {
        self.check64(u64::from(seq))
    }

    /// [`ReplayWindow::check`] for a 64-bit sequence number.
    pub fn check64(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= u64::from(self.size) {
            return Err(ReplayError::TooOld);
        }
        if self.get(seq) {
            Err(ReplayError::Replayed)
        } else {
            Ok(())
        }
    }

    /// RFC 4303 Appendix A2.2: the 64-bit sequence number of a packet that
    /// carries the low 32 bits `seql`, relative to the window (Case A: the
    /// window lies in one subspace; Case B: it spans two).
    pub fn infer_esn(&self, seql: u32) -> u64 {
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        let w = self.size;
        let bl = tl.wrapping_sub(w).wrapping_add(1);
        let seqh = if tl >= w - 1 {
            // Case A
            if seql >= bl {
                th
            } else {
                th.checked_add(1).unwrap_or(th)
            }
        } else if seql >= bl {
            // Case B, the part of the window in the previous subspace (none
            // exists before subspace 0: then the packet is ahead).
            th.checked_sub(1).unwrap_or(th)
        } else {
            th
        };
        (u64::from(seqh) << 32) | u64::from(seql)
    }

    /// RFC 4303 §3.4.3: records `seq` as received, sliding the window if it
    /// is new on the right. Call only after the ICV verified. A number that
    /// fails [`check`](Self::check) leaves the window as it was.
    pub fn update(&mut self, seq: u32) {
        self.update64(u64::from(seq))
    }

    /// [`ReplayWindow::update`] for a 64-bit sequence number.
    pub fn update64(&mut self, seq: u64) {
        if self.check64(seq).is_err() {
            return;
        }
        if seq > self.top {
            let n = self.bits.len() as u64;
            let old_word = self.top / 64;
            let new_word = seq / 64;
            let jump = new_word - old_word;
            if jump >= n {
                self.bits.iter_mut().for_each(|w| *w = 0);
            } else {
                // Clear the words that enter the window on the right: they
                // held numbers that have now slid out on the left.
                for k in 1..=jump {
                    if let Some(w) = self.bits.get_mut(((old_word + k) % n) as usize) {
                        *w = 0;
                    }
                }
            }
            self.top = seq;
        }
        let (i, m) = self.slot(seq);
        if let Some(word) = self.bits.get_mut(i) {
            *word |= m;
        }
    }

    fn slot(&self, seq: u64) -> (usize, u64) {
        let n = self.bits.len() as u64;
        (((seq / 64) % n) as usize, 1u64 << (seq % 64))
    }

    fn get(&self, seq: u64) -> bool {
        let (w, m) = self.slot(seq);
        self.bits.get(w).is_some_and(|word| word & m != 0)
    }
}
