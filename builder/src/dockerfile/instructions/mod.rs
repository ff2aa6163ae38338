//! Typed instructions built from AST nodes, following BuildKit's
//! `frontend/dockerfile/instructions/parse.go`: the same argument checks, flag sets and
//! error messages. Nothing is expanded here; see [`crate::graph`] for that.

mod change;
mod error;
pub(crate) mod expose;
mod flags;
mod run;
pub(crate) mod values;

use std::time::Duration;

pub use change::{normalize_workdir, parse_change, ConfigChange, DEFAULT_SHELL};
pub use error::{FrontendError, LineRange};
pub use run::{
    parse_device, parse_mount, CacheSharing, Device, Mount, MountExpander, MountType, NetworkMode,
    Security,
};

pub(crate) use error::{suggest, with_suggestion};

use super::ast::{Arg, Heredoc, Node};
use flags::{Flags, Kind};

/// A command line in shell form (run through the stage's shell) or exec (JSON) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    /// Shell form: the words joined by single spaces, as BuildKit joins them.
    Shell(String),
    /// Exec form: the JSON array's elements.
    Exec(Vec<String>),
}

impl ShellOrExec {
    /// Whether the stage's shell is prepended (shell form).
    pub fn prepends_shell(&self) -> bool {
        matches!(self, ShellOrExec::Shell(_))
    }

    /// The argument vector once the shell is prepended (BuildKit's `withShell`).
    pub fn with_shell(&self, shell: &[String]) -> Vec<String> {
        match self {
            ShellOrExec::Shell(s) => {
                let mut v = shell.to_vec();
                v.push(s.clone());
                v
            }
            ShellOrExec::Exec(v) => v.clone(),
        }
    }
}

/// A key/value pair of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value (quotes still in until expansion).
    pub value: String,
    /// Written in the legacy `KEY value` form without `=` (a lint warning).
    pub no_delim: bool,
}

/// One name of an ARG instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default value, if one is written (`ARG A=` has an empty default).
    pub default: Option<String>,
}

/// FROM: the start of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The base: an image reference, a stage name or `scratch` (unexpanded).
    pub image: String,
    /// The stage name after AS, lower-cased as BuildKit does.
    pub name: Option<String>,
    /// `--platform=` (unexpanded).
    pub platform: Option<String>,
    /// The AS keyword as written (for the FromAsCasing rule).
    pub as_keyword: Option<String>,
    /// The stage name as written (for the StageNameCasing rule).
    pub name_as_written: Option<String>,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command.
    pub command: ShellOrExec,
    /// `--mount` values as written (parsed again, expanded, when the step is dispatched).
    pub mount_specs: Vec<String>,
    /// The mounts as BuildKit's first pass sees them: only `from` is known for sure.
    pub mounts: Vec<Mount>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--security`.
    pub security: Security,
    /// `--device`.
    pub devices: Vec<Device>,
    /// Heredoc bodies (not chomped).
    pub heredocs: Vec<Heredoc>,
    /// The flags given, in order.
    pub flags_used: Vec<String>,
}

/// A heredoc used as a COPY/ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContent {
    /// The file name: the heredoc's name.
    pub path: String,
    /// The content, with `<<-` tabs already stripped.
    pub data: String,
    /// Whether variables in the content are expanded.
    pub expand: bool,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    /// Source paths (or URLs for ADD).
    pub sources: Vec<String>,
    /// Heredoc sources.
    pub contents: Vec<SourceContent>,
    /// The destination.
    pub dest: String,
    /// `--from=` (COPY only): a stage name or index, or an image.
    pub from: Option<String>,
    /// `--chown=`.
    pub chown: Option<String>,
    /// `--chmod=`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--exclude=` patterns.
    pub exclude: Vec<String>,
    /// `--parents` (COPY only).
    pub parents: bool,
    /// `--checksum=` (ADD only).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD only), when given.
    pub keep_git_dir: Option<bool>,
    /// `--unpack` (ADD only), when given.
    pub unpack: Option<bool>,
}

