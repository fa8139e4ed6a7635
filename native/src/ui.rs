//! How a login talks to the person logging in (or to a test harness standing in for them).
//!
//! The core's machines decide *what* happens; a [`LoginUi`] decides how it is shown: the CLI
//! prints the URL, opens a browser and draws a QR code and a countdown; tests and the
//! conformance client "click approve" over HTTP instead.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use mcpauth_core::DeviceAuthorization;
use url::Url;

use crate::error::{Error, Result};

/// A boxed future, so that the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a login shows and asks.
pub trait LoginUi: Send + Sync {
    /// The user must open `url` to authorize (browser flow). The callback arrives at the
    /// loopback server; this returns at once.
    fn authorize(&self, url: &Url);

    /// The user must open `url` and then paste the address the browser was redirected to
    /// (when the browser cannot reach this machine's loopback port, as over SSH).
    fn paste_redirect(&self, url: &Url) -> BoxFuture<'_, Result<String>>;

    /// The device flow started: show the user code and where to enter it (RFC 8628 §3.3).
    fn device_code(&self, authorization: &DeviceAuthorization);

    /// The device flow is still waiting; `remaining` until the code expires or the login
    /// times out. Called about once a second.
    fn device_waiting(&self, remaining: Duration) {
        let _ = remaining;
    }

    /// A callback without this login's `state` reached the loopback server (or was pasted)
    /// and was ignored: a forged request, or a browser tab of an earlier login. The login
    /// goes on; say so at once, so that a user who clicked an old tab is not left waiting.
    fn foreign_callback(&self) {}

    /// Something went wrong that did not fail the operation: a revocation the server refused,
    /// a refresh that failed while the token was still valid, a userinfo request that failed.
    fn warning(&self, warning: &Error) {
        let _ = warning;
    }

    /// The login succeeded: clear spinners and prompts.
    fn done(&self) {}
}

/// What [`LoginUi::foreign_callback`] prints on a terminal.
pub const FOREIGN_CALLBACK_NOTICE: &str = "Ignored a callback with a mismatched state (a forged \
     request, or a tab from an earlier login); still waiting.";

/// Prints to stderr and opens the system browser: what a plain embedding gets by default.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConsoleUi {
    /// Do not try to open a browser (the URL is printed either way).
    pub no_browser: bool,
}

impl LoginUi for ConsoleUi {
    fn authorize(&self, url: &Url) {
        crate::browser::open(url.as_str(), self.no_browser);
    }

    fn paste_redirect(&self, url: &Url) -> BoxFuture<'_, Result<String>> {
        eprintln!("Open this URL in a browser and log in:\n\n  {url}\n");
        eprintln!(
            "Then paste the full address the browser ends up on (it may show an error page):"
        );
        self.paste_line()
    }

    fn device_code(&self, a: &DeviceAuthorization) {
        eprintln!(
            "To log in, open {} and enter the code {}",
            a.verification_uri, a.user_code
        );
        if let Some(complete) = &a.verification_uri_complete {
            eprintln!("(or open {complete})");
        }
    }

    fn foreign_callback(&self) {
        eprintln!("{FOREIGN_CALLBACK_NOTICE}");
    }

    fn warning(&self, warning: &Error) {
        eprintln!("warning: {warning}");
    }
}

impl ConsoleUi {
    /// Reads the pasted line from stdin without blocking the runtime.
    pub fn paste_line(&self) -> BoxFuture<'static, Result<String>> {
        Box::pin(read_line())
    }
}

/// Reads one line from stdin without blocking the runtime.
async fn read_line() -> Result<String> {
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|_| crate::Error::Cancelled)??;
    Ok(line.trim().to_owned())
}
