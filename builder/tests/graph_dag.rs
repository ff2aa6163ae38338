//! Stages, targets, dependencies, cycles and ONBUILD triggers; expected values from
//! BuildKit's convert_test.go, dockerfile_multistage_test.go and dockerfile_onbuild_test.go.

use strata_builder::dockerfile::instructions::{Instruction, LineRange};
use strata_builder::graph::{
    compile, onbuild_commands, Base, FrontendOptions, ImageConfig, Platform, Source,
};

fn opts() -> FrontendOptions {
    FrontendOptions {
        build_platform: Platform::new("linux", "amd64", ""),
        ..FrontendOptions::default()
    }
}

fn target(t: &str) -> FrontendOptions {
    FrontendOptions {
        target: Some(t.into()),
        ..opts()
    }
}

fn err(src: &str, o: &FrontendOptions) -> String {
    compile(src, o).unwrap_err().message
}

#[test]
fn dockerfile_parsing_cases() {
    assert!(compile(
        "FROM scratch\nENV FOO bar\nCOPY f1 f2 /sub/\nRUN ls -l\n",
        &opts()
    )
    .is_ok());
    let df =
        "FROM scratch AS foo\nENV FOO bar\nFROM foo\nCOPY --from=foo f1 /\nCOPY --from=0 f2 /\n";
    let g = compile(df, &opts()).unwrap();
    assert_eq!(g.stages[1].base, Base::Stage(0));
    assert_eq!(g.stages[1].steps[0].source, Some(Source::Stage(0)));
    assert_eq!(g.stages[1].steps[1].source, Some(Source::Stage(0)));
    // Targets are matched case-insensitively.
    let g = compile(df, &target("Foo")).unwrap();
    assert_eq!(g.target, 0);
    assert_eq!(g.stages.len(), 1);
    assert_eq!(
        err(df, &target("nosuch")),
        "target stage \"nosuch\" could not be found"
    );
    assert_eq!(
        err(df, &target("fooo")),
        "target stage \"fooo\" could not be found (did you mean foo?)"
    );
    assert_eq!(
        err("ARG foo=bar", &opts()),
        "dockerfile contains no stages to build"
    );
    assert_eq!(err("", &opts()), "the Dockerfile cannot be empty");
    assert_eq!(
        err("ENV A=b\nFROM scratch\n", &opts()),
        "no build stage in current context"
    );
    assert!(compile(
        "FROM scratch\n\tADD http://github.com/moby/buildkit/blob/master/README.md /\n\t\t",
        &opts()
    )
    .is_ok());
    assert_eq!(
        err(
            "FROM scratch\n\tCOPY http://github.com/moby/buildkit/blob/master/README.md /\n\t\t",
            &opts()
        ),
        "source can't be a URL for COPY"
    );
    assert_eq!(
        err("FROM scratch\nADD --checksum=sha256:0 a b /\n", &opts()),
        "checksum can't be specified for multiple sources"
    );
    assert_eq!(
        err("FROM scratch\nADD --checksum=sha256:0 a /\n", &opts()),
        "checksum requires HTTP(S) or Git sources"
    );
    assert_eq!(
        err("FROM scratch\nCOPY --chmod=999 a /\n", &opts()),
        "invalid chmod parameter: '999'. it should be octal string and between 0 and 07777"
    );
}

#[test]
fn circular_dependencies() {
    let df = "FROM busybox AS stage0\nCOPY --from=stage0 f1 /sub/\n";
    let e = compile(df, &opts()).unwrap_err();
    assert_eq!(e.message, "circular dependency detected on stage: stage0");
    assert_eq!(e.locations, [LineRange::new(2, 2)]);
    let df = "FROM busybox AS stage0\nCOPY --from=stage2 f1 /sub/\nFROM busybox AS stage1\nCOPY --from=stage0 f2 /sub/\nFROM busybox AS stage2\nCOPY --from=stage1 f2 /sub/\n";
    let e = compile(df, &opts()).unwrap_err();
    assert_eq!(e.message, "circular dependency detected on stage: stage0");
    assert_eq!(e.locations.len(), 3);
    // Cycles are refused even in stages the target does not reach.
    let df = "FROM busybox AS a\nCOPY --from=a x /\nFROM scratch AS b\n";
    assert_eq!(
        err(df, &target("b")),
        "circular dependency detected on stage: a"
    );
}

