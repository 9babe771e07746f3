//! `ace-ipsec`: the command-line entry point (AS, RS, Client, demo).

use ace_ipsec::{bench, demo, gateway, services};

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use ace_coap::Method;
use ace_core::scope::Scope;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ace-ipsec",
    version,
    about = "ACE-OAuth with the IPsec profile (coap_ipsec): AS, RS and Client over CoAP with userspace ESP"
)]
struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. "info" or "ace_rs=debug".
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the Authorization Server.
    As {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the Resource Server.
    Rs {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Get a token, set up the SA pair and access one resource.
    Client {
        #[arg(long, short)]
        config: PathBuf,
        /// coap://HOST:PORT/PATH of the resource (PORT: the RS's plain CoAP port).
        uri: String,
        #[arg(long, short, default_value = "GET")]
        method: String,
        /// Request payload (text).
        #[arg(long, short)]
        payload: Option<String>,
        /// Audience to ask the AS for; without it the client learns it from the RS's 4.01.
        #[arg(long)]
        audience: Option<String>,
        /// Scope to ask for (space-separated text scope).
        #[arg(long)]
        scope: Option<String>,
        /// The RS's ESP-in-UDP address (default: the RS's IP, port 4500).
        #[arg(long)]
        rs_esp: Option<SocketAddr>,
        /// Print each step of the flow.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Transparent mode: protect the IP packets routed into a TUN device (root).
    Gateway {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Benchmarks (a table at the end; --json for scripts).
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// AS, RS and Client in one process on loopback: the whole flow with real ESP traffic.
    Demo {
        /// One JSON object instead of the transcript.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// ESP seal+open per suite against the raw transform, OpenSSL, and the SAD at 100 000 SAs.
    Esp {
        #[arg(long)]
        json: bool,
        /// Seconds per suite and size.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
    },
    /// IKE SA + Child SA establishments per second (PSK + X25519, raw keys + P-256):
    /// in-process, over loopback UDP, or against a remote responder (--target).
    Ike {
        #[arg(long)]
        json: bool,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// IKE SAs in flight (load initiator).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// A remote responder's IKE address (e.g. charon): only the load initiator runs.
        #[arg(long)]
        target: Option<SocketAddr>,
        /// The load initiator's IKE address with --target (NAT-T: port 4500 of it).
        #[arg(long)]
        local: Option<SocketAddr>,
        /// The shared key with --target (hex).
        #[arg(long)]
        psk: Option<String>,
        /// With --target: our P-256 private scalar (hex) for the raw-keys run.
        #[arg(long)]
        key: Option<String>,
        /// With --target: the responder's P-256 public key (hex 04|x|y).
        #[arg(long)]
        peer_key: Option<String>,
        /// Only this authentication: psk (PSK + X25519) or key (raw keys + P-256).
        #[arg(long)]
        auth: Option<String>,
    },
}

fn init_logs(filter: Option<&str>, default: &str) {
    let f = tracing_subscriber::EnvFilter::try_new(filter.unwrap_or(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(f)
        .with_writer(std::io::stderr)
        .try_init();
}

fn parse_method(m: &str) -> Result<Method, String> {
    Ok(match m.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "FETCH" => Method::Fetch,
        "PATCH" => Method::Patch,
        "IPATCH" => Method::IPatch,
        other => return Err(format!("unknown method {other}")),
    })
}

/// `coap://host:port/path` → (address, path).
fn parse_uri(uri: &str) -> Result<(SocketAddr, String), String> {
    let rest = uri
        .strip_prefix("coap://")
        .ok_or("the URI must start with coap://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let authority = if authority.contains(':')
        && !authority.starts_with('[')
        && authority.matches(':').count() == 1
    {
        authority.to_string()
    } else if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:5683")
    } else {
        authority.to_string()
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    Ok((addr, path))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Demo { json } => {
            init_logs(cli.log.as_deref(), "error");
            match demo::run(json).await {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("demo failed: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Bench {
            what: BenchWhat::Esp { json, seconds },
        } => {
            init_logs(cli.log.as_deref(), "error");
            exit(
                tokio::task::spawn_blocking(move || bench::run_esp(json, seconds))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string())),
            )
        }
        Cmd::Bench {
            what:
                BenchWhat::Ike {
                    json,
                    seconds,
                    concurrency,
                    target,
                    local,
                    psk,
                    key,
                    peer_key,
                    auth,
                },
        } => {
            init_logs(cli.log.as_deref(), "error");
            let args = bench::ike::IkeBenchArgs {
                json,
                seconds,
                concurrency,
                target,
                local,
                local_natt: None,
                psk,
                key,
                peer_key,
                auth,
            };
            exit(
                tokio::task::spawn_blocking(move || bench::ike::run(args))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string())),
            )
        }
        Cmd::Gateway { config } => {
            init_logs(cli.log.as_deref(), "info");
            exit(gateway::run(&config).await)
        }
        Cmd::As { config } => {
            init_logs(cli.log.as_deref(), "info");
            exit(services::run_as(&config).await)
        }
        Cmd::Rs { config } => {
            init_logs(cli.log.as_deref(), "info");
            exit(services::run_rs(&config).await)
        }
        Cmd::Client {
            config,
            uri,
            method,
            payload,
            audience,
            scope,
            rs_esp,
            verbose,
        } => {
            init_logs(cli.log.as_deref(), "warn");
            let r = async {
                let (rs, path) = parse_uri(&uri)?;
                let method = parse_method(&method)?;
                let access = ace_client::Access {
                    rs,
                    rs_esp,
                    audience,
                    scope: scope.map(Scope::Text),
                    method,
                    path,
                    payload: payload.map(String::into_bytes).unwrap_or_default(),
                    content_format: None,
                };
                services::run_client(&config, access, verbose).await
            }
            .await;
            exit(r)
        }
    }
}

fn exit(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_parsing() {
        assert_eq!(
            parse_uri("coap://127.0.0.1:5684/temp").unwrap(),
            ("127.0.0.1:5684".parse().unwrap(), "/temp".into())
        );
        assert_eq!(
            parse_uri("coap://127.0.0.1/a/b").unwrap(),
            ("127.0.0.1:5683".parse().unwrap(), "/a/b".into())
        );
        assert_eq!(
            parse_uri("coap://[::1]:5690/x").unwrap(),
            ("[::1]:5690".parse().unwrap(), "/x".into())
        );
        assert!(parse_uri("http://x/y").is_err());
    }
}
