//! Parse-time benchmark: a generated 10,000-line Dockerfile, timed over several runs.
//! Run with `cargo bench -p strata-builder --bench parse` (target: under 10 ms).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use strata_builder::dockerfile::parser::parse;

/// About `lines` lines mixing every common shape: flags, continuations, exec form,
/// ENV/LABEL pairs, heredocs and comments.
fn dockerfile(lines: usize) -> String {
    let mut s = String::from(
        "# syntax=docker/dockerfile:1\nFROM --platform=linux/amd64 alpine:3.19 AS base\n",
    );
    let (mut i, mut count) = (0, 2);
    while count < lines {
        let before = s.len();
        let _ = match i % 8 {
            0 => writeln!(s, "# step {i}\nRUN --mount=type=cache,target=/var/cache/apk apk add --no-cache pkg{i} \\\n    && echo done{i}"),
            1 => writeln!(s, "ENV KEY{i}=value{i} OTHER{i}=\"quoted value {i}\" PATH=/usr/local/bin:$PATH"),
            2 => writeln!(s, "COPY --from=base --chown=1000:1000 --chmod=755 src/{i} /app/{i}/"),
            3 => writeln!(s, "CMD [\"/bin/server\", \"--port\", \"{i}\", \"--verbose\"]"),
            4 => writeln!(s, "RUN <<EOF\nset -eux\necho line {i}\nEOF"),
            5 => writeln!(s, "LABEL org.example.n{i}=\"v{i}\" other{i}=x"),
            6 => writeln!(s, "ARG VERSION{i}=1.{i}\nWORKDIR /work/{i}\nUSER 1000:1000"),
            _ => writeln!(s, "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost:{i}/ || exit 1"),
        };
        count += s[before..].matches('\n').count();
        i += 1;
    }
    s
}

fn main() {
    let src = dockerfile(10_000);
    let lines = src.lines().count();
    let ast = parse(&src).expect("generated Dockerfile parses");
    let mut times: Vec<Duration> = (0..30)
        .map(|_| {
            let t = Instant::now();
            black_box(parse(black_box(&src)).expect("parse"));
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "parse: {lines} lines, {} bytes, {} instructions: median {:?}, min {:?}, max {:?}",
        src.len(),
        ast.children.len(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}
