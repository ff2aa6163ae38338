//! Build options and BuildKit's ARG/ENV scoping: the predefined platform arguments, the
//! global (meta) ARGs before the first FROM, and the ordered environment a stage expands
//! words against.
//!
//! BuildKit keeps one ordered environment per stage (its LLB state's env) in which ENV and
//! ARG values both land, the latest write winning; the image config's ENV is kept apart.
//! A child stage starts from its base stage's environment with the base's image ENV
//! re-applied on top, so an ENV of the base wins over an ARG of the same name there.

use std::collections::{BTreeMap, BTreeSet};

use super::instructions::{with_suggestion, FrontendError};

/// An OCI platform (`os/arch[/variant]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// Architecture, e.g. `amd64`.
    pub arch: String,
    /// Variant, e.g. `v7`; empty when none.
    pub variant: String,
}

impl Platform {
    /// A platform from its parts, normalised as containerd does.
    pub fn new(os: &str, arch: &str, variant: &str) -> Self {
        let (arch, variant) = normalize_arch(arch, variant);
        Self {
            os: os.to_lowercase(),
            arch,
            variant,
        }
    }

    /// `os/arch[/variant]` (containerd's `platforms.Format`).
    pub fn format(&self) -> String {
        let mut s = format!("{}/{}", self.os, self.arch);
        if !self.variant.is_empty() {
            s.push('/');
            s.push_str(&self.variant);
        }
        s
    }

    /// Parses a platform specifier (containerd's `platforms.Parse`); `default` fills the
    /// parts a short specifier leaves out.
    pub fn parse(spec: &str, default: &Platform) -> Result<Self, String> {
        if spec.contains('*') {
            return Err(format!(
                "{}: wildcards not yet supported: invalid argument",
                super::instructions::values::go_quote(spec)
            ));
        }
        let parts: Vec<&str> = spec.split('/').collect();
        for p in &parts {
            let ok = !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !ok {
                return Err(format!(
                    "{} is an invalid component of {}: platform specifier component must match \"^[A-Za-z0-9_.-]+$\": invalid argument",
                    super::instructions::values::go_quote(p),
                    super::instructions::values::go_quote(spec)
                ));
            }
        }
        let unknown = || {
            format!(
                "{}: unknown operating system or architecture: invalid argument",
                super::instructions::values::go_quote(spec)
            )
        };
        match parts.as_slice() {
            [one] => {
                let lower = one.to_lowercase();
                if is_known_os(&lower) {
                    Ok(Platform::new(&lower, &default.arch, &default.variant))
                } else if is_known_arch(&lower) {
                    let (arch, variant) = normalize_arch(&lower, "");
                    Ok(Platform {
                        os: default.os.clone(),
                        arch,
                        variant,
                    })
                } else {
                    Err(unknown())
                }
            }
            [os, arch] => Ok(Platform::new(os, arch, "")),
            [os, arch, variant] => Ok(Platform::new(os, arch, variant)),
            _ => Err(format!(
                "{}: cannot parse platform specifier: invalid argument",
                super::instructions::values::go_quote(spec)
            )),
        }
    }
}

fn is_known_os(s: &str) -> bool {
    matches!(
        s,
        "aix"
            | "android"
            | "darwin"
            | "dragonfly"
            | "freebsd"
            | "hurd"
            | "illumos"
            | "ios"
            | "js"
            | "linux"
            | "nacl"
            | "netbsd"
            | "openbsd"
            | "plan9"
            | "solaris"
            | "windows"
            | "zos"
            | "macos"
    )
}

