//! Parser features one by one; expected values follow BuildKit's parser tests and behaviour.

use strata_builder::dockerfile::ast::{Arg, Ast, Heredoc, Node};
use strata_builder::dockerfile::dump::{dump, dump_node};
use strata_builder::dockerfile::error::{ParseError, ParseErrorKind};
use strata_builder::dockerfile::parser::parse;

fn ok(src: &str) -> Ast {
    parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

fn err(src: &str) -> ParseError {
    match parse(src) {
        Ok(ast) => panic!("{src:?} parsed: {}", dump(&ast)),
        Err(e) => e,
    }
}

/// The dump of a one-instruction file (after `FROM a`).
fn one(src: &str) -> String {
    let ast = ok(&format!("FROM a\n{src}"));
    assert_eq!(ast.children.len(), 2, "{src:?}");
    dump_node(&ast.children[1])
}

fn heredoc(name: &str, content: &str, expand: bool, chomp: bool, fd: u64) -> Heredoc {
    Heredoc {
        name: name.into(),
        file_descriptor: fd,
        expand,
        chomp,
        content: content.into(),
    }
}

#[test]
fn extracts_heredocs() {
    // BuildKit's TestParseExtractsHeredoc.
    let src = "\nFROM alpine:3.6\n\nENV NAME=me\n\nRUN ls\n\nUSER <<INVALID\nINVALID\n\nRUN <<EMPTY\nEMPTY\n\nRUN 3<<EMPTY2\nEMPTY2\n\nRUN \"<<NOHEREDOC\"\n\nRUN <<INDENT\n\tfoo\n\tbar\nINDENT\n\nRUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n\nRUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\nRUN <<-EXPAND\n\texpand $NAME\nEXPAND\n\nRUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n\nRUN <<COPY\necho hello world\necho foo bar\nCOPY\n\nRUN <<COMMENT\n# internal comment\necho hello world\necho foo bar # trailing comment\nCOMMENT\n\nRUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\nCOPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n\nCOPY <<EOF /quotes\n\"foo\"\n'bar'\nEOF\n\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n\nRUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n\nCOPY <<file.txt /dest\nhello world\nfile.txt\n\nRUN <<eo'f'\necho foo\neof\n\nRUN <<eo\\'f\necho foo\neo'f\n\nRUN <<'e'o\\'f\necho foo\neo'f\n\nRUN <<'one two'\necho bar\none two\n\nRUN <<$EOF\n$EOF\n\nRUN <<  EOF\nEOF\n\nRUN <<  EOF  > foo\nEOF\n\t";
    let h = |n, c, e| vec![heredoc(n, c, e, false, 0)];
    let hc = |n, c, e| vec![heredoc(n, c, e, true, 0)];
    let expected: Vec<Vec<Heredoc>> = vec![
        vec![],
        vec![],
        vec![],
        vec![],
        h("EMPTY", "", true),
        vec![heredoc("EMPTY2", "", true, false, 3)],
        vec![],
        h("INDENT", "\tfoo\n\tbar\n", true),
        hc("UNINDENT", "\tbaz\n\tquux\n", true),
        hc("UNINDENT2", "\tbaz\n\tquux\n", true),
        hc("EXPAND", "\texpand $NAME\n", true),
        hc("NOEXPAND", "\tdon't expand $NAME\n", false),
        h("COPY", "echo hello world\necho foo bar\n", true),
        h(
            "COMMENT",
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
            true,
        ),
        h("MOUNT", "echo hello\n", true),
        vec![
            heredoc("FILE1", "content 1\n", true, false, 0),
            heredoc("FILE2", "content 2\n", true, false, 0),
        ],
        h("EOF", "\"foo\"\n'bar'\n", true),
        vec![
            heredoc("X", "Y\n", true, false, 0),
            heredoc("Y", "X\n", true, false, 0),
        ],
        h("COMPLEX", "print('hello world')\n", true),
        h("file.txt", "hello world\n", true),
        h("eof", "echo foo\n", false),
        h("eo'f", "echo foo\n", true),
        h("eo'f", "echo foo\n", false),
        h("one two", "echo bar\n", false),
        h("$EOF", "", true),
        h("EOF", "", true),
        h("EOF", "", true),
    ];
    let ast = ok(src);
    // USER <<INVALID takes no heredoc, so INVALID is an instruction of its own.
    assert_eq!(ast.children[3].keyword, "user");
    assert_eq!(ast.children[4].keyword, "invalid");
    let got: Vec<Vec<Heredoc>> = ast.children[1..]
        .iter()
        .map(|c| c.heredocs.clone())
        .collect();
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "child {}", i + 1);
    }
}

