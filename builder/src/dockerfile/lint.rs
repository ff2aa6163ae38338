//! Build checks with BuildKit's rule names, texts and `# check=` configuration
//! (`frontend/dockerfile/linter`). The rules are evaluated where BuildKit evaluates them
//! (instruction parsing, stage setup, dispatch); this module holds the rule table, the
//! configuration and the collected warnings.

use std::collections::BTreeSet;

use super::instructions::{FrontendError, LineRange};

/// A build-check rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The rule's name, e.g. `FromAsCasing`.
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Documentation link (empty when BuildKit has none).
    pub url: &'static str,
    /// Only run when enabled with `experimental=`.
    pub experimental: bool,
}

macro_rules! rule {
    ($id:ident, $name:literal, $desc:literal, $url:literal) => {
        #[doc = $desc]
        pub const $id: Rule = Rule {
            name: $name,
            description: $desc,
            url: $url,
            experimental: false,
        };
    };
}

/// The rules, as in BuildKit's `ruleset.go`.
pub mod rules {
    use super::Rule;

    rule!(
        STAGE_NAME_CASING,
        "StageNameCasing",
        "Stage names should be lowercase",
        "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/"
    );
    rule!(
        FROM_AS_CASING,
        "FromAsCasing",
        "The 'as' keyword should match the case of the 'from' keyword",
        "https://docs.docker.com/go/dockerfile/rule/from-as-casing/"
    );
    rule!(
        NO_EMPTY_CONTINUATION,
        "NoEmptyContinuation",
        "Empty continuation lines will become errors in a future release",
        "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/"
    );
    rule!(
        CONSISTENT_INSTRUCTION_CASING,
        "ConsistentInstructionCasing",
        "All commands within the Dockerfile should use the same casing (either upper or lower)",
        "https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/"
    );
    rule!(
        DUPLICATE_STAGE_NAME,
        "DuplicateStageName",
        "Stage names should be unique",
        "https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/"
    );
    rule!(
        RESERVED_STAGE_NAME,
        "ReservedStageName",
        "Reserved words should not be used as stage names",
        "https://docs.docker.com/go/dockerfile/rule/reserved-stage-name/"
    );
    rule!(JSON_ARGS_RECOMMENDED, "JSONArgsRecommended", "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals", "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/");
    rule!(
        MAINTAINER_DEPRECATED,
        "MaintainerDeprecated",
        "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
        "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/"
    );
    rule!(
        UNDEFINED_ARG_IN_FROM,
        "UndefinedArgInFrom",
        "FROM command must use declared ARGs",
        "https://docs.docker.com/go/dockerfile/rule/undefined-arg-in-from/"
    );
    rule!(WORKDIR_RELATIVE_PATH, "WorkdirRelativePath", "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes", "https://docs.docker.com/go/dockerfile/rule/workdir-relative-path/");
    rule!(
        UNDEFINED_VAR,
        "UndefinedVar",
        "Variables should be defined before their use",
        "https://docs.docker.com/go/dockerfile/rule/undefined-var/"
    );
    rule!(
        MULTIPLE_INSTRUCTIONS_DISALLOWED,
        "MultipleInstructionsDisallowed",
        "Multiple instructions of the same type should not be used in the same stage",
        "https://docs.docker.com/go/dockerfile/rule/multiple-instructions-disallowed/"
    );
    rule!(
        LEGACY_KEY_VALUE_FORMAT,
        "LegacyKeyValueFormat",
        "Legacy key/value format with whitespace separator should not be used",
        "https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/"
    );
    rule!(
        INVALID_BASE_IMAGE_PLATFORM,
        "InvalidBaseImagePlatform",
        "Base image platform does not match expected target platform",
        ""
    );
    rule!(REDUNDANT_TARGET_PLATFORM, "RedundantTargetPlatform", "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior", "https://docs.docker.com/go/dockerfile/rule/redundant-target-platform/");
    rule!(
        SECRETS_USED_IN_ARG_OR_ENV,
        "SecretsUsedInArgOrEnv",
        "Sensitive data should not be used in the ARG or ENV commands",
        "https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/"
    );
    rule!(
        INVALID_DEFAULT_ARG_IN_FROM,
        "InvalidDefaultArgInFrom",
        "Default value for global ARG results in an empty or invalid base image name",
        "https://docs.docker.com/go/dockerfile/rule/invalid-default-arg-in-from/"
    );
    rule!(
        FROM_PLATFORM_FLAG_CONST_DISALLOWED,
        "FromPlatformFlagConstDisallowed",
        "FROM --platform flag should not use a constant value",
        "https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/"
    );
    rule!(
        EXPOSE_PROTO_CASING,
        "ExposeProtoCasing",
        "Protocol in EXPOSE instruction should be lowercase",
        "https://docs.docker.com/go/dockerfile/rule/expose-proto-casing/"
    );
    rule!(EXPOSE_INVALID_FORMAT, "ExposeInvalidFormat", "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release", "https://docs.docker.com/go/dockerfile/rule/expose-invalid-format/");
}

