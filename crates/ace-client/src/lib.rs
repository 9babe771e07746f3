//! `ace-client`: the Client of the `coap_ipsec` profile.
//!
//! [`flow::ClientHost`] is the sans-IO state machine (token, SA pair,
//! `/authz-info`, resource requests); [`Client`] runs it on real sockets with
//! the `ace-node` driver and offers an async API.

pub mod flow;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ace_node::driver::Running;
use tokio::sync::oneshot;

pub use flow::{Access, AsRegistration, ClientError, ClientHost, OpId, Outcome, Session, Step};

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

impl ace_node::Host for Waiting {
    fn node(&mut self) -> &mut ace_node::Node {
        self.host.node()
    }
    fn node_ref(&self) -> &ace_node::Node {
        self.host.node_ref()
    }
    fn on_event(&mut self, now: ace_node::Now, event: ace_node::NodeEvent) {
        self.host.on_event(now, event);
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

impl Client {
    /// Runs the host; `state_dir` keeps the registration pair's counters
    /// (needed when the host was built with `resume`).
    pub fn spawn(
        host: ClientHost,
        plain: tokio::net::UdpSocket,
        esp: tokio::net::UdpSocket,
        state_dir: Option<std::path::PathBuf>,
    ) -> std::io::Result<Self> {
        let waiters: Waiters = Arc::default();
        let running = Running::spawn_with_state(
            Waiting {
                host,
                waiters: waiters.clone(),
            },
            plain,
            esp,
            state_dir,
        )?;
        Ok(Client { running, waiters })
    }

    /// Runs one access to completion.
    pub async fn access(&self, access: Access) -> Result<Outcome, ClientError> {
        let (tx, rx) = oneshot::channel();
        let waiters = self.waiters.clone();
        self.running.with(move |w, now| {
            let id = w.host.start(now, access);
            // An op can finish inside `start` (e.g. nothing to send); check both orders.
            match w.host.poll_done() {
                Some((done, r)) if done == id => {
                    let _ = tx.send(r);
                }
                Some(other) => {
                    waiters
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id, tx);
                    let tx2 = waiters
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&other.0);
                    if let Some(tx2) = tx2 {
                        let _ = tx2.send(other.1);
                    }
                }
                None => {
                    waiters
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id, tx);
                }
            }
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
