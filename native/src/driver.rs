//! The one driver loop of the tokio runtime: it runs any of the core's flow machines
//! ([`mcpauth_core::flow`]: a login, an access token, a logout) to its end with real I/O.
//!
//! 1. Send every request [`poll_transmit`](Machine::poll_transmit) yields, concurrently, with
//!    the [`HttpDriver`] (its per-request time-out and body cap).
//!    Before a request goes out, the JWTs the core wrote into it (DPoP proofs, client
//!    assertions) are dated and signed ([`Signer`]).
//! 2. Act on every event, in order: store I/O (always through `spawn_blocking`), the refresh
//!    lock (in-process, then the store's cross-process lock; held until the machine is done),
//!    the loopback listener, the UI, a credential to read (a file or an environment variable).
//!    [`Event::Done`] ends the run.
//! 3. Wait for whichever comes first: a response, a callback at the loopback server, a pasted
//!    redirect, or the machine's [`poll_timeout`](Machine::poll_timeout) (measured on the
//!    session's clock, so a test clock moved ahead moves the deadlines with it).
//! 4. Feed it back, and start again at 1.
//!
//! Nothing here knows OAuth: which request comes next, what a response means and when to give
//! up are the machine's. Dropping the future of [`run`] cancels the run; the locks it holds
//! and the loopback port are released then.
//!
//! What it does is logged with [`tracing`] (target `mcpauth::driver`), for an operator
//! debugging a login: each request at `debug` (method, the URL with query parameter names but
//! no values, the request id), each response (status, content type, body length), each
//! failure and time-out, each event by its kind, and each store operation by the kind of its
//! key (`trace`). Nothing else: records, bodies, headers, authorization URLs and store keys can
//! hold secrets, so no field that could is ever logged.
//!
//! [`run_to_authorize`] stops a login at its [`Event::Authorize`] instead of showing it: a
//! login with a fixed redirect URI has saved itself by then (the core emits the save of its
//! pending record first), and a later request resumes it from the store.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use mcpauth_core::flow::store::key_kind;
use mcpauth_core::flow::{Access, Event, Failure, Login, Logout, Machine, RequestId};
use mcpauth_core::{HttpRequest, HttpResponse, Time, UsageError};
use url::Url;

use crate::credential::read_credential;
use crate::error::{Error, Result};
use crate::http::HttpDriver;
use crate::keys::Signer;
use crate::loopback::{Callback, Listener, LoopbackServer};
use crate::store::{StoreLock, TokenStore};
use crate::ui::LoginUi;

/// The session's clock.
pub(crate) type Clock = Arc<dyn Fn() -> Time + Send + Sync>;

/// How a run waits out a pause of the machine's when nothing else can wake it (see
/// [`SessionBuilder::sleep`](crate::session::SessionBuilder::sleep)).
pub(crate) type Sleep = Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;

/// How often a device login's countdown is updated.
const COUNTDOWN_TICK: Duration = Duration::from_secs(1);

/// Everything a run talks to. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Io {
    /// Sends the machines' requests.
    pub(crate) http: HttpDriver,
    /// Where records live.
    pub(crate) store: Arc<dyn TokenStore>,
    /// How logins reach the person.
    pub(crate) ui: Arc<dyn LoginUi>,
    /// The time, as the machines see it.
    pub(crate) clock: Clock,
    /// The in-process half of [`Event::Lock`].
    pub(crate) locks: Locks,
    /// The user pastes the redirect back (the loopback port only names the redirect URI).
    pub(crate) paste: bool,
    /// Waits out the machine's pauses while nothing is in flight; `None`: the tokio timer.
    pub(crate) sleep: Option<Sleep>,
    /// Signs the JWTs the machines' requests carry (DPoP proofs, client assertions).
    pub(crate) signer: Signer,
}

/// One async mutex per lock name, shared by every run of a session.
#[derive(Clone, Default)]
pub(crate) struct Locks(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl Locks {
    fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map is still consistent: each operation is a single map call.
        let mut locks = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(locks.entry(key.to_owned()).or_default())
    }
}

