//! `mcpauth-devserver`: run the development authorization server and MCP endpoint until
//! killed. `--help` lists the switches.

use std::process::ExitCode;
use std::time::Duration;

use mcpauth_devserver::{ClientAuth, Config, DevServer, Endpoint, RegisteredClient};

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
  --fail E  --stall E  --trickle E  --malformed E  --oversized E   (repeatable), E one of
      mcp resource_metadata authorization_server_metadata register authorize token
      device_authorization device revoke userinfo

clock: GET /_dev/clock reads it, POST /_dev/clock {\"advance_ms\": N} moves it forward
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
}
