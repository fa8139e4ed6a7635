//! The device authorization grant inside a login (RFC 8628): the code to show, then polls
//! until tokens, a denial, or a deadline.

use super::*;

impl Login {
    pub(super) fn on_device_authorized(
        &mut self,
        now: Time,
        url: &Url,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) {
        let Step::DeviceAuthorize(client) = std::mem::replace(&mut self.step, Step::Done) else {
            return;
        };
        let policy = &self.config.policy;
        let authorization = outcome
            .map_err(|f| failure_error(url, &f))
            .and_then(|resp| process_device_authorization_response(now, url, &resp, policy));
        let authorization = match authorization {
            Ok(a) => a,
            Err(e) => {
                self.drop_registration_if_unknown(client.registration_key.as_ref(), &e);
                return self.finish(Err(e));
            }
        };
        let resource = login_resource(&client.discovered, &self.options());
        let poll = DevicePoll::from_metadata(
            now,
            authorization.clone(),
            &client.discovered.metadata,
            client.credentials.clone(),
            resource,
            policy,
        );
        let proofs = self.dpop_key().is_some();
        match poll.map(|poll| poll.with_dpop_proofs(proofs)) {
            Ok(poll) => {
                self.events.push_back(Event::DeviceCode(authorization));
                self.cache.user_involved = true;
                self.step = Step::DevicePoll(client, Box::new(poll), false);
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    pub(super) fn on_polled(
        &mut self,
        now: Time,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) {
        let Step::DevicePoll(client, poll, in_flight) = &mut self.step else {
            return;
        };
        *in_flight = false;
        let endpoint = client
            .discovered
            .metadata
            .token_endpoint
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let status = match outcome {
            Ok(resp) => poll.handle_response(now, &resp, &self.config.policy),
            Err(_) => poll.handle_failure(now).map(|()| DeviceStatus::Pending),
        };
        let over = |error: &str, description: &str| -> Error {
            OAuthError {
                error: error.to_owned(),
                error_description: Some(description.to_owned()),
                error_uri: None,
                status: 400,
                where_: endpoint.clone(),
            }
            .into()
        };
        let finished = poll.is_finished();
        match status {
            Ok(DeviceStatus::Tokens(tokens)) => {
                let Step::DevicePoll(client, _, _) = std::mem::replace(&mut self.step, Step::Done)
                else {
                    return;
                };
                let resource = login_resource(&client.discovered, &self.options());
                self.granted(now, *client, resource, tokens);
            }
            Ok(DeviceStatus::Expired) => self.finish(Err(over(
                "expired_token",
                "the device code expired before the login was approved",
            ))),
            Ok(DeviceStatus::Denied) => self.finish(Err(over(
                "access_denied",
                "the login was denied on the device page",
            ))),
            Ok(DeviceStatus::Pending | DeviceStatus::SlowDown { .. }) => {}
            Err(e) if finished => {
                let key = client.registration_key.clone();
                self.drop_registration_if_unknown(key.as_ref(), &e);
                self.finish(Err(e));
            }
            Err(_transient) => {}
        }
    }
}
