//! What is stored, under which key, in one versioned format that both drivers read.
//!
//! | key | record | written by |
//! |---|---|---|
//! | `grant#<server>` | [`GrantRecord`]: the one current grant of an MCP server | login, refresh; deleted by logout and `invalid_grant` |
//! | `grant#<server>#<profile>` | [`GrantRecord`]: the current grant of a [`Profile`] on that server | the same |
//! | `client#<issuer>#<flow>` | [`RegistrationRecord`]: a dynamic registration for one flow | login |
//! | `pending#<state>` | [`PendingLogin`]: a login waiting for its redirect | a login with a fixed redirect URI |
//! | `discovery#<server>` | [`DiscoveryRecord`]: what discovery found, while the server's caching headers allow | login; deleted by logout and by a login that fails after using it |
//! | `discovery#<server>#<profile>` | [`DiscoveryRecord`] of a [`Profile`]'s logins | the same |
//!
//! One grant per server (and [`Profile`]): a new login replaces the old one (and revokes it), also when the
//! server moved to another authorization server, so "which grant is current" has one answer.
//! Registrations are kept per flow because some authorization servers allow one non-refresh
//! grant type per client: a browser login registers a code-flow client, a device login a
//! device-flow client, and neither reuses the other's.
//!
//! Discovery results are kept per server (and [`Profile`]) for as long as the HTTP caching
//! headers of the metadata responses allow ([`freshness`](super::freshness)), so that a second
//! login with a kept registration makes no discovery request. A record is used only by a login
//! that would have discovered the same thing: the same `resource_metadata` URL from the
//! challenge, the same configured issuer, the same [`Policy`] (a login with configured
//! endpoints neither reads nor writes one).
//!
//! Every record carries `"v": 1`. A record from a newer version, or one that does not parse,
//! is reported as [`FlowError::UnreadableRecord`](super::error::FlowError) for grants (never
//! silently overwritten by a refresh) and ignored for registrations (a new one is made).

use serde::{Deserialize, Serialize};

use crate::authorize::PendingAuthorization;
use crate::client::ClientCredentials;
use crate::discovery::Discovered;
use crate::error::Result;
use crate::grant::Grant;
use crate::policy::{Policy, ResourceUri};
use crate::registration::Registration;
use crate::time::Time;

use super::error::FlowError;
use super::profile::Profile;

/// The record format version written by this crate.
pub const RECORD_VERSION: u32 = 1;

/// The prefix of every grant key, of every profile; list keys with it for `status`.
pub const GRANT_PREFIX: &str = "grant#";

/// The key of the current grant of `server`, for `profile` (`None`: the default login).
#[must_use]
pub fn grant_key(server: &ResourceUri, profile: Option<&Profile>) -> String {
    with_profile(format!("{GRANT_PREFIX}{}", server.as_str()), profile)
}

/// The lock that serializes refreshes of one grant ([`grant_key`]'s), in-process and across
/// processes.
#[must_use]
pub fn refresh_lock(server: &ResourceUri, profile: Option<&Profile>) -> String {
    with_profile(format!("refresh#{}", server.as_str()), profile)
}

/// The key of the grant that [`refresh_lock`] `lock` serializes refreshes of, so that a store
/// holding that lock can fence the grant's save and delete (done only while it holds the lock);
/// `None` for a name that is not a refresh lock.
#[must_use]
pub fn grant_key_for_lock(lock: &str) -> Option<String> {
    lock.strip_prefix("refresh#")
        .filter(|rest| !rest.is_empty())
        .map(|rest| format!("{GRANT_PREFIX}{rest}"))
}

/// A server URI never holds `#` (it has no fragment) and a profile cannot, so the suffix is
/// unambiguous.
fn with_profile(key: String, profile: Option<&Profile>) -> String {
    match profile {
        Some(profile) => format!("{key}#{profile}"),
        None => key,
    }
}

/// Which flow a registration was made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum RegisteredFlow {
    /// Authorization code with PKCE, for one redirect URI.
    Code,
    /// The device authorization grant.
    Device,
}

/// The key of the registration made at `issuer` for `flow`.
#[must_use]
pub fn registration_key(issuer: &str, flow: RegisteredFlow) -> String {
    let flow = match flow {
        RegisteredFlow::Code => "code",
        RegisteredFlow::Device => "device",
    };
    format!("client#{issuer}#{flow}")
}

