//! OAuth scopes (RFC 6749 §3.3).
//!
//! On the wire a scope is a space-delimited list of tokens, each `1*NQCHAR` (`%x21 / %x23-5B /
//! %x5D-7E`: printable ASCII except space, `"` and `\`). The order does not matter and a token
//! listed twice counts once, so [`Scope`] is a set; it prints its tokens sorted, which makes the
//! `scope` claim and responses deterministic. Runs of spaces between tokens are tolerated on
//! input (some clients send them); any other character outside NQCHAR is refused.

use std::{collections::BTreeSet, fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A scope string that breaks RFC 6749 §3.3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid scope token {token:?}: scope tokens are printable ASCII without spaces, double quotes or backslashes"
)]
pub struct ScopeError {
    /// The offending token.
    pub token: String,
}

/// A set of scope tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope(BTreeSet<String>);

/// RFC 6749 §3.3: `NQCHAR = %x21 / %x23-5B / %x5D-7E`.
fn is_nqchar(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

impl Scope {
    /// The empty scope.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses a space-delimited scope string. An empty string is the empty scope.
    pub fn parse(value: &str) -> Result<Self, ScopeError> {
        value
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(Self::token)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Scope)
    }

    fn token(token: &str) -> Result<String, ScopeError> {
        if token.bytes().all(is_nqchar) {
            Ok(token.to_owned())
        } else {
            Err(ScopeError {
                token: token.to_owned(),
            })
        }
    }

    /// Whether no token is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many distinct tokens.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `token` is granted.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// Whether every token of `required` is in this scope (a tool's required scope against a
    /// token's granted scope; an empty `required` is always satisfied).
    pub fn contains_all(&self, required: &Scope) -> bool {
        required.0.is_subset(&self.0)
    }

    /// The tokens in both scopes (what is granted when a client asks for `self` and the server
    /// allows `other`).
    pub fn intersection(&self, other: &Scope) -> Scope {
        Scope(self.0.intersection(&other.0).cloned().collect())
    }

    /// The tokens in either scope.
    pub fn union(&self, other: &Scope) -> Scope {
        Scope(self.0.union(&other.0).cloned().collect())
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tokens = self.0.iter();
        if let Some(first) = tokens.next() {
            f.write_str(first)?;
            for token in tokens {
                f.write_str(" ")?;
                f.write_str(token)?;
            }
        }
        Ok(())
    }
}

/// Serialized as the space-delimited string (the `scope` claim of RFC 9068 §2.2.3).
impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Scope::parse(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(value: &str) -> Scope {
        Scope::parse(value).unwrap()
    }

    #[test]
    fn order_and_duplicates_do_not_matter() {
        assert_eq!(scope("b a a"), scope("a b"));
        assert_eq!(scope("b a a").len(), 2);
        assert_eq!(scope("b a a").to_string(), "a b");
    }

    #[test]
    fn empty_and_extra_spaces() {
        assert!(scope("").is_empty());
        assert!(scope("   ").is_empty());
        assert_eq!(scope("  a   b ").to_string(), "a b");
        assert_eq!(Scope::empty().to_string(), "");
    }

    #[test]
    fn nqchar_rules() {
        assert!(Scope::parse("mcp:tools read!#[]~").is_ok());
        assert!(Scope::parse("https://example.com/scope").is_ok());
        for bad in ["a\"b", "a\\b", "a\tb", "caf\u{e9}", "a\nb", "a\u{7f}"] {
            assert!(Scope::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(
            Scope::parse("ok bad\"token").unwrap_err().token,
            "bad\"token"
        );
    }

    #[test]
    fn contains_all_and_intersection() {
        let granted = scope("mcp:tools mcp:resources profile");
        assert!(granted.contains("profile"));
        assert!(granted.contains_all(&scope("mcp:tools profile")));
        assert!(granted.contains_all(&Scope::empty()));
        assert!(!granted.contains_all(&scope("mcp:tools admin")));
        assert_eq!(
            granted.intersection(&scope("admin mcp:tools")),
            scope("mcp:tools")
        );
        assert!(granted.intersection(&scope("admin")).is_empty());
    }

    #[test]
    fn serde_uses_the_space_delimited_string() {
        let json = serde_json::to_string(&scope("b a")).unwrap();
        assert_eq!(json, "\"a b\"");
        let back: Scope = serde_json::from_str("\"a  b a\"").unwrap();
        assert_eq!(back, scope("a b"));
        assert!(serde_json::from_str::<Scope>("\"a\\\\b\"").is_err());
    }
}
