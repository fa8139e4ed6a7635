//! The Redis store: many users' grants shared by the replicas of a gateway, with one refresh
//! per grant across all of them.
//!
//! # Wiring
//! One [`RedisStore`] per tenant (its namespace), one [`Profile`](mcpauth_core::flow::Profile)
//! per user, and one [`Session`](crate::Session) per store, shared by every request:
//!
//! ```no_run
//! # fn main() -> mcpauth::Result<()> {
//! use std::sync::Arc;
//! use mcpauth::store::{RedisStore, StoreKey};
//!
//! let store = RedisStore::open("redis://127.0.0.1:6379/", "tenant-a", StoreKey::from_env()?)?;
//! let session = mcpauth::Session::builder(Arc::new(store)).build()?;
//! // Per request: session.with_profile(user's profile).access_token(server).await
//! # let _ = session;
//! # Ok(())
//! # }
//! ```
//!
//! A profile name is 1–64 of `[A-Za-z0-9._-]`; a user id that is not one (an email address, a
//! UUID with braces) must be mapped by the gateway, e.g. to the hex SHA-256 of the id
//! truncated to 64 characters. Every replica must use the same namespace, profile mapping and
//! [`StoreKey`] (from `MCPAUTH_STORE_KEY` in a secret manager).
//!
//! # Layout
//! A record is the Redis string `mcpauth:<namespace>:<record key>`, sealed as the file store
//! seals it ([`seal`](super::seal): the record key is the associated data, so a value copied to
//! another key does not open). A lock is `mcpauth:<namespace>:lock:<lock name>`. Grants can
//! expire ([`with_grant_ttl`](RedisStore::with_grant_ttl)) so that the grants of users who
//! left do not pile up; every save (each refresh) starts the time-to-live again.
//!
//! # The lock, its guarantees and its limits
//! [`lock`](TokenStore::lock) takes `SET <lock> <random token> NX PX <lease>`, retrying with a
//! bounded backoff until it is granted or [`with_lock_wait`](RedisStore::with_lock_wait) has
//! passed (then an [`Error::Store`]). While the guard lives, a thread extends the lease every
//! lease/3 with a script that extends it only while it still holds our token; dropping the
//! guard stops that thread and deletes the lock with a compare-and-delete script, so a holder
//! never deletes a lock that someone else took after its lease lapsed. (That drop makes one
//! round trip to Redis, bounded by a 5 s I/O time-out; a release that fails is left to the
//! lease.) A process that dies holding a lock blocks that grant's refreshes for at most one
//! lease.
//!
//! A lease is not a proof of ownership: a process paused longer than the lease (a long GC, a
//! stopped VM) or a failover to a replica that had not seen the lock lets a second holder in.
//! So the lock is *fenced*: while a store holds `refresh#X`, its save (or delete, after an
//! `invalid_grant`) of the grant `grant#X` is one script that writes only if the lock still
//! holds its token, and fails with [`Error::Store`] ("the refresh lock was lost") otherwise. The worst a lost lock can cause is
//! then a second refresh attempt whose result is refused: never an older grant written over a
//! newer one. With an authorization server that detects refresh-token reuse, that second
//! attempt can still cost the user their grant (as any reuse would); a lease longer than the
//! refresh's HTTP time-out makes it rare. Redis Cluster is not supported (a fenced save touches
//! two keys in different slots): use one primary, with Sentinel for failover.
//!
//! # Failures
//! Every operation that cannot reach Redis fails with [`Error::Store`] naming Redis and its
//! address. The store keeps no broken connection: after a Redis restart, the next operations
//! connect again by themselves.
//!
//! # Why the `redis` crate
//! Its synchronous API fits [`TokenStore`], which drivers call through `spawn_blocking`; `fred`
//! is async-only (a runtime inside each call) and resolves to 84 crates against `redis`'s 45
//! (`cargo tree -e normal`, default features off, `redis` with `script`).

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mcpauth_core::flow::store::{GRANT_PREFIX, grant_key_for_lock, key_for_messages};
use mcpauth_core::{Entropy as _, OsEntropy};
use redis::{Connection, RedisError, Script};

use super::seal::{Sealer, StoreKey};
use super::{StoreLock, TokenStore};
use crate::error::{Error, Result};

/// What follows `mcpauth:<namespace>:` in a lock's Redis key.
const LOCK_INFIX: &str = "lock:";
/// How long to wait for a connection, and for each answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_LEASE: Duration = Duration::from_secs(15);
const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(60);
/// The first and the longest pause between two attempts to take a lock.
const BACKOFF_START: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_millis(200);

/// Extends the lease `KEYS[1]` to `ARGV[2]` ms if it still holds our token `ARGV[1]`.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Deletes the lock `KEYS[1]` if it still holds our token `ARGV[1]`.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Sets the record `KEYS[2]` to `ARGV[2]` (expiring after `ARGV[3]` ms unless that is 0) if
/// the lock `KEYS[1]` still holds our token `ARGV[1]`.
const FENCED_SAVE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[3] ~= '0' then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1";

