//! ESP Security Associations: sealing (RFC 4303 §3.3) and opening
//! (RFC 4303 §3.4) packets in caller-owned buffers.
//!
//! Packet layout (RFC 4303 §2; AEAD per RFC 4106 §3 / RFC 4309 §3 / RFC 7634
//! §2, AES-CBC per RFC 3602 §3, NULL per RFC 2410):
//!
//! ```text
//! | SPI (4) | Sequence Number (4) | IV (8 AEAD, 16 CBC, 0 NULL) | ciphertext of | ICV (8/16) |
//! |                     | payload | padding 1,2,3.. | Pad Length (1) | Next Header (1) |     |
//! ```
//!
//! SA options (RFC 4301 §4.4.2.1): 64-bit extended sequence numbers (RFC
//! 4304), an anti-replay window of 32 to 65536 packets, and soft and hard
//! lifetimes in seconds, bytes and packets ([`SaLifetime`]).

use std::time::{Duration, Instant};

use crate::cipher::EspAead;
use crate::consts::{
    ESP_ALIGN, ESP_ESN_MAX, ESP_HEADER_LEN, ESP_SEQ_MAX, ESP_TRAILER_LEN, IPPROTO_NONE,
    REPLAY_WINDOW_DEFAULT, SPI_RESERVED_IANA_MAX,
};
use crate::error::{DropCounters, DropReason, SaError, SealError};
use crate::keys::SaKeys;
use crate::replay::{ReplayError, ReplayWindow};
use crate::suite::EspSuite;

/// Length of SPI | Sequence Number | IV, the cleartext prefix of a packet.
const fn prefix_len(suite: EspSuite) -> usize {
    ESP_HEADER_LEN + suite.iv_len()
}

/// RFC 4301 §4.4.2.1 "Lifetime of this SA": soft limits ask for a rekey, hard
/// limits end the SA. Each limit is optional; `None` means no limit of that
/// kind. Bytes are payload bytes (after ESP framing is removed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaLifetime {
    /// Time after creation at which the SA should be rekeyed.
    pub soft_time: Option<Duration>,
    /// Time after creation at which the SA is expired.
    pub hard_time: Option<Duration>,
    /// Payload bytes after which the SA should be rekeyed.
    pub soft_bytes: Option<u64>,
    /// Payload bytes after which the SA is expired.
    pub hard_bytes: Option<u64>,
    /// Packets after which the SA should be rekeyed.
    pub soft_packets: Option<u64>,
    /// Packets after which the SA is expired.
    pub hard_packets: Option<u64>,
}

impl SaLifetime {
    /// Only a hard time limit (what the `lifetime` argument of the
    /// constructors means).
    pub const fn hard_time(lifetime: Option<Duration>) -> Self {
        SaLifetime {
            soft_time: None,
            hard_time: lifetime,
            soft_bytes: None,
            hard_bytes: None,
            soft_packets: None,
            hard_packets: None,
        }
    }
}

/// Where an SA stands with respect to its [`SaLifetime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LifetimeStatus {
    /// No limit reached.
    Fresh,
    /// A soft limit was reached: rekey now (RFC 4301 §4.4.2.1); the SA still works.
    Soft,
    /// A hard limit was reached: the SA refuses to seal and open; delete it.
    Hard,
}

/// The limits with the time limits resolved to instants once.
#[derive(Debug, Clone, Copy)]
struct Limits {
    soft_at: Option<Instant>,
    hard_at: Option<Instant>,
    soft_bytes: u64,
    hard_bytes: u64,
    soft_packets: u64,
    hard_packets: u64,
}

impl Limits {
    fn new(created: Instant, l: &SaLifetime) -> Self {
        Limits {
            soft_at: expiry(created, l.soft_time),
            hard_at: expiry(created, l.hard_time),
            soft_bytes: l.soft_bytes.unwrap_or(u64::MAX),
            hard_bytes: l.hard_bytes.unwrap_or(u64::MAX),
            soft_packets: l.soft_packets.unwrap_or(u64::MAX),
            hard_packets: l.hard_packets.unwrap_or(u64::MAX),
        }
    }

