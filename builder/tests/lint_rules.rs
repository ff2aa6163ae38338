//! Build checks: rule names, messages and lines from BuildKit's dockerfile_check_test.go
//! (the "unmarshal" results, i.e. the lint request that processes every stage).

use strata_builder::dockerfile::scope::FrontendOptions;
use strata_builder::graph::{check, ImageConfig, Platform};

fn opts() -> FrontendOptions {
    let mut o = FrontendOptions {
        build_platform: Platform::new("linux", "amd64", ""),
        ..FrontendOptions::default()
    };
    for img in ["alpine", "busybox"] {
        o.base_images.insert(
            img.into(),
            ImageConfig {
                os: "linux".into(),
                architecture: "amd64".into(),
                env: vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                ],
                ..ImageConfig::default()
            },
        );
    }
    o
}

/// `(rule, message, line)` of every warning, sorted by line then message as BuildKit's
/// test does.
fn lint_with(src: &str, o: &FrontendOptions) -> Vec<(String, String, usize)> {
    let r = check(src, "Dockerfile", o);
    let mut w: Vec<(String, String, usize)> = r
        .warnings
        .iter()
        .map(|w| {
            (
                w.rule.to_string(),
                w.message.clone(),
                w.location.map_or(0, |l| l.start),
            )
        })
        .collect();
    w.sort_by(|a, b| (a.2, &a.1).cmp(&(b.2, &b.1)));
    w
}

fn lint(src: &str) -> Vec<(String, String, usize)> {
    lint_with(src, &opts())
}

fn w(rule: &str, msg: &str, line: usize) -> (String, String, usize) {
    (rule.to_string(), msg.to_string(), line)
}

#[test]
fn rule_check_option() {
    let src = "#check=skip=all\nFROM scratch as base\ncopy Dockerfile .\n";
    assert!(lint(src).is_empty());
    let r = check(
        "#check=skip=all;error=true\nFROM scratch as base\ncopy Dockerfile .\n",
        "Dockerfile",
        &opts(),
    );
    assert!(r.error.is_none() && r.warnings.is_empty());
    assert!(lint("#check=skip=ConsistentInstructionCasing,FromAsCasing\nFROM scratch as base\ncopy Dockerfile .\n").is_empty());
    assert_eq!(
        lint("#check=skip=ConsistentInstructionCasing\nFROM scratch as base\ncopy Dockerfile .\n"),
        [w(
            "FromAsCasing",
            "'as' and 'FROM' keywords' casing do not match",
            2
        )]
    );
    let src = "#check=skip=ConsistentInstructionCasing;error=true\nFROM scratch as base\ncopy Dockerfile .\n";
    let r = check(src, "Dockerfile", &opts());
    let e = r.error.unwrap();
    assert_eq!(e.message, "lint violation found for rules: FromAsCasing");
    assert_eq!(e.line(), Some(2));
    assert_eq!(r.warnings.len(), 1);
    // The BUILDKIT_DOCKERFILE_CHECK build arg replaces the directive.
    let mut o = opts();
    o.build_args.insert(
        "BUILDKIT_DOCKERFILE_CHECK".into(),
        "skip=ConsistentInstructionCasing;error=true".into(),
    );
    let r = check(
        "#check=skip=all\nFROM scratch as base\ncopy Dockerfile .\n",
        "Dockerfile",
        &o,
    );
    assert_eq!(
        r.error.unwrap().message,
        "lint violation found for rules: FromAsCasing"
    );
    o.build_args
        .insert("BUILDKIT_DOCKERFILE_CHECK".into(), "skip=all".into());
    let r = check(
        "#check=error=true\nFROM scratch as base\ncopy Dockerfile .\n",
        "Dockerfile",
        &o,
    );
    assert!(r.error.is_none() && r.warnings.is_empty() && r.unused_build_args.is_none());
}

#[test]
fn stage_name_and_from_as_casing() {
    let src = "\n# warning: stage name should be lowercase\n#\nFROM scratch AS BadStageName\n\n# warning: 'as' should match 'FROM' cmd casing.\n#\nFROM scratch as base2\n\nFROM scratch AS base3\n";
    assert_eq!(
        lint(src),
        [
            w(
                "StageNameCasing",
                "Stage name 'BadStageName' should be lowercase",
                4
            ),
            w(
                "FromAsCasing",
                "'as' and 'FROM' keywords' casing do not match",
                8
            ),
        ]
    );
    let src = "\n# warning: 'AS' should match 'from' cmd casing.\n#\nfrom scratch AS base\n\nfrom scratch as base2\n";
    assert_eq!(
        lint(src),
        [w(
            "FromAsCasing",
            "'AS' and 'from' keywords' casing do not match",
            4
        )]
    );
}

