//! Typed errors and the reasons a received packet is dropped.

use thiserror::Error;

/// Why an inbound packet was dropped (RFC 4303 §3.4 "Inbound Packet Processing").
///
/// `Copy` and cheap: every drop is counted by reason in a [`DropCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum DropReason {
    /// Shorter than SPI | Sequence Number | IV | trailer | ICV, or otherwise
    /// not an ESP packet of the SA's suite.
    #[error("packet truncated")]
    Truncated,
    /// RFC 4303 §3.4.2: no SA for this SPI (auditable event).
    #[error("unknown SPI")]
    UnknownSpi,
    /// RFC 4303 §3.3.3: a sender never transmits sequence number 0 (the
    /// counter starts at 1 and never cycles).
    #[error("invalid sequence number 0")]
    InvalidSequence,
    /// RFC 4303 §3.4.3: a duplicate inside the anti-replay window.
    #[error("replayed packet")]
    Replayed,
    /// RFC 4303 §3.4.3: the sequence number is left of (older than) the window.
    #[error("sequence number left of the replay window")]
    TooOld,
    /// RFC 4301 §4.4.2.1: the SA's lifetime has run out.
    #[error("SA expired")]
    Expired,
    /// RFC 4303 §3.4.4: integrity check value verification failed.
    #[error("ICV verification failed")]
    BadIcv,
    /// RFC 4303 §2.4: Pad Length too large or padding bytes not 1, 2, 3, ...
    #[error("bad padding")]
    BadPadding,
    /// RFC 4303 §2.6: a dummy packet (Next Header 59), silently discarded.
    /// It was authentic and did advance the replay window.
    #[error("dummy packet")]
    DummyPacket,
}

impl DropReason {
    /// Every reason, in the order of [`DropReason::index`].
    pub const ALL: [DropReason; 9] = [
        DropReason::Truncated,
        DropReason::UnknownSpi,
        DropReason::InvalidSequence,
        DropReason::Replayed,
        DropReason::TooOld,
        DropReason::Expired,
        DropReason::BadIcv,
        DropReason::BadPadding,
        DropReason::DummyPacket,
    ];

    /// Stable snake_case label, for metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::UnknownSpi => "unknown_spi",
            DropReason::InvalidSequence => "invalid_sequence",
            DropReason::Replayed => "replayed",
            DropReason::TooOld => "too_old",
            DropReason::Expired => "expired",
            DropReason::BadIcv => "bad_icv",
            DropReason::BadPadding => "bad_padding",
            DropReason::DummyPacket => "dummy_packet",
        }
    }

    /// Position of this reason in [`DropReason::ALL`].
    pub const fn index(self) -> usize {
        match self {
            DropReason::Truncated => 0,
            DropReason::UnknownSpi => 1,
            DropReason::InvalidSequence => 2,
            DropReason::Replayed => 3,
            DropReason::TooOld => 4,
            DropReason::Expired => 5,
            DropReason::BadIcv => 6,
            DropReason::BadPadding => 7,
            DropReason::DummyPacket => 8,
        }
    }
}

/// Per-reason drop counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounters {
    counts: [u64; DropReason::ALL.len()],
}

impl DropCounters {
    /// Counts one drop.
    pub fn record(&mut self, reason: DropReason) {
        if let Some(c) = self.counts.get_mut(reason.index()) {
            *c = c.saturating_add(1);
        }
    }

    /// Drops counted for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts.get(reason.index()).copied().unwrap_or(0)
    }

    /// Sum over every reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// `(reason, count)` for every reason, zero counts included.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(move |&r| (r, self.get(r)))
    }
}

/// Why [`crate::OutboundSa::seal`] refused to produce a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SealError {
    /// RFC 4301 §4.4.2.1: the SA's lifetime has run out; rekey.
    #[error("SA expired")]
    Expired,
    /// RFC 4303 §3.3.3: sequence number 2^32-1 was used; the counter MUST NOT
    /// cycle, so a new SA must be established.
    #[error("sequence number space exhausted")]
    SequenceExhausted,
    /// `out` is shorter than [`crate::OutboundSa::sealed_len`].
    #[error("output buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// The payload is longer than an ESP packet can carry.
    #[error("payload too long")]
    PayloadTooLong,
    /// The AEAD refused to encrypt (input length limit).
    #[error("AEAD encryption failed")]
    Crypto,
}

/// Errors building keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyError {
    /// RFC 4309 §7.1 / RFC 4106 §8.1: keying material must be exactly key || salt.
    #[error("keying material for {suite} must be {expected} bytes, got {got}")]
    BadKeymatLength {
        /// Suite name.
        suite: &'static str,
        /// key + salt length.
        expected: usize,
        /// What was given.
        got: usize,
    },
}

/// Errors of the key derivation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KdfError {
    /// RFC 7296 §2.13: prf+ can output at most 255 blocks.
    #[error("prf+ output of {requested} bytes exceeds the maximum of {max}")]
    OutputTooLong {
        /// Bytes asked for.
        requested: usize,
        /// 255 * prf output length.
        max: usize,
    },
    /// The seed (prf key) is empty.
    #[error("empty seed")]
    EmptySeed,
    /// The derived keying material was rejected (not reachable with a valid suite).
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Errors constructing an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SaError {
    /// RFC 4303 §2.1: SPI 0 and 1..=255 are reserved and never used for an SA.
    #[error("SPI {0:#010x} is reserved")]
    ReservedSpi(u32),
    /// The keys do not fit the suite (ruled out by [`crate::SaKeys::new`]).
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Errors of the Security Association Database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SadError {
    /// RFC 4301 §4.4.2: the SPI already names an inbound SA.
    #[error("SPI {0:#010x} already in use")]
    SpiInUse(u32),
}

/// RFC 3948 classification errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncapError {
    /// Empty UDP payload.
    #[error("empty datagram")]
    Empty,
    /// Too short to be an ESP packet (8-octet header) or an IKE message after
    /// the Non-ESP Marker, and not a NAT-keepalive.
    #[error("datagram too short")]
    Truncated,
}

/// UDP (RFC 768) errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UdpError {
    /// Fewer than 8 bytes.
    #[error("UDP datagram truncated")]
    Truncated,
    /// RFC 768: the Length field is smaller than the header or larger than the bytes.
    #[error("UDP length field {field} does not fit {available} bytes")]
    BadLength {
        /// The Length field.
        field: u16,
        /// Bytes available.
        available: usize,
    },
    /// Header + payload exceeds 65535 bytes.
    #[error("UDP datagram too long")]
    TooLong,
    /// Source and destination addresses are of different families.
    #[error("source and destination address families differ")]
    AddressFamilyMismatch,
    /// `out` is too small.
    #[error("output buffer too small")]
    BufferTooSmall,
}