/// Deletes the record `KEYS[2]` if the lock `KEYS[1]` still holds our token `ARGV[1]`.
const FENCED_DELETE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[2])
return 1";

/// Login records in Redis, namespaced by tenant, sealed with a [`StoreKey`], with locks that
/// work across processes and machines. See the [module documentation](self) for the layout,
/// the lock's guarantees and how to wire it into a gateway.
pub struct RedisStore {
    shared: Arc<Shared>,
    sealer: Sealer,
    grant_ttl: Option<Duration>,
    lease: Duration,
    lock_wait: Duration,
}

/// What the store shares with the guards of its locks.
struct Shared {
    client: redis::Client,
    /// `Redis at host:port`, for messages (never the URL: it may hold a password).
    place: String,
    /// `mcpauth:<namespace>:`.
    prefix: String,
    /// Connections not in use. One that failed is dropped, never put back.
    idle: Mutex<Vec<Connection>>,
    /// Record key → (lock's Redis key, our token), for each held lock that guards a record.
    fences: Mutex<HashMap<String, (String, String)>>,
}

/// The client holds the URL (and a password in it): `Debug` shows the address and namespace.
impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("place", &self.shared.place)
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis server at `url` (`redis://[:password@]host:port/db`, or
    /// `rediss://` with the `redis` crate's TLS) for the records of tenant `namespace`, sealed
    /// with `key`.
    ///
    /// # Errors
    /// [`Error::Config`] when `namespace` is not 1–64 of `[A-Za-z0-9._-]` or `url` is not a
    /// Redis URL; [`Error::Store`] when the server does not answer a `PING`.
    pub fn open(url: &str, namespace: &str, key: StoreKey) -> Result<Self> {
        let valid = (1..=64).contains(&namespace.len())
            && namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(Error::Config {
                reason: format!(
                    "Redis store namespace `{namespace}` must be 1-64 of A-Z, a-z, 0-9, `.`, `_`, \
                     `-`; map tenant ids that are not (e.g. to a hash)"
                ),
            });
        }
        let client = redis::Client::open(url).map_err(|e| Error::Config {
            reason: format!("the Redis store URL is not a Redis URL: {e}"),
        })?;
        let place = format!("Redis at {}", client.get_connection_info().addr());
        let store = Self {
            shared: Arc::new(Shared {
                client,
                place,
                prefix: format!("mcpauth:{namespace}:"),
                idle: Mutex::new(Vec::new()),
                fences: Mutex::new(HashMap::new()),
            }),
            sealer: Sealer::new(key.bytes()),
            grant_ttl: None,
            lease: DEFAULT_LEASE,
            lock_wait: DEFAULT_LOCK_WAIT,
        };
        store
            .shared
            .run("reach", |c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    /// Grants (`grant#…` records) expire `ttl` after their last save, so that the grants of
    /// users who stopped coming do not stay forever. Choose it longer than the authorization
    /// server's refresh-token lifetime: a grant that has expired here must log in again.
    #[must_use]
    pub fn with_grant_ttl(mut self, ttl: Duration) -> Self {
        self.grant_ttl = Some(ttl);
        self
    }

    /// The lease of a lock (15 s unless set; at least 30 ms), renewed every third of it while
    /// the guard lives. A process that dies holding a lock blocks that grant's refreshes for
    /// at most this long.
    #[must_use]
    pub fn with_lock_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// How long [`lock`](TokenStore::lock) waits for a lock someone else holds (60 s unless
    /// set) before it fails.
    #[must_use]
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The keys of this namespace that start with `prefix`, sorted (e.g. [`GRANT_PREFIX`] for
    /// the logins). Uses `SCAN`, which never blocks the server the way `KEYS` does.
    ///
    /// # Errors
    /// [`Error::Store`] when Redis cannot be reached.
    pub fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let pattern = format!(
            "{}{}*",
            glob_escape(&self.shared.prefix),
            glob_escape(prefix)
        );
        let found = self.shared.run("list the keys in", |c| {
            let mut found = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query(c)?;
                found.extend(batch);
                if next == 0 {
                    return Ok(found);
                }
                cursor = next;
            }
        })?;
        let mut keys: Vec<String> = found
            .iter()
            .filter_map(|k| std::str::from_utf8(k).ok())
            .filter_map(|k| k.strip_prefix(&self.shared.prefix))
            .filter(|k| !k.starts_with(LOCK_INFIX))
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys.dedup(); // SCAN may return a key twice
        Ok(keys)
    }

    fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.shared.prefix)
    }

    fn ttl_for(&self, key: &str) -> Option<Duration> {
        self.grant_ttl.filter(|_| key.starts_with(GRANT_PREFIX))
    }

    /// The error of a fenced save or delete whose lock someone else holds now.
    fn lock_lost(&self, key: &str, done: &str) -> Error {
        Error::Store {
            reason: format!(
                "the refresh lock was lost (its lease lapsed or {} failed over) before `{key}` \
                 was {done}; left as it is, so a newer record another process may have written \
                 stays",
                self.shared.place
            ),
        }
    }

    /// One `SET NX PX`: our token if the lock was free.
    fn try_lock(&self, lock_key: &str) -> Result<Option<String>> {
        let token = random_token()?;
        let set: Option<String> = self.shared.run("lock", |c| {
            redis::cmd("SET")
                .arg(lock_key)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(millis(self.lease))
                .query(c)
        })?;
        Ok(set.map(|_| token))
    }
}

