//! From source text to [`BuildGraph`], in BuildKit's order (`toDispatchState`): parse,
//! typed instructions, stage names and casing checks, global args, FROM expansion, target,
//! dependencies and cycles, reachable stages with ONBUILD triggers, then dispatch.

use std::collections::{BTreeMap, BTreeSet};

use super::dispatch::{dispatch_stage, Dispatched};
use super::onbuild::parse_triggers;
use super::reference::valid_reference;
use super::{Base, BuildGraph, ExternalImage, ImageConfig, Source, Stage};
use crate::dockerfile::ast::Ast;
use crate::dockerfile::instructions::{
    parse_instruction, values::go_quote, with_suggestion, ArgDecl, Command, FrontendError,
    Instruction, LineRange,
};
use crate::dockerfile::lint::{rules, LintConfig, Linter};
use crate::dockerfile::scope::{
    predefined_args, resolve_meta_args, unknown_target, unused_build_args, EnvList,
    FrontendOptions, GlobalArgs, Platform,
};
use crate::dockerfile::shell::Lexer;

/// A stage while the graph is being built.
#[derive(Debug, Clone)]
pub(crate) struct StageState {
    pub index: usize,
    pub name: Option<String>,
    pub display_name: String,
    pub from: Command,
    pub base_name: String,
    pub base: Base,
    pub platform: Option<Platform>,
    /// Commands with "came from ONBUILD".
    pub commands: Vec<(Command, bool)>,
    /// Stage dependencies (COPY --from, RUN --mount from) with the command's lines.
    pub deps: Vec<(usize, LineRange)>,
    /// External images used as file sources.
    pub image_deps: Vec<String>,
    /// Global args the FROM line used.
    pub from_args: Vec<(String, String)>,
    pub onbuild_done: bool,
}

/// The parse result every later pass shares.
pub(crate) struct Parsed {
    pub stages: Vec<StageState>,
    pub metas: Vec<(Vec<ArgDecl>, usize, usize)>,
    pub escape: char,
}

/// Compiles a Dockerfile into its build graph.
pub fn compile(source: &str, opts: &FrontendOptions) -> Result<BuildGraph, FrontendError> {
    let mut lint = Linter::default();
    compile_with(source, opts, &mut lint)
}

/// The pipeline; warnings found before an error stay in `lint`.
pub(crate) fn compile_with(
    source: &str,
    opts: &FrontendOptions,
    lint: &mut Linter,
) -> Result<BuildGraph, FrontendError> {
    if source.is_empty() {
        return Err(FrontendError::new("the Dockerfile cannot be empty"));
    }
    let ast = crate::dockerfile::parser::parse(source)?;
    // `--build-arg BUILDKIT_DOCKERFILE_CHECK=...` replaces the file's `# check=` directive.
    let check = match opts.build_args.get("BUILDKIT_DOCKERFILE_CHECK") {
        Some(v) => v.clone(),
        None => ast.directives.check.clone().unwrap_or_default(),
    };
    let config = LintConfig::parse(&check)
        .map_err(|e| FrontendError::new(format!("failed to parse check options: {e}")))?;
    *lint = Linter::new(config);
    let mut parsed = parse_stages(&ast, lint)?;
    build_graph(&mut parsed, opts, lint)
}

