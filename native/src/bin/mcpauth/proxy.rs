//! `mcpauth proxy`: serve a remote OAuth-protected MCP server as a local one.
//!
//! The bridge itself is the library's [`mcpauth::bridge`]; this file decides how a login on
//! first use reaches the person, since only the CLI knows its surroundings: `--no-login` never
//! logs in, `--device` uses the device flow, else the browser flow when a browser can be
//! opened, else the device flow when stderr is a terminal (the code is printed there), else
//! no login at all. Whatever the UI prints goes to stderr: stdout belongs to the protocol.

use std::io::IsTerminal as _;

use mcpauth::Result;
use mcpauth::bridge::Bridge;
use mcpauth::config::ServerConfig;
use mcpauth::session::{Flow, Session};

use crate::cli::ProxyArgs;
use crate::login::login_options;

/// How the proxy may log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoginChoice {
    Never,
    Browser,
    Device,
}

/// What the choice depends on, read from the process's surroundings.
struct Surroundings {
    /// A browser (or the `MCPAUTH_BROWSER` command) can be opened.
    browser: bool,
    /// stderr is a terminal, where a person can read a device code.
    terminal: bool,
}

impl Surroundings {
    fn of_this_process() -> Self {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let desktop = !cfg!(any(
            target_os = "linux",
            target_os = "freebsd",
            target_os = "openbsd",
            target_os = "netbsd"
        )) || set("DISPLAY")
            || set("WAYLAND_DISPLAY");
        Self {
            browser: !mcpauth::browser::disabled_by_env()
                && (set(mcpauth::browser::BROWSER_ENV) || desktop),
            terminal: std::io::stderr().is_terminal(),
        }
    }
}

fn choose_login(args: &ProxyArgs, around: &Surroundings) -> LoginChoice {
    if args.no_login {
        LoginChoice::Never
    } else if args.device {
        LoginChoice::Device
    } else if around.browser {
        LoginChoice::Browser
    } else if around.terminal {
        LoginChoice::Device
    } else {
        LoginChoice::Never
    }
}

pub async fn proxy(session: Session, server: ServerConfig, args: ProxyArgs) -> Result<()> {
    let mut options = login_options(&server, &args.login)?;
    let login = match choose_login(&args, &Surroundings::of_this_process()) {
        LoginChoice::Never => None,
        LoginChoice::Browser => Some(options),
        LoginChoice::Device => {
            options.flow = Flow::Device;
            Some(options)
        }
    };
    let mut bridge = Bridge::new(session, server.url.as_str(), &args.server, login)?
        .with_headers(server.headers.clone());
    if let Some(path) = &args.log {
        bridge = bridge.with_log_file(path)?;
    }
    match &args.listen {
        Some(addr) => {
            bridge
                .listen(addr, |url| eprintln!("mcpauth proxy listening on {url}"))
                .await
        }
        None => bridge.run_stdio().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn args(flags: &[&str]) -> ProxyArgs {
        let mut argv = vec!["mcpauth", "proxy"];
        argv.extend(flags);
        argv.push("https://mcp.example/mcp");
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Proxy(args) => args,
            _ => unreachable!("the proxy subcommand was parsed"),
        }
    }

    const DESKTOP: Surroundings = Surroundings {
        browser: true,
        terminal: true,
    };
    const PIPE: Surroundings = Surroundings {
        browser: false,
        terminal: false,
    };
    const SSH: Surroundings = Surroundings {
        browser: false,
        terminal: true,
    };

    #[test]
    fn no_login_wins_over_everything() {
        assert_eq!(
            choose_login(&args(&["--no-login"]), &DESKTOP),
            LoginChoice::Never
        );
    }

    #[test]
    fn device_is_used_when_asked_even_with_a_browser() {
        assert_eq!(
            choose_login(&args(&["--device"]), &DESKTOP),
            LoginChoice::Device
        );
        assert_eq!(
            choose_login(&args(&["--device"]), &PIPE),
            LoginChoice::Device
        );
    }

    #[test]
    fn a_browser_then_a_terminal_then_nothing() {
        assert_eq!(choose_login(&args(&[]), &DESKTOP), LoginChoice::Browser);
        assert_eq!(choose_login(&args(&[]), &SSH), LoginChoice::Device);
        assert_eq!(choose_login(&args(&[]), &PIPE), LoginChoice::Never);
    }

    #[test]
    fn the_documented_flags_parse() {
        let parsed = args(&[
            "--listen",
            "127.0.0.1:0",
            "--log",
            "/tmp/p.log",
            "--scope",
            "a b",
            "--client-id",
            "c",
            "--port",
            "8765",
            "--omit-resource",
            "--timeout",
            "9",
        ]);
        assert_eq!(parsed.listen.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(parsed.login.scope.as_deref(), Some("a b"));
        assert_eq!(parsed.login.port, Some(8765));
        assert!(parsed.login.omit_resource);
        assert_eq!(parsed.login.timeout, 9);
    }
}
