//! Image references (`busybox`, `localhost:5000/a/b:tag`,
//! `name:tag@sha256:…`), parsed and normalized the way docker does.
//!
//! [`Reference`] is a parsed reference: registry domain, repository path,
//! optional tag and optional `sha256` digest. [`Reference::parse`] applies
//! docker's normalization (`busybox` is `docker.io/library/busybox`),
//! [`Reference::familiar_string`] gives the short form docker prints
//! (`busybox:latest`), and [`Reference::matches_pattern`] implements
//! `--filter reference=PATTERN`. [`AnyReference`] also accepts image IDs.
//! Failures are [`ReferenceError`]s whose messages are docker's.
//!
//! The grammar and its regular expressions are in [`grammar`]; Go's
//! `path.Match` shell patterns are in [`pattern`].

pub mod grammar;
pub mod pattern;

use std::fmt;
use std::str::FromStr;

use grammar::DigestError;
use pattern::PatternError;

/// The longest repository path (without domain) a reference may have.
pub const REPOSITORY_NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Docker Hub's domain in normalized references.
pub const DEFAULT_DOMAIN: &str = "docker.io";

/// Docker Hub's legacy domain, normalized to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";

/// The namespace of Docker Hub's official images (`busybox` is
/// `library/busybox`).
pub const OFFICIAL_REPO_PREFIX: &str = "library/";

/// The tag given to references that have neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// Why a string is not a valid reference. The messages are the ones docker
/// prints for the same input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string does not match the reference grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// The string would be valid in lower case (un-normalized parse).
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// The repository part has upper-case letters (normalized parse).
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    UppercaseRepository(String),
    /// The empty string.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// The repository path is longer than [`REPOSITORY_NAME_TOTAL_LENGTH_MAX`].
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// [`Reference::parse_canonical`] was given a short (familiar) form.
    #[error("repository name must be canonical")]
    NameNotCanonical,
    /// A 64-hex-digit string, which docker reserves for image IDs.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexadecimalName(String),
    /// [`Reference::with_tag`] was given an invalid tag.
    #[error("invalid tag format")]
    InvalidTag,
    /// [`Reference::with_digest`] was given something that is not digest-shaped.
    #[error("invalid digest format")]
    InvalidDigest,
    /// The digest is digest-shaped but not a valid sha256 digest.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// A parsed image reference: `[domain/]path[:tag][@digest]`.
