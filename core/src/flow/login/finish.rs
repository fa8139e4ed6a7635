//! The end of a login: the grant, who logged in (display only), and replacing the server's
//! previous grant, which is revoked only after the new one is stored.

use super::*;

impl Login {
    pub(super) fn granted(
        &mut self,
        now: Time,
        client: Client,
        resource: Option<ResourceUri>,
        tokens: TokenSet,
    ) {
        let grant = Grant::new(
            self.server.clone(),
            resource,
            &client.discovered.metadata,
            client.credentials,
            tokens,
            now,
        );
        let mut grant = match grant {
            Ok(mut g) => {
                self.keep_for_later(&mut g);
                g
            }
            Err(e) => return self.finish(Err(e)),
        };
        // The key stays with a `Bearer` answer too: see the module docs of `login`.
        grant.dpop_key = self.dpop_key().cloned();
        let identity = grant
            .display_identity()
            .and_then(|who| display_label(&who, &grant.issuer));
        let record = GrantRecord::new(grant, identity, self.config.profile.clone());
        let userinfo = client.discovered.metadata.userinfo_endpoint.clone();
        // A machine login has no user to ask the userinfo endpoint about.
        let machine = self.config.grant.is_some();
        match userinfo.filter(|_| record.identity.is_none() && !machine) {
            Some(endpoint) => {
                match crate::userinfo::userinfo_request(
                    &endpoint,
                    &record.grant.tokens.access_token,
                    &self.config.policy,
                ) {
                    Ok(mut request) => {
                        present(&mut request, &record.grant);
                        self.outbox.send(now, request, Tag::UserInfo(endpoint));
                        self.step = Step::UserInfo(Box::new(record));
                    }
                    Err(e) => {
                        self.events.push_back(Event::Warning(e));
                        self.load_previous(record);
                    }
                }
            }
            None => self.load_previous(record),
        }
    }

    pub(super) fn on_userinfo(
        &mut self,
        url: &Url,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) {
        let Step::UserInfo(mut record) = std::mem::replace(&mut self.step, Step::Done) else {
            return;
        };
        let who = outcome
            .map_err(|f| failure_error(url, &f))
            .and_then(|resp| process_userinfo_response(url, &resp, &self.config.policy));
        match who {
            Ok(who) => record.identity = display_label(&who, &record.grant.issuer),
            Err(e) => self.events.push_back(Event::Warning(e)),
        }
        self.load_previous(*record);
    }

    pub(super) fn load_previous(&mut self, record: GrantRecord) {
        self.events.push_back(Event::Load {
            key: grant_key(&self.server, self.config.profile.as_ref()),
        });
        self.step = Step::LoadPrevious(Box::new(record));
    }

    /// Stores the new grant first (a token is never lost), then revokes the one it replaces.
    pub(super) fn on_previous_loaded(&mut self, now: Time, key: &str, text: Option<String>) {
        let Step::LoadPrevious(record) = std::mem::replace(&mut self.step, Step::Done) else {
            return;
        };
        self.events.push_back(Event::Save {
            key: key.to_owned(),
            record: encode(&record),
        });
        let previous = text.and_then(|t| GrantRecord::parse(key, &t).ok());
        // A grant without a refresh token (a machine login's) is replaced when its access
        // token is; one with a refresh token only when that differs too.
        let replaced = previous.filter(|p| {
            p.grant.tokens.access_token != record.grant.tokens.access_token
                && (p.grant.tokens.refresh_token.is_none()
                    || p.grant.tokens.refresh_token != record.grant.tokens.refresh_token)
        });
        let request = replaced.map(|p| p.grant.revocation_request(&self.config.policy));
        match request {
            Some(Ok(Some(request))) => {
                let url = request.url.clone();
                self.outbox.send(now, request, Tag::Revoke(url));
                self.step = Step::Revoke(record);
            }
            Some(Err(e)) => {
                self.events.push_back(Event::Warning(e));
                self.succeed(*record);
            }
            Some(Ok(None)) | None => self.succeed(*record),
        }
    }

    pub(super) fn on_revoked(
        &mut self,
        url: &Url,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) {
        let Step::Revoke(record) = std::mem::replace(&mut self.step, Step::Done) else {
            return;
        };
        let revoked = outcome
            .map_err(|f| failure_error(url, &f))
            .and_then(|resp| {
                crate::revocation::process_revocation_response(url, &resp, &self.config.policy)
            });
        if let Err(e) = revoked {
            self.events.push_back(Event::Warning(e));
        }
        self.succeed(*record);
    }
}

/// A label for who logged in: email, username, name, or `sub` with the issuer.
pub(super) fn display_label(who: &DisplayIdentity, issuer: &str) -> Option<String> {
    who.clone().or_issuer(issuer).label()
}

/// Presents a [DPoP-bound](Grant::is_dpop_bound) access token on `request` as RFC 9449 §7.1
/// says (`Authorization: DPoP` and a proof with `ath`); a bearer token is left as it is.
fn present(request: &mut HttpRequest, grant: &Grant) {
    let method = request.method.as_str().to_owned();
    if let Some(proof) = grant.resource_proof(&method, &request.url, None) {
        request.headers.retain(|(n, _)| n != "authorization");
        request.push_header("authorization", grant.authorization());
        request.signatures.push(proof);
    }
}