    #[inline]
    fn status(&self, now: Instant, packets: u64, bytes: u64) -> LifetimeStatus {
        if self.hard_at.is_some_and(|t| now >= t)
            || packets >= self.hard_packets
            || bytes >= self.hard_bytes
        {
            LifetimeStatus::Hard
        } else if self.soft_at.is_some_and(|t| now >= t)
            || packets >= self.soft_packets
            || bytes >= self.soft_bytes
        {
            LifetimeStatus::Soft
        } else {
            LifetimeStatus::Fresh
        }
    }
}

/// Options of an SA beyond its SPI and keys (RFC 4301 §4.4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaOptions {
    /// RFC 4304: 64-bit extended sequence numbers (both ends must agree).
    pub esn: bool,
    /// Anti-replay window in packets (inbound only; 32..=65536, rounded up
    /// to a multiple of 64).
    pub replay_window: u32,
    /// Soft and hard lifetimes.
    pub lifetime: SaLifetime,
}

impl Default for SaOptions {
    fn default() -> Self {
        SaOptions {
            esn: false,
            replay_window: REPLAY_WINDOW_DEFAULT,
            lifetime: SaLifetime::default(),
        }
    }
}

/// RFC 4303 §2.1: SPIs 0..=255 are reserved and never name an SA.
pub fn is_reserved_spi(spi: u32) -> bool {
    spi <= SPI_RESERVED_IANA_MAX
}

/// RFC 4303 §2.4: the number of padding octets that makes
/// `payload_len + 2` a multiple of 4 (AEADs need no block alignment).
pub const fn padding_len(payload_len: usize) -> usize {
    (ESP_ALIGN - (payload_len + ESP_TRAILER_LEN) % ESP_ALIGN) % ESP_ALIGN
}

/// RFC 4303 §2.4 / RFC 3602 §2.4: the padding for `suite`: to 4 octets, or
/// to the 16-octet AES block for AES-CBC.
pub const fn padding_len_for(suite: EspSuite, payload_len: usize) -> usize {
    let a = suite.block_align();
    (a - (payload_len + ESP_TRAILER_LEN) % a) % a
}

fn expiry(created: Instant, lifetime: Option<Duration>) -> Option<Instant> {
    // A lifetime too large to represent never expires.
    lifetime.and_then(|l| created.checked_add(l))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// Traffic counters of an inbound SA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaCounters {
    /// Packets accepted (authentic, in window, well padded).
    pub packets: u64,
    /// Payload bytes accepted (after removing ESP header, IV, trailer and ICV).
    pub bytes: u64,
    /// Packets dropped, by reason.
    pub drops: DropCounters,
}

/// Counters of an outbound SA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealCounters {
    /// Packets sealed.
    pub packets: u64,
    /// Payload bytes sealed (what byte lifetimes count).
    pub bytes: u64,
    /// Seal calls refused because the SA had expired.
    pub refused_expired: u64,
    /// Seal calls refused because the sequence number space was exhausted.
    pub refused_sequence_exhausted: u64,
    /// Seal calls refused for any other reason (buffer too small, payload too long).
    pub refused_other: u64,
}

/// A successfully opened packet: the payload is a view into the caller's
/// buffer, decrypted in place. With ESN, `seq` is the low 32 bits (the full
/// number is [`InboundSa::last_opened_seq64`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    /// RFC 4303 §2.6: the protocol of the payload (e.g. 17 for UDP in
    /// transport mode, 4 / 41 for an inner IP packet in tunnel mode).
    pub next_header: u8,
    /// The payload (padding, Pad Length, Next Header and ICV removed).
    pub payload: &'a [u8],
    /// The packet's sequence number (as carried on the wire).
    pub seq: u32,
}

/// An outbound ESP SA (RFC 4301 §4.4.2.1 SAD entry, sender side).
#[derive(Debug)]
pub struct OutboundSa {
    spi: u32,
    aead: EspAead,
    /// Sequence number of the last packet sent; 0 before the first.
    seq: u64,
    esn: bool,
    created: Instant,
    limits: Limits,
    counters: SealCounters,
}