fn parse_stages(ast: &Ast, lint: &mut Linter) -> Result<Parsed, FrontendError> {
    for w in &ast.warnings {
        if w.url == rules::NO_EMPTY_CONTINUATION.url {
            let loc = w.lines.map(|(s, e)| LineRange::new(s, e));
            lint.report(
                &rules::NO_EMPTY_CONTINUATION,
                loc,
                "Empty continuation line".into(),
            );
        }
    }
    let mut stages: Vec<StageState> = Vec::new();
    let mut metas = Vec::new();
    for node in &ast.children {
        let cfg = lint.config.merged_with_comments(&node.prev_comments);
        let loc = Some(LineRange::new(node.start_line, node.end_line));
        if node.keyword == "maintainer" {
            lint.report_with(
                &cfg,
                &rules::MAINTAINER_DEPRECATED,
                loc,
                "Maintainer instruction is deprecated in favor of using label".into(),
            );
        }
        if node.keyword == "from" {
            from_casing_lints(node, &cfg, lint);
        }
        let cmd = parse_instruction(node)?;
        if stages.is_empty() {
            if let Instruction::Arg(decls) = &cmd.instruction {
                metas.push((decls.clone(), cmd.start_line, cmd.end_line));
                continue;
            }
        }
        if let Instruction::From(f) = &cmd.instruction {
            let index = stages.len();
            stages.push(StageState {
                index,
                name: f.name.clone(),
                display_name: f.name.clone().unwrap_or_else(|| format!("stage-{index}")),
                base_name: f.image.clone(),
                base: Base::Scratch,
                platform: None,
                from: cmd.clone(),
                commands: Vec::new(),
                deps: Vec::new(),
                image_deps: Vec::new(),
                from_args: Vec::new(),
                onbuild_done: false,
            });
            continue;
        }
        match stages.last_mut() {
            Some(s) => s.commands.push((cmd, false)),
            None => {
                return Err(FrontendError::at(
                    "no build stage in current context",
                    node.start_line,
                    node.end_line,
                ))
            }
        }
    }
    if stages.is_empty() {
        return Err(FrontendError::new("dockerfile contains no stages to build"));
    }
    Ok(Parsed {
        stages,
        metas,
        escape: ast.directives.escape,
    })
}

fn from_casing_lints(node: &crate::dockerfile::ast::Node, cfg: &LintConfig, lint: &mut Linter) {
    let args: Vec<&str> = node.words().collect();
    let loc = Some(LineRange::new(node.start_line, node.end_line));
    if args.len() == 3 && args[2] != args[2].to_lowercase() {
        lint.report_with(
            cfg,
            &rules::STAGE_NAME_CASING,
            loc,
            format!("Stage name '{}' should be lowercase", args[2]),
        );
    }
    if args.len() >= 3 {
        let kw = node.raw_keyword();
        let lower = kw == kw.to_lowercase();
        let upper = kw == kw.to_uppercase();
        let mismatch = (lower && args[1] != args[1].to_lowercase())
            || (!lower && upper && args[1] != args[1].to_uppercase());
        if mismatch {
            lint.report_with(
                cfg,
                &rules::FROM_AS_CASING,
                loc,
                format!("'{}' and '{}' keywords' casing do not match", args[1], kw),
            );
        }
    }
}

fn build_graph(
    p: &mut Parsed,
    opts: &FrontendOptions,
    lint: &mut Linter,
) -> Result<BuildGraph, FrontendError> {
    stage_name_lints(&p.stages, lint);
    casing_lints(&p.stages, lint);
    let target_name = match &opts.target {
        Some(t) if !t.is_empty() => t.clone(),
        _ => p.stages[p.stages.len() - 1]
            .name
            .clone()
            .unwrap_or_default(),
    };
    let predefined = predefined_args(opts, &target_name);
    let lex = Lexer::new(p.escape);
    let expand = |w: &str, env: &EnvList| -> Result<String, String> {
        lex.process_word(w, env.pairs()).map_err(|e| e.to_string())
    };
    default_arg_lints(p, &predefined, &expand, lint);
    let globals = resolve_meta_args(predefined, &p.metas, &opts.build_args, &expand)?;
    resolve_from_lines(p, &globals, opts, lint)?;
    let target = resolve_target(p, opts)?;
    resolve_dependencies(p)?;
    check_cycles(&p.stages)?;
    let reachable = resolve_reachable(p, target, opts)?;

    let mut done: Vec<Option<Dispatched>> = vec![None; p.stages.len()];
    let mut declared: BTreeSet<String> = p
        .metas
        .iter()
        .flat_map(|(d, _, _)| d.iter().map(|a| a.name.clone()))
        .collect();
    let single = p.stages.len() == 1;
    let mut out_stages = Vec::new();
    for i in 0..p.stages.len() {
        if !reachable.contains(&i) {
            continue;
        }
        let st = &p.stages[i];
        let (config, known) = match &st.base {
            Base::Stage(_) => (None, true),
            Base::Scratch => (None, true),
            Base::Image(r) => match opts.base_images.get(r) {
                Some(c) => (Some(c.clone()), true),
                None => (None, false),
            },
        };
        let d = dispatch_stage(
            &p.stages, i, &done, config, known, &globals, opts, p.escape, single, lint,
        )?;
        for (k, _) in &d.build_args {
            declared.insert(k.clone());
        }
        out_stages.push(Stage {
            index: i,
            name: st.name.clone(),
            display_name: st.display_name.clone(),
            base: st.base.clone(),
            platform: d.platform.clone(),
            location: st.from.lines(),
            from_args: st.from_args.clone(),
            steps: d.steps.clone(),
            config: d.config.clone(),
            depends_on: stage_deps(st),
            base_config_known: d.base_known,
        });
        done[i] = Some(d);
    }
    if let Some(e) = lint.error() {
        return Err(e);
    }
    let external_images = externals(p, &out_stages, opts);
    Ok(BuildGraph {
        stages: out_stages,
        target,
        external_images,
        warnings: lint.sorted(),
        unused_build_args: unused_build_args(&opts.build_args, &declared),
        escape: p.escape,
    })
}

