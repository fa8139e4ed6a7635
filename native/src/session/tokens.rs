//! Access tokens: the core's [`Access`] run for each ask, the stored grant, and a background
//! refresher.

use std::time::Duration;

use mcpauth_core::flow::Access;
use mcpauth_core::flow::store::{GrantRecord, grant_key};
use mcpauth_core::{AccessToken, Grant, ResourceUri};

use super::Session;
use crate::driver;
use crate::error::{Error, Result};

/// How long the refresher waits before trying again after a refresh that did not renew the
/// token (the server failed while the token was still valid).
const RETRY_AFTER: Duration = Duration::from_secs(5);

impl Session {
    /// A valid access token for `server_url`, refreshed first when it is about to expire
    /// (single-flight: see the [module docs](super)).
    ///
    /// # Errors
    /// `LOGIN_REQUIRED` when nothing is stored, the token expired without a refresh token, or
    /// the refresh token was refused (`invalid_grant`: the grant is then deleted); transport
    /// errors and time-outs of the refresh; store errors.
    pub async fn access_token(&self, server_url: &str) -> Result<AccessToken> {
        let grant = self.run_access(server_url, None).await??;
        Ok(grant.tokens.access_token)
    }

    /// The grant for `server_url` with a valid access token, refreshed first like
    /// [`access_token`](Self::access_token)'s: for callers that also show its expiry, scope or
    /// issuer.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub async fn fresh_grant(&self, server_url: &str) -> Result<Grant> {
        Ok(self.run_access(server_url, None).await??)
    }

    /// Refreshes after the server refused `rejected` (a 401), unless another caller already
    /// replaced it. Returns the token to retry with.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token); `LOGIN_REQUIRED` when there is no refresh
    /// token.
    pub async fn refresh_after_rejection(
        &self,
        server_url: &str,
        rejected: &AccessToken,
    ) -> Result<AccessToken> {
        let grant = self
            .run_access(server_url, Some(rejected.clone()))
            .await??;
        Ok(grant.tokens.access_token)
    }

    /// Runs an [`Access`]: the outer error is the driver's I/O, the inner one the machine's.
    pub(crate) async fn run_access(
        &self,
        server_url: &str,
        rejected: Option<AccessToken>,
    ) -> Result<mcpauth_core::Result<Grant>> {
        let server = match ResourceUri::parse(server_url) {
            Ok(server) => server,
            Err(e) => return Ok(Err(e)),
        };
        let access = Access::new(server, rejected, self.inner.policy.clone())
            .with_profile(self.profile.clone())
            .with_request_timeout(self.inner.timeout);
        Ok(driver::run(access, self.io(), |_| {}).await?.result)
    }

    /// The grant stored for `server_url`, as it is (not refreshed). Reads the store on this
    /// thread: from async code, prefer [`access_token`](Self::access_token).
    ///
    /// # Errors
    /// [`Error::NotLoggedIn`]; `STORE_RECORD_UNREADABLE`; store errors.
    pub fn current_grant(&self, server_url: &str) -> Result<Grant> {
        let server = ResourceUri::parse(server_url)?;
        let key = grant_key(&server, self.profile.as_ref());
        let Some(bytes) = self.store().load(&key)? else {
            return Err(Error::NotLoggedIn {
                server: server.to_string(),
            });
        };
        Ok(GrantRecord::parse(&key, &String::from_utf8_lossy(&bytes))?.grant)
    }

    /// Keeps the grant for `server_url` fresh in the background: refreshes shortly before
    /// each expiry, so a long-running tool never presents an expired token. Stops when the
    /// login is gone or cannot be refreshed; abort the handle to stop earlier.
    pub fn spawn_refresher(&self, server_url: &str) -> tokio::task::JoinHandle<Result<()>> {
        let session = self.clone();
        let server_url = server_url.to_owned();
        tokio::spawn(async move {
            loop {
                let (reader, url) = (session.clone(), server_url.clone());
                let grant = tokio::task::spawn_blocking(move || reader.current_grant(&url))
                    .await
                    .map_err(|e| Error::Store {
                        reason: format!("the store read did not complete: {e}"),
                    })??;
                let Some(at) = grant.refresh_at() else {
                    return Ok(());
                };
                tokio::time::sleep(session.now().until(at)).await;
                let fresh = session.run_access(&server_url, None).await??;
                if fresh.tokens.expires_at == grant.tokens.expires_at {
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        })
    }
}
