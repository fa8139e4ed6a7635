//! The refresh storm: 20 users logged in through the gateway, then every access token expired
//! at the authorization server (its clock moved past their lifetime), then 4 replicas each
//! get 50 concurrent `tools/call echo` requests for each user: 4000 requests at once. Every
//! one is answered, and the server sees exactly one refresh per user and no rotated refresh
//! token presented again.
//!
//! The replicas' own clocks still call the tokens fresh, so every first attempt meets a 401
//! and goes through the `AuthClient`'s refresh after rejection: the Redis lock admits one
//! holder per grant across the replicas, and the core's re-read of the grant under it makes
//! every later holder take the refreshed token instead of refreshing again.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::{Gateway, STORE_KEY, echo, http_client, login, mcp, try_mcp, within};
use futures_util::future::join_all;
use mcpauth::Session;
use mcpauth::session::Profile;
use mcpauth::store::{RedisStore, StoreKey};
use mcpauth_devserver::{Config, DevServer, DevServerHandle};

const REPLICAS: usize = 4;
const USERS: usize = 20;
const REQUESTS_PER_USER: usize = 50;
const TTL: Duration = Duration::from_secs(300);

/// One storm at a time: each opens some 8,000 loopback connections (the callers' to the
/// replicas, the replicas' to the upstream). With both storms at once, a loaded 2-core machine
/// failed some replicas' connections to the upstream ("error sending request"), which has
/// nothing to do with what is tested.
static ONE_STORM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A Redis server, a dev server issuing [`TTL`] tokens, and [`REPLICAS`] gateways on them
/// under `namespace`, each started with `flags`.
async fn start_storm(
    namespace: &str,
    flags: &[&str],
) -> (RedisServer, DevServerHandle, Vec<Gateway>) {
    let redis = RedisServer::start();
    let server = DevServer::start(Config {
        auto_approve: true,
        access_token_ttl: TTL,
        ..Config::default()
    })
    .await
    .unwrap();
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        replicas.push(Gateway::start_with(&redis.url(), &server.mcp_url, namespace, flags).await);
    }
    (redis, server, replicas)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_replicas_under_a_refresh_storm_refresh_each_grant_once() {
    let _one_storm = ONE_STORM.lock().await;
    let (redis, server, replicas) = start_storm("storm", &[]).await;
    let http = http_client();
    let users: Vec<String> = (0..USERS)
        .map(|n| format!("user-{n:02}@example.com"))
        .collect();
    // Each user logs in at another replica: the login URL of one, the callback of the same.
    within(
        Duration::from_secs(60),
        "the logins",
        join_all(
            users
                .iter()
                .enumerate()
                .map(|(n, user)| login(&http, &replicas[n % REPLICAS].url, user)),
        ),
    )
    .await;

    server.advance_clock(TTL + Duration::from_secs(1));
    server.reset();
    let started = Instant::now();
    let mut calls = Vec::new();
    for replica in &replicas {
        for user in &users {
            for n in 0..REQUESTS_PER_USER {
                let text = format!("{user} #{n}");
                let (http, url, user) = (http.clone(), replica.url.clone(), user.clone());
                calls.push(async move {
                    let answer = mcp(&http, &url, &user, echo(&text)).await;
                    (text, answer)
                });
            }
        }
    }
    let answers = within(Duration::from_secs(60), "the storm", join_all(calls)).await;
    let elapsed = started.elapsed();

    let mut failed = Vec::new();
    for (text, (status, body)) in &answers {
        let echoed = body["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        if *status != 200 || !echoed.contains(text.as_str()) {
            failed.push(format!("{text}: {status} {body}"));
        }
    }
    let logs: Vec<String> = replicas.iter().map(Gateway::stderr).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed, e.g. {:?}\n{logs:#?}",
        failed.len(),
        answers.len(),
        failed.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(answers.len(), REPLICAS * USERS * REQUESTS_PER_USER);
    let stats = server.stats();
    eprintln!(
        "{} requests in {elapsed:?}: {} refreshes, {} reused refresh tokens, {} MCP 401s",
        answers.len(),
        stats.refreshes,
        stats.refresh_reuse_detected,
        stats.mcp_unauthorized
    );
    assert_eq!(stats.refreshes, USERS as u64, "{stats:#?}");
    assert_eq!(
        stats.token_grants.get("refresh_token"),
        Some(&(USERS as u64))
    );
    assert_eq!(stats.refresh_reuse_detected, 0, "{stats:#?}");
    assert!(
        stats.mcp_unauthorized >= USERS as u64,
        "the tokens had expired"
    );
    let locks = redis.cli_text(&["KEYS", "mcpauth:storm:lock:*"]);
    assert!(locks.is_empty(), "locks left behind: {locks}");
}

/// A replica killed with SIGKILL in the storm (once every grant has been refreshed, so it may
/// hold a lock but no refresh in flight) leaves the grants intact: the other replicas answer
/// all their requests (after the dead one's 2 s lease, if it held a lock), nothing is refreshed
/// twice, and each user's grant still serves requests afterwards without a new refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_storm_leaves_the_grants_intact_and_the_others_finish() {
    let _one_storm = ONE_STORM.lock().await;
    // A short lease: a lock the killed replica held blocks its user for 2 s, not 15 s.
    let (redis, server, mut replicas) =
        start_storm("storm-kill", &["--lock-lease-ms", "2000"]).await;
    let http = http_client();
    // Valid profile names, so the test can read each user's grant as the gateway stores it.
    let users: Vec<String> = (0..USERS).map(|n| format!("user-{n:02}")).collect();
    within(
        Duration::from_secs(60),
        "the logins",
        join_all(
            users
                .iter()
                .map(|user| login(&http, &replicas[0].url, user)),
        ),
    )
    .await;
    let store = RedisStore::open(&redis.url(), "storm-kill", StoreKey::from_bytes(STORE_KEY));
    let session = Session::builder(Arc::new(store.unwrap())).build().unwrap();
    let grant = {
        let (session, url) = (session.clone(), server.mcp_url.clone());
        move |user: &str| {
            let profile = Profile::parse(user).unwrap();
            let grant = session.with_profile(Some(profile)).current_grant(&url);
            grant.unwrap().tokens.access_token.secret().to_owned()
        }
    };
    let before: Vec<String> = users.iter().map(|u| grant(u)).collect();

    server.advance_clock(TTL + Duration::from_secs(1));
    server.reset();
    let mut calls = Vec::new();
    for (r, replica) in replicas.iter().enumerate() {
        for user in &users {
            for n in 0..REQUESTS_PER_USER {
                let text = format!("{user} #{n}");
                let (http, url, user) = (http.clone(), replica.url.clone(), user.clone());
                calls.push(tokio::spawn(async move {
                    (
                        r,
                        text.clone(),
                        try_mcp(&http, &url, &user, echo(&text)).await,
                    )
                }));
            }
        }
    }
    within(Duration::from_secs(60), "every grant refreshed", async {
        loop {
            let check = grant.clone();
            let users = users.clone();
            let refreshed = tokio::task::spawn_blocking(move || {
                users.iter().map(|u| check(u)).collect::<Vec<_>>()
            })
            .await
            .unwrap();
            if refreshed.iter().zip(&before).all(|(new, old)| new != old) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    replicas[0].kill().await;

    let answers = within(Duration::from_secs(90), "the storm", join_all(calls)).await;
    let (mut cut_off, mut failed) = (0, Vec::new());
    for answer in answers {
        let (replica, text, outcome) = answer.unwrap();
        match outcome {
            Ok((200, body)) if body["result"]["content"][0]["text"] == text.as_str() => {}
            Err(_) if replica == 0 => cut_off += 1,
            other => failed.push(format!("replica {replica}, {text}: {other:?}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    let stats = server.stats();
    eprintln!(
        "killed replica: {cut_off} requests cut off; {} refreshes",
        stats.refreshes
    );
    assert_eq!(stats.refreshes, USERS as u64, "{stats:#?}");
    assert_eq!(stats.refresh_reuse_detected, 0, "{stats:#?}");
    for user in &users {
        let (status, body) = mcp(&http, &replicas[1].url, user, echo("after")).await;
        assert_eq!(status, 200, "{user}: {body}");
    }
    assert_eq!(
        server.stats().refreshes,
        USERS as u64,
        "no refresh after the storm"
    );
}
