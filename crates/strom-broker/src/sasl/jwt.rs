//! Signed JWTs (RFC 7515, 7519) against a JSON Web Key Set (RFC 7517), checked as
//! Kafka's `OAuthBearerValidatorCallbackHandler` (KIP-768) checks them with jose4j:
//!
//! - the JOSE header names an asymmetric algorithm Strom verifies with `ring`
//!   (RS256/384/512, PS256/384/512, ES256/384); `none` and the HMAC algorithms are
//!   refused, as is a `crit` header;
//! - the key is the JWKS entry with the token's `kid`, and its `kty`, `alg` (if given)
//!   and `use` (if given, `sig`) must fit; a token without `kid` is checked only against
//!   a set with exactly one fitting key (never against every key: that would let a
//!   client make the broker run an RSA verification per key);
//! - claims: `exp` and `iat` are required, `exp` and `nbf` are checked with
//!   `sasl.oauthbearer.clock.skew.seconds` (and `iat` too, which jose4j does not: a
//!   token issued in the future is refused); `aud` must hold one of
//!   `sasl.oauthbearer.expected.audience`, and, as jose4j, a token that has an `aud`
//!   while no audience is expected is refused; `iss` must equal
//!   `sasl.oauthbearer.expected.issuer` when that is set; the principal is the
//!   `sasl.oauthbearer.sub.claim.name` claim (trimmed, non-empty), the scope claim
//!   (`sasl.oauthbearer.scope.claim.name`) a string or a list of distinct non-empty
//!   strings.
//!
//! Everything here is a pure function of its input, so the `sasl` fuzz target drives it.
//! A reason never contains the token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

use super::oauthbearer::ValidToken;

/// A signature algorithm Strom verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
}

impl Alg {
    pub(crate) fn from_name(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
        }
    }

    fn fits(self, key: &PublicKey) -> bool {
        match (self, key) {
            (Alg::Es256, PublicKey::Ec { curve, .. }) => *curve == Curve::P256,
            (Alg::Es384, PublicKey::Ec { curve, .. }) => *curve == Curve::P384,
            (Alg::Es256 | Alg::Es384, _) => false,
            (_, PublicKey::Rsa { .. }) => true,
            (_, PublicKey::Ec { .. }) => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// Modulus and exponent, big-endian, leading zeros stripped.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed point `04 || x || y`.
    Ec { curve: Curve, point: Vec<u8> },
}

/// One usable key of a JWKS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Jwk {
    pub kid: Option<String>,
    /// The key's own `alg`, when it names one.
    pub alg: Option<String>,
    pub key: PublicKey,
}

/// The usable keys of a JWKS, and how many entries were skipped (for the log).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Jwks {
    pub keys: Vec<Jwk>,
    pub skipped: Vec<String>,
}

impl Jwks {
    pub(crate) fn kids(&self) -> Vec<&str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref()).collect()
    }
}

