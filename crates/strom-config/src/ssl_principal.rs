//! `ssl.principal.mapping.rules`: how a client certificate's subject becomes a principal name,
//! Kafka's `SslPrincipalMapper`.
//!
//! The rules are a comma-separated list of `DEFAULT` (the distinguished name as it is, e.g.
//! `CN=alice,OU=eng`) and `RULE:pattern/replacement/[LU]`: the first rule whose pattern
//! matches the whole distinguished name gives the name, the pattern's matches replaced by the
//! replacement (`$1` refers to a group), lower- (`L`) or upper-cased (`U`). A pattern or
//! replacement may contain `\/` and a comma. With no rule matching, the connection has no
//! principal and is refused, as in Kafka.

use regex::Regex;

/// One parsed rule list; [`SslPrincipalMapper::name`] applies it.
#[derive(Debug, Clone)]
pub struct SslPrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        /// The pattern as written, matched anywhere (for the replacement).
        pattern: Regex,
        /// The same pattern anchored at both ends (Java's `matches()`).
        whole: Regex,
        /// The replacement in the regex crate's syntax (`${1}`, `$$`).
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

const RULE_PATTERN: &str = r"(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)";

impl SslPrincipalMapper {
    /// Parses a rule list; the error names the rule that is not valid.
    pub fn parse(rules: &str) -> Result<SslPrincipalMapper, String> {
        let splitter =
            Regex::new(&format!(r"\s*({RULE_PATTERN})\s*(?:,\s*|$)")).map_err(|e| e.to_string())?;
        let parser = Regex::new(&format!("^(?:{RULE_PATTERN})")).map_err(|e| e.to_string())?;
        let mut parsed = Vec::new();
        for split in splitter.captures_iter(rules.trim()) {
            let rule = split.get(1).map_or("", |m| m.as_str());
            let Some(caps) = parser.captures(rule) else {
                return Err(format!("invalid rule: {rule}"));
            };
            let end = caps.get(0).map_or(0, |m| m.end());
            if end != rule.len() {
                return Err(format!(
                    "invalid rule: `{rule}`, unmatched substring: `{}`",
                    &rule[end..]
                ));
            }
            if caps.get(1).is_some() {
                parsed.push(Rule::Default);
            } else if let (Some(pattern), Some(replacement)) = (caps.get(2), caps.get(3)) {
                let case = match caps.get(4).map(|m| m.as_str()) {
                    Some("L") => Case::Lower,
                    Some("U") => Case::Upper,
                    _ => Case::Keep,
                };
                let bad = |e: regex::Error| format!("invalid rule: {rule}: {e}");
                let pattern_text = pattern.as_str();
                let compiled = Regex::new(pattern_text).map_err(bad)?;
                let whole = Regex::new(&format!("^(?:{pattern_text})$")).map_err(bad)?;
                let groups = compiled.captures_len() - 1;
                parsed.push(Rule::Replace {
                    pattern: compiled,
                    whole,
                    replacement: translate_replacement(replacement.as_str(), groups),
                    case,
                });
            }
            // An empty rule (between two commas) is ignored.
        }
        Ok(SslPrincipalMapper { rules: parsed })
    }

    /// The principal name for a certificate subject, or `None` when no rule applies.
    pub fn name(&self, distinguished_name: &str) -> Option<String> {
        self.rules.iter().find_map(|rule| match rule {
            Rule::Default => Some(distinguished_name.to_owned()),
            Rule::Replace {
                pattern,
                whole,
                replacement,
                case,
            } => {
                if !whole.is_match(distinguished_name) {
                    return None;
                }
                let name = pattern
                    .replace_all(distinguished_name, replacement.as_str())
                    .into_owned();
                Some(match case {
                    Case::Keep => name,
                    Case::Lower => name.to_lowercase(),
                    Case::Upper => name.to_uppercase(),
                })
            }
        })
    }
}

