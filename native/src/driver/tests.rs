//! The driver loop with a scripted machine: what it sends, when it wakes, what it stores,
//! which locks it holds, how it answers callbacks.

use super::*;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::store::MemoryStore;
use crate::ui::BoxFuture;

/// A machine that sends what it is given, asks for the events it is given, logs every input,
/// and is done once nothing is left to wait for.
#[derive(Default)]
struct Fake {
    transmits: VecDeque<(RequestId, HttpRequest)>,
    outstanding: usize,
    events: VecDeque<Event<Vec<String>>>,
    timeout: Option<Time>,
    waiting: bool,
    done: bool,
    log: Vec<String>,
    /// Where to tell the test the redirect URI.
    redirect: Option<Arc<Mutex<Option<String>>>>,
}

impl Fake {
    fn sending(urls: &[Url]) -> Self {
        let mut fake = Self::default();
        for (n, url) in urls.iter().enumerate() {
            let id = serde_json::from_value(serde_json::json!(n + 1)).unwrap();
            fake.transmits
                .push_back((id, HttpRequest::get_json(url.clone())));
        }
        fake.outstanding = urls.len();
        fake
    }

    fn asking(events: Vec<Event<Vec<String>>>) -> Self {
        Self {
            events: events.into(),
            ..Self::default()
        }
    }
}

impl Machine for Fake {
    type Output = Vec<String>;

    fn poll_transmit(&mut self) -> Option<(RequestId, HttpRequest)> {
        self.transmits.pop_front()
    }

    fn handle_response(&mut self, _now: Time, id: RequestId, response: HttpResponse) {
        self.outstanding -= 1;
        self.log.push(format!("{id:?} {}", response.status));
    }

    fn handle_failure(&mut self, _now: Time, id: RequestId, failure: Failure) {
        self.outstanding -= 1;
        let failure = match failure {
            Failure::Transport { .. } => "transport",
            Failure::Timeout => "timeout",
            Failure::Aborted => "aborted",
        };
        self.log.push(format!("{id:?} {failure}"));
    }

    fn poll_timeout(&self) -> Option<Time> {
        self.timeout
    }

    fn handle_timeout(&mut self, _now: Time) {
        self.timeout = None;
        self.log.push("timeout".into());
    }

    fn handle_loaded(&mut self, _now: Time, key: &str, record: Option<String>) {
        self.waiting = false;
        self.log.push(format!("loaded {key} {record:?}"));
    }

    fn handle_locked(&mut self, _now: Time) {
        self.waiting = false;
        self.log.push("locked".into());
    }

    fn abort(&mut self) {}

    fn poll_event(&mut self) -> Option<Event<Vec<String>>> {
        let idle = self.outstanding == 0 && self.timeout.is_none() && !self.waiting;
        if self.events.is_empty() && idle && !self.done {
            self.done = true;
            self.events.push_back(Event::Done(Ok(self.log.clone())));
        }
        let event = self.events.pop_front()?;
        if matches!(
            event,
            Event::Load { .. } | Event::Lock { .. } | Event::Listen { .. }
        ) {
            self.waiting = true;
        }
        Some(event)
    }
}

impl Driven for Fake {
    fn set_redirect_uri(&mut self, _now: Time, uri: &str) {
        if let Some(redirect) = &self.redirect {
            *redirect.lock().unwrap() = Some(uri.to_owned());
        }
    }

    fn handle_callback(&mut self, _now: Time, callback: &str) -> bool {
        if callback.contains("state=good") {
            self.waiting = false;
            self.log.push(format!("callback {callback}"));
            true
        } else {
            self.events.push_back(Event::ForeignCallback);
            false
        }
    }
}

#[derive(Default)]
struct CountingUi {
    foreign: AtomicUsize,
}

impl LoginUi for CountingUi {
    fn authorize(&self, _url: &Url) {}

    fn paste_redirect(&self, _url: &Url) -> BoxFuture<'_, Result<String>> {
        Box::pin(async { Err(Error::Cancelled) })
    }

    fn device_code(&self, _authorization: &mcpauth_core::DeviceAuthorization) {}

    fn foreign_callback(&self) {
        self.foreign.fetch_add(1, Ordering::SeqCst);
    }
}

