//! `ace-ipsec demo`: AS, RS and Client in one process on loopback, ephemeral
//! ports, throwaway keys; every step checked, every datagram measured.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ace_as::{ClientRegistration, Policy, RsRegistration};
use ace_client::{Access, AsRegistration, Client, ClientError, Outcome};
use ace_coap::{Method, ResponseCode};
use ace_core::cwt::{ContentAlg, TokenKey};
use ace_core::edhoc::StaticKey;
use ace_core::ipsec::Seed;
use ace_core::scope::Scope;
use ace_node::driver::{bind, Running};
use ace_node::tap::{Direction, TapRecord};
use ace_node::Host;
use ace_rs::{ResourceServer, ResourceSpec, RsConfig};
use ipsec_dp::error::DropReason;
use rand::RngCore;
use serde::Serialize;
use tokio::net::UdpSocket;

use crate::config::alg_name;
use crate::services::{start_as_edhoc, start_client_edhoc, start_rs_edhoc, AsEdhocKeys};
use ace_rs::EdhocResponderConfig;

/// The key-management method a demo run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kmp {
    /// Direct Provisioning by the AS.
    Dp,
    /// EDHOC between C and RS.
    Edhoc,
    /// IKEv2 with a PSK the AS draws.
    IkePsk,
    /// IKEv2 with raw P-256 public keys.
    IkeRpk,
}

impl Kmp {
    fn name(self) -> &'static str {
        match self {
            Kmp::Dp => "dp",
            Kmp::Edhoc => "edhoc",
            Kmp::IkePsk => "ikev2-psk",
            Kmp::IkeRpk => "ikev2-rpk",
        }
    }
    fn ike(self) -> bool {
        matches!(self, Kmp::IkePsk | Kmp::IkeRpk)
    }
}

/// A P-256 IKEv2 key's public half as the AS registers it.
fn ike_public(kid: &[u8], k: &ikev2::crypto::P256SigningKey) -> ace_core::edhoc::PublicKey {
    let xy = k.public_key().to_xy();
    let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
    x.copy_from_slice(&xy[..32]);
    y.copy_from_slice(&xy[32..]);
    ace_core::edhoc::PublicKey {
        kid: kid.to_vec(),
        x,
        y,
    }
}

const COSE_A128GCM: i64 = 1;
const COSE_AES_CCM_16_64_128: i64 = 10;
const GET: u64 = 1;
const PUT: u64 = 1 << 2;

/// One datagram on the wire, seen from the client.
#[derive(Serialize, Clone, Debug)]
pub struct Msg {
    pub dir: String,
    pub transport: &'static str,
    pub message: String,
    pub coap_bytes: usize,
    pub wire_bytes: usize,
}

#[derive(Serialize, Clone, Debug)]
pub struct StepReport {
    pub name: String,
    pub expected: String,
    pub got: String,
    pub ok: bool,
    pub messages: Vec<Msg>,
}

#[derive(Serialize, Clone, Debug)]
pub struct MethodReport {
    pub ok: bool,
    pub steps: Vec<StepReport>,
    /// Bytes of the access token (COSE_Encrypt0).
    pub token_bytes: usize,
    /// ESP overhead per packet by suite: UDP payload on the wire minus the CoAP message.
    pub esp_overhead_bytes: BTreeMap<String, usize>,
    /// Every datagram from the first request to the first protected resource response.
    pub bytes_until_first_resource: usize,
    pub messages_until_first_resource: usize,
    /// Request/response exchanges from the first request to the first
    /// protected resource response.
    pub round_trips_until_first_resource: usize,
}

#[derive(Serialize, Clone, Debug)]
pub struct DemoReport {
    pub ok: bool,
    pub methods: BTreeMap<String, MethodReport>,
}

fn key16() -> [u8; 16] {
    let mut k = [0u8; 16];
    rand::rng().fill_bytes(&mut k);
    k
}

fn seed() -> Seed {
    let mut s = [0u8; 32];
    rand::rng().fill_bytes(&mut s);
    Seed::new(s)
}

struct World {
    as_: Running<ace_as::AuthorizationServer>,
    rs: Running<ResourceServer>,
    client: Client,
    names: BTreeMap<SocketAddr, &'static str>,
}