/// Java's replacement syntax (`$n` a group, `\c` the character c) in the regex crate's. A
/// reference to a group the pattern does not have loses trailing digits until it does, and
/// with none left is literal text (Kafka's `escapeLiteralBackReferences`).
fn translate_replacement(java: &str, groups: usize) -> String {
    let mut out = String::new();
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => {}
            },
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                let mut index: usize = digits.parse().unwrap_or(usize::MAX);
                let mut used = digits.len();
                while index > groups && index >= 10 {
                    index /= 10;
                    used -= 1;
                }
                if let Some(rest) = digits.strip_prefix('0') {
                    out.push_str(&format!("${{0}}{rest}"));
                } else if groups == 0 || index > groups {
                    out.push_str("$$");
                    out.push_str(&digits);
                } else {
                    out.push_str(&format!("${{{index}}}"));
                    out.push_str(&digits[used..]);
                }
            }
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_valid_rules_parse() {
        for rules in [
            "DEFAULT",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
            "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
            "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
            "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
            "",
            ",   , , ,",
        ] {
            SslPrincipalMapper::parse(rules).unwrap_or_else(|e| panic!("{rules}: {e}"));
        }
    }

    #[test]
    fn kafkas_invalid_rules_are_refused() {
        for rules in [
            "default",
            "DEFAUL",
            "DEFAULT/L",
            "DEFAULT/U",
            "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
            "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
        ] {
            assert!(SslPrincipalMapper::parse(rules).is_err(), "{rules}");
        }
    }

    #[test]
    fn the_first_matching_rule_names_the_principal() {
        let mapper = SslPrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, \
             RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, \
             RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U, \
             RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, \
             DEFAULT",
        )
        .unwrap();
        let name = |dn: &str| mapper.name(dn).unwrap();
        assert_eq!(name("CN=Duke,OU=ServiceUsers,O=Org,C=US"), "duke");
        assert_eq!(
            name("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US"),
            "duke@sme"
        );
        assert_eq!(name("cn=duke,ou=sme,dc=mycp,dc=com"), "DUKE@SME");
        assert_eq!(name("cN=duke,OU=JavaSoft,O=Sun Microsystems"), "DUKE");
        assert_eq!(
            name("OU=JavaSoft,O=Sun Microsystems,C=US"),
            "OU=JavaSoft,O=Sun Microsystems,C=US"
        );
    }

    #[test]
    fn an_escaped_comma_stays_in_the_name() {
        let mapper =
            SslPrincipalMapper::parse(r"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT").unwrap();
        assert_eq!(
            mapper
                .name(r"CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz")
                .unwrap(),
            r"Tkac\, Adam"
        );
    }

    #[test]
    fn no_matching_rule_gives_no_name_and_default_keeps_the_dn() {
        let mapper = SslPrincipalMapper::parse("RULE:^CN=([a-z]+),O=x$/$1/").unwrap();
        assert_eq!(mapper.name("CN=alice,O=x").as_deref(), Some("alice"));
        assert_eq!(mapper.name("CN=alice,O=y"), None);
        let default = SslPrincipalMapper::parse("DEFAULT").unwrap();
        assert_eq!(
            default.name("CN=alice,OU=eng").as_deref(),
            Some("CN=alice,OU=eng")
        );
        // An empty list has no rule at all.
        assert_eq!(SslPrincipalMapper::parse("").unwrap().name("CN=a"), None);
    }

    #[test]
    fn rules_may_contain_commas_and_escaped_slashes() {
        let mapper = SslPrincipalMapper::parse(r"RULE:^CN=([^,]+),.*$/user\/$1/, DEFAULT").unwrap();
        assert_eq!(mapper.name("CN=bob,OU=x").as_deref(), Some("user/bob"));
        assert_eq!(mapper.name("O=none").as_deref(), Some("O=none"));
    }

    #[test]
    fn back_references_past_the_groups_are_literal() {
        assert_eq!(translate_replacement("$1@$4", 3), "${1}@$$4");
        assert_eq!(translate_replacement("$12", 1), "${1}2");
        assert_eq!(translate_replacement("a\\$b", 1), "a$$b");
        assert_eq!(translate_replacement("$1", 0), "$$1");
    }
}
