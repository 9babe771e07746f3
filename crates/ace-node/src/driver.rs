//! The thin tokio driver: two UDP sockets around a [`Host`].
//!
//! The ESP-in-UDP port is the node's own socket, or one it shares with a
//! transparent-mode data path ([`EspPort::Shared`]): the data path reads
//! the socket, keeps the ESP of the SPIs it owns and hands every other
//! datagram over; the node sends through it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use crate::host::{handle_timeout, next_timeout, process, Host, Now};
use crate::node::{Interface, Transmit};

/// Sends one ESP-in-UDP datagram through a shared socket.
pub type EspSend = Arc<dyn Fn(SocketAddr, &[u8]) -> std::io::Result<()> + Send + Sync>;

/// A socket the node shares with another owner of ESP SAs.
pub struct SharedEsp {
    /// The socket's address (the node's ESP address).
    pub local: SocketAddr,
    /// The datagrams the other owner does not keep, with their sender.
    pub incoming: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
    pub send: EspSend,
}

/// Where the node's ESP-in-UDP datagrams come from and go to.
pub enum EspPort {
    Socket(UdpSocket),
    Shared(SharedEsp),
}

impl EspPort {
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            EspPort::Socket(s) => s.local_addr(),
            EspPort::Shared(s) => Ok(s.local),
        }
    }

    /// The next datagram; `None` once a shared socket's owner is gone.
    async fn recv(&mut self, buf: &mut [u8]) -> Option<std::io::Result<(usize, SocketAddr)>> {
        match self {
            EspPort::Socket(s) => Some(s.recv_from(buf).await),
            EspPort::Shared(s) => {
                let (from, d) = s.incoming.recv().await?;
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Some(Ok((n, from)))
            }
        }
    }

    async fn send(&self, to: SocketAddr, payload: &[u8]) -> std::io::Result<()> {
        match self {
            EspPort::Socket(s) => s.send_to(payload, to).await.map(|_| ()),
            // A UDP send on the data path's socket: it does not wait.
            EspPort::Shared(s) => (s.send)(to, payload),
        }
    }
}

/// Runs after each turn, under the host's lock, after the turn's datagrams
/// were sealed and before they are sent (e.g. to move pairs into a data
/// path and pass the changes on).
pub type AfterTurn<H> = Box<dyn FnMut(&mut H, Now) + Send>;

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
        Self::spawn_on(host, plain, EspPort::Socket(esp), state_dir, None)
    }

    /// The general form: the ESP port may be shared, and `after_turn` runs
    /// after each turn.
    pub fn spawn_on(
        host: H,
        plain: UdpSocket,
        esp: EspPort,
        state_dir: Option<PathBuf>,
        after_turn: Option<AfterTurn<H>>,
    ) -> std::io::Result<Self> {
        let plain_addr = plain.local_addr()?;
        let esp_addr = esp.local_addr()?;
        if let Some(d) = &state_dir {
            std::fs::create_dir_all(d)?;
        }
        let host = Arc::new(Mutex::new(host));
        let wake = Arc::new(Notify::new());
        let io = Io {
            plain,
            esp,
            state_dir,
            after_turn,
        };
        let task = tokio::spawn(run(host.clone(), wake.clone(), io));
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

/// What the event loop runs on.
struct Io<H> {
    plain: UdpSocket,
    esp: EspPort,
    state_dir: Option<PathBuf>,
    after_turn: Option<AfterTurn<H>>,
}

async fn run<H: Host>(host: Arc<Mutex<H>>, wake: Arc<Notify>, io: Io<H>) {
    let Io {
        plain,
        mut esp,
        state_dir,
        mut after_turn,
    } = io;
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
                turn(&mut *h, now, &mut after_turn)
            }
            r = esp.recv(&mut buf_e) => {
                let mut h = lock(&host);
                let now = Now::system();
                match r {
                    Some(Ok((n, from))) => h.node().handle_datagram(now.mono, Interface::Esp, from, &buf_e[..n]),
                    Some(Err(e)) => tracing::debug!(error = %e, "ESP socket receive error"),
                    None => {
                        tracing::error!("the shared ESP socket's data path is gone: node stopped");
                        return;
                    }
                }
                turn(&mut *h, now, &mut after_turn)
            }
            _ = sleep => {
                let mut h = lock(&host);
                let now = Now::system();
                handle_timeout(&mut *h, now);
                turn(&mut *h, now, &mut after_turn)
            }
            _ = wake.notified() => {
                let mut h = lock(&host);
                turn(&mut *h, Now::system(), &mut after_turn)
            }
        };
        if let Err(unwritten) = persist(&state_dir, blobs).await {
            // Nothing of this turn leaves, and the state is written first next turn.
            lock(&host).node().requeue_persist(unwritten);
            continue;
        }
        for t in txs {
            let sent = match t.iface {
                Interface::Plain => plain.send_to(&t.payload, t.to).await.map(|_| ()),
                Interface::Esp => esp.send(t.to, &t.payload).await,
            };
            if let Err(e) = sent {
                tracing::warn!(to = %t.to, error = %e, "send failed");
            }
        }
    }
}

/// One turn of the host, and the state that must be durable before its datagrams leave.
fn turn<H: Host>(
    h: &mut H,
    now: Now,
    after_turn: &mut Option<AfterTurn<H>>,
) -> (Vec<Transmit>, Vec<(String, Vec<u8>)>) {
    let txs = process(h, now);
    if let Some(f) = after_turn.as_mut() {
        f(h, now);
    }
    let blobs = h.node().take_persist();
    (txs, blobs)
}