fn io_with(ui: Arc<CountingUi>, clock: Clock, timeout: Duration) -> Io {
    Io {
        http: HttpDriver::new(timeout).unwrap(),
        store: Arc::new(MemoryStore::new()),
        ui,
        clock,
        locks: Locks::default(),
        paste: false,
        sleep: None,
        signer: crate::keys::Signer::default(),
    }
}

fn io() -> Io {
    let clock: Clock = Arc::new(|| Time::from(SystemTime::now()));
    io_with(Arc::default(), clock, Duration::from_secs(5))
}

async fn finish(fake: Fake, io: &Io) -> Vec<String> {
    let run = run(fake, io, |_| {});
    let outcome = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run ends")
        .unwrap();
    outcome.result.unwrap()
}

/// A server that holds each request `hold` before answering 200 (or forever when `None`), and
/// notes when each arrived and was answered.
async fn server(hold: Option<Duration>) -> (SocketAddr, Arc<Mutex<Vec<(Instant, Instant)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let spans: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let log = spans.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let arrived = Instant::now();
                let mut head = [0u8; 1024];
                let _ = stream.read(&mut head).await;
                match hold {
                    Some(hold) => tokio::time::sleep(hold).await,
                    None => std::future::pending().await,
                }
                log.lock().unwrap().push((arrived, Instant::now()));
                let resp = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
                let _ = stream.write_all(resp).await;
            });
        }
    });
    (addr, spans)
}

fn url(addr: SocketAddr, path: &str) -> Url {
    Url::parse(&format!("http://{addr}{path}")).unwrap()
}

#[tokio::test]
async fn transmits_are_sent_at_once_and_every_response_is_fed_back() {
    let (addr, spans) = server(Some(Duration::from_millis(300))).await;
    let fake = Fake::sending(&[url(addr, "/a"), url(addr, "/b"), url(addr, "/c")]);
    let io = io();
    let outcome = run(fake, &io, |_| {}).await.unwrap();
    let mut log = outcome.result.unwrap();
    log.sort();
    assert_eq!(
        log,
        ["RequestId(1) 200", "RequestId(2) 200", "RequestId(3) 200"]
    );
    assert_eq!(outcome.requests, 3);
    let spans = spans.lock().unwrap();
    let last_arrival = spans.iter().map(|s| s.0).max().unwrap();
    let first_answer = spans.iter().map(|s| s.1).min().unwrap();
    assert!(
        last_arrival < first_answer,
        "every request must be out before the first is answered"
    );
}

#[tokio::test]
async fn a_stalled_request_is_a_timeout_and_a_refused_one_a_transport_failure() {
    let (stalled, _) = server(None).await;
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let clock: Clock = Arc::new(|| Time::from(SystemTime::now()));
    let io = io_with(Arc::default(), clock, Duration::from_millis(300));
    let fake = Fake::sending(&[url(stalled, "/slow"), url(refused, "/gone")]);
    let mut log = finish(fake, &io).await;
    log.sort();
    assert_eq!(log, ["RequestId(1) timeout", "RequestId(2) transport"]);
}

