//! Builds AS, RS and Client hosts from configuration and runs them on sockets.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ace_as::{AuthorizationServer, ClientRegistration, Issuer, Policy, RsRegistration};
use ace_client::{Access, AsRegistration, Client, ClientHost};
use ace_core::edhoc::{PublicKey, StaticKey};
use ace_node::driver::{bind, read_state, Running};
use ace_node::{Node, SeqState};
use ace_rs::{EdhocResponderConfig, ResourceServer, RsConfig};
use tokio::net::UdpSocket;

use crate::config::{AsToml, ClientToml, RsToml};

fn node(name: &str, plain: &UdpSocket, esp: &UdpSocket) -> std::io::Result<Node> {
    Ok(Node::new(
        name,
        plain.local_addr()?,
        esp.local_addr()?,
        ace_coap::Config::default(),
        rand::random(),
    ))
}

/// Loads a persisted SA state blob; a missing file means a first run.
pub(crate) fn load_state(dir: &Path, name: &str) -> Result<Option<SeqState>, String> {
    match read_state(dir, name) {
        Ok(None) => Ok(None),
        Ok(Some(b)) => SeqState::decode(&b)
            .map(Some)
            .ok_or_else(|| format!("{}: not an SA state file", dir.join(name).display())),
        Err(e) => Err(format!("{}: {e}", dir.join(name).display())),
    }
}

/// Starts an AS on the given sockets. With `state_dir`, the registration SA
/// pairs keep their sequence numbers across restarts (files in that directory).
#[allow(clippy::too_many_arguments)]
pub fn start_as(
    issuer: String,
    token_lifetime: u64,
    rs: Vec<RsRegistration>,
    clients: Vec<ClientRegistration>,
    policies: Vec<Policy>,
    plain: UdpSocket,
    esp: UdpSocket,
    state_dir: Option<PathBuf>,
) -> Result<Running<AuthorizationServer>, String> {
    start_as_edhoc(
        issuer,
        token_lifetime,
        rs,
        clients,
        policies,
        AsEdhocKeys::default(),
        plain,
        esp,
        state_dir,
    )
}

/// The EDHOC public keys an AS knows (draft Appendix B.1).
#[derive(Default)]
pub struct AsEdhocKeys {
    /// RSs that support EDHOC, by audience.
    pub rs: Vec<(String, PublicKey)>,
    /// Clients' keys, by client id.
    pub clients: Vec<(String, PublicKey)>,
}

/// [`start_as`] with EDHOC keys.
#[allow(clippy::too_many_arguments)]
pub fn start_as_edhoc(
    issuer: String,
    token_lifetime: u64,
    rs: Vec<RsRegistration>,
    clients: Vec<ClientRegistration>,
    policies: Vec<Policy>,
    edhoc: AsEdhocKeys,
    plain: UdpSocket,
    esp: UdpSocket,
    state_dir: Option<PathBuf>,
) -> Result<Running<AuthorizationServer>, String> {
    let n = node("AS", &plain, &esp).map_err(|e| e.to_string())?;
    let mut issuer = Issuer::new(issuer, token_lifetime, rs, policies);
    for (aud, k) in edhoc.rs {
        issuer.set_edhoc_rs_key(&aud, k);
    }
    for (c, k) in edhoc.clients {
        issuer.set_edhoc_client_key(&c, k);
    }
    let host = match &state_dir {
        Some(dir) => {
            let mut states = std::collections::HashMap::new();
            for c in &clients {
                let name = ace_as::registration_state_name(&c.id);
                if let Some(st) = load_state(dir, &name)? {
                    states.insert(name, st);
                }
            }
            let lookup = move |name: &str| states.get(name).copied();
            AuthorizationServer::new(n, issuer, clients, Instant::now(), None, Some(&lookup))
        }
        None => AuthorizationServer::new(n, issuer, clients, Instant::now(), None, None),
    }
    .map_err(|e| e.to_string())?;
    Running::spawn_with_state(host, plain, esp, state_dir).map_err(|e| e.to_string())
}

/// Starts an RS on the given sockets.
pub fn start_rs(
    cfg: RsConfig,
    plain: UdpSocket,
    esp: UdpSocket,
) -> Result<Running<ResourceServer>, String> {
    start_rs_edhoc(cfg, None, plain, esp)
}

/// [`start_rs`] with an EDHOC Responder (draft Appendix B.2).
pub fn start_rs_edhoc(
    cfg: RsConfig,
    edhoc: Option<EdhocResponderConfig>,
    plain: UdpSocket,
    esp: UdpSocket,
) -> Result<Running<ResourceServer>, String> {
    let n = node("RS", &plain, &esp).map_err(|e| e.to_string())?;
    let started = ace_node::Now::system().unix;
    let mut rs = ResourceServer::new(n, cfg, started);
    if let Some(e) = edhoc {
        rs.enable_edhoc(e, None);
    }
    Running::spawn(rs, plain, esp).map_err(|e| e.to_string())
}