impl TokenStore for RedisStore {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let redis_key = self.redis_key(key);
        let value: Option<Vec<u8>> = self
            .shared
            .run("read from", |c| redis::cmd("GET").arg(&redis_key).query(c))?;
        // A pending login's key holds its `state`: not for messages.
        let place = format!(
            "{} key `{}{}`",
            self.shared.place,
            self.shared.prefix,
            key_for_messages(key)
        );
        value
            .map(|bytes| self.sealer.open(key, &place, &bytes))
            .transpose()
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<()> {
        if key.starts_with(LOCK_INFIX) {
            return Err(Error::Store {
                reason: format!("record key `{key}`: keys starting with `lock:` name locks"),
            });
        }
        let redis_key = self.redis_key(key);
        let sealed = self.sealer.seal(key, value)?;
        let ttl_ms = self.ttl_for(key).map_or(0, millis);
        let fence = self.shared.fences().get(key).cloned();
        let Some((lock_key, token)) = fence else {
            return self.shared.run("write to", |c| {
                let mut set = redis::cmd("SET");
                set.arg(&redis_key).arg(&sealed);
                if ttl_ms > 0 {
                    set.arg("PX").arg(ttl_ms);
                }
                set.query::<()>(c)
            });
        };
        let written: i64 = self.shared.run("write to", |c| {
            Script::new(FENCED_SAVE)
                .key(&lock_key)
                .key(&redis_key)
                .arg(&token)
                .arg(&sealed)
                .arg(ttl_ms)
                .invoke(c)
        })?;
        if written == 1 {
            return Ok(());
        }
        Err(self.lock_lost(key, "saved"))
    }

    fn delete(&self, key: &str) -> Result<()> {
        let redis_key = self.redis_key(key);
        let fence = self.shared.fences().get(key).cloned();
        let Some((lock_key, token)) = fence else {
            return self.shared.run("delete from", |c| {
                redis::cmd("DEL").arg(&redis_key).query::<()>(c)
            });
        };
        let deleted: i64 = self.shared.run("delete from", |c| {
            Script::new(FENCED_DELETE)
                .key(&lock_key)
                .key(&redis_key)
                .arg(&token)
                .invoke(c)
        })?;
        if deleted == 1 {
            return Ok(());
        }
        Err(self.lock_lost(key, "deleted"))
    }

    fn keys(&self) -> Result<Vec<String>> {
        self.keys_with_prefix("")
    }

    fn lock(&self, key: &str) -> Result<StoreLock> {
        let lock_key = format!("{}{LOCK_INFIX}{key}", self.shared.prefix);
        let deadline = Instant::now() + self.lock_wait;
        let mut pause = BACKOFF_START;
        let token = loop {
            if let Some(token) = self.try_lock(&lock_key)? {
                break token;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Store {
                    reason: format!(
                        "the lock `{key}` in {} was not granted within {:?}: another process \
                         holds it (a refresh that hangs?); try again, or raise the wait with \
                         RedisStore::with_lock_wait",
                        self.shared.place, self.lock_wait
                    ),
                });
            }
            std::thread::sleep(jittered(pause).min(deadline - now));
            pause = (pause * 2).min(BACKOFF_MAX);
        };
        let guarded = grant_key_for_lock(key);
        if let Some(record) = &guarded {
            self.shared
                .fences()
                .insert(record.clone(), (lock_key.clone(), token.clone()));
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let renewal = {
            let (shared, lock_key, token) = (self.shared.clone(), lock_key.clone(), token.clone());
            let lease = self.lease;
            std::thread::Builder::new()
                .name("mcpauth-redis-lease".into())
                .spawn(move || renew_until_stopped(&shared, &lock_key, &token, lease, &stopped))
                .map_err(|e| Error::Store {
                    reason: format!("cannot start the thread that renews a Redis lock: {e}"),
                })?
        };
        Ok(StoreLock::with_guard(RedisLease {
            shared: self.shared.clone(),
            lock_key,
            token,
            guarded,
            stop: Some(stop),
            renewal: Some(renewal),
        }))
    }
}

