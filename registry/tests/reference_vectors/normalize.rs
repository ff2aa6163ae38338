//! Vectors of distribution/reference's `normalize_test.go`: docker's
//! normalization (`ParseNormalizedNamed`, `ParseDockerRef`,
//! `ParseAnyReference`), familiar names and `FamiliarMatch`.

use strata_registry::reference::pattern::PatternError;
use strata_registry::{AnyReference, Reference, ReferenceError as E};

const HEX: &str = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

/// `TestValidateReferenceName`, the names [`Reference::parse`] accepts.
const VALID_REFERENCE_NAMES: &[&str] = &[
    "docker/docker",
    "library/debian",
    "debian",
    "localhost/library/debian",
    "localhost/debian",
    "LOCALDOMAIN/library/debian",
    "LOCALDOMAIN/debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    // With a domain, 64 hex digits are a name, not an image ID.
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "Docker/docker",
    "DOCKER/docker",
];

/// `TestValidateReferenceName`, the names refused, with the error (Go's test
/// only asks for some error; these are the ones docker gives).
fn invalid_reference_names() -> Vec<(&'static str, E)> {
    let upper = || E::UppercaseRepository("docker/Docker".into());
    vec![
        ("https://github.com/docker/docker", E::InvalidFormat),
        ("docker/Docker", upper()),
        ("-docker", E::InvalidFormat),
        ("-docker/docker", E::InvalidFormat),
        ("-docker.io/docker/docker", E::InvalidFormat),
        ("docker///docker", E::InvalidFormat),
        ("docker.io/docker/Docker", upper()),
        ("docker.io/docker///docker", E::InvalidFormat),
        ("[fc00::1]", E::InvalidFormat),
        ("[fc00::1]:5000", E::InvalidFormat),
        ("fc00::1:5000/debian", E::InvalidFormat),
        ("[fe80::1%eth0]:5000/debian", E::InvalidFormat),
        ("[2001:db8:3:4::192.0.2.33]:5000/debian", E::InvalidFormat),
        (HEX, E::HexadecimalName(HEX.into())),
    ]
}

/// `TestValidateRemoteName`, the names accepted.
const VALID_REMOTE_NAMES: &[&str] = &[
    "docker/docker",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
];

/// `TestValidateRemoteName`, the names refused, with docker's error.
#[rustfmt::skip]
fn invalid_remote_names() -> Vec<(String, E)> {
    vec![
        ("docker/Docker".into(), E::UppercaseRepository("docker/Docker".into())),
        ("docker///docker".into(), E::InvalidFormat),
        (HEX.into(), E::HexadecimalName(HEX.into())),
        ("-docker/docker".into(), E::InvalidFormat),
        ("docker-/docker".into(), E::InvalidFormat),
        ("-docker-/docker".into(), E::InvalidFormat),
        ("____/____".into(), E::InvalidFormat),
        ("_docker/_docker".into(), E::InvalidFormat),
        ("dock..er/docker".into(), E::InvalidFormat),
        ("dock_.er/docker".into(), E::InvalidFormat),
        ("dock-.er/docker".into(), E::InvalidFormat),
        ("docker/".into(), E::InvalidFormat),
        // The namespace is too long.
        ("this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker".into(), E::NameTooLong),
    ]
}

#[test]
fn validate_reference_and_remote_names() {
    for name in VALID_REFERENCE_NAMES.iter().chain(VALID_REMOTE_NAMES) {
        assert!(
            Reference::parse(name).is_ok(),
            "{name:?}: {:?}",
            Reference::parse(name)
        );
    }
    let invalid = invalid_reference_names()
        .into_iter()
        .map(|(n, e)| (n.to_owned(), e));
    for (name, want) in invalid.chain(invalid_remote_names()) {
        assert_eq!(Reference::parse(&name), Err(want), "{name:?}");
    }
}