/// Starts a client on the given sockets; `state_dir` as for [`start_as`].
pub fn start_client(
    id: String,
    reg: AsRegistration,
    plain: UdpSocket,
    esp: UdpSocket,
    state_dir: Option<PathBuf>,
) -> Result<Client, String> {
    start_client_edhoc(id, reg, None, plain, esp, state_dir)
}

/// [`start_client`] with an EDHOC key: the client asks for EDHOC tokens.
pub fn start_client_edhoc(
    id: String,
    reg: AsRegistration,
    edhoc: Option<StaticKey>,
    plain: UdpSocket,
    esp: UdpSocket,
    state_dir: Option<PathBuf>,
) -> Result<Client, String> {
    let n = node("C", &plain, &esp).map_err(|e| e.to_string())?;
    let resume = match &state_dir {
        Some(dir) => {
            Some(load_state(dir, ace_client::flow::REGISTRATION_STATE)?.unwrap_or_default())
        }
        None => None,
    };
    let mut host = ClientHost::new(n, id, reg, Instant::now(), None, resume)?;
    if let Some(k) = edhoc {
        host.set_edhoc_key(k);
    }
    Client::spawn(host, plain, esp, state_dir).map_err(|e| e.to_string())
}

async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn run_as(file: &Path) -> Result<(), String> {
    let (t, v) = AsToml::load(file).map_err(|e| e.to_string())?;
    let (plain, esp) = bind(t.listen, t.esp_listen)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let state = crate::config::state_dir(file, t.state_dir.as_deref());
    let running = start_as_edhoc(
        t.issuer.clone(),
        t.token_lifetime,
        v.rs,
        v.clients,
        v.policies,
        AsEdhocKeys {
            rs: v.edhoc_rs,
            clients: v.edhoc_clients,
        },
        plain,
        esp,
        Some(state),
    )?;
    {
        let mut host = running.lock();
        let issuer = host.issuer_mut();
        for (aud, k) in v.ike_rs {
            issuer.set_ike_rs_key(&aud, k);
        }
        for (client, aud, kid, k) in v.ike_psks {
            issuer.register_ike_psk(&client, &aud, kid, k);
        }
    }
    tracing::info!(plain = %running.plain_addr, esp = %running.esp_addr, "AS running");
    wait_for_signal().await;
    running.shutdown();
    Ok(())
}

pub async fn run_rs(file: &Path) -> Result<(), String> {
    let (t, cfg) = RsToml::load(file).map_err(|e| e.to_string())?;
    let ike = t.ike_config(file).map_err(|e| e.to_string())?;
    if let Some(tun) = &t.tun {
        return crate::tun::run_rs(file, &t, cfg, tun).await;
    }
    let edhoc = t
        .edhoc_key(file)
        .map_err(|e| e.to_string())?
        .map(EdhocResponderConfig::new);
    let (plain, esp) = bind(t.listen, t.esp_listen)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let running = start_rs_edhoc(cfg, edhoc, plain, esp)?;
    if let Some(ike) = ike {
        running
            .lock()
            .enable_ike(ike)
            .map_err(|e| format!("IKEv2: {e}"))?;
    }
    tracing::info!(plain = %running.plain_addr, esp = %running.esp_addr, audience = %t.audience, "RS running");
    wait_for_signal().await;
    running.shutdown();
    Ok(())
}

pub async fn run_client(file: &Path, access: Access, verbose: bool) -> Result<(), String> {
    let (t, reg) = ClientToml::load(file).map_err(|e| e.to_string())?;
    let ike = t.ike(file).map_err(|e| e.to_string())?;
    if let Some(tun) = &t.tun {
        return crate::tun::run_client(file, &t, reg, tun, access, verbose).await;
    }
    let edhoc = t.edhoc_key(file).map_err(|e| e.to_string())?;
    let (plain, esp) = bind(t.listen, t.esp_listen)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let state = crate::config::state_dir(file, t.state_dir.as_deref());
    let client = start_client_edhoc(t.id.clone(), reg, edhoc, plain, esp, Some(state))?;
    if let Some(ike) = ike {
        let mut r = client.running().lock();
        let host = &mut r.host;
        host.set_ike(ikev2::Config::default(), ike.key)
            .map_err(|e| format!("IKEv2: {e}"))?;
        host.set_ike_rs_initiates(ike.rs_initiates);
        for (aud, kid, k) in ike.psks {
            host.hold_ike_psk(&aud, kid, k.as_bytes());
        }
    }
    let r = client.access(access).await;
    client.shutdown();
    match r {
        Ok(outcome) => {
            if verbose {
                print_steps(&outcome.steps);
            }
            println!("{}", outcome.response.code.as_dotted());
            if !outcome.response.payload.is_empty() {
                println!("{}", String::from_utf8_lossy(&outcome.response.payload));
            }
            if outcome.response.code.is_success() {
                Ok(())
            } else {
                Err(format!(
                    "the RS answered {}",
                    outcome.response.code.as_dotted()
                ))
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The flow's steps, one a line, on stderr (`--verbose`).
pub(crate) fn print_steps(steps: &[ace_client::Step]) {
    for s in steps {
        eprintln!(
            "  {:<22} {:<5} {}",
            s.name,
            s.code.as_deref().unwrap_or(""),
            s.detail
        );
    }
}
