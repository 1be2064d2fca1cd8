//! TLS for Kafka's `SSL` security protocol, on rustls with the ring backend: PEM key and
//! trust stores (Kafka's `ssl.keystore.type=PEM`), Kafka's TLS versions and cipher suite names,
//! and the client side of a connection (`security.protocol=SSL`). The broker builds its
//! acceptor from the same loaders.

use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
    UnixTime,
};
use rustls::{
    CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedCipherSuite,
    SupportedProtocolVersion,
};
use tokio::net::TcpStream;

pub use tokio_rustls::client::TlsStream as ClientTlsStream;

/// The certificates of a PEM text, in order; an error when there is none.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("holds no certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certs)
}

/// The private key of a PEM text: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
/// (`EC PRIVATE KEY`), or an encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`, PBES2) opened with
/// `password` (Kafka's `ssl.key.password`).
pub fn private_key_from_pem(
    pem: &[u8],
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, String> {
    let text = String::from_utf8_lossy(pem);
    if let Some(start) = text.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let end_marker = "-----END ENCRYPTED PRIVATE KEY-----";
        let end = text[start..]
            .find(end_marker)
            .map(|i| start + i + end_marker.len())
            .ok_or("has an ENCRYPTED PRIVATE KEY without its END line")?;
        let Some(password) = password else {
            return Err("holds an encrypted private key, but ssl.key.password is not set".into());
        };
        let (_, document) = pkcs8::Document::from_pem(&text[start..end])
            .map_err(|e| format!("has an encrypted private key that is not valid PEM: {e}"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(document.as_bytes())
            .map_err(|e| format!("has an encrypted private key that does not parse: {e}"))?;
        let decrypted = info.decrypt(password.as_bytes()).map_err(|_| {
            "has an encrypted private key that ssl.key.password does not open (wrong password, or not PBES2)".to_owned()
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            decrypted.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "holds no private key (-----BEGIN PRIVATE KEY-----)".to_owned()
        }
        other => format!("has no readable private key: {other}"),
    })
}

/// A trust store of the given CA certificates.
pub fn root_store(certs: &[CertificateDer<'static>]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert.clone())
            .map_err(|e| format!("holds a certificate that cannot be a trust anchor: {e}"))?;
    }
    Ok(roots)
}

/// The subject of a certificate as Kafka's principal builder sees it (RFC 2253/4514: most
/// specific first, e.g. `CN=alice,OU=eng,O=example`); `None` if the certificate does not
/// parse.
pub fn subject_name(cert: &CertificateDer<'_>) -> Option<String> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(cert.as_ref()).ok()?;
    Some(cert.tbs_certificate.subject.to_string())
}

/// The crypto provider (ring) limited to the named cipher suites (`ssl.cipher.suites`, Java's
/// standard names); all of ring's suites when the list is empty. An unknown name is refused.
pub fn provider(cipher_suites: &[String]) -> Result<Arc<CryptoProvider>, String> {
    // ring, not aws-lc-rs: it builds in a fraction of the time (no cmake, no large C
    // library) and covers every suite Kafka enables by default. rustls marks it deprecated
    // because it lacks the post-quantum hybrid key exchange (X25519MLKEM768); see
    // ARCHITECTURE.md.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    if !cipher_suites.is_empty() {
        let mut chosen = Vec::new();
        for name in cipher_suites {
            let name = name.trim();
            let suite = provider
                .cipher_suites
                .iter()
                .find(|s| suite_names(s).iter().any(|n| n == name))
                .ok_or_else(|| {
                    let known: Vec<String> = provider
                        .cipher_suites
                        .iter()
                        .filter_map(|s| suite_names(s).into_iter().next())
                        .collect();
                    format!(
                        "cipher suite {name} is not one Strom supports; use some of {}",
                        known.join(", ")
                    )
                })?;
            chosen.push(*suite);
        }
        provider.cipher_suites = chosen;
    }
    Ok(Arc::new(provider))
}

/// The standard names of a suite: rustls' (IANA's) and, for TLS 1.3, Java's (IANA's without
/// rustls' `TLS13_` prefix).
fn suite_names(suite: &SupportedCipherSuite) -> Vec<String> {
    let Some(rustls_name) = suite.suite().as_str() else {
        return Vec::new();
    };
    match rustls_name.strip_prefix("TLS13_") {
        Some(rest) => vec![format!("TLS_{rest}"), rustls_name.to_owned()],
        None => vec![rustls_name.to_owned()],
    }
}

/// The TLS versions of `ssl.enabled.protocols` (`TLSv1.2`, `TLSv1.3`); older ones are
/// refused by name, unknown ones too.
pub fn protocol_versions(
    names: &[String],
) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let mut versions = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let version = match name {
            "TLSv1.3" => &rustls::version::TLS13,
            "TLSv1.2" => &rustls::version::TLS12,
            "TLSv1" | "TLSv1.1" | "SSLv3" | "SSLv2Hello" => {
                return Err(format!(
                    "{name} is not supported (it is insecure); use TLSv1.2 and/or TLSv1.3"
                ))
            }
            other => {
                return Err(format!(
                    "{other} is not a TLS version; use TLSv1.2, TLSv1.3"
                ))
            }
        };
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        return Err("no TLS version is enabled; use TLSv1.2, TLSv1.3".into());
    }
    Ok(versions)
}

