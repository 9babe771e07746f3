//! A deterministic in-memory network for tests: hosts exchange datagrams
//! through a queue, no sockets, no real time.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::host::{handle_timeout, next_timeout, process, Host, Now};
use crate::node::{Interface, Transmit};

/// A datagram in flight.
#[derive(Clone, Debug)]
pub struct Datagram {
    pub from: SocketAddr,
    pub iface: Interface,
    pub to: SocketAddr,
    pub payload: Vec<u8>,
}

/// Moves datagrams between `hosts` until nothing is left to deliver, and
/// returns every datagram that was delivered (the "capture").
/// A datagram to an address no host owns is returned in the capture but not delivered.
pub fn pump(hosts: &mut [&mut dyn Host], now: Now) -> Vec<Datagram> {
    deliver(hosts, now, Vec::new())
}

/// Like [`pump`], starting with `datagrams` in flight (e.g. what [`tick`] returned).
pub fn deliver(hosts: &mut [&mut dyn Host], now: Now, datagrams: Vec<Datagram>) -> Vec<Datagram> {
    let mut queue: VecDeque<Datagram> = datagrams.into();
    for h in hosts.iter_mut() {
        enqueue(&mut queue, &mut **h, now);
    }
    let mut capture = Vec::new();
    let mut budget = 100_000;
    while let Some(d) = queue.pop_front() {
        budget -= 1;
        if budget == 0 {
            break;
        }
        capture.push(d.clone());
        if let Some(i) = hosts.iter_mut().position(|h| owns(&**h, d.iface, d.to)) {
            let h = &mut *hosts[i];
            h.node()
                .handle_datagram(now.mono, d.iface, d.from, &d.payload);
            enqueue(&mut queue, h, now);
        }
    }
    capture
}

/// Delivers one datagram to whichever host owns its destination, returning
/// what the hosts then send (not delivered).
pub fn inject(hosts: &mut [&mut dyn Host], now: Now, d: &Datagram) -> Vec<Datagram> {
    let mut queue = VecDeque::new();
    if let Some(i) = hosts.iter_mut().position(|h| owns(&**h, d.iface, d.to)) {
        let h = &mut *hosts[i];
        h.node()
            .handle_datagram(now.mono, d.iface, d.from, &d.payload);
        enqueue(&mut queue, h, now);
    }
    queue.into_iter().collect()
}

/// Fires every timer due at `now` on every host, lets the hosts handle what
/// that produced, and returns what they send (not delivered).
pub fn tick(hosts: &mut [&mut dyn Host], now: Now) -> Vec<Datagram> {
    let mut queue = VecDeque::new();
    for h in hosts.iter_mut() {
        if next_timeout(&**h).is_some_and(|t| t <= now.mono) {
            handle_timeout(&mut **h, now);
        }
        enqueue(&mut queue, &mut **h, now);
    }
    queue.into_iter().collect()
}

fn owns(h: &dyn Host, iface: Interface, to: SocketAddr) -> bool {
    let n = h.node_ref();
    match iface {
        Interface::Plain => n.local_plain() == to,
        Interface::Esp => n.local_esp() == to,
    }
}

fn enqueue(queue: &mut VecDeque<Datagram>, h: &mut dyn Host, now: Now) {
    let from_plain = h.node_ref().local_plain();
    let from_esp = h.node_ref().local_esp();
    for Transmit { iface, to, payload } in process(h, now) {
        let from = match iface {
            Interface::Plain => from_plain,
            Interface::Esp => from_esp,
        };
        queue.push_back(Datagram {
            from,
            iface,
            to,
            payload,
        });
    }
}
