//! The in-memory store: for tests, and the baseline that the durable stores
//! are measured against. Same semantics as the SQL stores, including the
//! group committer (whose "commit" is applying the batch under one lock), so
//! that a bench compares durability and nothing else.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::error::{Result, StoreError};
use crate::log::{BatchWriter, GroupCommitConfig, LogStats, Op, Outcome, TokenLog};
use crate::model::*;
use crate::spi::pick_free;

/// A store that forgets everything when dropped. Cheap to clone; clones share
/// the data.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    log: Arc<TokenLog>,
}

#[derive(Default)]
struct State {
    clients: BTreeMap<String, Client>,
    resource_servers: BTreeMap<String, ResourceServer>,
    policies: BTreeSet<Policy>,
    tokens: HashMap<Vec<u8>, TokenRecord>,
    /// audience → SPIs in use there.
    pool: HashMap<String, BTreeSet<u32>>,
}

fn lock(state: &Mutex<State>) -> Result<MutexGuard<'_, State>> {
    state
        .lock()
        .map_err(|_| StoreError::Corrupt("memory store lock poisoned".into()))
}

impl MemoryStore {
    /// An empty store; its committer runs on the current tokio runtime.
    pub fn new(config: GroupCommitConfig) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let writer = MemoryWriter {
            state: state.clone(),
            rng: StdRng::from_os_rng(),
        };
        MemoryStore {
            state,
            log: Arc::new(TokenLog::spawn(writer, config)),
        }
    }

    pub(crate) fn log(&self) -> &TokenLog {
        &self.log
    }

    pub fn stats(&self) -> LogStats {
        self.log.stats()
    }

    pub async fn close(&self) {
        self.log.close().await;
    }

    pub fn put_client(&self, c: &Client) -> Result<()> {
        let mut s = lock(&self.state)?;
        if let Some(spi) = c.spi_as {
            if s.clients
                .values()
                .any(|o| o.id != c.id && o.spi_as == Some(spi))
            {
                return Err(StoreError::Conflict(format!(
                    "spi_as {spi} is another client's"
                )));
            }
        }
        s.clients.insert(c.id.clone(), c.clone());
        Ok(())
    }

    pub fn get_client(&self, id: &str) -> Result<Option<Client>> {
        Ok(lock(&self.state)?.clients.get(id).cloned())
    }

    pub fn client_by_spi_as(&self, spi_as: u32) -> Result<Option<Client>> {
        let s = lock(&self.state)?;
        Ok(s.clients
            .values()
            .find(|c| c.spi_as == Some(spi_as))
            .cloned())
    }

    pub fn list_clients(&self) -> Result<Vec<Client>> {
        Ok(lock(&self.state)?.clients.values().cloned().collect())
    }

    /// Deletes the client and, as the schema's ON DELETE CASCADE does, its policies.
    pub fn delete_client(&self, id: &str) -> Result<bool> {
        let mut s = lock(&self.state)?;
        s.policies.retain(|p| p.client_id != id);
        Ok(s.clients.remove(id).is_some())
    }

    pub fn put_resource_server(&self, rs: &ResourceServer) -> Result<()> {
        lock(&self.state)?
            .resource_servers
            .insert(rs.audience.clone(), rs.clone());
        Ok(())
    }

    pub fn get_resource_server(&self, audience: &str) -> Result<Option<ResourceServer>> {
        Ok(lock(&self.state)?.resource_servers.get(audience).cloned())
    }

    pub fn list_resource_servers(&self) -> Result<Vec<ResourceServer>> {
        Ok(lock(&self.state)?
            .resource_servers
            .values()
            .cloned()
            .collect())
    }

    pub fn delete_resource_server(&self, audience: &str) -> Result<bool> {
        let mut s = lock(&self.state)?;
        s.policies.retain(|p| p.audience != audience);
        Ok(s.resource_servers.remove(audience).is_some())
    }

    pub fn add_policy(&self, p: &Policy) -> Result<()> {
        let mut s = lock(&self.state)?;
        if !s.clients.contains_key(&p.client_id) {
            return Err(StoreError::UnknownClient(p.client_id.clone()));
        }
        if !s.resource_servers.contains_key(&p.audience) {
            return Err(StoreError::UnknownAudience(p.audience.clone()));
        }
        s.policies.insert(p.clone());
        Ok(())
    }

    pub fn remove_policy(&self, p: &Policy) -> Result<bool> {
        Ok(lock(&self.state)?.policies.remove(p))
    }

    pub fn policies(&self, client_id: &str, audience: Option<&str>) -> Result<Vec<Policy>> {
        let s = lock(&self.state)?;
        let mut out: Vec<Policy> = s
            .policies
            .iter()
            .filter(|p| p.client_id == client_id && audience.is_none_or(|a| a == p.audience))
            .cloned()
            .collect();
        out.sort_by(|a, b| (&a.audience, &a.scope).cmp(&(&b.audience, &b.scope)));
        Ok(out)
    }

    pub fn spis_in_use(&self, audience: &str) -> Result<Vec<u32>> {
        let s = lock(&self.state)?;
        Ok(s.pool
            .get(audience)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default())
    }

    pub fn get_token(&self, cti: &[u8]) -> Result<Option<TokenRecord>> {
        Ok(lock(&self.state)?.tokens.get(cti).cloned())
    }

    pub fn list_tokens(&self, filter: &TokenFilter) -> Result<Vec<TokenRecord>> {
        let s = lock(&self.state)?;
        let mut out: Vec<TokenRecord> = s
            .tokens
            .values()
            .filter(|t| filter.matches(t))
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.issued_at, &a.cti).cmp(&(b.issued_at, &b.cti)));
        if let Some(limit) = filter.limit {
            out.truncate(limit as usize);
        }
        Ok(out)
    }

    pub fn revoke(&self, cti: &[u8], now: u64) -> Result<Revocation> {
        let mut s = lock(&self.state)?;
        let t = s.tokens.get_mut(cti).ok_or(StoreError::UnknownToken)?;
        match t.revoked_at {
            Some(at) => Ok(Revocation::AlreadyRevoked { at }),
            None => {
                t.revoked_at = Some(now);
                Ok(Revocation::Revoked)
            }
        }
    }

    pub fn update_spi_sa_rs(&self, cti: &[u8], spi_sa_rs: u32) -> Result<()> {
        let mut s = lock(&self.state)?;
        let t = s.tokens.get_mut(cti).ok_or(StoreError::UnknownToken)?;
        t.spi_sa_rs = Some(spi_sa_rs);
        Ok(())
    }
}

