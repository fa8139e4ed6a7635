//! The Redis store on a real `redis-server`: records, namespaces, sealing, the distributed lock
//! (exclusion, compare-and-delete release, renewal, fencing, a holder killed with SIGKILL) and
//! a Redis restart, and a writer of 1,000 grant records killed at random moments.
//!
//! The child process of the kill test is this test binary itself, started with `CHILD_ENV`.
//! The target has `harness = false` (native/Cargo.toml), so `main` plays that part before
//! anything else, and otherwise runs the tests under libtest-mimic: a child's part is not a
//! test, and a normal run has no test that passes without checking anything.
// Built without cfg(test) (harness = false), so clippy.toml's test allowances do not reach here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use libtest_mimic::{Arguments, Trial};
use mcpauth::store::{RedisStore, StoreKey, TokenStore};

/// Set only in a child process: the Redis URL of the store whose lock it takes.
const CHILD_ENV: &str = "MCPAUTH_TEST_REDIS_CHILD_URL";
/// The file the child creates once it holds the lock.
const CHILD_HELD_ENV: &str = "MCPAUTH_TEST_REDIS_CHILD_HELD";
/// Set only in a writer child (with `CHILD_ENV`): the first grant record it writes.
const CHILD_WRITES_FROM_ENV: &str = "MCPAUTH_TEST_REDIS_CHILD_WRITES_FROM";
const KEY: [u8; 32] = [0x2a; 32];
const NS: &str = "tenant-a";
const GRANT: &str = "grant#https://mcp.example/mcp#alice";
const LOCK: &str = "refresh#https://mcp.example/mcp#alice";
const TOKEN: &str = "at-3b1f9c-very-secret-token";

/// A trial that runs the test function of the same name.
macro_rules! trial {
    ($test:ident) => {
        Trial::test(stringify!($test), || {
            $test();
            Ok(())
        })
    };
}

fn main() -> ExitCode {
    if let (Ok(url), Ok(from)) = (
        std::env::var(CHILD_ENV),
        std::env::var(CHILD_WRITES_FROM_ENV),
    ) {
        let store = RedisStore::open(&url, NS, StoreKey::from_bytes(KEY)).unwrap();
        common::kill_writes::child_writes(&store, from.parse().unwrap());
        return ExitCode::SUCCESS;
    }
    if let Ok(url) = std::env::var(CHILD_ENV) {
        let held = PathBuf::from(std::env::var_os(CHILD_HELD_ENV).expect(CHILD_HELD_ENV));
        child_holds_the_lock_until_killed(&url, &held);
    }
    let tests = vec![
        trial!(records_round_trip_and_namespaces_do_not_see_each_other),
        trial!(values_are_sealed_and_a_copied_record_does_not_open),
        trial!(grants_expire_after_their_ttl_and_other_records_do_not),
        trial!(the_lock_excludes_another_store_until_released),
        trial!(a_lock_not_granted_in_time_is_a_store_error),
        trial!(releasing_a_lapsed_lock_leaves_the_new_holder_s_lock),
        trial!(renewal_keeps_a_lock_past_its_lease),
        trial!(a_holder_that_lost_its_lock_cannot_overwrite_or_delete_the_newer_grant),
        trial!(a_killed_holder_s_lock_is_granted_after_its_lease),
        trial!(records_survive_a_restart_and_the_store_reconnects_by_itself),
        trial!(grant_records_under_several_keys_survive_random_kills_across_a_thousand_writes),
    ];
    libtest_mimic::run(&Arguments::from_args(), tests).exit_code()
}

fn store(server: &RedisServer, namespace: &str) -> RedisStore {
    RedisStore::open(&server.url(), namespace, StoreKey::from_bytes(KEY)).unwrap()
}

fn redis_key(namespace: &str, key: &str) -> String {
    format!("mcpauth:{namespace}:{key}")
}

