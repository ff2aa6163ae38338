//! ARG/ENV scoping as BuildKit resolves it; expected values from BuildKit's
//! dockerfile_args_test.go (testMultiArgs, testQuotedMetaArgs, testDefaultEnvWithArgs,
//! testTargetStageNameArg, testBuiltinArgs, testEmptyStringArgInEnv, testGlobalArgErrors,
//! testArgDefaultExpansion) and convert.go's dispatchArg/buildMetaArgs.

use std::collections::BTreeMap;

use strata_builder::dockerfile::instructions::Instruction;
use strata_builder::graph::{
    compile, Base, BuildGraph, FrontendOptions, ImageConfig, Platform, Step,
};

fn opts() -> FrontendOptions {
    FrontendOptions {
        build_platform: Platform::new("linux", "amd64", ""),
        ..FrontendOptions::default()
    }
}

fn with_args(args: &[(&str, &str)]) -> FrontendOptions {
    let mut o = opts();
    o.build_args = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    o
}

fn env_of(step: &Step) -> BTreeMap<String, String> {
    step.env.iter().cloned().collect()
}

fn find_run(g: &BuildGraph, stage: usize, nth: usize) -> &Step {
    g.stage(stage)
        .unwrap()
        .steps
        .iter()
        .filter(|s| s.run.is_some())
        .nth(nth)
        .unwrap()
}

#[test]
fn multi_args() {
    let src = r#"
ARG a1="foo bar" a2=box
ARG a3="$a2-foo"
FROM busy$a2 AS build
ARG a3 a4="123 456" a1
RUN echo -n "$a1:$a3:$a4" > /out
FROM scratch
COPY --from=build /out .
"#;
    let g = compile(src, &opts()).unwrap();
    assert_eq!(g.stage(0).unwrap().base, Base::Image("busybox".into()));
    let env = env_of(find_run(&g, 0, 0));
    assert_eq!(env["a1"], "foo bar");
    assert_eq!(env["a3"], "box-foo");
    assert_eq!(env["a4"], "123 456");
    assert!(
        !env.contains_key("a2"),
        "meta args are only seen when re-declared"
    );
}

#[test]
fn quoted_meta_args() {
    let src = r#"
ARG a1="box"
ARG a2="$a1-foo"
FROM busy$a1 AS build
ARG a2
ARG a3="bar-$a2"
RUN echo -n $a3 > /out
"#;
    let g = compile(src, &opts()).unwrap();
    assert_eq!(env_of(find_run(&g, 0, 0))["a3"], "bar-box-foo");
}

