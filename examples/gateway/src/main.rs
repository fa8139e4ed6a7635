//! # mcpauth-gateway: an example MCP gateway on mcpauth
//!
//! **The `X-Gateway-User` header is NOT authentication.** This example believes whatever user
//! id a client sends, so anyone who can reach it can act with any user's upstream grant. It
//! stands in for the authentication your gateway already has (a session cookie, a verified
//! JWT, mTLS): put the gateway behind that, have it set the header from the verified
//! identity, and strip any header of that name that clients send. Never expose it as it is.
//!
//! What it shows: one MCP endpoint for many users, each with their own OAuth grant at the
//! upstream MCP server, kept in Redis and shared by every replica, with one refresh per grant
//! across all of them (the Redis store's lock plus the core's re-read of the grant under it).
//!
//! - `POST /mcp` with `X-Gateway-User: <id>`: the body goes to the upstream with that user's
//!   token ([`mcpauth::AuthClient`]: a 401 refreshes once and retries); the upstream's status,
//!   content type, `Mcp-Session-Id` and body come back. A user with no grant (or one the
//!   server revoked) gets `401 {"error":"login_required","login_url":"..."}`.
//! - `GET /callback`: where the authorization server sends the user back
//!   (`<public-url>/callback`, registered as the redirect URI); completes the login.
//! - `GET /healthz`: `ok`.
//!
//! User ids map to the core's profiles with [`user::profile_for`].
//!
//! Whoever holds a login URL can finish that login with their own upstream account. Behind
//! real authentication, `/callback` should also check that the user who comes back is the one
//! the login was for ([`mcpauth::LoginSummary::profile`]), and log the grant out otherwise;
//! this example, having no users of its own, cannot.

mod args;
mod routes;
mod user;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use mcpauth::store::{RedisStore, StoreKey};
use mcpauth::ui::ConsoleUi;
use mcpauth::{Error, Session};

use args::Args;
use routes::Gateway;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcpauth-gateway: {e} [{}]", e.code());
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> mcpauth::Result<()> {
    let store = RedisStore::open(&args.redis, &args.namespace, StoreKey::from_env()?)?
        .with_lock_lease(Duration::from_millis(args.lock_lease_ms));
    let session = Session::builder(Arc::new(store))
        // Warnings (a refresh that failed while the token was still valid) go to stderr; no
        // login here ever opens a browser on the gateway's host.
        .ui(Arc::new(ConsoleUi { no_browser: true }))
        .client_name("mcpauth-gateway")
        .build()?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    let bound = listener.local_addr()?;
    let public_url = args.public_url.unwrap_or_else(|| format!("http://{bound}"));
    let gateway = Gateway::new(session, args.upstream, &public_url)?;
    eprintln!("gateway listening on http://{bound}");
    axum::serve(listener, routes::router(gateway))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(Error::Io)
}
