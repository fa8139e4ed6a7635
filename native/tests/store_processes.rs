//! The file store across processes: a writer killed mid-write never leaves a corrupt record
//! (one large value killed 20 times, and 1,000 grant records under several keys killed at
//! seeded random moments), and the store lock excludes another process.
//!
//! The child processes are this test binary itself, started with `CHILD_ENV` naming the
//! part to play. The target has `harness = false` (native/Cargo.toml), so `main` plays that
//! part before anything else, and otherwise runs the tests under libtest-mimic: a child's part
//! is not a test, and a normal run has no test that passes without checking anything.
// Built without cfg(test) (harness = false), so clippy.toml's test allowances do not reach here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Trial};
use mcpauth::{FileStore, TokenStore};

/// Set only in a child process: the part it plays, `WRITES_UNTIL_KILLED`, `HOLDS_THE_LOCK`
/// or `WRITES_GRANTS`.
const CHILD_ENV: &str = "MCPAUTH_TEST_STORE_CHILD";
/// The child's store directory, also where it leaves its signal files.
const CHILD_DIR_ENV: &str = "MCPAUTH_TEST_STORE_CHILD_DIR";
/// The first record a `WRITES_GRANTS` child writes.
const CHILD_FROM_ENV: &str = "MCPAUTH_TEST_STORE_CHILD_FROM";
const WRITES_UNTIL_KILLED: &str = "writes-until-killed";
const HOLDS_THE_LOCK: &str = "holds-the-lock";
const WRITES_GRANTS: &str = "writes-grants";
const KEY: [u8; 32] = [42; 32];
const RECORD: &str = "grant#https://mcp.example/mcp";

/// A trial that runs the test function of the same name.
macro_rules! trial {
    ($test:ident) => {
        Trial::test(stringify!($test), || {
            $test();
            Ok(())
        })
    };
}

/// Plays a child's part if `CHILD_ENV` names one; runs the tests otherwise.
fn main() -> ExitCode {
    if let Some(part) = std::env::var_os(CHILD_ENV) {
        let dir = PathBuf::from(std::env::var_os(CHILD_DIR_ENV).expect(CHILD_DIR_ENV));
        match part.to_str() {
            Some(WRITES_UNTIL_KILLED) => child_writes_until_killed(&dir),
            Some(HOLDS_THE_LOCK) => child_holds_the_lock(&dir),
            Some(WRITES_GRANTS) => {
                let from = std::env::var(CHILD_FROM_ENV).expect(CHILD_FROM_ENV);
                let store = FileStore::with_key(&dir, &KEY).unwrap();
                common::kill_writes::child_writes(&store, from.parse().unwrap());
            }
            _ => panic!("{CHILD_ENV}: no such part: {part:?}"),
        }
        return ExitCode::SUCCESS;
    }
    let tests = vec![
        trial!(a_writer_killed_mid_write_leaves_the_old_or_the_new_value),
        trial!(the_store_lock_excludes_another_process),
        trial!(grant_records_under_several_keys_survive_random_kills_across_a_thousand_writes),
    ];
    libtest_mimic::run(&Arguments::from_args(), tests).exit_code()
}

/// Value number `n`: large enough (~64 KiB) that a kill often lands inside a write.
fn value(n: u64) -> Vec<u8> {
    format!("{n:012}|").repeat(5000).into_bytes()
}

/// The `n` of a value, checking that the whole value is intact.
fn parse_value(bytes: &[u8]) -> Option<u64> {
    let n: u64 = std::str::from_utf8(bytes.get(..12)?).ok()?.parse().ok()?;
    (value(n) == bytes).then_some(n)
}

/// Starts this binary as a child playing `part` in `dir`.
fn spawn_child(part: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, part)
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

/// Child part: writes ever newer values until killed.
fn child_writes_until_killed(dir: &Path) -> ! {
    let store = FileStore::with_key(dir, &KEY).unwrap();
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

fn a_writer_killed_mid_write_leaves_the_old_or_the_new_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::with_key(dir.path(), &KEY).unwrap();
    store.save(RECORD, &value(0)).unwrap();
    let mut last = 0;
    let mut seed = u64::from(std::process::id()) ^ 0x9E37_79B9_7F4A_7C15;
    for round in 0..20 {
        let _ = std::fs::remove_file(dir.path().join("written"));
        std::fs::write(dir.path().join("next"), (last + 1).to_string()).unwrap();
        let mut child = spawn_child(WRITES_UNTIL_KILLED, dir.path());
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
fn child_holds_the_lock(dir: &Path) {
    let store = FileStore::with_key(dir, &KEY).unwrap();
    let guard = store.lock(RECORD).unwrap();
    std::fs::write(dir.join("held"), "").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(dir.join("released"), "").unwrap();
    drop(guard);
}

fn the_store_lock_excludes_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::with_key(dir.path(), &KEY).unwrap();
    let mut child = spawn_child(HOLDS_THE_LOCK, dir.path());
    wait_for(&dir.path().join("held"), Duration::from_secs(30));
    let _guard = store.lock(RECORD).unwrap();
    assert!(
        dir.path().join("released").exists(),
        "the lock was granted while the other process held it"
    );
    assert!(child.wait().unwrap().success());
}

/// See [`common::kill_writes`]: every kill leaves each key with a complete record that was
/// written to it, never an older one than its last confirmed save.
fn grant_records_under_several_keys_survive_random_kills_across_a_thousand_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::with_key(dir.path(), &KEY).unwrap();
    let report = common::kill_writes::run(&store, |from| {
        Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, WRITES_GRANTS)
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_FROM_ENV, from.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    });
    eprintln!("file store: {report:?}");
    assert!(report.kills >= 10, "too few kills landed: {report:?}");
}