/// The prefix of every discovery record key.
pub const DISCOVERY_PREFIX: &str = "discovery#";

/// The key of the discovery record of `server`, for `profile` (`None`: the default login).
#[must_use]
pub fn discovery_key(server: &ResourceUri, profile: Option<&Profile>) -> String {
    with_profile(format!("{DISCOVERY_PREFIX}{}", server.as_str()), profile)
}

/// The key of a login waiting for the redirect that carries `state`.
#[must_use]
pub fn pending_key(state: &str) -> String {
    format!("pending#{state}")
}

/// The key of the pending login a callback URL answers, from its `state` parameter.
#[must_use]
pub fn pending_key_for_callback(callback: &str) -> Option<String> {
    let query = callback.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "state")
        .map(|(_, state)| pending_key(&state))
}

/// What kind of record or lock `key` names (`grant`, `refresh`, `client`, `pending`,
/// `discovery`), or
/// `other`: for logs, which must not show the key itself (a pending login's key holds its
/// `state`).
#[must_use]
pub fn key_kind(key: &str) -> &'static str {
    match key.split('#').next() {
        Some("grant") => "grant",
        Some("refresh") => "refresh",
        Some("client") => "client",
        Some("pending") => "pending",
        Some("discovery") => "discovery",
        _ => "other",
    }
}

/// `key` as messages and `Debug` output may show it: a pending login's key holds its `state`,
/// so it becomes `pending#[redacted]`; other keys name a server, an issuer or a profile and
/// stay as they are.
#[must_use]
pub fn key_for_messages(key: &str) -> &str {
    match key_kind(key) {
        "pending" => "pending#[redacted]",
        _ => key,
    }
}

/// A stored grant, with who it belongs to as the login showed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[non_exhaustive]
pub struct GrantRecord {
    /// [`RECORD_VERSION`].
    pub v: u32,
    /// The grant.
    pub grant: Grant,
    /// Who logged in (ID token or userinfo), for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The profile the grant belongs to (`None`: the default login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

impl GrantRecord {
    /// A record of `grant` for `profile`.
    #[must_use]
    pub fn new(grant: Grant, identity: Option<String>, profile: Option<Profile>) -> Self {
        Self {
            v: RECORD_VERSION,
            grant,
            identity,
            profile,
        }
    }

    /// Reads the record stored under `key`.
    ///
    /// # Errors
    /// [`FlowError::UnreadableRecord`] for a record of another version or shape.
    pub fn parse(key: &str, text: &str) -> Result<Self> {
        parse(key, text)
    }
}

/// A dynamic registration, with what it was made for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[non_exhaustive]
pub struct RegistrationRecord {
    /// [`RECORD_VERSION`].
    pub v: u32,
    /// What the server returned.
    pub registration: Registration,
    /// The flow it was registered for.
    pub flow: RegisteredFlow,
    /// The one redirect URI registered (code flow): a loopback login binds its port again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
}

impl RegistrationRecord {
    /// Whether the record can identify the client for a login of `flow` redirecting to
    /// `redirect_uri` at `now`.
    #[must_use]
    pub fn fits(&self, flow: RegisteredFlow, redirect_uri: Option<&str>, now: Time) -> bool {
        self.flow == flow
            && (flow == RegisteredFlow::Device || self.redirect_uri.as_deref() == redirect_uri)
            && !self.registration.is_secret_expired(now)
    }

    /// The loopback port this registration's redirect URI names, for binding it again.
    #[must_use]
    pub fn loopback_port(&self) -> Option<u16> {
        let uri = url::Url::parse(self.redirect_uri.as_deref()?).ok()?;
        crate::policy::is_loopback(&uri)
            .then(|| uri.port())
            .flatten()
    }
}

/// What discovery found for a server, kept while the metadata's caching headers allow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[non_exhaustive]
pub struct DiscoveryRecord {
    /// [`RECORD_VERSION`].
    pub v: u32,
    /// Until when it may be used without asking the server again.
    pub fresh_until: Time,
    /// What discovery started from: the challenge's `resource_metadata` URL, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_metadata: Option<String>,
    /// What discovery started from: the issuer configured instead of protected resource
    /// metadata, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// A digest of the [`Policy`] discovery checked the documents against
    /// ([`DiscoveryRecord::policy_digest`]): a record made under a looser policy is not used
    /// under a stricter one.
    pub policy: String,
    /// The result.
    pub discovered: Discovered,
}

impl DiscoveryRecord {
    /// A record of `discovered`, usable until `fresh_until` by logins that start from the
    /// challenge's `resource_metadata` URL and the configured `issuer` given here, under
    /// `policy`.
    #[must_use]
    pub fn new(
        discovered: Discovered,
        fresh_until: Time,
        resource_metadata: Option<String>,
        issuer: Option<String>,
        policy: &Policy,
    ) -> Self {
        Self {
            v: RECORD_VERSION,
            fresh_until,
            resource_metadata,
            issuer,
            policy: Self::policy_digest(policy),
            discovered,
        }
    }

