use super::*;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const STATE: &str = "s-0123456789";
const ISSUER: &str = "https://as.example";
const WAIT: Duration = Duration::from_secs(10);

fn pending(iss_supported: bool) -> PendingAuthorization {
    serde_json::from_value(serde_json::json!({
        "issuer": ISSUER,
        "iss_parameter_supported": iss_supported,
        "token_endpoint": "https://as.example/token",
        "client_id": "client-1",
        "redirect_uri": "http://127.0.0.1:1/callback",
        "resource": "https://mcp.example/mcp",
        "scope": null,
        "state": STATE,
        "verifier": "v".repeat(43),
    }))
    .unwrap()
}

/// Sends one raw HTTP/1.1 request and returns the status and body. `Err` when the connection
/// is refused.
async fn request(port: u16, method: &str, target: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await?;
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    Ok((status, body.unwrap_or_default()))
}

async fn get(port: u16, target: &str) -> (u16, String) {
    request(port, "GET", target).await.unwrap()
}

fn bind() -> LoopbackServer {
    LoopbackServer::bind(None, "/callback").unwrap()
}

#[tokio::test]
async fn valid_callback_delivers_the_code_and_shows_success() {
    let server = bind();
    let port = server.port();
    let pending = pending(true);
    let waiter = server.wait(&pending, WAIT);
    let client = async move {
        get(
            port,
            &format!("/callback?code=the-code&state={STATE}&iss=https%3A%2F%2Fas.example"),
        )
        .await
    };
    let (result, (status, body)) = tokio::join!(waiter, client);
    result.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("Login complete"), "{body}");
}

#[tokio::test]
async fn wrong_state_is_refused_and_a_later_correct_callback_still_succeeds() {
    let server = bind();
    let port = server.port();
    let pending = pending(false);
    let waiter = server.wait(&pending, WAIT);
    let client = async move {
        let forged = get(port, "/callback?code=evil&state=not-the-state").await;
        let missing = get(port, "/callback?code=evil").await;
        let malformed = get(port, "/callback?state=a&state=b").await;
        let real = get(port, &format!("/callback?code=good&state={STATE}")).await;
        (forged, missing, malformed, real)
    };
    let (result, (forged, missing, malformed, real)) = tokio::join!(waiter, client);
    assert_eq!(forged.0, 400);
    assert!(forged.1.contains("state"), "{}", forged.1);
    assert_eq!(missing.0, 400);
    assert_eq!(malformed.0, 400);
    assert_eq!(real.0, 200);
    result.unwrap();
}

#[tokio::test]
async fn an_error_with_the_right_state_ends_the_wait_with_the_oauth_error() {
    let server = bind();
    let port = server.port();
    let pending = pending(false);
    let waiter = server.wait(&pending, WAIT);
    let target = format!(
        "/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state={STATE}"
    );
    let (result, (status, body)) = tokio::join!(waiter, async move { get(port, &target).await });
    let err = result.unwrap_err();
    assert_eq!(err.code(), "OAUTH_ERROR");
    assert_eq!(status, 400);
    assert!(body.contains("access_denied"), "{body}");
    assert!(
        !body.contains("<script>"),
        "error text must be escaped: {body}"
    );
    assert!(body.contains("&lt;script&gt;"), "{body}");
}

