//! `server.properties` as `java.util.Properties` reads it, so a Kafka operator's file means the
//! same thing to Strom as to Kafka.
//!
//! The format (from `java.util.Properties#load`): a logical line is one or more physical lines
//! joined by a trailing unescaped backslash, the continuation's leading whitespace dropped.
//! Lines whose first non-blank character is `#` or `!` are comments. The key runs up to the
//! first unescaped `=`, `:` or whitespace; then whitespace, at most one `=`/`:`, and whitespace
//! again are skipped, and the rest of the line (trailing blanks included) is the value.
//! Backslash escapes: `\t \n \r \f`, `\uXXXX`, and `\x` for any other `x` is `x`.
//! A key given twice keeps the last value, as in Java.
//!
//! Unlike Java (ISO 8859-1 only), a file that is valid UTF-8 is read as UTF-8; any other file
//! is read as ISO 8859-1, which is what Java would have done with it.
//!
//! Every entry remembers where it came from, so an error can point at the file and line.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// Where a property's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of a properties file (1-based; the first line of a continued entry).
    File { path: PathBuf, line: usize },
    /// A line of text given to [`Properties::parse`] (1-based).
    Text { line: usize },
    /// `--override` on the command line, or [`Properties::set`].
    Override,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Text { line } => write!(f, "line {line}"),
            Origin::Override => f.write_str("--override"),
        }
    }
}

/// One `key=value` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

/// Raw properties: untyped, unvalidated, in the order they were first given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<Property>,
}

impl Properties {
    pub fn new() -> Properties {
        Properties::default()
    }

    /// Parses properties text; origins are line numbers of `text`.
    pub fn parse(text: &str) -> Result<Properties, ConfigError> {
        parse_with(text, |line| Origin::Text { line })
    }

    /// Reads and parses a properties file; origins are `path:line`.
    pub fn load(path: impl AsRef<Path>) -> Result<Properties, ConfigError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            // ISO 8859-1: every byte is the code point of the same number.
            Err(e) => e.into_bytes().into_iter().map(char::from).collect(),
        };
        parse_with(&text, |line| Origin::File {
            path: path.to_path_buf(),
            line,
        })
    }

    /// Applies one `--override KEY=VALUE` argument, as `kafka-server-start.sh` does:
    /// split at the first `=`, the value may be empty, the key may not.
    pub fn apply_override(&mut self, argument: &str) -> Result<(), ConfigError> {
        match argument.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                self.insert(Property {
                    key: key.trim().to_owned(),
                    value: value.to_owned(),
                    origin: Origin::Override,
                });
                Ok(())
            }
            _ => Err(ConfigError::MalformedOverride {
                argument: argument.to_owned(),
            }),
        }
    }

    /// Sets a key programmatically (its origin is [`Origin::Override`]).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.insert(Property {
            key: key.into(),
            value: value.into(),
            origin: Origin::Override,
        });
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.property(key).map(|p| p.value.as_str())
    }

    pub fn property(&self, key: &str) -> Option<&Property> {
        self.entries.iter().find(|p| p.key == key)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Property> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Later values replace earlier ones but keep the earlier position.
    fn insert(&mut self, property: Property) {
        match self.entries.iter_mut().find(|p| p.key == property.key) {
            Some(existing) => *existing = property,
            None => self.entries.push(property),
        }
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

fn parse_with(text: &str, origin_of: impl Fn(usize) -> Origin) -> Result<Properties, ConfigError> {
    // Every line terminator (\r\n, \r, \n) ends exactly one physical line.
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    let mut properties = Properties::default();
    let mut next = 0;
    while next < lines.len() {
        let line_number = next + 1;
        let first = lines[next].trim_start_matches(is_blank);
        next += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_owned();
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.get(next) {
                Some(continuation) => {
                    logical.push_str(continuation.trim_start_matches(is_blank));
                    next += 1;
                }
                None => break,
            }
        }
        let origin = origin_of(line_number);
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|message| ConfigError::Syntax {
            origin: origin.clone(),
            message,
        })?;
        let value = unescape(value).map_err(|message| ConfigError::Syntax {
            origin: origin.clone(),
            message,
        })?;
        properties.insert(Property { key, value, origin });
    }
    Ok(properties)
}

fn ends_with_odd_backslashes(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Splits a logical line into its raw (still escaped) key and value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut chars = line.char_indices();
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut has_separator = false;
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == '=' || c == ':' {
            key_end = i;
            value_start = i + 1;
            has_separator = true;
            break;
        } else if is_blank(c) {
            key_end = i;
            value_start = i + c.len_utf8();
            break;
        }
    }
    let mut rest = line[value_start..].trim_start_matches(is_blank);
    if !has_separator {
        if let Some(after) = rest.strip_prefix(['=', ':']) {
            rest = after.trim_start_matches(is_blank);
        }
    }
    (&line[..key_end], rest)
}

