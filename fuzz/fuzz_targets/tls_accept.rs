//! Bytes from a client on a TLS listener, before and inside the handshake: the broker's
//! acceptor configuration (a PEM key store loaded by the same loaders, client certificates
//! requested against a PEM trust store) reads them through rustls, and any client certificate
//! that gets through is turned into a principal as the broker does (its subject, then
//! `ssl.principal.mapping.rules`). Nothing may panic. The subject parser is also fed the raw
//! bytes as a certificate.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rustls::pki_types::CertificateDer;
use strom_client::tls::{certificates_from_pem, private_key_from_pem, root_store, subject_name};
use strom_config::SslPrincipalMapper;

const KEY_STORE: &str = include_str!("../examples/tls/broker.pem");
const TRUST_STORE: &str = include_str!("../examples/tls/ca.pem");

struct Setup {
    config: Arc<rustls::ServerConfig>,
    mapper: SslPrincipalMapper,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let chain = certificates_from_pem(KEY_STORE.as_bytes()).expect("fuzz key store");
        let key = private_key_from_pem(KEY_STORE.as_bytes(), None).expect("fuzz key");
        let trusted = certificates_from_pem(TRUST_STORE.as_bytes()).expect("fuzz trust store");
        let provider = strom_client::tls::provider(&[]).expect("provider");
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(root_store(&trusted).expect("roots")),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .expect("verifier");
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .expect("server config");
        Setup {
            config: Arc::new(config),
            mapper: SslPrincipalMapper::parse("RULE:^CN=([^,]+),.*$/$1/L,DEFAULT").expect("rules"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let setup = setup();
    let Ok(mut conn) = rustls::ServerConnection::new(setup.config.clone()) else {
        return;
    };
    // The bytes arrive in pieces of varying size, as a socket would deliver them.
    let mut input = data;
    let mut piece = 1usize;
    while !input.is_empty() {
        let take = piece.min(input.len());
        let mut chunk = &input[..take];
        input = &input[take..];
        piece = piece * 3 % 4099 + 1;
        while !chunk.is_empty() {
            match conn.read_tls(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if conn.process_new_packets().is_err() {
            break;
        }
        let mut out = Vec::new();
        while conn.wants_write() {
            if conn.write_tls(&mut out).is_err() {
                break;
            }
        }
    }
    if let Some(cert) = conn.peer_certificates().and_then(|c| c.first()) {
        if let Some(dn) = subject_name(cert) {
            let _ = setup.mapper.name(&dn);
        }
    }
    if let Some(dn) = subject_name(&CertificateDer::from(data)) {
        let _ = setup.mapper.name(&dn);
    }
});
