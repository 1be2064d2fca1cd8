//! The few HTTP requests Strom makes outside the Kafka protocol: a JWKS (the broker's
//! OAUTHBEARER validator), an OAuth access token (the client's OAUTHBEARER login), a
//! Prometheus page (the console). One request per connection (HTTP/1.1,
//! `Connection: close`), over plain TCP or rustls, bounded in time and size.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed `file:`, `http:` or `https:` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Url {
    File(std::path::PathBuf),
    Http {
        tls: bool,
        host: String,
        port: u16,
        /// Path and query, starting with `/`.
        path: String,
    },
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once(':')
            .ok_or("not a URL (expected file:, https: or http:)")?;
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                // file:/path, file:///path, file://localhost/path
                let path = rest
                    .strip_prefix("//localhost")
                    .or_else(|| rest.strip_prefix("//"))
                    .unwrap_or(rest);
                if !path.starts_with('/') {
                    return Err("a file: URL needs an absolute path (file:///path/to/file)".into());
                }
                Ok(Url::File(path.into()))
            }
            s @ ("https" | "http") => {
                let rest = rest
                    .strip_prefix("//")
                    .ok_or("an http(s) URL starts with scheme://")?;
                let (authority, path) = match rest.find(['/', '?']) {
                    Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
                    Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
                    None => (rest, "/".to_owned()),
                };
                let path = path.split('#').next().unwrap_or("/").to_owned();
                if authority.contains('@') {
                    return Err("user information in the URL is not supported".into());
                }
                let tls = s == "https";
                let default_port = if tls { 443 } else { 80 };
                let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
                    let (host, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
                    let port = match after.strip_prefix(':') {
                        Some(p) => p.parse().map_err(|_| "invalid port")?,
                        None if after.is_empty() => default_port,
                        None => return Err("invalid host".into()),
                    };
                    (host.to_owned(), port)
                } else {
                    match authority.rsplit_once(':') {
                        Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| "invalid port")?),
                        None => (authority.to_owned(), default_port),
                    }
                };
                if host.is_empty() || path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                    return Err("invalid host or path".into());
                }
                Ok(Url::Http {
                    tls,
                    host,
                    port,
                    path,
                })
            }
            other => Err(format!("scheme {other}: is not file:, https: or http:")),
        }
    }
}

/// How long and how much.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub connect_timeout: Duration,
    /// For sending the request and reading the whole response.
    pub read_timeout: Duration,
    pub max_body_bytes: usize,
}

/// A complete response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The status line, for messages.
    pub status_line: String,
    pub body: Vec<u8>,
}

impl Response {
    /// The body of a 200 response; otherwise an error with the status line and the
    /// start of the body (an OAuth server says why there).
    pub fn ok_body(self) -> Result<Vec<u8>, String> {
        if self.status == 200 {
            return Ok(self.body);
        }
        let text = String::from_utf8_lossy(&self.body);
        let text: String = text.chars().take(200).collect();
        if text.trim().is_empty() {
            Err(format!("HTTP status {}", self.status_line))
        } else {
            Err(format!("HTTP status {}: {}", self.status_line, text.trim()))
        }
    }
}

/// One request: `method` (GET or POST) to `url` (http: or https:), with extra `headers`
/// and `body`; `tls` is required for https:.
pub async fn send(
    url: &Url,
    method: &str,
    headers: &[(&str, String)],
    body: &[u8],
    tls: Option<&Arc<rustls::ClientConfig>>,
    limits: Limits,
) -> Result<Response, String> {
    let Url::Http {
        tls: https,
        host,
        port,
        path,
    } = url
    else {
        return Err("not an http(s) URL".into());
    };
    let tcp = tokio::time::timeout(
        limits.connect_timeout,
        TcpStream::connect((host.as_str(), *port)),
    )
    .await
    .map_err(|_| format!("connecting to {host}:{port} timed out"))?
    .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: strom\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        if value.contains(['\r', '\n']) {
            return Err(format!("header {name} holds a line break"));
        }
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    let (raw, clean_end) = if *https {
        let config = tls.ok_or("no TLS client configuration for an https: URL")?;
        let name = ServerName::try_from(host.clone()).map_err(|e| format!("host {host}: {e}"))?;
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        let stream = tokio::time::timeout(limits.connect_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| format!("TLS handshake with {host}:{port} timed out"))?
            .map_err(|e| format!("TLS handshake with {host}:{port}: {e}"))?;
        exchange(stream, &request, limits).await?
    } else {
        exchange(tcp, &request, limits).await?
    };
    let (response, framed) = parse_framed(&raw, limits.max_body_bytes)?;
    if !clean_end && !framed {
        return Err("the TLS connection ended without close_notify before a body of unknown length was known to be complete".into());
    }
    Ok(response)
}

/// Sends the request and reads the response to the end: the bytes, and whether the end
/// was clean (a TLS peer may close without close_notify, as many HTTP servers do; that is
/// acceptable only for a body whose length is known, see [`send`]).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    limits: Limits,
) -> Result<(Vec<u8>, bool), String> {
    // Headers get 16 KiB beyond the body limit.
    let limit = limits.max_body_bytes.saturating_add(16 * 1024);
    let io = async {
        stream.write_all(request).await?;
        stream.flush().await?;
        let mut raw = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return Ok((raw, true)),
                Ok(n) => {
                    raw.extend_from_slice(&chunk[..n]);
                    if raw.len() > limit {
                        return Ok((raw, true));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok((raw, false)),
                Err(e) => return Err(e),
            }
        }
    };
    let (raw, clean) = tokio::time::timeout(limits.read_timeout, io)
        .await
        .map_err(|_| {
            format!(
                "no complete response within {} s",
                limits.read_timeout.as_secs()
            )
        })?
        .map_err(|e| format!("reading the response: {e}"))?;
    if raw.len() > limit {
        return Err(format!(
            "the response is larger than {} bytes",
            limits.max_body_bytes
        ));
    }
    Ok((raw, clean))
}

