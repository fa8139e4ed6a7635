//! The file store across processes: a writer killed mid-write never leaves a corrupt record,
//! and the store lock excludes another process.
//!
//! The child processes are this test binary itself, re-run with one test selected and an
//! environment variable telling that test to play the child's part.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcpauth::{FileStore, TokenStore};

const CHILD_DIR_ENV: &str = "MCPAUTH_TEST_CHILD_DIR";
const KEY: [u8; 32] = [42; 32];
const RECORD: &str = "grant#https://mcp.example/mcp";

/// Value number `n`: large enough (~64 KiB) that a kill often lands inside a write.
fn value(n: u64) -> Vec<u8> {
    format!("{n:012}|").repeat(5000).into_bytes()
}

/// The `n` of a value, checking that the whole value is intact.
fn parse_value(bytes: &[u8]) -> Option<u64> {
    let n: u64 = std::str::from_utf8(bytes.get(..12)?).ok()?.parse().ok()?;
    (value(n) == bytes).then_some(n)
}

fn spawn_child(test: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(path: &Path, limit: Duration) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < limit,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD_DIR_ENV).map(PathBuf::from)
}

/// Child part: writes ever newer values until killed. A no-op in a normal test run.
#[test]
fn child_writes_until_killed() {
    let Some(dir) = child_dir() else { return };
    let store = FileStore::with_key(&dir, &KEY).unwrap();
    let start = std::fs::read_to_string(dir.join("next")).unwrap();
    let mut n: u64 = start.trim().parse().unwrap();
    loop {
        store.save(RECORD, &value(n)).unwrap();
        if n % 5 == 0 {
            // Tell the parent how far we got (written after the save, so it is a lower bound).
            std::fs::write(dir.join("written"), n.to_string()).unwrap();
        }
        n += 1;
    }
}

#[test]
fn a_writer_killed_mid_write_leaves_the_old_or_the_new_value() {
    if child_dir().is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::with_key(dir.path(), &KEY).unwrap();
    store.save(RECORD, &value(0)).unwrap();
    let mut last = 0;
    let mut seed = u64::from(std::process::id()) ^ 0x9E37_79B9_7F4A_7C15;
    for round in 0..20 {
        let _ = std::fs::remove_file(dir.path().join("written"));
        std::fs::write(dir.path().join("next"), (last + 1).to_string()).unwrap();
        let mut child = spawn_child("child_writes_until_killed", dir.path());
        wait_for(&dir.path().join("written"), Duration::from_secs(30));
        // xorshift: a different delay each round, 0-40 ms into the write loop.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 40_000));
        child.kill().unwrap(); // SIGKILL on Unix: no destructor, no flush
        child.wait().unwrap();

        let bytes = store.load(RECORD).unwrap().expect("the record survives");
        let n = parse_value(&bytes)
            .unwrap_or_else(|| panic!("round {round}: a corrupt value ({} bytes)", bytes.len()));
        let written: u64 = std::fs::read_to_string(dir.path().join("written"))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            n >= written,
            "round {round}: value {n} is older than {written}"
        );
        last = n;
    }
    assert!(last > 20, "the children made progress ({last})");
    assert_eq!(store.keys().unwrap(), [RECORD]);
}

/// Child part: holds the lock for 300 ms, saying when it has it and when it lets go.
#[test]
fn child_holds_the_lock() {
    let Some(dir) = child_dir() else { return };
    let store = FileStore::with_key(&dir, &KEY).unwrap();
    let guard = store.lock(RECORD).unwrap();
    std::fs::write(dir.join("held"), "").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(dir.join("released"), "").unwrap();
    drop(guard);
}

#[test]
fn the_store_lock_excludes_another_process() {
    if child_dir().is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::with_key(dir.path(), &KEY).unwrap();
    let mut child = spawn_child("child_holds_the_lock", dir.path());
    wait_for(&dir.path().join("held"), Duration::from_secs(30));
    let _guard = store.lock(RECORD).unwrap();
    assert!(
        dir.path().join("released").exists(),
        "the lock was granted while the other process held it"
    );
    assert!(child.wait().unwrap().success());
}
