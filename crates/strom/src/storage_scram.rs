//! `strom storage format --add-scram`, as Kafka's `kafka-storage.sh format --add-scram`
//! (`ScramParser`): `SCRAM-SHA-256=[name=alice,password=alice-secret]`, with optional
//! `iterations=` (4096 by default, 4096..=16384) and `salt=` (base64), or
//! `saltedpassword=` (base64, with `salt=`) instead of `password=`; a value may be quoted.
//! Each argument becomes one `UserScramCredential` record; the errors are Kafka's messages.

use strom_client::scram::{self, ScramCredential, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};
use strom_metadata::MetadataRecord;

/// The records of every `--add-scram` argument, in order.
pub fn parse(arguments: &[String]) -> Result<Vec<MetadataRecord>, String> {
    arguments.iter().map(|a| parse_one(a)).collect()
}

fn parse_one(argument: &str) -> Result<MetadataRecord, String> {
    let input = argument.trim();
    let Some((mechanism_name, config)) = input.split_once('=') else {
        return Err(format!(
            "Failed to find equals sign in SCRAM argument '{input}'"
        ));
    };
    let mechanism = ScramMechanism::from_name(mechanism_name)
        .ok_or_else(|| format!("The add-scram mechanism {mechanism_name} is not supported."))?;
    let Some(config) = config.strip_prefix('[') else {
        return Err("Expected configuration string to start with [".into());
    };
    let Some(config) = config.strip_suffix(']') else {
        return Err("Expected configuration string to end with ]".into());
    };
    let mut components = std::collections::BTreeMap::new();
    for component in config.split(',') {
        let Some((key, value)) = component.split_once('=') else {
            return Err(format!(
                "No equals sign found in SCRAM component: {component}"
            ));
        };
        let value = if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            &value[1..value.len() - 1]
        } else {
            value
        };
        components.insert(key.to_owned(), value.to_owned());
    }
    let name = components
        .remove("name")
        .ok_or("You must supply 'name' to add-scram")?;
    let salt = match components.remove("salt") {
        None => None,
        Some(text) => Some(
            scram::unb64(&text).ok_or_else(|| format!("Failed to decode given salt: {text}"))?,
        ),
    };
    let iterations = match components.remove("iterations") {
        None => 4096,
        Some(text) => text
            .parse::<i32>()
            .map_err(|_| format!("Failed to parse iterations count: {text}"))?,
    };
    let password = components.remove("password");
    let salted_password = components.remove("saltedpassword");
    let salted = match (&password, salted_password) {
        (Some(_), _) => None,
        (None, None) => {
            return Err("You must supply one of 'password' or 'saltedpassword' to add-scram".into())
        }
        (None, Some(_)) if salt.is_none() => {
            return Err("You must supply 'salt' with 'saltedpassword' to add-scram".into())
        }
        (None, Some(text)) => Some(
            scram::unb64(&text)
                .ok_or_else(|| format!("Failed to decode given saltedPassword: {text}"))?,
        ),
    };
    if !components.is_empty() {
        let keys: Vec<&str> = components.keys().map(String::as_str).collect();
        return Err(format!("Unknown SCRAM configurations: {}", keys.join(", ")));
    }
    if iterations < MIN_ITERATIONS {
        return Err(format!(
            "The 'iterations' value must be >= {MIN_ITERATIONS} for add-scram using {}",
            mechanism.name()
        ));
    }
    if iterations > MAX_ITERATIONS {
        return Err(format!(
            "The 'iterations' value must be <= {MAX_ITERATIONS} for add-scram using {}",
            mechanism.name()
        ));
    }
    let salt = salt.unwrap_or_else(|| scram::random_bytes(32));
    // In range (checked above): the cast cannot wrap.
    let rounds = iterations as u32;
    let credential = match (salted, password) {
        (Some(salted), _) => {
            ScramCredential::from_salted_password(mechanism, &salted, &salt, rounds)
        }
        (None, Some(password)) => mechanism.credential(password.as_bytes(), &salt, rounds),
        (None, None) => {
            return Err("You must supply one of 'password' or 'saltedpassword' to add-scram".into())
        }
    };
    Ok(MetadataRecord::UserScramCredential {
        name,
        mechanism: mechanism.type_id(),
        salt: credential.salt,
        stored_key: credential.stored_key,
        server_key: credential.server_key,
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(argument: &str) -> Result<MetadataRecord, String> {
        parse(&[argument.to_owned()]).map(|mut r| r.remove(0))
    }

    #[test]
    fn a_password_becomes_a_credential_that_verifies_it() {
        let MetadataRecord::UserScramCredential {
            name,
            mechanism,
            salt,
            stored_key,
            server_key,
            iterations,
        } = one("SCRAM-SHA-512=[name=alice,password=\"alice-secret\",iterations=8192]").unwrap()
        else {
            panic!("not a SCRAM record");
        };
        assert_eq!((name.as_str(), mechanism, iterations), ("alice", 2, 8192));
        let expected = ScramMechanism::Sha512.credential(b"alice-secret", &salt, 8192);
        assert_eq!(
            (stored_key, server_key),
            (expected.stored_key, expected.server_key)
        );
    }

    #[test]
    fn a_salted_password_and_salt_are_used_as_given() {
        // Kafka's ScramParserTest values: salt "c2FsdA==" ("salt"), 4096 iterations.
        let salted = ScramMechanism::Sha256.salted_password(b"secret", b"salt", 4096);
        let record = one(&format!(
            "SCRAM-SHA-256=[name=bob,salt=c2FsdA==,saltedpassword={}]",
            scram::b64(&salted)
        ))
        .unwrap();
        let expected = ScramMechanism::Sha256.credential(b"secret", b"salt", 4096);
        assert_eq!(
            record,
            MetadataRecord::UserScramCredential {
                name: "bob".into(),
                mechanism: 1,
                salt: b"salt".to_vec(),
                stored_key: expected.stored_key,
                server_key: expected.server_key,
                iterations: 4096,
            }
        );
    }

    #[test]
    fn wrong_syntax_gets_kafkas_messages() {
        for (argument, message) in [
            (
                "SCRAM-SHA-256",
                "Failed to find equals sign in SCRAM argument 'SCRAM-SHA-256'",
            ),
            (
                "SCRAM-SHA-1=[name=a,password=b]",
                "The add-scram mechanism SCRAM-SHA-1 is not supported.",
            ),
            (
                "SCRAM-SHA-256=name=a,password=b]",
                "Expected configuration string to start with [",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=b",
                "Expected configuration string to end with ]",
            ),
            (
                "SCRAM-SHA-256=[name=a,password]",
                "No equals sign found in SCRAM component: password",
            ),
            (
                "SCRAM-SHA-256=[password=b]",
                "You must supply 'name' to add-scram",
            ),
            (
                "SCRAM-SHA-256=[name=a]",
                "You must supply one of 'password' or 'saltedpassword' to add-scram",
            ),
            (
                "SCRAM-SHA-256=[name=a,saltedpassword=c2FsdA==]",
                "You must supply 'salt' with 'saltedpassword' to add-scram",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=b,salt=%%%]",
                "Failed to decode given salt: %%%",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=b,iterations=x]",
                "Failed to parse iterations count: x",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=b,iterations=4095]",
                "The 'iterations' value must be >= 4096 for add-scram using SCRAM-SHA-256",
            ),
            (
                "SCRAM-SHA-512=[name=a,password=b,iterations=16385]",
                "The 'iterations' value must be <= 16384 for add-scram using SCRAM-SHA-512",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=b,color=red,size=9]",
                "Unknown SCRAM configurations: color, size",
            ),
        ] {
            assert_eq!(one(argument).unwrap_err(), message, "{argument}");
        }
    }
}