    /// A short digest of `policy` (the first 8 bytes of the SHA-256 of its JSON, in hex).
    #[must_use]
    pub fn policy_digest(policy: &Policy) -> String {
        use sha2::{Digest, Sha256};
        let hash = Sha256::digest(encode(policy).as_bytes());
        hash.iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    }

    /// Whether a login of `server` starting from `resource_metadata` (the challenge's) or
    /// `issuer` (configured), under `policy`, may use the record at `now`.
    #[must_use]
    pub fn fits(
        &self,
        server: &ResourceUri,
        resource_metadata: Option<&str>,
        issuer: Option<&str>,
        policy: &Policy,
        now: Time,
    ) -> bool {
        self.v == RECORD_VERSION
            && now < self.fresh_until
            && &self.discovered.server == server
            && self.resource_metadata.as_deref() == resource_metadata
            && self.issuer.as_deref() == issuer
            && self.policy == Self::policy_digest(policy)
    }
}

/// A login between the authorization URL and its redirect: everything the callback needs
/// after a page load. It holds the PKCE verifier: keep it as confidential as a token.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[non_exhaustive]
pub struct PendingLogin {
    /// [`RECORD_VERSION`].
    pub v: u32,
    /// What discovery found.
    pub discovered: Discovered,
    /// The client identity used.
    pub client: ClientCredentials,
    /// The registration to drop if the server no longer knows the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_key: Option<String>,
    /// The authorization request.
    pub pending: PendingAuthorization,
    /// The checks in force.
    pub policy: Policy,
    /// The per-request timeout, in milliseconds.
    pub request_timeout_ms: u64,
    /// The operation's deadline, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Time>,
    /// The profile the grant will belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// The DPoP key the code exchange proves possession of, for a DPoP login (RFC 9449).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_key: Option<crate::jws::DpopKey>,
}

impl PendingLogin {
    /// Reads a pending login.
    ///
    /// # Errors
    /// [`FlowError::UnreadableRecord`].
    pub fn parse(key: &str, text: &str) -> Result<Self> {
        parse(key, text)
    }
}

/// What `status` shows of one stored login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[non_exhaustive]
pub struct LoginStatus {
    /// The MCP server.
    pub server: String,
    /// The issuer.
    pub issuer: String,
    /// Granted scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Milliseconds left on the access token (`None`: no expiry given; 0: expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_ms: Option<u64>,
    /// Whether a refresh token is stored.
    pub refreshable: bool,
    /// Who logged in, as the login showed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The profile (`None`: the default login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

impl LoginStatus {
    /// Time left on the access token (`None`: no expiry given; zero: expired).
    #[must_use]
    pub fn expires_in(&self) -> Option<std::time::Duration> {
        self.expires_in_ms.map(std::time::Duration::from_millis)
    }