async fn loopback() -> Result<(UdpSocket, UdpSocket), String> {
    let any: SocketAddr = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    bind(any, any).await.map_err(|e| format!("bind: {e}"))
}

/// Builds the three parties with fresh keys; `edhoc`: the client and the
/// RS have EDHOC keys and the AS knows them (draft Appendix B).
async fn world(kmp: Kmp) -> Result<World, String> {
    let edhoc = kmp == Kmp::Edhoc;
    let token_key = key16();
    let (as_plain, as_esp) = loopback().await?;
    let (rs_plain, rs_esp) = loopback().await?;
    let (c_plain, c_esp) = loopback().await?;
    let as_plain_addr = as_plain.local_addr().map_err(|e| e.to_string())?;
    let as_esp_addr = as_esp.local_addr().map_err(|e| e.to_string())?;
    let as_uri = format!("coap://{as_plain_addr}/token");
    let reg_seed = seed();
    let (spi_c, spi_as) = (0x0000_1001, 0x0000_1002);

    let rs_reg = RsRegistration {
        audience: "tempSensor".into(),
        token_key: TokenKey::new(b"rs1-key".to_vec(), ContentAlg::A128Gcm, &token_key)
            .map_err(|e| e.to_string())?,
        esp_alg: COSE_AES_CCM_16_64_128,
        sa_life: 3600,
    };
    let client_reg = ClientRegistration {
        id: "client1".into(),
        spi_c,
        spi_as,
        seed: reg_seed.clone(),
        alg: COSE_A128GCM,
        esp_addr: None,
    };
    let policy = Policy {
        client: "client1".into(),
        audience: "tempSensor".into(),
        text: vec!["r_temp".into(), "rw_led".into(), "r_config".into()],
        aif: Vec::new(),
    };
    let mut rng = rand::rng();
    let c_key = StaticKey::generate(&mut rng, vec![0x2b]).map_err(|e| e.to_string())?;
    let rs_key = StaticKey::generate(&mut rng, vec![0x32]).map_err(|e| e.to_string())?;
    let as_edhoc = if edhoc {
        AsEdhocKeys {
            rs: vec![("tempSensor".into(), rs_key.public().clone())],
            clients: vec![("client1".into(), c_key.public().clone())],
        }
    } else {
        AsEdhocKeys::default()
    };
    let as_ = start_as_edhoc(
        "as.demo".into(),
        3600,
        vec![rs_reg],
        vec![client_reg],
        vec![policy],
        as_edhoc,
        as_plain,
        as_esp,
        None, // throwaway registration keys: nothing to keep across runs
    )?;

    let mut text_scopes = std::collections::HashMap::new();
    text_scopes.insert("r_temp".to_string(), vec![("/temp".to_string(), GET)]);
    text_scopes.insert("rw_led".to_string(), vec![("/led".to_string(), GET | PUT)]);
    text_scopes.insert("r_config".to_string(), vec![("/config".to_string(), GET)]);
    let rs_cfg = RsConfig {
        audience: "tempSensor".into(),
        issuer: Some("as.demo".into()),
        as_uri: as_uri.clone(),
        token_keys: vec![
            TokenKey::new(b"rs1-key".to_vec(), ContentAlg::A128Gcm, &token_key)
                .map_err(|e| e.to_string())?,
        ],
        text_scopes,
        resources: vec![
            ResourceSpec {
                path: "/temp".into(),
                value: b"21.5 C".to_vec(),
                content_format: Some(0),
                methods: GET | PUT,
            },
            ResourceSpec {
                path: "/led".into(),
                value: b"off".to_vec(),
                content_format: Some(0),
                methods: GET | PUT,
            },
            ResourceSpec {
                path: "/config".into(),
                value: b"interval=60".to_vec(),
                content_format: Some(0),
                methods: GET,
            },
        ],
        max_tokens: 100,
    };
    let rs = start_rs_edhoc(
        rs_cfg,
        edhoc.then(|| EdhocResponderConfig::new(rs_key)),
        rs_plain,
        rs_esp,
    )?;

    let reg = AsRegistration {
        esp_addr: as_esp_addr,
        coap_port: as_plain_addr.port(),
        spi_c,
        spi_as,
        seed: reg_seed,
        alg: COSE_A128GCM,
        uri: Some(as_uri),
    };
    let client = start_client_edhoc(
        "client1".into(),
        reg,
        edhoc.then_some(c_key),
        c_plain,
        c_esp,
        None,
    )?;

    // IKEv2 (draft §3.2.2, §3.2.3): the RS runs a responder on its
    // ESP-in-UDP port, the client an initiator; with raw keys the AS knows
    // the RS's public key (rs_cnf).
    if kmp.ike() {
        let rs_ike = std::sync::Arc::new(
            ikev2::crypto::P256SigningKey::generate().map_err(|e| e.to_string())?,
        );
        as_.lock()
            .issuer_mut()
            .set_ike_rs_key("tempSensor", ike_public(b"rs-ike", &rs_ike));
        rs.lock()
            .enable_ike(ace_rs::IkeResponderConfig {
                config: ikev2::Config::default(),
                psk_id: ikev2::payload::IdRepr {
                    id_type: ikev2::IdType::ID_FQDN,
                    data: b"tempSensor".to_vec(),
                },
                signing_key: Some((b"rs-ike".to_vec(), rs_ike)),
            })
            .map_err(|e| e.to_string())?;
        let key = if kmp == Kmp::IkePsk {
            ace_client::IkeKey::Psk
        } else {
            ace_client::IkeKey::Rpk {
                kid: b"client1-ike".to_vec(),
                key: std::sync::Arc::new(
                    ikev2::crypto::P256SigningKey::generate().map_err(|e| e.to_string())?,
                ),
            }
        };
        client
            .running()
            .lock()
            .host
            .set_ike(ikev2::Config::default(), key)
            .map_err(|e| e.to_string())?;
    }
    client.running().lock().host.node().tap().enable(true);
    client.running().lock().host.node().tap().capture_esp(true);

    let mut names = BTreeMap::new();
    names.insert(as_.plain_addr, "AS");
    names.insert(as_.esp_addr, "AS");
    names.insert(rs.plain_addr, "RS");
    names.insert(rs.esp_addr, "RS");
    Ok(World {
        as_,
        rs,
        client,
        names,
    })
}