/// HEALTHCHECK's configuration (`test == ["NONE"]` disables the base image's check).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    /// `--interval`.
    pub interval: Duration,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--start-period`.
    pub start_period: Duration,
    /// `--start-interval`.
    pub start_interval: Duration,
    /// `--retries`.
    pub retries: i64,
}

/// A typed instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// FROM.
    From(From),
    /// RUN.
    Run(Run),
    /// CMD.
    Cmd(ShellOrExec),
    /// ENTRYPOINT (`ENTRYPOINT []` is `Exec(vec![])`: it clears the entrypoint).
    Entrypoint(ShellOrExec),
    /// ENV.
    Env(Vec<KeyValue>),
    /// LABEL.
    Label(Vec<KeyValue>),
    /// EXPOSE (sorted as BuildKit sorts them).
    Expose(Vec<String>),
    /// VOLUME.
    Volume(Vec<String>),
    /// USER.
    User(String),
    /// WORKDIR.
    Workdir(String),
    /// ARG.
    Arg(Vec<ArgDecl>),
    /// ONBUILD: the trigger's source text, stored in the image config.
    Onbuild(String),
    /// STOPSIGNAL.
    StopSignal(String),
    /// HEALTHCHECK.
    Healthcheck(Healthcheck),
    /// SHELL.
    Shell(Vec<String>),
    /// COPY.
    Copy(Copy),
    /// ADD.
    Add(Copy),
    /// MAINTAINER.
    Maintainer(String),
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The typed instruction.
    pub instruction: Instruction,
    /// The keyword as written (`COPY`, `copy`, `Copy`).
    pub keyword: String,
    /// The instruction's source text, trimmed (BuildKit's `String()` of a command).
    pub code: String,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line, heredoc bodies included.
    pub end_line: usize,
    /// The comment lines right above it, without `#`.
    pub comments: Vec<String>,
}

impl Command {
    /// The instruction's lines as a range.
    pub fn lines(&self) -> LineRange {
        LineRange::new(self.start_line, self.end_line)
    }
}

/// Every instruction keyword BuildKit knows, upper-cased (for suggestions).
pub const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// The keyword as written (`COPY`, `copy`).
pub(crate) fn written_keyword(node: &Node) -> String {
    let k = node.raw_keyword();
    if k.is_empty() {
        node.keyword.clone()
    } else {
        k.to_string()
    }
}

/// BuildKit's `ChompHeredocContent`: leading tabs stripped from every line.
fn chomp_tabs(content: &str) -> String {
    Heredoc {
        chomp: true,
        content: content.to_string(),
        ..Heredoc::default()
    }
    .effective_content()
    .into_owned()
}

/// BuildKit's `nodeArgs`: the words, with a nested instruction flattened to its keyword
/// followed by its own words.
fn node_args(node: &Node) -> Vec<String> {
    let mut out = Vec::new();
    for a in &node.args {
        match a {
            Arg::Word(w) => out.push(w.clone()),
            Arg::Node(n) => {
                out.push(written_keyword(n));
                out.extend(node_args(n));
            }
        }
    }
    out
}

/// Parses one AST node into a typed instruction (BuildKit's `ParseInstruction`).
/// Errors carry the node's lines.
pub fn parse_instruction(node: &Node) -> Result<Command, FrontendError> {
    let keyword = written_keyword(node);
    let instruction = parse_kind(node, &keyword)
        .map_err(|m| FrontendError::at(m, node.start_line, node.end_line))?;
    Ok(Command {
        instruction,
        keyword,
        code: node.original.trim().to_string(),
        start_line: node.start_line,
        end_line: node.end_line,
        comments: node.prev_comments.clone(),
    })
}

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

fn no_flags(node: &Node) -> Result<(), String> {
    Flags::parse(&node.flags, &[]).map(|_| ())
}