///
/// From [`Reference::parse`] the domain is always set (`docker.io` by
/// default). [`Reference::parse_raw`] and [`Reference::familiar`] may leave it
/// empty. The digest, when present, is always `sha256:` and 64 lower-case hex
/// digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses a reference as docker's CLI does (`ParseNormalizedNamed`):
    /// `busybox` becomes `docker.io/library/busybox`, `index.docker.io` becomes
    /// `docker.io`, and a first component is a registry domain only if it is
    /// `localhost`, holds a `.` or `:`, or has upper-case letters.
    ///
    /// No tag is added; see [`Reference::with_default_tag`].
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        if grammar::is_identifier(s) {
            return Err(ReferenceError::HexadecimalName(s.to_owned()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder.split_once(':').map_or(&*remainder, |(r, _)| r);
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::UppercaseRepository(remote.to_owned()));
        }
        Self::parse_raw(&format!("{domain}/{remainder}"))
    }

    /// Parses like [`Reference::parse`], then gives a name-only reference the
    /// tag `latest` and drops the tag of one that has both tag and digest
    /// (`ParseDockerRef`): the form to resolve against a registry.
    pub fn parse_docker_ref(s: &str) -> Result<Self, ReferenceError> {
        let mut reference = Self::parse(s)?;
        if reference.digest.is_some() {
            reference.tag = None;
            Ok(reference)
        } else {
            Ok(reference.with_default_tag())
        }
    }

    /// Parses a reference that must already be in its full normalized form
    /// (`docker.io/library/busybox`, not `busybox`): `ParseNamed`.
    pub fn parse_canonical(s: &str) -> Result<Self, ReferenceError> {
        let reference = Self::parse(s)?;
        if reference.to_string() != s {
            return Err(ReferenceError::NameNotCanonical);
        }
        Ok(reference)
    }

    /// Parses the grammar without normalization (`Parse`): `busybox` has no
    /// domain, and `a/b` has the domain `a`.
    pub fn parse_raw(s: &str) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::NameEmpty);
        }
        let Some(parts) = grammar::split_reference(s) else {
            let lower = s.to_lowercase();
            if lower != s && grammar::split_reference(&lower).is_some() {
                return Err(ReferenceError::NameContainsUppercase);
            }
            return Err(ReferenceError::InvalidFormat);
        };
        // The name matched as part of the whole reference, so it splits.
        let (domain, path) = grammar::split_name(parts.name).unwrap_or(("", parts.name));
        if path.len() > REPOSITORY_NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        if let Some(digest) = parts.digest {
            grammar::validate_digest(digest)?;
        }
        Ok(Self {
            domain: domain.to_owned(),
            path: path.to_owned(),
            tag: parts.tag.map(str::to_owned),
            digest: parts.digest.map(str::to_owned),
        })
    }

    /// A name-only reference from `[domain/]path`, without normalization
    /// (`WithName`).
    pub fn from_name(name: &str) -> Result<Self, ReferenceError> {
        let (domain, path) = grammar::split_name(name).ok_or(ReferenceError::InvalidFormat)?;
        if path.len() > REPOSITORY_NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        Ok(Self {
            domain: domain.to_owned(),
            path: path.to_owned(),
            tag: None,
            digest: None,
        })
    }

    /// The registry domain, with port (`docker.io`, `localhost:5000`); empty
    /// for a raw or familiar reference that names none.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The repository name: `domain/path`, or the path alone without domain.
    pub fn name(&self) -> String {
        join_name(&self.domain, &self.path)
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Whether the reference has neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// The same reference with `tag`, keeping any digest (`WithTag`).
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !grammar::is_tag(tag) {
            return Err(ReferenceError::InvalidTag);
        }
        Ok(Self {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// The same reference with `digest`, keeping any tag (`WithDigest`).
    pub fn with_digest(&self, digest: &str) -> Result<Self, ReferenceError> {
        if !grammar::is_digest_syntax(digest) {
            return Err(ReferenceError::InvalidDigest);
        }
        grammar::validate_digest(digest)?;
        Ok(Self {
            digest: Some(digest.to_owned()),
            ..self.clone()
        })
    }

    /// The reference with the tag `latest` if it has neither tag nor digest,
    /// else unchanged (`TagNameOnly`).
    pub fn with_default_tag(&self) -> Self {
        let mut reference = self.clone();
        if reference.is_name_only() {
            reference.tag = Some(DEFAULT_TAG.to_owned());
        }
        reference
    }

    /// The repository alone, without tag or digest (`TrimNamed`).
    pub fn name_only(&self) -> Self {
        Self {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// The short form shown to users: Docker Hub's domain is dropped, and so is
    /// `library/` before a single-component path (`docker.io/library/busybox`
    /// is `busybox`, `docker.io/library/a/b` stays `library/a/b`).
    pub fn familiar(&self) -> Self {
        let mut reference = self.clone();
        if reference.domain == DEFAULT_DOMAIN {
            reference.domain.clear();
            if let Some(rest) = reference.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                if !rest.contains('/') {
                    reference.path = rest.to_owned();
                }
            }
        }
        reference
    }

    /// The familiar repository name: `busybox`, `user/app`,
    /// `localhost:5000/app` (`FamiliarName`).
    pub fn familiar_name(&self) -> String {
        self.familiar().name()
    }

    /// The familiar form with tag and digest, as `docker images` prints it:
    /// `busybox:latest` (`FamiliarString`).
    pub fn familiar_string(&self) -> String {
        self.familiar().to_string()
    }

    /// Docker's `reference=PATTERN` filter (`FamiliarMatch`): whether the Go
    /// shell `pattern` matches the familiar string (`busybox:latest`) or the
    /// familiar name (`busybox`). A malformed pattern is an error, as docker
    /// reports it, even if the name matched.
    pub fn familiar_match(&self, pattern: &str) -> Result<bool, PatternError> {
        let full = pattern::shell_match(pattern, &self.familiar_string());
        if let Ok(true) = full {
            return full;
        }
        let by_name = pattern::shell_match(pattern, &self.familiar_name()).unwrap_or(false);
        full.map(|_| by_name)
    }

    /// Whether the reference passes `--filter reference=PATTERN`
    /// (`busy*`, `*/app:1.*`); a malformed pattern matches nothing.
    pub fn matches_pattern(&self, pattern: &str) -> bool {
        self.familiar_match(pattern).unwrap_or(false)
    }
}

/// The full string: `domain/path[:tag][@digest]`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.domain.is_empty() {
            write!(f, "{}/", self.domain)?;
        }
        f.write_str(&self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Parses with normalization, as [`Reference::parse`].
impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Serialized as its full string.
impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Read with [`Reference::parse`]; a full string reads back unchanged. An
/// empty string is [`ReferenceError::NameEmpty`], as in docker's JSON.
impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        if s.is_empty() {
            return Err(serde::de::Error::custom(ReferenceError::NameEmpty));
        }
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A reference to an image by name or by ID, as docker's commands that take
/// either accept it (`ParseAnyReference`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnyReference {
    /// A repository reference, normalized.
    Named(Reference),
    /// An image ID, always as `sha256:<64 hex>`: given either so or as the
    /// bare 64 hex digits.
    Id(String),
}

impl AnyReference {
    /// Reads `s` as an image ID (64 hex digits or a `sha256:` digest) if it
    /// is one, else as a reference with [`Reference::parse`].
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        if grammar::is_identifier(s) {
            return Ok(Self::Id(format!("sha256:{s}")));
        }
        if grammar::validate_digest(s).is_ok() {
            return Ok(Self::Id(s.to_owned()));
        }
        Reference::parse(s).map(Self::Named)
    }
}

/// The full reference string, or the ID's digest.
impl fmt::Display for AnyReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(reference) => reference.fmt(f),
            Self::Id(digest) => f.write_str(digest),
        }
    }
}

