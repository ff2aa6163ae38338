//! Dockerfile front end, end to end: arbitrary bytes (UTF-8, lossily) -> parser -> dump
//! -> word expansion of every instruction word and heredoc body -> typed instructions ->
//! build graph (`compile`, twice, the second time with base-image configs whose ONBUILD
//! triggers, ENV, WORKDIR and SHELL come from the input) -> `check` and the renderers.
//!
//! Nothing may panic, overflow the stack or hang. The options (build args, target,
//! platform) are picked from a checksum of the input so that the text itself stays a
//! plain Dockerfile (seeds are Dockerfiles as they are).

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use strata_builder::dockerfile::ast::{Arg, Node};
use strata_builder::dockerfile::dump::{dump, dump_heredocs, dump_node};
use strata_builder::dockerfile::instructions::{parse_instruction, LineRange};
use strata_builder::dockerfile::parser::parse;
use strata_builder::dockerfile::shell::Lexer;
use strata_builder::graph::{self, FrontendOptions, ImageConfig, Platform};

/// A fixed environment for the word expansions: set, empty, multi-word and
/// self-referencing values.
fn env() -> Vec<(String, String)> {
    [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
        ("A", "a b  c"),
        ("X", "$Y ${Z:-w} 'q' \"d\" \\"),
        ("HOME", "/root"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The lexer modes the parser and the compiler use, plus all flags at once.
fn lexers(escape: char) -> [Lexer; 3] {
    let all = Lexer {
        escape,
        raw_quotes: true,
        raw_escapes: true,
        skip_process_quotes: true,
        skip_unset_env: true,
    };
    [
        Lexer::new(escape),
        Lexer::new(escape).with_raw_quotes_and_unset(),
        all,
    ]
}

fn expand_all(lexers: &[Lexer], env: &[(String, String)], word: &str) {
    for lex in lexers {
        let _ = lex.process_word_with_matches(word, env);
    }
}

/// Walks the node and its ONBUILD-nested nodes without recursion (the nesting depth is
/// attacker-controlled).
fn visit(root: &Node, lexers: &[Lexer], env: &[(String, String)]) {
    let mut todo: Vec<&Node> = vec![root];
    let mut nested = 0usize;
    while let Some(node) = todo.pop() {
        let _ = node.raw_keyword();
        for flag in &node.flags {
            expand_all(lexers, env, flag);
        }
        for arg in &node.args {
            match arg {
                Arg::Word(w) => expand_all(lexers, env, w),
                Arg::Node(n) => {
                    nested += 1;
                    todo.push(n);
                }
            }
        }
        for h in &node.heredocs {
            let body = h.effective_content();
            if h.expand {
                expand_all(&lexers[..1], env, &body);
            }
            expand_all(lexers, env, &h.name);
        }
    }
    // dump_node of a shallow node (a deep one is covered by `dump` of the whole file).
    if nested < 64 {
        let _ = dump_node(root);
        let _ = parse_instruction(root);
    }
}

fn checksum(data: &[u8]) -> u8 {
    data.iter().fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(*b))
}

fn options(sel: u8, src: &str) -> FrontendOptions {
    let mut opts = FrontendOptions {
        build_platform: Platform::new("linux", "amd64", ""),
        ..FrontendOptions::default()
    };
    if sel & 1 != 0 {
        for (k, v) in [
            ("A", "from-build-arg"),
            ("HTTP_PROXY", "http://proxy"),
            ("BASE", "alpine"),
            ("TARGETPLATFORM", "x"),
            ("V", "${A}"),
        ] {
            opts.build_args.insert(k.into(), v.into());
        }
    }
    if sel & 2 != 0 {
        opts.target_platform = Some(Platform::new("linux", "arm", "v7"));
    }
    if sel & 4 != 0 {
        // A target named after some word of the input (often a stage name).
        let word = src
            .split_whitespace()
            .nth((sel >> 4) as usize)
            .unwrap_or("build");
        opts.target = Some(word.to_string());
    }
    if sel & 8 != 0 {
        opts.all_stages = true;
        opts.proxy_env
            .insert("no_proxy".into(), "localhost".into());
    }
    opts
}

/// A base image config whose fields come from the input's lines.
fn base_config(src: &str) -> ImageConfig {
    let lines: Vec<&str> = src.lines().take(8).collect();
    let pick = |i: usize| lines.get(i).copied().unwrap_or("").to_string();
    ImageConfig {
        os: "linux".into(),
        architecture: "amd64".into(),
        env: vec![pick(0), "PATH=/usr/bin".into(), pick(1)],
        working_dir: pick(2),
        user: pick(3),
        shell: if lines.len() > 4 {
            vec!["/bin/sh".into(), pick(4)]
        } else {
            Vec::new()
        },
        on_build: lines.iter().skip(5).map(|l| l.to_string()).collect(),
        ..ImageConfig::default()
    }
}

fn compile(src: &str, sel: u8) {
    let mut opts = options(sel, src);
    match graph::compile(src, &opts) {
        Ok(g) => {
            let _ = g.levels();
            let _ = g.target_stage();
            for s in &g.stages {
                if let Some(name) = &s.name {
                    let _ = g.stage_by_name(name);
                }
            }
            if g.external_images.is_empty() {
                return;
            }
            // The solver's second pass: the same file with the bases' configs known.
            let base = base_config(src);
            let mut images = BTreeMap::new();
            for img in &g.external_images {
                images.insert(img.reference.clone(), base.clone());
            }
            opts.base_images = images;
            match graph::compile(src, &opts) {
                Ok(g) => {
                    let _ = g.levels();
                }
                Err(e) => {
                    let _ = e.render(src, "Dockerfile");
                }
            }
        }
        Err(e) => {
            let _ = e.render(src, "Dockerfile");
            let _ = e.line();
        }
    }
    let report = graph::check(src, "Dockerfile", &opts);
    let _ = report.failed();
    let _ = report.render(src);
}

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let src: &str = &src;
    let sel = checksum(data);

    match parse(src) {
        Ok(ast) => {
            let _ = dump(&ast);
            let _ = dump_heredocs(&ast);
            let env = env();
            let lexers = lexers(ast.directives.escape);
            for node in &ast.children {
                visit(node, &lexers, &env);
                if node.span.start > node.span.end || node.span.end > src.len() {
                    panic!("span {:?} outside the source ({} bytes)", node.span, src.len());
                }
                if node.start_line > node.end_line {
                    panic!("start line {} after end line {}", node.start_line, node.end_line);
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = e.render("Dockerfile", src);
        }
    }

    // Each line as an ONBUILD trigger of a base image.
    if src.len() < 4096 {
        let triggers: Vec<String> = src.lines().take(16).map(str::to_string).collect();
        let _ = graph::onbuild_commands(&triggers, LineRange::new(1, 1));
    }

    compile(src, sel);
});
