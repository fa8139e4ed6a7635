//! `mcpauth-devserver`: run the development authorization server and MCP endpoint until
//! killed. `--help` lists the switches.

use std::process::ExitCode;
use std::time::Duration;

use mcpauth_devserver::{
    ClientAuth, Config, DevServer, Endpoint, PublicJwk, RegisteredClient, TrustedIssuer,
};

const USAGE: &str = "\
usage: mcpauth-devserver [--port N] [--auto-approve] [switches]

  --port N                          MCP origin port on 127.0.0.1 (default 8400; 0 = any)
  --as-port N                       serve the authorization server on its own port
  --issuer-path /P                  issuer with a path, e.g. /tenant1
  --auto-approve                    no consent page; device grants approve on first poll
  --access-token-ttl SECS           access token lifetime (default 3600)
  --device-interval SECS            device polling interval (default 5)
  --refresh-requires-offline-access issue refresh tokens only for offline_access
  --challenge-scope S | --no-challenge-scope
                                    scope in the 401 challenge (default mcp:read)
  --confidential-client ID:SECRET   pre-register a client_secret_basic client (loopback redirects)
  --private-key-jwt-client ID=JWK   pre-register a private_key_jwt client with this public JWK (JSON)
  --trusted-issuer ISSUER=JWK       accept jwt-bearer assertions from ISSUER signed by this JWK (JSON)
  --quiet                           do not log requests

