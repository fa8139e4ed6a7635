//! The client identity of a login: a registration made before for this flow, pre-registered
//! credentials, CIMD, or a new dynamic registration (registering only the grant this login uses).

use super::*;
use crate::client::TokenEndpointAuthMethod;

impl Login {
    pub(super) fn on_registration_loaded(&mut self, now: Time, key: &str, text: Option<String>) {
        let Step::LoadRegistration(discovered) = std::mem::replace(&mut self.step, Step::Done)
        else {
            return;
        };
        // An unreadable or foreign record is replaced by a new registration.
        let record = text
            .and_then(|t| serde_json::from_slice::<RegistrationRecord>(t.as_bytes()).ok())
            .filter(|r| {
                r.v == RECORD_VERSION && r.registration.credentials.issuer == discovered.issuer
            });
        let _ = key;
        match &self.config.redirect {
            Redirect::Device => {
                let cached = record.filter(|r| r.fits(RegisteredFlow::Device, None, now));
                self.identify(now, *discovered, cached, None);
            }
            Redirect::Fixed { uri } => {
                let uri = uri.clone();
                let cached = record.filter(|r| r.fits(RegisteredFlow::Code, Some(&uri), now));
                self.identify(now, *discovered, cached, Some(uri));
            }
            Redirect::Loopback { port } => {
                let required = port.is_some();
                let port =
                    port.or_else(|| record.as_ref().and_then(RegistrationRecord::loopback_port));
                self.events.push_back(Event::Listen {
                    port,
                    required,
                    path: CALLBACK_PATH,
                });
                self.step = Step::Listen(discovered, record.map(Box::new));
            }
        }
    }

    pub(super) fn preregistered(
        &self,
        metadata: &AuthorizationServerMetadata,
    ) -> Option<ClientCredentials> {
        let list = &self.config.preregistered;
        let entry = list
            .iter()
            .find(|c| c.issuer.as_deref() == Some(metadata.issuer.as_str()))
            .or_else(|| list.iter().find(|c| c.issuer.is_none()))
            .or_else(|| list.first().filter(|_| list.len() == 1))?;
        let issuer = entry
            .issuer
            .clone()
            .unwrap_or_else(|| metadata.issuer.clone());
        // A client given a key signs assertions (RFC 7523 §2.2) unless told otherwise.
        let method = entry.auth_method.unwrap_or_else(|| match entry.key_alg {
            Some(_) => TokenEndpointAuthMethod::PrivateKeyJwt,
            None => choose_token_endpoint_auth_method(metadata, entry.client_secret.is_some()),
        });
        let mut credentials = match &entry.client_secret {
            Some(secret) => {
                ClientCredentials::confidential(issuer, &entry.client_id, secret.clone(), method)
            }
            None => ClientCredentials::public(issuer, &entry.client_id),
        };
        credentials.auth_method = method;
        if method == TokenEndpointAuthMethod::PrivateKeyJwt {
            credentials.key_alg = Some(entry.key_alg.unwrap_or_default());
            credentials.key_id.clone_from(&entry.key_id);
        }
        Some(credentials)
    }

    pub(super) fn client_metadata(&self, redirect_uri: Option<&str>) -> ClientMetadata {
        let name = self.config.client_name.clone();
        let Some(uri) = redirect_uri else {
            return ClientMetadata::device_only(name);
        };
        let web = match self.config.application_type {
            Some(kind) => kind == ApplicationType::Web,
            None => uri.starts_with("https://"),
        };
        if web {
            ClientMetadata::web(name, vec![uri.to_owned()])
        } else {
            ClientMetadata::native(name, vec![uri.to_owned()])
        }
    }

    pub(super) fn identify(
        &mut self,
        now: Time,
        discovered: Discovered,
        cached: Option<RegistrationRecord>,
        redirect_uri: Option<String>,
    ) {
        let key = registration_key(&discovered.issuer, self.flow());
        let options = IdentityOptions {
            preregistered: self.preregistered(&discovered.metadata),
            cached_registration: cached.as_ref().map(|r| r.registration.credentials.clone()),
            metadata_document_url: self.config.client_metadata_url.clone(),
            client_metadata: self.client_metadata(redirect_uri.as_deref()),
        };
        match plan_client_identity(&discovered.metadata, &options, &self.config.policy) {
            Ok(IdentityPlan::Ready(credentials)) => {
                let from_cache = options.cached_registration.as_ref() == Some(&credentials);
                let client = Client {
                    discovered,
                    credentials,
                    registration_key: from_cache.then_some(key),
                };
                self.authorize(now, client, redirect_uri);
            }
            Ok(IdentityPlan::Register(request)) => {
                self.outbox.send(now, request, Tag::Register);
                self.step = Step::Register(Box::new(discovered), redirect_uri);
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    pub(super) fn on_registered(
        &mut self,
        now: Time,
        url: &Url,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) {
        let Step::Register(discovered, redirect_uri) =
            std::mem::replace(&mut self.step, Step::Done)
        else {
            return;
        };
        let registration = outcome
            .map_err(|f| failure_error(url, &f))
            .and_then(|resp| {
                process_registration_response(&discovered.metadata, url, &resp, &self.config.policy)
            });
        let registration = match registration {
            Ok(r) => r,
            Err(e) => return self.finish(Err(e)),
        };
        let key = registration_key(&discovered.issuer, self.flow());
        let record = RegistrationRecord {
            v: RECORD_VERSION,
            registration,
            flow: self.flow(),
            redirect_uri: redirect_uri.clone(),
        };
        self.events.push_back(Event::Save {
            key: key.clone(),
            record: encode(&record),
        });
        let client = Client {
            discovered: *discovered,
            credentials: record.registration.credentials,
            registration_key: Some(key),
        };
        self.authorize(now, client, redirect_uri);
    }
}
