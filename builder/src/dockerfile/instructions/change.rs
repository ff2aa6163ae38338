//! `import -c` / `commit -c`: one config-changing instruction applied to an image config,
//! as docker's `BuildFromConfig` does (the instructions it allows, expanded against the
//! config's ENV).

use super::{parse_instruction, values, FrontendError, Healthcheck, Instruction, ShellOrExec};
use crate::dockerfile::shell::Lexer;

/// The shell BuildKit and docker prepend to shell-form commands on Linux.
pub const DEFAULT_SHELL: &[&str] = &["/bin/sh", "-c"];

/// One change to an image config, expanded, for the caller to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Replace `Cmd`. A shell form gets the config's `Shell` (or [`DEFAULT_SHELL`]) prepended.
    Cmd(ShellOrExec),
    /// Replace `Entrypoint` (`Exec(vec![])` clears it). As docker does, `Cmd` is cleared too
    /// unless a CMD change came earlier in the same batch.
    Entrypoint(ShellOrExec),
    /// Set these variables in `Env` (replacing same-named entries in place).
    Env(Vec<(String, String)>),
    /// Add these `port/proto` entries to `ExposedPorts`.
    Expose(Vec<String>),
    /// Set these labels.
    Label(Vec<(String, String)>),
    /// Replace `User`.
    User(String),
    /// Change `WorkingDir`; relative paths join the current one (see [`normalize_workdir`]).
    Workdir(String),
    /// Add these paths to `Volumes`.
    Volume(Vec<String>),
    /// Append a trigger to `OnBuild`.
    Onbuild(String),
    /// Replace `StopSignal`.
    StopSignal(String),
    /// Replace `Healthcheck`.
    Healthcheck(Healthcheck),
}

/// BuildKit's Linux working-directory rule: a relative `new` joins `current`.
pub fn normalize_workdir(current: &str, new: &str) -> String {
    values::normalize_workdir(current, new)
}

const VALID: &[&str] = &[
    "cmd",
    "entrypoint",
    "healthcheck",
    "env",
    "expose",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Parses one `-c` change against the config's current `env` (ordered `KEY=VALUE` pairs).
/// Other instructions are refused with docker's message, keyword lower-cased as the 20.10
/// daemon prints it: `run is not a valid change command`. (Docker also refuses STOPSIGNAL;
/// it is accepted here.)
pub fn parse_change(line: &str, env: &[(String, String)]) -> Result<ConfigChange, FrontendError> {
    let ast = crate::dockerfile::parser::parse(line)?;
    let Some(node) = ast.children.first() else {
        return Err(FrontendError::new("file with no instructions"));
    };
    if ast.children.len() > 1 {
        return Err(FrontendError::new("a change must be a single instruction"));
    }
    if !VALID.contains(&node.keyword.as_str()) {
        return Err(FrontendError::new(format!(
            "{} is not a valid change command",
            node.keyword
        )));
    }
    let cmd = parse_instruction(node)?;
    let lex = Lexer::new(ast.directives.escape);
    let word = |w: &str| -> Result<String, FrontendError> {
        lex.process_word(w, env)
            .map_err(|e| FrontendError::new(e.to_string()))
    };
    Ok(match cmd.instruction {
        Instruction::Cmd(c) => ConfigChange::Cmd(c),
        Instruction::Entrypoint(c) => ConfigChange::Entrypoint(c),
        Instruction::Env(kvs) => ConfigChange::Env(
            kvs.iter()
                .map(|kv| Ok((word(&kv.key)?, word(&kv.value)?)))
                .collect::<Result<_, FrontendError>>()?,
        ),
        Instruction::Label(kvs) => ConfigChange::Label(
            kvs.iter()
                .map(|kv| Ok((word(&kv.key)?, word(&kv.value)?)))
                .collect::<Result<_, FrontendError>>()?,
        ),
        Instruction::Expose(ports) => {
            let mut words = Vec::new();
            for p in &ports {
                words.extend(
                    lex.process_words(p, env)
                        .map_err(|e| FrontendError::new(e.to_string()))?,
                );
            }
            let mut out = Vec::new();
            for p in &words {
                out.extend(
                    super::expose::parse_port(p)
                        .map_err(FrontendError::new)?
                        .ports,
                );
            }
            ConfigChange::Expose(out)
        }
        Instruction::User(u) => ConfigChange::User(word(&u)?),
        Instruction::Workdir(w) => ConfigChange::Workdir(word(&w)?),
        Instruction::Volume(v) => {
            let mut out = Vec::new();
            for x in &v {
                let x = word(x)?;
                if x.is_empty() {
                    return Err(FrontendError::new(
                        "VOLUME specified can not be an empty string",
                    ));
                }
                out.push(x);
            }
            ConfigChange::Volume(out)
        }
        Instruction::Onbuild(e) => ConfigChange::Onbuild(e),
        Instruction::StopSignal(s) => {
            let s = word(&s)?;
            values::parse_signal(&s).map_err(FrontendError::new)?;
            ConfigChange::StopSignal(s)
        }
        Instruction::Healthcheck(h) => ConfigChange::Healthcheck(h),
        _ => {
            return Err(FrontendError::new(format!(
                "{} is not a valid change command",
                node.keyword
            )))
        }
    })
}
