//! The SASL configuration and exchange text a broker or client parses: a
//! `sasl.jaas.config` value (JAAS login module entry) and the SCRAM
//! server-first and server-final messages as the client side reads them.
//! Nothing panics; a parsed JAAS entry keeps every option it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strom_client::scram::{attributes, unescape_name, ScramClient, ScramMechanism};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(entry) = strom_config::parse_jaas_config(text) {
            assert!(!entry.login_module.is_empty());
            let _ = entry.plain_users();
        }
        let _ = attributes(text);
        let _ = unescape_name(text);
    }
    // A server-first message, with few iterations so PBKDF2 does not slow the fuzzer.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
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
});
