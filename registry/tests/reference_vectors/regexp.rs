//! Vectors of distribution/reference's `regexp_test.go`, run against the
//! grammar functions of `strata_registry::reference::grammar`.

use strata_registry::reference::grammar::{
    is_domain, is_identifier, split_name, split_reference, ReferenceParts,
};

/// `TestDomainRegexp`: (input, matches).
const DOMAIN: &[(&str, bool)] = &[
    ("test.com", true),
    ("test.com:10304", true),
    ("test.com:http", false),
    ("localhost", true),
    ("localhost:8080", true),
    ("a", true),
    ("a.b", true),
    ("ab.cd.com", true),
    ("a-b.com", true),
    ("-ab.com", false),
    ("ab-.com", false),
    ("ab.c-om", true),
    ("ab.-com", false),
    ("ab.com-", false),
    ("0101.com", true),
    ("001a.com", true),
    ("b.gbc.io:443", true),
    ("b.gbc.io", true),
    ("xn--n3h.com", true),
    ("Asdf.com", true),
    ("192.168.1.1:75050", true),
    ("192.168.1.1:750050", true),
    ("[fd00:1:2::3]:75050", true),
    ("[fd00:1:2::3]75050", false),
    ("[fd00:1:2::3]::75050", false),
    ("[fd00:1:2::3%eth0]:75050", false),
    ("[fd00123123123]:75050", true),
    ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050", true),
    ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505", true),
    ("fd00:1:2::3:75050", false),
];

/// `TestFullNameRegexp`: (input, matches, expected (domain, path) when given).
#[allow(clippy::type_complexity)]
const FULL_NAME: &[(&str, bool, Option<(&str, &str)>)] = &[
    ("", false, None),
    ("short", true, Some(("", "short"))),
    ("simple/name", true, Some(("simple", "name"))),
    ("library/ubuntu", true, Some(("library", "ubuntu"))),
    (
        "docker/stevvooe/app",
        true,
        Some(("docker", "stevvooe/app")),
    ),
    (
        "aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb",
        true,
        Some(("aa", "aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb")),
    ),
    ("aa/aa/bb/bb/bb", true, Some(("aa", "aa/bb/bb/bb"))),
    ("a/a/a/a", true, Some(("a", "a/a/a"))),
    ("a/a/a/a/", false, None),
    ("a//a/a", false, None),
    ("a", true, Some(("", "a"))),
    ("a/aa", true, Some(("a", "aa"))),
    ("a/aa/a", true, Some(("a", "aa/a"))),
    ("foo.com", true, Some(("", "foo.com"))),
    ("foo.com/", false, None),
    ("foo.com:8080/bar", true, Some(("foo.com:8080", "bar"))),
    ("foo.com:http/bar", false, None),
    ("foo.com/bar", true, Some(("foo.com", "bar"))),
    ("foo.com/bar/baz", true, Some(("foo.com", "bar/baz"))),
    ("localhost:8080/bar", true, Some(("localhost:8080", "bar"))),
    (
        "sub-dom1.foo.com/bar/baz/quux",
        true,
        Some(("sub-dom1.foo.com", "bar/baz/quux")),
    ),
    (
        "blog.foo.com/bar/baz",
        true,
        Some(("blog.foo.com", "bar/baz")),
    ),
    ("a^a", false, None),
    ("aa/asdf$$^/aa", false, None),
    ("asdf$$^/aa", false, None),
    ("aa-a/a", true, Some(("aa-a", "a"))),
    // strings.Repeat("a/", 128) + "a": in full_name_long_repeated_path
    ("a-/a/a/a", false, None),
    ("foo.com/a-/a/a", false, None),
    ("-foo/bar", false, None),
    ("foo/bar-", false, None),
    ("foo-/bar", false, None),
    ("foo/-bar", false, None),
    ("_foo/bar", false, None),
    ("foo_bar", true, Some(("", "foo_bar"))),
    ("foo_bar.com", true, Some(("", "foo_bar.com"))),
    ("foo_bar.com:8080", false, None),
    ("foo_bar.com:8080/app", false, None),
    ("foo.com/foo_bar", true, Some(("foo.com", "foo_bar"))),
    ("____/____", false, None),
    ("_docker/_docker", false, None),
    ("docker_/docker_", false, None),
    (
        "b.gcr.io/test.example.com/my-app",
        true,
        Some(("b.gcr.io", "test.example.com/my-app")),
    ),
    (
        "xn--n3h.com/myimage",
        true,
        Some(("xn--n3h.com", "myimage")),
    ),
    (
        "xn--7o8h.com/myimage",
        true,
        Some(("xn--7o8h.com", "myimage")),
    ),
    (
        "example.com/xn--7o8h.com/myimage",
        true,
        Some(("example.com", "xn--7o8h.com/myimage")),
    ),
    (
        "example.com/some_separator__underscore/myimage",
        true,
        Some(("example.com", "some_separator__underscore/myimage")),
    ),
    ("example.com/__underscore/myimage", false, None),
    ("example.com/..dots/myimage", false, None),
    ("example.com/.dots/myimage", false, None),
    ("example.com/nodouble..dots/myimage", false, None),
    ("example.com/nodouble..dots/myimage", false, None),
    ("docker./docker", false, None),
    (".docker/docker", false, None),
    ("docker-/docker", false, None),
    ("-docker/docker", false, None),
    ("do..cker/docker", false, None),
    ("do__cker:8080/docker", false, None),
    ("do__cker/docker", true, Some(("", "do__cker/docker"))),
    (
        "b.gcr.io/test.example.com/my-app",
        true,
        Some(("b.gcr.io", "test.example.com/my-app")),
    ),
    (
        "registry.io/foo/project--id.module--name.ver---sion--name",
        true,
        Some((
            "registry.io",
            "foo/project--id.module--name.ver---sion--name",
        )),
    ),
    ("Asdf.com/foo/bar", true, None),
    ("Foo/FarB", false, None),
];