fn records_round_trip_and_namespaces_do_not_see_each_other() {
    let server = RedisServer::start();
    let (a, b) = (store(&server, NS), store(&server, "tenant-b"));
    assert_eq!(a.load(GRANT).unwrap(), None);
    a.save(GRANT, TOKEN.as_bytes()).unwrap();
    a.save("grant#https://other.example/mcp", b"2").unwrap();
    a.save("client#https://as.example#code", b"3").unwrap();
    b.save("grant#https://mcp.example/mcp#bob", b"4").unwrap();
    let _lock = a.lock(LOCK).unwrap(); // lock keys are not records

    assert_eq!(a.load(GRANT).unwrap().as_deref(), Some(TOKEN.as_bytes()));
    assert_eq!(b.load(GRANT).unwrap(), None, "another tenant's record");
    assert_eq!(
        a.keys_with_prefix("grant#").unwrap(),
        [GRANT, "grant#https://other.example/mcp"]
    );
    assert_eq!(
        a.keys().unwrap(),
        [
            "client#https://as.example#code",
            GRANT,
            "grant#https://other.example/mcp"
        ]
    );
    assert_eq!(b.keys().unwrap(), ["grant#https://mcp.example/mcp#bob"]);
    // A prefix with glob characters matches literally.
    assert!(a.keys_with_prefix("grant#*").unwrap().is_empty());

    a.save(GRANT, b"newer").unwrap();
    assert_eq!(a.load(GRANT).unwrap().as_deref(), Some(&b"newer"[..]));
    a.delete(GRANT).unwrap();
    a.delete(GRANT).unwrap();
    assert_eq!(a.load(GRANT).unwrap(), None);
    assert_eq!(b.keys().unwrap().len(), 1);
    assert!(!format!("{a:?}").contains("redis://"), "{a:?}");
}

fn values_are_sealed_and_a_copied_record_does_not_open() {
    let server = RedisServer::start();
    let a = store(&server, NS);
    a.save(GRANT, TOKEN.as_bytes()).unwrap();
    let raw = server.cli(&["GET", &redis_key(NS, GRANT)]);
    assert!(raw.starts_with(b"MCPAUTH\x01"), "{raw:?}");
    assert!(
        !raw.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
        "the token is stored in clear"
    );

    let other = "grant#https://mcp.example/mcp#mallory";
    let copied = server.cli_text(&["COPY", &redis_key(NS, GRANT), &redis_key(NS, other)]);
    assert_eq!(copied, "1");
    let err = a.load(other).unwrap_err();
    assert_eq!(err.code(), "STORE", "{err}");
    assert!(err.to_string().contains("another key"), "{err}");

    let wrong_key = RedisStore::open(&server.url(), NS, StoreKey::from_bytes([1; 32])).unwrap();
    let err = wrong_key.load(GRANT).unwrap_err();
    assert_eq!(err.code(), "STORE", "{err}");
    assert!(err.to_string().contains("cannot decrypt"), "{err}");
}

fn grants_expire_after_their_ttl_and_other_records_do_not() {
    let server = RedisServer::start();
    let a = store(&server, NS).with_grant_ttl(Duration::from_secs(3600));
    a.save(GRANT, b"1").unwrap();
    a.save("client#https://as.example#code", b"2").unwrap();
    let ttl: i64 = server
        .cli_text(&["PTTL", &redis_key(NS, GRANT)])
        .parse()
        .unwrap();
    assert!((3_500_000..=3_600_000).contains(&ttl), "grant PTTL {ttl}");
    let client = redis_key(NS, "client#https://as.example#code");
    assert_eq!(server.cli_text(&["PTTL", &client]), "-1");

    // A fenced save (under the refresh lock) sets the time-to-live too.
    let _lock = a.lock(LOCK).unwrap();
    server.cli(&["PERSIST", &redis_key(NS, GRANT)]);
    a.save(GRANT, b"3").unwrap();
    let ttl: i64 = server
        .cli_text(&["PTTL", &redis_key(NS, GRANT)])
        .parse()
        .unwrap();
    assert!(ttl > 3_500_000, "fenced grant PTTL {ttl}");
}