fn stage_deps(st: &StageState) -> Vec<usize> {
    let mut d: BTreeSet<usize> = st.deps.iter().map(|(i, _)| *i).collect();
    if let Base::Stage(b) = st.base {
        d.insert(b);
    }
    d.into_iter().collect()
}

fn externals(p: &Parsed, stages: &[Stage], opts: &FrontendOptions) -> Vec<ExternalImage> {
    let mut out: Vec<ExternalImage> = Vec::new();
    let mut add = |r: &str, platform: &Platform, is_base: bool, by: usize| {
        if let Some(e) = out
            .iter_mut()
            .find(|e| e.reference == r && &e.platform == platform)
        {
            e.is_base |= is_base;
            if !e.used_by.contains(&by) {
                e.used_by.push(by);
            }
        } else {
            out.push(ExternalImage {
                reference: r.to_string(),
                platform: platform.clone(),
                is_base,
                used_by: vec![by],
            });
        }
    };
    let tp = opts.effective_target_platform();
    for s in stages {
        if let Base::Image(r) = &s.base {
            add(r, &s.platform, true, s.index);
        }
        for r in &p.stages[s.index].image_deps {
            add(r, &tp, false, s.index);
        }
    }
    out
}

fn stage_name_lints(stages: &[StageState], lint: &mut Linter) {
    let mut seen = BTreeSet::new();
    for s in stages {
        let Some(name) = &s.name else { continue };
        let loc = Some(s.from.lines());
        if name == "context" || name == "scratch" {
            lint.report(
                &rules::RESERVED_STAGE_NAME,
                loc,
                format!(
                    "Stage name should not use the same name as reserved stage {}",
                    go_quote(name)
                ),
            );
        }
        if !seen.insert(name.clone()) {
            lint.report(
                &rules::DUPLICATE_STAGE_NAME,
                loc,
                format!(
                    "Duplicate stage name {}, stage names should be unique",
                    go_quote(name)
                ),
            );
        }
    }
}

fn casing_lints(stages: &[StageState], lint: &mut Linter) {
    let all = || {
        stages
            .iter()
            .flat_map(|s| std::iter::once(&s.from).chain(s.commands.iter().map(|(c, _)| c)))
    };
    let (mut lower, mut upper) = (0, 0);
    for c in all() {
        let k = &c.keyword;
        if *k == k.to_lowercase() {
            lower += 1;
        } else if *k == k.to_uppercase() {
            upper += 1;
        }
    }
    let majority_lower = lower > upper;
    for c in all() {
        let k = &c.keyword;
        let want = if majority_lower && *k != k.to_lowercase() {
            "lowercase"
        } else if !majority_lower && *k != k.to_uppercase() {
            "uppercase"
        } else {
            continue;
        };
        lint.report(
            &rules::CONSISTENT_INSTRUCTION_CASING,
            Some(c.lines()),
            format!("Command '{k}' should match the case of the command majority ({want})"),
        );
    }
}

