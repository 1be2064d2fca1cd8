//! OAUTHBEARER (RFC 7628, KIP-255) with Kafka's default server-side
//! validator, `OAuthBearerUnsecuredValidatorCallbackHandler`: the token is an
//! unsecured JWS (`alg: none`, empty signature) whose claims name the
//! principal (`sub`, or `unsecuredValidatorPrincipalClaimName`), carry an
//! expiry (`exp`, required) and optionally `iat` and a scope; options of the
//! listener's `OAuthBearerLoginModule` entry tune it as in Kafka
//! (`unsecuredValidatorAllowableClockSkewMs`, `unsecuredValidatorRequiredScope`).
//!
//! Signed JWTs (Kafka's `OAuthBearerValidatorCallbackHandler`, KIP-768) are
//! verified in [`super::jwt`] against the keys [`super::jwks`] keeps fresh,
//! on a listener that names that handler class. A listener with
//! `sasl.oauthbearer.jwks.endpoint.url` but without the class refuses every
//! token, so nothing unsigned gets in where the operator asked for
//! signatures (Kafka would run the unsecured validator there).
//!
//! As Kafka's `OAuthBearerSaslServer`, an invalid token is answered with a
//! JSON error (`{"status":"invalid_token"}`) as a challenge; the client
//! acknowledges with `%x01` and then gets SASL_AUTHENTICATION_FAILED with
//! that JSON as the message.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use strom_config::JaasEntry;

/// The validated token: its principal and when it expires (ms since the epoch).
#[derive(Debug, PartialEq)]
pub(crate) struct ValidToken {
    pub principal: String,
    pub expires_at_ms: i64,
}

/// The client's initial response: authorization id, token, extensions.
#[derive(Debug, PartialEq)]
pub(crate) struct InitialResponse {
    pub authzid: String,
    pub token: String,
    pub extensions: BTreeMap<String, String>,
}

/// Parses `gs2-header %x01 auth=Bearer <token> %x01 *(key=value %x01) %x01`.
pub(crate) fn parse_initial_response(bytes: &[u8]) -> Result<InitialResponse, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    let (gs2, rest) = text
        .split_once('\u{1}')
        .ok_or("no %x01 after the GS2 header")?;
    let mut gs2_parts = gs2.splitn(3, ',');
    if gs2_parts.next() != Some("n") {
        return Err("invalid GS2 header (channel binding is not supported)".into());
    }
    let authzid = match gs2_parts.next() {
        Some("") => String::new(),
        Some(a) => a
            .strip_prefix("a=")
            .ok_or("invalid authorization id")?
            .to_owned(),
        None => return Err("invalid GS2 header".into()),
    };
    if gs2_parts.next() != Some("") {
        return Err("invalid GS2 header".into());
    }
    let body = rest
        .strip_suffix("\u{1}\u{1}")
        .ok_or("the message must end with %x01%x01")?;
    let mut token = None;
    let mut extensions = BTreeMap::new();
    for kv in body.split('\u{1}') {
        let (key, value) = kv.split_once('=').ok_or("a key/value pair without '='")?;
        if key == "auth" {
            let (scheme, t) = value.split_once(' ').ok_or("auth without a scheme")?;
            let t = t.trim_start_matches(' ');
            if !scheme.eq_ignore_ascii_case("bearer")
                || t.is_empty()
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err("invalid auth value: expected 'Bearer <token>'".into());
            }
            if token.replace(t.to_owned()).is_some() {
                return Err("auth given twice".into());
            }
        } else {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err("invalid extension name".into());
            }
            extensions.insert(key.to_owned(), value.to_owned());
        }
    }
    Ok(InitialResponse {
        authzid,
        token: token.ok_or("no auth=Bearer token")?,
        extensions,
    })
}

/// Kafka's JSON error for an invalid token.
pub(crate) fn invalid_token_json(scope: Option<&str>) -> String {
    match scope {
        Some(scope) => serde_json::json!({"status": "invalid_token", "scope": scope}).to_string(),
        None => serde_json::json!({"status": "invalid_token"}).to_string(),
    }
}

/// Why a token was refused (for the broker's log; the client sees only the JSON).
#[derive(Debug, PartialEq)]
pub(crate) struct Refused {
    pub reason: String,
    /// The required scope that was missing, reported to the client as Kafka does.
    pub scope: Option<String>,
}

fn refused(reason: impl Into<String>) -> Refused {
    Refused {
        reason: reason.into(),
        scope: None,
    }
}

fn decode_part(part: &str) -> Result<Value, Refused> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| refused("a token part is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| refused("a token part is not JSON"))
}

/// A JSON number of seconds (possibly fractional) as milliseconds.
fn seconds_claim_ms(claims: &Value, name: &str) -> Result<Option<i64>, Refused> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e14)
            .map(|f| Some((f * 1000.0) as i64))
            .ok_or_else(|| refused(format!("claim {name} is out of range"))),
        Some(_) => Err(refused(format!("claim {name} is not a number"))),
    }
}

