//! The `mcpauth` CLI as a person at a terminal sees it, with stderr piped (not a terminal): a
//! device login prints the code and URL but no QR code, and `mcpauth status` shows the same
//! user that `mcpauth login` printed.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::time::Duration;

use mcpauth_devserver::Config;

use common::run_cli as mcpauth;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn a_device_login_prints_no_qr_code_off_a_terminal_and_status_shows_the_same_user() {
    let server = common::devserver(Config {
        auto_approve: true,
        device_interval: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("a temporary directory");

    let login = mcpauth(
        dir.path(),
        &["login", "--device", "--no-browser", &server.mcp_url],
    )
    .await;
    let (out, err) = (text(&login.stdout), text(&login.stderr));
    assert!(login.status.success(), "login failed:\n{out}\n{err}");
    assert!(
        err.contains("/device"),
        "the verification URI is shown:\n{err}"
    );
    assert!(
        !err.contains(['█', '▀', '▄']),
        "no QR code when stderr is not a terminal:\n{err}"
    );
    let user = "dev@example.com";
    assert!(
        format!("{out}{err}").contains(user),
        "login names the user:\n{out}\n{err}"
    );

    let status = mcpauth(dir.path(), &["status"]).await;
    let shown = text(&status.stdout);
    assert!(status.status.success(), "{shown}\n{}", text(&status.stderr));
    assert!(shown.contains(user), "status shows who logged in:\n{shown}");
    server.shutdown().await;
}
