//! Typed instructions from AST nodes: BuildKit's argument checks, flags and messages
//! (expected values from BuildKit's instructions/parse_test.go, bflag_test.go and the
//! messages of parse.go / commands_run*.go).

use std::time::Duration;

use strata_builder::dockerfile::instructions::{
    parse_change, parse_instruction, CacheSharing, Command, ConfigChange, FrontendError,
    Instruction, MountType, NetworkMode, Security, ShellOrExec,
};
use strata_builder::dockerfile::parser::parse;

fn one(src: &str) -> Result<Command, FrontendError> {
    let ast = parse(src).expect("parses");
    parse_instruction(&ast.children[0])
}

fn err(src: &str) -> String {
    one(src).expect_err(src).message
}

#[test]
fn exactly_one_argument() {
    for cmd in ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"] {
        assert_eq!(err(cmd), format!("{cmd} requires exactly one argument"));
    }
}

#[test]
fn at_least_one_argument() {
    for cmd in ["ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME"] {
        assert_eq!(err(cmd), format!("{cmd} requires at least one argument"));
    }
}

#[test]
fn no_destination() {
    for cmd in ["ADD", "COPY"] {
        assert_eq!(
            err(&format!("{cmd} arg1")),
            format!("{cmd} requires at least two arguments, but only one was provided. Destination could not be determined")
        );
    }
    assert!(err("COPY\t\n\t\tquux \\\n      bar").contains("COPY requires at least two arguments"));
}