fn parse_kind(node: &Node, keyword: &str) -> Result<Instruction, String> {
    let args = node_args(node);
    match node.keyword.as_str() {
        "env" => {
            no_flags(node)?;
            Ok(Instruction::Env(parse_kvps(&args, "ENV")?))
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            no_flags(node)?;
            Ok(Instruction::Maintainer(args[0].clone()))
        }
        "label" => {
            no_flags(node)?;
            Ok(Instruction::Label(parse_kvps(&args, "LABEL")?))
        }
        "add" => parse_copy(node, &args, true).map(Instruction::Add),
        "copy" => parse_copy(node, &args, false).map(Instruction::Copy),
        "from" => parse_from(node, &args).map(Instruction::From),
        "onbuild" => parse_onbuild(node, &args).map(Instruction::Onbuild),
        "workdir" => {
            if args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            no_flags(node)?;
            Ok(Instruction::Workdir(args[0].clone()))
        }
        "run" => parse_run(node, &args).map(Instruction::Run),
        "cmd" => {
            no_flags(node)?;
            Ok(Instruction::Cmd(command_line(node, &args)))
        }
        "entrypoint" => {
            no_flags(node)?;
            Ok(Instruction::Entrypoint(command_line(node, &args)))
        }
        "healthcheck" => parse_healthcheck(node, &args).map(Instruction::Healthcheck),
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            no_flags(node)?;
            let mut ports = args;
            // BuildKit sorts the raw words before expanding them.
            ports.sort();
            Ok(Instruction::Expose(ports))
        }
        "user" => {
            if args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            no_flags(node)?;
            Ok(Instruction::User(args[0].clone()))
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            no_flags(node)?;
            let mut vols = Vec::new();
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                vols.push(v.to_string());
            }
            Ok(Instruction::Volume(vols))
        }
        // BuildKit never parses the flags of STOPSIGNAL and ARG: they are ignored.
        "stopsignal" => {
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            Ok(Instruction::StopSignal(args[0].clone()))
        }
        "arg" => parse_arg(&args).map(Instruction::Arg),
        "shell" => {
            no_flags(node)?;
            if args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Ok(Instruction::Shell(args))
        }
        _ => Err(with_suggestion(
            format!("unknown instruction: {keyword}"),
            keyword,
            INSTRUCTIONS,
            false,
        )),
    }
}