fn default_arg_lints(
    p: &Parsed,
    predefined: &EnvList,
    expand: &dyn Fn(&str, &EnvList) -> Result<String, String>,
    lint: &mut Linter,
) {
    // Validated as if no build args were given (BuildKit's validateBaseImagesWithDefaultArgs).
    let Ok(g) = resolve_meta_args(predefined.clone(), &p.metas, &BTreeMap::new(), expand) else {
        return;
    };
    for s in &p.stages {
        let Ok(name) = expand(&s.base_name, &g.env) else {
            return;
        };
        if !valid_reference(&name) {
            lint.report(
                &rules::INVALID_DEFAULT_ARG_IN_FROM,
                Some(s.from.lines()),
                format!(
                    "Default value for ARG {} results in empty or invalid base image name",
                    s.base_name
                ),
            );
        }
    }
}

fn resolve_from_lines(
    p: &mut Parsed,
    globals: &GlobalArgs,
    opts: &FrontendOptions,
    lint: &mut Linter,
) -> Result<(), FrontendError> {
    let lex = Lexer::new(p.escape);
    let known = globals.known_names();
    let known_list: Vec<&str> = known.iter().map(String::as_str).collect();
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..p.stages.len() {
        let st = &mut p.stages[i];
        let cfg = lint.config.merged_with_comments(&st.from.comments);
        let loc = st.from.lines();
        let Instruction::From(from) = st.from.instruction.clone() else {
            continue;
        };
        let res = lex.process_word_with_matches(&from.image, globals.env.pairs());
        let unmatched = res
            .as_ref()
            .map(|r| r.unmatched.clone())
            .unwrap_or_default();
        undefined_in_from(&unmatched, &known, &known_list, loc, &cfg, lint);
        let res = res.map_err(|e| FrontendError::at(e.to_string(), loc.start, loc.end))?;
        if res.word.is_empty() {
            return Err(FrontendError::at(
                format!("base name ({}) should not be blank", from.image),
                loc.start,
                loc.end,
            ));
        }
        let mut used: BTreeSet<String> = res.matched.clone();
        st.base_name = res.word.clone();
        if let Some(pl) = &from.platform {
            let r = lex.process_word_with_matches(pl, globals.env.pairs());
            let unmatched = r.as_ref().map(|r| r.unmatched.clone()).unwrap_or_default();
            undefined_in_from(&unmatched, &known, &known_list, loc, &cfg, lint);
            let r = r.map_err(|e| {
                FrontendError::at(
                    format!("failed to process arguments for platform {pl}: {e}"),
                    loc.start,
                    loc.end,
                )
            })?;
            if r.matched.len() == 1
                && r.unmatched.is_empty()
                && r.matched.contains("TARGETPLATFORM")
                && globals.env.get("TARGETPLATFORM") == Some(r.word.as_str())
            {
                lint.report_with(
                    &cfg,
                    &rules::REDUNDANT_TARGET_PLATFORM,
                    Some(loc),
                    format!("Setting platform to predefined {pl} in FROM is redundant as this is the default behavior"),
                );
            }
            let suggest_any = |msg: String| {
                for k in &r.unmatched {
                    let m = with_suggestion(msg.clone(), k, &globals.env.keys(), true);
                    if m != msg {
                        return m;
                    }
                }
                msg
            };
            if r.word.is_empty() {
                return Err(FrontendError::at(
                    suggest_any(format!("empty platform value from expression {pl}")),
                    loc.start,
                    loc.end,
                ));
            }
            let parsed = Platform::parse(&r.word, &opts.build_platform).map_err(|e| {
                FrontendError::at(
                    format!("failed to parse platform {pl}: {}", suggest_any(e)),
                    loc.start,
                    loc.end,
                )
            })?;
            if r.matched.is_empty() && r.unmatched.is_empty() {
                let name = st.name.clone().unwrap_or_default();
                if !name.contains(&parsed.os) && !name.contains(&parsed.arch) {
                    lint.report_with(
                        &cfg,
                        &rules::FROM_PLATFORM_FLAG_CONST_DISALLOWED,
                        Some(loc),
                        format!(
                            "FROM --platform flag should not use constant value {}",
                            go_quote(&r.word)
                        ),
                    );
                }
            }
            used.extend(r.matched.iter().cloned());
            st.platform = Some(parsed);
        }
        st.from_args = used
            .iter()
            .filter_map(|k| globals.env.get(k).map(|v| (k.clone(), v.to_string())))
            .collect();
        // Only earlier stages can be a base, matched exactly against lower-cased names.
        st.base = if let Some(&b) = by_name.get(&st.base_name) {
            Base::Stage(b)
        } else if st.base_name == "scratch" {
            Base::Scratch
        } else {
            Base::Image(st.base_name.clone())
        };
        if let Some(n) = &st.name {
            by_name.insert(n.clone(), i);
        }
    }
    Ok(())
}

