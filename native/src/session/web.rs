//! Logins whose redirect comes back to a web server, not to a loopback listener: a gateway or
//! web app with a registered redirect URI such as `https://gateway.example/callback`.
//!
//! The login is split at the redirect, as the browser's round trip splits it:
//! [`Session::begin_login`] runs the core's [`Login`] with a fixed redirect URI up to the
//! authorization URL (the core has saved the login by then, as a pending record under
//! `pending#<state>`), and [`Session::complete_login`], called by whichever request (or
//! replica) receives the callback, resumes it from the store with [`Login::resume`] and runs
//! it to the stored grant. The grant goes to the profile of the session that *began* the
//! login: the pending record carries it, and [`LoginSummary::profile`] names it.
//!
//! Whoever holds the authorization URL can finish the login, with their own account at the
//! authorization server. A gateway with its own authentication should therefore check, at
//! the callback, that the user who came back is the one the summary's profile belongs to (or
//! bind the `state` to the user's session), and log the grant out otherwise.
//!
//! The store must be one both requests reach (a gateway's replicas: the Redis store).

use mcpauth_core::flow::login::Redirect;
use mcpauth_core::flow::store::{PendingLogin, pending_key_for_callback};
use mcpauth_core::flow::{Event, Login, Machine as _};
use mcpauth_core::{OsEntropy, UsageError};

use super::{LoginOptions, LoginSummary, Session};
use crate::driver;
use crate::error::{Error, Result};

impl Session {
    /// Starts a login to `server_url` whose authorization response is redirected to
    /// `redirect_uri` (registered with the authorization server exactly as given; https, or
    /// http on a loopback host): discovery and client identity, then the authorization URL,
    /// which it returns. Send the user agent there; hand the request that arrives at
    /// `redirect_uri` to [`complete_login`](Self::complete_login).
    ///
    /// [`LoginOptions::flow`] and [`LoginOptions::port`] are ignored; the login is saved in
    /// the store until [`LoginOptions::timeout`] passes (a callback after that fails with
    /// `TIMEOUT`).
    ///
    /// # Errors
    /// Any core error before the authorization (discovery, issuer/resource checks, client
    /// registration), store and transport errors.
    pub async fn begin_login(
        &self,
        server_url: &str,
        redirect_uri: &str,
        options: &LoginOptions,
    ) -> Result<String> {
        let mut config = self.login_config(server_url, options)?;
        config.redirect = Redirect::Fixed {
            uri: redirect_uri.to_owned(),
        };
        let login = Login::new(config, self.now(), &mut OsEntropy)?;
        let io = crate::driver::Io {
            paste: false,
            ..self.login_io(options)
        };
        match driver::run_to_authorize(login, &io, |_| {}).await? {
            Ok(url) => Ok(url),
            Err(outcome) => match outcome.result {
                Err(e) => Err(e.into()),
                Ok(_) => Err(Error::Core(
                    UsageError::InvalidState("the login ended without an authorization").into(),
                )),
            },
        }
    }

    /// Completes the login begun by [`begin_login`](Self::begin_login), on this or any other
    /// session over the same store, with the URL the authorization server redirected the user
    /// agent to (its path and query are enough): the core checks it (`state`, RFC 9207 `iss`,
    /// an error response), exchanges the code and stores the grant under the profile the
    /// login was begun for. One use: the pending login is deleted.
    ///
    /// # Errors
    /// [`Error::NoPendingLogin`] when no login waits for the callback's `state` (used already,
    /// timed out, or begun on another store); the authorization server's error the callback
    /// carries; `TIMEOUT` after the login's deadline; code exchange, store and transport errors.
    pub async fn complete_login(&self, callback_url: &str) -> Result<LoginSummary> {
        let key = pending_key_for_callback(callback_url).ok_or(Error::NoPendingLogin)?;
        let store = std::sync::Arc::clone(&self.io().store);
        let wanted = key.clone();
        let record = tokio::task::spawn_blocking(move || store.load(&wanted))
            .await
            .map_err(|e| Error::Store {
                reason: format!("the store operation did not complete: {e}"),
            })??
            .ok_or(Error::NoPendingLogin)?;
        let record = String::from_utf8_lossy(&record);
        let profile = PendingLogin::parse(&key, &record)?.profile;
        let mut login = Login::resume(&key, &record)?;
        // The callback's state named the record, so it belongs; should the core still refuse
        // it, the login ends (deleting its record) rather than waiting for another callback.
        if !login.handle_callback(self.now(), callback_url) {
            login.abort();
        }
        let mut warnings = Vec::new();
        let outcome = driver::run(login, self.io(), |event| {
            if let Event::Warning(warning) = event {
                warnings.push(warning.clone());
            }
        })
        .await?;
        let done = outcome.result?;
        Ok(LoginSummary {
            grant: done.grant,
            identity: done.identity,
            profile,
            requests: outcome.requests,
            warnings,
        })
    }
}