struct MemoryWriter {
    state: Arc<Mutex<State>>,
    rng: StdRng,
}

impl BatchWriter for MemoryWriter {
    async fn write_batch(&mut self, ops: &[Op]) -> Result<Vec<Result<Outcome>>> {
        let mut s = lock(&self.state)?;
        Ok(ops.iter().map(|op| s.apply(op, &mut self.rng)).collect())
    }
}

impl State {
    fn reserve(&mut self, audience: &str, range: SpiRange, rng: &mut StdRng) -> Result<u32> {
        let set = self.pool.entry(audience.to_owned()).or_default();
        let spi = pick_free(range, set, 1, rng)
            .pop()
            .ok_or_else(|| StoreError::PoolExhausted {
                audience: audience.to_owned(),
                range,
            })?;
        set.insert(spi);
        Ok(spi)
    }

    fn apply(&mut self, op: &Op, rng: &mut StdRng) -> Result<Outcome> {
        match op {
            Op::Release { audience, spi } => Ok(Outcome::Released(
                self.pool
                    .get_mut(audience)
                    .is_some_and(|set| set.remove(spi)),
            )),
            Op::Reserve {
                audience, range, ..
            } => self.reserve(audience, *range, rng).map(Outcome::Reserved),
            Op::Issue(t) => {
                if self.tokens.contains_key(&t.cti) {
                    return Err(StoreError::DuplicateCti);
                }
                let spi = match t.spi_sa_c {
                    SpiSaC::None => None,
                    SpiSaC::Reserved(spi) => Some(spi),
                    SpiSaC::Reserve(range) => Some(self.reserve(&t.audience, range, rng)?),
                };
                self.tokens
                    .insert(t.cti.clone(), TokenRecord::from_new(t, spi));
                Ok(Outcome::Issued(Issued { spi_sa_c: spi }))
            }
        }
    }
}
