//! Logging out (the core's [`Logout`]) and listing the stored logins.

use mcpauth_core::ResourceUri;
use mcpauth_core::flow::store::{GRANT_PREFIX, GrantRecord, LoginStatus};
use mcpauth_core::flow::{Event, Logout};

use super::Session;
use crate::driver;
use crate::error::{Error, Result};

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
            .with_profile(self.profile.clone())
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

    /// Every stored login, of every profile, by server and profile. Reads the store on this
    /// thread.
    ///
    /// # Errors
    /// `STORE_RECORD_UNREADABLE` for a grant this version cannot read; store errors.
    pub fn status(&self) -> Result<Vec<LoginStatus>> {
        let now = self.now();
        let mut out = Vec::new();
        for (key, bytes) in self.store().load_prefixed(GRANT_PREFIX)? {
            let record = GrantRecord::parse(&key, &String::from_utf8_lossy(&bytes))?;
            out.push(LoginStatus::of(&record, now));
        }
        out.sort_by(|a, b| (&a.server, &a.profile).cmp(&(&b.server, &b.profile)));
        Ok(out)
    }
}
