//! The SASL configuration and exchange text a broker or client parses. The first byte
//! picks what the rest is (`strom_fuzz::sasl` names the selectors, shared with the seeds):
//!
//! - `JAAS_AND_SCRAM_CLIENT`: a `sasl.jaas.config` value (JAAS login module entry) and the
//!   SCRAM server-first and server-final messages as the client side reads them;
//! - `SCRAM_SERVER`: `client-first \n client-final` to the broker's SCRAM server;
//! - `OAUTH_INITIAL`: an OAUTHBEARER initial response; its token is then validated
//!   against a fixed JWKS (RSA and EC keys);
//! - `JWKS_AND_TOKEN`: `jwks-json \n token`: the JWKS parsed, the token validated with it;
//! - `CLAIMS`: a JWT claims set, to the claim checks (which a fuzzer cannot reach through
//!   a signature);
//! - `JWKS_HTTP`: a JWKS endpoint's HTTP response, its body then parsed as a JWKS.
//!
//! Nothing panics; a parsed JAAS entry keeps every option it was given; no SCRAM exchange
//! succeeds (the server nonce is random); a validated token names a principal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strom_broker::fuzzing;
use strom_client::scram::{attributes, unescape_name, ScramClient, ScramMechanism};
use strom_fuzz::sasl::*;

const NOW_MS: i64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % SELECTORS {
        JAAS_AND_SCRAM_CLIENT => jaas_and_scram_client(rest),
        SCRAM_SERVER => {
            let (first, last) = split_at_newline(rest);
            // The server nonce is random: no input can prove knowledge of the password.
            assert!(!fuzzing::scram_exchange(first, last));
        }
        OAUTH_INITIAL => {
            if let Some(token) = fuzzing::oauthbearer_initial_response(rest) {
                if let Some(principal) = fuzzing::validate_jwt(&token, FIXED_JWKS.as_bytes(), NOW_MS) {
                    assert!(!principal.trim().is_empty());
                }
            }
        }
        JWKS_AND_TOKEN => {
            let (jwks, token) = split_at_newline(rest);
            let _ = fuzzing::jwks(jwks);
            if let Ok(token) = std::str::from_utf8(token) {
                let _ = fuzzing::validate_jwt(token, jwks, NOW_MS);
            }
        }
        CLAIMS => {
            if let Some(principal) = fuzzing::check_claims(rest, NOW_MS) {
                assert!(!principal.trim().is_empty());
            }
        }
        _ => {
            if let Ok(body) = fuzzing::jwks_http_response(rest) {
                assert!(body.len() <= 512 * 1024);
                let _ = fuzzing::jwks(&body);
            }
        }
    }
});

fn split_at_newline(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|b| *b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[]),
    }
}

fn jaas_and_scram_client(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(entry) = strom_config::parse_jaas_config(text) {
        assert!(!entry.login_module.is_empty());
        let _ = entry.plain_users();
    }
    let _ = attributes(text);
    let _ = unescape_name(text);
    // A server-first message, with few iterations so PBKDF2 does not slow the fuzzer.
    let cheap = attributes(text).is_some_and(|attrs| {
        attrs
            .iter()
            .all(|(n, v)| *n != 'i' || v.parse::<u32>().is_ok_and(|i| i <= 16))
    });
    if cheap {
        let mut client = ScramClient::with_nonce(ScramMechanism::Sha256, "u", "p", "abc".into());
        if client.client_final(data).is_ok() {
            let _ = client.verify_server_final(data);
        }
    }
}