fn is_known_arch(s: &str) -> bool {
    matches!(
        s,
        "386"
            | "amd64"
            | "amd64p32"
            | "arm"
            | "armbe"
            | "arm64"
            | "arm64be"
            | "ppc64"
            | "ppc64le"
            | "loong64"
            | "mips"
            | "mipsle"
            | "mips64"
            | "mips64le"
            | "mips64p32"
            | "mips64p32le"
            | "ppc"
            | "riscv"
            | "riscv64"
            | "s390"
            | "s390x"
            | "sparc"
            | "sparc64"
            | "wasm"
            | "i386"
            | "x86_64"
            | "x86-64"
            | "aarch64"
            | "armhf"
            | "armel"
    )
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_lowercase();
    let variant = variant.to_lowercase();
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => "v9".into(),
                _ => variant,
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

/// The inputs of the front end that come from outside the Dockerfile. Everything the
/// compiler may not read itself (host platform, proxy variables, base image configs) is
/// passed in here.
#[derive(Debug, Clone, Default)]
pub struct FrontendOptions {
    /// `--build-arg NAME=VALUE` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to build; `None` for the last one.
    pub target: Option<String>,
    /// The platform the build runs on (BUILDPLATFORM).
    pub build_platform: Platform,
    /// `--platform`: the platform to build for; `None` for the build platform.
    pub target_platform: Option<Platform>,
    /// Proxy variables the caller read from its environment (`HTTP_PROXY`, `no_proxy`, ...).
    /// `--build-arg` values of the same names win over them.
    pub proxy_env: BTreeMap<String, String>,
    /// Configs of external base images, by the reference as written after expansion
    /// (`FROM alpine:3` -> `alpine:3`). A stage whose base is missing here starts from an
    /// empty config; the solver fills this map on a second pass once it has pulled them.
    pub base_images: BTreeMap<String, super::super::graph::ImageConfig>,
    /// Process every stage, not only those the target reaches (what `--check` does when no
    /// target is given).
    pub all_stages: bool,
}

impl FrontendOptions {
    /// The target platform: `--platform` or the build platform.
    pub fn effective_target_platform(&self) -> Platform {
        self.target_platform
            .clone()
            .unwrap_or_else(|| self.build_platform.clone())
    }

    /// The proxy variables a RUN gets without declaring them: the caller's values overlaid
    /// with `--build-arg` values of the same names (case-insensitive names, as BuildKit).
    pub fn proxy_vars(&self) -> Vec<(String, String)> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in self.proxy_env.iter().chain(self.build_args.iter()) {
            if PROXY_ARGS.iter().any(|p| p.eq_ignore_ascii_case(k)) {
                out.insert(k.clone(), v.clone());
            }
        }
        out.into_iter().collect()
    }
}

/// The proxy variables BuildKit passes to RUN without an ARG (and keeps out of history).
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// BuildKit's predefined platform arguments, in its order.
pub const PREDEFINED_ARGS: &[&str] = &[
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDOSVERSION",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETOSVERSION",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
];

/// ARGs that only configure the build and never reach a RUN's environment.
pub(crate) const NON_ENV_ARGS: &[&str] =
    &["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// An ordered environment with BuildKit's `EnvList` semantics: setting a key moves it to
/// the end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvList {
    vars: Vec<(String, String)>,
}

impl EnvList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (moving it to the end).
    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_string(), value.to_string()));
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.vars.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// The pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.vars
    }

    /// `KEY=VALUE` strings, in order.
    pub fn to_strings(&self) -> Vec<String> {
        self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

/// The global scope: predefined args overlaid with the meta ARGs (before the first FROM).
#[derive(Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Values visible in FROM lines and to bare `ARG NAME` re-declarations.
    pub env: EnvList,
    /// Every meta ARG declared, with its resolved value (or `None`), in order.
    pub declared: Vec<(String, Option<String>)>,
}

impl GlobalArgs {
    /// Names a FROM line may use without an UndefinedArgInFrom warning.
    pub(crate) fn known_names(&self) -> BTreeSet<String> {
        let mut s: BTreeSet<String> = self.env.keys().into_iter().map(String::from).collect();
        s.extend(self.declared.iter().map(|(k, _)| k.clone()));
        s
    }
}

/// BuildKit's `defaultArgs`: the predefined platform arguments, `--build-arg` overriding.
pub fn predefined_args(opts: &FrontendOptions, target_stage: &str) -> EnvList {
    let bp = &opts.build_platform;
    let tp = opts.effective_target_platform();
    let target = if target_stage.is_empty() {
        "default"
    } else {
        target_stage
    };
    let vals = [
        ("BUILDPLATFORM", bp.format()),
        ("BUILDOS", bp.os.clone()),
        ("BUILDOSVERSION", String::new()),
        ("BUILDARCH", bp.arch.clone()),
        ("BUILDVARIANT", bp.variant.clone()),
        ("TARGETPLATFORM", tp.format()),
        ("TARGETOS", tp.os.clone()),
        ("TARGETOSVERSION", String::new()),
        ("TARGETARCH", tp.arch.clone()),
        ("TARGETVARIANT", tp.variant.clone()),
        ("TARGETSTAGE", target.to_string()),
    ];
    let mut env = EnvList::new();
    for (k, v) in vals {
        let v = opts.build_args.get(k).cloned().unwrap_or(v);
        env.set(k, &v);
    }
    env
}

/// Resolves the meta ARGs (BuildKit's `buildMetaArgs`): a `--build-arg` wins, else the
/// default is expanded against the args so far; a bare name with neither is declared but
/// unset. `expand` is the word expander (escape token and lexer supplied by the caller).
pub(crate) fn resolve_meta_args(
    predefined: EnvList,
    metas: &[(Vec<super::instructions::ArgDecl>, usize, usize)],
    build_args: &BTreeMap<String, String>,
    expand: &dyn Fn(&str, &EnvList) -> Result<String, String>,
) -> Result<GlobalArgs, FrontendError> {
    let mut g = GlobalArgs {
        env: predefined,
        declared: Vec::new(),
    };
    for (decls, start, end) in metas {
        for d in decls {
            let value = match build_args.get(&d.name) {
                Some(v) => Some(v.clone()),
                None => match &d.default {
                    Some(def) => {
                        Some(expand(def, &g.env).map_err(|e| FrontendError::at(e, *start, *end))?)
                    }
                    None => None,
                },
            };
            if let Some(v) = &value {
                g.env.set(&d.name, v);
            }
            g.declared.retain(|(k, _)| k != &d.name);
            g.declared.push((d.name.clone(), value));
        }
    }
    Ok(g)
}

