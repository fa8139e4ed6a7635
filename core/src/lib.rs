//! # mcpauth-core: a sans-IO OAuth 2.1 client for MCP
//!
//! This crate does no network talking, reads no clock and draws no randomness of its own.
//! It builds [`HttpRequest`] values and validates the [`HttpResponse`] values a driver got for
//! them; the time is always a parameter ([`Time`]) and entropy comes through [`Entropy`].
//! The same code therefore runs natively (the `mcpauth` crate drives it with reqwest), in
//! browsers and Node (the `mcpauth-wasm` binding drives it with `fetch`), and in tests with
//! canned responses.
//!
//! Each protocol step is a pair: `xxx_request(..)` builds the request and
//! `process_xxx_response(..)` validates the response into typed data or a typed [`Error`].
//! Multi-step flows are small state machines ([`Discovery`], [`DevicePoll`]) that yield the
//! next requests and consume responses; the canonical driver loop is on [`Discovery`].
//!
//! | step | module | RFC |
//! |---|---|---|
//! | PKCE S256, `state` | [`pkce`] | 7636 |
//! | `WWW-Authenticate`, step-up challenges | [`challenge`], [`scope`] | 9110, 6750 |
//! | protected resource and authorization server metadata | [`discovery`] | 9728, 8414 |
//! | client identity: pre-registered, CIMD, dynamic registration | [`identity`], [`registration`] | 7591 |
//! | authorization URL and response (`iss`) | [`authorize`], [`login`] | 6749, 8707, 9207 |
//! | code exchange, refresh with rotation | [`token`], [`grant`] | 6749, 9700 |
//! | device authorization grant | [`device`] | 8628 |
//! | token exchange, revocation | [`exchange`], [`revocation`] | 8693, 7009 |
//! | client credentials, JWT bearer, ID-JAG (machine and enterprise logins) | [`client_credentials`], [`jwt_bearer`], [`id_jag`] | 6749 §4.4, 7523, 8693 |
//!
//! | DPoP proofs and server nonces | [`dpop`] | 9449 |
//!
//! ## Signing without keys
//! DPoP proofs and `private_key_jwt` client assertions are JWTs the client signs. The core
//! writes every one of them (header, claims, lifetime, where it goes in the request) as a
//! [`jws::JwsTemplate`] and never holds a private key: the driver dates it with its clock and
//! entropy ([`jws::JwsTemplate::stamp`], which adds `iat`, `jti` and `exp`), signs the bytes
//! with the key [`jws::SigningKey`] names, and hands the signature back to
//! [`jws::Signing::attach`], which places it. So key storage stays where the platform keeps
//! keys best (a non-extractable WebCrypto key in IndexedDB, or the encrypted grant record
//! natively), signing can be asynchronous, and the core stays sans-IO. Requests carry their
//! templates in [`HttpRequest::signatures`].
//!
//! Security is on by default ([`Policy`]): HTTPS except loopback, no redirects, a response
//! size cap, issuer and resource checks, PKCE S256 required, credentials bound to their issuer.
//! Secrets are types whose `Debug` is redacted ([`secret`]).
//!
//! The TypeScript types of the npm package's records are generated from this crate's types, so
//! they cannot drift. With the `ts` feature, every record that crosses to JavaScript in its serde
//! shape or is stored ([`Discovered`], [`ClientCredentials`], [`PendingAuthorization`],
//! [`Grant`], ...) derives `ts_rs::TS`; `scripts/gen-types` writes the types into
//! `npm/src/generated/`, and `scripts/gen-types --check` fails when the committed ones are stale.
//! A new record takes, under its `#[derive(..)]`:
//! `#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields = nullable))]`.
//! The records cross as JSON text, where serde_json writes `None` as `null`: `name?: T | null`
//! says so. A record whose every `Option` is skipped when `None`
//! (`#[serde(default, skip_serializing_if = "Option::is_none")]`) takes `optional_fields`
//! instead: `name?: T`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod authorize;
pub mod challenge;
pub mod client;
pub mod client_credentials;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod entropy;
pub mod error;
pub mod exchange;
pub mod flow;
pub mod grant;
pub mod http;
pub mod id_jag;
pub mod identity;
pub mod jws;
pub mod jwt_bearer;
pub mod login;
pub mod metadata;
pub mod pkce;
pub mod policy;
pub mod registration;
pub(crate) mod response;
pub mod revocation;
pub mod scope;
pub mod secret;
mod tagged;
pub mod time;
pub mod token;
pub mod userinfo;

pub use authorize::{AuthorizationParams, AuthorizationResponse, PendingAuthorization};
pub use challenge::{AuthChallenge, BearerChallenge, Challenge};
pub use client::{ClientCredentials, TokenEndpointAuthMethod};
pub use device::{DeviceAuthorization, DevicePoll, DeviceStatus};
pub use discovery::{Discovered, Discovery};
pub use entropy::Entropy;
#[cfg(feature = "getrandom")]
pub use entropy::OsEntropy;
pub use error::{Error, OAuthError, ProtocolError, Result, SecurityError, UsageError};
pub use exchange::{ActorToken, ExchangedToken, TokenExchangeParams};
pub use grant::Grant;
pub use http::{HttpRequest, HttpResponse, Method};
pub use identity::{IdentityOptions, IdentityPlan, is_invalid_client, plan_client_identity};
pub use login::{LoginOptions, start_authorization};
pub use metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
pub use pkce::Pkce;
pub use policy::{Policy, ResourceUri};
pub use registration::{ApplicationType, ClientMetadata, Registration};
pub use revocation::{RevocableToken, TokenTypeHint};
pub use scope::StepUpTracker;
pub use secret::{
    AccessToken, AuthorizationCode, ClientSecret, DeviceCode, IdToken, PkceVerifier, RefreshToken,
    RegistrationAccessToken, SecurityToken, State,
};
pub use time::Time;
pub use token::{DEFAULT_EXPIRY_MARGIN, Refreshed, TokenSet, expiry_margin};