/// `TestReferenceRegexp`: (input, matches, expected (name, tag, digest), `""` for absent).
#[allow(clippy::type_complexity)]
const REFERENCE: &[(&str, bool, Option<(&str, &str, &str)>)] = &[
    ("registry.com:8080/myapp:tag", true, Some(("registry.com:8080/myapp", "tag", ""))),
    ("registry.com:8080/myapp@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", true, Some(("registry.com:8080/myapp", "", "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912"))),
    ("registry.com:8080/myapp:tag2@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", true, Some(("registry.com:8080/myapp", "tag2", "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912"))),
    ("registry.com:8080/myapp@sha256:badbadbadbad", false, None),
    ("registry.com:8080/myapp:invalid~tag", false, None),
    ("bad_hostname.com:8080/myapp:tag", false, None),
    ("localhost:8080@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", true, Some(("localhost", "8080", "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912"))),
    ("localhost:8080/name@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", true, Some(("localhost:8080/name", "", "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912"))),
    ("localhost:http/name@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", false, None),
    ("localhost@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", true, Some(("localhost", "", "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912"))),
    ("registry.com:8080/myapp@bad", false, None),
    ("registry.com:8080/myapp@2bad", false, None),
];

/// `TestIdentifierRegexp`: (input, matches).
const IDENTIFIER: &[(&str, bool)] = &[
    (
        "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821",
        true,
    ),
    (
        "7EC43B381E5AEFE6E04EFB0B3F0693FF2A4A50652D64AEC573905F2DB5889A1C",
        false,
    ),
    (
        "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf",
        false,
    ),
    (
        "sha256:da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821",
        false,
    ),
    (
        "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf98218482",
        false,
    ),
];

/// Vectors ported from this file, for the report and as a guard against a
/// table being emptied by mistake.
pub const COUNT: usize = 30 + 63 + 12 + 5;

#[test]
fn table_sizes() {
    // The one FULL_NAME vector built at run time is counted here.
    let total = DOMAIN.len() + FULL_NAME.len() + 1 + REFERENCE.len() + IDENTIFIER.len();
    assert_eq!(total, COUNT);
}

#[test]
fn domain_regexp() {
    for &(input, want) in DOMAIN {
        assert_eq!(is_domain(input), want, "{input:?}");
    }
}

fn check_full_name(input: &str, want: bool, subs: Option<(&str, &str)>) {
    let got = split_name(input);
    assert_eq!(got.is_some(), want, "{input:?}: {got:?}");
    if let (Some(got), Some(subs)) = (got, subs) {
        assert_eq!(got, subs, "{input:?}");
    }
}

#[test]
fn full_name_regexp() {
    for &(input, want, subs) in FULL_NAME {
        check_full_name(input, want, subs);
    }
}

#[test]
fn full_name_long_repeated_path() {
    let input = format!("{}a", "a/".repeat(128));
    let path = format!("{}a", "a/".repeat(127));
    check_full_name(&input, true, Some(("a", &path)));
}

#[test]
fn reference_regexp() {
    for &(input, want, subs) in REFERENCE {
        let got = split_reference(input);
        assert_eq!(got.is_some(), want, "{input:?}: {got:?}");
        if let (Some(got), Some((name, tag, digest))) = (got, subs) {
            let expected = ReferenceParts {
                name,
                tag: Some(tag).filter(|t| !t.is_empty()),
                digest: Some(digest).filter(|d| !d.is_empty()),
            };
            assert_eq!(got, expected, "{input:?}");
        }
    }
}

#[test]
fn identifier_regexp() {
    for &(input, want) in IDENTIFIER {
        assert_eq!(is_identifier(input), want, "{input:?}");
    }
}