/// `TestParseRepositoryInfo`: [remote name (path), familiar name, full name,
/// ambiguous name or `""`, domain]. The familiar, full and ambiguous names
/// must all parse to the same repository.
#[rustfmt::skip]
const REPOSITORY_INFO: &[[&str; 5]] = &[
    ["fooo", "localhost/fooo", "localhost/fooo", "localhost/fooo", "localhost"],
    ["fooo/bar", "localhost/fooo/bar", "localhost/fooo/bar", "localhost/fooo/bar", "localhost"],
    ["fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN"],
    ["fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN"],
    ["fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"],
    ["library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"],
    ["nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "", "docker.io"],
    ["other/library", "other/library", "docker.io/other/library", "", "docker.io"],
    ["private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", "", "127.0.0.1:8000"],
    ["privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", "", "127.0.0.1:8000"],
    ["private/moonbase", "example.com/private/moonbase", "example.com/private/moonbase", "", "example.com"],
    ["privatebase", "example.com/privatebase", "example.com/privatebase", "", "example.com"],
    ["private/moonbase", "example.com:8000/private/moonbase", "example.com:8000/private/moonbase", "", "example.com:8000"],
    ["privatebasee", "example.com:8000/privatebasee", "example.com:8000/privatebasee", "", "example.com:8000"],
    ["library/ubuntu-12.04-base", "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "index.docker.io/library/ubuntu-12.04-base", "docker.io"],
    ["library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"],
    ["library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", "", "docker.io"],
    ["store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", "", "docker.io"],
    ["bar", "Foo/bar", "Foo/bar", "", "Foo"],
    ["bar", "FOO/bar", "FOO/bar", "", "FOO"],
];

#[test]
fn parse_repository_info() {
    for &[remote, familiar, full, ambiguous, domain] in REPOSITORY_INFO {
        for input in [familiar, full, ambiguous]
            .into_iter()
            .filter(|s| !s.is_empty())
        {
            let reference = Reference::parse(input).unwrap();
            assert_eq!(reference.familiar_name(), familiar, "{input:?}");
            assert_eq!(reference.to_string(), full, "{input:?}");
            assert_eq!(reference.domain(), domain, "{input:?}");
            assert_eq!(reference.path(), remote, "{input:?}");
        }
    }
}

/// `TestParseReferenceWithTagAndDigest`.
#[test]
fn parse_reference_with_tag_and_digest() {
    let short =
        "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
    let reference = Reference::parse(short).unwrap();
    assert_eq!(reference.to_string(), format!("docker.io/library/{short}"));
    assert_eq!(reference.tag(), Some("latest"));
    assert!(reference.digest().is_some());
    assert_eq!(reference.familiar_string(), short);
}

/// `TestInvalidReferenceComponents`: a bad name, then a bad tag and a bad
/// digest on a good name.
#[test]
fn invalid_reference_components() {
    assert_eq!(Reference::parse("-foo"), Err(E::InvalidFormat));
    let reference = Reference::parse("busybox").unwrap();
    assert_eq!(reference.with_tag("-foo"), Err(E::InvalidTag));
    assert_eq!(reference.with_digest("foo"), Err(E::InvalidDigest));
}

/// `TestParseAnyReference`: (input, string form, whether it is an image ID).
/// A named result must equal the raw parse of its string form.
#[rustfmt::skip]
const PARSE_ANY: &[(&str, &str, bool)] = &[
    ("redis", "docker.io/library/redis", false),
    ("redis:latest", "docker.io/library/redis:latest", false),
    ("docker.io/library/redis:latest", "docker.io/library/redis:latest", false),
    ("redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", "docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", false),
    ("docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", "docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", false),
    ("dmcgowan/myapp", "docker.io/dmcgowan/myapp", false),
    ("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest", false),
    ("docker.io/mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest", false),
    ("dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", "docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", false),
    ("docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", "docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", false),
    ("dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", true),
    ("sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", true),
    ("dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", false),
    ("dbcc1", "docker.io/library/dbcc1", false),
];

#[test]
fn parse_any_reference() {
    for &(input, equivalent, is_id) in PARSE_ANY {
        let any = AnyReference::parse(input).unwrap();
        assert_eq!(any.to_string(), equivalent, "{input:?}");
        let expected = if is_id {
            AnyReference::Id(equivalent.to_owned())
        } else {
            AnyReference::Named(Reference::parse_raw(equivalent).unwrap())
        };
        assert_eq!(any, expected, "{input:?}");
    }
}

/// `TestNormalizedSplitHostname`: (input, domain, path) after normalization.
const NORMALIZED_SPLIT_HOSTNAME: &[(&str, &str, &str)] = &[
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "docker.io", "test_com/foo"),
    ("docker/migrator", "docker.io", "docker/migrator"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("foo", "docker.io", "library/foo"),
    ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ("docker.io/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
];

#[test]
fn normalized_split_hostname() {
    for &(input, domain, path) in NORMALIZED_SPLIT_HOSTNAME {
        let reference = Reference::parse(input).unwrap();
        assert_eq!(
            (reference.domain(), reference.path()),
            (domain, path),
            "{input:?}"
        );
    }
}

/// `TestMatchError`: a malformed pattern is an error, not a mismatch.
#[test]
fn match_error() {
    let AnyReference::Named(reference) = AnyReference::parse("foo").unwrap() else {
        panic!("foo is a name");
    };
    assert_eq!(reference.familiar_match("[-x]"), Err(PatternError));
    assert!(!reference.matches_pattern("[-x]"));
}

/// `TestMatch`: (reference, pattern, matches).
const MATCH: &[(&str, &str, bool)] = &[
    ("foo", "foo/**/ba[rz]", false),
    ("foo/any/bat", "foo/**/ba[rz]", false),
    ("foo/a/bar", "foo/**/ba[rz]", true),
    ("foo/b/baz", "foo/**/ba[rz]", true),
    ("foo/c/baz:tag", "foo/**/ba[rz]", true),
    ("foo/c/baz:tag", "foo/*/baz:tag", true),
    ("foo/c/baz:tag", "foo/c/baz:tag", true),
    ("example.com/foo/c/baz:tag", "*/foo/c/baz", true),
    ("example.com/foo/c/baz:tag", "example.com/foo/c/baz", true),
];

#[test]
fn familiar_match() {
    for &(input, pattern, want) in MATCH {
        let AnyReference::Named(reference) = AnyReference::parse(input).unwrap() else {
            panic!("{input:?} is a name");
        };
        assert_eq!(
            reference.familiar_match(pattern),
            Ok(want),
            "{input:?} {pattern:?}"
        );
        assert_eq!(reference.matches_pattern(pattern), want);
    }
}

/// `TestParseDockerRef`: (input, the reference to pull).
#[rustfmt::skip]
const PARSE_DOCKER_REF: &[(&str, &str)] = &[
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:latest", "docker.io/library/busybox:latest"),
    ("busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582", "docker.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox:latest", "docker.io/library/busybox:latest"),
    ("library/busybox:latest", "docker.io/library/busybox:latest"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest"),
    ("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
    ("gcr.io/library/busybox:latest@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582", "gcr.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"),
];

#[test]
fn parse_docker_ref() {
    for &(input, expected) in PARSE_DOCKER_REF {
        let reference = Reference::parse_docker_ref(input).unwrap();
        assert_eq!(reference.to_string(), expected, "{input:?}");
        assert!(Reference::parse_raw(expected).is_ok());
    }
}

/// Vectors ported from `normalize_test.go`.
pub const COUNT: usize = 27 + 14 + 8 + 13 + 20 + 1 + 3 + 14 + 11 + 1 + 9 + 11;

#[test]
fn table_sizes() {
    // The single-case tests (tag and digest, components: 3, match error).
    let single = 1 + 3 + 1;
    let total = VALID_REFERENCE_NAMES.len()
        + invalid_reference_names().len()
        + VALID_REMOTE_NAMES.len()
        + invalid_remote_names().len()
        + REPOSITORY_INFO.len()
        + PARSE_ANY.len()
        + NORMALIZED_SPLIT_HOSTNAME.len()
        + MATCH.len()
        + PARSE_DOCKER_REF.len()
        + single;
    assert_eq!(total, COUNT);
}
