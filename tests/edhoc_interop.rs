//! Interop: lakers-python (PyPI, a separate EDHOC implementation with its
//! own bindings, which this project did not write) as the Initiator
//! completes EDHOC against the RS's `/authz-info` (token + message_1) and
//! `/.well-known/edhoc` (C_R ‖ message_3), and derives the IPsec seed in
//! Python; the SA pair built from Python's seed then carries a GET to the RS
//! and its 2.05 back. Runs `scripts/edhoc_interop_peer.py`; fails when
//! `python3 -c "import lakers"` fails (unless ACE_IPSEC_SKIP_INTEROP is set) — install it with
//! `pip install lakers-python`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Instant;

use ace_as::{Issuer, Policy, RsRegistration};
use ace_coap::consts::APPLICATION_ACE_CBOR;
use ace_coap::{Endpoint, Event, Method, Request, Response, ResponseCode};
use ace_core::authz_info::AuthzInfoEdhoc;
use ace_core::cnf::Cnf;
use ace_core::cwt::{ContentAlg, TokenKey};
use ace_core::edhoc::{PublicKey, StaticKey};
use ace_core::ipsec::Seed;
use ace_core::labels::content_format::CID_EDHOC_CBOR_SEQ;
use ace_core::labels::edhoc::WELL_KNOWN_PATH;
use ace_core::token::TokenRequest;
use ace_node::sim::{inject, Datagram};
use ace_node::{dp_pair_spec, DpRole, Host, Interface, Node, NodeEvent, Now, Peer};
use ace_rs::{EdhocResponderConfig, ResourceServer, ResourceSpec, RsConfig};
use ipsec_dp::suite::EspSuite;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn python_has_lakers() -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", "import lakers"])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Plain CoAP request from the Python peer's address to the RS; the plain
/// answer, or None when the RS answered over ESP.
fn post(
    rs: &mut ResourceServer,
    now: Now,
    ep: &mut Endpoint<SocketAddr>,
    path: &str,
    cf: u16,
    payload: Vec<u8>,
) -> (Option<Response>, Vec<Datagram>) {
    let rs_addr = addr("127.0.0.2:5683");
    let me = addr("127.0.0.9:5683");
    ep.request(
        now.mono,
        rs_addr,
        Request {
            method: Method::Post,
            path: path.into(),
            query: vec![],
            content_format: Some(cf),
            payload,
        },
        true,
    );
    let (_, bytes) = ep.poll_transmit().unwrap();
    let out = inject(
        &mut [rs],
        now,
        &Datagram {
            from: me,
            iface: Interface::Plain,
            to: rs_addr,
            payload: bytes,
        },
    );
    let plain = out
        .iter()
        .find(|d| d.iface == Interface::Plain && d.to == me)
        .cloned();
    let resp = plain.map(|p| {
        ep.handle_datagram(now.mono, rs_addr, &p.payload);
        match ep.poll_event() {
            Some(Event::Response { response, .. }) => response,
            other => panic!("expected a response, got {other:?}"),
        }
    });
    (resp, out)
}

