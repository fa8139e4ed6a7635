//! Which scopes to request, and how often to step up (MCP authorization "Scope Selection
//! Strategy", "Scope Challenge Handling" and "Refresh Tokens"; RFC 6749 §3.3).
//!
//! - [`select_scope`] picks the `scope` of an initial authorization request.
//! - [`union_scopes`] computes the step-up scope: what was requested before plus what the
//!   `403 insufficient_scope` challenge asks for (SEP-2350).
//! - [`StepUpTracker`] bounds how often one operation may send the user to authorize.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SecurityError};
use crate::metadata::AuthorizationServerMetadata;
use crate::policy::ResourceUri;

/// The scope that asks for a refresh token (OpenID Connect Core §11; MCP "Refresh Tokens").
pub const OFFLINE_ACCESS: &str = "offline_access";

/// How many authorizations one (resource, operation) may trigger before the client gives up
/// (MCP "Scope Challenge Handling"; conformance `auth/scope-retry-limit` allows at most 3).
pub const MAX_AUTHORIZATION_ATTEMPTS: u32 = 3;

/// The `scope` to send in an initial authorization request, or `None` to omit the parameter
/// (MCP "Scope Selection Strategy", "Refresh Tokens"; RFC 6749 §3.3).
///
/// In priority order:
/// 1. `challenge_scope`, the `scope` of the `401`'s Bearer challenge. It is authoritative for
///    the operation and used as is, even when it is not a subset of `scopes_supported`: MCP
///    says the client MUST NOT assume any set relationship between the two. An empty or
///    blank challenge scope counts as absent.
/// 2. Otherwise every scope of the protected resource metadata's `scopes_supported`, if
///    present and non-empty.
/// 3. Otherwise nothing.
///
/// Then `offline_access` is added when, and only when, the **authorization server** metadata
/// lists it in `scopes_supported` and it is not already there (conformance
/// `auth/offline-access-scope` and `auth/offline-access-not-supported`). It is added even when
/// rule 3 left nothing, giving `scope=offline_access`: the server advertised refresh tokens,
/// and the conformance scenario `auth/scope-omitted-when-undefined` serves AS metadata without
/// `scopes_supported`, so it still sees the parameter omitted.
///
/// The result is whitespace-normalized and deduplicated, in first-seen order.
///
/// ```
/// use mcpauth_core::AuthorizationServerMetadata;
/// use mcpauth_core::scope::select_scope;
///
/// let mut server = AuthorizationServerMetadata::for_tests("https://as.example");
/// server.scopes_supported = Some(vec!["mcp:basic".into(), "offline_access".into()]);
/// let prm_scopes = vec!["mcp:basic".to_owned(), "mcp:read".to_owned()];
///
/// assert_eq!(
///     select_scope(Some("files:write"), Some(&prm_scopes), &server).as_deref(),
///     Some("files:write offline_access")
/// );
/// assert_eq!(
///     select_scope(None, Some(&prm_scopes), &server).as_deref(),
///     Some("mcp:basic mcp:read offline_access")
/// );
/// ```
#[must_use]
pub fn select_scope(
    challenge_scope: Option<&str>,
    resource_scopes: Option<&[String]>,
    server: &AuthorizationServerMetadata,
) -> Option<String> {
    let mut scopes: Vec<&str> = Vec::new();
    let challenged = challenge_scope.map(tokens).unwrap_or_default();
    if !challenged.is_empty() {
        push_unique(&mut scopes, challenged);
    } else if let Some(resource_scopes) = resource_scopes {
        push_unique(
            &mut scopes,
            resource_scopes
                .iter()
                .flat_map(|s| s.split_ascii_whitespace()),
        );
    }
    if server.supports_scope(OFFLINE_ACCESS) {
        push_unique(&mut scopes, [OFFLINE_ACCESS]);
    }
    if scopes.is_empty() {
        None
    } else {
        Some(scopes.join(" "))
    }
}

/// The union of `granted` (the scopes requested or granted before) and `challenged` (the
/// `scope` of a `403 insufficient_scope` challenge): the scope of a step-up authorization
/// (MCP "Scope Challenge Handling", SEP-2350).
///
/// First-seen order, no duplicates, single spaces; either side may be empty.
///
/// ```
/// use mcpauth_core::scope::union_scopes;
/// assert_eq!(union_scopes("a  b", "b c a\td"), "a b c d");
/// ```
#[must_use]
pub fn union_scopes(granted: &str, challenged: &str) -> String {
    let mut scopes = Vec::new();
    push_unique(&mut scopes, tokens(granted));
    push_unique(&mut scopes, tokens(challenged));
    scopes.join(" ")
}

fn tokens(scope: &str) -> Vec<&str> {
    scope.split_ascii_whitespace().collect()
}

