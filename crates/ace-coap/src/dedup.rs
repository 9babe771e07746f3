//! RFC 7252 §4.5: message deduplication, per (peer, Message ID), for
//! EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON), bounded in size.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::endpoint::IncomingId;

/// What a duplicate of a message gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DedupState {
    /// A CON request handed to the application and not answered yet:
    /// duplicates are dropped (the peer retransmits until the answer exists).
    Pending(IncomingId),
    /// The ACK (piggybacked response, empty ACK) or RST sent for the
    /// original: RFC 7252 §4.5 "acknowledge each duplicate copy of a
    /// Confirmable message using the same Acknowledgement or Reset message".
    Reply(Vec<u8>),
    /// NON messages: duplicates are silently ignored.
    Silent,
}

struct Entry {
    state: DedupState,
    expires: Instant,
    seq: u64,
}

/// Outcome of [`DedupCache::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inserted {
    Yes,
    /// The cache is full of unanswered requests; the message must be dropped
    /// rather than processed without duplicate protection.
    Full,
}

pub(crate) struct DedupCache<P> {
    map: HashMap<(P, u16), Entry>,
    order: VecDeque<((P, u16), u64, Instant)>,
    seq: u64,
    max: usize,
}

impl<P> DedupCache<P> {
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

impl<P: Clone + Eq + Hash> DedupCache<P> {
    pub(crate) fn new(max: usize) -> Self {
        DedupCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
            max: max.max(1),
        }
    }

    /// The state recorded for a message, if it is a live duplicate.
    pub(crate) fn lookup(&mut self, now: Instant, key: &(P, u16)) -> Option<&DedupState> {
        let expired = self.map.get(key).is_some_and(|e| e.expires <= now);
        if expired {
            self.map.remove(key);
            return None;
        }
        self.map.get(key).map(|e| &e.state)
    }

    pub(crate) fn insert(
        &mut self,
        now: Instant,
        key: (P, u16),
        state: DedupState,
        lifetime: Duration,
    ) -> Inserted {
        self.expire(now);
        while self.map.len() >= self.max {
            let Some((front_key, seq, _)) = self.order.front().cloned() else {
                break;
            };
            let live = self.map.get(&front_key).filter(|e| e.seq == seq);
            match live {
                Some(e) if matches!(e.state, DedupState::Pending(_)) => return Inserted::Full,
                Some(_) => {
                    self.map.remove(&front_key);
                    self.order.pop_front();
                }
                None => {
                    self.order.pop_front();
                }
            }
        }
        if self.order.len() > 2 * self.max {
            let map = &self.map;
            self.order
                .retain(|(k, seq, _)| map.get(k).is_some_and(|e| e.seq == *seq));
        }
        self.seq += 1;
        let expires = now + lifetime;
        self.order.push_back((key.clone(), self.seq, expires));
        self.map.insert(
            key,
            Entry {
                state,
                expires,
                seq: self.seq,
            },
        );
        Inserted::Yes
    }

    /// Replace the state of a live entry (no-op if it is gone).
    pub(crate) fn set_state(&mut self, key: &(P, u16), state: DedupState) {
        if let Some(e) = self.map.get_mut(key) {
            e.state = state;
        }
    }

    /// Drop expired entries from the front of the insertion order.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some((key, seq, expires)) = self.order.front().cloned() {
            let live = self.map.get(&key).is_some_and(|e| e.seq == seq);
            if live && expires > now {
                break;
            }
            if live {
                self.map.remove(&key);
            }
            self.order.pop_front();
        }
    }

    /// When the oldest entry expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.order.front().map(|(_, _, t)| *t)
    }
}
