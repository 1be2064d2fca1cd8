//! Keys, values and headers as text, JSON or hex, cut to the console's
//! `max_value_bytes`, escaped for HTML; and times as ISO 8601 in UTC.

use crate::html::esc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Hex,
}

impl Format {
    pub fn parse(s: &str) -> Format {
        match s {
            "json" => Format::Json,
            "hex" => Format::Hex,
            _ => Format::Text,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Hex => "hex",
        }
    }
}

/// `bytes` as HTML in `format`, at most `max` bytes of it shown (the rest
/// is counted, not shown). `None` is Kafka's null.
pub fn render(bytes: Option<&[u8]>, format: Format, max: usize) -> String {
    let Some(bytes) = bytes else {
        return "<span class=\"muted\">null</span>".to_owned();
    };
    let shown = &bytes[..bytes.len().min(max)];
    let more = bytes.len() - shown.len();
    let body = match format {
        Format::Text => esc(&String::from_utf8_lossy(shown)),
        Format::Hex => esc(&hex(shown)),
        Format::Json => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(v) => {
                let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
                let cut: String = pretty.chars().take(max).collect();
                let cut_more = pretty.chars().count() - cut.chars().count();
                return format!(
                    "<pre class=\"value\">{}</pre>{}",
                    esc(&cut),
                    truncated(cut_more, "characters")
                );
            }
            Err(_) => format!(
                "<span class=\"muted\">(not JSON)</span> {}",
                esc(&String::from_utf8_lossy(shown))
            ),
        },
    };
    format!(
        "<pre class=\"value\">{body}</pre>{}",
        truncated(more, "bytes")
    )
}

fn truncated(more: usize, unit: &str) -> String {
    if more == 0 {
        String::new()
    } else {
        format!("<span class=\"muted\">… {more} more {unit} not shown</span>")
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(if i % 16 == 0 { '\n' } else { ' ' });
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Milliseconds since the epoch as `2024-05-01T12:00:00.000Z`.
pub fn iso_time(ms: i64) -> String {
    if ms < 0 {
        return ms.to_string();
    }
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Milliseconds since the epoch from a number of milliseconds or an ISO
/// 8601 date-time in UTC (`2024-05-01T12:00`, seconds, fraction and `Z`
/// optional: what a browser's datetime-local field sends).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = s.split_once(['T', ' '])?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':');
    let (h, min): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec: i64 = t.next().map_or(Some(0), |v| v.parse().ok())?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    let frac_ms: i64 = format!("{:0<3}", frac.get(..frac.len().min(3))?)
        .parse()
        .ok()?;
    let days = days_from_civil(y, m, day);
    Some(((days * 86_400 + h * 3600 + min * 60 + sec) * 1000) + frac_ms)
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_as_escaped_text_json_or_hex_and_are_cut() {
        let v = b"<script>alert(1)</script>";
        assert_eq!(
            render(Some(v), Format::Text, 100),
            "<pre class=\"value\">&lt;script&gt;alert(1)&lt;/script&gt;</pre>"
        );
        let cut = render(Some(v), Format::Text, 8);
        assert!(cut.contains("&lt;script&gt;</pre>"), "{cut}");
        assert!(cut.contains("17 more bytes not shown"), "{cut}");
        assert_eq!(
            render(Some(b"\x00\xffA"), Format::Hex, 100),
            "<pre class=\"value\">00 ff 41</pre>"
        );
        let json = render(Some(br#"{"a":"<b>"}"#), Format::Json, 100);
        assert!(
            json.contains("&quot;a&quot;: &quot;&lt;b&gt;&quot;"),
            "{json}"
        );
        assert!(render(Some(b"nope"), Format::Json, 100).contains("(not JSON)"));
        assert!(render(None, Format::Text, 100).contains("null"));
    }

    #[test]
    fn times_round_trip_through_iso_8601() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert_eq!(parse_time("2024-05-01T12:00"), Some(1_714_564_800_000));
        assert_eq!(
            parse_time("2024-05-01T12:00:00.123Z"),
            Some(1_714_564_800_123)
        );
        assert_eq!(parse_time("1714564800000"), Some(1_714_564_800_000));
        assert_eq!(parse_time("2024-02-29T00:00:00"), Some(1_709_164_800_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2024-13-01T00:00"), None);
    }
}