/// A complete HTTP/1.x response (length-delimited, chunked, or up to the close), its
/// body at most `max_body_bytes`.
pub fn parse_response(raw: &[u8], max_body_bytes: usize) -> Result<Response, String> {
    parse_framed(raw, max_body_bytes).map(|(response, _)| response)
}

/// The response, and whether its body's length was known (Content-Length or chunked).
fn parse_framed(raw: &[u8], max_body: usize) -> Result<(Response, bool), String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP response header")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "the HTTP header is not text")?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err("not an HTTP response".into());
    };
    if !version.starts_with("HTTP/1.") {
        return Err("not an HTTP/1.x response".into());
    }
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|s| (100..1000).contains(s))
        .ok_or("not an HTTP status code")?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| "invalid Content-Length")?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let (body, framed) = if chunked {
        (dechunk(body, max_body)?, true)
    } else if let Some(n) = length {
        let body = body
            .get(..n)
            .ok_or("the body is shorter than its Content-Length")?;
        (body.to_vec(), true)
    } else {
        (body.to_vec(), false)
    };
    if body.len() > max_body {
        return Err(format!("the body is larger than {max_body} bytes"));
    }
    let status_line: String = status_line.chars().take(200).collect();
    Ok((
        Response {
            status,
            status_line,
            body,
        },
        framed,
    ))
}

fn dechunk(mut rest: &[u8], max_body: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a truncated chunk")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| "a bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "a bad chunk size")?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if size > max_body.saturating_sub(out.len()) {
            return Err(format!("the body is larger than {max_body} bytes"));
        }
        let chunk = rest.get(..size).ok_or("a truncated chunk")?;
        out.extend_from_slice(chunk);
        rest = rest
            .get(size..)
            .and_then(|r| r.strip_prefix(b"\r\n"))
            .ok_or("a chunk without its CRLF")?;
    }
}

/// The TLS client for https: URLs: trusting `trusted` (CA certificates from a configured
/// trust store) if given, else the system's CA bundle ([`system_roots`]); the host name is
/// checked, rustls' default protocol versions.
pub fn tls_config(
    trusted: Option<&[rustls::pki_types::CertificateDer<'static>]>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = match trusted {
        Some(trusted) => crate::tls::root_store(trusted)?,
        None => system_roots()?,
    };
    let provider = crate::tls::provider(&[])?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The CA certificates of the system (`SSL_CERT_FILE`, else the usual bundle paths), for
/// an https: URL when no trust store was configured.
pub fn system_roots() -> Result<rustls::RootCertStore, String> {
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Some(f) = std::env::var_os("SSL_CERT_FILE") {
        candidates.push(f.into());
    }
    for p in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ] {
        candidates.push(p.into());
    }
    for path in candidates {
        let Ok(pem) = std::fs::read(&path) else {
            continue;
        };
        let Ok(certs) = crate::tls::certificates_from_pem(&pem) else {
            continue;
        };
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added > 0 {
            return Ok(roots);
        }
    }
    Err("no system CA bundle found (set SSL_CERT_FILE, or configure a trust store)".into())
}

/// `application/x-www-form-urlencoded` / RFC 3986 percent-encoding of everything but the
/// unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            Url::parse("file:///etc/jwks.json").unwrap(),
            Url::File("/etc/jwks.json".into())
        );
        assert_eq!(Url::parse("file:/x").unwrap(), Url::File("/x".into()));
        assert_eq!(
            Url::parse("https://idp.example:8443/keys?x=1").unwrap(),
            Url::Http {
                tls: true,
                host: "idp.example".into(),
                port: 8443,
                path: "/keys?x=1".into()
            }
        );
        assert_eq!(
            Url::parse("http://[::1]/j").unwrap(),
            Url::Http {
                tls: false,
                host: "::1".into(),
                port: 80,
                path: "/j".into()
            }
        );
        assert_eq!(
            Url::parse("https://idp").unwrap(),
            Url::Http {
                tls: true,
                host: "idp".into(),
                port: 443,
                path: "/".into()
            }
        );
        for bad in [
            "ftp://x/y",
            "file:relative",
            "https:/x",
            "https://u@h/",
            "https://h:port/",
            "x",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses() {
        let body = |raw: &[u8]| parse_response(raw, 1024).and_then(Response::ok_body);
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}xx").unwrap(),
            b"{}"
        );
        assert_eq!(
            body(b"HTTP/1.0 200 OK\r\n\r\n{\"keys\":[]}").unwrap(),
            b"{\"keys\":[]}"
        );
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n3;x=y\r\nk\":\r\n0\r\n\r\n")
                .unwrap(),
            b"{\"k\":"
        );
        let refused = parse_response(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 26\r\n\r\n{\"error\":\"invalid_client\"}",
            1024,
        )
        .unwrap();
        assert_eq!(refused.status, 401);
        assert_eq!(
            refused.ok_body().unwrap_err(),
            "HTTP status HTTP/1.1 401 Unauthorized: {\"error\":\"invalid_client\"}"
        );
        for bad in [
            &b"HTTP/1.1 404 Not Found\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n",
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"garbage",
        ] {
            assert!(body(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(percent_encode("a b:c/d+é"), "a%20b%3Ac%2Fd%2B%C3%A9");
    }
}
