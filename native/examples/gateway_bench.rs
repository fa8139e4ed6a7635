//! The gateway benchmark that `scripts/bench-gateway` runs: how long a gateway waits for one
//! user's token, and how fast a fleet of replicas refreshes when many grants expire at once.
//!
//! ```text
//! gateway_bench [--quick]
//! ```
//!
//! 1. **Lookups on Redis**: 10, 1 000 and 100 000 users' grants (sealed records of one valid
//!    grant, written with the store) in a `redis-server` started here; then
//!    `session.with_profile(user).access_token(server)` for random users, one at a time
//!    (median, p90) and from concurrent tasks (lookups per second). A lookup is one `GET` and
//!    one decryption, whatever the number of users, so the numbers should not grow with it.
//! 2. **Lookups on files**: the same against a [`FileStore`] with 10 and 1 000 users (100 000
//!    would take one fsynced file each to set up; the lookup is one file read either way).
//! 3. **Refresh storm**: grants that all expired at once (each a real login at the dev server,
//!    whose clock is then moved past their lifetime), asked for by several replicas (each its
//!    own store and session on the shared Redis) with concurrent tasks each: refreshes per
//!    second, and the dev server must have seen exactly one refresh per grant.
//!
//! Prints a Markdown report: the machine, the versions, the date, then one table. `--quick`
//! runs a few iterations of each part (scripts/test runs it so that this code keeps working).
//! Runs everything on 127.0.0.1; needs `redis-server` (scripts/setup installs it).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use mcpauth::session::{LoginOptions, Profile};
use mcpauth::store::{RedisStore, StoreKey};
use mcpauth::ui::{BoxFuture, LoginUi};
use mcpauth::{FileStore, Session, TokenStore};
use mcpauth_core::DeviceAuthorization;
use mcpauth_core::Time;
use mcpauth_core::flow::store::{GrantRecord, grant_key};
use mcpauth_devserver::{Config, DevServer, DevServerHandle};
use url::Url;

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const KEY: [u8; 32] = [0x42; 32];
/// How far the storm moves the clocks: far past the 1 h token lifetime.
const EXPIRED: Duration = Duration::from_secs(2 * 3600);

/// How much of each part to run.
struct Plan {
    redis_users: &'static [usize],
    file_users: &'static [usize],
    lookups: usize,
    concurrency: usize,
    storm_grants: usize,
    replicas: usize,
    replica_tasks: usize,
}

const FULL: Plan = Plan {
    redis_users: &[10, 1_000, 100_000],
    file_users: &[10, 1_000],
    lookups: 5_000,
    concurrency: 16,
    storm_grants: 300,
    replicas: 4,
    replica_tasks: 8,
};

const QUICK: Plan = Plan {
    redis_users: &[10, 100],
    file_users: &[10],
    lookups: 40,
    concurrency: 4,
    storm_grants: 6,
    replicas: 2,
    replica_tasks: 2,
};

/// One row of the report.
struct Row {
    what: String,
    users: usize,
    median: Duration,
    p90: Duration,
    per_second: f64,
}

fn main() -> Result<()> {
    let quick = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--quick") => true,
        Some(other) => {
            return Err(format!("unknown argument {other}; usage: gateway_bench [--quick]").into());
        }
    };
    let plan = if quick { QUICK } else { FULL };
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(&plan, quick))
}

async fn bench(plan: &Plan, quick: bool) -> Result<()> {
    let redis = Redis::start()?;
    let server = DevServer::start(Config {
        auto_approve: true,
        ..Config::default()
    })
    .await?;
    let ui: Arc<dyn LoginUi> = Arc::new(FollowingUi::default());

    // One real login: its grant, copied to every user, is what the lookups read.
    let seed_store = Arc::new(RedisStore::open(
        &redis.url(),
        "bench",
        StoreKey::from_bytes(KEY),
    )?);
    let seed = Session::builder(seed_store.clone())
        .ui(ui.clone())
        .build()?;
    let grant = seed
        .login(&server.mcp_url, &LoginOptions::default())
        .await?
        .grant;
    let server_url = server.mcp_url.clone();
    let record_of = |user: usize| -> Result<(String, Vec<u8>)> {
        let profile = user_profile(user);
        let server = mcpauth_core::ResourceUri::parse(&server_url)?;
        let record = GrantRecord::new(grant.clone(), None, Some(profile.clone()));
        Ok((
            grant_key(&server, Some(&profile)),
            serde_json::to_vec(&record)?,
        ))
    };

    let mut rows = Vec::new();
    let redis_store: Arc<dyn TokenStore> = seed_store;
    let mut written = 0;
    for &users in plan.redis_users {
        let setup = Instant::now();
        fill(&redis_store, written..users, &record_of)?;
        eprintln!(
            "redis: wrote grants {written}..{users} in {:.1?}",
            setup.elapsed()
        );
        written = users;
        rows.push(lookups("Redis", &redis_store, &server, users, plan).await?);
    }

    let dir = tempfile::tempdir()?;
    let file_store: Arc<dyn TokenStore> = Arc::new(FileStore::with_key(dir.path(), &KEY)?);
    let mut written = 0;
    for &users in plan.file_users {
        let setup = Instant::now();
        fill(&file_store, written..users, &record_of)?;
        eprintln!(
            "files: wrote grants {written}..{users} in {:.1?}",
            setup.elapsed()
        );
        written = users;
        rows.push(lookups("FileStore", &file_store, &server, users, plan).await?);
    }

    let storm = storm(&redis, &server, &ui, plan).await?;
    print_report(quick, plan, &rows, &storm)?;
    server.shutdown().await;
    Ok(())
}

