//! Crash safety of a store: a writer process saves grant records (the core's format) under
//! several keys, and is killed with SIGKILL at random moments; after every kill each key must
//! read back as one complete record that was written, never a torn or unreadable one.
//!
//! A test binary plays both parts. [`run`] is the test: it starts the writer with a spawn
//! function of the binary's own, kills it, checks the store, and starts it again from where it
//! got to until [`WRITES`] records are written. [`child_writes`] is the writer's part: it
//! saves records from a given number on and prints each number once its save returned.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mcpauth::store::TokenStore;
use mcpauth_core::flow::store::GrantRecord;

/// How many records the writer saves in all.
pub const WRITES: u64 = 1000;

/// How many times the writer is killed (fewer when it finishes first).
pub const KILLS: u32 = 20;

/// Set to a number to repeat a run's kill moments (each run prints its seed).
pub const SEED_ENV: &str = "MCPAUTH_TEST_KILL_SEED";

/// The keys written in turn: write `n` goes to `KEYS[n % KEYS.len()]`, so every key's
/// records are told apart by `n`.
pub const KEYS: [&str; 4] = [
    "grant#https://mcp.example/mcp",
    "grant#https://mcp.example/mcp#work",
    "grant#https://other.example/mcp",
    "grant#https://third.example/tools/mcp#ci",
];

/// The key write `n` goes to.
pub fn key_of(n: u64) -> &'static str {
    KEYS[usize::try_from(n % KEYS.len() as u64).unwrap()]
}

/// Record `n`, as the core stores a grant after a login or refresh: the tokens, the time and
/// the identity all carry `n`, so an old record and a new one differ in many places.
pub fn record(n: u64) -> Vec<u8> {
    let key = key_of(n);
    let server = key
        .strip_prefix("grant#")
        .and_then(|rest| rest.split('#').next())
        .unwrap();
    let profile = key.strip_prefix("grant#").unwrap().split('#').nth(1);
    let updated_ms = 1_767_225_600_000 + n * 60_000;
    let mut json = serde_json::json!({
        "v": 1,
        "grant": {
            "server": server,
            "resource": server,
            "issuer": "https://as.example",
            "client": {
                "issuer": "https://as.example",
                "client_id": format!("client-{}", n % 7),
                "client_secret": null,
                "auth_method": "none"
            },
            "token_endpoint": "https://as.example/token",
            "revocation_endpoint": "https://as.example/revoke",
            "send_resource": true,
            "tokens": {
                "access_token": format!("at-{n:06}-{}", "a".repeat(600)),
                "token_type": "Bearer",
                "refresh_token": format!("rt-{n:06}-{}", "r".repeat(200)),
                "expires_at": updated_ms + 3_600_000,
                "issued_at": updated_ms,
                "scope": "mcp:read mcp:write offline_access",
                "id_token": null
            },
            "updated_at": updated_ms
        },
        "identity": format!("user{n}@example.com"),
    });
    if let Some(profile) = profile {
        json["profile"] = serde_json::json!(profile);
    }
    let text = json.to_string();
    // The core reads it back as a grant record of that key: the test writes its real format.
    let parsed = GrantRecord::parse(key, &text).expect("a grant record in the core's format");
    serde_json::to_string(&parsed).unwrap().into_bytes()
}

/// The writer's part: saves records `from..WRITES` in order, printing `n` on its own line
/// once record `n`'s save returned (a pipe write of a short line is atomic, so the parent sees
/// whole lines only).
pub fn child_writes(store: &dyn TokenStore, from: u64) {
    let mut out = std::io::stdout().lock();
    for n in from..WRITES {
        store.save(key_of(n), &record(n)).unwrap();
        writeln!(out, "{n}").unwrap();
        out.flush().unwrap();
    }
}

/// A small seeded generator (SplitMix64): the same seed, the same kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn seed() -> u64 {
    match std::env::var(SEED_ENV) {
        Ok(seed) => seed.parse().expect("a number in MCPAUTH_TEST_KILL_SEED"),
        Err(_) => {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                ^ u64::from(std::process::id())
        }
    }
}

/// The writer's confirmed numbers, read from its stdout on a thread of their own.
fn confirmations(child: &mut Child) -> mpsc::Receiver<u64> {
    let stdout = child.stdout.take().expect("the writer's stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let n = line.trim().parse().expect("the writer prints numbers");
            if tx.send(n).is_err() {
                return;
            }
        }
    });
    rx
}

