//! The quorum transport's security: TLS, mutual TLS and SASL PLAIN between a real TCP
//! server ([`serve`]) and client ([`PeerClient`]). Certificates are made with `openssl`
//! in a temporary directory (a CA, a server certificate for 127.0.0.1, a client certificate
//! of that CA, and one of another CA).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::raft::VoteRequest;
use strom_client::tls::{
    certificates_from_pem, private_key_from_pem, provider, root_store, ClientTls, ClientTlsSettings,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::transport::{serve, PeerClient, PeerRequest, PeerResponse, PeerService, HELLO};
use super::{TypeConfig, Vote};
use crate::rpc::{ControllerReply, ControllerRequest, ControllerResponse};
use crate::security::{FixedQuorumTls, PlainCredentials, QuorumSasl, QuorumSecurity};

const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// A node that is not a Raft member: every Raft RPC is answered `Stopped`, and each one
/// that reaches it is counted.
#[derive(Default)]
struct CountingService {
    requests: AtomicUsize,
}

impl PeerService for CountingService {
    fn raft(&self) -> Option<&openraft::Raft<TypeConfig>> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        None
    }

    async fn controller(&self, _request: ControllerRequest) -> ControllerResponse {
        ControllerResponse {
            reply: ControllerReply::Failed(crate::ControllerError::NotController(
                "a test service".into(),
            )),
            offset: 0,
        }
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed for the TLS tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_ca(dir: &Path, name: &str) {
    let (key, pem, subj) = (
        format!("{name}.key"),
        format!("{name}.pem"),
        format!("/CN={name}"),
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &subj,
        ],
    );
}

fn make_cert(dir: &Path, name: &str, ca: &str) {
    let (key, csr, crt, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.ext"),
    );
    let subj = format!("/CN={name}");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &subj,
        ],
    );
    std::fs::write(
        dir.join(&ext),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

fn pki() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_ca(dir.path(), "ca");
    make_ca(dir.path(), "rogue-ca");
    make_cert(dir.path(), "controller", "ca");
    make_cert(dir.path(), "mallory", "rogue-ca");
    dir
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap()
}

