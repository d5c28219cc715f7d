//! Secrets as a type. The DataRobot API token lives in [`Token`], whose `Debug` and
//! `Display` print `(redacted)`, which is not `Serialize`, and whose only accessor is
//! [`Token::expose`], so that a stray `{:?}` in a log line, an error or a plan file cannot
//! leak it. Grep for `expose()` to find every place the token leaves its box.

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
}
