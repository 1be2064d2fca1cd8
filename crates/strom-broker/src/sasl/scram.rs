//! The server's side of SCRAM-SHA-256/512 (RFC 5802, RFC 7677), as Kafka's
//! `ScramSaslServer`: client-first → server-first (nonce, salt,
//! iterations) → client-final (proof) → server-final (signature). The server
//! only computes HMACs and one hash per exchange; the PBKDF2 iterations are
//! the client's work.
//!
//! An unknown user gets a server-first message like a known one (a salt
//! derived from the name with a per-process secret, 4096 iterations) and
//! fails at the proof, with the same message as a wrong password, so the
//! exchange never tells whether a user exists.

use std::sync::OnceLock;

use strom_client::scram::{
    attributes, b64, constant_time_eq, new_nonce, random_bytes, unb64, unescape_name, xor,
    ScramMechanism,
};
use strom_metadata::ScramCredentialImage;

/// What a failed exchange tells the client, whatever went wrong (Kafka's
/// wording for a SaslException from the mechanism).
pub(crate) fn invalid_credentials(mechanism: ScramMechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        mechanism.name()
    )
}

enum State {
    ClientFirst,
    ClientFinal {
        username: String,
        credential: Option<ScramCredentialImage>,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    Done,
}

pub(crate) struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
}

pub(crate) enum ScramStep {
    /// Send these bytes and wait for the client's next message.
    Challenge(Vec<u8>),
    /// Authenticated as this user; send the bytes (server-final).
    Done { user: String, response: Vec<u8> },
}

/// A secret of this process: an unknown name's salt is the same each time
/// it is asked for (as a real user's is), yet no client can compute it.
fn fake_salt_secret() -> &'static [u8] {
    static SECRET: OnceLock<Vec<u8>> = OnceLock::new();
    SECRET.get_or_init(|| random_bytes(32))
}

impl ScramServer {
    pub(crate) fn new(mechanism: ScramMechanism) -> Self {
        ScramServer {
            mechanism,
            state: State::ClientFirst,
        }
    }

    pub(crate) fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// One client message. `lookup` finds a user's stored credential. An
    /// `Err` is the message to answer with (SASL_AUTHENTICATION_FAILED).
    pub(crate) fn step(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredentialImage>,
    ) -> Result<ScramStep, String> {
        let fail = || invalid_credentials(self.mechanism);
        match std::mem::replace(&mut self.state, State::Done) {
            State::ClientFirst => {
                let text = std::str::from_utf8(message).map_err(|_| fail())?;
                let (username, client_nonce, client_first_bare) = parse_client_first(text)
                    .map_err(|e| {
                        format!("Authentication failed: invalid SCRAM client-first message ({e})")
                    })?;
                let credential = lookup(&username);
                let m = self.mechanism;
                let (salt, iterations) = match &credential {
                    Some(c) => (c.salt.clone(), c.iterations),
                    None => {
                        let mut salt = m.hmac(fake_salt_secret(), username.as_bytes());
                        salt.truncate(16);
                        (salt, strom_client::scram::MIN_ITERATIONS)
                    }
                };
                let nonce = format!("{client_nonce}{}", new_nonce());
                let server_first = format!("r={nonce},s={},i={iterations}", b64(&salt));
                let reply = server_first.clone().into_bytes();
                self.state = State::ClientFinal {
                    username,
                    credential,
                    client_first_bare,
                    server_first,
                    nonce,
                };
                Ok(ScramStep::Challenge(reply))
            }
            State::ClientFinal {
                username,
                credential,
                client_first_bare,
                server_first,
                nonce,
            } => {
                let text = std::str::from_utf8(message).map_err(|_| fail())?;
                let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(fail)?;
                let attrs = attributes(without_proof).ok_or_else(fail)?;
                let get = |c: char| attrs.iter().find(|(n, _)| *n == c).map(|(_, v)| *v);
                // Channel binding: only "n,," (no binding, no authzid) or
                // "y,,", as the client-first header announced.
                let binding = get('c').and_then(unb64).ok_or_else(fail)?;
                if binding != b"n,," && binding != b"y,," {
                    return Err(fail());
                }
                // Kafka checks only that the client's nonce ends with the
                // server-first one: librdkafka up to 2.x sends the client
                // nonce twice in front of it, and Kafka accepts that.
                if !get('r').is_some_and(|r| r.ends_with(nonce.as_str())) {
                    return Err(fail());
                }
                let proof = unb64(proof).ok_or_else(fail)?;
                let Some(credential) = credential else {
                    return Err(fail());
                };
                let m = self.mechanism;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != signature.len() {
                    return Err(fail());
                }
                let client_key = xor(&proof, &signature);
                if !constant_time_eq(&m.hash(&client_key), &credential.stored_key) {
                    return Err(fail());
                }
                let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
                Ok(ScramStep::Done {
                    user: username,
                    response: format!("v={}", b64(&server_signature)).into_bytes(),
                })
            }
            State::Done => Err(fail()),
        }
    }
}