/// User `n`'s profile: `user-<n>`, as a gateway would map its user ids.
fn user_profile(n: usize) -> Profile {
    // `user-` and digits are always a valid profile name.
    Profile::parse(&format!("user-{n}")).unwrap_or_else(|_| unreachable!("a valid profile name"))
}

/// Saves the grants of `users` with 8 threads (each save is one round trip).
fn fill(
    store: &Arc<dyn TokenStore>,
    users: std::ops::Range<usize>,
    record_of: &(dyn Fn(usize) -> Result<(String, Vec<u8>)> + Sync),
) -> Result<()> {
    let next = AtomicUsize::new(users.start);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    loop {
                        let user = next.fetch_add(1, Ordering::Relaxed);
                        if user >= users.end {
                            return Ok(());
                        }
                        let (key, value) = record_of(user).map_err(|e| e.to_string())?;
                        store.save(&key, &value).map_err(|e| e.to_string())?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| "a writer thread panicked".to_owned())?
            })
            .collect::<Result<Vec<()>, String>>()
    })?;
    Ok(())
}

/// `plan.lookups` lookups of random users one at a time (latency), then as many from
/// `plan.concurrency` tasks (throughput). No lookup may send a request: every token is valid.
async fn lookups(
    what: &str,
    store: &Arc<dyn TokenStore>,
    server: &DevServerHandle,
    users: usize,
    plan: &Plan,
) -> Result<Row> {
    let session = Session::builder(store.clone()).build()?;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ users as u64);
    let mut times = Vec::with_capacity(plan.lookups);
    for _ in 0..plan.lookups {
        let user = session.with_profile(Some(user_profile(rng.below(users))));
        let start = Instant::now();
        user.access_token(&server.mcp_url).await?;
        times.push(start.elapsed());
    }
    times.sort();
    // `plan.lookups` > 0, so every index up to len - 1 is in range.
    let quantile = |q: f64| {
        let at = ((times.len() - 1) as f64 * q).round() as usize;
        times.get(at).copied().unwrap_or_default()
    };

    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..plan.concurrency)
        .map(|task| {
            let (session, url, done) = (session.clone(), server.mcp_url.clone(), done.clone());
            let mut rng = XorShift(0x2545_f491_4f6c_dd1d ^ (task as u64 + 1));
            let total = plan.lookups;
            tokio::spawn(async move {
                while done.fetch_add(1, Ordering::Relaxed) < total {
                    let user = session.with_profile(Some(user_profile(rng.below(users))));
                    user.access_token(&url).await?;
                }
                Ok::<(), mcpauth::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let per_second = plan.lookups as f64 / start.elapsed().as_secs_f64();
    if session.requests_sent() != 0 {
        return Err(format!(
            "{what} lookups sent {} requests: a token was not valid",
            session.requests_sent()
        )
        .into());
    }
    Ok(Row {
        what: what.to_owned(),
        users,
        median: quantile(0.5),
        p90: quantile(0.9),
        per_second,
    })
}

/// What the refresh storm measured.
struct Storm {
    grants: usize,
    elapsed: Duration,
    refreshes: u64,
    reuse: u64,
}

/// Logs `plan.storm_grants` users in, expires every grant at once, and lets `plan.replicas`
/// replicas ask for all of them; fails unless the server saw one refresh per grant.
async fn storm(
    redis: &Redis,
    server: &DevServerHandle,
    ui: &Arc<dyn LoginUi>,
    plan: &Plan,
) -> Result<Storm> {
    let open = || RedisStore::open(&redis.url(), "storm", StoreKey::from_bytes(KEY));
    let login = Session::builder(Arc::new(open()?)).ui(ui.clone()).build()?;
    let setup = Instant::now();
    for user in 0..plan.storm_grants {
        login
            .with_profile(Some(user_profile(user)))
            .login(&server.mcp_url, &LoginOptions::default())
            .await?;
    }
    eprintln!(
        "storm: {} logins in {:.1?}",
        plan.storm_grants,
        setup.elapsed()
    );

    server.advance_clock(EXPIRED);
    server.reset();
    let ahead = Arc::new(AtomicU64::new(u64::try_from(EXPIRED.as_millis())?));
    let replicas = (0..plan.replicas)
        .map(|_| {
            let ahead = ahead.clone();
            Session::builder(Arc::new(open()?))
                .clock(move || {
                    Time::from(SystemTime::now())
                        .add(Duration::from_millis(ahead.load(Ordering::Relaxed)))
                })
                .build()
        })
        .collect::<mcpauth::Result<Vec<_>>>()?;

    let start = Instant::now();
    let mut tasks = Vec::new();
    for (n, replica) in replicas.iter().enumerate() {
        // Each replica walks every user, in its own order, with its own tasks.
        let mut order: Vec<usize> = (0..plan.storm_grants).collect();
        XorShift(n as u64 + 7).shuffle(&mut order);
        let (order, next) = (Arc::new(order), Arc::new(AtomicUsize::new(0)));
        for _ in 0..plan.replica_tasks {
            let (replica, order, next, url) = (
                replica.clone(),
                order.clone(),
                next.clone(),
                server.mcp_url.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while let Some(&user) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    replica
                        .with_profile(Some(user_profile(user)))
                        .access_token(&url)
                        .await?;
                }
                Ok::<(), mcpauth::Error>(())
            }));
        }
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = start.elapsed();
    let stats = server.stats();
    if stats.refreshes != plan.storm_grants as u64 || stats.refresh_reuse_detected != 0 {
        return Err(format!(
            "the storm made {} refreshes of {} grants, {} reused refresh tokens",
            stats.refreshes, plan.storm_grants, stats.refresh_reuse_detected
        )
        .into());
    }
    Ok(Storm {
        grants: plan.storm_grants,
        elapsed,
        refreshes: stats.refreshes,
        reuse: stats.refresh_reuse_detected,
    })
}

fn print_report(quick: bool, plan: &Plan, rows: &[Row], storm: &Storm) -> Result<()> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let build = if cfg!(debug_assertions) {
        "debug build"
    } else {
        "optimized build"
    };
    println!(
        "## mcpauth gateway benchmark{}",
        if quick {
            " (--quick: too few iterations to mean anything)"
        } else {
            ""
        }
    );
    println!();
    println!("- date: {}", output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]));
    println!("- machine: {cores} CPUs (nproc), {cpu}");
    println!(
        "- {}; {}; {build}",
        output("redis-server", &["--version"]),
        output("rustc", &["--version"])
    );
    println!(
        "- Redis, the dev server and the client share this machine; Redis with `appendonly yes`, `appendfsync everysec`"
    );
    println!();
    println!(
        "| store | users | lookup median | lookup p90 | lookups/s ({} tasks) |",
        plan.concurrency
    );
    println!("|---|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} µs | {} µs | {:.0} |",
            row.what,
            row.users,
            row.median.as_micros(),
            row.p90.as_micros(),
            row.per_second
        );
    }
    println!();
    println!(
        "| refresh storm | grants | replicas × tasks | time | refreshes/s | refreshes seen | reuse detected |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| Redis + dev server | {} | {} × {} | {:.2} s | {:.0} | {} | {} |",
        storm.grants,
        plan.replicas,
        plan.replica_tasks,
        storm.elapsed.as_secs_f64(),
        storm.grants as f64 / storm.elapsed.as_secs_f64(),
        storm.refreshes,
        storm.reuse
    );
    Ok(())
}