fn b64(field: &str, value: Option<&Value>) -> Result<Vec<u8>, String> {
    let text = value
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no string {field}"))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| format!("{field} is not base64url"))
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

fn parse_key(entry: &Map<String, Value>) -> Result<Jwk, String> {
    let kid = match entry.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("kid is not a string".into()),
    };
    match entry.get("use") {
        None | Some(Value::Null) => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err("its use is not sig".into()),
    }
    let alg = match entry.get("alg") {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) => Some(a.clone()),
        Some(_) => return Err("alg is not a string".into()),
    };
    let key = match entry.get("kty").and_then(Value::as_str) {
        Some("RSA") => {
            let n = strip_zeros(b64("n", entry.get("n"))?);
            let e = strip_zeros(b64("e", entry.get("e"))?);
            // ring verifies 2048 to 8192-bit moduli; say so here rather than per token.
            if !(256..=1024).contains(&n.len()) {
                return Err(format!(
                    "an RSA modulus of {} bits (2048 to 8192 are accepted)",
                    n.len() * 8
                ));
            }
            if e.is_empty() || e.len() > 4 {
                return Err("an RSA exponent out of range".into());
            }
            PublicKey::Rsa { n, e }
        }
        Some("EC") => {
            let (curve, size) = match entry.get("crv").and_then(Value::as_str) {
                Some("P-256") => (Curve::P256, 32),
                Some("P-384") => (Curve::P384, 48),
                other => return Err(format!("curve {other:?} is not P-256 or P-384")),
            };
            let x = b64("x", entry.get("x"))?;
            let y = b64("y", entry.get("y"))?;
            if x.len() != size || y.len() != size {
                return Err("EC coordinates of the wrong length".into());
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            PublicKey::Ec { curve, point }
        }
        other => return Err(format!("key type {other:?} is not RSA or EC")),
    };
    if let Some(a) = &alg {
        match Alg::from_name(a) {
            Some(a) if a.fits(&key) => {}
            _ => {
                return Err(format!(
                    "its alg {a} is not one Strom verifies with this key"
                ))
            }
        }
    }
    Ok(Jwk { kid, alg, key })
}

/// Parses a JWKS document: `{"keys": [...]}`. Entries Strom cannot use (other key
/// types, encryption keys, malformed ones) are skipped and named in `skipped`, as
/// jose4j skips them; a document that is not a key set at all is an error.
pub(crate) fn parse_jwks(bytes: &[u8]) -> Result<Jwks, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JWKS: no \"keys\" array")?;
    let mut jwks = Jwks::default();
    for (i, entry) in keys.iter().enumerate() {
        let name = entry
            .get("kid")
            .and_then(Value::as_str)
            .map(|k| format!("kid {}", truncate(k)))
            .unwrap_or_else(|| format!("key #{i}"));
        let parsed = entry
            .as_object()
            .ok_or_else(|| "not an object".to_owned())
            .and_then(parse_key);
        match parsed {
            Ok(jwk) => jwks.keys.push(jwk),
            Err(why) => jwks.skipped.push(format!("{name}: {why}")),
        }
    }
    Ok(jwks)
}

/// At most 64 characters of a client-supplied string, for a log line.
pub(crate) fn truncate(s: &str) -> String {
    if s.chars().count() <= 64 {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(64).collect();
        t.push('…');
        t
    }
}

/// What a listener expects of a token's claims.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClaimPolicy {
    pub expected_audience: Vec<String>,
    pub expected_issuer: Option<String>,
    pub sub_claim_name: String,
    pub scope_claim_name: String,
    pub clock_skew_seconds: i64,
}

impl ClaimPolicy {
    pub(crate) fn from_config(c: &strom_config::OAuthBearerConfig) -> ClaimPolicy {
        ClaimPolicy {
            expected_audience: c.expected_audience.clone(),
            expected_issuer: c.expected_issuer.clone(),
            sub_claim_name: c.sub_claim_name.clone(),
            scope_claim_name: c.scope_claim_name.clone(),
            clock_skew_seconds: c.clock_skew_seconds,
        }
    }
}

/// Why a signed token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JwtError {
    /// The token names a `kid` the key set does not have (the set may be stale).
    UnknownKid(String),
    /// Anything else: the reason, for the broker's log.
    Invalid(String),
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::UnknownKid(kid) => write!(
                f,
                "no key with the token's kid {} in the JWKS",
                truncate(kid)
            ),
            JwtError::Invalid(reason) => f.write_str(reason),
        }
    }
}

fn invalid(reason: impl Into<String>) -> JwtError {
    JwtError::Invalid(reason.into())
}

fn decode_json(part: &str, what: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| invalid(format!("the {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid(format!("the {what} is not a JSON object"))),
    }
}

/// The JOSE header's `kid`, if the token has a readable one (to pick a key set to
/// refresh before validating).
pub(crate) fn token_kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let map = decode_json(header, "header").ok()?;
    map.get("kid").and_then(Value::as_str).map(str::to_owned)
}