/// Resolves backslash escapes; `\uXXXX` pairs that form a UTF-16 surrogate pair become one char.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    let mut pending_high: Option<u16> = None;
    while let Some(c) = chars.next() {
        if c != '\\' {
            if pending_high.take().is_some() {
                return Err(unpaired_surrogate());
            }
            out.push(c);
            continue;
        }
        let Some(escaped) = chars.next() else { break };
        if escaped == 'u' {
            let mut unit: u16 = 0;
            for _ in 0..4 {
                let digit = chars.next().and_then(|d| d.to_digit(16)).ok_or_else(|| {
                    "malformed \\uXXXX escape: \\u must be followed by four hexadecimal digits"
                        .to_owned()
                })?;
                unit = unit * 16 + digit as u16;
            }
            match (pending_high.take(), unit) {
                (None, 0xD800..=0xDBFF) => pending_high = Some(unit),
                (Some(high), 0xDC00..=0xDFFF) => {
                    let code =
                        0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                    out.push(char::from_u32(code).ok_or_else(unpaired_surrogate)?);
                }
                (Some(_), _) | (None, 0xDC00..=0xDFFF) => return Err(unpaired_surrogate()),
                (None, _) => {
                    out.push(char::from_u32(u32::from(unit)).ok_or_else(unpaired_surrogate)?)
                }
            }
            continue;
        }
        if pending_high.take().is_some() {
            return Err(unpaired_surrogate());
        }
        out.push(match escaped {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'f' => '\x0c',
            other => other,
        });
    }
    if pending_high.is_some() {
        return Err(unpaired_surrogate());
    }
    Ok(out)
}