fn msgs(w: &World, records: &[TapRecord]) -> Vec<Msg> {
    records
        .iter()
        .map(|r| {
            let who = w.names.get(&r.peer).copied().unwrap_or("?");
            let dir = match r.dir {
                Direction::Out => format!("C → {who}"),
                Direction::In => format!("{who} → C"),
            };
            Msg {
                dir,
                transport: if r.pair.is_some() {
                    "ESP"
                } else if r.summary.starts_with("IKEv2") {
                    "IKE"
                } else {
                    "plain"
                },
                message: r.summary.clone(),
                coap_bytes: r.coap_len,
                wire_bytes: r.wire_len,
            }
        })
        .collect()
}

/// Splits the tap into exchanges: each outbound request starts one.
fn exchanges(records: Vec<TapRecord>) -> Vec<Vec<TapRecord>> {
    let mut out: Vec<Vec<TapRecord>> = Vec::new();
    for r in records {
        let starts = r.dir == Direction::Out && is_request(&r.summary);
        let retransmission = starts
            && out
                .last()
                .and_then(|g| g.first())
                .is_some_and(|f| f.summary == r.summary && f.peer == r.peer);
        if starts && !retransmission || out.is_empty() {
            out.push(vec![r]);
        } else if let Some(g) = out.last_mut() {
            g.push(r);
        }
    }
    out
}

/// Whether a message starts a step of the transcript: a CoAP request, or
/// the IKE_SA_INIT request (IKE_SA_INIT and IKE_AUTH are one step).
fn is_request(summary: &str) -> bool {
    if summary.starts_with("IKEv2") {
        return summary.contains("IKE_SA_INIT request");
    }
    is_round_trip(summary)
}

/// Whether a message starts a round trip: any request.
fn is_round_trip(summary: &str) -> bool {
    if summary.starts_with("IKEv2") {
        return summary.contains(" request ");
    }
    [
        "GET ", "POST ", "PUT ", "DELETE ", "FETCH ", "PATCH ", "IPATCH ",
    ]
    .iter()
    .any(|m| summary.contains(m))
}

fn code_of(r: &Result<Outcome, ClientError>) -> String {
    match r {
        Ok(o) => o.response.code.as_dotted().to_string(),
        Err(e) => format!("error: {e}"),
    }
}