/// The client side: a rustls configuration and whether the server's host name is checked
/// (`ssl.endpoint.identification.algorithm=https`, Kafka's default).
#[derive(Clone)]
pub struct ClientTls {
    connector: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

/// What a TLS client is built from, Java client keys read into values.
#[derive(Debug, Clone, Default)]
pub struct ClientTlsSettings {
    /// Trusted CA certificates (PEM), from `ssl.truststore.location` / `.certificates`.
    pub trusted: Vec<CertificateDer<'static>>,
    /// A client certificate chain and key for mutual TLS (`ssl.keystore.*`).
    pub identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    /// `ssl.endpoint.identification.algorithm=https` (true) or empty (false).
    pub verify_hostname: bool,
    /// `ssl.enabled.protocols`.
    pub protocols: Vec<String>,
    /// `ssl.cipher.suites`.
    pub cipher_suites: Vec<String>,
}

impl ClientTls {
    pub fn new(settings: &ClientTlsSettings) -> Result<ClientTls, String> {
        let provider = provider(&settings.cipher_suites)?;
        let versions = protocol_versions(&settings.protocols)?;
        let roots = Arc::new(root_store(&settings.trusted)?);
        let webpki =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("the trust store cannot verify servers: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = if settings.verify_hostname {
            webpki
        } else {
            Arc::new(NoHostnameCheck(webpki))
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| format!("ssl.enabled.protocols and ssl.cipher.suites do not fit: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &settings.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| format!("the key store's key does not fit its certificate: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// Reads the Java client keys (`security.protocol`, `ssl.truststore.*`, `ssl.keystore.*`,
    /// `ssl.key.password`, `ssl.endpoint.identification.algorithm`, `ssl.enabled.protocols`,
    /// `ssl.cipher.suites`): `None` for PLAINTEXT, an error naming the key for anything that
    /// cannot be used.
    pub fn from_properties(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ClientTls>, String> {
        let protocol = get("security.protocol").unwrap_or_else(|| "PLAINTEXT".into());
        match protocol.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" | "SASL_PLAINTEXT" => return Ok(None),
            "SSL" | "SASL_SSL" => {}
            other => {
                return Err(format!(
                    "security.protocol={other} is not supported by strom's client; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                ))
            }
        }
        let list = |key: &str, default: &str| -> Vec<String> {
            get(key)
                .unwrap_or_else(|| default.to_owned())
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let store = read_stores(&get)?;
        let Some(trusted) = store.trusted else {
            return Err(
                format!("security.protocol={} needs ssl.truststore.location (a PEM file of the CA certificates) and ssl.truststore.type=PEM", protocol.trim().to_ascii_uppercase()),
            );
        };
        let settings = ClientTlsSettings {
            trusted,
            identity: store.identity,
            verify_hostname: !get("ssl.endpoint.identification.algorithm")
                .unwrap_or_else(|| "https".into())
                .trim()
                .is_empty(),
            protocols: list("ssl.enabled.protocols", "TLSv1.2,TLSv1.3"),
            cipher_suites: list("ssl.cipher.suites", ""),
        };
        ClientTls::new(&settings).map(Some)
    }

    /// The rustls client configuration, for a caller that runs the handshake itself (the
    /// controller quorum's transport).
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        self.connector.clone()
    }

    /// The TLS handshake on a connected socket, to `host` (a name or an IP address).
    pub async fn connect(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> io::Result<ClientTlsStream<TcpStream>> {
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
            .to_owned();
        self.connector.connect(name, tcp).await
    }
}

/// The key and trust stores of a configuration, read and checked.
#[derive(Default)]
pub struct Stores {
    pub trusted: Option<Vec<CertificateDer<'static>>>,
    /// Certificate revocation lists in the trust store (`-----BEGIN X509 CRL-----` blocks
    /// beside the CA certificates): client certificates they list are refused.
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    pub identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
}

/// Reads `ssl.keystore.*` and `ssl.truststore.*` through `get` (which applies any listener
/// prefix): every error names the key to fix.
pub fn read_stores(get: &impl Fn(&str) -> Option<String>) -> Result<Stores, String> {
    let set = |key: &str| get(key).filter(|v| !v.trim().is_empty());
    let mut stores = Stores::default();
    let keystore_location = set("ssl.keystore.location");
    let inline_chain = set("ssl.keystore.certificate.chain");
    let inline_key = set("ssl.keystore.key");
    let password = set("ssl.key.password");
    if keystore_location.is_some() || inline_chain.is_some() || inline_key.is_some() {
        require_pem(get("ssl.keystore.type"), "ssl.keystore.type")?;
        let (chain_pem, key_pem, what) = match (&keystore_location, &inline_chain, &inline_key) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err("set either ssl.keystore.location or ssl.keystore.certificate.chain with ssl.keystore.key, not both".into())
            }
            (Some(path), None, None) => {
                let bytes = read_file(path, "ssl.keystore.location")?;
                (bytes.clone(), bytes, format!("ssl.keystore.location {path}"))
            }
            (None, Some(chain), Some(key)) => (
                chain.clone().into_bytes(),
                key.clone().into_bytes(),
                "ssl.keystore.certificate.chain / ssl.keystore.key".to_owned(),
            ),
            _ => {
                return Err(
                    "ssl.keystore.certificate.chain and ssl.keystore.key go together; set both"
                        .into(),
                )
            }
        };
        let chain = certificates_from_pem(&chain_pem).map_err(|e| format!("{what} {e}"))?;
        let key = private_key_from_pem(&key_pem, password.as_deref())
            .map_err(|e| format!("{what} {e}"))?;
        stores.identity = Some((chain, Arc::new(key)));
    }
    let truststore_location = set("ssl.truststore.location");
    let inline_trusted = set("ssl.truststore.certificates");
    if truststore_location.is_some() || inline_trusted.is_some() {
        require_pem(get("ssl.truststore.type"), "ssl.truststore.type")?;
        let (pem, what) =
            match (&truststore_location, &inline_trusted) {
                (Some(_), Some(_)) => return Err(
                    "set either ssl.truststore.location or ssl.truststore.certificates, not both"
                        .into(),
                ),
                (Some(path), None) => (
                    read_file(path, "ssl.truststore.location")?,
                    format!("ssl.truststore.location {path}"),
                ),
                (None, Some(inline)) => (
                    inline.clone().into_bytes(),
                    "ssl.truststore.certificates".to_owned(),
                ),
                (None, None) => return Ok(stores),
            };
        let certs = certificates_from_pem(&pem).map_err(|e| format!("{what} {e}"))?;
        root_store(&certs).map_err(|e| format!("{what} {e}"))?;
        stores.trusted = Some(certs);
        stores.crls = CertificateRevocationListDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{what} has an X509 CRL that is not valid PEM: {e}"))?;
    }
    Ok(stores)
}

fn require_pem(value: Option<String>, key: &str) -> Result<(), String> {
    let value = value.unwrap_or_else(|| "JKS".into());
    match value.trim().to_ascii_uppercase().as_str() {
        "PEM" => Ok(()),
        "PKCS12" => Err(format!(
            "{key}=PKCS12 is not supported: Strom reads PEM stores; convert with `openssl pkcs12 -in store.p12 -nodes -out store.pem` and set {key}=PEM"
        )),
        other => Err(format!(
            "{key}={other} is not supported (JKS is Kafka's default): Strom reads PEM stores; set {key}=PEM with a PEM file"
        )),
    }
}

fn read_file(path: &str, key: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key} {path} cannot be read: {e}"))
}

/// Checks the chain up to a trusted CA but not the host name: Kafka's empty
/// `ssl.endpoint.identification.algorithm`.
#[derive(Debug)]
struct NoHostnameCheck(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for NoHostnameCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_are_kafkas() {
        assert_eq!(
            protocol_versions(&["TLSv1.2".into(), "TLSv1.3".into()])
                .unwrap()
                .len(),
            2
        );
        assert!(protocol_versions(&["TLSv1.1".into()]).is_err());
        assert!(protocol_versions(&["TLS1.3".into()]).is_err());
        assert!(protocol_versions(&[]).is_err());
    }

    #[test]
    fn cipher_suites_take_java_names_and_refuse_unknown_ones() {
        let p = provider(&[
            "TLS_AES_128_GCM_SHA256".into(),
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into(),
        ])
        .unwrap();
        assert_eq!(p.cipher_suites.len(), 2);
        let err = provider(&["TLS_RSA_WITH_RC4_128_MD5".into()]).unwrap_err();
        assert!(err.contains("TLS_RSA_WITH_RC4_128_MD5"), "{err}");
        assert!(provider(&[]).unwrap().cipher_suites.len() >= 5);
    }

    #[test]
    fn stores_must_be_pem_and_errors_name_the_key() {
        let get = |k: &str| match k {
            "ssl.truststore.location" => Some("/nonexistent/ca.pem".to_owned()),
            _ => None,
        };
        let err = read_stores(&get).err().unwrap();
        assert!(err.contains("ssl.truststore.type=PEM"), "{err}");
        let get = |k: &str| match k {
            "ssl.truststore.location" => Some("/nonexistent/ca.pem".to_owned()),
            "ssl.truststore.type" => Some("PEM".to_owned()),
            _ => None,
        };
        let err = read_stores(&get).err().unwrap();
        assert!(
            err.contains("ssl.truststore.location /nonexistent/ca.pem"),
            "{err}"
        );
        let get = |k: &str| match k {
            "ssl.keystore.key" => Some("-----BEGIN PRIVATE KEY-----".to_owned()),
            "ssl.keystore.type" => Some("PEM".to_owned()),
            _ => None,
        };
        assert!(read_stores(&get).err().unwrap().contains("go together"));
        let get = |k: &str| match k {
            "ssl.truststore.certificates" => Some("not pem".to_owned()),
            "ssl.truststore.type" => Some("PEM".to_owned()),
            _ => None,
        };
        assert!(read_stores(&get)
            .err()
            .unwrap()
            .contains("ssl.truststore.certificates holds no certificate"));
    }

    #[test]
    fn an_encrypted_key_needs_its_password() {
        let pem =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = private_key_from_pem(pem, None).unwrap_err();
        assert!(err.contains("ssl.key.password is not set"), "{err}");
        assert!(private_key_from_pem(pem, Some("x")).is_err());
    }

    #[test]
    fn security_protocols_other_than_plaintext_and_ssl_are_refused() {
        assert!(ClientTls::from_properties(|_| None).unwrap().is_none());
        let err = ClientTls::from_properties(|k| {
            (k == "security.protocol").then(|| "SASL_SSL".to_owned())
        })
        .unwrap_err();
        assert!(err.contains("SASL_SSL"), "{err}");
        let err =
            ClientTls::from_properties(|k| (k == "security.protocol").then(|| "SSL".to_owned()))
                .unwrap_err();
        assert!(err.contains("ssl.truststore.location"), "{err}");
    }
}