faults (also settable at run time: POST /_dev/faults with JSON):
  --latency-ms N  --wrong-issuer  --wrong-resource  --omit-iss  --wrong-iss
  --omit-code-challenge-methods  --one-grant-type-per-client  --error-redirect-without-iss
  --deny-authorization ERROR  (such as access_denied)
  --access-token-ttl-ms N  --refresh-token-ttl-ms N  --revoke-access-token-on-refresh
  --oversized-www-authenticate  --persistent-401
  --sse-responses   answer /mcp requests as text/event-stream (a log notification, then the response)
  --sessions        Mcp-Session-Id from initialize on; DELETE /mcp ends a session
  --lose-refresh-response  carry out refreshes but close the connection before the answer
  --dpop-nonce-token     the token endpoint requires a DPoP nonce (400 use_dpop_nonce)
  --dpop-nonce-resource  /mcp requires a DPoP nonce (401 DPoP error=\"use_dpop_nonce\")
  --dpop-downgrade       issue Bearer tokens even when the token request carries a DPoP proof
  --fail E  --stall E  --trickle E  --malformed E  --oversized E   (repeatable), E one of
      mcp resource_metadata authorization_server_metadata register authorize token
      device_authorization device revoke userinfo

clock: GET /_dev/clock reads it, POST /_dev/clock {\"advance_ms\": N} moves it forward
clients: POST /_dev/clients, POST /_dev/issuers (JSON; see the crate documentation)
";

#[tokio::main]
async fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mcpauth-devserver: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server = match DevServer::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("mcpauth-devserver: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("MCP endpoint:  {}", server.mcp_url);
    println!("issuer:        {}", server.issuer);
    println!("stats:         {}/_dev/stats", server.base_url);
    println!("(Ctrl-C to stop)");
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// The config the arguments ask for, or `None` for `--help`.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let mut config = Config {
        port: 8400,
        log_requests: true,
        ..Config::default()
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{arg}: {e}"));
        let endpoint = |v: String| v.parse::<Endpoint>();
        let faults = &mut config.faults;
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" => config.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--as-port" => {
                config.as_port = Some(value()?.parse().map_err(|e| format!("--as-port: {e}"))?)
            }
            "--issuer-path" => config.issuer_path = value()?,
            "--auto-approve" => config.auto_approve = true,
            "--access-token-ttl" => {
                config.access_token_ttl = Duration::from_secs(number(value()?)?)
            }
            "--device-interval" => config.device_interval = Duration::from_secs(number(value()?)?),
            "--refresh-requires-offline-access" => config.refresh_requires_offline_access = true,
            "--challenge-scope" => config.challenge_scope = Some(value()?),
            "--no-challenge-scope" => config.challenge_scope = None,
            "--quiet" => config.log_requests = false,
            "--latency-ms" => faults.latency_ms = number(value()?)?,
            "--wrong-issuer" => faults.wrong_issuer = true,
            "--wrong-resource" => faults.wrong_resource = true,
            "--omit-iss" => faults.omit_iss = true,
            "--wrong-iss" => faults.wrong_iss = true,
            "--omit-code-challenge-methods" => faults.omit_code_challenge_methods = true,
            "--one-grant-type-per-client" => faults.one_grant_type_per_client = true,
            "--error-redirect-without-iss" => faults.error_redirect_without_iss = true,
            "--deny-authorization" => faults.deny_authorization = Some(value()?),
            "--access-token-ttl-ms" => faults.access_token_ttl_ms = Some(number(value()?)?),
            "--refresh-token-ttl-ms" => faults.refresh_token_ttl_ms = Some(number(value()?)?),
            "--revoke-access-token-on-refresh" => faults.revoke_access_token_on_refresh = true,
            "--oversized-www-authenticate" => faults.oversized_www_authenticate = true,
            "--persistent-401" => faults.persistent_401 = true,
            "--sse-responses" => faults.sse_responses = true,
            "--sessions" => faults.sessions = true,
            "--lose-refresh-response" => faults.lose_refresh_response = true,
            "--dpop-nonce-token" => faults.dpop_nonce_token = true,
            "--dpop-nonce-resource" => faults.dpop_nonce_resource = true,
            "--dpop-downgrade" => faults.dpop_downgrade = true,
            "--private-key-jwt-client" => {
                let (client_id, jwk) = id_and_jwk(&arg, &value()?)?;
                config.static_clients.push(RegisteredClient {
                    client_id,
                    auth: ClientAuth::PrivateKeyJwt(jwk),
                    redirect_uris: vec!["http://127.0.0.1/callback".to_owned()],
                });
            }
            "--trusted-issuer" => {
                let (issuer, jwk) = id_and_jwk(&arg, &value()?)?;
                config.trusted_issuers.push(TrustedIssuer { issuer, jwk });
            }
            "--confidential-client" => {
                let pair = value()?;
                let (client_id, secret) = pair
                    .split_once(':')
                    .ok_or_else(|| format!("--confidential-client: {pair} is not ID:SECRET"))?;
                config.static_clients.push(RegisteredClient {
                    client_id: client_id.to_owned(),
                    auth: ClientAuth::ClientSecretBasic(secret.to_owned()),
                    redirect_uris: vec!["http://127.0.0.1/callback".to_owned()],
                });
            }
            "--fail" => faults.server_error.push(endpoint(value()?)?),
            "--stall" => faults.stall.push(endpoint(value()?)?),
            "--trickle" => faults.trickle.push(endpoint(value()?)?),
            "--malformed" => faults.malformed_json.push(endpoint(value()?)?),
            "--oversized" => faults.oversized.push(endpoint(value()?)?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Some(config))
}

/// `NAME=JWK`, the JWK as JSON: split at the first `=` followed by `{`.
fn id_and_jwk(arg: &str, value: &str) -> Result<(String, PublicJwk), String> {
    let (name, jwk) = value
        .split_once("={")
        .ok_or_else(|| format!("{arg}: {value} is not NAME={{jwk}}"))?;
    let jwk: serde_json::Value =
        serde_json::from_str(&format!("{{{jwk}")).map_err(|e| format!("{arg}: {e}"))?;
    let jwk = PublicJwk::from_json(&jwk).map_err(|e| format!("{arg}: {e}"))?;
    Ok((name.to_owned(), jwk))
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn transport_switches_set_their_faults() {
        let config = parse(args(&["--port", "0", "--sse-responses", "--sessions"]))
            .expect("valid arguments")
            .expect("not --help");
        assert!(config.faults.sse_responses && config.faults.sessions);
        let plain = parse(args(&["--port", "0"]))
            .expect("valid")
            .expect("not --help");
        assert!(!plain.faults.sse_responses && !plain.faults.sessions);
    }

    #[test]
    fn dpop_switches_and_key_clients_are_read() {
        let jwk = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let config = parse(args(&[
            "--dpop-nonce-token",
            "--dpop-downgrade",
            "--private-key-jwt-client",
            &format!("svc={jwk}"),
            "--trusted-issuer",
            &format!("https://idp.example={jwk}"),
        ]))
        .expect("valid arguments")
        .expect("not --help");
        assert!(config.faults.dpop_nonce_token && config.faults.dpop_downgrade);
        assert!(!config.faults.dpop_nonce_resource);
        assert_eq!(config.static_clients[0].client_id, "svc");
        assert_eq!(config.trusted_issuers[0].issuer, "https://idp.example");
        assert!(parse(args(&["--trusted-issuer", "https://idp.example"])).is_err());
    }
}
