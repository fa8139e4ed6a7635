//! Configured server headers (an API gateway's key, say) go on the probe to the MCP server,
//! and never to the authorization server's endpoints.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::{Arc, Mutex};

use common::{Request, TestClock, TestUi, respond, serve};
use mcpauth::MemoryStore;

#[tokio::test]
async fn probe_carries_the_configured_headers_and_metadata_requests_do_not() {
    let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
    let log = seen.clone();
    let addr = serve(move |req, stream| {
        log.lock().unwrap().push(req);
        // A bare 401 and 404s everywhere else: discovery then fails, which is fine here.
        async move {
            respond(stream, "404 Not Found", &[], b"").await;
        }
    })
    .await;
    let (ui, clock) = (TestUi::immediate(), TestClock::default());
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &clock);
    let mut options = common::login_options();
    options.server_headers = vec![("x-gateway-key".into(), "k-123".into())];
    let err = session
        .login(&format!("http://{addr}/mcp"), &options)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "DISCOVERY_FAILED", "{err}");

    let seen = seen.lock().unwrap();
    let probe = seen
        .iter()
        .find(|r| r.method() == "POST" && r.target() == "/mcp")
        .expect("the probe reached the MCP server");
    assert_eq!(probe.header("x-gateway-key"), Some("k-123"));
    let others: Vec<&Request> = seen.iter().filter(|r| r.target() != "/mcp").collect();
    assert!(!others.is_empty(), "discovery sent no request");
    assert!(
        others.iter().all(|r| r.header("x-gateway-key").is_none()),
        "a metadata request carried the server header: {others:#?}"
    );
}
