//! `ace-client`: the Client of the `coap_ipsec` profile.
//!
//! [`flow::ClientHost`] is the sans-IO state machine (token, SA pair,
//! `/authz-info`, resource requests); [`Client`] runs it on real sockets with
//! the `ace-node` driver and offers an async API.

pub mod flow;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ace_node::driver::{EspPort, Running};
use tokio::sync::oneshot;

pub use flow::{
    Access, AsRegistration, ClientError, ClientHost, IkeKey, OpId, Outcome, Session, Step,
};

type Waiters = Arc<Mutex<HashMap<OpId, oneshot::Sender<Result<Outcome, ClientError>>>>>;

/// A client running on real sockets.
pub struct Client {
    running: Running<Waiting>,
    waiters: Waiters,
}

/// The host plus the completion channels of the async API.
pub struct Waiting {
    pub host: ClientHost,
    waiters: Waiters,
}

impl Waiting {
    /// Hands every finished access to its waiter.
    fn deliver(&mut self) {
        while let Some((id, r)) = self.host.poll_done() {
            let tx = self
                .waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            if let Some(tx) = tx {
                let _ = tx.send(r);
            }
        }
    }
}

impl ace_node::Host for Waiting {
    fn node(&mut self) -> &mut ace_node::Node {
        self.host.node()
    }
    fn node_ref(&self) -> &ace_node::Node {
        self.host.node_ref()
    }
    fn on_event(&mut self, now: ace_node::Now, event: ace_node::NodeEvent) {
        self.host.on_event(now, event);
        self.deliver();
    }
    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.host.poll_timeout()
    }
    fn on_timeout(&mut self, now: ace_node::Now) {
        self.host.on_timeout(now);
        self.deliver();
    }
}

impl Client {
    /// Runs the host; `state_dir` keeps the registration pair's counters
    /// (needed when the host was built with `resume`).
    pub fn spawn(
        host: ClientHost,
        plain: tokio::net::UdpSocket,
        esp: tokio::net::UdpSocket,
        state_dir: Option<std::path::PathBuf>,
    ) -> std::io::Result<Self> {
        Self::spawn_on(host, plain, EspPort::Socket(esp), state_dir)
    }

    /// [`Client::spawn`] on any ESP port (a socket shared with a
    /// transparent-mode data path).
    pub fn spawn_on(
        host: ClientHost,
        plain: tokio::net::UdpSocket,
        esp: EspPort,
        state_dir: Option<std::path::PathBuf>,
    ) -> std::io::Result<Self> {
        let waiters: Waiters = Arc::default();
        let waiting = Waiting {
            host,
            waiters: waiters.clone(),
        };
        let running = Running::spawn_on(waiting, plain, esp, state_dir, None)?;
        Ok(Client { running, waiters })
    }

    /// Runs one access to completion.
    pub async fn access(&self, access: Access) -> Result<Outcome, ClientError> {
        self.run(access, false).await
    }

    /// Sets up a new SA pair with the RS and ends when it is confirmed
    /// ([`ClientHost::establish`]).
    pub async fn establish(&self, access: Access) -> Result<Outcome, ClientError> {
        self.run(access, true).await
    }

    async fn run(&self, access: Access, establish_only: bool) -> Result<Outcome, ClientError> {
        let (tx, rx) = oneshot::channel();
        let waiters = self.waiters.clone();
        self.running.with(move |w, now| {
            // `start` may already finish the access: `deliver` after registering hands it over.
            let id = if establish_only {
                w.host.establish(now, access)
            } else {
                w.host.start(now, access)
            };
            waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, tx);
            w.deliver();
        });
        rx.await.unwrap_or_else(|_| {
            Err(ClientError::Protocol {
                step: "client",
                detail: "client stopped".into(),
            })
        })
    }

    /// Access to the running host (stats, sessions, tap).
    pub fn running(&self) -> &Running<Waiting> {
        &self.running
    }

    pub fn shutdown(self) {
        self.running.shutdown();
    }
}