/// Verifies `token`'s signature with a key of `jwks` and checks its claims at `now_ms`.
pub(crate) fn validate_signed(
    token: &str,
    jwks: &Jwks,
    policy: &ClaimPolicy,
    now_ms: i64,
) -> Result<ValidToken, JwtError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(
            "a signed JWT (JWS compact serialization) has three parts",
        ));
    };
    let header = decode_json(header_b64, "JOSE header")?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("the JOSE header has no alg"))?;
    let alg = match alg_name {
        "none" => return Err(invalid("an unsigned token (alg none) is not accepted here")),
        a if a.starts_with("HS") => {
            return Err(invalid(format!(
                "alg {} (a shared secret) is not accepted: tokens must be signed with a key of the JWKS",
                truncate(a)
            )))
        }
        a => Alg::from_name(a)
            .ok_or_else(|| invalid(format!("alg {} is not supported", truncate(a))))?,
    };
    if header.contains_key("crit") {
        return Err(invalid(
            "the JOSE header has crit parameters Strom does not understand",
        ));
    }
    let fits = |k: &&Jwk| alg.fits(&k.key) && k.alg.as_deref().is_none_or(|a| a == alg.name());
    let key = match header.get("kid") {
        Some(Value::String(kid)) => {
            let mut named = jwks
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                .peekable();
            if named.peek().is_none() {
                return Err(JwtError::UnknownKid(kid.clone()));
            }
            named.find(fits).ok_or_else(|| {
                invalid(format!(
                    "the key with kid {} does not fit alg {}",
                    truncate(kid),
                    alg.name()
                ))
            })?
        }
        None | Some(Value::Null) => {
            let mut fitting = jwks.keys.iter().filter(fits);
            match (fitting.next(), fitting.next()) {
                (Some(k), None) => k,
                (None, _) => {
                    return Err(invalid(format!(
                        "no key of the JWKS fits alg {}",
                        alg.name()
                    )))
                }
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "the token has no kid and several keys of the JWKS fit its alg",
                    ))
                }
            }
        }
        Some(_) => return Err(invalid("the JOSE header's kid is not a string")),
    };
    let signature = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| invalid("the signature is not base64url"))?;
    let signed = &token.as_bytes()[..header_b64.len() + 1 + claims_b64.len()];
    verify(alg, &key.key, signed, &signature).map_err(|()| {
        invalid(format!(
            "bad signature ({} with kid {})",
            alg.name(),
            key.kid
                .as_deref()
                .map(truncate)
                .unwrap_or_else(|| "-".into())
        ))
    })?;
    let claims = decode_json(claims_b64, "claims set")?;
    check_claims(&claims, policy, now_ms)
}

fn verify(alg: Alg, key: &PublicKey, message: &[u8], sig: &[u8]) -> Result<(), ()> {
    match key {
        PublicKey::Rsa { n, e } => {
            let params: &signature::RsaParameters = match alg {
                Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                Alg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                Alg::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
                Alg::Es256 | Alg::Es384 => return Err(()),
            };
            RsaPublicKeyComponents { n, e }
                .verify(params, message, sig)
                .map_err(|_| ())
        }
        PublicKey::Ec { point, .. } => {
            let params: &'static dyn signature::VerificationAlgorithm = match alg {
                Alg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
                Alg::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
                _ => return Err(()),
            };
            UnparsedPublicKey::new(params, point)
                .verify(message, sig)
                .map_err(|_| ())
        }
    }
}

/// A NumericDate claim (seconds, possibly fractional) as ms; `None` when absent.
fn date_ms(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite() && (0.0..1e14).contains(f))
            .map(|f| Some((f * 1000.0) as i64))
            .ok_or_else(|| invalid(format!("claim {name} is out of range"))),
        Some(_) => Err(invalid(format!("claim {name} is not a number"))),
    }
}

pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    policy: &ClaimPolicy,
    now_ms: i64,
) -> Result<ValidToken, JwtError> {
    let skew_ms = policy.clock_skew_seconds.max(0).saturating_mul(1000);
    let exp = date_ms(claims, "exp")?.ok_or_else(|| invalid("no exp claim (required)"))?;
    if now_ms >= exp.saturating_add(skew_ms) {
        return Err(invalid(format!(
            "the token expired {} s ago (exp {}, clock skew allowed {} s)",
            (now_ms - exp) / 1000,
            exp / 1000,
            policy.clock_skew_seconds
        )));
    }
    let iat = date_ms(claims, "iat")?.ok_or_else(|| invalid("no iat claim (required)"))?;
    if iat > now_ms.saturating_add(skew_ms) {
        return Err(invalid("the token was issued in the future (iat)"));
    }
    if let Some(nbf) = date_ms(claims, "nbf")? {
        if nbf > now_ms.saturating_add(skew_ms) {
            return Err(invalid("the token is not valid yet (nbf)"));
        }
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| invalid("claim aud holds a non-string"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("claim aud is not a string or a list")),
    };
    if policy.expected_audience.is_empty() {
        if !audiences.is_empty() {
            return Err(invalid(
                "the token has an aud claim but sasl.oauthbearer.expected.audience is not set (Kafka refuses such tokens too)",
            ));
        }
    } else if !audiences
        .iter()
        .any(|a| policy.expected_audience.iter().any(|e| e == a))
    {
        return Err(invalid(format!(
            "wrong audience: aud {:?} holds none of sasl.oauthbearer.expected.audience",
            audiences.iter().map(|a| truncate(a)).collect::<Vec<_>>()
        )));
    }
    if let Some(expected) = &policy.expected_issuer {
        match claims.get("iss") {
            Some(Value::String(iss)) if iss == expected => {}
            Some(Value::String(iss)) => {
                return Err(invalid(format!(
                    "wrong issuer {} (expected {expected})",
                    truncate(iss)
                )))
            }
            _ => {
                return Err(invalid(
                    "no iss claim (sasl.oauthbearer.expected.issuer is set)",
                ))
            }
        }
    }
    let sub = policy.sub_claim_name.as_str();
    let principal = match claims.get(sub) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::String(_)) => return Err(invalid(format!("claim {sub} is empty"))),
        Some(_) => return Err(invalid(format!("claim {sub} is not a string"))),
        None => return Err(invalid(format!("no {sub} claim (the principal)"))),
    };
    let scope = policy.scope_claim_name.as_str();
    let scopes: Vec<&str> = match claims.get(scope) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| invalid(format!("claim {scope} holds a non-string")))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => Vec::new(),
    };
    let mut seen: Vec<&str> = Vec::new();
    for s in scopes {
        let s = s.trim();
        if s.is_empty() {
            return Err(invalid(format!("claim {scope} holds an empty value")));
        }
        if seen.contains(&s) {
            return Err(invalid(format!("claim {scope} holds a duplicate")));
        }
        seen.push(s);
    }
    Ok(ValidToken {
        principal,
        expires_at_ms: exp,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair};
    use serde_json::json;

    pub(crate) const NOW: i64 = 1_700_000_000_000;

    /// A 2048-bit RSA key made once with
    /// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out jwt-rsa-2048.pem`
    /// (ring signs with RSA keys but does not make them).
    pub(crate) fn rsa_key() -> RsaKeyPair {
        let pem = include_str!("../../tests/fixtures/jwt-rsa-2048.pem");
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        RsaKeyPair::from_pkcs8(&der).unwrap()
    }

    pub(crate) fn rsa_jwk(key: &RsaKeyPair, kid: &str) -> Value {
        let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public());
        let (n, e) = (strip_zeros(public.n), strip_zeros(public.e));
        json!({"kty": "RSA", "kid": kid, "use": "sig",
               "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e)})
    }

    pub(crate) fn ec_key(alg: &'static signature::EcdsaSigningAlgorithm) -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap()
    }

    fn ec_jwk(key: &EcdsaKeyPair, crv: &str, kid: &str) -> Value {
        let point = key.public_key().as_ref();
        let size = (point.len() - 1) / 2;
        json!({"kty": "EC", "crv": crv, "kid": kid,
               "x": URL_SAFE_NO_PAD.encode(&point[1..1 + size]),
               "y": URL_SAFE_NO_PAD.encode(&point[1 + size..])})
    }

    pub(crate) enum Signer<'a> {
        Rsa(&'a RsaKeyPair, &'static dyn signature::RsaEncoding),
        Ec(&'a EcdsaKeyPair),
    }

    pub(crate) fn sign(header: &Value, claims: &Value, signer: Signer<'_>) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let sig = match signer {
            Signer::Rsa(key, enc) => {
                let mut sig = vec![0; key.public().modulus_len()];
                key.sign(enc, &rng, input.as_bytes(), &mut sig).unwrap();
                sig
            }
            Signer::Ec(key) => key.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    pub(crate) fn claims(sub: &str) -> Value {
        json!({"sub": sub, "exp": NOW / 1000 + 600, "iat": NOW / 1000 - 10})
    }

    fn policy() -> ClaimPolicy {
        ClaimPolicy {
            sub_claim_name: "sub".into(),
            scope_claim_name: "scope".into(),
            clock_skew_seconds: 30,
            ..Default::default()
        }
    }

    fn jwks(keys: Vec<Value>) -> Jwks {
        let jwks = parse_jwks(json!({ "keys": keys }).to_string().as_bytes()).unwrap();
        assert!(jwks.skipped.is_empty(), "{:?}", jwks.skipped);
        jwks
    }

    #[test]
    fn every_algorithm_verifies_and_a_flipped_bit_does_not() {
        let rsa = rsa_key();
        let p256 = ec_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING);
        let p384 = ec_key(&signature::ECDSA_P384_SHA384_FIXED_SIGNING);
        let set = jwks(vec![
            rsa_jwk(&rsa, "r"),
            ec_jwk(&p256, "P-256", "e256"),
            ec_jwk(&p384, "P-384", "e384"),
        ]);
        let cases: Vec<(&str, &str, Signer<'_>)> = vec![
            (
                "RS256",
                "r",
                Signer::Rsa(&rsa, &signature::RSA_PKCS1_SHA256),
            ),
            (
                "RS384",
                "r",
                Signer::Rsa(&rsa, &signature::RSA_PKCS1_SHA384),
            ),
            (
                "RS512",
                "r",
                Signer::Rsa(&rsa, &signature::RSA_PKCS1_SHA512),
            ),
            ("PS256", "r", Signer::Rsa(&rsa, &signature::RSA_PSS_SHA256)),
            ("PS384", "r", Signer::Rsa(&rsa, &signature::RSA_PSS_SHA384)),
            ("PS512", "r", Signer::Rsa(&rsa, &signature::RSA_PSS_SHA512)),
            ("ES256", "e256", Signer::Ec(&p256)),
            ("ES384", "e384", Signer::Ec(&p384)),
        ];
        for (alg, kid, signer) in cases {
            let token = sign(&json!({"alg": alg, "kid": kid}), &claims("alice"), signer);
            let valid = validate_signed(&token, &set, &policy(), NOW)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(valid.principal, "alice");
            assert_eq!(valid.expires_at_ms, NOW + 600_000);
            // The claims changed after signing: bad signature.
            let (head, rest) = token.split_once('.').unwrap();
            let (_, sig) = rest.split_once('.').unwrap();
            let forged = format!(
                "{head}.{}.{sig}",
                URL_SAFE_NO_PAD.encode(claims("mallory").to_string())
            );
            let err = validate_signed(&forged, &set, &policy(), NOW).unwrap_err();
            assert!(err.to_string().starts_with("bad signature"), "{alg}: {err}");
            // The same token claimed as the other curve / another algorithm family.
            let other = if alg.starts_with('E') {
                "RS256"
            } else {
                "ES256"
            };
            let swapped = format!(
                "{}.{rest}",
                URL_SAFE_NO_PAD.encode(json!({"alg": other, "kid": kid}).to_string())
            );
            assert!(validate_signed(&swapped, &set, &policy(), NOW).is_err());
        }
    }

    #[test]
    fn none_hmac_unknown_kid_and_kid_selection() {
        let rsa = rsa_key();
        let set = jwks(vec![rsa_jwk(&rsa, "one")]);
        let rs = |h: Value| {
            sign(
                &h,
                &claims("alice"),
                Signer::Rsa(&rsa, &signature::RSA_PKCS1_SHA256),
            )
        };
        // alg none, with or without a signature part.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims("alice").to_string())
        );
        let err = validate_signed(&none, &set, &policy(), NOW).unwrap_err();
        assert!(err.to_string().contains("alg none"), "{err}");
        let hs = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"one"}"#),
            URL_SAFE_NO_PAD.encode(claims("a").to_string())
        );
        assert!(validate_signed(&hs, &set, &policy(), NOW)
            .unwrap_err()
            .to_string()
            .contains("shared secret"));
        // An unknown kid asks for a refresh.
        assert_eq!(
            validate_signed(
                &rs(json!({"alg": "RS256", "kid": "two"})),
                &set,
                &policy(),
                NOW
            ),
            Err(JwtError::UnknownKid("two".into()))
        );
        // No kid: the one fitting key.
        assert!(validate_signed(&rs(json!({"alg": "RS256"})), &set, &policy(), NOW).is_ok());
        // No kid and two fitting keys: refused, not tried one by one.
        let two = jwks(vec![rsa_jwk(&rsa, "one"), rsa_jwk(&rsa, "two")]);
        assert!(validate_signed(&rs(json!({"alg": "RS256"})), &two, &policy(), NOW).is_err());
        assert!(validate_signed(
            &rs(json!({"alg": "RS256", "kid": "two"})),
            &two,
            &policy(),
            NOW
        )
        .is_ok());
        // The key's alg must be the token's.
        let mut pinned = rsa_jwk(&rsa, "one");
        pinned["alg"] = json!("PS256");
        let pinned = jwks(vec![pinned]);
        let err = validate_signed(
            &rs(json!({"alg": "RS256", "kid": "one"})),
            &pinned,
            &policy(),
            NOW,
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{err}");
        // crit is refused.
        assert!(validate_signed(
            &rs(json!({"alg": "RS256", "kid": "one", "crit": ["b64"]})),
            &set,
            &policy(),
            NOW
        )
        .is_err());
        assert_eq!(
            token_kid(&rs(json!({"alg": "RS256", "kid": "one"}))).as_deref(),
            Some("one")
        );
    }

    #[test]
    fn claims_as_kafka_checks_them() {
        let rsa = rsa_key();
        let set = jwks(vec![rsa_jwk(&rsa, "k")]);
        let check = |c: Value, p: &ClaimPolicy| {
            let token = sign(
                &json!({"alg": "RS256", "kid": "k"}),
                &c,
                Signer::Rsa(&rsa, &signature::RSA_PKCS1_SHA256),
            );
            validate_signed(&token, &set, p, NOW).map_err(|e| e.to_string())
        };
        let s = NOW / 1000;
        let p = policy();
        assert!(check(claims("a"), &p).is_ok());
        // exp: required; expired beyond the skew refused, within it accepted.
        assert!(check(json!({"sub": "a", "iat": s}), &p)
            .unwrap_err()
            .contains("no exp"));
        assert!(
            check(json!({"sub": "a", "iat": s - 100, "exp": s - 31}), &p)
                .unwrap_err()
                .contains("expired")
        );
        assert!(check(json!({"sub": "a", "iat": s - 100, "exp": s - 29}), &p).is_ok());
        // iat required, not in the future beyond the skew; nbf likewise.
        assert!(check(json!({"sub": "a", "exp": s + 60}), &p)
            .unwrap_err()
            .contains("no iat"));
        assert!(check(json!({"sub": "a", "exp": s + 60, "iat": s + 40}), &p)
            .unwrap_err()
            .contains("future"));
        assert!(check(
            json!({"sub": "a", "exp": s + 60, "iat": s, "nbf": s + 40}),
            &p
        )
        .unwrap_err()
        .contains("nbf"));
        assert!(check(
            json!({"sub": "a", "exp": s + 60, "iat": s, "nbf": s + 20}),
            &p
        )
        .is_ok());
        // Audience: any of the expected list; an aud with none expected is refused (jose4j).
        let mut aud = claims("a");
        aud["aud"] = json!(["x", "kafka"]);
        assert!(check(aud.clone(), &p)
            .unwrap_err()
            .contains("expected.audience is not set"));
        let pa = ClaimPolicy {
            expected_audience: vec!["kafka".into(), "y".into()],
            ..policy()
        };
        assert!(check(aud.clone(), &pa).is_ok());
        aud["aud"] = json!("z");
        assert!(check(aud, &pa).unwrap_err().contains("wrong audience"));
        assert!(check(claims("a"), &pa).is_err());
        // Issuer.
        let pi = ClaimPolicy {
            expected_issuer: Some("https://idp".into()),
            ..policy()
        };
        let mut iss = claims("a");
        assert!(check(iss.clone(), &pi).unwrap_err().contains("no iss"));
        iss["iss"] = json!("https://other");
        assert!(check(iss.clone(), &pi)
            .unwrap_err()
            .contains("wrong issuer"));
        iss["iss"] = json!("https://idp");
        assert!(check(iss, &pi).is_ok());
        // Principal claim name, trimmed; scope values distinct and non-empty.
        let pc = ClaimPolicy {
            sub_claim_name: "client_id".into(),
            ..policy()
        };
        let mut c = claims("ignored");
        c["client_id"] = json!("  svc ");
        assert_eq!(check(c.clone(), &pc).unwrap().principal, "svc");
        c["client_id"] = json!("  ");
        assert!(check(c, &pc).is_err());
        let mut sc = claims("a");
        sc["scope"] = json!(["read", "read"]);
        assert!(check(sc.clone(), &p).unwrap_err().contains("duplicate"));
        sc["scope"] = json!(["read", ""]);
        assert!(check(sc.clone(), &p).is_err());
        sc["scope"] = json!("read write");
        assert!(check(sc, &p).is_ok());
    }

    #[test]
    fn hostile_jwks_documents() {
        for bad in [
            &b""[..],
            b"[]",
            b"{}",
            b"{\"keys\": 3}",
            b"nul",
            b"{\"keys\": {}}",
        ] {
            assert!(parse_jwks(bad).is_err(), "{bad:?}");
        }
        let rsa = rsa_key();
        let good = rsa_jwk(&rsa, "ok");
        let mut short = good.clone();
        short["n"] = json!(URL_SAFE_NO_PAD.encode([0xffu8; 128])); // 1024 bits
        let mut enc = good.clone();
        enc["use"] = json!("enc");
        let mut big_e = good.clone();
        big_e["e"] = json!(URL_SAFE_NO_PAD.encode([1u8; 9]));
        let mut wrong_alg = good.clone();
        wrong_alg["alg"] = json!("ES256");
        let doc = json!({"keys": [
            good, short, enc, big_e, wrong_alg, 7, {"kty": "oct", "k": "AAAA"},
            {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
            {"kty": "RSA", "n": "!!", "e": "AQAB"},
            {"kty": "RSA", "kid": 5, "n": "AA", "e": "AQAB"},
        ]});
        let jwks = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(jwks.kids(), vec!["ok"]);
        assert_eq!(jwks.skipped.len(), 10, "{:?}", jwks.skipped);
    }
}