impl OutboundSa {
    /// Builds the SA and expands its key schedule. `lifetime` `None`
    /// means no time limit (sequence numbers still run out).
    pub fn new(
        spi: u32,
        keys: SaKeys,
        created: Instant,
        lifetime: Option<Duration>,
    ) -> Result<Self, SaError> {
        Self::with_options(
            spi,
            keys,
            created,
            SaOptions {
                lifetime: SaLifetime::hard_time(lifetime),
                ..SaOptions::default()
            },
        )
    }

    /// Builds the SA with every option (ESN, lifetimes; the replay window
    /// is ignored on the sending side).
    pub fn with_options(
        spi: u32,
        keys: SaKeys,
        created: Instant,
        options: SaOptions,
    ) -> Result<Self, SaError> {
        if is_reserved_spi(spi) {
            return Err(SaError::ReservedSpi(spi));
        }
        Ok(OutboundSa {
            spi,
            aead: EspAead::new(&keys)?,
            seq: 0,
            esn: options.esn,
            created,
            limits: Limits::new(created, &options.lifetime),
            counters: SealCounters::default(),
        })
    }

    /// RFC 4304: uses 64-bit extended sequence numbers (construction time).
    pub fn with_esn(mut self, esn: bool) -> Self {
        self.esn = esn;
        self
    }

    /// Replaces the lifetime (construction time).
    pub fn with_lifetime(mut self, lifetime: SaLifetime) -> Self {
        self.limits = Limits::new(self.created, &lifetime);
        self
    }

    /// The SPI the peer chose for this SA.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Does the SA use extended sequence numbers?
    pub fn esn(&self) -> bool {
        self.esn
    }

    /// Continues an SA whose sender state was persisted: the next packet
    /// carries `last_seq + 1` (and that IV), so no (key, IV) pair and no
    /// sequence number is used twice across a restart (RFC 4303 §3.3.3,
    /// RFC 4106 §3.1). Only moves forward.
    pub fn resume_after(self, last_seq: u32) -> Self {
        self.resume_after64(u64::from(last_seq))
    }

    /// [`OutboundSa::resume_after`] with a 64-bit (ESN) sequence number.
    pub fn resume_after64(mut self, last_seq: u64) -> Self {
        self.seq = self.seq.max(last_seq);
        self
    }

    /// The suite.
    pub fn suite(&self) -> EspSuite {
        self.aead.suite()
    }

    /// When the SA was created.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// When the SA expires (hard time limit), if it has one.
    pub fn expires_at(&self) -> Option<Instant> {
        self.limits.hard_at
    }

    /// RFC 4301 §4.4.2.1: has a hard lifetime (time, bytes or packets) run
    /// out at `now`?
    pub fn is_expired(&self, now: Instant) -> bool {
        self.lifetime_status(now) == LifetimeStatus::Hard
    }

    /// RFC 4301 §4.4.2.1: soft and hard lifetimes at `now`.
    pub fn lifetime_status(&self, now: Instant) -> LifetimeStatus {
        self.limits
            .status(now, self.counters.packets, self.counters.bytes)
    }

    /// Sequence number of the last packet sealed (0 before the first); the
    /// low 32 bits with ESN (see [`OutboundSa::last_seq64`]).
    pub fn last_seq(&self) -> u32 {
        self.seq as u32
    }

    /// The 64-bit sequence number of the last packet sealed.
    pub fn last_seq64(&self) -> u64 {
        self.seq
    }

    /// Counters.
    pub fn counters(&self) -> &SealCounters {
        &self.counters
    }

    /// Length of the ESP packet that sealing `payload_len` bytes produces.
    /// Saturates at `usize::MAX` for absurd lengths.
    pub fn sealed_len(&self, payload_len: usize) -> usize {
        sealed_len(self.suite(), payload_len).unwrap_or(usize::MAX)
    }

    /// Bytes ESP adds to a payload of `payload_len` bytes (header, IV,
    /// padding, trailer, ICV).
    pub fn overhead(&self, payload_len: usize) -> usize {
        self.sealed_len(payload_len).saturating_sub(payload_len)
    }

