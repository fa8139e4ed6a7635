//! `mcpauth`: log in to MCP servers from a terminal.
//!
//! ```text
//! mcpauth login <server> [--device | --paste] [--scope S] [--client-id ID] [--port P] [--no-browser] [--timeout SECS]
//! mcpauth login <server> --client-credentials --client-id ID [--client-secret-file F | --private-key FILE]
//! mcpauth login <server> --workload-token-file F | --workload-token-env VAR   # workload identity
//! mcpauth login <server> --id-token-file F | --id-token-env VAR --idp-token-endpoint URL --idp-client-id ID
//! mcpauth login <server> --dpop [--audience A]   # DPoP-bound tokens, with any of the above
//! mcpauth token <server>      # a fresh access token on stdout, nothing else
//! mcpauth status              # every login: server, issuer, scopes, expiry
//! mcpauth logout <server>     # revoke (when supported) and forget
//! mcpauth servers [--json]    # the well-known servers and the configured ones
//! mcpauth completions <bash|zsh|fish|elvish|powershell>   # a completion script on stdout
//! mcpauth proxy [--listen 127.0.0.1:PORT] [--log FILE] [--device | --no-login] <server>
//! ```
//!
//! `<server>` is an MCP server URL, the name of a server in the configuration file, or the
//! name of a well-known server (`mcpauth login linear`); `mcpauth servers` lists the names.
//! `--profile NAME` picks one of several logins to a server (two accounts, say).
//!
//! `mcpauth proxy` lets an MCP host that can only start local servers (or that speaks HTTP
//! but not OAuth) use a remote OAuth-protected one: by default it is a stdio MCP server that
//! forwards each message to `<server>` with a bearer token and writes the answers to stdout,
//! nothing else; with `--listen` it serves Streamable HTTP at `http://127.0.0.1:PORT/mcp`
//! (loopback only, refusing foreign `Host` and `Origin` headers). It logs in on first use in
//! the browser (or with the device flow on a terminal, or `--device`); with `--no-login`, or
//! when neither is possible, requests that need a login get a JSON-RPC error naming
//! `mcpauth login <server>`. It takes `login`'s options (`--scope`, `--client-id`, `--port`,
//! `--timeout`, ...). Logs go to stderr, and to `--log FILE`.
//!
//! `MCPAUTH_LOG=debug` (or `trace`; or a filter in `RUST_LOG`) prints what the login does to
//! stderr, for troubleshooting: requests, responses, events, store operations; never a secret.
#![forbid(unsafe_code)]

mod cli;
mod completions;
mod log;
mod login;
mod logout;
mod proxy;
mod servers;
mod status;
mod token;
mod ui;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use mcpauth::config::{Config, ServerConfig};
use mcpauth::session::{Profile, Session};
use mcpauth::store::default_store;
use mcpauth::ui::LoginUi as _;
use mcpauth::{Error, Result};

use crate::cli::{Cli, Command, LoginOptionArgs};
use crate::ui::TerminalUi;

fn main() -> ExitCode {
    let cli = Cli::parse();
    log::init_from_env();
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
    // Completions need no configuration, so a broken one does not break them.
    if let Command::Completions { shell } = &cli.command {
        return completions::completions(*shell);
    }
    let config = Config::load()?;
    // The profile: the flag, else the server's, else the configuration's default.
    let profile = |server: Option<&ServerConfig>| -> Result<Option<Profile>> {
        let name = cli.profile.as_deref().or_else(|| {
            server
                .and_then(|s| s.profile.as_deref())
                .or(config.profile.as_deref())
        });
        Ok(name.map(Profile::parse).transpose()?)
    };
    let session = |server: Option<&ServerConfig>, args: Option<&LoginOptionArgs>| {
        let assume_pkce_s256 = args.is_some_and(|a| a.dangerously_assume_pkce_s256);
        let mut builder = Session::builder(default_store()?)
            .policy(cli.policy(server, assume_pkce_s256))
            .timeout(Duration::from_secs(cli.http_timeout))
            .ui(ui.clone())
            .profile(profile(server)?);
        // The private_key_jwt key signs the login's assertions and those of every token
        // obtained again later (`token`, `proxy`), so the session holds it.
        if let Some(server) = server {
            let flag = args.and_then(|a| a.machine.private_key.as_deref());
            if let Some(key) = login::client_key(server, flag)? {
                builder = builder.client_key(key);
            }
        }
        builder.build()
    };
    match &cli.command {
        Command::Login(args) => {
            let server = config.resolve(&args.server)?;
            let session = session(Some(&server), Some(&args.login))?;
            login::login(&session, server, args.clone()).await
        }
        Command::Proxy(args) => {
            let server = config.resolve(&args.server)?;
            let session = session(Some(&server), Some(&args.login))?;
            proxy::proxy(session, server, args.clone()).await
        }
        Command::Token {
            server,
            bearer_token_file,
            json,
        } => {
            if let Some(bearer) = token::static_bearer(bearer_token_file.as_deref())? {
                return token::print_static(&bearer, *json);
            }
            let server = config.resolve(server)?;
            token::token(&session(Some(&server), None)?, &server, *json).await
        }
        Command::Status { json } => {
            // Every profile's logins, unless one was asked for.
            let only = cli.profile.as_deref().map(Profile::parse).transpose()?;
            status::status(&session(None, None)?, only.as_ref(), *json)
        }
        Command::Logout { server: None, .. } => {
            let only = cli.profile.as_deref().map(Profile::parse).transpose()?;
            logout::logout_all(&session(None, None)?, only.as_ref()).await
        }
        Command::Logout {
            server: Some(server),
            ..
        } => {
            let server = config.resolve(server)?;
            logout::logout(&session(Some(&server), None)?, &server).await
        }
        Command::Servers { json } => servers::servers(&config, *json),
        // Answered above, before the configuration is read.
        Command::Completions { .. } => Ok(()),
    }
}
