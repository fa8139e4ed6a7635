//! The two sides of the multi-process refresh tests: child processes that wait for a start
//! signal, then ask one shared store for a token from many tasks at once and print one line per
//! caller; and the parent, which collects those lines.

use std::path::Path;
use std::time::Duration;

use futures_util::future::join_all;
use mcpauth::Session;

use super::{fingerprint, within};

/// The prefix of each of a child's result lines, one per caller.
pub const TOKEN_LINE: &str = "child token fingerprint: ";

/// Waits for `path` with a 1 ms poll, so the children start within about a millisecond.
pub async fn wait_for_file(path: &Path) {
    within(Duration::from_secs(60), "the start signal", async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

/// The child's part: `callers` concurrent `access_token` calls, each printing its token's
/// fingerprint after [`TOKEN_LINE`].
pub async fn print_tokens_of_concurrent_callers(session: &Session, server: &str, callers: usize) {
    let calls = (0..callers).map(|_| {
        let (session, server) = (session.clone(), server.to_owned());
        tokio::spawn(async move { session.access_token(&server).await })
    });
    for joined in join_all(calls).await {
        let token = joined
            .unwrap()
            .unwrap_or_else(|e| panic!("access_token: {e} [{}]", e.code()));
        println!("{TOKEN_LINE}{}", fingerprint(token.secret()));
    }
}

/// The parent's part: waits for each child, asserts it succeeded and printed one line per
/// caller, and returns every fingerprint printed.
pub async fn tokens_printed_by(
    children: Vec<tokio::process::Child>,
    callers: usize,
) -> Vec<String> {
    let mut seen = Vec::new();
    for child in children {
        let out = within(
            Duration::from_secs(90),
            "a child process",
            child.wait_with_output(),
        )
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "child failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
        let tokens: Vec<String> = stdout
            .lines()
            .filter_map(|l| l.split_once(TOKEN_LINE).map(|(_, fp)| fp.trim().to_owned()))
            .collect();
        assert_eq!(
            tokens.len(),
            callers,
            "one token line per caller expected:\n{stdout}"
        );
        seen.extend(tokens);
    }
    seen
}