#[test]
fn heredocs_only_in_shell_form_run_copy_add() {
    // BuildKit's TestParseJSONHeredoc.
    let ast = ok("\nFROM alpine:3.6\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n\t");
    assert!(ast.children.iter().all(|c| c.heredocs.is_empty()));
    // CMD and ENTRYPOINT take none: the next line stays an instruction.
    let ast = ok("FROM a\nCMD <<EOF\nEOF\n");
    assert_eq!(dump(&ast), "(from \"a\")\n(cmd \"<<EOF\")\n(eof \"\")\n");
    // ONBUILD RUN takes them, attached to the ONBUILD node.
    let ast = ok("FROM a\nONBUILD ADD <<A /a\nx\nA\n");
    assert_eq!(
        ast.children[1].heredocs,
        vec![heredoc("A", "x\n", true, false, 0)]
    );
    assert_eq!(ast.children[1].end_line, 4);
}

#[test]
fn heredoc_chomp_and_crlf() {
    // BuildKit's TestHeredocChomp.
    let h = heredoc("E", "\thello\n\tworld\n", true, true, 0);
    assert_eq!(h.effective_content(), "hello\nworld\n");
    assert_eq!(
        heredoc("E", "\tx\n", true, false, 0).effective_content(),
        "\tx\n"
    );
    let ast = ok("FROM a\r\nRUN <<EOF\r\necho hi\r\nEOF\r\n");
    assert_eq!(ast.children[1].heredocs[0].content, "echo hi\r\n");
}

#[test]
fn unterminated_heredoc() {
    let e = err("FROM a\nRUN <<EOF\necho hi\n");
    assert_eq!(e.kind, ParseErrorKind::UnterminatedHeredoc);
    assert_eq!((e.line, e.end_line), (2, 3));
    // A line the shell lexer refuses has no heredoc; a delimiter word it then refuses (here
    // split out of a `${x:-...}`, as BuildKit's lexer does) is an error.
    assert_eq!(one("RUN <<'EOF"), "run \"<<'EOF\"");
    assert_eq!(one("RUN <<${X"), "run \"<<${X\"");
    assert_eq!(
        err("FROM a\nRUN ${x:- <<'a b'}\n").to_string(),
        "failed to process \"'a\": unexpected end of statement while looking for matching single-quote"
    );
}

#[test]
fn warns_on_empty_continuation_line() {
    // BuildKit's TestParseWarnsOnEmptyContinutationLine.
    let src = "\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n\t";
    let ast = ok(src);
    assert_eq!(ast.warnings.len(), 2);
    assert!(ast.warnings[0]
        .short
        .contains("Empty continuation line found in"));
    assert!(ast.warnings[0]
        .short
        .contains("RUN something     following     more"));
    assert!(ast.warnings[1].short.contains("RUN another     thing"));
    assert!(ast.warnings[0].detail[0].contains("will become errors in a future release"));
    assert_eq!(ast.warnings[0].lines, Some((11, 11)));
}

#[test]
fn too_long_lines_are_refused() {
    // BuildKit's TestParseReturnsScannerErrors.
    let src = format!("\n\t\tFROM image\n\t\tLABEL test={}\n", "a".repeat(65536));
    let e = err(&src);
    assert_eq!(
        e.to_string(),
        "dockerfile line greater than max allowed size of 65535"
    );
    let fits = format!("FROM image\nLABEL a={}\n", "a".repeat(65535 - 8));
    ok(&fits);
}