async fn access(
    w: &World,
    method: Method,
    path: &str,
    payload: &[u8],
) -> (Result<Outcome, ClientError>, Vec<TapRecord>) {
    let a = Access {
        rs: w.rs.plain_addr,
        rs_esp: Some(w.rs.esp_addr),
        audience: None,
        scope: Some(Scope::Text("r_temp rw_led".into())),
        method,
        path: path.into(),
        payload: payload.to_vec(),
        content_format: if payload.is_empty() { None } else { Some(0) },
    };
    let r = w.client.access(a).await;
    let tap = w.client.running().lock().host.node().tap().take();
    (r, tap)
}

fn step(
    w: &World,
    name: &str,
    expected: &str,
    got: String,
    ok: bool,
    records: &[TapRecord],
) -> StepReport {
    StepReport {
        name: name.into(),
        expected: expected.into(),
        got,
        ok,
        messages: msgs(w, records),
    }
}

/// One key-management method's run: Direct Provisioning, or EDHOC.
async fn run_method(kmp: Kmp) -> Result<MethodReport, String> {
    let edhoc = kmp == Kmp::Edhoc;
    let w = world(kmp).await?;
    let mut steps = Vec::new();

    // 1. The whole flow for GET /temp: 4.01 with hints, token, authz-info
    //    (with EDHOC: message_1 → message_2, then message_3 → 2.04), resource.
    let (r, tap) = access(&w, Method::Get, "/temp", b"").await;
    let groups = exchanges(tap.clone());
    let flow_steps = r.as_ref().map(|o| o.steps.clone()).unwrap_or_default();
    let mut expected = vec![
        (
            "unauthorized request",
            "4.01",
            "GET /temp without a token → 4.01 with AS Request Creation Hints",
        ),
        (
            "POST /token",
            "2.01",
            if edhoc {
                "POST /token over ESP (C↔AS registration SA, A128GCM), req_cnf kid → 2.01 with token, ipsec (no seed), kmp edhoc, rs_cnf"
            } else if kmp == Kmp::IkePsk {
                "POST /token over ESP (C↔AS registration SA, A128GCM), req_cnf kmp ikev2 → 2.01 with token, cnf COSE_Key (symmetric: kid, k), ipsec sec_A, kmp ikev2"
            } else if kmp == Kmp::IkeRpk {
                "POST /token over ESP (C↔AS registration SA, A128GCM), req_cnf COSE_Key (P-256) + kmp ikev2 → 2.01 with token, ipsec sec_A, kmp ikev2, rs_cnf"
            } else {
                "POST /token over ESP (C↔AS registration SA, A128GCM) → 2.01 with token and ipsec"
            },
        ),
    ];
    if edhoc {
        expected.push((
            "POST /authz-info",
            "2.01",
            "POST /authz-info (plain) with token + EDHOC message_1 → 2.01 with message_2 (plain)",
        ));
        expected.push((
            "EDHOC message_3",
            "2.04",
            "POST /.well-known/edhoc C_R ‖ message_3 (plain) → 2.04 over the new SA pair (AES-CCM-8, seed = EDHOC_Exporter)",
        ));
    } else if kmp.ike() {
        expected.push((
            "POST /authz-info",
            "2.01",
            "POST /authz-info (plain) → 2.01 (plain): the RS authorized the PoP key as IDi = ID_KEY_ID(kid)",
        ));
        expected.push((
            "IKEv2",
            "IKE",
            if kmp == Kmp::IkePsk {
                "IKE_SA_INIT + IKE_AUTH on the ESP-in-UDP ports (X25519, AES-GCM; AUTH method 2 with the token's k) → Child SA"
            } else {
                "IKE_SA_INIT + IKE_AUTH on the ESP-in-UDP ports (X25519, AES-GCM; ECDSA P-256 AUTH, RFC 7427) → Child SA"
            },
        ));
    } else {
        expected.push((
            "POST /authz-info",
            "2.01",
            "POST /authz-info (plain) → 2.01 over the new SA pair (AES-CCM-8)",
        ));
    }
    expected.push(("resource request", "2.05", "GET /temp over ESP → 2.05"));
    let token_bytes = flow_steps
        .iter()
        .find(|s| s.name == "POST /token")
        .and_then(|s| s.detail.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    for (i, (name, code, label)) in expected.iter().enumerate() {
        // The IKEv2 step carries no CoAP code: "IKE" when it happened.
        let got = flow_steps
            .iter()
            .find(|s| s.name == *name)
            .and_then(|s| s.code.clone().or_else(|| Some("IKE".into())));
        let ok = got.as_deref() == Some(code);
        let got = got.unwrap_or_else(|| code_of(&r));
        steps.push(step(
            &w,
            label,
            code,
            got,
            ok,
            groups.get(i).map(Vec::as_slice).unwrap_or(&[]),
        ));
    }
    let bytes_until_first_resource: usize = tap.iter().map(|r| r.wire_len).sum();
    let messages_until_first_resource = tap.len();
    let round_trips_until_first_resource = tap
        .iter()
        .filter(|r| r.dir == Direction::Out && is_round_trip(&r.summary))
        .count();
    let mut overhead = BTreeMap::new();
    for rec in tap.iter().filter(|r| r.pair.is_some()) {
        let suite = if w.names.get(&rec.peer) == Some(&"AS") || kmp.ike() {
            // IKEv2 negotiated AES-GCM-16 (the default first choice).
            alg_name(COSE_A128GCM)
        } else {
            alg_name(COSE_AES_CCM_16_64_128)
        };
        overhead.entry(suite.to_string()).or_insert(rec.overhead());
    }

    // 2. More requests on the same SA pair.
    let cases: [(&str, Method, &str, &[u8], ResponseCode); 4] = [
        (
            "PUT /led \"on\" over ESP → 2.04",
            Method::Put,
            "/led",
            b"on",
            ResponseCode::Changed,
        ),
        (
            "GET /led over ESP → 2.05 \"on\"",
            Method::Get,
            "/led",
            b"",
            ResponseCode::Content,
        ),
        (
            "GET /config (not in the token's scope) → 4.03",
            Method::Get,
            "/config",
            b"",
            ResponseCode::Forbidden,
        ),
        (
            "PUT /temp (scope r_temp is GET only) → 4.05",
            Method::Put,
            "/temp",
            b"30",
            ResponseCode::MethodNotAllowed,
        ),
    ];
    for (label, m, path, payload, want) in cases {
        let (r, tap) = access(&w, m, path, payload).await;
        let mut ok = matches!(&r, Ok(o) if o.response.code == want && o.steps.len() == 1);
        if path == "/led" && m == Method::Get {
            ok &= matches!(&r, Ok(o) if o.response.payload == b"on");
        }
        steps.push(step(&w, label, &want.as_dotted(), code_of(&r), ok, &tap));
    }

    // 3. Replay: the client's last ESP packet to the RS, sent again.
    let replay = replay_step(&w).await?;
    steps.push(replay);

    let ok = steps.iter().all(|s| s.ok);
    w.client.shutdown();
    w.rs.shutdown();
    w.as_.shutdown();
    Ok(MethodReport {
        ok,
        steps,
        token_bytes,
        esp_overhead_bytes: overhead,
        bytes_until_first_resource,
        messages_until_first_resource,
        round_trips_until_first_resource,
    })
}

async fn replay_step(w: &World) -> Result<StepReport, String> {
    let label = "the last ESP packet C → RS sent again → dropped as a replay, no response";
    let (r, tap) = access(w, Method::Get, "/temp", b"").await;
    let packet = tap
        .iter()
        .rev()
        .find(|t| {
            t.dir == Direction::Out && t.pair.is_some() && w.names.get(&t.peer) == Some(&"RS")
        })
        .and_then(|t| t.bytes.clone());
    let Some(packet) = packet else {
        return Ok(step(
            w,
            label,
            "dropped",
            format!("no ESP packet captured ({})", code_of(&r)),
            false,
            &tap,
        ));
    };
    let (replayed_before, served_before) = {
        let rs = w.rs.lock();
        (replay_drops(&rs), rs.stats().served)
    };
    let sock = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    sock.send_to(&packet, w.rs.esp_addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut replayed_after = replayed_before;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        replayed_after = replay_drops(&w.rs.lock());
        if replayed_after > replayed_before {
            break;
        }
    }
    let served_after = w.rs.lock().stats().served;
    let ok = replayed_after == replayed_before + 1 && served_after == served_before;
    let got = format!("replay drops {replayed_before} → {replayed_after}, requests served {served_before} → {served_after}");
    let mut records = tap;
    records.push(TapRecord {
        dir: Direction::Out,
        peer: w.rs.esp_addr,
        wire_len: packet.len(),
        coap_len: 0,
        pair: records.last().and_then(|r| r.pair),
        summary: "replayed ESP packet".into(),
        bytes: None,
    });
    Ok(step(w, label, "dropped", got, ok, &records))
}

fn replay_drops(rs: &ResourceServer) -> u64 {
    rs.node_ref().sad().drops().get(DropReason::Replayed)
}

/// Runs every key-management method and reports.
pub async fn report() -> Result<DemoReport, String> {
    let mut methods = BTreeMap::new();
    for kmp in [Kmp::Dp, Kmp::Edhoc, Kmp::IkePsk, Kmp::IkeRpk] {
        methods.insert(kmp.name().to_string(), run_method(kmp).await?);
    }
    Ok(DemoReport {
        ok: methods.values().all(|m| m.ok),
        methods,
    })
}

/// Runs the demo; prints the transcript or JSON; true when every step behaved.
pub async fn run(json: bool) -> Result<bool, String> {
    let report = report().await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print_transcript(&report);
    }
    Ok(report.ok)
}

