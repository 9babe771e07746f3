//! The seam between the sans-IO [`Node`] and the applications on it (AS, RS,
//! Client): a [`Host`] answers node events; [`process`] runs one turn.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::node::{Node, NodeEvent, Transmit};

/// Time as the protocol cores see it: a monotonic instant for timers and
/// lifetimes, and Unix seconds for token claims (`exp`, `iat`).
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub mono: Instant,
    pub unix: u64,
}

impl Now {
    /// The real clocks; only drivers call this.
    pub fn system() -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Now {
            mono: Instant::now(),
            unix,
        }
    }
    /// `secs` later on both clocks (tests, simulations).
    pub fn later(self, secs: u64) -> Self {
        Now {
            mono: self.mono + std::time::Duration::from_secs(secs),
            unix: self.unix + secs,
        }
    }
}

/// An application living on a node.
pub trait Host: Send + 'static {
    fn node(&mut self) -> &mut Node;
    fn node_ref(&self) -> &Node;
    /// A CoAP event or SA expiry from the node.
    fn on_event(&mut self, now: Now, event: NodeEvent);
    /// The host's own next deadline (token expiry, …).
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn on_timeout(&mut self, _now: Now) {}
}

/// One turn: deliver every pending node event to the host, then collect what
/// to send. Call after every input (datagram, timeout, API call).
pub fn process<H: Host + ?Sized>(host: &mut H, now: Now) -> Vec<Transmit> {
    let mut out = Vec::new();
    loop {
        let mut progressed = false;
        while let Some(ev) = host.node().poll_event() {
            host.on_event(now, ev);
            progressed = true;
        }
        while let Some(t) = host.node().poll_transmit(now.mono) {
            out.push(t);
            progressed = true;
        }
        if !progressed {
            return out;
        }
    }
}

/// Timers due at `now`: node first (CoAP retransmissions, SA expiry), then host.
pub fn handle_timeout<H: Host + ?Sized>(host: &mut H, now: Now) {
    host.node().handle_timeout(now.mono);
    if host.poll_timeout().is_some_and(|t| t <= now.mono) {
        host.on_timeout(now);
    }
}

/// The earliest deadline of the node and the host.
pub fn next_timeout<H: Host + ?Sized>(host: &H) -> Option<Instant> {
    match (host.node_ref().poll_timeout(), host.poll_timeout()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
