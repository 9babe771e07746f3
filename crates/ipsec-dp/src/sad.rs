//! RFC 4301 §4.4.2: the Security Association Database (inbound side).

use std::collections::HashMap;
use std::time::Instant;

use crate::consts::ESP_SPI_LEN;
use crate::error::{DropCounters, DropReason, SadError};
use crate::sa::{InboundSa, Opened};

/// The inbound half of the SAD: SAs indexed by SPI (RFC 4301 §4.1: for
/// unicast SAs the SPI alone identifies the SA), with drop counters for
/// everything that arrives.
///
/// Outbound SAs are owned by the caller (keyed by whatever selects them:
/// peer, token, SPD entry); [`crate::OutboundSa`] needs no table.
#[derive(Debug, Default)]
pub struct Sad {
    inbound: HashMap<u32, InboundSa>,
    drops: DropCounters,
}

impl Sad {
    /// An empty SAD.
    pub fn new() -> Self {
        Self::default()
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