fn print_transcript(report: &DemoReport) {
    println!("ace-ipsec demo: AS, RS and Client on loopback (ephemeral ports, throwaway keys)\n");
    for (name, m) in &report.methods {
        println!(
            "== key management: {} ==",
            match name.as_str() {
                "dp" => "Direct Provisioning by the AS (draft §3.2.1, §3.3.1)",
                "edhoc" => "EDHOC between C and RS (draft Appendix B; RFC 9528 method 3, suite 2)",
                "ikev2-psk" => "IKEv2 with the token's PSK (draft §3.2.2; RFC 7296, AUTH method 2)",
                "ikev2-rpk" => "IKEv2 with raw public keys (draft §3.2.3; RFC 7427 ECDSA P-256)",
                other => other,
            }
        );
        for (i, s) in m.steps.iter().enumerate() {
            println!(
                "{:>2}. [{}] {}",
                i + 1,
                if s.ok { " ok " } else { "FAIL" },
                s.name
            );
            if !s.ok {
                println!("      expected {}, got {}", s.expected, s.got);
            } else if s.expected == "dropped" {
                println!("      {}", s.got);
            }
            for msg in &s.messages {
                let sizes = if msg.transport == "ESP" && msg.coap_bytes > 0 {
                    format!(
                        "{:>4} B CoAP in {:>4} B ESP (+{})",
                        msg.coap_bytes,
                        msg.wire_bytes,
                        msg.wire_bytes - msg.coap_bytes
                    )
                } else if msg.transport == "IKE" {
                    format!("{:>4} B IKE", msg.wire_bytes)
                } else if msg.transport == "ESP" {
                    format!("{:>4} B ESP", msg.wire_bytes)
                } else {
                    format!("{:>4} B CoAP", msg.coap_bytes)
                };
                println!(
                    "      {:<8} {:<5} {:<22} {}",
                    msg.dir, msg.transport, msg.message, sizes
                );
            }
        }
        println!("   access token: {} bytes (COSE_Encrypt0)", m.token_bytes);
        for (suite, o) in &m.esp_overhead_bytes {
            println!("   ESP overhead per packet with {suite}: {o} bytes (inner UDP 8 + ESP header 8 + IV 8 + padding/trailer + ICV)");
        }
        println!(
            "   until the first protected response: {} datagrams, {} bytes of UDP payload",
            m.messages_until_first_resource, m.bytes_until_first_resource
        );
        println!(
            "   result: {}\n",
            if m.ok {
                "every step as expected"
            } else {
                "FAILED"
            }
        );
    }
    println!("== on the wire until the first protected resource response ==");
    println!(
        "   {:<8} {:>11} {:>9} {:>7} {:>13}",
        "method", "round trips", "datagrams", "bytes", "token bytes"
    );
    for (name, m) in &report.methods {
        println!(
            "   {:<8} {:>11} {:>9} {:>7} {:>13}",
            name,
            m.round_trips_until_first_resource,
            m.messages_until_first_resource,
            m.bytes_until_first_resource,
            m.token_bytes
        );
    }
    println!();
    println!("{}", if report.ok { "demo OK" } else { "demo FAILED" });
}