fn acceptor(dir: &Path, client_auth: bool) -> TlsAcceptor {
    let chain = certificates_from_pem(&read(dir, "controller.crt")).unwrap();
    let key = private_key_from_pem(&read(dir, "controller.key"), None).unwrap();
    let provider = provider(&[]).unwrap();
    let verifier = if client_auth {
        let roots = root_store(&certificates_from_pem(&read(dir, "ca.pem")).unwrap()).unwrap();
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap()
    } else {
        WebPkiClientVerifier::no_client_auth()
    };
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// A client trusting `ca`, presenting `identity` (a certificate name) if given.
fn connector(dir: &Path, ca: &str, identity: Option<&str>) -> tokio_rustls::TlsConnector {
    let identity = identity.map(|name| {
        (
            certificates_from_pem(&read(dir, &format!("{name}.crt"))).unwrap(),
            Arc::new(private_key_from_pem(&read(dir, &format!("{name}.key")), None).unwrap()),
        )
    });
    ClientTls::new(&ClientTlsSettings {
        trusted: certificates_from_pem(&read(dir, &format!("{ca}.pem"))).unwrap(),
        identity,
        verify_hostname: true,
        protocols: vec!["TLSv1.2".into(), "TLSv1.3".into()],
        cipher_suites: Vec::new(),
    })
    .unwrap()
    .connector()
}

fn tls_security(
    protocol: &str,
    acceptor: Option<TlsAcceptor>,
    connector: tokio_rustls::TlsConnector,
) -> QuorumSecurity {
    QuorumSecurity {
        protocol: protocol.into(),
        tls: Some(Arc::new(FixedQuorumTls {
            acceptor,
            connector,
        })),
        sasl: None,
    }
}

/// A controller's own security: its certificate (asking clients for theirs
/// when `client_auth`), trusting the test CA, with its certificate as a
/// client when `identity` is given.
fn controller_security(
    protocol: &str,
    dir: &Path,
    client_auth: bool,
    identity: Option<&str>,
) -> QuorumSecurity {
    tls_security(
        protocol,
        Some(acceptor(dir, client_auth)),
        connector(dir, "ca", identity),
    )
}

fn sasl(client: Option<(&str, &str)>) -> QuorumSasl {
    QuorumSasl {
        client: client.map(|(username, password)| PlainCredentials {
            username: username.into(),
            password: password.into(),
        }),
        users: [("controller".to_owned(), "controller-secret".to_owned())].into(),
    }
}

/// A server on 127.0.0.1 secured by `security`: its address, its request count, and the
/// sender that stops it.
async fn server(security: QuorumSecurity) -> (String, Arc<CountingService>, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let service = Arc::new(CountingService::default());
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(serve(listener, service.clone(), security, stopped));
    (address, service, stop)
}

fn vote() -> PeerRequest {
    PeerRequest::Vote(VoteRequest::new(Vote::new(1, 1), None))
}

/// Whether a call reached the server and came back with its (Stopped) answer.
fn answered(result: &Result<PeerResponse, super::transport::CallError>) -> bool {
    matches!(result, Ok(PeerResponse::Vote(Err(_))))
}

#[tokio::test]
async fn rpcs_flow_over_tls_and_the_connection_is_reused() {
    let dir = pki();
    let security = controller_security("SSL", dir.path(), false, None);
    let (address, service, _stop) = server(security.clone()).await;
    let mut client = PeerClient::new(&address, security);
    for _ in 0..3 {
        let result = client.call(&vote(), CALL_TIMEOUT).await;
        assert!(answered(&result), "{:?}", result.err());
    }
    assert_eq!(service.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_controller_certificate_sends_nothing() {
    let dir = pki();
    let server_security = controller_security("SSL", dir.path(), false, None);
    let (address, service, _stop) = server(server_security).await;
    let wrong_trust = tls_security("SSL", None, connector(dir.path(), "rogue-ca", None));
    let result = PeerClient::new(&address, wrong_trust)
        .call(&vote(), CALL_TIMEOUT)
        .await;
    let error = result
        .err()
        .expect("an untrusted controller must be refused");
    let text = error.to_string();
    assert!(text.contains("TLS handshake failed"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    assert_eq!(service.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_certificate_of_an_unknown_ca() {
    let dir = pki();
    let server_security = controller_security("SSL", dir.path(), true, Some("controller"));
    let (address, service, _stop) = server(server_security.clone()).await;
    // No certificate at all, and one of another CA: refused, nothing served.
    for identity in [None, Some("mallory")] {
        let client = tls_security("SSL", None, connector(dir.path(), "ca", identity));
        let result = PeerClient::new(&address, client)
            .call(&vote(), CALL_TIMEOUT)
            .await;
        assert!(result.is_err(), "{identity:?} was accepted");
    }
    assert_eq!(service.requests.load(Ordering::SeqCst), 0);
    // A certificate of the trusted CA is accepted.
    let result = PeerClient::new(&address, server_security)
        .call(&vote(), CALL_TIMEOUT)
        .await;
    assert!(answered(&result), "{:?}", result.err());
    assert_eq!(service.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_plaintext_peer_to_a_tls_port_gets_nothing_and_is_told_why() {
    let dir = pki();
    let security = controller_security("SSL", dir.path(), false, None);
    let (address, service, _stop) = server(security).await;
    let plaintext = QuorumSecurity::default();
    let result = PeerClient::new(&address, plaintext)
        .call(&vote(), CALL_TIMEOUT)
        .await;
    let text = result
        .err()
        .expect("a plaintext peer must fail")
        .to_string();
    assert!(
        text.contains(
            "does the controller listener's security protocol match this node's PLAINTEXT?"
        ),
        "{text}"
    );
    assert_eq!(service.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn sasl_plain_admits_the_right_password_and_refuses_a_wrong_one() {
    let server_security = QuorumSecurity {
        protocol: "SASL_PLAINTEXT".into(),
        tls: None,
        sasl: Some(sasl(Some(("controller", "controller-secret")))),
    };
    let (address, service, _stop) = server(server_security.clone()).await;
    let result = PeerClient::new(&address, server_security)
        .call(&vote(), CALL_TIMEOUT)
        .await;
    assert!(answered(&result), "{:?}", result.err());
    assert_eq!(service.requests.load(Ordering::SeqCst), 1);

    for (user, password) in [("controller", "wrong"), ("nobody", "controller-secret")] {
        let client = QuorumSecurity {
            protocol: "SASL_PLAINTEXT".into(),
            tls: None,
            sasl: Some(sasl(Some((user, password)))),
        };
        let text = PeerClient::new(&address, client)
            .call(&vote(), CALL_TIMEOUT)
            .await
            .err()
            .expect("a wrong password must be refused")
            .to_string();
        assert!(
            text.contains("Authentication failed: Invalid username or password"),
            "{text}"
        );
    }
    assert_eq!(service.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_peer_that_skips_sasl_gets_no_rpc_served() {
    let server_security = QuorumSecurity {
        protocol: "SASL_PLAINTEXT".into(),
        tls: None,
        sasl: Some(sasl(None)),
    };
    let (address, service, _stop) = server(server_security).await;
    // Our own client without SASL: its request is taken for an authentication and refused.
    let result = PeerClient::new(&address, QuorumSecurity::default())
        .call(&vote(), CALL_TIMEOUT)
        .await;
    assert!(result.is_err());
    // A raw peer that says HELLO and then waits is closed within the set-up bound.
    let mut raw = TcpStream::connect(&address).await.unwrap();
    raw.write_all(HELLO).await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        super::transport::SETUP_TIMEOUT + Duration::from_secs(5),
        raw.read_to_end(&mut rest),
    )
    .await;
    assert!(read.is_ok(), "the silent peer was not closed");
    assert!(
        rest.is_empty(),
        "the silent peer was sent {} bytes",
        rest.len()
    );
    assert_eq!(service.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn sasl_ssl_authenticates_inside_tls() {
    let dir = pki();
    let mut security = controller_security("SASL_SSL", dir.path(), false, None);
    security.sasl = Some(sasl(Some(("controller", "controller-secret"))));
    let (address, service, _stop) = server(security.clone()).await;
    let result = PeerClient::new(&address, security.clone())
        .call(&vote(), CALL_TIMEOUT)
        .await;
    assert!(answered(&result), "{:?}", result.err());
    security.sasl = Some(sasl(Some(("controller", "nope"))));
    let result = PeerClient::new(&address, security)
        .call(&vote(), CALL_TIMEOUT)
        .await;
    assert!(result.is_err());
    assert_eq!(service.requests.load(Ordering::SeqCst), 1);
}