fn undefined_in_from(
    unmatched: &BTreeSet<String>,
    known: &BTreeSet<String>,
    known_list: &[&str],
    loc: LineRange,
    cfg: &LintConfig,
    lint: &mut Linter,
) {
    for arg in unmatched {
        if known.contains(arg) {
            continue;
        }
        let mut msg = format!("FROM argument '{arg}' is not declared");
        if let Some(s) = crate::dockerfile::instructions::suggest(arg, known_list, true) {
            msg.push_str(&format!(" (did you mean {s}?)"));
        }
        lint.report_with(cfg, &rules::UNDEFINED_ARG_IN_FROM, Some(loc), msg);
    }
}

fn resolve_target(p: &Parsed, opts: &FrontendOptions) -> Result<usize, FrontendError> {
    match opts.target.as_deref().filter(|t| !t.is_empty()) {
        None => Ok(p.stages.len() - 1),
        Some(t) => {
            let lower = t.to_lowercase();
            p.stages
                .iter()
                .rev()
                .find(|s| s.name.as_deref() == Some(lower.as_str()))
                .map(|s| s.index)
                .ok_or_else(|| {
                    let names: Vec<&str> =
                        p.stages.iter().map(|s| s.display_name.as_str()).collect();
                    unknown_target(t, &names)
                })
        }
    }
}

/// Where a `--from`/`from=` value points: a stage (by index or last stage of that name),
/// scratch, or an image.
pub(crate) fn resolve_source(stages: &[StageState], from: &str) -> Result<Source, String> {
    if let Ok(i) = from.parse::<i64>() {
        if i < 0 || i as usize >= stages.len() {
            return Err(format!("invalid stage index {i}"));
        }
        return Ok(Source::Stage(i as usize));
    }
    let lower = from.to_lowercase();
    if let Some(s) = stages
        .iter()
        .rev()
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Ok(Source::Stage(s.index));
    }
    if from == "scratch" {
        return Ok(Source::Scratch);
    }
    Ok(Source::Image(from.to_string()))
}

/// The sources a command reads (COPY --from, RUN --mount from=).
pub(crate) fn command_sources(
    stages: &[StageState],
    cmd: &Command,
) -> Result<Vec<Source>, FrontendError> {
    let loc = cmd.lines();
    let err = |m: String| FrontendError::at(m, loc.start, loc.end);
    match &cmd.instruction {
        Instruction::Copy(c) => {
            let Some(from) = &c.from else {
                return Ok(Vec::new());
            };
            let lexed = Lexer::new('\\')
                .process_word(from, &crate::dockerfile::shell::EmptyEnv)
                .map_err(|e| err(e.to_string()))?;
            if &lexed != from {
                return Err(err("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".into()));
            }
            Ok(vec![resolve_source(stages, from).map_err(err)?])
        }
        Instruction::Run(r) => r
            .mounts
            .iter()
            .filter(|m| !m.from.is_empty())
            .map(|m| resolve_source(stages, &m.from).map_err(err))
            .collect(),
        _ => Ok(Vec::new()),
    }
}

