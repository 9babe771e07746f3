//! RFC 4301 §4.4.2: the Security Association Database (inbound side).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

use crate::consts::ESP_SPI_LEN;
use crate::error::{DropCounters, DropReason, SadError};
use crate::sa::{InboundSa, LifetimeStatus, Opened};

/// A keyed multiply-xorshift hash for 32-bit SPIs: a few cycles instead of
/// SipHash's ~20 ns, with a per-table random key (from the standard
/// library's `RandomState`) so that an adversary cannot predict collisions.
/// SPIs are chosen by this end (RFC 4303 §2.1), so the key set is not the
/// adversary's anyway; the key only guards the lookups of unknown SPIs.
#[derive(Clone, Copy)]
pub struct SpiHasherBuilder {
    key: u64,
}

impl core::fmt::Debug for SpiHasherBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SpiHasherBuilder { .. }")
    }
}

impl Default for SpiHasherBuilder {
    fn default() -> Self {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5350_4900);
        SpiHasherBuilder {
            key: h.finish() | 1,
        }
    }
}

impl BuildHasher for SpiHasherBuilder {
    type Hasher = SpiHasher;
    fn build_hasher(&self) -> SpiHasher {
        SpiHasher {
            key: self.key,
            state: 0,
        }
    }
}

/// The hasher of [`SpiHasherBuilder`].
#[derive(Debug, Clone, Copy)]
pub struct SpiHasher {
    key: u64,
    state: u64,
}

impl Hasher for SpiHasher {
    fn finish(&self) -> u64 {
        let x = self
            .state
            .wrapping_add(self.key)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ (x >> 29) ^ self.key.rotate_left(17)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state = (self.state << 8 | u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.state = (self.state << 32) ^ u64::from(i);
    }
}

/// The inbound half of the SAD: SAs indexed by SPI (RFC 4301 §4.1: for
/// unicast SAs the SPI alone identifies the SA), with drop counters for
/// everything that arrives.
///
/// Outbound SAs are owned by the caller (keyed by whatever selects them:
/// peer, token, SPD entry); [`crate::OutboundSa`] needs no table.
///
/// Lookup by SPI is one hash-table probe (O(1)); the table is sized for
/// hundreds of thousands of SAs (see [`Sad::with_capacity`]).
#[derive(Debug, Default)]
pub struct Sad {
    inbound: HashMap<u32, InboundSa, SpiHasherBuilder>,
    drops: DropCounters,
}

impl Sad {
    /// An empty SAD.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty SAD with room for `n` inbound SAs without rehashing.
    pub fn with_capacity(n: usize) -> Self {
        Sad {
            inbound: HashMap::with_capacity_and_hasher(n, SpiHasherBuilder::default()),
            drops: DropCounters::default(),
        }
    }

    /// Installs an inbound SA under its SPI.
    pub fn insert_inbound(&mut self, sa: InboundSa) -> Result<(), SadError> {
        use std::collections::hash_map::Entry;
        match self.inbound.entry(sa.spi()) {
            Entry::Occupied(_) => Err(SadError::SpiInUse(sa.spi())),
            Entry::Vacant(v) => {
                v.insert(sa);
                Ok(())
            }
        }
    }

    /// Is `spi` taken by an inbound SA? (For choosing a fresh SPI.)
    pub fn contains_spi(&self, spi: u32) -> bool {
        self.inbound.contains_key(&spi)
    }

    /// Removes and returns the inbound SA for `spi`.
    pub fn remove_inbound(&mut self, spi: u32) -> Option<InboundSa> {
        self.inbound.remove(&spi)
    }

    /// The inbound SA for `spi`.
    pub fn inbound(&self, spi: u32) -> Option<&InboundSa> {
        self.inbound.get(&spi)
    }

    /// The inbound SA for `spi`, mutably.
    pub fn inbound_mut(&mut self, spi: u32) -> Option<&mut InboundSa> {
        self.inbound.get_mut(&spi)
    }

    /// SPIs of all inbound SAs, in no particular order.
    pub fn spis(&self) -> impl Iterator<Item = u32> + '_ {
        self.inbound.keys().copied()
    }

    /// Number of inbound SAs.
    pub fn len(&self) -> usize {
        self.inbound.len()
    }

    /// No inbound SAs?
    pub fn is_empty(&self) -> bool {
        self.inbound.is_empty()
    }

    /// Every drop of every packet given to [`Sad::open`], by reason (also
    /// the SAs' own counters count the drops they caused).
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// RFC 4303 §3.4.2: looks the SA up by the packet's SPI and opens the
    /// packet with it ([`InboundSa::open`]). Returns the SPI with the opened
    /// payload; counts every drop by reason.
    pub fn open<'a>(
        &mut self,
        now: Instant,
        packet: &'a mut [u8],
    ) -> Result<(u32, Opened<'a>), DropReason> {
        let r = self.open_inner(now, packet);
        if let Err(reason) = &r {
            self.drops.record(*reason);
        }
        r
    }

    fn open_inner<'a>(
        &mut self,
        now: Instant,
        packet: &'a mut [u8],
    ) -> Result<(u32, Opened<'a>), DropReason> {
        let spi_bytes: [u8; ESP_SPI_LEN] = packet
            .first_chunk::<ESP_SPI_LEN>()
            .copied()
            .ok_or(DropReason::Truncated)?;
        let spi = u32::from_be_bytes(spi_bytes);
        let sa = self.inbound.get_mut(&spi).ok_or(DropReason::UnknownSpi)?;
        let opened = sa.open(now, packet)?;
        Ok((spi, opened))
    }

    /// SPIs of the inbound SAs that reached a soft (or hard) lifetime limit
    /// at `now`: the ones to rekey (RFC 4301 §4.4.2.1). A scan; call it from
    /// a timer, not per packet.
    pub fn needing_rekey(&self, now: Instant) -> Vec<u32> {
        self.inbound
            .iter()
            .filter(|(_, sa)| sa.lifetime_status(now) != LifetimeStatus::Fresh)
            .map(|(&spi, _)| spi)
            .collect()
    }

    /// Removes every inbound SA whose lifetime has run out at `now` and
    /// returns their SPIs (RFC 4301 §4.4.2.1: an expired SA MUST be deleted).
    pub fn expire(&mut self, now: Instant) -> Vec<u32> {
        let gone: Vec<u32> = self
            .inbound
            .iter()
            .filter(|(_, sa)| sa.is_expired(now))
            .map(|(&spi, _)| spi)
            .collect();
        for spi in &gone {
            self.inbound.remove(spi);
        }
        gone
    }
}
