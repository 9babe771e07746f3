//! The `as`, `rs` and `client` commands as a user runs them, from the
//! example configuration files, with IKEv2 as the key management method:
//! the PSK the client holds (`[[ike.psk]]`), the RS starting IKE_SA_INIT
//! (`rs_initiates`), and raw public keys (`[ike] key`). Each process on its
//! own loopback addresses (127.77.0.0/24), killed at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ace-ipsec");

struct Procs(Vec<Child>);
impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn example(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

/// The example with its loopback addresses moved to 127.77.0.x.
fn moved(text: &str) -> String {
    text.replace("127.0.0.1", "127.77.0.1")
        .replace("127.0.0.2", "127.77.0.2")
}

/// A client configuration: the three runs share one registration SA pair
/// with the AS, so they share its counters too.
fn client_cfg(dir: &Path, text: &str) -> String {
    text.replacen(
        "\n[as]",
        &format!("\nstate_dir = {:?}\n\n[as]", dir.join("client3.state")),
        1,
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn client(config: &Path) -> Output {
    Command::new(BIN)
        .args(["client", "--config"])
        .arg(config)
        .args(["--verbose", "coap://127.77.0.2:5683/temp"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs the client until the servers are up (they bind within a second).
fn client_until_up(config: &Path) -> Output {
    let mut last = None;
    for _ in 0..20 {
        let out = client(config);
        if out.status.success() {
            return out;
        }
        last = Some(out);
        std::thread::sleep(Duration::from_millis(250));
    }
    last.unwrap()
}

fn ok(out: &Output, want_step: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.lines().next(), Some("2.05"), "{stdout}\n{stderr}");
    assert!(stdout.contains("21.5 C"), "{stdout}");
    assert!(
        stderr.contains(want_step),
        "no step {want_step:?}:\n{stderr}"
    );
}

#[test]
fn as_rs_and_client_from_the_example_files_set_up_ikev2() {
    let dir = std::env::temp_dir().join(format!("ace-services-ike-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let as_cfg = write(&dir, "as.toml", &moved(&example("as.toml")));
    let rs_cfg = write(&dir, "rs.toml", &moved(&example("rs.toml")));
    let mut procs = Procs(Vec::new());
    for (cmd, cfg) in [("as", &as_cfg), ("rs", &rs_cfg)] {
        procs.0.push(
            Command::new(BIN)
                .args([cmd, "--config"])
                .arg(cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }

    // The PSK provisioned with the client, named by kid; the client starts.
    let psk = write(
        &dir,
        "client-psk.toml",
        &client_cfg(&dir, &moved(&example("client-ike.toml"))),
    );
    ok(&client_until_up(&psk), "2.01: IKEv2 IKE_SA_INIT follows");

    // The RS starts IKE_SA_INIT towards the client's ESP port.
    let rs_starts =
        moved(&example("client-ike.toml")).replace("# rs_initiates = true", "rs_initiates = true");
    let rs_starts = write(&dir, "client-rs-starts.toml", &client_cfg(&dir, &rs_starts));
    ok(&client(&rs_starts), "2.01: the RS starts IKE_SA_INIT");

    // Raw public keys: the client's own P-256 key, no PSK.
    let text = moved(&example("client-ike.toml"));
    let rpk = text[..text.find("[[ike.psk]]").unwrap()].replace(
        "# key = { private_key = \"<64 hex digits>\", kid = \"<hex>\" }",
        "key = { private_key = \"c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721\", kid = \"63332d696b65\" }",
    );
    let rpk = write(&dir, "client-rpk.toml", &client_cfg(&dir, &rpk));
    ok(&client(&rpk), "IKE_SA_INIT + IKE_AUTH");

    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}
