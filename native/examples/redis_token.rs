//! One replica of a gateway asking a shared Redis store for its users' access tokens: the Rust
//! half of `npm/test/redis-mixed.test.mjs`, where a Node process on the same Redis asks for
//! the same users' tokens at the same moment and the authorization server must see one
//! refresh per grant.
//!
//! ```text
//! MCPAUTH_STORE_KEY=<base64 of 32 bytes> \
//!   redis_token <redis url> <namespace> <mcp server url> <user,user,...> <callers per user> [clock ahead ms]
//! ```
//!
//! It opens the store, prints `ready`, and waits for one line on stdin (so that a test can
//! start several processes at the same moment); then it makes `callers` concurrent
//! [`Session::access_token`] calls for each user, all at once, and prints one JSON line:
//! `{"tokens": {"<user>": ["<fingerprint>", ...]}}`, a fingerprint being the first 16 hex
//! digits of the token's SHA-256 (never the token). `clock ahead ms` runs the session's clock
//! that far ahead of the system's, as the tests move the dev server's. Exits 1 with one line on
//! stderr when anything fails.
//!
//! Each user is a [`Profile`]: a gateway whose user ids are not profile names (1–64 of
//! `[A-Za-z0-9._-]`) maps them first, e.g. to a hash.

use std::io::BufRead as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use mcpauth::Session;
use mcpauth::session::Profile;
use mcpauth::store::{RedisStore, StoreKey};
use mcpauth_core::Time;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const USAGE: &str = "usage: redis_token <redis url> <namespace> <mcp server url> \
                     <user,user,...> <callers per user> [clock ahead ms]";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redis_token: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [redis_url, namespace, server, users, callers, rest @ ..] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let callers: usize = callers.parse().map_err(|e| format!("callers: {e}"))?;
    let ahead = Duration::from_millis(match rest {
        [] => 0,
        [ms] => ms.parse().map_err(|e| format!("clock ahead ms: {e}"))?,
        _ => return Err(USAGE.into()),
    });
    let users = users
        .split(',')
        .map(|u| Ok((u.to_owned(), Profile::parse(u)?)))
        .collect::<Result<Vec<_>>>()?;

    let store = RedisStore::open(redis_url, namespace, StoreKey::from_env()?)?;
    let session = Session::builder(Arc::new(store))
        .clock(move || Time::from(SystemTime::now()).add(ahead))
        .build()?;
    println!("ready");
    // The start signal: any line, or the end of stdin.
    std::io::stdin().lock().read_line(&mut String::new())?;

    let calls = users.iter().flat_map(|(name, profile)| {
        let session = session.with_profile(Some(profile.clone()));
        (0..callers).map(move |_| {
            let (session, server, name) = (session.clone(), server.clone(), name.clone());
            async move { (name, session.access_token(&server).await) }
        })
    });
    let mut tokens = Map::new();
    for (name, token) in join_all(calls).await {
        let token = token.map_err(|e| format!("access_token for {name}: {e} [{}]", e.code()))?;
        let list = tokens
            .entry(name)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(fingerprint(token.secret()).into());
        }
    }
    println!("{}", json!({ "tokens": tokens }));
    Ok(())
}

/// The first 16 hex digits of the SHA-256 of `token`: enough to compare, useless to a thief.
fn fingerprint(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}