#[test]
fn no_empty_continuation() {
    let src = "\nFROM scratch\n# warning: empty continuation line\nCOPY Dockerfile \\\n\n.\nCOPY Dockerfile \\\n.\n";
    assert_eq!(
        lint(src),
        [w("NoEmptyContinuation", "Empty continuation line", 6)]
    );
}

#[test]
fn consistent_instruction_casing() {
    let cases = [
        ("\n# warning\n#\nFrom scratch as base\nFROM scratch AS base2\n", "Command 'From' should match the case of the command majority (uppercase)", 4),
        ("\nFROM scratch\n# warning\ncopy Dockerfile /foo\nCOPY Dockerfile /bar\n", "Command 'copy' should match the case of the command majority (uppercase)", 4),
        ("\n# warning\n#\nfrOM scratch as base\nfrom scratch as base2\n", "Command 'frOM' should match the case of the command majority (lowercase)", 4),
        ("\nfrom scratch\n# warning\nCOPY Dockerfile /foo\ncopy Dockerfile /bar\n", "Command 'COPY' should match the case of the command majority (lowercase)", 4),
        ("\n# warning\n#\nfrom scratch\nCOPY Dockerfile /foo\nCOPY Dockerfile /bar\nCOPY Dockerfile /baz\n", "Command 'from' should match the case of the command majority (uppercase)", 4),
        ("\n# warning\n#\nFROM scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\ncopy Dockerfile /baz\n", "Command 'FROM' should match the case of the command majority (lowercase)", 4),
    ];
    for (src, msg, line) in cases {
        assert_eq!(
            lint(src),
            [w("ConsistentInstructionCasing", msg, line)],
            "{src}"
        );
    }
    assert!(lint("\nfrom scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\n").is_empty());
    assert!(lint("\nFROM scratch\nCOPY Dockerfile /foo\nCOPY Dockerfile /bar\n").is_empty());
    assert!(lint("\nFROM alpine\nRUN <<'EOT'\nenv\nEOT\n").is_empty());
}

#[test]
fn duplicate_and_reserved_stage_names() {
    assert_eq!(
        lint("\nFROM scratch AS b\nFROM scratch AS b\n"),
        [w(
            "DuplicateStageName",
            "Duplicate stage name \"b\", stage names should be unique",
            3
        )]
    );
    assert!(lint("\nFROM scratch AS b1\nFROM scratch AS b2\n").is_empty());
    assert_eq!(
        lint("\nFROM scratch AS scratch\nFROM scratch AS context\n"),
        [
            w(
                "ReservedStageName",
                "Stage name should not use the same name as reserved stage \"scratch\"",
                2
            ),
            w(
                "ReservedStageName",
                "Stage name should not use the same name as reserved stage \"context\"",
                3
            ),
        ]
    );
    assert!(lint("\nFROM scratch\nFROM scratch AS a\n").is_empty());
}

#[test]
fn json_args_recommended() {
    assert_eq!(
        lint("\nFROM scratch\nCMD mycommand\n"),
        [w("JSONArgsRecommended", "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals", 3)]
    );
    assert_eq!(
        lint("\nFROM scratch\nENTRYPOINT mycommand\n"),
        [w("JSONArgsRecommended", "JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals", 3)]
    );
    assert!(lint("\nFROM scratch\nSHELL [\"/usr/bin/customshell\"]\nCMD mycommand\n").is_empty());
    assert!(lint("\nFROM scratch AS base\nSHELL [\"/usr/bin/customshell\"]\n\nFROM base\nENTRYPOINT mycommand\n").is_empty());
    assert!(lint("\nFROM scratch\n# check=skip=JSONArgsRecommended\nCMD mycommand\n").is_empty());
}

#[test]
fn maintainer_deprecated() {
    assert_eq!(
        lint("\nFROM scratch\nMAINTAINER me@example.org\n"),
        [w(
            "MaintainerDeprecated",
            "Maintainer instruction is deprecated in favor of using label",
            3
        )]
    );
    assert!(
        lint("\nFROM scratch\nLABEL org.opencontainers.image.authors=\"me@example.org\"\n")
            .is_empty()
    );
    assert!(
        lint("\nFROM scratch\n# check=skip=MaintainerDeprecated\nMAINTAINER me@example.org\n")
            .is_empty()
    );
}

