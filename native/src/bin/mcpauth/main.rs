//! `mcpauth`: log in to MCP servers from a terminal.
//!
//! ```text
//! mcpauth login <server> [--device | --paste] [--scope S] [--client-id ID] [--port P] [--no-browser] [--timeout SECS]
//! mcpauth token <server>      # a fresh access token on stdout, nothing else
//! mcpauth status              # every login: server, issuer, scopes, expiry
//! mcpauth logout <server>     # revoke (when supported) and forget
//! mcpauth proxy [--listen 127.0.0.1:PORT] [--log FILE] [--device | --no-login] <server>
//! ```
//!
//! `<server>` is an MCP server URL or the name of a server in the configuration file.
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
#![forbid(unsafe_code)]

mod cli;
mod login;
mod logout;
mod proxy;
mod status;
mod token;
mod ui;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use mcpauth::config::{Config, ServerConfig};
use mcpauth::session::Session;
use mcpauth::store::default_store;
use mcpauth::ui::LoginUi as _;
use mcpauth::{Error, Result};

use crate::cli::{Cli, Command};
use crate::ui::TerminalUi;

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
            let session = session(Some(&server), args.login.dangerously_assume_pkce_s256)?;
            login::login(&session, server, args.clone()).await
        }
        Command::Proxy(args) => {
            let server = config.resolve(&args.server)?;
            let session = session(Some(&server), args.login.dangerously_assume_pkce_s256)?;
            proxy::proxy(session, server, args.clone()).await
        }
        Command::Token {
            server,
            bearer_token_file,
        } => {
            let session = session(None, false)?;
            token::token(&session, &config, server, bearer_token_file.clone()).await
        }
        Command::Status => status::status(&session(None, false)?),
        Command::Logout { server } => logout::logout(&session(None, false)?, &config, server).await,
    }
}