#[test]
fn forward_references_refused() {
    let df = "FROM busybox AS target\nCOPY --from=build / /out\n\nFROM alpine AS build\nCOPY /Dockerfile /d2\n\nFROM target\n";
    let e = compile(df, &opts()).unwrap_err();
    assert_eq!(
        e.message,
        "cannot copy from stage \"build\", it needs to be defined before current stage \"target\""
    );
    assert_eq!(e.line(), Some(2));
    let df = "FROM busybox AS a\nRUN --mount=from=b,target=/x ls\nFROM busybox AS b\nFROM a\n";
    assert_eq!(
        err(df, &opts()),
        "cannot mount from stage \"b\" to \"/x\", stage needs to be defined before current command"
    );
    // A FROM naming a later stage names an image, as in BuildKit.
    let g = compile("FROM later AS a\nFROM scratch AS later\n", &target("a")).unwrap();
    assert_eq!(g.stages[0].base, Base::Image("later".into()));
}

#[test]
fn copy_from_sources() {
    let df = "FROM scratch AS a\nFROM busybox\nCOPY --from=alpine:3 /etc/os-release /\nCOPY --from=A /x /\nCOPY --from=0 /y /\nCOPY --from=scratch /z /\n";
    let g = compile(df, &opts()).unwrap();
    let st = g.target_stage();
    let srcs: Vec<_> = st.steps.iter().map(|s| s.source.clone().unwrap()).collect();
    assert_eq!(
        srcs,
        [
            Source::Image("alpine:3".into()),
            Source::Stage(0),
            Source::Stage(0),
            Source::Scratch
        ]
    );
    let ext: Vec<(&str, bool)> = g
        .external_images
        .iter()
        .map(|e| (e.reference.as_str(), e.is_base))
        .collect();
    assert_eq!(ext, [("busybox", true), ("alpine:3", false)]);
    assert_eq!(
        err("FROM scratch\nCOPY --from=5 a b\n", &opts()),
        "invalid stage index 5"
    );
    assert_eq!(
        err("FROM scratch\nARG S=x\nCOPY --from=$S a b\n", &opts()),
        "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"
    );
}

