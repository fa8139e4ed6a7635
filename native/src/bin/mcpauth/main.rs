//! `mcpauth`: log in to MCP servers from a terminal.
//!
//! ```text
//! mcpauth login <server> [--device | --paste] [--scope S] [--client-id ID] [--port P] [--no-browser] [--timeout SECS]
//! mcpauth token <server>      # a fresh access token on stdout, nothing else
//! mcpauth status              # every login: server, issuer, scopes, expiry
//! mcpauth logout <server>     # revoke (when supported) and forget
//! ```
//!
//! `<server>` is an MCP server URL or the name of a server in the configuration file.
#![forbid(unsafe_code)]

mod ui;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mcpauth::config::{Config, ServerConfig};
use mcpauth::session::{Flow, LoginOptions, ManualEndpoints, PreRegisteredClient, Session};
use mcpauth::store::default_store;
use mcpauth::ui::LoginUi as _;
use mcpauth::{Error, Result};
use mcpauth_core::{ClientSecret, Policy};

use crate::ui::TerminalUi;

/// Environment variable holding a static bearer token, used instead of OAuth by `token`.
const BEARER_TOKEN_ENV: &str = "MCPAUTH_BEARER_TOKEN";

#[derive(Parser)]
#[command(name = "mcpauth", version, about = "OAuth 2.1 logins for MCP servers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Allow plain-http authorization servers on non-loopback hosts. For test setups only:
    /// tokens then cross the network in clear.
    #[arg(long, global = true, hide = true)]
    dangerously_allow_insecure_http: bool,
    /// Accept MCP servers of the 2025-03-26 revision (authorization server at the MCP
    /// server's origin, default endpoints).
    #[arg(long, global = true)]
    legacy_2025_03_26: bool,
    /// Seconds each HTTP request may take.
    #[arg(long, global = true, default_value_t = 30)]
    http_timeout: u64,
}

impl Cli {
    /// The checks in force for `server`: the defaults, weakened only where a flag or the
    /// server's configuration says so.
    fn policy(&self, server: Option<&ServerConfig>, assume_pkce_s256: bool) -> Policy {
        let mut policy = Policy::default();
        policy.dangerously_allow_insecure_http = self.dangerously_allow_insecure_http;
        policy.legacy_2025_03_26_fallbacks = self.legacy_2025_03_26;
        policy.dangerously_assume_pkce_s256 =
            assume_pkce_s256 || server.is_some_and(|s| s.dangerously_assume_pkce_s256);
        policy
    }
}

#[derive(Subcommand)]
enum Command {
    /// Log in to an MCP server (discovery, registration, authorization in the browser).
    Login(LoginArgs),
    /// Print a valid access token for a server on stdout, refreshing it if needed.
    Token {
        /// Server URL or configured name.
        server: String,
        /// Read a static bearer token from this file instead of using OAuth.
        #[arg(long)]
        bearer_token_file: Option<PathBuf>,
    },
    /// Show every login.
    Status,
    /// Revoke and forget the tokens for a server.
    Logout {
        /// Server URL or configured name.
        server: String,
    },
}

#[derive(Args, Clone)]
struct LoginArgs {
    /// Server URL or configured name.
    server: String,
    /// Use the device flow (enter a code on another device).
    #[arg(long, conflicts_with = "paste")]
    device: bool,
    /// Paste the address the browser was redirected to (for SSH sessions).
    #[arg(long)]
    paste: bool,
    /// Scopes to request (space-separated), instead of the server's challenge or list.
    #[arg(long)]
    scope: Option<String>,
    /// A pre-registered client id (skips registration).
    #[arg(long)]
    client_id: Option<String>,
    /// A file holding the pre-registered client's secret.
    #[arg(long, requires = "client_id")]
    client_secret_file: Option<PathBuf>,
    /// The https URL of this client's ID metadata document, for servers that support it.
    #[arg(long)]
    client_metadata_url: Option<String>,
    /// The authorization server's issuer, skipping protected resource metadata.
    #[arg(long)]
    issuer: Option<String>,
    /// A fixed port for the loopback callback (default: any free port).
    #[arg(long)]
    port: Option<u16>,
    /// Print the URL instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
    /// An extra authorization request parameter, `name=value` (repeatable).
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Leave out the RFC 8707 `resource` parameter, for authorization servers that reject it
    /// (Microsoft Entra ID). Tokens are then not bound to this server.
    #[arg(long)]
    omit_resource: bool,
    /// Seconds the whole login may take, waiting for the user included (browser, paste or
    /// device flow).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Authorize even though the authorization server does not advertise PKCE S256, trusting
    /// that it supports it. Without PKCE a stolen authorization code can be redeemed by
    /// anyone: use this only for a server you know enforces S256 without saying so.
    #[arg(long)]
    dangerously_assume_pkce_s256: bool,
}

fn parse_param(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not name=value"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(&Error::Io(e)),
    };
    let no_browser = matches!(&cli.command, Command::Login(a) if a.no_browser);
    let ui = Arc::new(TerminalUi::new(no_browser));
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = run(cli, ui.clone()) => outcome,
            _ = tokio::signal::ctrl_c() => Err(Error::Cancelled),
        }
    });
    // A prompt may still be reading stdin on a blocking thread: do not wait for it.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ui.done();
            report(&e)
        }
    }
}

/// One line saying what went wrong, one saying what to do; never a token.
fn report(e: &Error) -> ExitCode {
    eprintln!("error: {e}");
    if let Some(hint) = e.hint() {
        eprintln!("hint: {hint}");
    }
    ExitCode::FAILURE
}

