//! The discovery cache of a login: a [`DiscoveryRecord`] under [`discovery_key`] stands in for
//! discovery while it is fresh, and a fresh discovery is kept as long as the caching headers of
//! the metadata it rests on allow ([`fresh_for`]).
//!
//! A kept record must never wedge logins to a server that changed: a login that fails after
//! using it deletes it (the next one asks the server again), and when the failure comes before
//! the user was involved (registration, device authorization, a machine grant's token request:
//! an endpoint gone, a client the server no longer knows, a capability withdrawn), the login
//! discovers afresh once and carries on from there instead of failing.

use super::*;
use crate::flow::freshness::fresh_for;
use crate::flow::store::{DiscoveryRecord, discovery_key};

/// What a login did with the discovery cache.
#[derive(Debug, Default)]
pub(super) struct CacheUse {
    /// A record was in the store (used or not).
    found: bool,
    /// The discovery result came from the record.
    used: bool,
    /// The login already discovered afresh after a failure with the record.
    retried: bool,
    /// The user was shown an authorization URL or a device code: the login cannot start over
    /// without them.
    pub(super) user_involved: bool,
}

impl Login {
    fn discovery_key(&self) -> String {
        discovery_key(&self.server, self.config.profile.as_ref())
    }

    /// What discovery starts from besides the server: the challenge's `resource_metadata`
    /// URL and the configured issuer.
    fn discovery_inputs(&self) -> (Option<String>, Option<String>) {
        let hint = self
            .challenge
            .as_ref()
            .and_then(|c| c.resource_metadata.clone());
        (hint, self.config.issuer.clone())
    }

    /// Asks for the discovery record before discovering.
    pub(super) fn load_discovery(&mut self) {
        self.events.push_back(Event::Load {
            key: self.discovery_key(),
        });
        self.step = Step::LoadDiscovery;
    }

    /// Uses the record if it fits this login and is fresh at `now`; discovers otherwise.
    pub(super) fn on_discovery_loaded(&mut self, now: Time, record: Option<String>) {
        if !matches!(self.step, Step::LoadDiscovery) {
            return;
        }
        self.cache.found = record.is_some();
        let (hint, issuer) = self.discovery_inputs();
        let usable = record
            .and_then(|text| serde_json::from_slice::<DiscoveryRecord>(text.as_bytes()).ok())
            .filter(|r| {
                r.fits(
                    &self.server,
                    hint.as_deref(),
                    issuer.as_deref(),
                    &self.config.policy,
                    now,
                )
            });
        match usable {
            Some(record) => {
                self.cache.used = true;
                self.discovered(now, record.discovered);
            }
            None => self.start_discovery(now),
        }
    }

    /// Keeps what discovery found, rested on responses with `sources` caching headers, if they
    /// allow; otherwise drops a record found before (stale, or made for other inputs), which
    /// the server's current answer no longer supports.
    pub(super) fn keep_discovered(
        &mut self,
        now: Time,
        sources: &[Vec<(String, String)>],
        discovered: &Discovered,
    ) {
        let fresh = sources
            .iter()
            .map(|headers| fresh_for(headers, now))
            .try_fold(crate::flow::freshness::MAX_LIFETIME, |least, one| {
                one.map(|one| least.min(one))
            })
            .filter(|_| !sources.is_empty());
        let key = self.discovery_key();
        match fresh {
            Some(fresh) => {
                let (resource_metadata, issuer) = self.discovery_inputs();
                let record = DiscoveryRecord::new(
                    discovered.clone(),
                    now.add(fresh),
                    resource_metadata,
                    issuer,
                    &self.config.policy,
                );
                self.events.push_back(Event::Save {
                    key,
                    record: encode(&record),
                });
            }
            None if self.cache.found => self.events.push_back(Event::Delete { key }),
            None => {}
        }
    }

    /// The login is about to fail with `error`. If it used the record, the record goes; and if
    /// the user was not involved yet, the login discovers afresh (once) instead of failing.
    /// Returns whether it did.
    pub(super) fn rediscover_after(&mut self, error: &Error) -> bool {
        if !self.cache.used {
            return false;
        }
        self.cache.used = false;
        self.cache.found = false;
        self.events.push_back(Event::Delete {
            key: self.discovery_key(),
        });
        let given_up = matches!(
            error,
            Error::Flow(FlowError::Aborted | FlowError::Timeout { .. })
        );
        if given_up || self.cache.retried || self.cache.user_involved {
            return false;
        }
        self.cache.retried = true;
        self.outbox.clear();
        self.token_call = None;
        self.start_discovery(self.clock);
        true
    }
}
