//! Kafka's `sasl.jaas.config` value: one JAAS login module entry,
//! `<class> <flag> key="value" ... ;`, as Kafka's `JaasConfig` reads it with
//! Java's `StreamTokenizer`. The parser is strict: one module, a known
//! flag, `key=value` options (a value quoted or a bare word), the closing
//! `;`, nothing after it; anything else is an error naming what was found.

use std::collections::BTreeMap;

/// One parsed login module entry.
#[derive(Clone, PartialEq, Eq)]
pub struct JaasEntry {
    /// e.g. `org.apache.kafka.common.security.plain.PlainLoginModule`.
    pub login_module: String,
    /// `required`, `requisite`, `sufficient` or `optional`.
    pub flag: String,
    pub options: BTreeMap<String, String>,
}

// Passwords must not reach log lines through `{:?}`.
impl std::fmt::Debug for JaasEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JaasEntry")
            .field("login_module", &self.login_module)
            .field("flag", &self.flag)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
pub const SCRAM_LOGIN_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
pub const OAUTHBEARER_LOGIN_MODULE: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

impl JaasEntry {
    /// The PlainLoginModule's users: every `user_<name>="<password>"` option.
    pub fn plain_users(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_owned(), v.clone())))
            .collect()
    }

    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '=' {
            chars.next();
            tokens.push(Token::Equals);
        } else if c == ';' {
            chars.next();
            tokens.push(Token::Semicolon);
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    None => return Err("a quoted value is not closed".into()),
                    Some(q) if q == c => break,
                    Some('\\') => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some(other) => value.push(other),
                        None => return Err("a quoted value is not closed".into()),
                    },
                    Some(other) => value.push(other),
                }
            }
            tokens.push(Token::Quoted(value));
        } else if c.is_alphanumeric() || "._-$/:@+*".contains(c) {
            let mut word = String::new();
            while let Some(&w) = chars.peek() {
                if w.is_alphanumeric() || "._-$/:@+*".contains(w) {
                    word.push(w);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(Token::Word(word));
        } else {
            return Err(format!("unexpected character '{c}'"));
        }
    }
    Ok(tokens)
}

/// Parses a `sasl.jaas.config` value holding exactly one login module, as
/// Kafka requires of the property.
pub fn parse_jaas_config(text: &str) -> Result<JaasEntry, String> {
    let tokens = tokenize(text)?;
    let mut it = tokens.into_iter();
    let login_module = match it.next() {
        Some(Token::Word(w)) => w,
        None => return Err("JAAS config property does not contain any login modules".into()),
        Some(other) => return Err(format!("expected a login module class, found {other:?}")),
    };
    let flag = match it.next() {
        Some(Token::Word(w)) => w.to_ascii_lowercase(),
        other => {
            return Err(format!(
                "expected a control flag after {login_module}, found {other:?}"
            ))
        }
    };
    if !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str()) {
        return Err(format!(
            "invalid control flag {flag}: one of required, requisite, sufficient, optional"
        ));
    }
    let mut options = BTreeMap::new();
    loop {
        match it.next() {
            Some(Token::Semicolon) => break,
            Some(Token::Word(key)) => {
                if it.next() != Some(Token::Equals) {
                    return Err(format!("option {key} needs a value: {key}=\"...\""));
                }
                let value = match it.next() {
                    Some(Token::Quoted(v)) | Some(Token::Word(v)) => v,
                    other => return Err(format!("option {key} has no value, found {other:?}")),
                };
                if options.insert(key.clone(), value).is_some() {
                    return Err(format!("option {key} is given twice"));
                }
            }
            None => return Err("the login module entry must end with ';'".into()),
            Some(other) => return Err(format!("expected an option or ';', found {other:?}")),
        }
    }
    if it.next().is_some() {
        return Err(
            "JAAS config property contains more than one login module, should be 1 module".into(),
        );
    }
    Ok(JaasEntry {
        login_module,
        flag,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_plain_example() {
        let e = parse_jaas_config(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" user_alice=\"alice-secret\";",
        )
        .unwrap();
        assert_eq!(e.login_module, PLAIN_LOGIN_MODULE);
        assert_eq!(e.flag, "required");
        assert_eq!(e.option("username"), Some("admin"));
        assert_eq!(e.option("password"), Some("admin-secret"));
        let users = e.plain_users();
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "alice-secret");
        assert_eq!(users["admin"], "admin-secret");
    }

    #[test]
    fn bare_words_escapes_and_empty_values() {
        let e = parse_jaas_config(
            "x.Y optional unsecuredLoginStringClaim_sub=thePrincipal a=\"q\\\"uo;te\" b=\"\";",
        )
        .unwrap();
        assert_eq!(
            e.option("unsecuredLoginStringClaim_sub"),
            Some("thePrincipal")
        );
        assert_eq!(e.option("a"), Some("q\"uo;te"));
        assert_eq!(e.option("b"), Some(""));
    }

    #[test]
    fn strict_about_shape() {
        for bad in [
            "",
            "   ",
            "x.Y required username=\"a\"",
            "x.Y required username=\"a\"; z.W required;",
            "x.Y mandatory;",
            "x.Y required username;",
            "x.Y required username=;",
            "x.Y required username=\"a;",
            "x.Y required a=\"1\" a=\"2\";",
            "x.Y required a=\"1\" # ;",
            "required;",
        ] {
            assert!(parse_jaas_config(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn debug_hides_values() {
        let e = parse_jaas_config("x.Y required password=\"s3cret\";").unwrap();
        assert!(!format!("{e:?}").contains("s3cret"));
    }
}