#[test]
fn directives() {
    let ast =
        ok("# syntax=docker/dockerfile:1\n# escape=`\n#check=skip=all\nFROM a\nRUN x `\n  y\n");
    assert_eq!(
        ast.directives.syntax.as_deref(),
        Some("docker/dockerfile:1")
    );
    assert_eq!(ast.directives.check.as_deref(), Some("skip=all"));
    assert_eq!(ast.directives.escape, '`');
    assert_eq!(dump_node(&ast.children[1]), "run \"x   y\"");
    assert!(ast.warnings[0]
        .short
        .contains("syntax directive is ignored"));
    assert_eq!(ast.warnings[0].lines, Some((1, 1)));
    // Directives are not comments of the first instruction.
    assert!(ast.children[0].prev_comments.is_empty());

    let e = err("# escape=`\n# ESCAPE=\\\nFROM a\n");
    assert_eq!(
        e.to_string(),
        "only one escape parser directive can be used"
    );
    assert_eq!(e.line, 2);
    let e = err("# escape=x\nFROM a\n");
    assert_eq!(
        e.to_string(),
        "invalid escape token 'x' does not match ` or \\"
    );
    // After a blank line, an instruction or an ordinary comment, directives are comments.
    for src in [
        "\n# escape=`\nFROM a\n",
        "# hi\n# escape=`\nFROM a\n",
        "FROM a\n# escape=`\nRUN b\n",
    ] {
        assert_eq!(ok(src).directives.escape, '\\', "{src:?}");
    }
    assert_eq!(
        ok("FROM a\n# escape=x\n# escape=x\nRUN b\n").children.len(),
        2
    );
}

#[test]
fn bom_crlf_case_and_comments() {
    let ast = ok("\u{feff}# escape=`\r\n# note\r\nfrom a\r\nRuN b `\r\n  # inside\r\n  c\r\n");
    assert_eq!(ast.directives.escape, '`');
    assert_eq!(dump(&ast), "(from \"a\")\n(run \"b   c\")\n");
    assert_eq!(ast.children[0].prev_comments, ["note"]);
    assert_eq!(ast.children[0].span, 23..29);
    assert_eq!(ast.children[1].original, "RuN b   c");
    assert_eq!(
        (ast.children[1].start_line, ast.children[1].end_line),
        (4, 6)
    );
    assert_eq!(ast.children[1].raw_keyword(), "RuN");
    // An empty comment line resets the collected comments; blank lines do not.
    let ast = ok("# a\n#\n# b\n\n# c\nFROM x\n");
    assert_eq!(ast.children[0].prev_comments, ["b", "c"]);
}

#[test]
fn continuations() {
    assert_eq!(one("RUN a \\\n  b \\  \n\tc"), "run \"a   b \\tc\"");
    // An escaped escape at the end is not a continuation.
    let ast = ok("RUN a\\\\\nCMD b");
    assert_eq!(dump(&ast), "(run \"a\\\\\\\\\")\n(cmd \"b\")\n");
    // A file ending inside a continuation ends the instruction.
    assert_eq!(one("RUN a \\"), "run \"a\"");
    // A lone continuation line starts an instruction on the next line.
    assert_eq!(one("\\\nRUN x"), "run \"x\"");
}

#[test]
fn exec_and_shell_forms() {
    let ast = ok(
        "FROM a\nCMD [\"a\", \"b c\"]\nCMD [ \"a\" ] x\nENTRYPOINT []\nSHELL [\"sh\", \"-c\"]\n",
    );
    let c = &ast.children;
    assert!(c[1].json && !c[2].json && c[3].json && c[4].json);
    assert_eq!(dump_node(&c[1]), "cmd \"a\" \"b c\"");
    assert_eq!(dump_node(&c[2]), "cmd \"[ \\\"a\\\" ] x\"");
    assert_eq!(dump_node(&c[3]), "entrypoint");
    assert_eq!(one("RUN ['a']"), "run \"['a']\"");
    assert_eq!(one("COPY [\"a b\", \"c\"]"), "copy \"a b\" \"c\"");
    assert_eq!(one("COPY [\"a\" b"), "copy \"[\\\"a\\\"\" \"b\"");
    assert_eq!(one("VOLUME [\"/v\"]"), "volume \"/v\"");
    assert_eq!(one("RUN [\"\\u00e9\\ud800\"]"), "run \"é\u{fffd}\"");
    assert_eq!(one("RUN [\"a\", 1e400]"), "run \"[\\\"a\\\", 1e400]\"");
    for bad in [
        "CMD [\"a\", 1]",
        "RUN [null]",
        "COPY [[\"a\"]]",
        "ONBUILD RUN [{}]",
    ] {
        let e = err(&format!("FROM a\n{bad}\n"));
        assert_eq!(e.kind, ParseErrorKind::NotStringArray, "{bad}");
        assert_eq!(e.line, 2);
    }
}

