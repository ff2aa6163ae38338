//! Dispatching a stage's instructions: expansion against the stage's variables (which
//! words of which instruction, as BuildKit's `Expand` methods), the image config each
//! instruction changes, the history it writes and the checks BuildKit runs there.

use std::collections::BTreeSet;

use super::build::{resolve_source, StageState};
use super::{fmt_duration, Base, HistoryEntry, ImageConfig, RunPlan, Source, Step};
use crate::dockerfile::dump::go_quote;
use crate::dockerfile::instructions::{
    expose, heredoc_marker, parse_mount, suggest, values, Command, FrontendError, Instruction,
    KeyValue, LineRange, MountType, ShellOrExec, DEFAULT_SHELL,
};
use crate::dockerfile::lint::{looks_like_secret, rules, LintConfig, Linter};
use crate::dockerfile::scope::{EnvList, FrontendOptions, GlobalArgs, Platform, NON_ENV_ARGS};
use crate::dockerfile::shell::Lexer;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A dispatched stage: what later stages built on it, or copying from it, need.
#[derive(Debug, Clone)]
pub(crate) struct Dispatched {
    pub env: EnvList,
    pub config: ImageConfig,
    pub build_args: Vec<(String, Option<String>)>,
    pub workdir_set: bool,
    pub platform: Platform,
    pub steps: Vec<Step>,
    pub base_known: bool,
}

#[derive(Default)]
struct Tracker(Option<LineRange>);

struct Ctx<'a> {
    d: Dispatched,
    lex: Lexer,
    lint: &'a mut Linter,
    cfg: LintConfig,
    loc: LineRange,
    used: BTreeSet<String>,
}

impl Ctx<'_> {
    /// Expands one word (BuildKit's single-word expander) and reports undefined variables.
    fn word(&mut self, w: &str) -> Result<String, FrontendError> {
        let lex = self.lex;
        self.word_with(lex, w)
    }

    fn word_with(&mut self, lex: Lexer, w: &str) -> Result<String, FrontendError> {
        let r = lex.process_word_with_matches(w, self.d.env.pairs());
        if let Ok(e) = &r {
            self.used.extend(e.matched.iter().cloned());
            self.undefined(&e.unmatched);
        }
        r.map(|e| e.word)
            .map_err(|e| FrontendError::at(e.to_string(), self.loc.start, self.loc.end))
    }

    fn undefined(&mut self, unmatched: &BTreeSet<String>) {
        if !self.d.base_known {
            // The base's ENV is unknown until its config is given: no guessing.
            return;
        }
        let keys = self.d.env.keys();
        for v in unmatched {
            if self.d.build_args.iter().any(|(k, _)| k == v) || NON_ENV_ARGS.contains(&v.as_str()) {
                continue;
            }
            let mut msg = format!("Usage of undefined variable '${v}'");
            if let Some(s) = suggest(v, &keys, true) {
                msg.push_str(&format!(" (did you mean ${s}?)"));
            }
            self.lint
                .report_with(&self.cfg, &rules::UNDEFINED_VAR, Some(self.loc), msg);
        }
    }

    fn warn(&mut self, rule: &crate::dockerfile::lint::Rule, msg: String) {
        self.lint.report_with(&self.cfg, rule, Some(self.loc), msg);
    }

    fn err(&self, msg: impl Into<String>) -> FrontendError {
        FrontendError::at(msg, self.loc.start, self.loc.end)
    }

    fn history(&mut self, created_by: String, layer: bool) -> Option<HistoryEntry> {
        let h = HistoryEntry {
            created_by,
            empty_layer: !layer,
        };
        self.d.config.history.push(h.clone());
        Some(h)
    }

    fn shell(&self) -> Vec<String> {
        if self.d.config.shell.is_empty() {
            DEFAULT_SHELL.iter().map(|s| s.to_string()).collect()
        } else {
            self.d.config.shell.clone()
        }
    }
}

/// `["a" "b"]`: Go's `%q` of a string slice.
fn go_slice_q(v: &[String]) -> String {
    let parts: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", parts.join(" "))
}