/// The inputs only a [`Login`] takes; the other machines never ask for them.
pub(crate) trait Driven: Machine {
    /// The answer to [`Event::Listen`].
    fn set_redirect_uri(&mut self, now: Time, uri: &str) {
        let _ = (now, uri);
    }

    /// A callback arrived; whether it belongs to this machine.
    fn handle_callback(&mut self, now: Time, callback: &str) -> bool {
        let _ = (now, callback);
        false
    }

    /// The operation's deadline, for countdowns.
    fn deadline(&self) -> Option<Time> {
        None
    }

    /// Whether a request that could not be signed (no client key, say) is reported to the
    /// machine as a failed request rather than ending the run with the signing error. Only a
    /// logout: its revocations are best effort, and the grant is forgotten all the same.
    fn unsigned_is_failure(&self) -> bool {
        false
    }
}

impl Driven for Login {
    fn set_redirect_uri(&mut self, now: Time, uri: &str) {
        Login::set_redirect_uri(self, now, uri);
    }

    fn handle_callback(&mut self, now: Time, callback: &str) -> bool {
        Login::handle_callback(self, now, callback)
    }

    fn deadline(&self) -> Option<Time> {
        Login::deadline(self)
    }
}

impl Driven for Access {}

impl Driven for Logout {
    fn unsigned_is_failure(&self) -> bool {
        true
    }
}

/// How a run ended.
#[derive(Debug)]
pub(crate) struct Outcome<T> {
    /// What [`Event::Done`] carried.
    pub(crate) result: mcpauth_core::Result<T>,
    /// HTTP requests the run sent.
    pub(crate) requests: u64,
}

/// Runs `machine` to [`Event::Done`]. `hook` sees every event before it is acted on (to
/// collect warnings, say).
///
/// # Errors
/// What the driver's own I/O reports: the store, binding the loopback port, the UI's prompt.
/// Everything the machine decides is in [`Outcome::result`].
pub(crate) async fn run<M, H>(machine: M, io: &Io, hook: H) -> Result<Outcome<M::Output>>
where
    M: Driven,
    H: FnMut(&Event<M::Output>),
{
    match drive(machine, io, hook, false).await? {
        Ended::Done(outcome) => Ok(outcome),
        // Only a run told to stop at the authorization URL stops there.
        Ended::Authorize { .. } => Err(Error::Core(
            UsageError::InvalidState("the run stopped at an authorization it was to show").into(),
        )),
    }
}

/// Runs `machine` until it asks to send the user agent to an authorization URL, and returns
/// that URL without acting on it (`Ok(Ok(url))`); the machine is dropped there. A machine that
/// ends before that returns its outcome (`Ok(Err(outcome))`).
///
/// # Errors
/// As [`run`].
pub(crate) async fn run_to_authorize<M, H>(
    machine: M,
    io: &Io,
    hook: H,
) -> Result<std::result::Result<String, Outcome<M::Output>>>
where
    M: Driven,
    H: FnMut(&Event<M::Output>),
{
    Ok(match drive(machine, io, hook, true).await? {
        Ended::Authorize { url } => Ok(url),
        Ended::Done(outcome) => Err(outcome),
    })
}

/// Where a run stopped.
enum Ended<T> {
    /// At [`Event::Done`].
    Done(Outcome<T>),
    /// At [`Event::Authorize`], when told to stop there.
    Authorize { url: String },
}

async fn drive<M, H>(
    machine: M,
    io: &Io,
    hook: H,
    stop_at_authorize: bool,
) -> Result<Ended<M::Output>>
where
    M: Driven,
    H: FnMut(&Event<M::Output>),
{
    let mut driver = Driver {
        stop_at_authorize,
        machine,
        io,
        hook,
        in_flight: FuturesUnordered::new(),
        queued: VecDeque::new(),
        locks: Vec::new(),
        listener: None,
        answered: None,
        paste: None,
        device_expires: None,
        requests: 0,
    };
    let outcome = driver.pump().await;
    for listener in [driver.listener.take(), driver.answered.take()]
        .into_iter()
        .flatten()
    {
        listener.close().await;
    }
    outcome
}

