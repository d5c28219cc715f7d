//! Secrets as a type. The DataRobot API token lives in [`Token`], whose `Debug` and
//! `Display` print `(redacted)`, which is not `Serialize`, and whose only accessor is
//! [`Token::expose`], so that a stray `{:?}` in a log line, an error or a plan file cannot
//! leak it. Grep for `expose()` to find every place the token leaves its box.

use std::borrow::Cow;
use std::fmt;

/// The text printed wherever a secret would be.
pub const REDACTED: &str = "(redacted)";

/// A DataRobot API token (or OAuth bearer token). Deliberately not `Serialize`, not
/// `PartialEq` (no timing-sensitive comparisons to worry about) and not `Deref<Target=str>`.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// Wraps a token. Surrounding whitespace (a trailing newline from a file or a paste) is
    /// removed, since no DataRobot token contains any.
    pub fn new(token: impl Into<String>) -> Token {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.len() == token.len() {
            Token(token)
        } else {
            Token(trimmed.to_string())
        }
    }

    /// The token itself. The one accessor: call it only where the token goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the token is empty (after trimming).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with the token taken out: every `Token <t>` and `Bearer <t>` (the header
    /// values, whatever the scheme word's case), and the bare token and its
    /// percent-encoded form wherever they appear, become [`REDACTED`]. For server text (an
    /// error body, a header) before it is printed or stored: a server or proxy that echoes
    /// the `Authorization` header must not put the token in a journal or report.
    ///
    /// A token shorter than [`MIN_BARE_REDACTION`] characters is taken out only in its
    /// header forms: replacing every `t` of a message would garble it, and no DataRobot
    /// token is that short.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.0.is_empty() || !text.contains(self.0.as_str()) && !self.encoded_in(text) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        if self.0.chars().count() >= MIN_BARE_REDACTION {
            out = out.replace(self.0.as_str(), REDACTED);
            let encoded = percent_encode(&self.0);
            if encoded != self.0 {
                out = out.replace(&encoded, REDACTED);
            }
        } else {
            for scheme in ["Token", "Bearer"] {
                out = replace_after_word(&out, scheme, &self.0);
            }
        }
        Cow::Owned(out)
    }

    fn encoded_in(&self, text: &str) -> bool {
        let encoded = percent_encode(&self.0);
        encoded != self.0 && text.contains(&encoded)
    }
}

/// Tokens at least this long are taken out of server text wherever they appear; shorter
/// ones only after `Token ` or `Bearer ` (see [`Token::scrub`]).
pub const MIN_BARE_REDACTION: usize = 8;

/// Replaces `token` where it follows `word` and one space (the word in any case).
fn replace_after_word(text: &str, word: &str, token: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(token) {
        let head = &rest[..i];
        let before = head.len().checked_sub(word.len() + 1).and_then(|start| {
            head.get(start..)
                .filter(|w| w.ends_with(' ') && w[..word.len()].eq_ignore_ascii_case(word))
        });
        out.push_str(head);
        if before.is_some() {
            out.push_str(REDACTED);
        } else {
            out.push_str(token);
        }
        rest = &rest[i + token.len()..];
    }
    out.push_str(rest);
    out
}

/// The token as it would appear in a URL's query (RFC 3986 unreserved characters kept).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_token() {
        let t = Token::new("  s3cr3t-value\n");
        assert_eq!(t.expose(), "s3cr3t-value");
        assert_eq!(format!("{t}"), REDACTED);
        assert_eq!(format!("{t:?}"), REDACTED);
        assert_eq!(
            format!("{:#?}", Some(t.clone())),
            format!("Some(\n    {REDACTED},\n)")
        );
        assert!(!Token::new("x").is_empty());
        assert!(Token::new(" \n").is_empty());
    }

    #[test]
    fn scrub_takes_the_token_out_of_server_text() {
        let t = Token::new("abc/def+ghi=123");
        let text = "echo: Authorization: Token abc/def+ghi=123; q=abc%2Fdef%2Bghi%3D123 bare \
                    abc/def+ghi=123";
        let clean = t.scrub(text);
        assert!(!clean.contains("abc/def"), "{clean}");
        assert!(!clean.contains("abc%2Fdef"), "{clean}");
        assert!(clean.contains("Authorization: Token (redacted)"), "{clean}");
        assert!(matches!(t.scrub("nothing here"), Cow::Borrowed(_)));

        // A short token: only its header forms, so that messages stay readable.
        let short = Token::new("t");
        assert_eq!(
            short.scrub("Not Found; bearer t; Token t; tt"),
            "Not Found; bearer (redacted); Token (redacted); tt"
        );
    }
}