    /// The status of a stored grant at `now`.
    #[must_use]
    pub fn of(record: &GrantRecord, now: Time) -> Self {
        let grant = &record.grant;
        let expires_in_ms = grant
            .tokens
            .expires_at
            .map(|at| u64::try_from(now.until(at).as_millis()).unwrap_or(u64::MAX));
        Self {
            server: grant.server.to_string(),
            issuer: grant.issuer.clone(),
            scope: grant.tokens.scope.clone(),
            expires_in_ms,
            refreshable: grant.tokens.refresh_token.is_some(),
            identity: record.identity.clone(),
            profile: record.profile.clone(),
        }
    }
}

/// Encodes a record. Records hold only serde-safe data, so this cannot fail in practice; the
/// error is kept for a future field that could.
pub(crate) fn encode<T: Serialize>(record: &T) -> String {
    serde_json::to_string(record).unwrap_or_default()
}

fn parse<T: for<'de> Deserialize<'de>>(key: &str, text: &str) -> Result<T> {
    #[derive(Deserialize)]
    struct Version {
        v: Option<u32>,
    }
    let version = serde_json::from_slice::<Version>(text.as_bytes())
        .ok()
        .and_then(|v| v.v);
    if version != Some(RECORD_VERSION) {
        return Err(FlowError::UnreadableRecord {
            key: key_for_messages(key).to_owned(),
            reason: match version {
                Some(v) => {
                    format!("it is of format version {v}, this version reads {RECORD_VERSION}")
                }
                None => "it has no format version (written by an older mcpauth)".to_owned(),
            },
        }
        .into());
    }
    serde_json::from_slice(text.as_bytes()).map_err(|e| {
        FlowError::UnreadableRecord {
            key: key_for_messages(key).to_owned(),
            reason: e.to_string(),
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_kind_and_messages_name_the_record_without_its_secret_part() {
        let server = ResourceUri::parse("https://mcp.example/mcp").unwrap();
        assert_eq!(key_kind(&grant_key(&server, None)), "grant");
        assert_eq!(key_kind(&refresh_lock(&server, None)), "refresh");
        let client = registration_key("https://as.example", RegisteredFlow::Code);
        assert_eq!(key_kind(&client), "client");
        assert_eq!(key_kind(&pending_key("s3cret-state")), "pending");
        assert_eq!(key_kind("s3cret-state"), "other");
        assert_eq!(
            key_for_messages(&pending_key("s3cret-state")),
            "pending#[redacted]"
        );
        assert_eq!(key_for_messages(&client), client);
        let unreadable = PendingLogin::parse(&pending_key("s3cret-state"), "{}").unwrap_err();
        assert!(!unreadable.to_string().contains("s3cret"), "{unreadable}");
        assert!(
            !format!("{unreadable:?}").contains("s3cret"),
            "{unreadable:?}"
        );
    }

    #[test]
    fn keys_name_the_server_issuer_and_flow() {
        let server = ResourceUri::parse("https://mcp.example/mcp/").unwrap();
        assert_eq!(grant_key(&server, None), "grant#https://mcp.example/mcp");
        let work = Profile::parse("work").unwrap();
        assert_eq!(
            grant_key(&server, Some(&work)),
            "grant#https://mcp.example/mcp#work"
        );
        assert_eq!(
            refresh_lock(&server, Some(&work)),
            "refresh#https://mcp.example/mcp#work"
        );
        assert_ne!(
            refresh_lock(&server, None),
            refresh_lock(&server, Some(&work))
        );
        assert_eq!(
            registration_key("https://as.example", RegisteredFlow::Device),
            "client#https://as.example#device"
        );
        assert_eq!(
            pending_key_for_callback("http://127.0.0.1:5/cb?code=c&state=a%2Bb#x").as_deref(),
            Some("pending#a+b")
        );
        assert_eq!(
            pending_key_for_callback("http://127.0.0.1:5/cb?code=c"),
            None
        );
    }

    #[test]
    fn a_refresh_lock_names_the_grant_it_guards() {
        let server = ResourceUri::parse("https://mcp.example/mcp").unwrap();
        let work = Profile::parse("work").unwrap();
        for profile in [None, Some(&work)] {
            assert_eq!(
                grant_key_for_lock(&refresh_lock(&server, profile)),
                Some(grant_key(&server, profile))
            );
        }
        assert_eq!(grant_key_for_lock("grant#https://mcp.example/mcp"), None);
        assert_eq!(grant_key_for_lock("refresh#"), None);
        assert_eq!(grant_key_for_lock("client#x#code"), None);
    }

    #[test]
    fn records_of_another_version_are_unreadable_not_misread() {
        let err = GrantRecord::parse("grant#x", r#"{"v":2,"grant":{}}"#).unwrap_err();
        assert_eq!(err.code(), "STORE_RECORD_UNREADABLE");
        assert!(err.to_string().contains("version 2"), "{err}");
        let err = GrantRecord::parse("grant#x", r#"{"server":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("older mcpauth"), "{err}");
        let err = GrantRecord::parse("grant#x", "not json").unwrap_err();
        assert_eq!(err.code(), "STORE_RECORD_UNREADABLE");
    }
}
