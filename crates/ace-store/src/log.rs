//! Group commit: the token log.
//!
//! Callers submit an [`Op`] and await its outcome; one committer task takes
//! everything that queued up while its previous transaction ran (at most
//! `max_batch`), hands it to the backend's [`BatchWriter`] as one
//! transaction, and wakes every waiter once that transaction is durable.
//! Under load the batch grows by itself: a commit costs one fsync however
//! many records it carries.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{Result, StoreError};
use crate::model::{Issued, NewToken, SpiRange};

/// One write that goes through group commit.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Record a token (and reserve its SPI_SA_C, if it asks for one).
    Issue(NewToken),
    /// Reserve an SPI_SA_C for `audience` on behalf of token `cti`.
    Reserve {
        audience: String,
        range: SpiRange,
        cti: Vec<u8>,
    },
    /// Return an SPI to `audience`'s pool.
    Release { audience: String, spi: u32 },
}

/// What one [`Op`] did, once durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Issued(Issued),
    Reserved(u32),
    Released(bool),
}

/// A backend's side of group commit.
pub(crate) trait BatchWriter: Send + 'static {
    /// Applies `ops` in order in one transaction and returns once it is
    /// durable: one result per op, or one error that failed them all (then
    /// nothing of the batch was written).
    fn write_batch(
        &mut self,
        ops: &[Op],
    ) -> impl Future<Output = Result<Vec<Result<Outcome>>>> + Send;
}

/// Bounds of the token log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitConfig {
    /// Most operations in one transaction.
    pub max_batch: usize,
    /// Most operations waiting for a transaction; one more gets
    /// [`StoreError::QueueFull`].
    pub queue_capacity: usize,
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        GroupCommitConfig {
            max_batch: 1024,
            queue_capacity: 16 * 1024,
        }
    }
}

/// Counters of the token log, for benches and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Transactions committed (or failed) by the committer.
    pub batches: u64,
    /// Operations they carried.
    pub ops: u64,
    /// The largest batch so far.
    pub largest_batch: u64,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    ops: AtomicU64,
    largest_batch: AtomicU64,
}

/// Scheduler turns the committer waits for stragglers of a batch.
const FILL_TURNS: usize = 8;

struct Pending {
    op: Op,
    reply: oneshot::Sender<Result<Outcome>>,
}

/// The submitting side of group commit; the committer task runs until
/// [`TokenLog::close`] or until the last handle is dropped.
pub(crate) struct TokenLog {
    tx: mpsc::Sender<Pending>,
    capacity: usize,
    counters: Arc<Counters>,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl TokenLog {
    /// Starts the committer on the current tokio runtime.
    pub(crate) fn spawn<W: BatchWriter>(writer: W, config: GroupCommitConfig) -> Self {
        let max_batch = config.max_batch.max(1);
        let capacity = config.queue_capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let (stop_tx, stop_rx) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(committer(writer, rx, stop_rx, max_batch, counters.clone()));
        TokenLog {
            tx,
            capacity,
            counters,
            shutdown: Mutex::new(Some(stop_tx)),
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues `op` and waits until the transaction that carries it is durable.
    pub(crate) async fn submit(&self, op: Op) -> Result<Outcome> {
        let (reply, done) = oneshot::channel();
        self.tx
            .try_send(Pending { op, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::QueueFull {
                    capacity: self.capacity,
                },
                mpsc::error::TrySendError::Closed(_) => StoreError::CommitterStopped,
            })?;
        done.await.map_err(|_| StoreError::CommitterStopped)?
    }

    pub(crate) fn stats(&self) -> LogStats {
        LogStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            ops: self.counters.ops.load(Ordering::Relaxed),
            largest_batch: self.counters.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// Refuses new operations, commits what is queued and waits for the
    /// committer to end.
    pub(crate) async fn close(&self) {
        let stop = self.shutdown.lock().ok().and_then(|mut s| s.take());
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            if let Err(e) = task.await {
                tracing::error!("group committer ended abnormally: {e}");
            }
        }
    }
}

async fn committer<W: BatchWriter>(
    mut writer: W,
    mut rx: mpsc::Receiver<Pending>,
    mut stop: oneshot::Receiver<()>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    let mut stopping = false;
    let mut previous = 0;
    loop {
        let received = if stopping {
            rx.recv_many(&mut batch, max_batch).await
        } else {
            tokio::select! {
                n = rx.recv_many(&mut batch, max_batch) => n,
                _ = &mut stop => {
                    // No new operations; what is queued still commits.
                    rx.close();
                    stopping = true;
                    continue;
                }
            }
        };
        if received == 0 {
            return;
        }
        // The waiters of the previous batch are being woken and will most
        // likely submit again at once: give them a few scheduler turns (no
        // timer, microseconds) to join this batch rather than the next.
        let mut turns = 0;
        while batch.len() < max_batch.min(previous) && turns < FILL_TURNS {
            tokio::task::yield_now().await;
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            turns += 1;
        }
        previous = batch.len();
        let (ops, replies): (Vec<Op>, Vec<_>) = batch.drain(..).map(|p| (p.op, p.reply)).unzip();
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.ops.fetch_add(ops.len() as u64, Ordering::Relaxed);
        counters
            .largest_batch
            .fetch_max(ops.len() as u64, Ordering::Relaxed);
        match writer.write_batch(&ops).await {
            Ok(outcomes) if outcomes.len() == replies.len() => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Ok(outcomes) => {
                let e = StoreError::Corrupt(format!(
                    "batch writer answered {} of {} operations",
                    outcomes.len(),
                    replies.len()
                ));
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
            Err(e) => {
                tracing::warn!(ops = ops.len(), "group commit failed: {e}");
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