fn unpaired_surrogate() -> String {
    "malformed \\uXXXX escape: a UTF-16 surrogate must come as a high/low pair".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<(String, String)> {
        Properties::parse(text)
            .unwrap()
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect()
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equals_colon_and_whitespace_all_separate_key_from_value() {
        assert_eq!(
            parsed("a=1\nb:2\nc 3\nd = 4\ne : 5\nf\t\t6\ng  =  7\n"),
            kv(&[
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "4"),
                ("e", "5"),
                ("f", "6"),
                ("g", "7")
            ])
        );
    }

    #[test]
    fn only_the_first_separator_counts() {
        assert_eq!(
            parsed("a=b=c\nx::y\nurl=PLAINTEXT://:9092"),
            kv(&[("a", "b=c"), ("x", ":y"), ("url", "PLAINTEXT://:9092")])
        );
    }

    #[test]
    fn whitespace_then_separator_then_whitespace_is_one_separator() {
        assert_eq!(parsed("key \t = \t value"), kv(&[("key", "value")]));
        // Only one '=' is swallowed after a whitespace-terminated key.
        assert_eq!(parsed("key = = value"), kv(&[("key", "= value")]));
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        assert_eq!(
            parsed("# comment\n! also a comment\n   # indented comment\n\n   \na=1\n"),
            kv(&[("a", "1")])
        );
    }

    #[test]
    fn a_hash_inside_a_value_is_not_a_comment() {
        assert_eq!(
            parsed("a=1 # not a comment"),
            kv(&[("a", "1 # not a comment")])
        );
    }

    #[test]
    fn a_key_without_value_gets_the_empty_string() {
        assert_eq!(
            parsed("lonely\nalso=\n"),
            kv(&[("lonely", ""), ("also", "")])
        );
    }

    #[test]
    fn trailing_whitespace_of_a_value_is_kept_and_leading_whitespace_dropped() {
        assert_eq!(parsed("   a=  x y  "), kv(&[("a", "x y  ")]));
    }

    #[test]
    fn backslash_newline_continues_the_line_without_the_next_lines_indent() {
        assert_eq!(
            parsed("listeners=PLAINTEXT://:9092,\\\n        CONTROLLER://:9093\nnext=1"),
            kv(&[
                ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
                ("next", "1")
            ])
        );
    }

    #[test]
    fn an_even_number_of_trailing_backslashes_does_not_continue() {
        assert_eq!(parsed("a=x\\\\\nb=y"), kv(&[("a", "x\\"), ("b", "y")]));
    }

    #[test]
    fn a_continued_line_starting_with_hash_is_not_a_comment() {
        assert_eq!(parsed("a=1,\\\n#2"), kv(&[("a", "1,#2")]));
    }

    #[test]
    fn a_comment_ending_in_backslash_does_not_swallow_the_next_line() {
        assert_eq!(parsed("# comment \\\na=1"), kv(&[("a", "1")]));
    }

    #[test]
    fn a_continuation_at_end_of_input_just_ends() {
        assert_eq!(parsed("a=1\\"), kv(&[("a", "1")]));
    }

    #[test]
    fn escapes_are_resolved_in_keys_and_values() {
        assert_eq!(parsed(r"tab=a\tb"), kv(&[("tab", "a\tb")]));
        assert_eq!(parsed(r"nl=a\nb\rc\fd"), kv(&[("nl", "a\nb\rc\x0cd")]));
        assert_eq!(parsed(r"u=\u0041\u00e9"), kv(&[("u", "Aé")]));
        assert_eq!(parsed(r"plain=\q\\"), kv(&[("plain", "q\\")]));
        assert_eq!(parsed(r"emoji=\uD83D\uDE00"), kv(&[("emoji", "😀")]));
    }

    #[test]
    fn escaped_separators_belong_to_the_key() {
        assert_eq!(parsed(r"a\=b\:c\ d=v"), kv(&[("a=b:c d", "v")]));
    }

    #[test]
    fn a_malformed_unicode_escape_is_an_error_naming_the_line() {
        let err = Properties::parse("ok=1\n\nbad=\\u12G4").unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Syntax {
                    origin: Origin::Text { line: 3 },
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("line 3: malformed \\uXXXX escape"),
            "{err}"
        );
        let short = Properties::parse("bad=\\u12").unwrap_err();
        assert!(
            short.to_string().contains("four hexadecimal digits"),
            "{short}"
        );
    }

    #[test]
    fn an_unpaired_surrogate_is_an_error() {
        assert!(Properties::parse(r"a=\uD83Dx").is_err());
        assert!(Properties::parse(r"a=\uDE00").is_err());
        assert!(Properties::parse(r"a=\uD83D").is_err());
    }

    #[test]
    fn crlf_and_cr_line_endings_count_as_one_line_each() {
        let props = Properties::parse("a=1\r\nb=2\rc=3\n\r\nd=4").unwrap();
        let lines: Vec<(String, Origin)> = props
            .iter()
            .map(|p| (p.key.clone(), p.origin.clone()))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("a".into(), Origin::Text { line: 1 }),
                ("b".into(), Origin::Text { line: 2 }),
                ("c".into(), Origin::Text { line: 3 }),
                ("d".into(), Origin::Text { line: 5 }),
            ]
        );
        assert_eq!(props.get("b"), Some("2"));
    }

    #[test]
    fn a_continued_entry_reports_its_first_line() {
        let props = Properties::parse("\na=1,\\\n2,\\\n3\nb=4").unwrap();
        assert_eq!(
            props.property("a").unwrap().origin,
            Origin::Text { line: 2 }
        );
        assert_eq!(props.get("a"), Some("1,2,3"));
        assert_eq!(
            props.property("b").unwrap().origin,
            Origin::Text { line: 5 }
        );
    }

    #[test]
    fn the_last_of_duplicate_keys_wins() {
        let props = Properties::parse("a=1\nb=2\na=3").unwrap();
        assert_eq!(props.get("a"), Some("3"));
        assert_eq!(
            props.property("a").unwrap().origin,
            Origin::Text { line: 3 }
        );
        assert_eq!(props.len(), 2);
    }

    #[test]
    fn an_override_replaces_a_file_value_and_splits_at_the_first_equals() {
        let mut props = Properties::parse("log.dirs=/a\n").unwrap();
        props.apply_override("log.dirs=/b=c").unwrap();
        assert_eq!(props.get("log.dirs"), Some("/b=c"));
        assert_eq!(props.property("log.dirs").unwrap().origin, Origin::Override);
        props.apply_override("empty=").unwrap();
        assert_eq!(props.get("empty"), Some(""));
    }

    #[test]
    fn an_override_without_equals_or_key_is_rejected_with_usage() {
        let mut props = Properties::new();
        for bad in ["log.dirs", "=value", "", "  =x"] {
            let err = props.apply_override(bad).unwrap_err();
            assert!(
                matches!(err, ConfigError::MalformedOverride { .. }),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains("expected KEY=VALUE"), "{err}");
        }
        assert!(props.is_empty());
    }

    #[test]
    fn loading_a_missing_file_names_the_file() {
        let err = Properties::load("/nonexistent/strom/server.properties").unwrap_err();
        assert!(
            err.to_string()
                .contains("/nonexistent/strom/server.properties"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_utf8_is_read_as_latin1() {
        let dir = std::env::temp_dir().join(format!("strom-config-latin1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("server.properties");
        std::fs::write(&path, b"name=caf\xe9\n").unwrap();
        let props = Properties::load(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        let props = props.unwrap();
        assert_eq!(props.get("name"), Some("café"));
        assert_eq!(
            props.property("name").unwrap().origin,
            Origin::File { path, line: 1 }
        );
    }
}