/// A `# check=` configuration (BuildKit's `linter.Config`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintConfig {
    /// `skip=all`.
    pub skip_all: bool,
    /// `skip=A,B`.
    pub skip: BTreeSet<String>,
    /// `experimental=all`.
    pub experimental_all: bool,
    /// `experimental=A,B`.
    pub experimental: BTreeSet<String>,
    /// `error=true`: warnings fail the build.
    pub error: bool,
}

impl LintConfig {
    /// Parses a `check` directive value (`skip=A,B;error=true;experimental=all`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let mut c = LintConfig::default();
        if s.is_empty() {
            return Ok(c);
        }
        for part in s.splitn(3, ';') {
            let Some((k, v)) = part.split_once('=') else {
                return Err(format!("invalid check option {}", quote(part)));
            };
            let list = |v: &str| -> BTreeSet<String> {
                v.split(',').map(|r| r.trim().to_string()).collect()
            };
            match k.trim() {
                "skip" if v.trim() == "all" => c.skip_all = true,
                "skip" => c.skip = list(v.trim()),
                "experimental" if v.trim() == "all" => c.experimental_all = true,
                "experimental" => c.experimental = list(v.trim()),
                "error" => {
                    c.error = super::instructions::values::parse_go_bool(v.trim()).ok_or_else(
                        || {
                            format!(
                                "failed to parse check option {}: strconv.ParseBool: parsing {}: invalid syntax",
                                quote(part),
                                quote(v.trim())
                            )
                        },
                    )?
                }
                other => return Err(format!("invalid check option {}", quote(other))),
            }
        }
        Ok(c)
    }

    /// This configuration merged with one from an instruction's `# check=` comment
    /// (BuildKit's `WithMergedConfigFromComments`: only the first such comment counts, and
    /// only up to its first space).
    pub fn merged_with_comments(&self, comments: &[String]) -> LintConfig {
        for c in comments {
            let t = c.trim_start();
            let Some((name, value)) = t.split_once('=') else {
                continue;
            };
            let name = name.trim_end();
            let ok_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric());
            if !ok_name || !name.eq_ignore_ascii_case("check") {
                continue;
            }
            let value = value.trim();
            let v = value.split(' ').next().unwrap_or("");
            let Ok(other) = LintConfig::parse(v) else {
                return self.clone();
            };
            let mut m = self.clone();
            m.skip_all |= other.skip_all;
            m.experimental_all |= other.experimental_all;
            m.skip.extend(other.skip);
            m.experimental.extend(other.experimental);
            return m;
        }
        self.clone()
    }

    fn allows(&self, rule: &Rule) -> bool {
        if rule.experimental {
            self.experimental_all || self.experimental.contains(rule.name)
        } else {
            !(self.skip_all || self.skip.contains(rule.name))
        }
    }
}

fn quote(s: &str) -> String {
    super::instructions::values::go_quote(s)
}

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintWarning {
    /// The rule's name.
    pub rule: &'static str,
    /// The rule's description.
    pub description: &'static str,
    /// The rule's documentation link.
    pub url: &'static str,
    /// The message (BuildKit's "detail").
    pub message: String,
    /// The lines it points at.
    pub location: Option<LineRange>,
}

impl LintWarning {
    /// `WARNING: Rule - URL` then the message rendered at its line like an error.
    pub fn render(&self, source: &str, file_name: &str) -> String {
        let mut out = format!("WARNING: {}", self.rule);
        if !self.url.is_empty() {
            out.push_str(" - ");
            out.push_str(self.url);
        }
        out.push('\n');
        let err = FrontendError {
            message: self.message.clone(),
            locations: self.location.into_iter().collect(),
        };
        out.push_str(&err.render(source, file_name));
        out
    }
}