/// A command's first line of output, or what went wrong.
fn output(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
        Err(e) => format!("{program}: {e}"),
    }
}

/// A headless user: follows the authorization URL to the loopback callback (the dev server
/// approves at once).
#[derive(Default)]
struct FollowingUi {
    client: std::sync::OnceLock<reqwest::Client>,
}

impl LoginUi for FollowingUi {
    fn authorize(&self, url: &Url) {
        let client = self
            .client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .unwrap_or_else(|_| reqwest::Client::new())
            })
            .clone();
        let url = url.clone();
        tokio::spawn(async move {
            if let Err(e) = client.get(url).send().await {
                eprintln!("gateway_bench: following the authorization URL failed: {e}");
            }
        });
    }

    fn paste_redirect(&self, _url: &Url) -> BoxFuture<'_, mcpauth::Result<String>> {
        Box::pin(async {
            Err(mcpauth::Error::Config {
                reason: "the benchmark logs in through the loopback callback only".into(),
            })
        })
    }

    fn device_code(&self, _authorization: &DeviceAuthorization) {}
}

/// A `redis-server` on a free 127.0.0.1 port in a temporary directory, killed by pid on drop.
struct Redis {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::tempdir()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(dir.path())
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ])
            .args(["--logfile", "redis.log", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start redis-server ({e}); run scripts/setup to install it")
            })?;
        let redis = Self {
            port,
            child,
            _dir: dir,
        };
        let started = Instant::now();
        // It listens once it has loaded its (empty) data and can answer.
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err("redis-server did not answer within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small deterministic generator: the same users are asked for in every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}
