//! The thin tokio driver: two UDP sockets around a [`Host`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::UdpSocket;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::host::{handle_timeout, next_timeout, process, Host, Now};
use crate::node::{Interface, Transmit};

/// A host running on real sockets.
pub struct Running<H: Host> {
    host: Arc<Mutex<H>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
    pub plain_addr: SocketAddr,
    pub esp_addr: SocketAddr,
}

/// Binds the two sockets a node needs. Port 0 picks an ephemeral port.
pub async fn bind(plain: SocketAddr, esp: SocketAddr) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let p = UdpSocket::bind(plain).await?;
    let e = UdpSocket::bind(esp).await?;
    Ok((p, e))
}

impl<H: Host> Running<H> {
    /// Starts the event loop. The host's node must have been built with the
    /// sockets' local addresses.
    pub fn spawn(host: H, plain: UdpSocket, esp: UdpSocket) -> std::io::Result<Self> {
        Self::spawn_with_state(host, plain, esp, None)
    }

    /// Like [`Running::spawn`], writing the node's persistent SA state
    /// ([`crate::node::SeqState`]) under `state_dir`, durably, before sending
    /// anything produced in the same turn.
    pub fn spawn_with_state(
        host: H,
        plain: UdpSocket,
        esp: UdpSocket,
        state_dir: Option<PathBuf>,
    ) -> std::io::Result<Self> {
        let plain_addr = plain.local_addr()?;
        let esp_addr = esp.local_addr()?;
        if let Some(d) = &state_dir {
            std::fs::create_dir_all(d)?;
        }
        let host = Arc::new(Mutex::new(host));
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(run(host.clone(), wake.clone(), plain, esp, state_dir));
        Ok(Running {
            host,
            wake,
            task,
            plain_addr,
            esp_addr,
        })
    }

    /// Locks the host (never held across an await inside the driver).
    pub fn lock(&self) -> MutexGuard<'_, H> {
        lock(&self.host)
    }

    /// Runs `f` on the host and wakes the loop so that what it queued is sent.
    pub fn with<R>(&self, f: impl FnOnce(&mut H, Now) -> R) -> R {
        let r = {
            let mut h = self.lock();
            f(&mut h, Now::system())
        };
        self.wake.notify_one();
        r
    }

    pub fn shutdown(self) {
        self.task.abort();
    }
}

fn lock<H>(m: &Mutex<H>) -> MutexGuard<'_, H> {
    // A panic inside a host is a bug; keep serving the other peers.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads a state blob written by [`write_state`]; None if absent.
pub fn read_state(dir: &Path, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(dir.join(name)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `dir/name` atomically and durably: temporary file,
/// fsync, rename, fsync of the directory.
pub fn write_state(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Writes the turn's state blobs; on failure returns them to be re-queued.
async fn persist(
    state_dir: &Option<PathBuf>,
    blobs: Vec<(String, Vec<u8>)>,
) -> Result<(), Vec<(String, Vec<u8>)>> {
    if blobs.is_empty() {
        return Ok(());
    }
    let Some(dir) = state_dir.clone() else {
        tracing::error!("a persistent SA pair has no state directory: refusing to send (its counters would restart)");
        return Err(blobs);
    };
    let task = tokio::task::spawn_blocking(move || {
        let r = blobs.iter().try_for_each(|(n, b)| write_state(&dir, n, b));
        (r, blobs)
    });
    match task.await {
        Ok((Ok(()), _)) => Ok(()),
        Ok((Err(e), blobs)) => {
            tracing::error!(error = %e, "cannot persist SA state: not sending this turn's datagrams");
            Err(blobs)
        }
        Err(e) => {
            tracing::error!(error = %e, "persist task failed");
            Err(Vec::new())
        }
    }
}

async fn run<H: Host>(
    host: Arc<Mutex<H>>,
    wake: Arc<Notify>,
    plain: UdpSocket,
    esp: UdpSocket,
    state_dir: Option<PathBuf>,
) {
    let mut buf_p = vec![0u8; 65_535];
    let mut buf_e = vec![0u8; 65_535];
    loop {
        let deadline = next_timeout(&*lock(&host));
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending::<()>().await,
            }
        };
        let (txs, blobs): (Vec<Transmit>, Vec<(String, Vec<u8>)>) = tokio::select! {
            r = plain.recv_from(&mut buf_p) => {
                let mut h = lock(&host);
                let now = Now::system();
                match r {
                    Ok((n, from)) => h.node().handle_datagram(now.mono, Interface::Plain, from, &buf_p[..n]),
                    Err(e) => tracing::debug!(error = %e, "plain socket receive error"),
                }
                turn(&mut *h, now)
            }
            r = esp.recv_from(&mut buf_e) => {
                let mut h = lock(&host);
                let now = Now::system();
                match r {
                    Ok((n, from)) => h.node().handle_datagram(now.mono, Interface::Esp, from, &buf_e[..n]),
                    Err(e) => tracing::debug!(error = %e, "ESP socket receive error"),
                }
                turn(&mut *h, now)
            }
            _ = sleep => {
                let mut h = lock(&host);
                let now = Now::system();
                handle_timeout(&mut *h, now);
                turn(&mut *h, now)
            }
            _ = wake.notified() => {
                let mut h = lock(&host);
                turn(&mut *h, Now::system())
            }
        };
        if let Err(unwritten) = persist(&state_dir, blobs).await {
            // Nothing of this turn leaves, and the state is written first next turn.
            lock(&host).node().requeue_persist(unwritten);
            continue;
        }
        for t in txs {
            let sock = match t.iface {
                Interface::Plain => &plain,
                Interface::Esp => &esp,
            };
            if let Err(e) = sock.send_to(&t.payload, t.to).await {
                tracing::warn!(to = %t.to, error = %e, "send failed");
            }
        }
    }
}

/// One turn of the host, and the state that must be durable before its datagrams leave.
fn turn<H: Host>(h: &mut H, now: Now) -> (Vec<Transmit>, Vec<(String, Vec<u8>)>) {
    let txs = process(h, now);
    let blobs = h.node().take_persist();
    (txs, blobs)
}
