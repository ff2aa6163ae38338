//! The image reference grammar, as regular expressions.
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] remote-name
//! domain           := host [':' port-number]
//! host             := domain-name | '[' IPv6address ']'
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number      := /[0-9]+/
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! remote-name      := path-component ['/' path-component]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := algorithm ":" /[0-9a-fA-F]{32,}/
//! identifier       := /[a-f0-9]{64}/
//! ```
//!
//! The expressions are built to give the same matches and sub-matches as
//! Docker's (`distribution/reference`), so that names accepted or refused by
//! `docker` are accepted or refused here. Both Go's and Rust's engines pick
//! leftmost-first sub-matches, so the captures agree as well.

use std::sync::LazyLock;

use regex::Regex;

/// Lower-case letters and digits: the atom of a path component.
const ALPHANUMERIC: &str = "[a-z0-9]+";
/// One period, one or two underscores, or any number of dashes.
const SEPARATOR: &str = "(?:[._]|__|[-]+)";
/// A DNS label, case-insensitive, no leading or trailing dash.
const DOMAIN_COMPONENT: &str = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
/// Bracketed IPv6 address; zones and embedded IPv4 are deliberately excluded.
const IPV6_ADDRESS: &str = r"\[(?:[a-fA-F0-9:]+)\]";
const OPTIONAL_PORT: &str = "(?::[0-9]+)?";
/// `\w` spelled out: Rust's `\w` is Unicode-aware, Go's is ASCII.
const TAG: &str = "[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}";
const DIGEST: &str = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";

fn domain_and_port() -> String {
    let domain_name = format!(r"{DOMAIN_COMPONENT}(?:\.{DOMAIN_COMPONENT})*");
    format!("(?:{domain_name}|{IPV6_ADDRESS}){OPTIONAL_PORT}")
}

fn remote_name() -> String {
    let path_component = format!("{ALPHANUMERIC}(?:{SEPARATOR}{ALPHANUMERIC})*");
    format!("{path_component}(?:/{path_component})*")
}

fn compile(pattern: &str) -> Regex {
    // The patterns are constants of this module; a failure is a bug caught
    // by the first test that parses anything.
    Regex::new(pattern).expect("reference grammar regex compiles")
}

static DOMAIN: LazyLock<Regex> = LazyLock::new(|| compile(&format!("^{}$", domain_and_port())));

/// Captures: 1 = domain (may be absent), 2 = remote name.
static NAME: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        "^(?:({})/)?({})$",
        domain_and_port(),
        remote_name()
    ))
});

/// Captures: 1 = name, 2 = tag, 3 = digest.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let name = format!("(?:{}/)?{}", domain_and_port(), remote_name());
    compile(&format!("^({name})(?::({TAG}))?(?:@({DIGEST}))?$"))
});

static TAG_RE: LazyLock<Regex> = LazyLock::new(|| compile(&format!("^{TAG}$")));
static DIGEST_RE: LazyLock<Regex> = LazyLock::new(|| compile(&format!("^{DIGEST}$")));
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| compile("^[a-f0-9]{64}$"));

/// The parts of a string that matches the reference grammar, before any
/// further validation (name length, digest algorithm and length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceParts<'a> {
    /// The name: optional domain and the remote name.
    pub name: &'a str,
    /// The tag, without its `:`.
    pub tag: Option<&'a str>,
    /// The digest, without its `@`.
    pub digest: Option<&'a str>,
}

/// Splits `s` into name, tag and digest if the whole string matches the
/// reference grammar.
pub fn split_reference(s: &str) -> Option<ReferenceParts<'_>> {
    let caps = REFERENCE.captures(s)?;
    Some(ReferenceParts {
        name: caps.get(1).map_or("", |m| m.as_str()),
        tag: caps.get(2).map(|m| m.as_str()),
        digest: caps.get(3).map(|m| m.as_str()),
    })
}

/// Splits a name (no tag, no digest) into its domain (`""` when it has none)
/// and remote name, if the whole string is a valid name.
///
/// A first component is taken as the domain whenever the grammar allows it:
/// `a/b` gives `("a", "b")`. Docker's normalization decides differently; see
/// [`Reference::parse`](crate::Reference::parse).
pub fn split_name(s: &str) -> Option<(&str, &str)> {
    let caps = NAME.captures(s)?;
    let domain = caps.get(1).map_or("", |m| m.as_str());
    let path = caps.get(2).map_or("", |m| m.as_str());
    Some((domain, path))
}

/// Whether `s` is a registry domain: a host name, IPv4 address or bracketed
/// IPv6 address, with an optional port.
pub fn is_domain(s: &str) -> bool {
    DOMAIN.is_match(s)
}

/// Whether `s` is a valid tag: a word character, then up to 127 word
/// characters, periods or dashes.
pub fn is_tag(s: &str) -> bool {
    TAG_RE.is_match(s)
}

/// Whether `s` has the syntax of a digest (`algorithm:hex`, at least 32 hex
/// digits). Says nothing about the algorithm being supported; see
/// [`validate_digest`].
pub fn is_digest_syntax(s: &str) -> bool {
    DIGEST_RE.is_match(s)
}

/// Whether `s` is a 64-hex-digit image identifier (a sha256 without its
/// algorithm prefix).
pub fn is_identifier(s: &str) -> bool {
    IDENTIFIER.is_match(s)
}

/// Why a digest was refused, with the messages of Go's `go-digest`, which
/// docker prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not `algorithm:encoded`, or the encoding is not lower-case hex.
    #[error("invalid checksum digest format")]
    InvalidFormat,
    /// A sha256 whose hex part is not 64 characters long.
    #[error("invalid checksum digest length")]
    InvalidLength,
    /// A well-formed digest of an algorithm other than sha256.
    #[error("unsupported digest algorithm")]
    Unsupported,
}

/// Checks that `s` is a `sha256:` digest with 64 lower-case hex digits, the
/// only algorithm strata stores, and says why not as `go-digest` would
/// (with only sha256 registered).
pub fn validate_digest(s: &str) -> Result<(), DigestError> {
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return Err(DigestError::InvalidFormat);
    };
    if encoded.is_empty() {
        return Err(DigestError::InvalidFormat);
    }
    if algorithm != "sha256" {
        return if is_go_digest_syntax(algorithm, encoded) {
            Err(DigestError::Unsupported)
        } else {
            Err(DigestError::InvalidFormat)
        };
    }
    if encoded.len() != 64 {
        return Err(DigestError::InvalidLength);
    }
    if !encoded
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(DigestError::InvalidFormat);
    }
    Ok(())
}

/// go-digest's own digest syntax, which decides between "unsupported" and
/// "invalid format" for algorithms it does not know:
/// `[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`.
fn is_go_digest_syntax(algorithm: &str, encoded: &str) -> bool {
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['.', '+', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    // The encoded part runs to the end of the string, so a second ':' fails.
    let encoded_ok = encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    algorithm_ok && encoded_ok
}