/// Collects warnings under a file-wide configuration.
#[derive(Debug, Clone, Default)]
pub struct Linter {
    /// The file-wide configuration (`# check=` directive or the caller's override).
    pub config: LintConfig,
    /// Warnings in the order they were found.
    pub warnings: Vec<LintWarning>,
}

impl Linter {
    /// A linter with the given file-wide configuration.
    pub fn new(config: LintConfig) -> Self {
        Self {
            config,
            warnings: Vec::new(),
        }
    }

    /// Reports `rule` under the file-wide configuration.
    pub fn report(&mut self, rule: &Rule, loc: Option<LineRange>, message: String) {
        let cfg = self.config.clone();
        self.report_with(&cfg, rule, loc, message);
    }

    /// Reports `rule` under `cfg` (the file-wide one merged with an instruction's comments).
    pub fn report_with(
        &mut self,
        cfg: &LintConfig,
        rule: &Rule,
        loc: Option<LineRange>,
        message: String,
    ) {
        if !cfg.allows(rule) {
            return;
        }
        self.warnings.push(LintWarning {
            rule: rule.name,
            description: rule.description,
            url: rule.url,
            message,
            location: loc,
        });
    }

    /// The warnings sorted by line as BuildKit prints them (stable for equal lines).
    pub fn sorted(&self) -> Vec<LintWarning> {
        let mut w = self.warnings.clone();
        w.sort_by_key(|w| w.location.map_or(0, |l| l.start));
        w
    }

    /// With `error=true` and at least one warning: `lint violation found for rules: A, B`
    /// at the first warning's location.
    pub fn error(&self) -> Option<FrontendError> {
        if !self.config.error || self.warnings.is_empty() {
            return None;
        }
        let mut names: Vec<&str> = Vec::new();
        for w in &self.warnings {
            if !names.contains(&w.rule) {
                names.push(w.rule);
            }
        }
        let mut e = FrontendError::new(format!(
            "lint violation found for rules: {}",
            names.join(", ")
        ));
        if let Some(l) = self.sorted().first().and_then(|w| w.location) {
            e.locations.push(l);
        }
        Some(e)
    }
}

/// BuildKit's secret-name heuristic for SecretsUsedInArgOrEnv.
pub(crate) fn looks_like_secret(key: &str) -> bool {
    let edge = |set: &[&str]| {
        let lower = key.to_lowercase();
        set.iter().any(|t| {
            lower == *t
                || lower.starts_with(&format!("{t}_"))
                || lower.ends_with(&format!("_{t}"))
                || lower.contains(&format!("_{t}_"))
        })
    };
    let deny = [
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    let allow = ["public", "file", "version"];
    edge(&deny) && !edge(&allow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_options() {
        let c = LintConfig::parse("skip=A, B;error=true").unwrap();
        assert!(c.error);
        assert!(c.skip.contains("A") && c.skip.contains("B"));
        assert!(LintConfig::parse("skip=all").unwrap().skip_all);
        assert_eq!(
            LintConfig::parse("nope").unwrap_err(),
            "invalid check option \"nope\""
        );
        assert_eq!(
            LintConfig::parse("foo=bar").unwrap_err(),
            "invalid check option \"foo\""
        );
        let base = LintConfig::default();
        let m = base.merged_with_comments(&["check=skip=all // local".to_string()]);
        assert!(m.skip_all);
        let m = base.merged_with_comments(&["just a comment".to_string()]);
        assert_eq!(m, base);
    }

    #[test]
    fn secrets_heuristic() {
        for k in [
            "SECRET_PASSPHRASE",
            "SUPER_Secret",
            "password",
            "auth",
            "apikey",
            "git_key",
        ] {
            assert!(looks_like_secret(k), "{k}");
        }
        for k in [
            "PUBLIC_KEY",
            "public_token",
            "SECRET_PASSPHRASE_FILE",
            "sunflower",
            "AUTH_MODULE_VERSION",
            "password_file",
        ] {
            assert!(!looks_like_secret(k), "{k}");
        }
    }
}