#[test]
fn warnings_before_error() {
    let src = "\nFROM scratch AS BadStageName\nMAINTAINER me@example.org\nBADCMD\n";
    let r = check(src, "Dockerfile", &opts());
    let got: Vec<(&str, usize)> = r
        .warnings
        .iter()
        .map(|w| (w.rule, w.location.unwrap().start))
        .collect();
    assert_eq!(got, [("StageNameCasing", 2), ("MaintainerDeprecated", 3)]);
    let e = r.error.clone().unwrap();
    assert_eq!(e.message, "unknown instruction: BADCMD");
    assert_eq!(e.line(), Some(4));
    assert!(r.failed());
    let text = r.render(src);
    assert!(text.starts_with("WARNING: StageNameCasing - https://docs.docker.com/go/dockerfile/rule/stage-name-casing/\nDockerfile:2: Stage name 'BadStageName' should be lowercase\n 2 | FROM scratch AS BadStageName\n"), "{text}");
    assert!(
        text.ends_with("Dockerfile:4: unknown instruction: BADCMD\n 4 | BADCMD\n   | ^\n"),
        "{text}"
    );
}

#[test]
fn undeclared_arg_in_from() {
    for src in [
        "\nARG base=scratch\nFROM $base\nCOPY Dockerfile .\n",
        "\nARG BUILDPLATFORM=linux/amd64\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n",
        "\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n",
        "\nARG DEBUG\nFROM scratch${DEBUG}\nCOPY Dockerfile .\n",
        "\nARG DEBUG\nFROM scra${DEBUG:-tch}\nCOPY Dockerfile .\n",
        "\nARG DEBUG=\"\"\nFROM scratch${DEBUG-@bogus}\nCOPY Dockerfile .\n",
    ] {
        assert!(lint(src).is_empty(), "{src}: {:?}", lint(src));
    }
    let src = "\nFROM --platform=$BULIDPLATFORM scratch\nCOPY Dockerfile .\n";
    let r = check(src, "Dockerfile", &opts());
    assert_eq!(
        r.warnings[0].message,
        "FROM argument 'BULIDPLATFORM' is not declared (did you mean BUILDPLATFORM?)"
    );
    assert_eq!(
        r.error.unwrap().message,
        "empty platform value from expression $BULIDPLATFORM (did you mean BUILDPLATFORM?)"
    );
    assert_eq!(
        lint("\nARG MY_OS=linux\nARG MY_ARCH=amd64\nFROM --platform=linux/${MYARCH} busybox\nCOPY Dockerfile .\n"),
        [w("UndefinedArgInFrom", "FROM argument 'MYARCH' is not declared (did you mean MY_ARCH?)", 4)]
    );
    assert_eq!(
        lint("\nARG tag=latest\nFROM busybox:${tag}${version} AS b\nCOPY Dockerfile .\n"),
        [w(
            "UndefinedArgInFrom",
            "FROM argument 'version' is not declared",
            3
        )]
    );
}

#[test]
fn workdir_relative_path() {
    assert_eq!(
        lint("\nFROM scratch\nWORKDIR app/\n"),
        [w(
            "WorkdirRelativePath",
            "Relative workdir \"app/\" can have unexpected results if the base image changes",
            3
        )]
    );
    assert!(lint("\nFROM scratch AS a\nWORKDIR /app\n\nFROM a AS b\nWORKDIR subdir/\n").is_empty());
    assert!(lint("\nFROM scratch\n# check=skip=WorkdirRelativePath\nWORKDIR app/\n").is_empty());
}

#[test]
fn undefined_vars() {
    assert!(lint("\nFROM scratch\nARG foo\nCOPY Dockerfile${foo} .\n").is_empty());
    assert!(
        lint("\nFROM alpine AS base\nARG foo=Dockerfile\n\nFROM base\nCOPY $foo .\n").is_empty()
    );
    assert!(lint("\nFROM alpine\nRUN echo $PATH\n").is_empty());
    assert_eq!(
        lint("\nFROM alpine\nCOPY $foo .\nARG foo=bar\nRUN echo $foo\n"),
        [w("UndefinedVar", "Usage of undefined variable '$foo'", 3)]
    );
    assert_eq!(
        lint("\nFROM alpine\nARG DIR_BINARIES=binaries/\nARG DIR_ASSETS=assets/\nARG DIR_CONFIG=config/\nCOPY $DIR_ASSET .\n"),
        [w("UndefinedVar", "Usage of undefined variable '$DIR_ASSET' (did you mean $DIR_ASSETS?)", 6)]
    );
    assert_eq!(
        lint("\nFROM alpine\nENV PATH=$PAHT:/tmp/bin\n"),
        [w(
            "UndefinedVar",
            "Usage of undefined variable '$PAHT' (did you mean $PATH?)",
            3
        )]
    );
    // With a target, only the stages it reaches are checked.
    let src = "\nFROM scratch AS first\nCOPY $foo .\n\nFROM scratch AS second\nCOPY $bar .\n";
    assert_eq!(
        lint(src),
        [
            w("UndefinedVar", "Usage of undefined variable '$foo'", 3),
            w("UndefinedVar", "Usage of undefined variable '$bar'", 6),
        ]
    );
    let o = FrontendOptions {
        target: Some("second".into()),
        ..opts()
    };
    assert_eq!(
        lint_with(src, &o),
        [w("UndefinedVar", "Usage of undefined variable '$bar'", 6)]
    );
}