#[test]
fn lakers_python_completes_edhoc_against_the_rs() {
    if let Err(why) = python_has_lakers() {
        // scripts/install-deps.sh installs it; a silent skip would hide a missing install step.
        assert!(
            std::env::var_os("ACE_IPSEC_SKIP_INTEROP").is_some(),
            "lakers-python is not importable ({why}): run scripts/install-deps.sh \
             (pip install lakers-python==0.6.2), or set ACE_IPSEC_SKIP_INTEROP=1 to skip on purpose"
        );
        eprintln!(
            "SKIPPED on request (ACE_IPSEC_SKIP_INTEROP): lakers-python is not importable ({why})"
        );
        return;
    }
    let now = Now {
        mono: Instant::now(),
        unix: 1_800_000_000,
    };
    let token_key = TokenKey::new(b"rs1".to_vec(), ContentAlg::A128Gcm, &[0x11; 16]).unwrap();
    let mut rng = StdRng::seed_from_u64(77);
    let c_key = StaticKey::generate(&mut rng, vec![0x2b]).unwrap();
    let rs_key = StaticKey::generate(&mut rng, vec![0x32]).unwrap();

    // The RS, with EDHOC.
    let mut scopes = HashMap::new();
    scopes.insert("r_temp".to_string(), vec![("/temp".to_string(), 1u64)]);
    let mut rs = ResourceServer::new(
        Node::new(
            "RS",
            addr("127.0.0.2:5683"),
            addr("127.0.0.2:4500"),
            ace_coap::Config::default(),
            2,
        ),
        RsConfig {
            audience: "rs1".into(),
            issuer: Some("as.test".into()),
            as_uri: "coap://as/token".into(),
            token_keys: vec![token_key.clone()],
            text_scopes: scopes,
            resources: vec![ResourceSpec {
                path: "/temp".into(),
                value: b"21.5".to_vec(),
                content_format: Some(0),
                methods: 1,
            }],
            max_tokens: 4,
        },
        now.unix - 10,
    );
    rs.enable_edhoc(EdhocResponderConfig::new(rs_key.clone()), Some(1));

    // The token, from the AS's issuer (EDHOC, client key 0x2b).
    let mut issuer = Issuer::new(
        "as.test".into(),
        3600,
        vec![RsRegistration {
            audience: "rs1".into(),
            token_key,
            esp_alg: 10,
            sa_life: 600,
        }],
        vec![Policy {
            client: "py".into(),
            audience: "rs1".into(),
            text: vec!["r_temp".into()],
            aif: vec![],
        }],
    );
    issuer.set_edhoc_rs_key("rs1", rs_key.public().clone());
    issuer.set_edhoc_client_key("py", c_key.public().clone());
    let mut tr = TokenRequest::new();
    tr.audience = Some("rs1".into());
    tr.req_cnf = Some(Cnf {
        kid: Some(vec![0x2b]),
        ..Cnf::default()
    });
    let resp = issuer.issue(now.unix, "py", &tr, &mut rng).unwrap();
    let rs_pub = PublicKey::from_cose_key(resp.rs_cnf.as_ref().unwrap()).unwrap();
    let ipsec = resp.cnf.as_ref().unwrap().ipsec.clone().unwrap();

    // The Python Initiator.
    let mut py = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/edhoc_interop_peer.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    let mut to_py = py.stdin.take().unwrap();
    let mut from_py = BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    writeln!(
        to_py,
        "{} {} {} {}",
        hex::encode(c_key.private_bytes()),
        hex::encode(c_key.public().ccs()),
        hex::encode(rs_pub.ccs()),
        hex::encode(&resp.access_token)
    )
    .unwrap();
    from_py.read_line(&mut line).unwrap();
    let message_1 = hex::decode(line.trim()).expect("message_1 from Python");

    // message_1 travels with the token; message_2 comes back in the 2.01.
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let upload = AuthzInfoEdhoc {
        access_token: resp.access_token.clone(),
        esp_udp_port: Some(4500),
        message_1,
    };
    let (m2, _) = post(
        &mut rs,
        now,
        &mut ep,
        "/authz-info",
        APPLICATION_ACE_CBOR,
        upload.to_cbor(),
    );
    let m2 = m2.expect("plain 2.01");
    assert_eq!(
        m2.code,
        ResponseCode::Created,
        "{:?}",
        String::from_utf8_lossy(&m2.payload)
    );
    writeln!(to_py, "{}", hex::encode(&m2.payload)).unwrap();
    line.clear();
    from_py.read_line(&mut line).unwrap();
    let fields: Vec<Vec<u8>> = line
        .split_whitespace()
        .map(|f| hex::decode(f).unwrap())
        .collect();
    assert_eq!(fields.len(), 3, "C_R, message_3, seed from Python: {line}");
    assert!(py.wait().unwrap().success());
    let (c_r, message_3, py_seed) = (&fields[0], &fields[1], &fields[2]);

    // The "Python client" installs the pair from Python's seed before
    // posting message_3 (the 2.04 comes over it).
    let mut pnode = Node::new(
        "PY",
        addr("127.0.0.9:5683"),
        addr("127.0.0.9:4500"),
        ace_coap::Config::default(),
        9,
    );
    let spec = dp_pair_spec(
        DpRole::Client,
        Seed::from_slice(py_seed).unwrap().as_bytes(),
        ipsec.spi_sa_c.unwrap(),
        ipsec.spi_sa_rs.unwrap(),
        EspSuite::from_cose_alg(ipsec.alg.unwrap()).unwrap(),
        addr("127.0.0.2:4500"),
        addr("127.0.0.9:5683").ip(),
        addr("127.0.0.2:5683").ip(),
        None,
        "python".into(),
    )
    .unwrap();
    let pair = pnode.install_pair(now.mono, spec).unwrap();

    let mut payload = c_r.clone();
    payload.extend_from_slice(message_3);
    let (plain, out) = post(
        &mut rs,
        now,
        &mut ep,
        WELL_KNOWN_PATH,
        CID_EDHOC_CBOR_SEQ,
        payload,
    );
    assert!(plain.is_none(), "EDHOC failed at the RS: {plain:?}");
    assert_eq!(rs.stats().edhoc_completed, 1);
    assert_eq!(rs.node_ref().pair_count(), 1);
    // The 2.04 over ESP opens with Python's keys.
    let esp: Vec<_> = out.iter().filter(|d| d.iface == Interface::Esp).collect();
    assert_eq!(esp.len(), 1);
    pnode.handle_datagram(now.mono, Interface::Esp, esp[0].from, &esp[0].payload);
    assert_eq!(
        pnode.sad().drops().total(),
        0,
        "the 2.04 authenticates under Python's seed"
    );

    // And a GET over the pair: 2.05 back.
    pnode.endpoint().request(
        now.mono,
        Peer::Secure { pair, port: 5683 },
        Request {
            method: Method::Get,
            path: "/temp".into(),
            query: vec![],
            content_format: None,
            payload: vec![],
        },
        true,
    );
    while pnode.poll_event().is_some() {}
    let t = pnode.poll_transmit(now.mono).unwrap();
    assert_eq!(t.iface, Interface::Esp);
    let out = inject(
        &mut [&mut rs],
        now,
        &Datagram {
            from: addr("127.0.0.9:4500"),
            iface: Interface::Esp,
            to: t.to,
            payload: t.payload,
        },
    );
    let back = out
        .iter()
        .find(|d| d.iface == Interface::Esp)
        .expect("ESP answer");
    pnode.handle_datagram(now.mono, Interface::Esp, back.from, &back.payload);
    let mut got = None;
    while let Some(ev) = pnode.poll_event() {
        if let NodeEvent::Coap(Event::Response { response, .. }) = ev {
            got = Some(response);
        }
    }
    let got = got.expect("2.05 over the pair");
    assert_eq!(got.code, ResponseCode::Content);
    assert_eq!(got.payload, b"21.5");
}
