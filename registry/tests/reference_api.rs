//! The reference API on the cases strata's commands meet: `FROM busybox`,
//! local registries, pinned digests and `images --filter reference=…`.

use strata_registry::{AnyReference, Reference, ReferenceError};

const DIGEST: &str = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";

#[test]
fn official_image_normalizes_and_prints_familiar() {
    let reference: Reference = "busybox".parse().unwrap();
    assert_eq!(reference.domain(), "docker.io");
    assert_eq!(reference.path(), "library/busybox");
    assert_eq!(reference.name(), "docker.io/library/busybox");
    assert_eq!(reference.tag(), None);
    assert!(reference.is_name_only());
    let tagged = reference.with_default_tag();
    assert_eq!(tagged.to_string(), "docker.io/library/busybox:latest");
    assert_eq!(tagged.familiar_string(), "busybox:latest");
    assert_eq!(tagged.familiar_name(), "busybox");
    assert_eq!(tagged.name_only(), reference);
}

#[test]
fn local_registry_keeps_its_domain() {
    let reference = Reference::parse("localhost:5000/a/b:tag").unwrap();
    assert_eq!(reference.domain(), "localhost:5000");
    assert_eq!(reference.path(), "a/b");
    assert_eq!(reference.tag(), Some("tag"));
    assert_eq!(reference.familiar_string(), "localhost:5000/a/b:tag");
    assert_eq!(reference.with_default_tag(), reference);
}

#[test]
fn digests_pin_and_default_tag_is_not_added() {
    let pinned = Reference::parse(&format!("busybox@{DIGEST}")).unwrap();
    assert_eq!(pinned.digest(), Some(DIGEST));
    assert_eq!(pinned.with_default_tag(), pinned);
    assert_eq!(pinned.familiar_string(), format!("busybox@{DIGEST}"));

    let both = Reference::parse(&format!("user/app:1.0@{DIGEST}")).unwrap();
    assert_eq!(both.tag(), Some("1.0"));
    assert_eq!(both.to_string(), format!("docker.io/user/app:1.0@{DIGEST}"));
    let pull = Reference::parse_docker_ref(&format!("user/app:1.0@{DIGEST}")).unwrap();
    assert_eq!(pull.to_string(), format!("docker.io/user/app@{DIGEST}"));
}

#[test]
fn docker_error_messages() {
    let cases = [
        (
            "Busybox",
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        ("busybox:", "invalid reference format"),
        ("busybox@sha256:abc", "invalid reference format"),
        (
            "busybox@sha256:0123456789abcdef0123456789abcdef",
            "invalid checksum digest length",
        ),
    ];
    for (input, message) in cases {
        assert_eq!(
            Reference::parse(input).unwrap_err().to_string(),
            message,
            "{input:?}"
        );
    }
    let hex = &DIGEST["sha256:".len()..];
    assert_eq!(
        Reference::parse(hex),
        Err(ReferenceError::HexadecimalName(hex.to_owned()))
    );
    assert_eq!(
        AnyReference::parse(hex),
        Ok(AnyReference::Id(DIGEST.to_owned()))
    );
    let long = format!("docker.io/{}", "a".repeat(256));
    let message = Reference::parse(&long).unwrap_err().to_string();
    assert_eq!(
        message,
        "repository name must not be more than 255 characters"
    );
    let reference = Reference::parse("busybox").unwrap();
    assert_eq!(
        reference.with_tag("-x").unwrap_err().to_string(),
        "invalid tag format"
    );
}

#[test]
fn reference_filter_patterns() {
    let busybox = Reference::parse("busybox:latest").unwrap();
    assert!(busybox.matches_pattern("busy*"));
    assert!(busybox.matches_pattern("busybox"));
    assert!(busybox.matches_pattern("busybox:latest"));
    assert!(busybox.matches_pattern("busybox:l*"));
    assert!(!busybox.matches_pattern("busybox:1.*"));
    assert!(!busybox.matches_pattern("docker.io/library/busybox"));
    assert!(!busybox.matches_pattern("alpine*"));

    let app = Reference::parse("localhost:5000/team/app:1.2").unwrap();
    assert!(app.matches_pattern("localhost:5000/*/app"));
    assert!(app.matches_pattern("*/team/app:1.?"));
    assert!(!app.matches_pattern("app*"));
    assert!(!app.matches_pattern("[")); // malformed: matches nothing
}

#[test]
fn serde_round_trip_uses_the_full_string() {
    let reference = Reference::parse("busybox:1.36").unwrap();
    let json = serde_json::to_string(&reference).unwrap();
    assert_eq!(json, "\"docker.io/library/busybox:1.36\"");
    assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), reference);
}