#[test]
fn error_cases_of_parse_test() {
    assert_eq!(
        err("ONBUILD FROM scratch"),
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("ONBUILD MAINTAINER me"),
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("MAINTAINER --boo joe@example.com"),
        "unknown flag: --boo"
    );
    assert_eq!(
        err("ONBUILD ONBUILD RUN touch foobar"),
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    // BuildKit checks these with ErrorContains: its suggestion is appended.
    assert_eq!(
        err("FOO bar"),
        "unknown instruction: FOO (did you mean FROM?)"
    );
    assert_eq!(
        err("foo bar"),
        "unknown instruction: foo (did you mean from?)"
    );
    assert_eq!(err("XYZZY bar"), "unknown instruction: XYZZY");
}

#[test]
fn unknown_instruction_suggests_and_renders_at_its_line() {
    let src = "FROM busybox\nRUN true\n\nRUNN echo hi\n";
    let ast = parse(src).unwrap();
    let e = parse_instruction(&ast.children[2]).unwrap_err();
    assert_eq!(e.message, "unknown instruction: RUNN (did you mean RUN?)");
    assert_eq!(e.line(), Some(4));
    assert_eq!(
        e.render(src, "Dockerfile"),
        "Dockerfile:4: unknown instruction: RUNN (did you mean RUN?)\n 4 | RUNN echo hi\n   | ^\n"
    );
    assert_eq!(
        err("runn x"),
        "unknown instruction: runn (did you mean run?)"
    );
    assert_eq!(
        err("workdri /x"),
        "unknown instruction: workdri (did you mean workdir?)"
    );
}

#[test]
fn flags_refused_and_parsed_like_bflag() {
    assert_eq!(
        err("COPY --form=x a b"),
        "unknown flag: --form (did you mean from?)"
    );
    assert_eq!(err("ENV --x=1 A=b"), "unknown flag: --x");
    assert_eq!(
        err("COPY --checksum=sha256:x a b"),
        "unknown flag: --checksum"
    );
    assert_eq!(err("ADD --from=x a b"), "unknown flag: --from");
    assert_eq!(err("COPY --from a b"), "missing a value on flag: --from");
    assert_eq!(err("COPY --link= a b"), "missing a value on flag: --link");
    assert_eq!(
        err("COPY --link=yes a b"),
        "expecting boolean value for flag --link, not: yes"
    );
    assert_eq!(
        err("COPY --from=a --from=b a b"),
        "duplicate flag specified: --from"
    );
    // BuildKit never parses the flags of ARG and STOPSIGNAL.
    assert!(one("ARG --nope=1 A").is_ok());
    assert!(one("STOPSIGNAL --nope SIGTERM").is_ok());
}

#[test]
fn copy_and_add_fields() {
    let c = one("COPY --from=build --chown=1:2 --chmod=755 --link --exclude=*.md --exclude=x --parents a b /dst/").unwrap();
    let Instruction::Copy(c) = c.instruction else {
        panic!()
    };
    assert_eq!(c.sources, ["a", "b"]);
    assert_eq!(c.dest, "/dst/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("1:2"));
    assert_eq!(c.chmod.as_deref(), Some("755"));
    assert!(c.link && c.parents);
    assert_eq!(c.exclude, ["*.md", "x"]);
    let a = one(
        "ADD --link=false --keep-git-dir --checksum=sha256:abc --unpack=false https://x/y.tar /",
    )
    .unwrap();
    let Instruction::Add(a) = a.instruction else {
        panic!()
    };
    assert!(!a.link);
    assert_eq!(a.keep_git_dir, Some(true));
    assert_eq!(a.unpack, Some(false));
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    let Instruction::Copy(j) = one("COPY [\"a b\", \"/c\"]").unwrap().instruction else {
        panic!()
    };
    assert_eq!(
        (j.sources, j.dest),
        (vec!["a b".to_string()], "/c".to_string())
    );
    // Shell form keeps the quotes until expansion, as BuildKit's parser does.
    let Instruction::Copy(q) = one("COPY \"a\" /c").unwrap().instruction else {
        panic!()
    };
    assert_eq!(q.sources, ["\"a\""]);
}

#[test]
fn copy_heredocs() {
    let c = one("COPY <<EOF <<-'TAB' /dest\nhello $X\nEOF\n\tindented\nTAB\n").unwrap();
    let Instruction::Copy(c) = c.instruction else {
        panic!()
    };
    assert!(c.sources.is_empty());
    assert_eq!(c.contents.len(), 2);
    assert_eq!(c.contents[0].path, "EOF");
    assert_eq!(c.contents[0].data, "hello $X\n");
    assert!(c.contents[0].expand);
    assert_eq!(c.contents[1].data, "indented\n");
    assert!(!c.contents[1].expand);
    assert_eq!(
        err("COPY a <<EOF\nx\nEOF\n"),
        "COPY cannot accept a heredoc as a destination"
    );
}

#[test]
fn from_forms() {
    let c = one("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build").unwrap();
    let Instruction::From(f) = c.instruction else {
        panic!()
    };
    assert_eq!(f.image, "golang:1.22");
    assert_eq!(f.name.as_deref(), Some("build"));
    assert_eq!(f.name_as_written.as_deref(), Some("Build"));
    assert_eq!(f.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(
        err("FROM a b"),
        "FROM requires either one or three arguments"
    );
    assert_eq!(
        err("FROM a AS 1st"),
        "invalid name for build stage: \"1st\", name can't start with a number or contain symbols"
    );
    assert_eq!(err("FROM --nope=1 a"), "unknown flag: --nope");
}

#[test]
fn run_flags() {
    let c = one("RUN --mount=type=cache,target=/root/.cache,sharing=locked --mount=type=bind,from=build,source=/o,target=/i --network=none --security=insecure make").unwrap();
    let Instruction::Run(r) = c.instruction else {
        panic!()
    };
    assert_eq!(r.command, ShellOrExec::Shell("make".into()));
    assert_eq!(r.mount_specs.len(), 2);
    assert_eq!(r.mounts[1].from, "build");
    assert_eq!(r.network, NetworkMode::None);
    assert_eq!(r.security, Security::Insecure);
    assert_eq!(r.flags_used, ["mount", "network", "security"]);
    assert_eq!(
        err("RUN --network=bridge x"),
        "invalid network mode \"bridge\""
    );
    assert_eq!(err("RUN --security=x x"), "security \"x\" is not valid");
    assert_eq!(
        err("RUN --mount=from=$X,target=/x x"),
        "'from' doesn't support variable expansion, define alias stage instead"
    );
    assert_eq!(
        err("RUN --mont=x y"),
        "unknown flag: --mont (did you mean mount?)"
    );
    let r = one("RUN --mount=type=tmpfs,target=/foo/ echo hello").unwrap();
    let Instruction::Run(r) = r.instruction else {
        panic!()
    };
    assert_eq!(r.flags_used, ["mount"]);
    let full = strata_builder::dockerfile::instructions::parse_mount(
        "type=cache,target=/c,sharing=private,uid=1000",
        Some(&mut |s: &str| Ok(s.to_string())),
    )
    .unwrap();
    assert_eq!(full.kind, MountType::Cache);
    assert_eq!(full.sharing, Some(CacheSharing::Private));
    assert_eq!(full.uid, Some(1000));
    let exec = one("RUN [\"echo\", \"hi\"]").unwrap();
    let Instruction::Run(r) = exec.instruction else {
        panic!()
    };
    assert_eq!(
        r.command,
        ShellOrExec::Exec(vec!["echo".into(), "hi".into()])
    );
}

#[test]
fn cmd_entrypoint_shell() {
    assert_eq!(
        one("CMD echo hi").unwrap().instruction,
        Instruction::Cmd(ShellOrExec::Shell("echo hi".into()))
    );
    assert_eq!(
        one("ENTRYPOINT []").unwrap().instruction,
        Instruction::Entrypoint(ShellOrExec::Exec(vec![]))
    );
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-c\"]").unwrap().instruction,
        Instruction::Shell(vec!["/bin/bash".into(), "-c".into()])
    );
    assert_eq!(
        err("SHELL /bin/bash -c"),
        "SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(err("SHELL []"), "SHELL requires at least one argument");
}

#[test]
fn env_label_arg_kinds() {
    let c = one("ENV A=1 B=\"x y\"").unwrap();
    let Instruction::Env(kv) = c.instruction else {
        panic!()
    };
    assert_eq!(
        (kv[0].key.as_str(), kv[0].value.as_str(), kv[0].no_delim),
        ("A", "1", false)
    );
    assert_eq!(kv[1].value, "\"x y\"");
    let c = one("LABEL key value").unwrap();
    let Instruction::Label(kv) = c.instruction else {
        panic!()
    };
    assert!(kv[0].no_delim);
    let c = one("ARG A B=2 C=").unwrap();
    let Instruction::Arg(a) = c.instruction else {
        panic!()
    };
    assert_eq!(a[0].default, None);
    assert_eq!(a[1].default.as_deref(), Some("2"));
    assert_eq!(a[2].default.as_deref(), Some(""));
    assert_eq!(err("ARG =x"), "ARG names can not be blank");
}

#[test]
fn healthcheck() {
    let c = one("HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD /check --quiet").unwrap();
    let Instruction::Healthcheck(h) = c.instruction else {
        panic!()
    };
    assert_eq!(h.test, ["CMD-SHELL", "/check --quiet"]);
    assert_eq!(h.interval, Duration::from_secs(5));
    assert_eq!(h.timeout, Duration::from_secs(3));
    assert_eq!(h.retries, 3);
    let c = one("HEALTHCHECK CMD [\"foo\", \"bar\"]").unwrap();
    let Instruction::Healthcheck(h) = c.instruction else {
        panic!()
    };
    assert_eq!(h.test, ["CMD", "foo", "bar"]);
    let c = one("HEALTHCHECK NONE").unwrap();
    let Instruction::Healthcheck(h) = c.instruction else {
        panic!()
    };
    assert_eq!(h.test, ["NONE"]);
    assert_eq!(
        err("HEALTHCHECK NONE x"),
        "HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(
        err("HEALTHCHECK CMD"),
        "Missing command after HEALTHCHECK CMD"
    );
    assert_eq!(
        err("HEALTHCHECK CONNECT TCP 7000"),
        "Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)"
    );
    assert_eq!(
        err("HEALTHCHECK --interval=50ns CMD x"),
        "Interval \"interval\" cannot be less than 1ms"
    );
    assert!(one("HEALTHCHECK --interval=0ms CMD x").is_ok());
    assert!(one("HEALTHCHECK --interval=1ms CMD x").is_ok());
    assert_eq!(
        err("HEALTHCHECK --retries=-1 CMD x"),
        "--retries cannot be negative (-1)"
    );
    assert_eq!(
        err("HEALTHCHECK --timeout=5 CMD x"),
        "time: missing unit in duration \"5\""
    );
    assert_eq!(
        err("HEALTHCHECK --start-periods=5s CMD x"),
        "unknown flag: --start-periods (did you mean start-period?)"
    );
}

#[test]
fn onbuild_expression_and_misc() {
    let c = one("ONBUILD RUN echo hi").unwrap();
    assert_eq!(c.instruction, Instruction::Onbuild("RUN echo hi".into()));
    let c = one("  onbuild   COPY a b").unwrap();
    assert_eq!(c.instruction, Instruction::Onbuild("COPY a b".into()));
    let c = one("EXPOSE 8080 80/udp 443").unwrap();
    assert_eq!(
        c.instruction,
        Instruction::Expose(vec!["443".into(), "80/udp".into(), "8080".into()])
    );
    let c = one("VOLUME [\"/a\", \"/b\"]").unwrap();
    assert_eq!(
        c.instruction,
        Instruction::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(
        err("VOLUME [\"\"]"),
        "VOLUME specified can not be an empty string"
    );
}

#[test]
fn commands_keep_lines_and_keyword() {
    let src = "FROM busybox\n\n# a comment\nrun echo a \\\n  b\nCOPY <<EOF /x\nbody\nEOF\n";
    let ast = parse(src).unwrap();
    let run = parse_instruction(&ast.children[1]).unwrap();
    assert_eq!((run.start_line, run.end_line), (4, 5));
    assert_eq!(run.keyword, "run");
    assert_eq!(run.comments, ["a comment"]);
    let copy = parse_instruction(&ast.children[2]).unwrap();
    assert_eq!((copy.start_line, copy.end_line), (6, 8));
}

#[test]
fn config_changes_for_import_and_commit() {
    let env = vec![
        ("HOME".to_string(), "/root".to_string()),
        ("P".to_string(), "80 443".to_string()),
    ];
    assert_eq!(
        parse_change("ENV A=$HOME/x", &env).unwrap(),
        ConfigChange::Env(vec![("A".into(), "/root/x".into())])
    );
    assert_eq!(
        parse_change("WORKDIR $HOME", &env).unwrap(),
        ConfigChange::Workdir("/root".into())
    );
    assert_eq!(
        parse_change("EXPOSE $P 53/udp", &env).unwrap(),
        ConfigChange::Expose(vec!["80/tcp".into(), "443/tcp".into(), "53/udp".into()])
    );
    assert_eq!(
        parse_change("CMD [\"sh\"]", &env).unwrap(),
        ConfigChange::Cmd(ShellOrExec::Exec(vec!["sh".into()]))
    );
    assert_eq!(
        parse_change("ONBUILD RUN x", &env).unwrap(),
        ConfigChange::Onbuild("RUN x".into())
    );
    assert_eq!(
        parse_change("RUN x", &env).unwrap_err().message,
        "run is not a valid change command"
    );
    assert_eq!(
        parse_change("copy a b", &env).unwrap_err().message,
        "copy is not a valid change command"
    );
    assert_eq!(
        parse_change("STOPSIGNAL NOPE", &env).unwrap_err().message,
        "Invalid signal: NOPE"
    );
    assert_eq!(
        parse_change("USER", &env).unwrap_err().message,
        "USER requires exactly one argument"
    );
    assert!(matches!(
        parse_change("HEALTHCHECK NONE", &env).unwrap(),
        ConfigChange::Healthcheck(_)
    ));
    assert_eq!(
        strata_builder::dockerfile::instructions::normalize_workdir("/a", "b/../c"),
        "/a/c"
    );
}