fn push_unique<'a>(into: &mut Vec<&'a str>, scopes: impl IntoIterator<Item = &'a str>) {
    for scope in scopes {
        if !into.contains(&scope) {
            into.push(scope);
        }
    }
}

/// Counts authorization attempts per (resource, operation), so that a resource that keeps
/// answering `403 insufficient_scope` cannot send the user to authorize forever (MCP "Scope
/// Challenge Handling": clients SHOULD enforce a retry limit and track upgrade attempts per
/// resource and operation).
///
/// The operation is whatever the driver uses to tell requests apart, such as the MCP method
/// (`tools/call`) or method plus tool name; `None` means the resource as a whole.
///
/// How a driver uses it, for a request to `resource` doing `operation`:
/// 1. Before **every** authorization a challenge on that request triggers (the first one after
///    a `401` as well as each step-up after a `403 insufficient_scope`), call
///    [`begin_attempt`](Self::begin_attempt). On `Err`, stop and report the error: the
///    operation has failed permanently.
/// 2. Authorize: after a `401` with [`select_scope`], after a `403` with
///    [`union_scopes`]`(previously requested, challenged)`. Then retry the request.
/// 3. When the retried request succeeds, call [`succeeded`](Self::succeeded), which resets the
///    count for that key.
///
/// Counting the first authorization too makes [`MAX_AUTHORIZATION_ATTEMPTS`] the total number
/// of authorization requests per operation, which is what conformance
/// `auth/scope-retry-limit` counts.
///
/// The tracker is plain data (serde), so a driver may keep it next to its tokens.
///
/// It also remembers the newest DPoP nonce each resource server gave (RFC 9449 §9), so that
/// the next request's proof carries it upfront instead of being turned away for it first.
///
/// ```
/// use mcpauth_core::ResourceUri;
/// use mcpauth_core::scope::StepUpTracker;
///
/// let mcp = ResourceUri::parse("https://mcp.example/mcp")?;
/// let mut tracker = StepUpTracker::default();
/// assert_eq!(tracker.begin_attempt(&mcp, Some("tools/call"))?, 1); // after the 401
/// assert_eq!(tracker.begin_attempt(&mcp, Some("tools/call"))?, 2); // 403: step up
/// assert_eq!(tracker.begin_attempt(&mcp, Some("tools/call"))?, 3); // 403 again
/// let err = tracker.begin_attempt(&mcp, Some("tools/call")).unwrap_err();
/// assert_eq!(err.code(), "STEP_UP_LIMIT");
/// # Ok::<(), mcpauth_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepUpTracker {
    #[serde(default)]
    attempts: Vec<Attempts>,
    /// The newest DPoP nonce of each resource server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dpop_nonces: Vec<(ResourceUri, String)>,
}

/// Attempts made for one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Attempts {
    resource: ResourceUri,
    operation: Option<String>,
    count: u32,
}

impl StepUpTracker {
    /// Records an authorization attempt for (`resource`, `operation`) and returns its number,
    /// starting at 1.
    ///
    /// # Errors
    /// [`SecurityError::StepUpLimit`] when [`MAX_AUTHORIZATION_ATTEMPTS`] attempts were already
    /// made for this key since it last [`succeeded`](Self::succeeded); nothing is recorded
    /// then.
    pub fn begin_attempt(
        &mut self,
        resource: &ResourceUri,
        operation: Option<&str>,
    ) -> Result<u32> {
        match self.attempts.iter_mut().find(|a| a.is(resource, operation)) {
            Some(entry) if entry.count >= MAX_AUTHORIZATION_ATTEMPTS => {
                Err(limit(resource, operation, entry.count))
            }
            Some(entry) => {
                entry.count += 1;
                Ok(entry.count)
            }
            None => {
                self.attempts.push(Attempts {
                    resource: resource.clone(),
                    operation: operation.map(str::to_owned),
                    count: 1,
                });
                Ok(1)
            }
        }
    }

    /// The request for (`resource`, `operation`) went through: forget its attempts.
    pub fn succeeded(&mut self, resource: &ResourceUri, operation: Option<&str>) {
        self.attempts.retain(|a| !a.is(resource, operation));
    }

    /// The newest DPoP nonce `resource` gave, for the next proof sent to it.
    #[must_use]
    pub fn dpop_nonce(&self, resource: &ResourceUri) -> Option<&str> {
        self.dpop_nonces
            .iter()
            .find(|(r, _)| r == resource)
            .map(|(_, n)| n.as_str())
    }

    /// Remembers `nonce` as the newest DPoP nonce of `resource`, replacing the one before.
    pub fn set_dpop_nonce(&mut self, resource: &ResourceUri, nonce: &str) {
        match self.dpop_nonces.iter_mut().find(|(r, _)| r == resource) {
            Some((_, held)) => nonce.clone_into(held),
            None => self.dpop_nonces.push((resource.clone(), nonce.to_owned())),
        }
    }