impl FromStr for AnyReference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn join_name(domain: &str, path: &str) -> String {
    if domain.is_empty() {
        path.to_owned()
    } else {
        format!("{domain}/{path}")
    }
}

/// Splits a user-typed name into registry domain and the rest (path, tag,
/// digest), filling in Docker Hub and its `library/` namespace.
fn split_docker_domain(name: &str) -> (&str, std::borrow::Cow<'_, str>) {
    use std::borrow::Cow;
    let Some((first, rest)) = name.split_once('/') else {
        // A single component ("ubuntu", "ubuntu:22.04") is always an official
        // image; "host:port" alone would be read as name and tag.
        return (
            DEFAULT_DOMAIN,
            Cow::Owned(format!("{OFFICIAL_REPO_PREFIX}{name}")),
        );
    };
    // The legacy domain first: it has a '.' and would be kept as is below.
    let (domain, remote) = if first == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, rest)
    } else if first == "localhost" || first.contains(['.', ':']) || first.to_lowercase() != first {
        // Upper case cannot be a namespace, so it can only be a host name.
        (first, rest)
    } else {
        (DEFAULT_DOMAIN, name)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        // "docker.io/ubuntu" is the official "docker.io/library/ubuntu".
        return (
            domain,
            Cow::Owned(format!("{OFFICIAL_REPO_PREFIX}{remote}")),
        );
    }
    (domain, Cow::Borrowed(remote))
}