    /// The largest payload whose ESP packet fits in `packet_len` bytes (for
    /// path-MTU arithmetic), or 0 if none does.
    pub fn max_payload_len(&self, packet_len: usize) -> usize {
        let suite = self.suite();
        let Some(room) = packet_len.checked_sub(prefix_len(suite) + suite.icv_len()) else {
            return 0;
        };
        // payload + 2 must be a multiple of the alignment: round down.
        let a = suite.block_align();
        let ct = room / a * a;
        ct.saturating_sub(ESP_TRAILER_LEN)
    }

    /// RFC 4303 §3.3: builds a complete ESP packet into `out` and returns its
    /// length.
    ///
    /// - Sequence number (§3.3.3): the next value of the counter, starting at
    ///   1; after 2^32-1 (2^64-1 with ESN) the SA refuses to seal (it never
    ///   wraps). With ESN only the low 32 bits are sent (RFC 4304 §2).
    /// - IV: the 64-bit sequence counter for the AEADs (RFC 4106 §3.1, RFC
    ///   4309 §3.1, RFC 7634 §2), unique for the key; for AES-CBC an
    ///   unpredictable IV derived from it ([`crate::cbc_hmac`]).
    /// - Padding (§2.4): 1, 2, 3, ... so that payload + 2 is a multiple of 4
    ///   (16 for AES-CBC).
    /// - AAD (RFC 4106 §5, RFC 4309 §5): SPI || sequence number (|| the ESN
    ///   high half first, with ESN); for HMAC the ESN high half is appended
    ///   for the ICV computation (RFC 4303 §2.2.1).
    ///
    /// Nothing is consumed on error: the sequence number advances only when
    /// a packet is produced. No allocation.
    pub fn seal(
        &mut self,
        now: Instant,
        next_header: u8,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SealError> {
        let r = self.seal_inner(now, next_header, payload, out);
        let c = &mut self.counters;
        match r {
            Ok(_) => {
                c.packets = c.packets.saturating_add(1);
                c.bytes = c.bytes.saturating_add(payload.len() as u64);
            }
            Err(SealError::Expired) => c.refused_expired = c.refused_expired.saturating_add(1),
            Err(SealError::SequenceExhausted) => {
                c.refused_sequence_exhausted = c.refused_sequence_exhausted.saturating_add(1)
            }
            Err(_) => c.refused_other = c.refused_other.saturating_add(1),
        }
        r
    }

    fn seal_inner(
        &mut self,
        now: Instant,
        next_header: u8,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SealError> {
        if self.is_expired(now) {
            return Err(SealError::Expired);
        }
        let max = if self.esn {
            ESP_ESN_MAX
        } else {
            u64::from(ESP_SEQ_MAX)
        };
        if self.seq >= max {
            return Err(SealError::SequenceExhausted);
        }
        let seq = self.seq + 1;
        let suite = self.suite();
        let pad_len = padding_len_for(suite, payload.len());
        let ct_len = payload
            .len()
            .checked_add(pad_len + ESP_TRAILER_LEN)
            .ok_or(SealError::PayloadTooLong)?;
        let total = sealed_len(suite, payload.len()).ok_or(SealError::PayloadTooLong)?;
        let available = out.len();
        let too_small = SealError::BufferTooSmall {
            needed: total,
            available,
        };
        let out = out.get_mut(..total).ok_or(too_small)?;
        let (prefix, body) = out
            .split_at_mut_checked(prefix_len(suite))
            .ok_or(too_small)?;
        let (pt, icv) = body.split_at_mut_checked(ct_len).ok_or(too_small)?;

        // SPI | Sequence Number (low 32 bits); the IV is written by the transform.
        if let Some(h) = prefix.get_mut(..ESP_HEADER_LEN) {
            let (spi_field, seq_field) = h.split_at_mut(4);
            spi_field.copy_from_slice(&self.spi.to_be_bytes());
            seq_field.copy_from_slice(&(seq as u32).to_be_bytes());
        }

        // payload | padding 1, 2, 3, ... | Pad Length | Next Header
        let (data, tail) = pt.split_at_mut(payload.len());
        data.copy_from_slice(payload);
        let (padding, trailer) = tail.split_at_mut(pad_len);
        for (b, v) in padding.iter_mut().zip(1u8..) {
            *b = v;
        }
        if let [pl, nh] = trailer {
            *pl = pad_len as u8;
            *nh = next_header;
        }

        self.aead
            .seal_esp(seq, self.esn, prefix, pt, icv)
            .map_err(|_| SealError::Crypto)?;
        self.seq = seq;
        Ok(total)
    }
}

/// Length of the ESP packet carrying `payload_len` bytes with `suite`.
pub fn sealed_len(suite: EspSuite, payload_len: usize) -> Option<usize> {
    payload_len
        .checked_add(padding_len_for(suite, payload_len) + ESP_TRAILER_LEN)?
        .checked_add(prefix_len(suite) + suite.icv_len())
}

/// An inbound ESP SA (RFC 4301 §4.4.2.1 SAD entry, receiver side) with its
/// anti-replay window.
#[derive(Debug)]
pub struct InboundSa {
    spi: u32,
    aead: EspAead,
    window: ReplayWindow,
    esn: bool,
    created: Instant,
    limits: Limits,
    /// 64-bit sequence number of the last packet opened.
    last_opened: u64,
    counters: SaCounters,
}

impl InboundSa {
    /// Builds the SA with the default 64-packet replay window and expands its
    /// key schedule.
    pub fn new(
        spi: u32,
        keys: SaKeys,
        created: Instant,
        lifetime: Option<Duration>,
    ) -> Result<Self, SaError> {
        Self::with_options(
            spi,
            keys,
            created,
            SaOptions {
                lifetime: SaLifetime::hard_time(lifetime),
                ..SaOptions::default()
            },
        )
    }

    /// Builds the SA with every option (ESN, replay window, lifetimes).
    pub fn with_options(
        spi: u32,
        keys: SaKeys,
        created: Instant,
        options: SaOptions,
    ) -> Result<Self, SaError> {
        if is_reserved_spi(spi) {
            return Err(SaError::ReservedSpi(spi));
        }
        Ok(InboundSa {
            spi,
            aead: EspAead::new(&keys)?,
            window: ReplayWindow::with_size(options.replay_window),
            esn: options.esn,
            created,
            limits: Limits::new(created, &options.lifetime),
            last_opened: 0,
            counters: SaCounters::default(),
        })
    }

    /// Replaces the replay window by an empty one of `size` packets (see
    /// [`ReplayWindow::with_size`]). Meant for construction time.
    pub fn with_replay_window(mut self, size: u32) -> Self {
        self.window = ReplayWindow::with_size(size);
        self
    }

    /// RFC 4304: expects 64-bit extended sequence numbers (construction time).
    pub fn with_esn(mut self, esn: bool) -> Self {
        self.esn = esn;
        self
    }

    /// Replaces the lifetime (construction time).
    pub fn with_lifetime(mut self, lifetime: SaLifetime) -> Self {
        self.limits = Limits::new(self.created, &lifetime);
        self
    }

    /// Continues an SA whose receiver state was persisted: every sequence
    /// number up to `highest` counts as received (see
    /// [`ReplayWindow::resumed_after`]).
    pub fn resume_after(mut self, highest: u32) -> Self {
        self.window = ReplayWindow::resumed_after(self.window.size(), highest);
        self
    }

    /// [`InboundSa::resume_after`] with a 64-bit (ESN) sequence number.
    pub fn resume_after64(mut self, highest: u64) -> Self {
        self.window = ReplayWindow::resumed_after64(self.window.size(), highest);
        self
    }

    /// The SPI this SA receives on.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Does the SA use extended sequence numbers?
    pub fn esn(&self) -> bool {
        self.esn
    }

    /// The suite.
    pub fn suite(&self) -> EspSuite {
        self.aead.suite()
    }

    /// When the SA was created.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// When the SA expires (hard time limit), if it has one.
    pub fn expires_at(&self) -> Option<Instant> {
        self.limits.hard_at
    }

    /// RFC 4301 §4.4.2.1: has a hard lifetime (time, bytes or packets) run
    /// out at `now`?
    pub fn is_expired(&self, now: Instant) -> bool {
        self.lifetime_status(now) == LifetimeStatus::Hard
    }

    /// RFC 4301 §4.4.2.1: soft and hard lifetimes at `now`.
    pub fn lifetime_status(&self, now: Instant) -> LifetimeStatus {
        self.limits
            .status(now, self.counters.packets, self.counters.bytes)
    }

    /// The anti-replay window.
    pub fn replay_window(&self) -> &ReplayWindow {
        &self.window
    }

    /// The 64-bit sequence number of the last packet opened (0 before the
    /// first); [`Opened::seq`] carries its low 32 bits.
    pub fn last_opened_seq64(&self) -> u64 {
        self.last_opened
    }

    /// Counters.
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }

    /// RFC 4303 §3.4: verifies and decrypts an ESP packet in place.
    ///
    /// Order: length and SPI checks; hard lifetime; with ESN the high-order
    /// bits are inferred (RFC 4303 Appendix A2.2); §3.4.3 anti-replay check
    /// (no state change); §3.4.4 ICV verification and decryption; §2.4
    /// padding check (Pad Length must fit, padding bytes must be 1, 2, 3,
    /// ...); then the replay window is updated. No plaintext is returned
    /// unless the ICV verified.
    ///
    /// An AEAD ciphertext is not required to end on a 4-octet boundary (§2.4
    /// binds the sender; the ICV already authenticates the length); an
    /// AES-CBC ciphertext must be whole blocks.
    ///
    /// A dummy packet (§2.6, Next Header 59) advances the window and is
    /// reported as [`DropReason::DummyPacket`]. Every drop is counted.
    pub fn open<'a>(
        &mut self,
        now: Instant,
        packet: &'a mut [u8],
    ) -> Result<Opened<'a>, DropReason> {
        let r = self.open_inner(now, packet);
        match &r {
            Ok(o) => {
                self.counters.packets = self.counters.packets.saturating_add(1);
                self.counters.bytes = self.counters.bytes.saturating_add(o.payload.len() as u64);
            }
            Err(reason) => self.counters.drops.record(*reason),
        }
        r
    }

    fn open_inner<'a>(
        &mut self,
        now: Instant,
        packet: &'a mut [u8],
    ) -> Result<Opened<'a>, DropReason> {
        let suite = self.suite();
        let icv_len = suite.icv_len();
        let plen = prefix_len(suite);
        if packet.len() < plen + ESP_TRAILER_LEN + icv_len {
            return Err(DropReason::Truncated);
        }
        let (prefix, body) = packet
            .split_at_mut_checked(plen)
            .ok_or(DropReason::Truncated)?;
        if read_u32(prefix, 0) != Some(self.spi) {
            return Err(DropReason::UnknownSpi);
        }
        if self.is_expired(now) {
            return Err(DropReason::Expired);
        }
        let seql = read_u32(prefix, 4).ok_or(DropReason::Truncated)?;
        let seq = if self.esn {
            self.window.infer_esn(seql)
        } else {
            u64::from(seql)
        };
        self.window.check64(seq).map_err(|e| match e {
            ReplayError::Zero => DropReason::InvalidSequence,
            ReplayError::Replayed => DropReason::Replayed,
            ReplayError::TooOld => DropReason::TooOld,
        })?;

        let ct_len = body
            .len()
            .checked_sub(icv_len)
            .ok_or(DropReason::Truncated)?;
        if suite.block_align() > ESP_ALIGN && ct_len % suite.block_align() != 0 {
            return Err(DropReason::Truncated);
        }
        let (ct, icv) = body
            .split_at_mut_checked(ct_len)
            .ok_or(DropReason::Truncated)?;
        self.aead
            .open_esp(seq, self.esn, prefix, ct, icv)
            .map_err(|_| DropReason::BadIcv)?;
        let ct: &'a [u8] = ct;

        // RFC 4303 §2.4 / §2.5 / §2.6: ... | padding | Pad Length | Next Header
        let (rest, trailer) = ct
            .split_last_chunk::<ESP_TRAILER_LEN>()
            .ok_or(DropReason::Truncated)?;
        let [pad_len, next_header] = *trailer;
        let payload_len = rest
            .len()
            .checked_sub(usize::from(pad_len))
            .ok_or(DropReason::BadPadding)?;
        let (payload, padding) = rest
            .split_at_checked(payload_len)
            .ok_or(DropReason::BadPadding)?;
        if !padding.iter().zip(1..=u8::MAX).all(|(&b, want)| b == want) {
            return Err(DropReason::BadPadding);
        }

        self.window.update64(seq);
        self.last_opened = seq;
        if next_header == IPPROTO_NONE {
            return Err(DropReason::DummyPacket);
        }
        Ok(Opened {
            next_header,
            payload,
            seq: seql,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::IPPROTO_UDP;

    fn keys() -> SaKeys {
        SaKeys::new(EspSuite::AesGcm16_128, &[7u8; 20]).unwrap()
    }

    /// A persisted SA continues where it stopped: no sequence number (and so
    /// no IV) is used twice, and the receiver refuses the previous run's packets.
    #[test]
    fn resumed_sas_continue_the_sequence_and_refuse_old_numbers() {
        let keys = || SaKeys::new(EspSuite::AesGcm16_128, &[7u8; 20]).unwrap();
        let now = Instant::now();
        let mut tx = OutboundSa::new(0x1000, keys(), now, None)
            .unwrap()
            .resume_after(500);
        let mut rx = InboundSa::new(0x1000, keys(), now, None)
            .unwrap()
            .resume_after(499);
        let mut pkt = [0u8; 64];
        let n = tx.seal(now, 17, b"x", &mut pkt).unwrap();
        let replay = pkt;
        assert_eq!(rx.open(now, &mut pkt[..n]).unwrap().seq, 501);
        // A packet of the previous run, still inside the 64-packet window
        // (480 > 501 - 64), is refused as a replay: only the resume can know
        // it was received.
        let mut old = OutboundSa::new(0x1000, keys(), now, None)
            .unwrap()
            .resume_after(479);
        let mut p2 = [0u8; 64];
        let m = old.seal(now, 17, b"y", &mut p2).unwrap();
        assert_eq!(rx.open(now, &mut p2[..m]).err(), Some(DropReason::Replayed));
        let mut again = replay;
        assert_eq!(
            rx.open(now, &mut again[..n]).err(),
            Some(DropReason::Replayed)
        );
    }

    /// RFC 4303 §3.3.3: without ESN the counter MUST NOT cycle: the packet
    /// with sequence number 2^32-1 is the last one the SA sends.
    #[test]
    fn sequence_number_never_wraps() {
        let now = Instant::now();
        let mut tx = OutboundSa::new(0x4000, keys(), now, None).unwrap();
        let mut rx = InboundSa::new(0x4000, keys(), now, None).unwrap();
        tx.seq = u64::from(u32::MAX - 1);
        let mut buf = [0u8; 64];
        let n = tx.seal(now, IPPROTO_UDP, b"last", &mut buf).unwrap();
        assert_eq!(tx.last_seq(), u32::MAX);
        assert_eq!(&buf[4..8], &[0xFF; 4]);
        assert_eq!(&buf[8..16], &[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        let o = rx.open(now, &mut buf[..n]).unwrap();
        assert_eq!((o.seq, o.payload), (u32::MAX, &b"last"[..]));

        for _ in 0..2 {
            assert_eq!(
                tx.seal(now, IPPROTO_UDP, b"one more", &mut buf),
                Err(SealError::SequenceExhausted)
            );
        }
        assert_eq!(tx.last_seq(), u32::MAX);
        assert_eq!(tx.counters().refused_sequence_exhausted, 2);
        assert_eq!(tx.counters().packets, 1);
    }

    #[test]
    fn padding_aligns_payload_plus_trailer_to_four() {
        for len in 0..64 {
            let p = padding_len(len);
            assert!(p < 4);
            assert_eq!((len + p + 2) % 4, 0);
        }
    }
}
