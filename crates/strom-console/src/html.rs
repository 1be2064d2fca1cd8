//! HTML by hand, with one rule: every string that did not come from this
//! crate's own literals goes through [`esc`] (text and attribute values)
//! or [`enc`] (a path or query component) on its way into a page.

use std::fmt::Write;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a URL path segment or query value (RFC 3986's
/// unreserved characters stay as they are).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Topics,
    Groups,
    Cluster,
}

/// A whole page: the layout around `body` (already HTML).
pub fn page(title: &str, nav: Nav, body: &str) -> Response {
    page_with_status(StatusCode::OK, title, nav, body)
}

pub fn page_with_status(status: StatusCode, title: &str, nav: Nav, body: &str) -> Response {
    let link = |href: &str, label: &str, this: Nav| {
        format!(
            "<a href=\"{href}\"{}>{label}</a>",
            if this == nav {
                " aria-current=\"page\""
            } else {
                ""
            }
        )
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · Strom console</title>\
<link rel=\"stylesheet\" href=\"/assets/uPlot.min.css\"><link rel=\"stylesheet\" href=\"/assets/console.css\">\
<script src=\"/assets/uPlot.iife.min.js\" defer></script><script src=\"/assets/console.js\" defer></script>\
</head><body><header><span class=\"brand\">Strom</span><nav>{}{}{}{}</nav></header><main>\
<h1>{}</h1>{}</main></body></html>\n",
        esc(title),
        link("/", "Overview", Nav::Overview),
        link("/topics", "Topics", Nav::Topics),
        link("/groups", "Consumer groups", Nav::Groups),
        link("/cluster", "Brokers &amp; quorum", Nav::Cluster),
        esc(title),
        body
    );
    (status, Html(html)).into_response()
}

/// A table: header cells are literals, rows are HTML (escaped by the caller).
pub struct Table {
    html: String,
}

impl Table {
    pub fn new(id: &str, headers: &[&str]) -> Table {
        let mut html = format!("<table id=\"{}\"><thead><tr>", esc(id));
        for h in headers {
            let _ = write!(html, "<th>{h}</th>");
        }
        html.push_str("</tr></thead><tbody>");
        Table { html }
    }

    /// A row of cells that are already HTML.
    pub fn row(&mut self, cells: &[String]) {
        self.html.push_str("<tr>");
        for c in cells {
            let _ = write!(self.html, "<td>{c}</td>");
        }
        self.html.push_str("</tr>");
    }

    pub fn finish(mut self) -> String {
        self.html.push_str("</tbody></table>");
        self.html
    }
}

/// A notice that something worked.
pub fn notice(text_html: &str) -> String {
    format!("<div class=\"notice\" role=\"status\">{text_html}</div>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_and_attributes_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }

    #[test]
    fn url_components_are_percent_encoded() {
        assert_eq!(enc("orders.v1_x-y~"), "orders.v1_x-y~");
        assert_eq!(enc("a b/c?d&e\"<"), "a%20b%2Fc%3Fd%26e%22%3C");
        assert_eq!(enc("é"), "%C3%A9");
    }
}