fn parse_kvps(args: &[String], cmd: &str) -> Result<Vec<KeyValue>, String> {
    if args.is_empty() {
        return Err(at_least_one(cmd));
    }
    if args.len() % 3 != 0 {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    let mut out = Vec::new();
    for t in args.chunks(3) {
        if t[0].is_empty() {
            return Err(format!("{cmd} names can not be blank"));
        }
        out.push(KeyValue {
            key: t[0].clone(),
            value: t[1].clone(),
            no_delim: t[2].is_empty(),
        });
    }
    Ok(out)
}

/// BuildKit's `handleJSONArgs`: exec form keeps the words, shell form joins them.
fn command_line(node: &Node, args: &[String]) -> ShellOrExec {
    if node.json {
        ShellOrExec::Exec(args.to_vec())
    } else {
        ShellOrExec::Shell(args.join(" "))
    }
}

/// A heredoc marker word (`<<EOF`, `<<-"EOF"`, `3<<EOF`) as BuildKit's `MustParseHeredoc`:
/// `(name, chomp, expand)`.
pub(crate) fn heredoc_marker(word: &str) -> Option<(String, bool, bool)> {
    match super::heredoc::parse_heredoc(word) {
        Ok(Some(h)) => Some((h.name, h.chomp, h.expand)),
        _ => None,
    }
}

fn parse_copy(node: &Node, args: &[String], add: bool) -> Result<Copy, String> {
    let name = if add { "ADD" } else { "COPY" };
    if args.len() < 2 {
        return Err(format!(
            "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let defs: &[(&'static str, Kind)] = if add {
        &[
            ("chown", Kind::Str),
            ("chmod", Kind::Str),
            ("link", Kind::Bool),
            ("keep-git-dir", Kind::Bool),
            ("checksum", Kind::Str),
            ("unpack", Kind::Bool),
            ("exclude", Kind::Strs),
        ]
    } else {
        &[
            ("chown", Kind::Str),
            ("from", Kind::Str),
            ("chmod", Kind::Str),
            ("link", Kind::Bool),
            ("exclude", Kind::Strs),
            ("parents", Kind::Bool),
        ]
    };
    let f = Flags::parse(&node.flags, defs)?;
    let (srcs, dest) = args.split_at(args.len() - 1);
    let dest = dest[0].clone();
    if heredoc_marker(&dest).is_some() {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    let mut c = Copy {
        dest,
        from: f.str("from"),
        chown: f.str("chown"),
        chmod: f.str("chmod"),
        link: f.bool("link"),
        exclude: f.list("exclude"),
        parents: f.bool("parents"),
        checksum: f.str("checksum"),
        keep_git_dir: f.opt_bool("keep-git-dir"),
        unpack: f.opt_bool("unpack"),
        ..Copy::default()
    };
    for src in srcs {
        match heredoc_marker(src) {
            Some((name, chomp, expand)) => {
                let body = node
                    .heredocs
                    .iter()
                    .rev()
                    .find(|h| h.name == name)
                    .map(|h| h.content.clone())
                    .unwrap_or_default();
                let data = if chomp { chomp_tabs(&body) } else { body };
                c.contents.push(SourceContent {
                    path: name,
                    data,
                    expand,
                });
            }
            None => c.sources.push(src.clone()),
        }
    }
    Ok(c)
}

fn parse_from(node: &Node, args: &[String]) -> Result<From, String> {
    let (name, written, as_kw) = if args.len() == 3 && args[1].eq_ignore_ascii_case("as") {
        let lower = args[2].to_lowercase();
        if !valid_stage_name(&lower) {
            return Err(format!(
                "invalid name for build stage: {}, name can't start with a number or contain symbols",
                values::go_quote(&args[2])
            ));
        }
        (Some(lower), Some(args[2].clone()), Some(args[1].clone()))
    } else if args.len() != 1 {
        return Err("FROM requires either one or three arguments".into());
    } else {
        (None, None, None)
    };
    let f = Flags::parse(&node.flags, &[("platform", Kind::Str)])?;
    Ok(From {
        image: args[0].clone(),
        name,
        platform: f.str("platform"),
        as_keyword: as_kw,
        name_as_written: written,
    })
}

/// `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(s: &str) -> bool {
    let mut it = s.chars();
    matches!(it.next(), Some('a'..='z'))
        && it.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}

fn parse_onbuild(node: &Node, args: &[String]) -> Result<String, String> {
    if args.is_empty() {
        return Err(at_least_one("ONBUILD"));
    }
    no_flags(node)?;
    let trigger = args[0].trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => {
            return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into());
        }
        "MAINTAINER" | "FROM" => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"));
        }
        _ => {}
    }
    // `(?i)^\s*ONBUILD\s*` removed from the original text.
    let orig = node.original.trim_start();
    let mut expr = if orig.len() >= 7 && orig[..7].eq_ignore_ascii_case("onbuild") {
        orig[7..].trim_start().to_string()
    } else {
        orig.to_string()
    };
    for h in &node.heredocs {
        expr.push('\n');
        expr.push_str(&h.content);
        expr.push_str(&h.name);
    }
    Ok(expr)
}

