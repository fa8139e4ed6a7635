//! The terminal face of a login: the URL (and a browser), the device code with a QR code
//! (when stderr is a terminal), a countdown while polling, a prompt for the pasted redirect
//! over SSH, and a line at once for a callback that was ignored or a warning.
//!
//! Everything goes to stderr, so `mcpauth token` keeps stdout for the token alone.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use mcpauth::ui::{BoxFuture, FOREIGN_CALLBACK_NOTICE, LoginUi};
use mcpauth_core::DeviceAuthorization;
use url::Url;

/// Prompts on the terminal.
pub struct TerminalUi {
    pub no_browser: bool,
    spinner: Mutex<Option<ProgressBar>>,
}

impl TerminalUi {
    pub fn new(no_browser: bool) -> Self {
        Self {
            no_browser,
            spinner: Mutex::new(None),
        }
    }

    fn spinner(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.spinner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Prints `line` to stderr above the spinner, if one is running.
    fn say(&self, line: &str) {
        match self.spinner().as_ref() {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

impl LoginUi for TerminalUi {
    fn authorize(&self, url: &Url) {
        mcpauth::browser::open(url.as_str(), self.no_browser);
        let bar = ProgressBar::new_spinner().with_message("waiting for the browser to come back…");
        bar.enable_steady_tick(Duration::from_millis(120));
        *self.spinner() = Some(bar);
    }

    fn paste_redirect(&self, url: &Url) -> BoxFuture<'_, mcpauth::Result<String>> {
        eprintln!("Open this URL in a browser on any machine and log in:\n\n  {url}\n");
        eprintln!(
            "The browser then tries to open http://127.0.0.1:…/callback, which fails there.\n\
             Copy that whole address from the address bar and paste it here:"
        );
        mcpauth::ui::ConsoleUi::default().paste_line()
    }

    fn device_code(&self, a: &DeviceAuthorization) {
        let target = a
            .verification_uri_complete
            .as_ref()
            .unwrap_or(&a.verification_uri);
        // A QR code in a log file or a pipe is only noise.
        let qr = std::io::stderr()
            .is_terminal()
            .then(|| qr(target.as_str()))
            .flatten();
        if let Some(qr) = &qr {
            eprintln!("{qr}");
        }
        eprintln!("Open {} and enter the code:\n", a.verification_uri);
        eprintln!("    {}\n", a.user_code);
        match (&a.verification_uri_complete, &qr) {
            (Some(_), Some(_)) => eprintln!("(or scan the code above, or open {target})"),
            (Some(_), None) => eprintln!("(or open {target})"),
            (None, _) => {}
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        *self.spinner() = Some(bar);
    }

    fn device_waiting(&self, remaining: Duration) {
        if let Some(bar) = self.spinner().as_ref() {
            let secs = remaining.as_secs();
            bar.set_message(format!(
                "waiting for approval… {}:{:02} left",
                secs / 60,
                secs % 60
            ));
        }
    }

    fn foreign_callback(&self) {
        self.say(FOREIGN_CALLBACK_NOTICE);
    }

    fn warning(&self, warning: &mcpauth::Error) {
        self.say(&format!("warning: {warning}"));
    }

    fn done(&self) {
        if let Some(bar) = self.spinner().take() {
            bar.finish_and_clear();
        }
    }
}

/// A QR code of `data` drawn with half blocks, two rows per line.
fn qr(data: &str) -> Option<String> {
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}
