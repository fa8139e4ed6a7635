//! Logging out (the core's [`Logout`]) and listing the stored logins.

use std::time::Duration;

use mcpauth_core::ResourceUri;
use mcpauth_core::flow::store::{GRANT_PREFIX, GrantRecord};
use mcpauth_core::flow::{Event, Logout};

use super::Session;
use crate::driver;
use crate::error::{Error, Result};

/// One stored login, for `status`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginStatus {
    /// The MCP server.
    pub server: String,
    /// The issuer.
    pub issuer: String,
    /// Granted scopes.
    pub scope: Option<String>,
    /// Time left on the access token (`None`: no expiry given; zero: expired).
    pub expires_in: Option<Duration>,
    /// Whether a refresh token is stored.
    pub refreshable: bool,
    /// Who logged in, as the login showed it (ID token or userinfo). Display only.
    pub identity: Option<String>,
}

impl From<mcpauth_core::flow::store::LoginStatus> for LoginStatus {
    fn from(status: mcpauth_core::flow::store::LoginStatus) -> Self {
        Self {
            server: status.server,
            issuer: status.issuer,
            scope: status.scope,
            expires_in: status.expires_in_ms.map(Duration::from_millis),
            refreshable: status.refreshable,
            identity: status.identity,
        }
    }
}

impl Session {
    /// Forgets the grant for `server_url`, then revokes it (RFC 7009, when the server offers
    /// it). A revocation that fails does not undo the logout: it is returned as a warning
    /// (and shown by the UI).
    ///
    /// # Errors
    /// `LOGIN_REQUIRED` when nothing is stored for the server; store errors.
    pub async fn logout(&self, server_url: &str) -> Result<Vec<Error>> {
        let server = ResourceUri::parse(server_url)?;
        let logout = Logout::new(server, true, self.inner.policy.clone())
            .with_request_timeout(self.inner.timeout);
        let mut warnings = Vec::new();
        let outcome = driver::run(logout, self.io(), |event| {
            if let Event::Warning(warning) = event {
                warnings.push(Error::Core(warning.clone()));
            }
        })
        .await?;
        outcome.result?;
        Ok(warnings)
    }

    /// Every stored login, by server. Reads the store on this thread.
    ///
    /// # Errors
    /// `STORE_RECORD_UNREADABLE` for a grant this version cannot read; store errors.
    pub fn status(&self) -> Result<Vec<LoginStatus>> {
        let now = self.now();
        let mut out = Vec::new();
        for key in self.store().keys()? {
            if !key.starts_with(GRANT_PREFIX) {
                continue;
            }
            let Some(bytes) = self.store().load(&key)? else {
                continue;
            };
            let record = GrantRecord::parse(&key, &String::from_utf8_lossy(&bytes))?;
            let status = mcpauth_core::flow::store::LoginStatus::of(&record, now);
            out.push(LoginStatus::from(status));
        }
        out.sort_by(|a, b| a.server.cmp(&b.server));
        Ok(out)
    }
}