fn parse_run(node: &Node, args: &[String]) -> Result<Run, String> {
    let f = Flags::parse(
        &node.flags,
        &[
            ("mount", Kind::Strs),
            ("network", Kind::Str),
            ("security", Kind::Str),
            ("device", Kind::Strs),
        ],
    )?;
    let mount_specs = f.list("mount");
    let mut mounts = Vec::new();
    for spec in &mount_specs {
        mounts.push(parse_mount(spec, None)?);
    }
    let network = run::parse_network(f.raw_str("network").unwrap_or("default"))?;
    let security = run::parse_security(f.raw_str("security").unwrap_or("sandbox"))?;
    let mut devices = Vec::new();
    for d in f.list("device") {
        devices.push(parse_device(&d)?);
    }
    Ok(Run {
        command: command_line(node, args),
        mount_specs,
        mounts,
        network,
        security,
        devices,
        heredocs: node.heredocs.clone(),
        flags_used: f.used(),
    })
}

fn parse_interval(name: &str, v: Option<&str>) -> Result<Duration, String> {
    let Some(s) = v.filter(|s| !s.is_empty()) else {
        return Ok(Duration::ZERO);
    };
    let (neg, ns) = values::parse_go_duration(s)?;
    if ns == 0 {
        return Ok(Duration::ZERO);
    }
    if neg || ns < 1_000_000 {
        return Err(format!(
            "Interval {} cannot be less than 1ms",
            values::go_quote(name)
        ));
    }
    Ok(Duration::from_nanos(ns as u64))
}

fn parse_healthcheck(node: &Node, args: &[String]) -> Result<Healthcheck, String> {
    if args.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let typ = args[0].to_uppercase();
    let rest = &args[1..];
    if typ == "NONE" {
        // BuildKit does not look at the flags of HEALTHCHECK NONE.
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck {
            test: vec![typ],
            ..Healthcheck::default()
        });
    }
    let f = Flags::parse(
        &node.flags,
        &[
            ("interval", Kind::Str),
            ("timeout", Kind::Str),
            ("start-period", Kind::Str),
            ("start-interval", Kind::Str),
            ("retries", Kind::Str),
        ],
    )?;
    let mut hc = Healthcheck::default();
    match typ.as_str() {
        "CMD" => {
            let cmd: Vec<String> = if rest.is_empty() {
                Vec::new()
            } else if node.json {
                rest.to_vec()
            } else {
                vec![rest.join(" ")]
            };
            if cmd.is_empty() {
                return Err("Missing command after HEALTHCHECK CMD".into());
            }
            let t = if node.json { "CMD" } else { "CMD-SHELL" };
            hc.test = std::iter::once(t.to_string()).chain(cmd).collect();
        }
        _ => {
            return Err(format!(
                "Unknown type {} in HEALTHCHECK (try CMD)",
                values::go_quote(&typ)
            ))
        }
    }
    hc.interval = parse_interval("interval", f.raw_str("interval"))?;
    hc.timeout = parse_interval("timeout", f.raw_str("timeout"))?;
    hc.start_period = parse_interval("start-period", f.raw_str("start-period"))?;
    hc.start_interval = parse_interval("start-interval", f.raw_str("start-interval"))?;
    if let Some(r) = f.raw_str("retries").filter(|s| !s.is_empty()) {
        let n = values::parse_go_i32(r)?;
        if n < 0 {
            return Err(format!("--retries cannot be negative ({n})"));
        }
        hc.retries = n;
    }
    Ok(hc)
}

fn parse_arg(args: &[String]) -> Result<Vec<ArgDecl>, String> {
    if args.is_empty() {
        return Err(at_least_one("ARG"));
    }
    let mut out = Vec::new();
    for a in args {
        match a.split_once('=') {
            Some((k, v)) => {
                if k.is_empty() {
                    return Err("ARG names can not be blank".into());
                }
                out.push(ArgDecl {
                    name: k.to_string(),
                    default: Some(v.to_string()),
                });
            }
            None => out.push(ArgDecl {
                name: a.clone(),
                default: None,
            }),
        }
    }
    Ok(out)
}