fn add_sources(st: &mut StageState, sources: Vec<Source>, loc: LineRange) -> bool {
    let mut new_dep = false;
    for s in sources {
        match s {
            Source::Stage(i) => {
                st.deps.push((i, loc));
                new_dep = true;
            }
            Source::Image(r) => {
                if !st.image_deps.contains(&r) {
                    st.image_deps.push(r);
                }
                new_dep = true;
            }
            Source::Scratch | Source::Context => {}
        }
    }
    new_dep
}

fn resolve_dependencies(p: &mut Parsed) -> Result<(), FrontendError> {
    for i in 0..p.stages.len() {
        let cmds: Vec<Command> = p.stages[i]
            .commands
            .iter()
            .map(|(c, _)| c.clone())
            .collect();
        for c in cmds {
            let srcs = command_sources(&p.stages, &c)?;
            add_sources(&mut p.stages[i], srcs, c.lines());
        }
    }
    Ok(())
}

fn check_cycles(stages: &[StageState]) -> Result<(), FrontendError> {
    fn visit(
        s: usize,
        stages: &[StageState],
        visited: &mut BTreeSet<usize>,
        path: &mut BTreeSet<usize>,
        trail: &mut Vec<LineRange>,
    ) -> bool {
        if !visited.insert(s) {
            return false;
        }
        path.insert(s);
        for (dep, loc) in &stages[s].deps {
            trail.push(*loc);
            if path.contains(dep) || visit(*dep, stages, visited, path, trail) {
                return true;
            }
            trail.pop();
        }
        path.remove(&s);
        false
    }
    let mut visited = BTreeSet::new();
    for s in 0..stages.len() {
        let mut trail = Vec::new();
        if visit(s, stages, &mut visited, &mut BTreeSet::new(), &mut trail) {
            return Err(FrontendError {
                message: format!(
                    "circular dependency detected on stage: {}",
                    stages[s].display_name
                ),
                locations: trail,
            });
        }
    }
    Ok(())
}

fn reachable_from(stages: &[StageState], target: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(s) = todo.pop() {
        if !seen.insert(s) {
            continue;
        }
        if let Base::Stage(b) = stages[s].base {
            todo.push(b);
        }
        todo.extend(stages[s].deps.iter().map(|(d, _)| *d));
    }
    seen
}

fn resolve_reachable(
    p: &mut Parsed,
    target: usize,
    opts: &FrontendOptions,
) -> Result<BTreeSet<usize>, FrontendError> {
    loop {
        let reachable: BTreeSet<usize> = if opts.all_stages {
            (0..p.stages.len()).collect()
        } else {
            reachable_from(&p.stages, target)
        };
        let mut new_deps = false;
        for &i in &reachable {
            if p.stages[i].onbuild_done {
                continue;
            }
            p.stages[i].onbuild_done = true;
            let triggers: Vec<String> = match &p.stages[i].base {
                Base::Stage(b) => p.stages[*b]
                    .commands
                    .iter()
                    .filter_map(|(c, _)| match &c.instruction {
                        Instruction::Onbuild(e) => Some(e.clone()),
                        _ => None,
                    })
                    .collect(),
                Base::Image(r) => opts
                    .base_images
                    .get(r)
                    .map(|c: &ImageConfig| c.on_build.clone())
                    .unwrap_or_default(),
                Base::Scratch => Vec::new(),
            };
            if triggers.is_empty() {
                continue;
            }
            let loc = p.stages[i].from.lines();
            let cmds = parse_triggers(&triggers, loc).map_err(|e| FrontendError {
                locations: vec![loc],
                ..e
            })?;
            let mut prefix = Vec::new();
            for c in cmds {
                let srcs = command_sources(&p.stages, &c).map_err(|e| FrontendError {
                    locations: vec![loc],
                    ..e
                })?;
                new_deps |= add_sources(&mut p.stages[i], srcs, loc);
                prefix.push((c, true));
            }
            let st = &mut p.stages[i];
            prefix.append(&mut st.commands);
            st.commands = prefix;
        }
        if !new_deps {
            return Ok(reachable);
        }
    }
}
