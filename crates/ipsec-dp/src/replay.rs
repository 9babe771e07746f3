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

/// RFC 4303 §3.4.3 sliding receive window over 32-bit sequence numbers.
///
/// The right edge is the highest sequence number authenticated so far; a
/// bitmap of `size` bits records which of the `size` numbers ending at the
/// right edge were received. The bitmap is a ring indexed by
/// `seq mod (64 * words)`, so any multiple of 64 is a valid size and sliding
/// the window clears bits instead of shifting words.
///
/// Use [`ReplayWindow::check`] before verifying the ICV (no state change) and
/// [`ReplayWindow::update`] only after the ICV verified, as §3.4.3 requires.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest authenticated sequence number; 0 = nothing received yet.
    top: u32,
    /// Window size in packets (a multiple of 64).
    size: u32,
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
            bits: vec![0u64; words as usize].into_boxed_slice(),
        }
    }

    /// A window that treats every number up to and including `highest` as
    /// already received: for an SA resumed after a restart, whose last
    /// received number was persisted (RFC 4303 §3.4.3 keeps the window across
    /// the SA's life; a restart must not reopen it).
    pub fn resumed_after(size: u32, highest: u32) -> Self {
        let mut w = Self::with_size(size);
        w.top = highest;
        if highest > 0 {
            w.bits.iter_mut().for_each(|word| *word = u64::MAX);
        }
        w
    }

    /// The window size in packets.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The right edge: the highest sequence number authenticated so far (0 if none).
    pub fn highest(&self) -> u32 {
        self.top
    }

    /// RFC 4303 §3.4.3: would `seq` be accepted? Does not change the window.
    pub fn check(&self, seq: u32) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if seq > self.top {
            return Ok(());
        }
        let behind = self.top - seq;
        if behind >= self.size {
            return Err(ReplayError::TooOld);
        }
        if self.get(seq) {
            Err(ReplayError::Replayed)
        } else {
            Ok(())
        }
    }

    /// RFC 4303 §3.4.3: records `seq` as received, sliding the window if it
    /// is new on the right. Call only after the ICV verified. A number that
    /// fails [`check`](Self::check) leaves the window as it was.
    pub fn update(&mut self, seq: u32) {
        if self.check(seq).is_err() {
            return;
        }
        if seq > self.top {
            let advance = seq - self.top;
            if advance >= self.size {
                self.bits.iter_mut().for_each(|w| *w = 0);
            } else {
                // Clear the slots of top+1 ..= seq: they held numbers that
                // have now slid out of the window.
                let mut s = self.top;
                for _ in 0..advance {
                    s = s.wrapping_add(1);
                    self.set(s, false);
                }
            }
            self.top = seq;
        }
        self.set(seq, true);
    }

    fn slot(&self, seq: u32) -> (usize, u64) {
        let bit = seq % self.size;
        ((bit / 64) as usize, 1u64 << (bit % 64))
    }

    fn get(&self, seq: u32) -> bool {
        let (w, m) = self.slot(seq);
        self.bits.get(w).is_some_and(|word| word & m != 0)
    }

    fn set(&mut self, seq: u32, on: bool) {
        let (w, m) = self.slot(seq);
        if let Some(word) = self.bits.get_mut(w) {
            if on {
                *word |= m;
            } else {
                *word &= !m;
            }
        }
    }
}