#[test]
fn flags() {
    let cases = [
        ("FROM --platform=linux/arm64 a AS b", "from [\"--platform=linux/arm64\"] \"a\" \"AS\" \"b\""),
        (
            "COPY --from=build --chown=1:1 --chmod=755 --link --parents --exclude=*.md a /b",
            "copy [\"--from=build\" \"--chown=1:1\" \"--chmod=755\" \"--link\" \"--parents\" \"--exclude=*.md\"] \"a\" \"/b\"",
        ),
        (
            "ADD --checksum=sha256:00 --keep-git-dir=true https://x/y /z",
            "add [\"--checksum=sha256:00\" \"--keep-git-dir=true\"] \"https://x/y\" \"/z\"",
        ),
        (
            "RUN --mount=type=cache,target=/a --mount=type=secret,id=s --network=none --security=insecure make",
            "run [\"--mount=type=cache,target=/a\" \"--mount=type=secret,id=s\" \"--network=none\" \"--security=insecure\"] \"make\"",
        ),
        (
            "HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --start-interval=1s --retries=3 CMD [\"c\"]",
            "healthcheck [\"--interval=5s\" \"--timeout=3s\" \"--start-period=1s\" \"--start-interval=1s\" \"--retries=3\"] \"CMD\" \"c\"",
        ),
        // Quotes and escapes inside flags are removed; `--` ends the flags.
        ("COPY --chown=\"a b\" --x=a\\ b -- --y /d", "copy [\"--chown=a b\" \"--x=a b\"] \"--y\" \"/d\""),
        ("RUN -x --y", "run \"-x --y\""),
    ];
    for (src, want) in cases {
        assert_eq!(one(src), want, "{src}");
    }
}

#[test]
fn instructions() {
    let cases = [
        ("ENV a b c", "env \"a\" \"b c\" \"\""),
        (
            "ENV a=b c=\"d e\" f=g\\ h",
            "env \"a\" \"b\" \"=\" \"c\" \"\\\"d e\\\"\" \"=\" \"f\" \"g\\\\ h\" \"=\"",
        ),
        ("LABEL \"k y\"=v", "label \"\\\"k y\\\"\" \"v\" \"=\""),
        ("LABEL", "label"),
        ("ARG a b=c d=\"e f\"", "arg \"a\" \"b=c\" \"d=\\\"e f\\\"\""),
        ("MAINTAINER Jo <jo@x>", "maintainer \"Jo <jo@x>\""),
        ("EXPOSE 80/tcp  443", "expose \"80/tcp\" \"443\""),
        ("VOLUME /a /b", "volume \"/a\" \"/b\""),
        ("USER u:g", "user \"u:g\""),
        ("WORKDIR /a b", "workdir \"/a b\""),
        ("STOPSIGNAL SIGKILL", "stopsignal \"SIGKILL\""),
        ("SHELL [\"pwsh\"]", "shell \"pwsh\""),
        ("ENTRYPOINT exec x", "entrypoint \"exec x\""),
        (
            "ONBUILD RUN --mount=x echo",
            "onbuild (run [\"--mount=x\"] \"echo\")",
        ),
        ("ONBUILD", "onbuild"),
        ("HEALTHCHECK NONE", "healthcheck \"NONE\""),
        (
            "HEALTHCHECK CMD curl -f x",
            "healthcheck \"CMD\" \"curl -f x\"",
        ),
        // The parser accepts unknown instructions; the instruction layer refuses them.
        ("RUNN x", "runn \"\""),
    ];
    for (src, want) in cases {
        assert_eq!(one(src), want, "{src}");
    }
    let ast = ok("FROM a\nONBUILD RUN x\n");
    match &ast.children[1].args[0] {
        Arg::Node(n) => {
            assert_eq!((n.keyword.as_str(), n.start_line), ("run", 2));
            assert_eq!(n.words().collect::<Vec<_>>(), ["x"]);
        }
        Arg::Word(w) => panic!("word {w}"),
    }
}