async fn run(cli: Cli, ui: Arc<TerminalUi>) -> Result<()> {
    let config = Config::load()?;
    let session = |server: Option<&ServerConfig>, assume_pkce_s256: bool| {
        Session::builder(default_store()?)
            .policy(cli.policy(server, assume_pkce_s256))
            .timeout(Duration::from_secs(cli.http_timeout))
            .ui(ui.clone())
            .build()
    };
    match &cli.command {
        Command::Login(args) => {
            let server = config.resolve(&args.server)?;
            let session = session(Some(&server), args.dangerously_assume_pkce_s256)?;
            login(&session, server, args.clone()).await
        }
        Command::Token {
            server,
            bearer_token_file,
        } => {
            let session = session(None, false)?;
            token(&session, &config, server, bearer_token_file.clone()).await
        }
        Command::Status => status(&session(None, false)?),
        Command::Logout { server } => logout(&session(None, false)?, &config, server).await,
    }
}

async fn login(session: &Session, server: ServerConfig, args: LoginArgs) -> Result<()> {
    let mut options = LoginOptions::default();
    options.flow = match (args.device, args.paste) {
        (true, _) => Flow::Device,
        (_, true) => Flow::Paste,
        _ => Flow::Browser,
    };
    options.scope = args.scope.or_else(|| server.scope.clone());
    options.client = preregistered(&server, args.client_id, args.client_secret_file)?;
    options.client_metadata_url = args.client_metadata_url;
    options.issuer = args.issuer;
    options.port = args.port;
    options.timeout = Duration::from_secs(args.timeout);
    options.extra_params = server.extra_params.clone().into_iter().collect();
    options.extra_params.extend(args.params);
    options.dangerously_omit_resource = args.omit_resource || server.omit_resource;
    options.server_headers = server.headers.clone().into_iter().collect();
    if let (Some(authorization_endpoint), Some(token_endpoint)) =
        (&server.authorization_endpoint, &server.token_endpoint)
    {
        options.endpoints = Some(ManualEndpoints {
            issuer: options.issuer.clone(),
            authorization_endpoint: authorization_endpoint.clone(),
            token_endpoint: token_endpoint.clone(),
        });
    }
    let summary = session.login(server.url.as_str(), &options).await?;
    let who = summary
        .identity
        .map(|i| format!(" as {i}"))
        .unwrap_or_default();
    eprintln!(
        "Logged in to {}{who} (authorization server {}).",
        summary.grant.server, summary.grant.issuer
    );
    Ok(())
}

/// Credentials from flags, else from the configuration file.
fn preregistered(
    server: &ServerConfig,
    client_id: Option<String>,
    secret_file: Option<PathBuf>,
) -> Result<Option<PreRegisteredClient>> {
    let from_flags = client_id.is_some();
    let Some(client_id) = client_id.or_else(|| server.client_id.clone()) else {
        return Ok(None);
    };
    let client_secret = match secret_file {
        Some(path) => Some(read_secret(&path)?),
        None if !from_flags => server.client_secret()?,
        None => None,
    };
    Ok(Some(PreRegisteredClient {
        client_id,
        client_secret,
        auth_method: None,
        issuer: None,
    }))
}

fn read_secret(path: &std::path::Path) -> Result<ClientSecret> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(ClientSecret::new(text.trim()))
}

async fn token(
    session: &Session,
    config: &Config,
    server: &str,
    bearer_token_file: Option<PathBuf>,
) -> Result<()> {
    let token = if let Some(path) = bearer_token_file {
        read_secret(&path)?.secret().to_owned()
    } else if let Some(token) = std::env::var(BEARER_TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
    {
        token
    } else {
        let server = config.resolve(server)?;
        session
            .access_token(server.url.as_str())
            .await?
            .secret()
            .to_owned()
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{token}")?;
    Ok(())
}

fn status(session: &Session) -> Result<()> {
    let logins = session.status()?;
    if logins.is_empty() {
        eprintln!("No logins. Run `mcpauth login <server>`.");
        return Ok(());
    }
    let rows: Vec<[String; 5]> = logins
        .iter()
        .map(|l| {
            [
                l.server.clone(),
                l.issuer.clone(),
                l.scope.clone().unwrap_or_else(|| "-".into()),
                expires(l.expires_in(), l.refreshable),
                l.identity.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["SERVER", "ISSUER", "SCOPES", "EXPIRES IN", "USER"].map(String::from);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

fn expires(left: Option<Duration>, refreshable: bool) -> String {
    let refresh = if refreshable { " (refreshable)" } else { "" };
    match left {
        None => format!("never{refresh}"),
        Some(d) if d.is_zero() => format!("expired{refresh}"),
        Some(d) => {
            let s = d.as_secs();
            let text = if s >= 3600 {
                format!("{}h{:02}m", s / 3600, s % 3600 / 60)
            } else {
                format!("{}m{:02}s", s / 60, s % 60)
            };
            format!("{text}{refresh}")
        }
    }
}

async fn logout(session: &Session, config: &Config, server: &str) -> Result<()> {
    let server = config.resolve(server)?;
    // A revocation that failed was shown as a warning when it happened.
    let warnings = session.logout(server.url.as_str()).await?;
    let revoked = if warnings.is_empty() {
        ""
    } else {
        " (the server did not confirm the revocation)"
    };
    eprintln!("Logged out of {}{revoked}.", server.url);
    Ok(())
}
