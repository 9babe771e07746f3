//! The demo on real loopback sockets: AS, RS and Client as tokio tasks,
//! ESP-in-UDP between them. Every step must behave as expected.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_every_step_over_loopback() {
    let report = ace_ipsec::demo::report().await.expect("demo ran");
    for (method, m) in &report.methods {
        for s in &m.steps {
            assert!(
                s.ok,
                "{method}: {}: expected {}, got {}",
                s.name, s.expected, s.got
            );
        }
        assert!(m.token_bytes > 0);
        assert!(!m.esp_overhead_bytes.is_empty());
    }
    assert!(report.ok);
    assert!(report.methods.contains_key("dp"));
}