#[test]
fn instruction_errors() {
    let e = err("FROM a\nENV PATH\n");
    assert_eq!(e.to_string(), "ENV must have two arguments");
    assert_eq!((e.line, e.end_line), (2, 2));
    let e = err("FROM a\nLABEL a=b \\\n c\n");
    assert_eq!(
        e.to_string(),
        "Syntax error - can't find = in \"c\". Must be of the form: name=value"
    );
    assert_eq!((e.line, e.end_line), (2, 3));
    assert_eq!(
        err("ONBUILD ENV x\n").to_string(),
        "ENV must have two arguments"
    );
    for src in ["", "\n\n", "# only\n# comments\n", "\u{feff}", "  \t\n"] {
        assert_eq!(err(src).kind, ParseErrorKind::NoInstructions, "{src:?}");
    }
    // A lone escape line followed by nothing is an instruction with an empty keyword.
    assert_eq!(dump(&ok("\\\n")), "(\"\")\n");
}

#[test]
fn error_rendering() {
    let src = "FROM a\n\tRUNN x\n";
    let e = ParseError::new(ParseErrorKind::UnknownInstruction("RUNN".into()), 2);
    assert_eq!(
        e.render("Dockerfile", src),
        "Dockerfile:2: unknown instruction: RUNN\n 2 | \tRUNN x\n   | \t^\n"
    );
    let e = e.with_column(7);
    assert!(e
        .render("Dockerfile", src)
        .ends_with(" 2 | \tRUNN x\n   | \t     ^\n"));
    let e = err("");
    assert_eq!(
        e.render("Dockerfile", ""),
        "Dockerfile: file with no instructions\n"
    );
}

#[test]
fn lines_and_spans() {
    let src = "FROM a\n\n  RUN b \\\n c\nCOPY <<X /x\nbody\nX\nENV z=1";
    let ast = ok(src);
    let got: Vec<(usize, usize, &str)> = ast
        .children
        .iter()
        .map(|c: &Node| (c.start_line, c.end_line, &src[c.span.clone()]))
        .collect();
    assert_eq!(
        got,
        [
            (1, 1, "FROM a"),
            (3, 4, "RUN b \\\n c"),
            (5, 7, "COPY <<X /x\nbody\nX"),
            (8, 8, "ENV z=1"),
        ]
    );
}

/// A small deterministic generator standing in for a fuzzer: parse must never panic.
#[test]
fn never_panics() {
    const PIECES: &[&str] = &[
        "RUN ",
        "COPY ",
        "ONBUILD ",
        "HEALTHCHECK ",
        "ENV ",
        "FROM ",
        "<<",
        "<<-",
        "EOF",
        "'",
        "\"",
        "\\",
        "`",
        "$",
        "${",
        "}",
        ":-",
        "[",
        "]",
        ",",
        "--",
        "=",
        " ",
        "\t",
        "\n",
        "\n",
        "\r\n",
        "#",
        "# escape=`\n",
        "\u{feff}",
        "\u{a0}",
        "é",
        "ࠀ",
        "😀",
        "\u{85}",
        "1e400",
        "\\ud800",
        "null",
        "{",
        "3<<",
        "a",
        "/",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = next() % 40;
        let src: String = (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        if let Ok(ast) = parse(&src) {
            let _ = dump(&ast);
            for c in &ast.children {
                assert!(src.get(c.span.clone()).is_some(), "{src:?}");
                assert!(c.start_line <= c.end_line);
            }
        }
    }
}

#[test]
fn deep_onbuild_nesting() {
    // The line-length limit allows ~8,000 nested ONBUILDs: parse, dump and drop must not
    // recurse that deep (test threads have small stacks).
    let src = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(8150));
    let ast = ok(&src);
    let d = dump(&ast);
    let tail = format!("(run \"x\"){}\n", ")".repeat(8150));
    assert!(d.ends_with(&tail));
    assert_eq!(d.matches("(onbuild ").count(), 8150);
}