    /// How many attempts were made for (`resource`, `operation`) since it last succeeded.
    #[must_use]
    pub fn attempts(&self, resource: &ResourceUri, operation: Option<&str>) -> u32 {
        self.attempts
            .iter()
            .find(|a| a.is(resource, operation))
            .map_or(0, |a| a.count)
    }
}

impl Attempts {
    fn is(&self, resource: &ResourceUri, operation: Option<&str>) -> bool {
        self.resource == *resource && self.operation.as_deref() == operation
    }
}

fn limit(resource: &ResourceUri, operation: Option<&str>, attempts: u32) -> crate::Error {
    let resource = match operation {
        Some(op) => format!("{resource} (operation `{op}`)"),
        None => resource.to_string(),
    };
    SecurityError::StepUpLimit { resource, attempts }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(scopes: Option<&[&str]>) -> AuthorizationServerMetadata {
        let mut m = AuthorizationServerMetadata::for_tests("https://as.example");
        m.scopes_supported = scopes.map(|s| s.iter().map(|x| (*x).to_owned()).collect());
        m
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    fn resource(s: &str) -> ResourceUri {
        ResourceUri::parse(s).unwrap()
    }

    #[test]
    fn challenge_scope_wins_over_scopes_supported() {
        let prm = strings(&["a", "b"]);
        let got = select_scope(Some("c"), Some(&prm), &server(None));
        assert_eq!(got.as_deref(), Some("c"));
    }

    #[test]
    fn challenge_scope_is_used_even_when_not_a_subset_of_any_supported_list() {
        let prm = strings(&["mcp:profile"]);
        let as_meta = server(Some(&["mcp:profile", "other"]));
        let got = select_scope(Some("mcp:basic mcp:write"), Some(&prm), &as_meta);
        assert_eq!(got.as_deref(), Some("mcp:basic mcp:write"));
    }

    #[test]
    fn challenge_scope_is_normalized() {
        let got = select_scope(Some("  a\tb  a "), None, &server(None));
        assert_eq!(got.as_deref(), Some("a b"));
    }

    #[test]
    fn blank_challenge_scope_falls_back_to_scopes_supported() {
        let prm = strings(&["x", "y"]);
        let got = select_scope(Some("  "), Some(&prm), &server(None));
        assert_eq!(got.as_deref(), Some("x y"));
    }

    #[test]
    fn all_resource_scopes_are_requested_without_a_challenge_scope() {
        let prm = strings(&["mcp:basic", "mcp:read", "mcp:write", "mcp:read"]);
        let got = select_scope(None, Some(&prm), &server(Some(&["unrelated"])));
        assert_eq!(got.as_deref(), Some("mcp:basic mcp:read mcp:write"));
    }

    #[test]
    fn scope_is_omitted_when_nothing_defines_it() {
        assert_eq!(select_scope(None, None, &server(None)), None);
        assert_eq!(select_scope(None, Some(&[]), &server(None)), None);
        assert_eq!(
            select_scope(None, Some(&strings(&[""])), &server(Some(&["a"]))),
            None
        );
    }

    #[test]
    fn offline_access_is_added_when_the_authorization_server_lists_it() {
        let prm = strings(&["mcp:basic"]);
        let as_meta = server(Some(&["mcp:basic", "offline_access"]));
        let got = select_scope(None, Some(&prm), &as_meta);
        assert_eq!(got.as_deref(), Some("mcp:basic offline_access"));
        let got = select_scope(Some("files:read"), Some(&prm), &as_meta);
        assert_eq!(got.as_deref(), Some("files:read offline_access"));
    }

    #[test]
    fn offline_access_alone_when_nothing_else_defines_a_scope() {
        let got = select_scope(None, None, &server(Some(&["offline_access"])));
        assert_eq!(got.as_deref(), Some("offline_access"));
    }

    #[test]
    fn offline_access_is_not_duplicated() {
        let as_meta = server(Some(&["offline_access"]));
        let got = select_scope(Some("offline_access a"), None, &as_meta);
        assert_eq!(got.as_deref(), Some("offline_access a"));
    }

    #[test]
    fn offline_access_is_not_added_when_only_the_resource_lists_it() {
        let prm = strings(&["mcp:basic", "mcp:read"]);
        let got = select_scope(None, Some(&prm), &server(Some(&["mcp:basic", "mcp:read"])));
        assert_eq!(got.as_deref(), Some("mcp:basic mcp:read"));
        let got = select_scope(None, Some(&prm), &server(None));
        assert_eq!(got.as_deref(), Some("mcp:basic mcp:read"));
        // The resource listing it does not count; the AS is the one that issues refresh tokens.
        let prm = strings(&["a", "offline_access"]);
        let got = select_scope(None, Some(&prm), &server(Some(&["a"])));
        assert_eq!(got.as_deref(), Some("a offline_access"));
    }

    #[test]
    fn union_keeps_first_seen_order_without_duplicates() {
        assert_eq!(
            union_scopes("mcp:basic", "mcp:write"),
            "mcp:basic mcp:write"
        );
        assert_eq!(union_scopes("b a", "a c b"), "b a c");
        assert_eq!(union_scopes("a a", ""), "a");
        assert_eq!(union_scopes("", " x\t\ny "), "x y");
        assert_eq!(union_scopes(" ", " "), "");
    }

    #[test]
    fn tracker_refuses_the_fourth_attempt() {
        let r = resource("https://mcp.example/mcp");
        let mut t = StepUpTracker::default();
        for n in 1..=MAX_AUTHORIZATION_ATTEMPTS {
            assert_eq!(t.begin_attempt(&r, Some("tools/call")).unwrap(), n);
        }
        let err = t.begin_attempt(&r, Some("tools/call")).unwrap_err();
        assert_eq!(err.code(), "STEP_UP_LIMIT");
        assert_eq!(
            err.to_string(),
            "gave up on step-up authorization for https://mcp.example/mcp (operation `tools/call`) after 3 attempts"
        );
        // Refusing records nothing and keeps refusing.
        assert_eq!(t.attempts(&r, Some("tools/call")), 3);
        assert!(t.begin_attempt(&r, Some("tools/call")).is_err());
    }

    #[test]
    fn tracker_resets_after_success() {
        let r = resource("https://mcp.example/mcp");
        let mut t = StepUpTracker::default();
        for _ in 0..MAX_AUTHORIZATION_ATTEMPTS {
            t.begin_attempt(&r, None).unwrap();
        }
        t.succeeded(&r, None);
        assert_eq!(t.attempts(&r, None), 0);
        assert_eq!(t.begin_attempt(&r, None).unwrap(), 1);
    }

    #[test]
    fn tracker_keys_are_independent() {
        let a = resource("https://a.example/mcp");
        let b = resource("https://b.example/mcp");
        let mut t = StepUpTracker::default();
        for _ in 0..MAX_AUTHORIZATION_ATTEMPTS {
            t.begin_attempt(&a, Some("tools/call")).unwrap();
        }
        assert!(t.begin_attempt(&a, Some("tools/call")).is_err());
        assert_eq!(t.begin_attempt(&b, Some("tools/call")).unwrap(), 1);
        assert_eq!(t.begin_attempt(&a, Some("tools/list")).unwrap(), 1);
        assert_eq!(t.begin_attempt(&a, None).unwrap(), 1);
        t.succeeded(&b, Some("tools/call"));
        assert!(t.begin_attempt(&a, Some("tools/call")).is_err());
    }

    #[test]
    fn tracker_keys_use_the_canonical_resource() {
        let mut t = StepUpTracker::default();
        t.begin_attempt(&resource("HTTPS://MCP.example/mcp/"), None)
            .unwrap();
        assert_eq!(t.attempts(&resource("https://mcp.example/mcp"), None), 1);
    }

    #[test]
    fn tracker_round_trips_through_serde() {
        let mut t = StepUpTracker::default();
        t.begin_attempt(&resource("https://mcp.example/mcp"), Some("tools/call"))
            .unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"attempts":[{"resource":"https://mcp.example/mcp","operation":"tools/call","count":1}]}"#
        );
        assert_eq!(serde_json::from_str::<StepUpTracker>(&json).unwrap(), t);
        assert_eq!(
            serde_json::from_str::<StepUpTracker>("{}").unwrap(),
            StepUpTracker::default()
        );
    }

    #[test]
    fn the_newest_dpop_nonce_is_remembered_per_server() {
        let a = ResourceUri::parse("https://a.example/mcp").unwrap();
        let b = ResourceUri::parse("https://b.example/mcp").unwrap();
        let mut tracker = StepUpTracker::default();
        assert_eq!(tracker.dpop_nonce(&a), None);
        tracker.set_dpop_nonce(&a, "n1");
        tracker.set_dpop_nonce(&a, "n2");
        tracker.set_dpop_nonce(&b, "m1");
        assert_eq!(tracker.dpop_nonce(&a), Some("n2"));
        assert_eq!(tracker.dpop_nonce(&b), Some("m1"));
        let text = serde_json::to_string(&tracker).unwrap();
        assert_eq!(
            serde_json::from_str::<StepUpTracker>(&text).unwrap(),
            tracker
        );
    }
}