#[test]
fn multiple_instructions_disallowed() {
    let m = |name: &str, line| {
        w("MultipleInstructionsDisallowed", &format!("Multiple {name} instructions should not be used in the same stage because only the last one will be used"), line)
    };
    let src = "\nFROM scratch\nENTRYPOINT [\"/myapp\"]\nENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myapp\"]\nCMD [\"/myotherapp\"]\nHEALTHCHECK CMD [\"/myapp\"]\nHEALTHCHECK CMD [\"/myotherapp\"]\n";
    assert_eq!(
        lint(src),
        [m("ENTRYPOINT", 3), m("CMD", 5), m("HEALTHCHECK", 7)]
    );
    let src = "\nFROM scratch\nENTRYPOINT [\"/myapp\"]\nCMD [\"/myapp\"]\nHEALTHCHECK CMD [\"/myapp\"]\nCOPY <<EOF /a.txt\nHello, World!\nEOF\nENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myotherapp\"]\nHEALTHCHECK CMD [\"/myotherapp\"]\n";
    assert_eq!(
        lint(src),
        [m("ENTRYPOINT", 3), m("CMD", 4), m("HEALTHCHECK", 5)]
    );
    let src = "\nFROM scratch AS a\nENTRYPOINT [\"/myapp\"]\nCMD [\"/myapp\"]\nHEALTHCHECK CMD [\"/myapp\"]\n\nFROM a AS b\nENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myotherapp\"]\nHEALTHCHECK CMD [\"/myotherapp\"]\n";
    assert!(lint(src).is_empty());
}

#[test]
fn legacy_key_value_format() {
    assert_eq!(
        lint("\nFROM scratch\nENV testkey value\nLABEL key value\n"),
        [
            w(
                "LegacyKeyValueFormat",
                "\"ENV key=value\" should be used instead of legacy \"ENV key value\" format",
                3
            ),
            w(
                "LegacyKeyValueFormat",
                "\"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format",
                4
            ),
        ]
    );
    assert!(lint("\nFROM scratch\nENV testkey=value\nLABEL key=value\n").is_empty());
    assert!(lint("\nFROM scratch\n# check=skip=LegacyKeyValueFormat\nENV testkey value\n# check=skip=LegacyKeyValueFormat\nLABEL key value\n").is_empty());
}

#[test]
fn secrets_used_in_arg_or_env() {
    let src = "# check=skip=InvalidDefinitionDescription\n\nFROM scratch\nARG SECRET_PASSPHRASE\nENV SUPER_Secret=foo\nENV password=bar secret=baz\nARG super_duper_secret_token=foo auth=bar\nENV apikey=bar sunflower=foo\nENV git_key=\nENV PUBLIC_KEY=\nARG public_token\nARG SECRET_PASSPHRASE_FILE\nENV password_file=bar secret_File=baz\nARG AUTH_MODULE_VERSION\n# check=skip=SecretsUsedInArgOrEnv // allow secret in environment\nENV password=bar\n# check=skip=SecretsUsedInArgOrEnv // allow secret in arg\nARG password\n# check=skip=all // is local to only this instruction\nENV alternate_password=bar\n# check=skip=all // is local to only this instruction\nARG alternate_password\n";
    let s = |i: &str, k: &str, l| {
        w(
            "SecretsUsedInArgOrEnv",
            &format!("Do not use ARG or ENV instructions for sensitive data ({i} \"{k}\")"),
            l,
        )
    };
    assert_eq!(
        lint(src),
        [
            s("ARG", "SECRET_PASSPHRASE", 4),
            s("ENV", "SUPER_Secret", 5),
            s("ENV", "password", 6),
            s("ENV", "secret", 6),
            s("ARG", "auth", 7),
            s("ARG", "super_duper_secret_token", 7),
            s("ENV", "apikey", 8),
            s("ENV", "git_key", 9),
        ]
    );
}