/// Validates an unsecured JWS as Kafka's default validator does.
pub(crate) fn validate_unsecured(
    token: &str,
    options: Option<&JaasEntry>,
    now_ms: i64,
) -> Result<ValidToken, Refused> {
    let option = |k: &str| options.and_then(|o| o.option(k));
    let principal_claim = option("unsecuredValidatorPrincipalClaimName").unwrap_or("sub");
    let scope_claim = option("unsecuredValidatorScopeClaimName").unwrap_or("scope");
    let skew_ms: i64 = match option("unsecuredValidatorAllowableClockSkewMs") {
        Some(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|v: &i64| *v >= 0)
            .ok_or_else(|| refused("invalid unsecuredValidatorAllowableClockSkewMs"))?,
        None => 0,
    };
    let required_scope: Vec<&str> = option("unsecuredValidatorRequiredScope")
        .map(|s| s.split_whitespace().collect())
        .unwrap_or_default();

    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(refused("an unsecured JWS has three parts"));
    }
    if !parts[2].is_empty() {
        return Err(refused("an unsecured JWS must have an empty signature"));
    }
    let header = decode_part(parts[0])?;
    if header.get("alg").and_then(Value::as_str) != Some("none") {
        return Err(refused("the JOSE header's alg must be \"none\""));
    }
    let claims = decode_part(parts[1])?;
    if !claims.is_object() {
        return Err(refused("the claims are not a JSON object"));
    }
    let principal = match claims.get(principal_claim) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => {
            return Err(refused(format!(
                "no non-empty string claim {principal_claim}"
            )))
        }
    };
    let exp = seconds_claim_ms(&claims, "exp")?.ok_or_else(|| refused("no exp claim"))?;
    if now_ms >= exp.saturating_add(skew_ms) {
        return Err(refused("the token has expired"));
    }
    if let Some(iat) = seconds_claim_ms(&claims, "iat")? {
        if iat > now_ms.saturating_add(skew_ms) {
            return Err(refused("the token was issued in the future"));
        }
    }
    if !required_scope.is_empty() {
        let scope: Vec<String> = match claims.get(scope_claim) {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        if let Some(missing) = required_scope
            .iter()
            .find(|r| !scope.iter().any(|s| s == *r))
        {
            return Err(Refused {
                reason: format!("the token's scope lacks {missing}"),
                scope: Some(required_scope.join(" ")),
            });
        }
    }
    Ok(ValidToken {
        principal,
        expires_at_ms: exp,
    })
}

#[cfg(test)]
pub(crate) fn unsecured_token(claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000_000;

    fn options(text: &str) -> JaasEntry {
        strom_config::parse_jaas_config(text).unwrap()
    }

    #[test]
    fn initial_response_parses_and_is_strict() {
        let r =
            parse_initial_response(b"n,a=alice,\x01auth=Bearer a.b.\x01host=x\x01\x01").unwrap();
        assert_eq!(r.authzid, "alice");
        assert_eq!(r.token, "a.b.");
        assert_eq!(r.extensions["host"], "x");
        assert_eq!(
            parse_initial_response(b"n,,\x01auth=Bearer t\x01\x01")
                .unwrap()
                .token,
            "t"
        );
        for bad in [
            &b""[..],
            b"n,,\x01auth=Bearer t\x01",
            b"y,,\x01auth=Bearer t\x01\x01",
            b"n,,\x01auth=Basic t\x01\x01",
            b"n,,\x01auth=Bearer \x01\x01",
            b"n,,\x01auth=Bearer t!\x01\x01",
            b"n,,\x01x=1\x01\x01",
            b"n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01",
            b"n,b=x,\x01auth=Bearer t\x01\x01",
        ] {
            assert!(parse_initial_response(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn unsecured_tokens_as_kafka_validates_them() {
        let good =
            unsecured_token(&json!({"sub": "alice", "exp": (NOW / 1000) + 60, "iat": NOW / 1000}));
        assert_eq!(
            validate_unsecured(&good, None, NOW).unwrap(),
            ValidToken {
                principal: "alice".into(),
                expires_at_ms: NOW + 60_000
            }
        );
        let expired = unsecured_token(&json!({"sub": "alice", "exp": (NOW / 1000) - 1}));
        assert!(validate_unsecured(&expired, None, NOW).is_err());
        // Clock skew allowed by the login module's option.
        let skew = options("x.Y required unsecuredValidatorAllowableClockSkewMs=\"5000\";");
        assert!(validate_unsecured(&expired, Some(&skew), NOW).is_ok());
        let no_exp = unsecured_token(&json!({"sub": "alice"}));
        assert!(validate_unsecured(&no_exp, None, NOW).is_err());
        let no_sub = unsecured_token(&json!({"exp": (NOW / 1000) + 60}));
        assert!(validate_unsecured(&no_sub, None, NOW).is_err());
        let future = unsecured_token(
            &json!({"sub": "a", "exp": (NOW / 1000) + 60, "iat": (NOW / 1000) + 30}),
        );
        assert!(validate_unsecured(&future, None, NOW).is_err());
        // A signed token is not an unsecured one.
        assert!(validate_unsecured(&format!("{good}sig"), None, NOW).is_err());
        let rs256 = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            good.split('.').nth(1).unwrap()
        );
        assert!(validate_unsecured(&rs256, None, NOW).is_err());
    }

    #[test]
    fn principal_claim_and_required_scope() {
        let opts = options(
            "x.Y required unsecuredValidatorPrincipalClaimName=\"user\" unsecuredValidatorRequiredScope=\"read write\";",
        );
        let exp = (NOW / 1000) + 60;
        let ok = unsecured_token(&json!({"user": "bob", "exp": exp, "scope": "write read extra"}));
        assert_eq!(
            validate_unsecured(&ok, Some(&opts), NOW).unwrap().principal,
            "bob"
        );
        let arr = unsecured_token(&json!({"user": "bob", "exp": exp, "scope": ["read", "write"]}));
        assert!(validate_unsecured(&arr, Some(&opts), NOW).is_ok());
        let lacking = unsecured_token(&json!({"user": "bob", "exp": exp, "scope": "read"}));
        let refused = validate_unsecured(&lacking, Some(&opts), NOW).unwrap_err();
        assert_eq!(refused.scope.as_deref(), Some("read write"));
        assert_eq!(
            invalid_token_json(refused.scope.as_deref()),
            r#"{"scope":"read write","status":"invalid_token"}"#
        );
    }
}