fn the_lock_excludes_another_store_until_released() {
    let server = RedisServer::start();
    let url = server.url();
    let held = Arc::new(AtomicBool::new(false));
    let released = Arc::new(AtomicBool::new(false));
    let holder = {
        let (held, released, url) = (held.clone(), released.clone(), url.clone());
        std::thread::spawn(move || {
            let store = RedisStore::open(&url, NS, StoreKey::from_bytes(KEY)).unwrap();
            let guard = store.lock(LOCK).unwrap();
            held.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            released.store(true, Ordering::SeqCst);
            drop(guard);
        })
    };
    while !held.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let other = RedisStore::open(&url, NS, StoreKey::from_bytes(KEY)).unwrap();
    let _guard = other.lock(LOCK).unwrap();
    assert!(
        released.load(Ordering::SeqCst),
        "the lock was granted while another store held it"
    );
    holder.join().unwrap();
    // Another lock name, or the same name in another namespace, is another lock.
    let _unrelated = other.lock("refresh#https://mcp.example/mcp#bob").unwrap();
    let _elsewhere = store(&server, "tenant-b").lock(LOCK).unwrap();
}

fn a_lock_not_granted_in_time_is_a_store_error() {
    let server = RedisServer::start();
    let _held = store(&server, NS).lock(LOCK).unwrap();
    let waiter = store(&server, NS).with_lock_wait(Duration::from_millis(200));
    let started = Instant::now();
    let err = waiter.lock(LOCK).unwrap_err();
    assert_eq!(err.code(), "STORE", "{err}");
    assert!(err.to_string().contains("not granted within"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn releasing_a_lapsed_lock_leaves_the_new_holder_s_lock() {
    let server = RedisServer::start();
    let lock_key = redis_key(NS, &format!("lock:{LOCK}"));
    let first = store(&server, NS);
    let guard = first.lock(LOCK).unwrap();
    // The lease lapses (as after a long pause), and another store takes the lock.
    server.cli(&["DEL", &lock_key]);
    let second = store(&server, NS);
    let second_guard = second.lock(LOCK).unwrap();
    let theirs = server.cli_text(&["GET", &lock_key]);
    assert_eq!(theirs.len(), 32, "a lock token: {theirs}");

    drop(guard);
    assert_eq!(
        server.cli_text(&["GET", &lock_key]),
        theirs,
        "the first holder's release deleted the second holder's lock"
    );
    let third = store(&server, NS).with_lock_wait(Duration::from_millis(100));
    assert!(third.lock(LOCK).is_err(), "the lock is still held");
    drop(second_guard);
    assert_eq!(server.cli_text(&["EXISTS", &lock_key]), "0");
    let _third = third.lock(LOCK).unwrap();
}

fn renewal_keeps_a_lock_past_its_lease() {
    let server = RedisServer::start();
    let lease = Duration::from_millis(300);
    let holder = store(&server, NS).with_lock_lease(lease);
    let guard = holder.lock(LOCK).unwrap();
    // Real time: the lease is Redis's clock. Four leases without renewal would free it.
    std::thread::sleep(lease * 4);
    let lock_key = redis_key(NS, &format!("lock:{LOCK}"));
    let pttl: i64 = server.cli_text(&["PTTL", &lock_key]).parse().unwrap();
    assert!(pttl > 0 && pttl <= 300, "PTTL {pttl}");
    let waiter = store(&server, NS).with_lock_wait(Duration::from_millis(100));
    let err = waiter.lock(LOCK).unwrap_err();
    assert!(err.to_string().contains("not granted"), "{err}");
    drop(guard);
    let _now_free = waiter.lock(LOCK).unwrap();
}

fn a_holder_that_lost_its_lock_cannot_overwrite_or_delete_the_newer_grant() {
    let server = RedisServer::start();
    let lock_key = redis_key(NS, &format!("lock:{LOCK}"));
    let stale = store(&server, NS);
    stale.save(GRANT, b"generation 1").unwrap();
    let stale_guard = stale.lock(LOCK).unwrap();
    // While it holds the lock, its saves of the grant go through.
    stale.save(GRANT, b"generation 2").unwrap();

    // Its lease lapses; another replica takes the lock and saves a newer grant.
    server.cli(&["DEL", &lock_key]);
    let fresh = store(&server, NS);
    let fresh_guard = fresh.lock(LOCK).unwrap();
    fresh.save(GRANT, b"generation 3").unwrap();

    let err = stale
        .save(GRANT, b"generation 2, refreshed late")
        .unwrap_err();
    assert_eq!(err.code(), "STORE", "{err}");
    assert!(err.to_string().contains("refresh lock was lost"), "{err}");
    assert_eq!(
        fresh.load(GRANT).unwrap().as_deref(),
        Some(&b"generation 3"[..])
    );
    // Nor can it delete the newer grant (as after an `invalid_grant` for its old token).
    let err = stale.delete(GRANT).unwrap_err();
    assert!(err.to_string().contains("refresh lock was lost"), "{err}");
    assert_eq!(
        fresh.load(GRANT).unwrap().as_deref(),
        Some(&b"generation 3"[..])
    );
    // Records the lock does not guard are not fenced.
    stale.save("client#https://as.example#code", b"c").unwrap();
    drop(stale_guard);
    drop(fresh_guard);
    // Without the lock, a save (a new login) is a plain write again.
    stale.save(GRANT, b"generation 4").unwrap();
    assert_eq!(
        fresh.load(GRANT).unwrap().as_deref(),
        Some(&b"generation 4"[..])
    );
    // And a holder that still has its lock deletes.
    let guard = stale.lock(LOCK).unwrap();
    stale.delete(GRANT).unwrap();
    assert_eq!(fresh.load(GRANT).unwrap(), None);
    drop(guard);
}

/// Child part: takes the lock with a 1 s lease, says so, and waits to be killed.
fn child_holds_the_lock_until_killed(url: &str, held: &Path) -> ! {
    let store = RedisStore::open(url, NS, StoreKey::from_bytes(KEY))
        .unwrap()
        .with_lock_lease(Duration::from_secs(1));
    let _guard = store.lock(LOCK).unwrap();
    std::fs::write(held, b"held").unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn a_killed_holder_s_lock_is_granted_after_its_lease() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let held = dir.path().join("held");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, server.url())
        .env(CHILD_HELD_ENV, &held)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !held.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the child never held the lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Its renewals have kept the lock past its first lease.
    std::thread::sleep(Duration::from_millis(1200));
    let waiter = store(&server, NS).with_lock_wait(Duration::ZERO);
    assert!(
        waiter.lock(LOCK).is_err(),
        "the child's lock lapsed while it lived"
    );

    child.kill().unwrap(); // SIGKILL: no destructor, no release
    let killed = Instant::now();
    child.wait().unwrap();
    let waiter = store(&server, NS).with_lock_wait(Duration::from_secs(10));
    let _guard = waiter.lock(LOCK).unwrap();
    let waited = killed.elapsed();
    // At most one lease (1 s) after the last renewal, plus a backoff step and a loaded machine.
    assert!(
        waited <= Duration::from_millis(2000),
        "granted after {waited:?}"
    );
}

fn records_survive_a_restart_and_the_store_reconnects_by_itself() {
    let mut server = RedisServer::start();
    let a = store(&server, NS);
    a.save(GRANT, TOKEN.as_bytes()).unwrap();
    assert_eq!(a.load(GRANT).unwrap().as_deref(), Some(TOKEN.as_bytes()));

    server.stop();
    let err = a.load(GRANT).unwrap_err();
    assert_eq!(err.code(), "STORE", "{err}");
    assert!(err.to_string().contains("Redis at 127.0.0.1"), "{err}");
    let err = a.lock(LOCK).unwrap_err();
    assert_eq!(err.code(), "STORE", "{err}");

    server.restart();
    assert_eq!(
        a.load(GRANT).unwrap().as_deref(),
        Some(TOKEN.as_bytes()),
        "the record did not survive the restart"
    );
    a.save(GRANT, b"after the restart").unwrap();
    drop(a.lock(LOCK).unwrap());
    assert_eq!(a.keys().unwrap(), [GRANT]);

    // A restart between two operations, with no failed operation to notice it: the idle
    // connections are dead, and the next operation still succeeds.
    server.restart();
    assert_eq!(
        a.load(GRANT).unwrap().as_deref(),
        Some(&b"after the restart"[..])
    );
}

/// See [`common::kill_writes`]: every kill of a writer leaves each key with a complete
/// record that was written to it, never an older one than its last confirmed save.
fn grant_records_under_several_keys_survive_random_kills_across_a_thousand_writes() {
    let server = RedisServer::start();
    let store = store(&server, NS);
    let report = common::kill_writes::run(&store, |from| {
        Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, server.url())
            .env(CHILD_WRITES_FROM_ENV, from.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    });
    eprintln!("Redis store: {report:?}");
    assert!(report.kills >= 10, "too few kills landed: {report:?}");
}
