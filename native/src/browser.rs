//! Sending the user to the authorization page.
//!
//! The URL is always printed to stderr first, so a login works over SSH, in a container, or
//! when no browser starts. Then, unless told not to, the system browser is asked to open it;
//! failing to start one is not an error.
//!
//! Setting `MCPAUTH_NO_BROWSER=1` (any value but empty or `0`) has the same effect as the
//! `no_browser` flag; test suites set it so that no browser ever opens.
//!
//! `MCPAUTH_BROWSER` names a command to run instead of the system browser, with the URL as
//! its last argument (like git's `BROWSER`). The demo and tests use `curl -fsSL -o /dev/null`
//! with an authorization server that approves at once: the "browser" follows the redirect to
//! the loopback server and the login completes with no person involved.

use std::io::Write;

/// The environment variable that stops [`open`] from starting a browser.
pub const NO_BROWSER_ENV: &str = "MCPAUTH_NO_BROWSER";

/// The environment variable naming a command to open URLs with instead of the system browser.
pub const BROWSER_ENV: &str = "MCPAUTH_BROWSER";

/// Prints `url` to stderr, then opens it in the system browser unless `no_browser` is set or
/// [`NO_BROWSER_ENV`] is. Returns whether a browser was started.
pub fn open(url: &str, no_browser: bool) -> bool {
    let disabled = no_browser || disabled_by_env();
    let command = std::env::var(BROWSER_ENV)
        .ok()
        .filter(|c| !c.trim().is_empty());
    open_with(
        url,
        disabled,
        &mut std::io::stderr().lock(),
        |u| match command {
            Some(command) => run_command(&command, u),
            None => webbrowser::open(u),
        },
    )
}

/// Whether [`NO_BROWSER_ENV`] is set to a value that stops [`open`] from starting a browser.
#[must_use]
pub fn disabled_by_env() -> bool {
    env_disables(std::env::var(NO_BROWSER_ENV).ok().as_deref())
}

/// Starts `command` (split on whitespace) with `url` appended, without waiting for it: the
/// login goes on listening for the callback while it runs.
fn run_command(command: &str, url: &str) -> std::io::Result<()> {
    let mut words = command.split_whitespace();
    let program = words.next().unwrap_or_default();
    std::process::Command::new(program)
        .args(words)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map(drop)
}

/// What [`open`] does, with its output and launcher passed in.
fn open_with(
    url: &str,
    disabled: bool,
    out: &mut dyn Write,
    launch: impl FnOnce(&str) -> std::io::Result<()>,
) -> bool {
    // A closed stderr must not stop the login: the browser may still open.
    let _ = writeln!(out, "Open this URL to log in:\n\n    {url}\n");
    if disabled {
        return false;
    }
    match launch(url) {
        Ok(()) => true,
        Err(e) => {
            let _ = writeln!(
                out,
                "(could not open a browser: {e}; open the URL above by hand)"
            );
            false
        }
    }
}

/// Whether the environment variable's value disables the browser.
fn env_disables(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://as.example/authorize?client_id=a&state=s";

    #[test]
    fn the_url_is_always_printed() {
        for disabled in [true, false] {
            let mut out = Vec::new();
            open_with(URL, disabled, &mut out, |_| Ok(()));
            assert!(String::from_utf8(out).unwrap().contains(URL));
        }
    }

    #[test]
    fn no_browser_starts_when_disabled() {
        let mut out = Vec::new();
        let started = open_with(URL, true, &mut out, |_| panic!("browser launched"));
        assert!(!started);
    }

    #[test]
    fn a_browser_that_fails_to_start_is_not_fatal() {
        let mut out = Vec::new();
        let started = open_with(URL, false, &mut out, |_| {
            Err(std::io::Error::other("no display"))
        });
        assert!(!started);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(URL) && text.contains("no display"), "{text}");
    }

    #[test]
    fn the_launcher_gets_the_exact_url() {
        let mut seen = String::new();
        let started = open_with(URL, false, &mut Vec::new(), |u| {
            seen = u.to_owned();
            Ok(())
        });
        assert!(started);
        assert_eq!(seen, URL);
    }

    #[test]
    fn env_values_that_disable_the_browser() {
        assert!(env_disables(Some("1")));
        assert!(env_disables(Some("true")));
        assert!(!env_disables(Some("0")));
        assert!(!env_disables(Some("")));
        assert!(!env_disables(None));
    }
}