fn empty_image(p: &Platform) -> ImageConfig {
    ImageConfig {
        os: p.os.clone(),
        architecture: p.arch.clone(),
        variant: p.variant.clone(),
        working_dir: "/".into(),
        env: vec![format!("PATH={DEFAULT_PATH}")],
        ..ImageConfig::default()
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn dispatch_stage(
    stages: &[StageState],
    index: usize,
    done: &[Option<Dispatched>],
    base_config: Option<ImageConfig>,
    base_known: bool,
    globals: &GlobalArgs,
    opts: &FrontendOptions,
    escape: char,
    single: bool,
    lint: &mut Linter,
) -> Result<Dispatched, FrontendError> {
    let st = &stages[index];
    let target = opts.effective_target_platform();
    let mut d = match &st.base {
        Base::Stage(b) => {
            let mut d = done[*b].clone().ok_or_else(|| {
                FrontendError::at(
                    "base stage was not built",
                    st.from.start_line,
                    st.from.end_line,
                )
            })?;
            d.config.on_build.clear();
            d.steps.clear();
            d
        }
        base => {
            let platform = st.platform.clone().unwrap_or(target);
            let config = match (base, base_config) {
                (Base::Image(_), Some(c)) => c,
                (Base::Image(_), None) => ImageConfig {
                    os: platform.os.clone(),
                    architecture: platform.arch.clone(),
                    variant: platform.variant.clone(),
                    ..ImageConfig::default()
                },
                _ => empty_image(&platform),
            };
            if let (Base::Image(r), true) = (base, base_known) {
                if !config.os.is_empty()
                    && (config.os != platform.os || config.architecture != platform.arch)
                {
                    let actual = Platform::new(&config.os, &config.architecture, &config.variant);
                    lint.report(
                        &rules::INVALID_BASE_IMAGE_PLATFORM,
                        Some(st.from.lines()),
                        format!(
                            "Base image {r} was pulled with platform {}, expected {} for current build",
                            go_quote(&actual.format()),
                            go_quote(&platform.format())
                        ),
                    );
                }
            }
            Dispatched {
                env: EnvList::new(),
                // The base's triggers run here and are not passed on.
                config: ImageConfig {
                    history: Vec::new(),
                    on_build: Vec::new(),
                    ..config
                },
                build_args: Vec::new(),
                workdir_set: false,
                platform,
                steps: Vec::new(),
                base_known,
            }
        }
    };
    if d.config.env_get("PATH").is_none() && d.platform.os != "windows" {
        d.config.env.push(format!("PATH={DEFAULT_PATH}"));
    }
    for e in d.config.env.clone() {
        let (k, v) = e.split_once('=').unwrap_or((&e, ""));
        d.env.set(k, v);
    }
    let mut ctx = Ctx {
        d,
        lex: Lexer::new(escape),
        lint,
        cfg: LintConfig::default(),
        loc: st.from.lines(),
        used: BTreeSet::new(),
    };
    let (mut cmd_t, mut ep_t, mut hc_t) =
        (Tracker::default(), Tracker::default(), Tracker::default());
    for (cmd, onbuild) in &st.commands {
        ctx.cfg = ctx.lint.config.merged_with_comments(&cmd.comments);
        ctx.loc = cmd.lines();
        ctx.used.clear();
        let before = (
            ctx.d.env.pairs().to_vec(),
            ctx.d.config.working_dir.clone(),
            ctx.d.config.user.clone(),
            ctx.d.build_args.clone(),
        );
        let mut step = Step {
            command: cmd.clone(),
            onbuild: *onbuild,
            env: before.0,
            workdir: before.1,
            user: before.2,
            build_args: before.3,
            used_args: Vec::new(),
            source: None,
            run: None,
            mkdir: None,
            history: None,
        };
        let trackers = (&mut cmd_t, &mut ep_t, &mut hc_t);
        dispatch_one(
            &mut ctx, stages, index, done, opts, globals, single, &mut step, trackers,
        )?;
        if step.run.is_none() {
            step.used_args = ctx
                .used
                .iter()
                .filter(|k| ctx.d.build_args.iter().any(|(a, _)| a == *k))
                .filter_map(|k| ctx.d.env.get(k).map(|v| (k.clone(), v.to_string())))
                .collect();
        }
        ctx.d.steps.push(step);
    }
    Ok(ctx.d)
}

#[allow(clippy::too_many_arguments)]
fn dispatch_one(
    ctx: &mut Ctx<'_>,
    stages: &[StageState],
    index: usize,
    done: &[Option<Dispatched>],
    opts: &FrontendOptions,
    globals: &GlobalArgs,
    single: bool,
    step: &mut Step,
    (cmd_t, ep_t, hc_t): (&mut Tracker, &mut Tracker, &mut Tracker),
) -> Result<(), FrontendError> {
    let st = &stages[index];
    let cmd: &Command = &step.command.clone();
    let mut out = cmd.instruction.clone();
    match &mut out {
        Instruction::Env(kvs) => {
            expand_kvs(ctx, kvs)?;
            let mut msg = String::from("ENV");
            for kv in kvs.iter() {
                legacy_kv(ctx, kv, "ENV");
                secret(ctx, "ENV", &kv.key);
                msg.push_str(&format!(" {}={}", kv.key, kv.value));
                ctx.d.env.set(&kv.key, &kv.value);
                ctx.d.config.env_set(&kv.key, &kv.value);
            }
            step.history = ctx.history(msg, false);
        }
        Instruction::Label(kvs) => {
            expand_kvs(ctx, kvs)?;
            let mut msg = String::from("LABEL");
            for kv in kvs.iter() {
                legacy_kv(ctx, kv, "LABEL");
                ctx.d.config.labels.insert(kv.key.clone(), kv.value.clone());
                msg.push_str(&format!(" {}={}", kv.key, kv.value));
            }
            step.history = ctx.history(msg, false);
        }
        Instruction::Copy(c) | Instruction::Add(c) => {
            let add = matches!(cmd.instruction, Instruction::Add(_));
            for f in [&mut c.chown, &mut c.chmod] {
                if let Some(v) = f.take() {
                    *f = Some(ctx.word(&v)?).filter(|s| !s.is_empty());
                }
            }
            if add {
                if let Some(v) = c.checksum.take() {
                    c.checksum = Some(ctx.word(&v)?).filter(|s| !s.is_empty());
                }
            }
            for s in c.sources.iter_mut().chain(c.exclude.iter_mut()) {
                *s = ctx.word(s)?;
            }
            c.dest = ctx.word(&c.dest)?;
            let mut raw = Lexer::new('\\');
            raw.skip_process_quotes = true;
            for content in c.contents.iter_mut().filter(|c| c.expand) {
                content.data = ctx.word_with(raw, &content.data)?;
            }
            copy_checks(ctx, c, add)?;
            step.source = Some(match &c.from {
                None => Source::Context,
                Some(from) => {
                    let src = resolve_source(stages, from).map_err(|e| ctx.err(e))?;
                    if let Source::Stage(i) = src {
                        if !matches!(done.get(i), Some(Some(_))) {
                            let cur = if single { "" } else { st.display_name.as_str() };
                            return Err(ctx.err(format!(
                                "cannot copy from stage {}, it needs to be defined before current stage {}",
                                go_quote(from),
                                go_quote(cur)
                            )));
                        }
                    }
                    src
                }
            });
            let mut msg = String::from(if add { "ADD" } else { "COPY" });
            if c.parents {
                msg.push_str(" --parents");
            }
            if let Some(v) = &c.chown {
                msg.push_str(&format!(" --chown={v}"));
            }
            if let Some(v) = &c.chmod {
                msg.push_str(&format!(" --chmod={v}"));
            }
            for s in &c.sources {
                msg.push_str(&format!(" {s}"));
            }
            for s in &c.contents {
                msg.push_str(&format!(" <<{}", s.path));
            }
            msg.push_str(&format!(" {} # buildkit", c.dest));
            step.history = ctx.history(msg, true);
        }
        Instruction::Run(r) => {
            let mut mounts = Vec::new();
            for spec in r.mount_specs.clone() {
                let mut ex = |w: &str| ctx.word(w).map_err(|e| e.message);
                let m = parse_mount(&spec, Some(&mut ex)).map_err(|e| ctx.err(e))?;
                let src = if m.from.is_empty() {
                    if m.kind == MountType::Cache {
                        Source::Scratch
                    } else {
                        Source::Context
                    }
                } else {
                    let src = resolve_source(stages, &m.from).map_err(|e| ctx.err(e))?;
                    if let Source::Stage(i) = src {
                        if !matches!(done.get(i), Some(Some(_))) {
                            return Err(ctx.err(format!(
                                "cannot mount from stage {} to {}, stage needs to be defined before current command",
                                go_quote(&m.from),
                                go_quote(&m.target)
                            )));
                        }
                    }
                    src
                };
                mounts.push((m, src));
            }
            r.mounts = mounts.iter().map(|(m, _)| m.clone()).collect();
            let (args, inline_files) = run_args(ctx, r)?;
            let hist = run_history(&args, &ctx.d.build_args, &ctx.d.env);
            step.used_args = ctx
                .d
                .build_args
                .iter()
                .filter_map(|(k, _)| ctx.d.env.get(k).map(|v| (k.clone(), v.to_string())))
                .collect();
            step.run = Some(RunPlan {
                args,
                inline_files,
                mounts,
                proxy_env: opts.proxy_vars(),
            });
            step.history = ctx.history(format!("RUN {hist} # buildkit"), true);
        }
        Instruction::Workdir(p) => {
            *p = ctx.word(p)?;
            if !ctx.d.workdir_set && !p.starts_with('/') {
                ctx.warn(
                    &rules::WORKDIR_RELATIVE_PATH,
                    format!(
                        "Relative workdir {} can have unexpected results if the base image changes",
                        go_quote(p)
                    ),
                );
            }
            ctx.d.workdir_set = true;
            let wd = values::normalize_workdir(&ctx.d.config.working_dir, p);
            ctx.d.config.working_dir = wd.clone();
            step.workdir = wd.clone();
            let layer = wd != "/";
            if layer {
                step.mkdir = Some(wd.clone());
            }
            step.history = ctx.history(format!("WORKDIR {wd}"), layer);
        }
        Instruction::User(u) => {
            *u = ctx.word(u)?;
            ctx.d.config.user = u.clone();
            step.history = ctx.history(format!("USER {u}"), false);
        }
        Instruction::Volume(vs) => {
            for v in vs.iter_mut() {
                *v = ctx.word(v)?;
                if v.is_empty() {
                    return Err(ctx.err("VOLUME specified can not be an empty string"));
                }
                ctx.d.config.volumes.insert(v.clone());
            }
            step.history = ctx.history(format!("VOLUME [{}]", vs.join(" ")), false);
        }
        Instruction::StopSignal(s) => {
            *s = ctx.word(s)?;
            values::parse_signal(s).map_err(|e| ctx.err(e))?;
            ctx.d.config.stop_signal = s.clone();
            step.history = ctx.history(format!("STOPSIGNAL {s}"), false);
        }
        Instruction::Expose(ports) => {
            let mut words = Vec::new();
            for p in ports.iter() {
                let r = ctx.lex.process_word_with_matches(p, ctx.d.env.pairs());
                let r = r.map_err(|e| ctx.err(e.to_string()))?;
                ctx.used.extend(r.matched);
                words.extend(r.words);
            }
            let mut all = Vec::new();
            for w in &words {
                let spec = expose::parse_port(w).map_err(|e| ctx.err(e))?;
                if spec.proto_not_lower {
                    ctx.warn(
                        &rules::EXPOSE_PROTO_CASING,
                        format!("Defined protocol '{w}' in EXPOSE instruction should be lowercase"),
                    );
                }
                if spec.has_host_part {
                    ctx.warn(&rules::EXPOSE_INVALID_FORMAT, format!("EXPOSE instruction should not define an IP address or host-port mapping, found '{w}'"));
                }
                all.extend(spec.ports);
            }
            ctx.d.config.exposed_ports.extend(all.iter().cloned());
            step.history = ctx.history(format!("EXPOSE [{}]", all.join(" ")), false);
            *ports = all;
        }
        Instruction::Arg(decls) => {
            let mut parts = Vec::new();
            for a in decls.iter_mut() {
                secret(ctx, "ARG", &a.name);
                let value = if let Some(v) = opts.build_args.get(&a.name) {
                    Some(v.clone())
                } else if let Some(def) = &a.default {
                    Some(ctx.word(def)?)
                } else {
                    globals.env.get(&a.name).map(String::from)
                };
                if let Some(v) = &value {
                    if !NON_ENV_ARGS.contains(&a.name.as_str()) {
                        ctx.d.env.set(&a.name, v);
                    }
                    parts.push(format!("{}={v}", a.name));
                } else {
                    parts.push(a.name.clone());
                }
                a.default = value.clone();
                ctx.d.build_args.push((a.name.clone(), value));
            }
            step.build_args = ctx.d.build_args.clone();
            step.history = ctx.history(format!("ARG {}", parts.join(" ")), false);
        }
        Instruction::Cmd(c) => {
            used_once(ctx, cmd_t, "CMD");
            let args = shell_args(ctx, c, "CMD");
            ctx.d.config.cmd = Some(args.clone());
            ctx.d.config.args_escaped = true;
            step.history = ctx.history(format!("CMD {}", go_slice_q(&args)), false);
        }
        Instruction::Entrypoint(c) => {
            used_once(ctx, ep_t, "ENTRYPOINT");
            let args = shell_args(ctx, c, "ENTRYPOINT");
            ctx.d.config.entrypoint = if args.is_empty() {
                None
            } else {
                Some(args.clone())
            };
            if cmd_t.0.is_none() {
                ctx.d.config.cmd = None;
            }
            step.history = ctx.history(format!("ENTRYPOINT {}", go_slice_q(&args)), false);
        }
        Instruction::Healthcheck(h) => {
            used_once(ctx, hc_t, "HEALTHCHECK");
            ctx.d.config.healthcheck = Some(h.clone());
            let msg = format!(
                "HEALTHCHECK {{Test:[{}] Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
                h.test.join(" "),
                fmt_duration(h.interval),
                fmt_duration(h.timeout),
                fmt_duration(h.start_period),
                fmt_duration(h.start_interval),
                h.retries
            );
            step.history = ctx.history(msg, false);
        }
        Instruction::Shell(s) => {
            ctx.d.config.shell = s.clone();
            step.history = ctx.history(format!("SHELL [{}]", s.join(" ")), false);
        }
        Instruction::Onbuild(e) => ctx.d.config.on_build.push(e.clone()),
        Instruction::Maintainer(m) => {
            ctx.d.config.author = m.clone();
            step.history = ctx.history(format!("MAINTAINER {m}"), false);
        }
        Instruction::From(_) => {}
    }
    step.command.instruction = out;
    if matches!(step.command.instruction, Instruction::User(_)) {
        step.user = ctx.d.config.user.clone();
    }
    Ok(())
}

/// The static checks of BuildKit's `dispatchCopy` (chmod, checksum, URL sources).
fn copy_checks(
    ctx: &Ctx<'_>,
    c: &crate::dockerfile::instructions::Copy,
    add: bool,
) -> Result<(), FrontendError> {
    if let Some(m) = &c.chmod {
        let numeric = m.bytes().all(|b| b.is_ascii_digit());
        let octal = u32::from_str_radix(m, 8).ok().filter(|v| *v <= 0o7777);
        if numeric && octal.is_none() {
            return Err(ctx.err(format!(
                "invalid chmod parameter: '{m}'. it should be octal string and between 0 and 07777"
            )));
        }
    }
    let is_http = |s: &str| s.starts_with("http://") || s.starts_with("https://");
    if c.checksum.is_some() {
        if c.sources.len() != 1 {
            return Err(ctx.err("checksum can't be specified for multiple sources"));
        }
        let s = &c.sources[0];
        let git = s.starts_with("git@") || s.starts_with("git://") || s.starts_with("ssh://");
        if !is_http(s) && !git {
            return Err(ctx.err("checksum requires HTTP(S) or Git sources"));
        }
    }
    if !add && c.sources.iter().any(|s| is_http(s)) {
        return Err(ctx.err("source can't be a URL for COPY"));
    }
    Ok(())
}

fn expand_kvs(ctx: &mut Ctx<'_>, kvs: &mut [KeyValue]) -> Result<(), FrontendError> {
    for kv in kvs.iter_mut() {
        kv.key = ctx.word(&kv.key)?;
        kv.value = ctx.word(&kv.value)?;
    }
    Ok(())
}

fn legacy_kv(ctx: &mut Ctx<'_>, kv: &KeyValue, name: &str) {
    if kv.no_delim {
        ctx.warn(
            &rules::LEGACY_KEY_VALUE_FORMAT,
            format!(
                "\"{name} key=value\" should be used instead of legacy \"{name} key value\" format"
            ),
        );
    }
}

fn secret(ctx: &mut Ctx<'_>, instr: &str, key: &str) {
    if looks_like_secret(key) {
        ctx.warn(
            &rules::SECRETS_USED_IN_ARG_OR_ENV,
            format!(
                "Do not use ARG or ENV instructions for sensitive data ({instr} {})",
                go_quote(key)
            ),
        );
    }
}

fn used_once(ctx: &mut Ctx<'_>, t: &mut Tracker, name: &str) {
    if let Some(prev) = t.0 {
        ctx.lint.report_with(
            &ctx.cfg,
            &rules::MULTIPLE_INSTRUCTIONS_DISALLOWED,
            Some(prev),
            format!("Multiple {name} instructions should not be used in the same stage because only the last one will be used"),
        );
    }
    t.0 = Some(ctx.loc);
}

fn shell_args(ctx: &mut Ctx<'_>, c: &ShellOrExec, name: &str) -> Vec<String> {
    match c {
        ShellOrExec::Exec(v) => v.clone(),
        ShellOrExec::Shell(_) => {
            if ctx.d.config.shell.is_empty() {
                ctx.warn(
                    &rules::JSON_ARGS_RECOMMENDED,
                    format!("JSON arguments recommended for {name} to prevent unintended behavior related to OS signals"),
                );
            }
            c.with_shell(&ctx.shell())
        }
    }
}

/// A RUN's arguments and the inline files they refer to.
type RunArgs = (Vec<String>, Vec<(String, String)>);

/// The process arguments of a RUN with its heredocs (BuildKit's `dispatchRun`).
fn run_args(
    ctx: &mut Ctx<'_>,
    r: &crate::dockerfile::instructions::Run,
) -> Result<RunArgs, FrontendError> {
    let mut inline = Vec::new();
    let mut args: Vec<String> = match &r.command {
        ShellOrExec::Shell(s) => vec![s.clone()],
        ShellOrExec::Exec(v) => v.clone(),
    };
    if !r.heredocs.is_empty() {
        if args.len() != 1 || !r.command.prepends_shell() {
            return Err(ctx.err(format!(
                "parsing produced an invalid run command: [{}]",
                args.join(" ")
            )));
        }
        if heredoc_marker(&args[0]).is_some() {
            let first = &r.heredocs[0];
            let data = first.effective_content().into_owned();
            if ctx.d.platform.os != "windows" && data.starts_with("#!") {
                inline.push((first.name.clone(), data));
                args = vec![values::clean_path(&format!("/dev/pipes/{}", first.name))];
            } else {
                args = vec![data];
            }
        } else {
            let mut s = args[0].clone();
            for h in &r.heredocs {
                s.push('\n');
                s.push_str(&h.content);
                s.push_str(&h.name);
            }
            args = vec![s];
        }
    }
    if r.command.prepends_shell() {
        let mut sh = ctx.shell();
        sh.push(args.join(" "));
        args = sh;
    }
    Ok((args, inline))
}

/// BuildKit's `runCommandString`: `|N K=V ... args`.
fn run_history(args: &[String], build_args: &[(String, Option<String>)], env: &EnvList) -> String {
    let mut tmp: Vec<(String, String)> = Vec::new();
    for (k, v) in build_args {
        let val = env
            .get(k)
            .map(String::from)
            .unwrap_or_else(|| v.clone().unwrap_or_default());
        match tmp.iter_mut().find(|(tk, _)| tk == k) {
            Some(e) => e.1 = val,
            None => tmp.push((k.clone(), val)),
        }
    }
    let mut parts: Vec<String> = Vec::new();
    if !tmp.is_empty() {
        parts.push(format!("|{}", tmp.len()));
        parts.extend(tmp.iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(args.iter().cloned());
    parts.join(" ")
}