/// The `--build-arg` names no ARG consumed, sorted, for the warning
/// `[Warning] One or more build-args [A B] were not consumed` (docker's classic builder;
/// proxy variables, the predefined arguments, `SOURCE_DATE_EPOCH` and BuildKit's own
/// `BUILDKIT_*` settings never count as unused).
pub fn unused_build_args(
    build_args: &BTreeMap<String, String>,
    declared: &BTreeSet<String>,
) -> Vec<String> {
    build_args
        .keys()
        .filter(|k| {
            !declared.contains(*k)
                && !PROXY_ARGS.contains(&k.as_str())
                && !PREDEFINED_ARGS.contains(&k.as_str())
                && !k.starts_with("BUILDKIT_")
                && k.as_str() != "SOURCE_DATE_EPOCH"
        })
        .cloned()
        .collect()
}

/// The warning text for unused build args, or `None` when all were used.
pub fn unused_build_args_warning(unused: &[String]) -> Option<String> {
    if unused.is_empty() {
        None
    } else {
        Some(format!(
            "[Warning] One or more build-args [{}] were not consumed",
            unused.join(" ")
        ))
    }
}

/// `target stage "x" could not be found` with BuildKit's suggestion.
pub(crate) fn unknown_target(target: &str, names: &[&str]) -> FrontendError {
    FrontendError::new(with_suggestion(
        format!(
            "target stage {} could not be found",
            super::instructions::values::go_quote(target)
        ),
        target,
        names,
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> FrontendOptions {
        FrontendOptions {
            build_platform: Platform::new("linux", "amd64", ""),
            ..FrontendOptions::default()
        }
    }

    #[test]
    fn platforms_parse_and_normalise() {
        let host = Platform::new("linux", "amd64", "");
        assert_eq!(
            Platform::parse("linux/arm64", &host).unwrap().format(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/arm", &host).unwrap().format(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("arm64", &host).unwrap().format(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/aarch64/v8", &host).unwrap().format(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/", &host).unwrap_err(),
            "\"\" is an invalid component of \"linux/\": platform specifier component must match \"^[A-Za-z0-9_.-]+$\": invalid argument"
        );
    }

    #[test]
    fn predefined_and_overrides() {
        let mut o = opts();
        o.target_platform = Some(Platform::new("linux", "arm", "v7"));
        o.build_args.insert("BUILDOS".into(), "custom".into());
        let env = predefined_args(&o, "");
        assert_eq!(env.get("BUILDPLATFORM"), Some("linux/amd64"));
        assert_eq!(env.get("BUILDOS"), Some("custom"));
        assert_eq!(env.get("TARGETPLATFORM"), Some("linux/arm/v7"));
        assert_eq!(env.get("TARGETVARIANT"), Some("v7"));
        assert_eq!(env.get("TARGETSTAGE"), Some("default"));
        assert_eq!(
            predefined_args(&o, "build").get("TARGETSTAGE"),
            Some("build")
        );
    }

    #[test]
    fn env_list_moves_replaced_keys_last() {
        let mut e = EnvList::new();
        e.set("A", "1");
        e.set("B", "2");
        e.set("A", "3");
        assert_eq!(e.to_strings(), ["B=2", "A=3"]);
    }

    #[test]
    fn unused_args_warning() {
        let mut ba = BTreeMap::new();
        for k in [
            "B",
            "A",
            "HTTP_PROXY",
            "USED",
            "TARGETARCH",
            "SOURCE_DATE_EPOCH",
        ] {
            ba.insert(k.to_string(), "x".to_string());
        }
        let declared: BTreeSet<String> = ["USED".to_string()].into();
        let unused = unused_build_args(&ba, &declared);
        assert_eq!(
            unused_build_args_warning(&unused).unwrap(),
            "[Warning] One or more build-args [A B] were not consumed"
        );
    }

    #[test]
    fn proxy_vars_merge() {
        let mut o = opts();
        o.proxy_env.insert("HTTP_PROXY".into(), "host".into());
        o.proxy_env.insert("no_proxy".into(), "local".into());
        o.build_args.insert("HTTP_PROXY".into(), "arg".into());
        o.build_args.insert("FOO".into(), "x".into());
        assert_eq!(
            o.proxy_vars(),
            [
                ("HTTP_PROXY".to_string(), "arg".to_string()),
                ("no_proxy".to_string(), "local".to_string())
            ]
        );
    }
}