#[test]
fn platform_rules() {
    assert_eq!(
        lint("\nFROM --platform=$TARGETPLATFORM scratch\n"),
        [w("RedundantTargetPlatform", "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior", 2)]
    );
    assert_eq!(
        lint("\nFROM --platform=${TARGETPLATFORM} scratch\n"),
        [w("RedundantTargetPlatform", "Setting platform to predefined ${TARGETPLATFORM} in FROM is redundant as this is the default behavior", 2)]
    );
    assert!(lint(
        "\n# check=skip=RedundantTargetPlatform\nFROM --platform=$TARGETPLATFORM scratch\n"
    )
    .is_empty());
    assert_eq!(
        lint("\nFROM --platform=linux/amd64 scratch\n"),
        [w(
            "FromPlatformFlagConstDisallowed",
            "FROM --platform flag should not use constant value \"linux/amd64\"",
            2
        )]
    );
    assert!(lint("\nFROM --platform=linux/amd64 scratch AS my_amd64_stage\n").is_empty());
    assert!(lint("\nFROM --platform=linux/amd64 scratch AS linux\n").is_empty());
}

#[test]
fn invalid_default_arg_in_from() {
    let with = |k: &str, v: &str| {
        let mut o = opts();
        o.build_args.insert(k.into(), v.into());
        o
    };
    assert_eq!(
        lint_with(
            "\nARG VERSION\nFROM busybox:$VERSION\n",
            &with("VERSION", "latest")
        ),
        [w(
            "InvalidDefaultArgInFrom",
            "Default value for ARG busybox:$VERSION results in empty or invalid base image name",
            3
        )]
    );
    assert_eq!(
        lint_with(
            "\nARG IMAGE\nFROM $IMAGE\n",
            &with("IMAGE", "busybox:latest")
        ),
        [w(
            "InvalidDefaultArgInFrom",
            "Default value for ARG $IMAGE results in empty or invalid base image name",
            3
        )]
    );
    assert_eq!(
        lint_with(
            "\nARG SFX=\"box:\"\nFROM busy${SFX}\n",
            &with("SFX", "box:latest")
        ),
        [w(
            "InvalidDefaultArgInFrom",
            "Default value for ARG busy${SFX} results in empty or invalid base image name",
            3
        )]
    );
    assert!(lint_with(
        "\nARG VERSION=\"latest\"\nFROM busybox:${VERSION}\n",
        &with("VERSION", "latest")
    )
    .is_empty());
    assert!(lint_with(
        "\nARG BUSYBOX_VARIANT=\"\"\nFROM busybox:stable${BUSYBOX_VARIANT}\n",
        &with("BUSYBOX_VARIANT", "-musl")
    )
    .is_empty());
}

#[test]
fn expose_rules() {
    assert_eq!(
        lint("\nFROM scratch\nEXPOSE 80/TcP 8080/TCP 8080/udp\n"),
        [
            w(
                "ExposeProtoCasing",
                "Defined protocol '80/TcP' in EXPOSE instruction should be lowercase",
                3
            ),
            w(
                "ExposeProtoCasing",
                "Defined protocol '8080/TCP' in EXPOSE instruction should be lowercase",
                3
            ),
        ]
    );
    assert_eq!(
        lint("\nFROM scratch\nEXPOSE 127.0.0.1:80:80 [::1]:8080:8080 5000:5000 8000\n"),
        [
            w("ExposeInvalidFormat", "EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80'", 3),
            w("ExposeInvalidFormat", "EXPOSE instruction should not define an IP address or host-port mapping, found '5000:5000'", 3),
            w("ExposeInvalidFormat", "EXPOSE instruction should not define an IP address or host-port mapping, found '[::1]:8080:8080'", 3),
        ]
    );
}

#[test]
fn base_image_platform_mismatch() {
    let mut o = opts();
    o.base_images.get_mut("busybox").unwrap().architecture = "arm64".into();
    assert_eq!(
        lint_with("FROM busybox\n", &o),
        [w("InvalidBaseImagePlatform", "Base image busybox was pulled with platform \"linux/arm64\", expected \"linux/amd64\" for current build", 1)]
    );
}

#[test]
fn unknown_base_config_suppresses_undefined_var() {
    // Without the base image's config its ENV is unknown: no guesses.
    let mut o = opts();
    o.base_images.clear();
    assert!(lint_with("FROM golang\nWORKDIR $GOPATH/src\n", &o).is_empty());
}