#[test]
fn default_env_with_args() {
    let src = r#"
ARG image=idlebox
FROM busy${image#idle} AS build
ARG my_arg
ENV my_arg "my_arg=${my_arg:-def_val}"
ENV my_trimmed_arg "${my_arg%%e*}"
RUN ./myscript.sh $my_arg $my_trimmed_arg
"#;
    for (args, arg, trimmed) in [
        (vec![], "my_arg=def_val", "my_arg=d"),
        (vec![("my_arg", "")], "my_arg=def_val", "my_arg=d"),
        (vec![("my_arg", "override")], "my_arg=override", "my_arg=ov"),
    ] {
        let g = compile(src, &with_args(&args)).unwrap();
        let st = g.stage(0).unwrap();
        assert_eq!(st.base, Base::Image("busybox".into()));
        let env = env_of(find_run(&g, 0, 0));
        assert_eq!(env["my_arg"], arg);
        assert_eq!(env["my_trimmed_arg"], trimmed);
        assert_eq!(st.config.env_get("my_arg"), Some(arg));
    }
}

#[test]
fn target_stage_name_arg() {
    let src = r#"
FROM alpine AS base
WORKDIR /out
RUN echo -n "value:$TARGETSTAGE" > /out/first
ARG TARGETSTAGE
RUN echo -n "value:$TARGETSTAGE" > /out/second
FROM scratch AS foo
COPY --from=base /out/ /
FROM scratch
COPY --from=base /out/ /
"#;
    let mut o = opts();
    o.target = Some("foo".into());
    let g = compile(src, &o).unwrap();
    assert!(!env_of(find_run(&g, 0, 0)).contains_key("TARGETSTAGE"));
    assert_eq!(env_of(find_run(&g, 0, 1))["TARGETSTAGE"], "foo");
    let g = compile(src, &opts()).unwrap();
    assert_eq!(env_of(find_run(&g, 0, 1))["TARGETSTAGE"], "default");
    let src2 = format!("{src}\nFROM scratch AS final\nCOPY --from=base /out/ /\n");
    let g = compile(&src2, &opts()).unwrap();
    assert_eq!(env_of(find_run(&g, 0, 1))["TARGETSTAGE"], "final");
}

#[test]
fn builtin_proxy_args_reach_run_without_declaration() {
    let src = r#"
FROM busybox AS build
ARG FOO
ARG BAR
ARG BAZ=bazcontent
RUN echo -n $HTTP_PROXY::$NO_PROXY::$FOO::$BAR::$BAZ > /out
"#;
    let o = with_args(&[
        ("FOO", "foocontents"),
        ("http_proxy", "hpvalue"),
        ("NO_PROXY", "npvalue"),
    ]);
    let g = compile(src, &o).unwrap();
    let run = find_run(&g, 0, 0);
    let plan = run.run.as_ref().unwrap();
    assert_eq!(
        plan.proxy_env,
        [
            ("NO_PROXY".to_string(), "npvalue".to_string()),
            ("http_proxy".to_string(), "hpvalue".to_string())
        ]
    );
    let env = env_of(run);
    assert_eq!(env["FOO"], "foocontents");
    assert_eq!(env["BAZ"], "bazcontent");
    assert!(!env.contains_key("BAR") && !env.contains_key("http_proxy"));
    // Proxy values stay out of the history; declared args are listed as `|N K=V`.
    assert_eq!(
        run.history.as_ref().unwrap().created_by,
        "RUN |3 FOO=foocontents BAR= BAZ=bazcontent /bin/sh -c echo -n $HTTP_PROXY::$NO_PROXY::$FOO::$BAR::$BAZ > /out # buildkit"
    );
    assert_eq!(
        run.used_args,
        [
            ("FOO".to_string(), "foocontents".to_string()),
            ("BAZ".to_string(), "bazcontent".to_string())
        ]
    );
    assert!(g.unused_build_args.is_empty());
    let mut o = opts();
    o.proxy_env
        .insert("HTTPS_PROXY".into(), "host-proxy".into());
    let g = compile(src, &o).unwrap();
    assert_eq!(
        find_run(&g, 0, 0).run.as_ref().unwrap().proxy_env,
        [("HTTPS_PROXY".to_string(), "host-proxy".to_string())]
    );
}

#[test]
fn empty_string_arg_in_env() {
    let src = "FROM busybox AS build\nARG FOO\nARG BAR=\nRUN env > env.txt\n";
    let env = env_of(find_run(&compile(src, &opts()).unwrap(), 0, 0));
    assert_eq!(env.get("BAR").map(String::as_str), Some(""));
    assert!(!env.contains_key("FOO"));
}

#[test]
fn global_arg_errors() {
    let src = "ARG FOO=${FOO:?\"custom error\"}\nFROM busybox\n";
    let e = compile(src, &opts()).unwrap_err();
    assert!(e.message.contains("FOO: custom error"), "{}", e.message);
    assert_eq!(e.line(), Some(1));
    assert!(compile(src, &with_args(&[("FOO", "bar")])).is_ok());
}

#[test]
fn arg_default_expansion() {
    let src = "FROM scratch\nARG FOO\nARG BAR=${FOO:?\"foo missing\"}\n";
    let e = compile(src, &opts()).unwrap_err();
    assert!(e.message.contains("FOO: foo missing"), "{}", e.message);
    assert_eq!(e.line(), Some(3));
    assert!(compile(src, &with_args(&[("FOO", "123")])).is_ok());
    assert!(compile(src, &with_args(&[("BAR", "123")])).is_ok());
}

#[test]
fn global_tag_from_build_arg() {
    let src = "ARG tag=nosuchtag\nFROM busybox:${tag}\n";
    let g = compile(src, &opts()).unwrap();
    assert_eq!(g.stages[0].base, Base::Image("busybox:nosuchtag".into()));
    let g = compile(src, &with_args(&[("tag", "latest")])).unwrap();
    assert_eq!(g.stages[0].base, Base::Image("busybox:latest".into()));
    assert_eq!(g.external_images[0].reference, "busybox:latest");
}

#[test]
fn meta_args_not_visible_without_redeclaration() {
    let src = "ARG V=1\nFROM scratch\nWORKDIR /$V\nARG V\nWORKDIR /$V\n";
    let g = compile(src, &opts()).unwrap();
    let steps = &g.stages[0].steps;
    assert_eq!(steps[0].workdir, "/");
    assert_eq!(steps[2].workdir, "/1");
}

#[test]
fn build_arg_overrides_default_and_env_wins_over_arg() {
    let src = "FROM scratch\nARG A=default\nENV B=$A\nENV A=fromenv\nLABEL a=$A b=$B\n";
    let g = compile(src, &with_args(&[("A", "cli")])).unwrap();
    let st = &g.stages[0];
    assert_eq!(st.config.labels["a"], "fromenv");
    assert_eq!(st.config.labels["b"], "cli");
    assert_eq!(st.config.env_get("B"), Some("cli"));
}

#[test]
fn arg_after_env_in_same_stage_wins_like_buildkit() {
    // BuildKit keeps one ordered environment: the later ARG replaces the value a RUN sees,
    // while the image config keeps the ENV value.
    let src = "FROM scratch\nENV A=env\nARG A=arg\nRUN echo $A\n";
    let g = compile(src, &opts()).unwrap();
    assert_eq!(env_of(find_run(&g, 0, 0))["A"], "arg");
    assert_eq!(g.stages[0].config.env_get("A"), Some("env"));
}

#[test]
fn stage_inherits_env_and_arg_values_from_base_stage() {
    let src = "FROM scratch AS base\nENV E=1\nARG A=2\nENV X=env\nARG X=arg\nFROM base\nRUN echo $E $A $X\nLABEL a=$A\n";
    let g = compile(src, &opts()).unwrap();
    let run = find_run(&g, 1, 0);
    let env = env_of(run);
    assert_eq!(env["E"], "1");
    assert_eq!(env["A"], "2");
    // The base's image ENV is applied again on top: ENV wins in the child.
    assert_eq!(env["X"], "env");
    assert_eq!(run.build_args.len(), 2);
    assert_eq!(g.stages[1].config.labels["a"], "2");
}

#[test]
fn base_image_config_env_workdir_user_and_shell() {
    let mut o = opts();
    o.base_images.insert(
        "golang:1.22".into(),
        ImageConfig {
            os: "linux".into(),
            architecture: "amd64".into(),
            env: vec!["GOPATH=/go".into(), "PATH=/go/bin:/usr/bin".into()],
            working_dir: "/go".into(),
            user: "gopher".into(),
            shell: vec!["/bin/bash".into(), "-c".into()],
            ..ImageConfig::default()
        },
    );
    let g = compile("FROM golang:1.22\nWORKDIR $GOPATH/src\nRUN make\n", &o).unwrap();
    let st = &g.stages[0];
    assert!(st.base_config_known);
    assert_eq!(st.steps[0].workdir, "/go/src");
    let run = &st.steps[1];
    assert_eq!(run.user, "gopher");
    assert_eq!(run.run.as_ref().unwrap().args, ["/bin/bash", "-c", "make"]);
    assert_eq!(env_of(run)["PATH"], "/go/bin:/usr/bin");
    assert!(g.warnings.is_empty());
}

#[test]
fn predefined_platform_args() {
    let mut o = opts();
    o.target_platform = Some(Platform::new("linux", "arm64", ""));
    let src = "FROM --platform=$BUILDPLATFORM golang AS build\nARG TARGETOS TARGETARCH BUILDPLATFORM\nRUN echo $TARGETOS/$TARGETARCH\nFROM alpine\n";
    let g = compile(src, &o).unwrap();
    assert_eq!(
        g.stages.len(),
        1,
        "only the target's dependencies are compiled"
    );
    let g = compile(
        src,
        &FrontendOptions {
            target: Some("build".into()),
            ..o.clone()
        },
    )
    .unwrap();
    let st = &g.stages[0];
    assert_eq!(st.platform, Platform::new("linux", "amd64", ""));
    let env = env_of(find_run(&g, 0, 0));
    assert_eq!(env["TARGETOS"], "linux");
    assert_eq!(env["TARGETARCH"], "arm64");
    assert_eq!(env["BUILDPLATFORM"], "linux/amd64");
    assert!(!env.contains_key("TARGETPLATFORM"));
    assert_eq!(g.external_images[0].platform.format(), "linux/amd64");
}

#[test]
fn from_platform_errors() {
    let e = compile("FROM --platform=$BULIDPLATFORM scratch\n", &opts()).unwrap_err();
    assert_eq!(
        e.message,
        "empty platform value from expression $BULIDPLATFORM (did you mean BUILDPLATFORM?)"
    );
    let src = "ARG MY_OS=linux\nARG MY_ARCH=amd64\nFROM --platform=linux/${MYARCH} busybox\n";
    let e = compile(src, &opts()).unwrap_err();
    assert_eq!(
        e.message,
        "failed to parse platform linux/${MYARCH}: \"\" is an invalid component of \"linux/\": platform specifier component must match \"^[A-Za-z0-9_.-]+$\": invalid argument (did you mean MY_ARCH?)"
    );
    assert_eq!(e.line(), Some(3));
    let e = compile("FROM \"\" AS foo\n", &opts()).unwrap_err();
    assert_eq!(e.message, "base name (\"\") should not be blank");
    let e = compile("FROM ${BLANK} AS foo\n", &opts()).unwrap_err();
    assert_eq!(e.message, "base name (${BLANK}) should not be blank");
}

#[test]
fn expanded_words_per_instruction() {
    let src = r#"FROM scratch
ARG D=/data U=app P=8080 S=SIGTERM V=/vol C=1000
COPY --chown=$U:$U --chmod=644 src/$U $D/
ADD --chown=$C https://example.com/$U.tar $D
WORKDIR $D
USER $U
EXPOSE $P 9090/udp
VOLUME $V
STOPSIGNAL $S
LABEL $U=$P
CMD echo $U
ONBUILD RUN echo $U
"#;
    let g = compile(src, &opts()).unwrap();
    let steps = &g.stages[0].steps;
    let Instruction::Copy(c) = &steps[1].command.instruction else {
        panic!()
    };
    assert_eq!(c.chown.as_deref(), Some("app:app"));
    assert_eq!(c.sources, ["src/app"]);
    assert_eq!(c.dest, "/data/");
    assert_eq!(
        steps[1].used_args,
        [
            ("U".to_string(), "app".to_string()),
            ("D".to_string(), "/data".to_string())
        ]
        .into_iter()
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    let Instruction::Add(a) = &steps[2].command.instruction else {
        panic!()
    };
    assert_eq!(a.sources, ["https://example.com/app.tar"]);
    assert_eq!(a.chown.as_deref(), Some("1000"));
    let cfg = &g.stages[0].config;
    assert_eq!(cfg.working_dir, "/data");
    assert_eq!(cfg.user, "app");
    assert!(cfg.exposed_ports.contains("8080/tcp") && cfg.exposed_ports.contains("9090/udp"));
    assert!(cfg.volumes.contains("/vol"));
    assert_eq!(cfg.stop_signal, "SIGTERM");
    assert_eq!(cfg.labels["app"], "8080");
    // CMD and ONBUILD are not expanded.
    assert_eq!(
        cfg.cmd.as_deref(),
        Some(&["/bin/sh".to_string(), "-c".into(), "echo $U".into()][..])
    );
    assert_eq!(cfg.on_build, ["RUN echo $U"]);
    assert!(cfg.args_escaped);
}

#[test]
fn heredoc_expansion_only_when_unquoted() {
    let src = "FROM scratch\nARG N=world\nCOPY <<A <<'B' /\nhello $N\nA\nhello $N\nB\n";
    let g = compile(src, &opts()).unwrap();
    let Instruction::Copy(c) = &g.stages[0].steps[1].command.instruction else {
        panic!()
    };
    assert_eq!(c.contents[0].data, "hello world\n");
    assert_eq!(c.contents[1].data, "hello $N\n");
}

#[test]
fn run_heredoc_plans() {
    let src = "FROM busybox\nRUN <<EOF\n#!/bin/sh\necho hi\nEOF\nRUN <<EOF\necho plain\nEOF\nRUN cat <<EOF > /x\nbody\nEOF\n";
    let g = compile(src, &opts()).unwrap();
    let p0 = find_run(&g, 0, 0).run.as_ref().unwrap();
    assert_eq!(p0.args, ["/bin/sh", "-c", "/dev/pipes/EOF"]);
    assert_eq!(
        p0.inline_files,
        [("EOF".to_string(), "#!/bin/sh\necho hi\n".to_string())]
    );
    assert_eq!(
        find_run(&g, 0, 1).run.as_ref().unwrap().args,
        ["/bin/sh", "-c", "echo plain\n"]
    );
    assert_eq!(
        find_run(&g, 0, 2).run.as_ref().unwrap().args,
        ["/bin/sh", "-c", "cat <<EOF > /x\nbody\nEOF"]
    );
}

#[test]
fn run_mounts_expanded_and_validated_at_dispatch() {
    let src = "FROM busybox AS build\nFROM busybox\nARG T=/cache ID=c1\nRUN --mount=type=cache,target=$T,id=$ID --mount=from=build,target=/b ls\n";
    let g = compile(src, &opts()).unwrap();
    let plan = find_run(&g, 1, 0).run.as_ref().unwrap();
    assert_eq!(plan.mounts[0].0.target, "/cache");
    assert_eq!(plan.mounts[0].0.cache_id, "c1");
    assert_eq!(plan.mounts[1].1, strata_builder::graph::Source::Stage(0));
    let e = compile("FROM busybox\nRUN --mount=type=secret ls\n", &opts()).unwrap_err();
    assert_eq!(
        e.message,
        "invalid secret mount. one of source, target required"
    );
    assert_eq!(e.line(), Some(2));
}

#[test]
fn unused_build_args_are_reported() {
    let g = compile(
        "ARG USED\nFROM scratch\nARG ALSO\n",
        &with_args(&[
            ("USED", "1"),
            ("ALSO", "2"),
            ("NOPE", "3"),
            ("HTTP_PROXY", "p"),
        ]),
    )
    .unwrap();
    assert_eq!(g.unused_build_args, ["NOPE"]);
    assert_eq!(
        strata_builder::dockerfile::scope::unused_build_args_warning(&g.unused_build_args).unwrap(),
        "[Warning] One or more build-args [NOPE] were not consumed"
    );
}

#[test]
fn history_entries() {
    let src = "FROM scratch\nENV A=1 B=2\nLABEL l=v\nWORKDIR /app\nUSER u\nEXPOSE 80\nVOLUME /v\nSTOPSIGNAL SIGKILL\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo hi\nENTRYPOINT [\"/e\"]\nHEALTHCHECK --interval=1s --timeout=10s --start-period=3s --start-interval=100ms --retries=5 CMD [\"bin\", \"-c\", \"exit 0\"]\nARG X=1 Y\nMAINTAINER me\n";
    let g = compile(src, &opts()).unwrap();
    let h: Vec<(String, bool)> = g.stages[0]
        .config
        .history
        .iter()
        .map(|h| (h.created_by.clone(), h.empty_layer))
        .collect();
    let want = [
        ("ENV A=1 B=2", true),
        ("LABEL l=v", true),
        ("WORKDIR /app", false),
        ("USER u", true),
        ("EXPOSE [80/tcp]", true),
        ("VOLUME [/v]", true),
        ("STOPSIGNAL SIGKILL", true),
        ("SHELL [/bin/bash -c]", true),
        ("CMD [\"/bin/bash\" \"-c\" \"echo hi\"]", true),
        ("ENTRYPOINT [\"/e\"]", true),
        ("HEALTHCHECK {Test:[CMD bin -c exit 0] Interval:1s Timeout:10s StartPeriod:3s StartInterval:100ms Retries:5}", true),
        ("ARG X=1 Y", true),
        ("MAINTAINER me", true),
    ];
    let want: Vec<(String, bool)> = want.iter().map(|(s, b)| (s.to_string(), *b)).collect();
    assert_eq!(h, want);
    // ENTRYPOINT after CMD keeps CMD; before, it clears the base's.
    assert!(g.stages[0].config.cmd.is_some());
    assert_eq!(g.stages[0].config.author, "me");
}