#[tokio::test]
async fn a_mix_up_ends_the_wait_with_the_iss_error() {
    let server = bind();
    let port = server.port();
    let pending = pending(true);
    let waiter = server.wait(&pending, WAIT);
    let target = format!("/callback?code=c&state={STATE}&iss=https%3A%2F%2Fevil.example");
    let (result, (status, _)) = tokio::join!(waiter, async move { get(port, &target).await });
    assert_eq!(result.unwrap_err().code(), "ISS_MISMATCH");
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_second_callback_after_success_is_refused() {
    let server = bind();
    let port = server.port();
    let pending = pending(false);
    let target = format!("/callback?code=c&state={STATE}");
    let first = target.clone();
    let (result, (status, _)) = tokio::join!(server.wait(&pending, WAIT), async move {
        get(port, &first).await
    });
    result.unwrap();
    assert_eq!(status, 200);
    // The port is closed once the wait returned.
    assert!(request(port, "GET", &target).await.is_err());
}

fn screen(port: u16) -> Screen {
    Screen {
        path: "/callback".into(),
        port,
        completed: AtomicBool::new(false),
    }
}

#[test]
fn a_callback_after_the_result_gets_a_refusal_page() {
    let screen = screen(1);
    assert_eq!(
        screen.screen(&Method::GET, None, "/callback?code=a&state=s"),
        None
    );
    screen.complete();
    let page = screen.screen(&Method::GET, None, "/callback?code=b&state=s");
    assert_eq!(page.map(|p| p.status), Some(StatusCode::CONFLICT));
    assert_eq!(
        screen.page(Some(Verdict::Ignored)).status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn other_paths_get_404_and_other_methods_405() {
    let server = bind();
    let port = server.port();
    let pending = pending(false);
    let waiter = server.wait(&pending, WAIT);
    let client = async move {
        let other = get(port, "/favicon.ico").await;
        let prefix = get(port, "/callback/extra?code=c").await;
        let post = request(port, "POST", "/callback?code=c").await.unwrap();
        let done = get(port, &format!("/callback?code=c&state={STATE}")).await;
        (other, prefix, post, done)
    };
    let (result, (other, prefix, post, done)) = tokio::join!(waiter, client);
    assert_eq!(other.0, 404);
    assert_eq!(prefix.0, 404);
    assert_eq!(post.0, 405);
    assert_eq!(done.0, 200);
    result.unwrap();
}

#[test]
fn a_foreign_host_header_is_refused() {
    let screen = screen(4321);
    let target = "/callback?code=a&state=s";
    let page = screen.screen(&Method::GET, Some("evil.example:4321"), target);
    assert_eq!(page.map(|p| p.status), Some(StatusCode::BAD_REQUEST));
    assert_eq!(
        screen.screen(&Method::GET, Some("127.0.0.1:4321"), target),
        None
    );
}

#[tokio::test]
async fn gives_up_after_the_timeout() {
    let server = bind();
    let pending = pending(false);
    let started = std::time::Instant::now();
    let err = server
        .wait(&pending, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_fixed_port_in_use_is_reported_as_such() {
    let taken = StdTcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = LoopbackServer::bind(Some(port), "/callback").unwrap_err();
    assert!(
        matches!(err, Error::PortInUse { port: p } if p == port),
        "{err:?}"
    );
    assert_eq!(err.code(), "PORT_IN_USE");
}

#[test]
fn a_fixed_free_port_is_used_and_named_in_the_redirect_uri() {
    // A probe finds a free port; another process could take it before we do, so retry.
    for _ in 0..5 {
        let port = StdTcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if let Ok(server) = LoopbackServer::bind(Some(port), "/cb") {
            assert_eq!(server.port(), port);
            assert_eq!(server.redirect_uri(), format!("http://127.0.0.1:{port}/cb"));
            return;
        }
    }
    panic!("no free fixed port could be bound");
}

#[test]
fn binds_127_0_0_1_only() {
    let server = bind();
    let addr = server.listener.local_addr().unwrap();
    assert_eq!(addr.ip(), std::net::IpAddr::from(Ipv4Addr::LOCALHOST));
    assert_eq!(
        server.redirect_uri(),
        format!("http://127.0.0.1:{}/callback", server.port())
    );
    // Had it bound 0.0.0.0, another loopback address could not take the same port.
    StdTcpListener::bind(("127.0.0.2", server.port())).unwrap();
}

#[test]
fn paths_must_be_absolute_without_query() {
    for bad in ["callback", "/cb?x=1", "/cb#f", ""] {
        assert!(LoopbackServer::bind(None, bad).is_err(), "{bad}");
    }
}

#[test]
fn escaping_covers_html_metacharacters() {
    assert_eq!(
        escape_html(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
}

#[test]
fn a_callback_without_this_logins_state_gets_a_page_and_does_not_end_the_wait() {
    let screen = screen(1);
    let page = screen.page(Some(Verdict::Ignored));
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.message.contains("state"), "{}", page.message);
    assert!(!screen.is_completed());
}

#[tokio::test]
async fn the_listener_hands_over_callbacks_and_answers_with_the_verdict() {
    let server = bind();
    let port = server.port();
    let mut listener = server.listen().unwrap();
    let judge = async move {
        let first = listener.next().await.unwrap();
        assert_eq!(first.target(), "/callback?state=forged");
        first.ignore();
        let second = listener.next().await.unwrap();
        second.accept();
        listener.close().await;
    };
    let client = async move {
        let forged = get(port, "/callback?state=forged").await;
        let real = get(port, "/callback?code=c&state=real").await;
        (forged, real)
    };
    let ((), (forged, real)) = tokio::join!(judge, client);
    assert_eq!(forged.0, 400);
    assert!(forged.1.contains("Not this login"), "{}", forged.1);
    assert_eq!(real.0, 200);
    assert!(request(port, "GET", "/callback?code=c").await.is_err());
}

#[tokio::test]
async fn a_callback_nobody_judges_any_more_gets_a_gone_page() {
    let server = bind();
    let port = server.port();
    let mut listener = server.listen().unwrap();
    let judge = async move {
        let callback = listener.next().await.unwrap();
        drop(callback);
        listener.close().await;
    };
    let ((), (status, body)) = tokio::join!(judge, get(port, "/callback?code=c&state=s"));
    assert_eq!(status, 410);
    assert!(body.contains("no longer waiting"), "{body}");
}

#[test]
fn waiting_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let pending = pending(false);
    let fut = bind().wait(&pending, WAIT);
    assert_send(&fut);
}