/// `gs2-header client-first-bare` → (user, nonce, client-first-bare).
/// Channel binding (`p=`) and an authorization id other than the user are
/// refused; extensions other than Kafka's `tokenauth` are refused too.
pub(crate) fn parse_client_first(text: &str) -> Result<(String, String, String), String> {
    let (flag, rest) = text.split_once(',').ok_or("no GS2 header")?;
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => return Err("channel binding is not supported".into()),
        _ => return Err("invalid GS2 channel binding flag".into()),
    }
    let (authzid, bare) = rest.split_once(',').ok_or("no GS2 header")?;
    let attrs = attributes(bare).ok_or("malformed attributes")?;
    let mut iter = attrs.iter();
    let user = match iter.next() {
        Some(('n', u)) => unescape_name(u).ok_or("invalid user name escape")?,
        Some(('m', _)) => return Err("mandatory extensions are not supported".into()),
        _ => return Err("no user name".into()),
    };
    let nonce = match iter.next() {
        Some(('r', n)) if !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b)) => {
            (*n).to_owned()
        }
        _ => return Err("no valid nonce".into()),
    };
    // Kafka's only extension: tokenauth=true for delegation tokens, not served here.
    if let Some((name, value)) = iter.next() {
        return Err(format!("unsupported extension {name}={value}"));
    }
    if !authzid.is_empty() {
        let authzid = authzid
            .strip_prefix("a=")
            .and_then(unescape_name)
            .ok_or("invalid authorization id")?;
        if authzid != user {
            return Err("authorization id differs from the user name".into());
        }
    }
    if user.is_empty() {
        return Err("empty user name".into());
    }
    Ok((user, nonce, bare.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_client::scram::ScramClient;

    fn credential(m: ScramMechanism, password: &str) -> ScramCredentialImage {
        let c = m.credential(password.as_bytes(), b"0123456789abcdef", 4096);
        ScramCredentialImage {
            salt: c.salt,
            stored_key: c.stored_key,
            server_key: c.server_key,
            iterations: c.iterations as i32,
        }
    }

    fn exchange(
        m: ScramMechanism,
        stored: &str,
        given: &str,
        user: &str,
    ) -> Result<String, String> {
        let known = credential(m, stored);
        let lookup = |u: &str| (u == "alice").then(|| known.clone());
        let mut server = ScramServer::new(m);
        let mut client = ScramClient::new(m, user, given);
        let ScramStep::Challenge(first) = server.step(&client.client_first(), lookup)? else {
            return Err("done too early".into());
        };
        let final_msg = client
            .client_final(&first)
            .map_err(|e| format!("client: {e}"))?;
        let known = credential(m, stored);
        match server.step(&final_msg, |_| Some(known))? {
            ScramStep::Done { user, response } => {
                client
                    .verify_server_final(&response)
                    .map_err(|e| format!("client: {e}"))?;
                Ok(user)
            }
            ScramStep::Challenge(_) => Err("not done".into()),
        }
    }

    #[test]
    fn both_mechanisms_authenticate_with_the_right_password_only() {
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            assert_eq!(exchange(m, "secret", "secret", "alice").unwrap(), "alice");
            let wrong = exchange(m, "secret", "wrong", "alice").unwrap_err();
            assert_eq!(wrong, invalid_credentials(m));
            // Unknown user: same message, at the same step.
            let unknown = exchange(m, "secret", "secret", "mallory").unwrap_err();
            assert_eq!(unknown, wrong);
        }
    }

    #[test]
    fn unknown_user_sees_a_stable_salt_and_kafkas_minimum_iterations() {
        let m = ScramMechanism::Sha256;
        let first = |user: &str| {
            let mut s = ScramServer::new(m);
            match s.step(format!("n,,n={user},r=abc").as_bytes(), |_| None) {
                Ok(ScramStep::Challenge(b)) => String::from_utf8(b).unwrap(),
                _ => panic!("no challenge"),
            }
        };
        let a = first("ghost");
        let b = first("ghost");
        let salt = |s: &str| s.split(',').nth(1).unwrap().to_owned();
        assert_eq!(salt(&a), salt(&b));
        assert_ne!(salt(&a), salt(&first("other")));
        assert!(a.ends_with(",i=4096"));
    }

    #[test]
    fn client_first_is_checked() {
        assert!(parse_client_first("n,,n=alice,r=xyz").is_ok());
        assert_eq!(
            parse_client_first("n,a=alice,n=alice,r=xyz").unwrap().0,
            "alice"
        );
        for bad in [
            "",
            "n,,",
            "p=tls-unique,,n=a,r=x",
            "n,a=bob,n=alice,r=x",
            "n,,m=ext,n=a,r=x",
            "n,,n=a",
            "n,,n=a,r=",
            "n,,n=,r=x",
            "n,,n=a=ZZ,r=x",
            "n,,n=a,r=x,tokenauth=true",
            "x,,n=a,r=x",
        ] {
            assert!(parse_client_first(bad).is_err(), "accepted {bad:?}");
        }
    }

    /// librdkafka 2.0 (Debian's kcat) repeats its nonce in client-final's r; Kafka accepts
    /// any r that ends with the server-first nonce, and so does Strom.
    #[test]
    fn a_client_final_nonce_that_ends_with_the_servers_is_kafkas_rule() {
        let m = ScramMechanism::Sha256;
        let known = credential(m, "pw");
        let mut server = ScramServer::new(m);
        let first_bare = "n=alice,r=cn";
        let ScramStep::Challenge(first) = server
            .step(format!("n,,{first_bare}").as_bytes(), |_| {
                Some(known.clone())
            })
            .unwrap()
        else {
            panic!()
        };
        let first = String::from_utf8(first).unwrap();
        let nonce = first.split(',').next().unwrap().strip_prefix("r=").unwrap();
        let salted = m.salted_password(b"pw", b"0123456789abcdef", 4096);
        let client_key = m.client_key(&salted);
        let without_proof = format!("c=biws,r=cn{nonce}");
        let auth = format!("{first_bare},{first},{without_proof}");
        let proof = xor(
            &client_key,
            &m.hmac(&m.stored_key(&client_key), auth.as_bytes()),
        );
        let final_msg = format!("{without_proof},p={}", b64(&proof));
        assert!(matches!(
            server.step(final_msg.as_bytes(), |_| Some(known.clone())),
            Ok(ScramStep::Done { .. })
        ));
    }

    #[test]
    fn a_replayed_or_tampered_final_message_fails() {
        let m = ScramMechanism::Sha512;
        let known = credential(m, "pw");
        let mut server = ScramServer::new(m);
        let mut client = ScramClient::new(m, "alice", "pw");
        let ScramStep::Challenge(first) = server
            .step(&client.client_first(), |_| Some(known.clone()))
            .unwrap()
        else {
            panic!()
        };
        let mut final_msg = client.client_final(&first).unwrap();
        // Flip one character of the nonce.
        let pos = final_msg.iter().position(|b| *b == b'r').unwrap() + 3;
        final_msg[pos] ^= 1;
        assert!(server.step(&final_msg, |_| Some(known.clone())).is_err());
        // The exchange is over: nothing more is accepted.
        assert!(server.step(b"c=biws", |_| Some(known.clone())).is_err());
    }
}