/// What one key holds: `None` when absent, else the number of the record, which must be
/// complete and exactly one that was written to this key.
fn stored_number(store: &dyn TokenStore, key: &str, attempted: u64) -> Option<u64> {
    let bytes = store
        .load(key)
        .unwrap_or_else(|e| panic!("{key} does not read back: {e}"))?;
    let text = std::str::from_utf8(&bytes).expect("a record is UTF-8");
    let parsed = GrantRecord::parse(key, text)
        .unwrap_or_else(|e| panic!("{key} holds a torn record ({} bytes): {e}", bytes.len()));
    let access = parsed.grant.tokens.access_token.secret().to_owned();
    let n: u64 = access
        .strip_prefix("at-")
        .and_then(|rest| rest.get(..6))
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("{key}: an access token nobody wrote"));
    assert!(n < attempted, "{key}: record {n} was never attempted");
    assert_eq!(
        key_of(n),
        key,
        "{key} holds record {n}, written to another key"
    );
    assert!(
        bytes == record(n),
        "{key}: record {n} differs from what was written"
    );
    Some(n)
}

/// What a run came to, for the test's report.
#[derive(Debug)]
pub struct Report {
    /// The seed of the kill moments.
    pub seed: u64,
    /// Kills that landed while the writer was still writing.
    pub kills: u32,
    /// Saves attempted in all (at least [`WRITES`]: a write cut short is written again).
    pub saves: u64,
    /// How long the whole run took.
    pub elapsed: Duration,
}

/// The test: runs the writer (`spawn(from)` starts it with records `from..`), kills it
/// [`KILLS`] times at seeded random moments, and after every kill checks each key of `store`
/// (see [`stored_number`]): absent only before its first write, never older than its last
/// confirmed save, and at most the one save that was under way when the kill came.
pub fn run(store: &dyn TokenStore, spawn: impl Fn(u64) -> Child) -> Report {
    let started = Instant::now();
    let seed = seed();
    eprintln!("kill test seed {seed} (set {SEED_ENV}={seed} to repeat it)");
    let mut rng = Rng(seed);
    let mut next = 0;
    let mut kills = 0;
    let mut saves = 0;
    // The newest save each key confirmed, which it must never fall behind.
    let mut confirmed: [Option<u64>; KEYS.len()] = [None; KEYS.len()];
    while next < WRITES {
        let mut child = spawn(next);
        let rx = confirmations(&mut child);
        let kill = kills < KILLS;
        let mut last = None;
        if kill {
            // Somewhere in the next ~1.5 × WRITES / KILLS saves, at a random microsecond.
            let target = next + rng.below(WRITES / u64::from(KILLS) * 3 / 2);
            while last.is_none_or(|l| l < target) && last != Some(WRITES - 1) {
                match rx.recv_timeout(Duration::from_secs(30)) {
                    Ok(n) => last = Some(n),
                    Err(e) => panic!("the writer stopped confirming saves after {last:?}: {e}"),
                }
            }
            std::thread::sleep(Duration::from_micros(rng.below(3000)));
            child.kill().unwrap(); // SIGKILL: no destructor runs, nothing is flushed
        }
        let status = child.wait().unwrap();
        // Every line the writer got out before it died.
        while let Ok(n) = rx.recv_timeout(Duration::from_secs(10)) {
            last = Some(n);
        }
        if !kill {
            assert!(status.success(), "the writer failed: {status}");
        }
        let attempted = if status.success() {
            WRITES
        } else {
            kills += 1;
            last.map_or(next, |l| l + 1) + 1
        };
        saves += attempted - next;
        for n in next..last.map_or(next, |l| l + 1) {
            confirmed[usize::try_from(n % KEYS.len() as u64).unwrap()] = Some(n);
        }
        let mut newest = None;
        let mut present = Vec::new();
        for (i, key) in KEYS.iter().enumerate() {
            let stored = stored_number(store, key, attempted);
            match (stored, confirmed[i]) {
                (None, Some(c)) => panic!("{key} vanished after its save {c} (seed {seed})"),
                (Some(s), Some(c)) => {
                    assert!(s >= c, "{key} went back from {c} to {s} (seed {seed})");
                }
                _ => {}
            }
            if stored.is_some() {
                present.push((*key).to_owned());
            }
            newest = newest.max(stored);
        }
        let mut listed = store.keys().unwrap();
        listed.sort();
        present.sort();
        assert_eq!(listed, present, "the store lists exactly the keys written");
        // Start again after the newest record that landed (the one under way may have).
        next = newest.map_or(0, |n| n + 1);
    }
    for (i, key) in KEYS.iter().enumerate() {
        let last = WRITES - KEYS.len() as u64 + i as u64;
        assert_eq!(
            stored_number(store, key, WRITES),
            Some(last),
            "{key} ends with its last record"
        );
    }
    Report {
        seed,
        kills,
        saves,
        elapsed: started.elapsed(),
    }
}