/// What woke the loop.
enum Wake {
    Response(RequestId, std::result::Result<HttpResponse, Failure>),
    Callback(Option<Callback>),
    Pasted(Result<String>),
    Timer,
}

/// A held [`Event::Lock`]: released when dropped.
struct Held {
    _in_process: tokio::sync::OwnedMutexGuard<()>,
    _across_processes: StoreLock,
}

/// A prompt for the pasted redirect, and the URL to show again if what came back was not
/// this login's.
struct Paste<'a> {
    url: Url,
    answer: BoxFuture<'a, Result<String>>,
}

struct Driver<'a, M: Machine, H> {
    machine: M,
    io: &'a Io,
    hook: H,
    /// Stop at [`Event::Authorize`] rather than show it.
    stop_at_authorize: bool,
    in_flight: FuturesUnordered<BoxFuture<'a, Wake>>,
    /// Events drained early (to answer a callback), acted on before new ones.
    queued: VecDeque<Event<M::Output>>,
    locks: Vec<Held>,
    /// Waiting for the login's callback.
    listener: Option<Listener>,
    /// Delivered the login's callback; writing its page.
    answered: Option<Listener>,
    paste: Option<Paste<'a>>,
    device_expires: Option<Time>,
    requests: u64,
}

impl<'a, M, H> Driver<'a, M, H>
where
    M: Driven,
    H: FnMut(&Event<M::Output>),
{
    fn now(&self) -> Time {
        (self.io.clock)()
    }

    async fn pump(&mut self) -> Result<Ended<M::Output>> {
        loop {
            while let Some((id, mut request)) = self.machine.poll_transmit() {
                // The core wrote the request's JWTs; dating and signing them is I/O.
                if let Err(e) = self.io.signer.sign_request(&mut request, self.now()) {
                    if !self.machine.unsigned_is_failure() {
                        return Err(e.into());
                    }
                    tracing::debug!(request = id.index(), code = e.code(), "not signed");
                    let reason = e.to_string();
                    self.machine
                        .handle_failure(self.now(), id, Failure::Transport { reason });
                    continue;
                }
                self.requests += 1;
                tracing::debug!(
                    request = id.index(),
                    method = request.method.as_str(),
                    url = %request.redacted_url(),
                    body_len = request.body.len(),
                    "sending request"
                );
                self.in_flight
                    .push(Box::pin(send(&self.io.http, id, request)));
            }
            let event = self
                .queued
                .pop_front()
                .or_else(|| self.machine.poll_event());
            match event {
                Some(event) => {
                    tracing::debug!(event = event.kind(), "event");
                    (self.hook)(&event);
                    match event {
                        Event::Done(result) => {
                            let requests = self.requests;
                            match &result {
                                Ok(_) => tracing::debug!(requests, "done"),
                                Err(e) => tracing::debug!(requests, code = e.code(), "failed"),
                            }
                            return Ok(Ended::Done(Outcome { result, requests }));
                        }
                        Event::Authorize { url } if self.stop_at_authorize => {
                            return Ok(Ended::Authorize { url });
                        }
                        event => self.perform(event).await?,
                    }
                }
                None => self.wait().await?,
            }
        }
    }

    async fn perform(&mut self, event: Event<M::Output>) -> Result<()> {
        let ui = &self.io.ui;
        match event {
            Event::Load { key } => {
                let wanted = key.clone();
                let bytes = blocking(self.io, move |s| s.load(&wanted)).await?;
                tracing::trace!(key = key_kind(&key), found = bytes.is_some(), "store load");
                let record = bytes.map(|b| String::from_utf8_lossy(&b).into_owned());
                self.machine.handle_loaded(self.now(), &key, record);
            }
            Event::Save { key, record } => {
                tracing::trace!(key = key_kind(&key), len = record.len(), "store save");
                blocking(self.io, move |s| s.save(&key, record.as_bytes())).await?;
            }
            Event::Delete { key } => {
                tracing::trace!(key = key_kind(&key), "store delete");
                blocking(self.io, move |s| s.delete(&key)).await?;
            }
            Event::Lock { key } => {
                tracing::trace!(key = key_kind(&key), "taking lock");
                let in_process = self.io.locks.get(&key).lock_owned().await;
                let across_processes = blocking(self.io, move |s| s.lock(&key)).await?;
                self.locks.push(Held {
                    _in_process: in_process,
                    _across_processes: across_processes,
                });
                tracing::trace!("lock held");
                self.machine.handle_locked(self.now());
            }
            Event::Listen {
                port,
                required,
                path,
            } => self.listen(port, required, path)?,
            Event::Authorize { url } => self.authorize(&url)?,
            Event::ForeignCallback => ui.foreign_callback(),
            Event::DeviceCode(authorization) => {
                self.device_expires = Some(authorization.expires_at);
                ui.device_code(&authorization);
            }
            Event::Credential { source } => {
                let read = tokio::task::spawn_blocking(move || read_credential(&source))
                    .await
                    .unwrap_or_else(|e| Err(format!("the read did not complete: {e}")));
                tracing::debug!(read = read.is_ok(), "credential");
                self.machine.handle_credential(self.now(), read);
            }
            Event::Warning(warning) => ui.warning(&Error::Core(warning)),
            // Done ends the loop before this; events of a newer core need nothing from here.
            _ => {}
        }
        Ok(())
    }

    /// Binds the loopback port asked for (any other if it is taken and not required), and
    /// tells the machine the redirect URI.
    fn listen(&mut self, port: Option<u16>, required: bool, path: &str) -> Result<()> {
        let server = match LoopbackServer::bind(port, path) {
            Err(_) if !required && port.is_some() => LoopbackServer::bind(None, path)?,
            bound => bound?,
        };
        let redirect_uri = server.redirect_uri();
        tracing::debug!(%redirect_uri, "listening for the callback");
        self.machine.set_redirect_uri(self.now(), &redirect_uri);
        if !self.io.paste {
            self.listener = Some(server.listen()?);
        }
        Ok(())
    }

    fn authorize(&mut self, url: &str) -> Result<()> {
        let url = Url::parse(url).map_err(|e| {
            let invalid = UsageError::InvalidUrl {
                what: "authorization URL",
                // It carries the login's state: not for messages.
                url: String::new(),
                reason: e.to_string(),
            };
            Error::Core(invalid.into())
        })?;
        if self.io.paste {
            let answer = self.io.ui.paste_redirect(&url);
            self.paste = Some(Paste { url, answer });
        } else {
            self.io.ui.authorize(&url);
        }
        Ok(())
    }

    /// Waits for a response, a callback, a pasted redirect or the machine's timeout, and
    /// feeds it back.
    async fn wait(&mut self) -> Result<()> {
        let now = self.now();
        let timeout = self.machine.poll_timeout();
        let mut wake = timeout.map(|at| now.until(at));
        if let Some(expires) = self.device_expires {
            let end = self.machine.deadline().map_or(expires, |d| d.min(expires));
            self.io.ui.device_waiting(now.until(end));
            wake = Some(wake.map_or(COUNTDOWN_TICK, |w| w.min(COUNTDOWN_TICK)));
        }
        let idle = self.in_flight.is_empty() && self.listener.is_none() && self.paste.is_none();
        if idle && wake.is_none() {
            let stuck =
                UsageError::InvalidState("the flow neither finished nor waits for anything");
            return Err(Error::Core(stuck.into()));
        }
        let until = wake.map(|w| tokio::time::Instant::now() + w);
        // Only a pure pause goes to the session's sleep: a request or a person could answer
        // any time, and their deadlines stay on real time.
        let pause = match (&self.io.sleep, wake) {
            (Some(sleep), Some(wake)) if idle => Some(sleep(wake)),
            _ => None,
        };
        let timer = async move {
            match pause {
                Some(pause) => pause.await,
                None => sleep(until).await,
            }
        };
        let woke = tokio::select! {
            Some(wake) = self.in_flight.next(), if !self.in_flight.is_empty() => wake,
            callback = next_callback(&mut self.listener) => Wake::Callback(callback),
            pasted = next_paste(&mut self.paste) => Wake::Pasted(pasted),
            () = timer => Wake::Timer,
        };
        let now = self.now();
        match woke {
            Wake::Response(id, Ok(response)) => {
                tracing::debug!(
                    request = id.index(),
                    status = response.status,
                    content_type = response.header("content-type").unwrap_or(""),
                    body_len = response.body.len(),
                    "response"
                );
                self.machine.handle_response(now, id, response);
            }
            Wake::Response(id, Err(failure)) => {
                match &failure {
                    Failure::Transport { reason } => {
                        tracing::debug!(request = id.index(), %reason, "request failed");
                    }
                    Failure::Timeout => tracing::debug!(request = id.index(), "request timed out"),
                    _ => tracing::debug!(request = id.index(), "request aborted"),
                }
                self.machine.handle_failure(now, id, failure);
            }
            Wake::Callback(Some(callback)) => self.callback(now, callback),
            Wake::Callback(None) => {
                return Err(Error::Callback {
                    reason: "the loopback listener stopped before the login's callback came".into(),
                });
            }
            Wake::Pasted(pasted) => self.pasted(now, &pasted?),
            Wake::Timer => {
                if timeout.is_some_and(|at| now >= at) {
                    tracing::trace!("timeout");
                    self.machine.handle_timeout(now);
                }
            }
        }
        Ok(())
    }

    /// Asks the machine whether `callback` is the login's, and answers the browser: a success
    /// page, a failure page (the login ended with an error at once: the redirect carried one,
    /// or failed a check), or an error page for a callback that is not this login's.
    fn callback(&mut self, now: Time, callback: Callback) {
        if !self.machine.handle_callback(now, callback.target()) {
            tracing::debug!("callback ignored: not this login's");
            return callback.ignore();
        }
        tracing::debug!("callback received");
        while let Some(event) = self.machine.poll_event() {
            self.queued.push_back(event);
        }
        let failed = self.queued.iter().find_map(|event| match event {
            Event::Done(Err(e)) => Some(e.to_string()),
            _ => None,
        });
        match failed {
            Some(message) => callback.fail(message),
            None => callback.accept(),
        }
        self.answered = self.listener.take();
    }

    /// A pasted redirect: the login's, or else (the machine said so with
    /// [`Event::ForeignCallback`]) the prompt comes again.
    fn pasted(&mut self, now: Time, pasted: &str) {
        let Some(paste) = self.paste.take() else {
            return;
        };
        let belongs = self.machine.handle_callback(now, pasted.trim());
        tracing::debug!(belongs, "pasted redirect");
        if !belongs {
            let answer = self.io.ui.paste_redirect(&paste.url);
            self.paste = Some(Paste {
                url: paste.url,
                answer,
            });
        }
    }
}

/// Sends `request` and reports what came of it as the machines take it.
async fn send(http: &HttpDriver, id: RequestId, request: HttpRequest) -> Wake {
    let outcome = http.send(request).await.map_err(|e| match e {
        Error::Timeout { .. } => Failure::Timeout,
        Error::Transport { reason, .. } => Failure::Transport { reason },
        other => Failure::Transport {
            reason: other.to_string(),
        },
    });
    Wake::Response(id, outcome)
}

/// Runs `f` on the store in the blocking pool, as the store's docs demand.
async fn blocking<T, F>(io: &Io, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&dyn TokenStore) -> Result<T> + Send + 'static,
{
    let store = Arc::clone(&io.store);
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| Error::Store {
            reason: format!("the store operation did not complete: {e}"),
        })?
}

async fn next_callback(listener: &mut Option<Listener>) -> Option<Callback> {
    match listener {
        Some(listener) => listener.next().await,
        None => std::future::pending().await,
    }
}

async fn next_paste(paste: &mut Option<Paste<'_>>) -> Result<String> {
    match paste {
        Some(paste) => (&mut paste.answer).await,
        None => std::future::pending().await,
    }
}

async fn sleep(until: Option<tokio::time::Instant>) {
    match until {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