#[test]
fn target_prunes_unreachable_stages() {
    let df = "FROM busybox AS base\nFROM base AS dev\nRUN dev\nFROM alpine AS tools\nFROM base AS prod\nCOPY --from=tools /t /\nFROM scratch AS other\n";
    let g = compile(df, &target("prod")).unwrap();
    let idx: Vec<usize> = g.stages.iter().map(|s| s.index).collect();
    assert_eq!(idx, [0, 2, 3]);
    assert_eq!(g.target, 3);
    assert_eq!(g.stage(3).unwrap().depends_on, [0, 2]);
    let refs: Vec<&str> = g
        .external_images
        .iter()
        .map(|e| e.reference.as_str())
        .collect();
    assert_eq!(refs, ["busybox", "alpine"]);
    // Default target: the last stage, which needs nothing else.
    let g = compile(df, &opts()).unwrap();
    assert_eq!(g.stages.len(), 1);
    assert_eq!(g.target, 4);
    // all_stages (what --check does) keeps everything.
    let g = compile(
        df,
        &FrontendOptions {
            all_stages: true,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(g.stages.len(), 5);
}

#[test]
fn independent_stages_in_levels() {
    let df = "FROM busybox AS a\nFROM alpine AS b\nFROM a AS c\nCOPY --from=b / /\nFROM scratch AS d\nFROM c\nCOPY --from=d / /\nRUN --mount=from=a,target=/a ls\n";
    let g = compile(df, &opts()).unwrap();
    assert_eq!(g.levels(), vec![vec![0, 1, 3], vec![2], vec![4]]);
    assert_eq!(g.stage(4).unwrap().depends_on, [0, 2, 3]);
    assert_eq!(g.stage_by_name("C").unwrap().index, 2);
}

#[test]
fn duplicate_names_resolve_like_buildkit() {
    // FROM sees the latest earlier definition; COPY --from the last one overall.
    let df = "FROM busybox AS x\nFROM alpine AS x\nFROM x AS y\nCOPY --from=x / /\n";
    let g = compile(df, &opts()).unwrap();
    assert_eq!(g.stage(2).unwrap().base, Base::Stage(1));
    assert_eq!(g.stage(2).unwrap().steps[0].source, Some(Source::Stage(1)));
}

#[test]
fn onbuild_from_base_stage() {
    let df = "FROM alpine AS src\nRUN mkdir -p /in\nFROM busybox AS base\nONBUILD COPY --from=src /in/file /out/foo\nONBUILD ENV X=1\nFROM base AS mid\nRUN cp /out/foo /out/bar\nFROM scratch\nCOPY --from=mid /out/bar /\n";
    let g = compile(df, &opts()).unwrap();
    // The trigger's COPY --from makes `src` reachable.
    let idx: Vec<usize> = g.stages.iter().map(|s| s.index).collect();
    assert_eq!(idx, [0, 1, 2, 3]);
    let mid = g.stage(2).unwrap();
    assert!(mid.steps[0].onbuild && mid.steps[1].onbuild && !mid.steps[2].onbuild);
    assert_eq!(mid.steps[0].source, Some(Source::Stage(0)));
    assert_eq!(mid.steps[0].command.lines(), LineRange::new(6, 6));
    assert_eq!(mid.depends_on, [0, 1]);
    assert!(mid.config.on_build.is_empty(), "triggers do not carry over");
    assert_eq!(g.stage(1).unwrap().config.on_build.len(), 2);
    assert_eq!(mid.config.env_get("X"), Some("1"));
}

#[test]
fn onbuild_from_base_image_config() {
    let mut o = opts();
    o.base_images.insert(
        "parent".into(),
        ImageConfig {
            on_build: vec![
                "RUN mkdir -p /out && echo -n 11 >> /out/foo".into(),
                "COPY --from=alpine /etc/alpine-release /out/r".into(),
            ],
            ..ImageConfig::default()
        },
    );
    let g = compile("\nFROM parent AS base\nRUN echo\n", &o).unwrap();
    let st = &g.stages[0];
    assert_eq!(st.steps.len(), 3);
    assert!(st.steps[0].onbuild);
    assert_eq!(st.steps[0].command.start_line, 2);
    assert_eq!(st.steps[1].source, Some(Source::Image("alpine".into())));
    assert!(
        st.config.on_build.is_empty(),
        "consumed triggers are not passed on"
    );
    assert!(g
        .external_images
        .iter()
        .any(|e| e.reference == "alpine" && !e.is_base));
    o.base_images.get_mut("parent").unwrap().on_build = vec!["FROM x".into()];
    let e = compile("FROM parent\n", &o).unwrap_err();
    assert_eq!(e.line(), Some(1));
    o.base_images.get_mut("parent").unwrap().on_build = vec!["RUN a\nRUN b".into()];
    assert_eq!(
        err("FROM parent\n", &o),
        "onbuild trigger should be a single expression"
    );
}

#[test]
fn onbuild_commands_api() {
    let loc = LineRange::new(3, 4);
    let cmds = onbuild_commands(&["RUN echo hi".into(), "COPY a b".into()], loc).unwrap();
    assert_eq!(cmds.len(), 2);
    assert!(matches!(cmds[0].instruction, Instruction::Run(_)));
    assert_eq!((cmds[1].start_line, cmds[1].end_line), (3, 4));
    let e = onbuild_commands(&["ONBUILD RUN x".into()], loc).unwrap_err();
    assert_eq!(
        e.message,
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(e.locations, [loc]);
    let e = onbuild_commands(&["MAINTAINER me".into()], loc).unwrap_err();
    assert_eq!(e.message, "MAINTAINER isn't allowed as an ONBUILD trigger");
}

#[test]
fn workdir_and_user_inherit_across_stages() {
    let df = "FROM scratch AS a\nWORKDIR /app\nUSER me\nFROM a\nWORKDIR sub\nRUN pwd\n";
    let g = compile(df, &opts()).unwrap();
    let st = g.target_stage();
    assert_eq!(st.steps[0].workdir, "/app/sub");
    assert_eq!(st.steps[0].mkdir.as_deref(), Some("/app/sub"));
    assert_eq!(st.steps[1].user, "me");
    assert!(g.warnings.is_empty(), "{:?}", g.warnings);
}

#[test]
fn errors_render_with_file_and_line() {
    let src = "FROM scratch\nENV foo=bar\nCOPY --foo=bar / /\n";
    let e = compile(src, &opts()).unwrap_err();
    assert_eq!(
        e.render(src, "Dockerfile"),
        "Dockerfile:3: unknown flag: --foo (did you mean from?)\n 3 | COPY --foo=bar / /\n   | ^\n"
    );
    let src = "from scratch\nrun wh\\\nat\nenv bar=baz\nfoo\n";
    let e = compile(src, &opts()).unwrap_err();
    assert_eq!(e.message, "unknown instruction: foo (did you mean from?)");
    assert_eq!(e.line(), Some(5));
}
