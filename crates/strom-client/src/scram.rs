//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677): the formulas both
//! sides compute, the client's side of the exchange, and the message syntax.
//! The broker checks a client's proof with the same formulas
//! ([`ScramMechanism::stored_key`], ...), so the two cannot drift apart.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's bounds on a SCRAM credential's iterations (`ScramMechanism`).
pub const MIN_ITERATIONS: i32 = 4096;
pub const MAX_ITERATIONS: i32 = 16384;

/// The two SCRAM mechanisms Kafka supports, with Kafka's wire type numbers
/// (DescribeUserScramCredentials / AlterUserScramCredentials).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Kafka's `ScramMechanism` type: 1 = SHA-256, 2 = SHA-512 (0 is UNKNOWN).
    pub fn from_type(t: i8) -> Option<Self> {
        match t {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    pub fn type_id(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable_hmac());
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable_hmac());
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802's `Hi(password, salt, i)`: PBKDF2 with the mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }

    pub fn client_key(self, salted_password: &[u8]) -> Vec<u8> {
        self.hmac(salted_password, b"Client Key")
    }

    pub fn server_key(self, salted_password: &[u8]) -> Vec<u8> {
        self.hmac(salted_password, b"Server Key")
    }

    pub fn stored_key(self, client_key: &[u8]) -> Vec<u8> {
        self.hash(client_key)
    }

    /// What the server keeps for a user: everything it needs to check a
    /// proof and prove itself, nothing that logs in.
    pub fn credential(self, password: &[u8], salt: &[u8], iterations: u32) -> ScramCredential {
        let salted = self.salted_password(password, salt, iterations);
        ScramCredential::from_salted_password(self, &salted, salt, iterations)
    }
}

/// HMAC takes keys of any length; this cannot be reached.
fn unreachable_hmac<T>() -> T {
    panic!("HMAC accepts keys of every length")
}

/// A user's SCRAM credential as the server stores it (Kafka's
/// `ScramCredential`): salt, stored key, server key, iterations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl ScramCredential {
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Self {
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.stored_key(&mechanism.client_key(salted_password)),
            server_key: mechanism.server_key(salted_password),
            iterations,
        }
    }
}

/// Random bytes from the operating system (uuid's v4 source), for nonces and salts.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(n);
    out
}

/// A nonce of 32 random letters and digits, as Kafka's (`BigInteger.toString(36)`):
/// RFC 5802 allows any printable character but ',', yet some clients (librdkafka 2.0's
/// SCRAM, Debian's kcat) fail on a server nonce holding base64's '+', '/' or '='.
pub fn new_nonce() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes(32)
        .into_iter()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// RFC 5802's `saslname`: '=' and ',' escaped as `=3D` and `=2C`.
pub fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// The inverse of [`escape_name`]; `None` for a '=' not followed by `3D` or `2C`.
pub fn unescape_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix("3D") {
            out.push('=');
            rest = r;
        } else if let Some(r) = after.strip_prefix("2C") {
            out.push(',');
            rest = r;
        } else {
            return None;
        }
    }
    out.push_str(rest);
    Some(out)
}

/// Splits `a=1,b=2` into (attribute, value) pairs; `None` when a part is not `x=...`.
pub fn attributes(message: &str) -> Option<Vec<(char, &str)>> {
    message
        .split(',')
        .map(|part| {
            let mut chars = part.chars();
            let name = chars.next()?;
            let value = chars.as_str().strip_prefix('=')?;
            name.is_ascii_alphabetic().then_some((name, value))
        })
        .collect()
}

pub fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unb64(text: &str) -> Option<Vec<u8>> {
    B64.decode(text).ok()
}

/// The client's side of one SCRAM exchange.
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    client_first_bare: String,
    client_nonce: String,
    expected_server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    pub fn new(mechanism: ScramMechanism, username: &str, password: &str) -> Self {
        Self::with_nonce(mechanism, username, password, new_nonce())
    }

    pub fn with_nonce(
        mechanism: ScramMechanism,
        username: &str,
        password: &str,
        nonce: String,
    ) -> Self {
        ScramClient {
            mechanism,
            password: password.to_owned(),
            client_first_bare: format!("n={},r={nonce}", escape_name(username)),
            client_nonce: nonce,
            expected_server_signature: None,
        }
    }

    /// `n,,n=user,r=nonce`.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Answers the server-first message with the client-final one.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "server-first message is not UTF-8".to_owned())?;
        let attrs = attributes(server_first).ok_or("malformed server-first message")?;
        let get = |c: char| attrs.iter().find(|(n, _)| *n == c).map(|(_, v)| *v);
        let nonce = get('r').ok_or("server-first message without nonce")?;
        let salt = get('s')
            .and_then(unb64)
            .ok_or("server-first message without a valid salt")?;
        let iterations: u32 = get('i')
            .and_then(|i| i.parse().ok())
            .filter(|i| *i > 0)
            .ok_or("server-first message without valid iterations")?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err("server nonce does not extend the client nonce".into());
        }
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = m.client_key(&salted);
        let stored_key = m.stored_key(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof = xor(&client_key, &signature);
        self.expected_server_signature =
            Some(m.hmac(&m.server_key(&salted), auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", b64(&proof)).into_bytes())
    }

    /// Checks the server-final message (`v=signature`, or `e=error`).
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| "server-final message is not UTF-8".to_owned())?;
        let attrs = attributes(text).ok_or("malformed server-final message")?;
        if let Some((_, e)) = attrs.iter().find(|(n, _)| *n == 'e') {
            return Err(format!("server refused: {e}"));
        }
        let v = attrs
            .iter()
            .find(|(n, _)| *n == 'v')
            .and_then(|(_, v)| unb64(v))
            .ok_or("server-final message without signature")?;
        match &self.expected_server_signature {
            Some(expected) if constant_time_eq(expected, &v) => Ok(()),
            _ => {
                Err("server signature does not match: the server does not know the password".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil".
    #[test]
    fn rfc7677_sha256_exchange() {
        let mut client = ScramClient::with_nonce(
            ScramMechanism::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let final_msg = client.client_final(server_first).unwrap();
        assert_eq!(
            String::from_utf8(final_msg).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        client
            .verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(client
            .verify_server_final(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .is_err());
    }

    #[test]
    fn names_escape_and_unescape() {
        assert_eq!(escape_name("a=b,c"), "a=3Db=2Cc");
        assert_eq!(unescape_name("a=3Db=2Cc").as_deref(), Some("a=b,c"));
        assert_eq!(unescape_name("a=4D"), None);
        assert_eq!(unescape_name("a="), None);
    }

    #[test]
    fn mechanisms_by_name_and_type() {
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            assert_eq!(ScramMechanism::from_name(m.name()), Some(m));
            assert_eq!(ScramMechanism::from_type(m.type_id()), Some(m));
        }
        assert_eq!(ScramMechanism::from_type(0), None);
        assert_eq!(ScramMechanism::from_name("SCRAM-SHA-1"), None);
    }
}