#[tokio::test]
async fn store_events_are_performed_in_order_and_loads_answered() {
    let fake = Fake::asking(vec![
        Event::Save {
            key: "k".into(),
            record: "one".into(),
        },
        Event::Load { key: "k".into() },
        Event::Delete { key: "k".into() },
        Event::Load { key: "k".into() },
    ]);
    let io = io();
    let log = finish(fake, &io).await;
    assert_eq!(log, [r#"loaded k Some("one")"#, "loaded k None"]);
    assert!(io.store.keys().unwrap().is_empty());
}

#[tokio::test]
async fn a_lock_is_held_until_done_and_released_when_a_run_is_dropped() {
    let io = io();
    let holder = {
        let io = io.clone();
        let mut fake = Fake::asking(vec![Event::Lock { key: "l".into() }]);
        fake.timeout = Some((io.clock)().add(Duration::from_secs(3600)));
        tokio::spawn(async move { run(fake, &io, |_| {}).await.map(|_| ()) })
    };
    // The holder has the lock once a second run cannot get it.
    let second = || {
        let io = io.clone();
        async move { finish(Fake::asking(vec![Event::Lock { key: "l".into() }]), &io).await }
    };
    let mut waited = false;
    for _ in 0..100 {
        if tokio::time::timeout(Duration::from_millis(50), second())
            .await
            .is_err()
        {
            waited = true;
            break;
        }
    }
    assert!(waited, "the lock was never held");
    holder.abort();
    let log = tokio::time::timeout(Duration::from_secs(5), second())
        .await
        .expect("the lock was released when the holder was dropped");
    assert_eq!(log, ["locked"]);
}

#[tokio::test]
async fn timeouts_are_measured_on_the_session_clock() {
    // A clock an hour ahead: the machine's timeout, 200 ms from its now, comes in 200 ms.
    let clock: Clock = Arc::new(|| Time::from(SystemTime::now()).add(Duration::from_secs(3600)));
    let io = io_with(Arc::default(), clock.clone(), Duration::from_secs(5));
    let fake = Fake {
        timeout: Some(clock().add(Duration::from_millis(200))),
        ..Fake::default()
    };
    let started = Instant::now();
    let log = finish(fake, &io).await;
    assert_eq!(log, ["timeout"]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_pause_goes_to_the_session_sleep_but_a_request_in_flight_is_awaited_in_real_time() {
    let (addr, _) = server(Some(Duration::from_millis(300))).await;
    // A clock the session's sleep moves ahead by each pause, as a test clock does.
    let ahead: Arc<Mutex<Duration>> = Arc::default();
    let read = ahead.clone();
    let clock: Clock = Arc::new(move || Time::from(SystemTime::now()).add(*read.lock().unwrap()));
    let mut io = io_with(Arc::default(), clock, Duration::from_secs(5));
    let pauses: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let seen = pauses.clone();
    io.sleep = Some(Arc::new(move |pause| {
        seen.lock().unwrap().push(pause);
        *ahead.lock().unwrap() += pause;
        Box::pin(async {})
    }));
    let mut fake = Fake::sending(&[url(addr, "/slow")]);
    fake.timeout = Some((io.clock)().add(Duration::from_secs(3600)));
    let started = Instant::now();
    let log = finish(fake, &io).await;
    assert_eq!(
        log,
        ["RequestId(1) 200", "timeout"],
        "the hour passed only once the response was in"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the hour did not pass in real time"
    );
    let pauses = pauses.lock().unwrap();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert!(pauses[0] > Duration::from_secs(3590), "{pauses:?}");
}

#[tokio::test]
async fn a_machine_that_waits_for_nothing_is_an_error_not_a_hang() {
    let fake = Fake {
        waiting: true,
        ..Fake::default()
    };
    let io = io();
    let outcome = tokio::time::timeout(Duration::from_secs(5), run(fake, &io, |_| {}))
        .await
        .expect("no hang");
    assert_eq!(outcome.unwrap_err().code(), "INVALID_STATE");
}

/// The status of a GET of `url` on 127.0.0.1.
async fn get(url: &str) -> u16 {
    let url = Url::parse(url).unwrap();
    let port = url.port().unwrap();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let target = &url[url::Position::BeforePath..];
    let head = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    raw.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_taken_port_is_replaced_unless_required_and_callbacks_are_judged_by_the_machine() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let listen = |required| Event::Listen {
        port: Some(port),
        required,
        path: "/callback",
    };

    let err = run(Fake::asking(vec![listen(true)]), &io(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PORT_IN_USE");

    let ui = Arc::new(CountingUi::default());
    let clock: Clock = Arc::new(|| Time::from(SystemTime::now()));
    let io = io_with(ui.clone(), clock, Duration::from_secs(5));
    let mut fake = Fake::asking(vec![listen(false)]);
    let redirect: Arc<Mutex<Option<String>>> = Arc::default();
    fake.redirect = Some(redirect.clone());
    let browser = async {
        let redirect = loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if let Some(uri) = redirect.lock().unwrap().clone() {
                break uri;
            }
        };
        assert!(!redirect.contains(&format!(":{port}/")), "{redirect}");
        let forged = get(&format!("{redirect}?code=x&state=bad")).await;
        let real = get(&format!("{redirect}?code=x&state=good")).await;
        (forged, real)
    };
    let (log, (forged, real)) = tokio::join!(finish(fake, &io), browser);
    assert_eq!((forged, real), (400, 200));
    assert_eq!(ui.foreign.load(Ordering::SeqCst), 1);
    assert_eq!(log.last().unwrap(), "callback /callback?code=x&state=good");
    drop(taken);
}