/// Extends the lease every third of it until the guard drops (the channel disconnects) or the
/// lock turns out to be someone else's.
fn renew_until_stopped(
    shared: &Shared,
    lock_key: &str,
    token: &str,
    lease: Duration,
    stopped: &mpsc::Receiver<()>,
) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(lease / 3) {
        let renewed = shared.run("renew a lock in", |c| {
            Script::new(RENEW)
                .key(lock_key)
                .arg(token)
                .arg(millis(lease))
                .invoke::<i64>(c)
        });
        // Lost: the fenced save will say so. A failed call is tried again next time.
        if matches!(renewed, Ok(0)) {
            return;
        }
    }
}

/// A held Redis lock: dropping it stops the renewal and deletes the lock if it is still ours.
struct RedisLease {
    shared: Arc<Shared>,
    lock_key: String,
    token: String,
    guarded: Option<String>,
    stop: Option<mpsc::Sender<()>>,
    renewal: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RedisLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLease")
            .field("lock_key", &self.lock_key)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(renewal) = self.renewal.take() {
            // It wakes at once on the disconnect; a panic in it changes nothing here.
            let _ = renewal.join();
        }
        if let Some(record) = &self.guarded {
            let mut fences = self.shared.fences();
            if fences.get(record).is_some_and(|(_, t)| *t == self.token) {
                fences.remove(record);
            }
        }
        // A failed release is not an error: the lease lapses by itself.
        let _ = self.shared.run("release a lock in", |c| {
            Script::new(RELEASE)
                .key(&self.lock_key)
                .arg(&self.token)
                .invoke::<i64>(c)
        });
    }
}

impl Shared {
    /// Runs `op` on a connection. A connection that failed is dropped with every idle one (a
    /// restart broke them all); when a reused connection fails, `op` runs once more on a new
    /// one, so that the first operation after a restart succeeds. Every `op` here may run
    /// twice: each is a read, an overwrite, or a script whose second run changes nothing.
    fn run<T>(
        &self,
        action: &str,
        op: impl Fn(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let reused = self.idle().pop();
        let (mut connection, was_reused) = match reused {
            Some(c) => (c, true),
            None => (self.connect(action)?, false),
        };
        match op(&mut connection) {
            Ok(value) => {
                self.idle().push(connection);
                Ok(value)
            }
            Err(e) if is_broken(&e) => {
                self.idle().clear();
                if !was_reused {
                    return Err(self.error(action, &e));
                }
                let mut connection = self.connect(action)?;
                let value = op(&mut connection).map_err(|e| self.error(action, &e))?;
                self.idle().push(connection);
                Ok(value)
            }
            Err(e) => Err(self.error(action, &e)),
        }
    }

    fn connect(&self, action: &str) -> Result<Connection> {
        let connection = self
            .client
            .get_connection_with_timeout(IO_TIMEOUT)
            .map_err(|e| self.error(action, &e))?;
        connection
            .set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|()| connection.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| self.error(action, &e))?;
        Ok(connection)
    }

    fn error(&self, action: &str, e: &RedisError) -> Error {
        Error::Store {
            reason: format!("cannot {action} {}: {e}", self.place),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // Each use is one push, pop or clear: a panic cannot leave it half-updated.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fences(&self) -> MutexGuard<'_, HashMap<String, (String, String)>> {
        // Each use is one map call: a panic cannot leave it half-updated.
        self.fences.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An error after which the connection is no use (as opposed to an error reply).
fn is_broken(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

/// A lock token: 128 random bits in hex, unique to one holding of one lock.
fn random_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    OsEntropy.fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `pause` plus up to half of it again, so that waiting processes do not retry in step.
fn jittered(pause: Duration) -> Duration {
    let mut byte = [0u8; 1];
    // Without entropy, an unjittered pause still works.
    let _ = OsEntropy.fill(&mut byte);
    pause + pause * u32::from(byte[0]) / 512
}

/// `d` in whole milliseconds, as Redis takes them (at least 1).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// `text` with Redis glob characters escaped, to match literally in `SCAN MATCH`.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_literally() {
        assert_eq!(glob_escape("grant#https://x/*?"), r"grant#https://x/\*\?");
        assert_eq!(glob_escape("a[b]\\"), r"a\[b\]\\");
    }

    #[test]
    fn namespaces_that_could_overlap_or_glob_are_refused() {
        let key = || StoreKey::from_bytes([1; 32]);
        for bad in ["", "a:b", "a*", "x y", &"n".repeat(65)] {
            let err = RedisStore::open("redis://127.0.0.1:1/", bad, key()).unwrap_err();
            assert_eq!(err.code(), "CONFIG", "{bad}: {err}");
        }
    }
}
