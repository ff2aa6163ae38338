//! Instruction flags, parsed as BuildKit's `bflag.go` does.

use std::collections::BTreeMap;

use super::error::with_suggestion;

/// The kind of value a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--link`, `--link=true|false`.
    Bool,
    /// `--from=x`; the last one is refused if repeated.
    Str,
    /// `--mount=...`, may repeat.
    Strs,
}

/// The flags an instruction accepts and the values found.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    bools: BTreeMap<&'static str, bool>,
    strs: BTreeMap<&'static str, String>,
    lists: BTreeMap<&'static str, Vec<String>>,
    used: Vec<&'static str>,
}

impl Flags {
    /// Parses `raw` (e.g. `["--from=x", "--link"]`) against `defs`.
    pub(crate) fn parse(raw: &[String], defs: &[(&'static str, Kind)]) -> Result<Self, String> {
        let mut out = Flags::default();
        for a in raw {
            if a == "--" {
                // POSIX: `--` ends the options.
                break;
            }
            if !a.starts_with("--") {
                return Err(format!("arg should start with -- : {a}"));
            }
            let (flag_name, value) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (a.as_str(), None),
            };
            let name = &flag_name[2..];
            let Some(&(key, kind)) = defs.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = defs.iter().map(|(n, _)| *n).collect();
                return Err(with_suggestion(
                    format!("unknown flag: {flag_name}"),
                    name,
                    &names,
                    true,
                ));
            };
            if out.used.contains(&key) && kind != Kind::Strs {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            if !out.used.contains(&key) {
                out.used.push(key);
            }
            match kind {
                Kind::Bool => {
                    if value == Some("") {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    let v = value.unwrap_or("");
                    let b = match v.to_lowercase().as_str() {
                        "true" | "" => true,
                        "false" => false,
                        _ => {
                            return Err(format!(
                                "expecting boolean value for flag {flag_name}, not: {v}"
                            ))
                        }
                    };
                    out.bools.insert(key, b);
                }
                Kind::Str => {
                    let Some(v) = value else {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    };
                    out.strs.insert(key, v.to_string());
                }
                Kind::Strs => {
                    let Some(v) = value else {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    };
                    out.lists.entry(key).or_default().push(v.to_string());
                }
            }
        }
        Ok(out)
    }

    /// A boolean flag's value (false when absent).
    pub(crate) fn bool(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }

    /// A boolean flag's value when it was given.
    pub(crate) fn opt_bool(&self, name: &str) -> Option<bool> {
        self.bools.get(name).copied()
    }

    /// A string flag's value; `None` when absent or empty (BuildKit treats both as unset).
    pub(crate) fn str(&self, name: &str) -> Option<String> {
        self.strs.get(name).filter(|s| !s.is_empty()).cloned()
    }

    /// A string flag's value when given, empty included.
    pub(crate) fn raw_str(&self, name: &str) -> Option<&str> {
        self.strs.get(name).map(String::as_str)
    }

    /// A repeatable flag's values in order.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.lists.get(name).cloned().unwrap_or_default()
    }

    /// Names of the flags given, in order of first use.
    pub(crate) fn used(&self) -> Vec<String> {
        self.used.iter().map(|s| s.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &[&str], defs: &[(&'static str, Kind)]) -> Result<Flags, String> {
        let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
        Flags::parse(&raw, defs)
    }

    #[test]
    fn bflag_semantics() {
        let defs = [
            ("str1", Kind::Str),
            ("bool1", Kind::Bool),
            ("m", Kind::Strs),
        ];
        assert!(p(&[], &defs).is_ok());
        assert!(p(&["--"], &defs).is_ok());
        assert!(p(&["--", "--nope"], &defs).is_ok());
        assert_eq!(
            p(&["--str1"], &defs).unwrap_err(),
            "missing a value on flag: --str1"
        );
        assert_eq!(p(&["--str1="], &defs).unwrap().raw_str("str1"), Some(""));
        assert_eq!(
            p(&["--str1=BYE"], &defs).unwrap().str("str1").as_deref(),
            Some("BYE")
        );
        assert!(p(&["--bool1"], &defs).unwrap().bool("bool1"));
        assert!(p(&["--bool1=TRUE"], &defs).unwrap().bool("bool1"));
        assert!(!p(&["--bool1=false"], &defs).unwrap().bool("bool1"));
        assert_eq!(
            p(&["--bool1="], &defs).unwrap_err(),
            "missing a value on flag: --bool1"
        );
        assert_eq!(
            p(&["--bool1=maybe"], &defs).unwrap_err(),
            "expecting boolean value for flag --bool1, not: maybe"
        );
        assert_eq!(
            p(&["--str1=a", "--str1=b"], &defs).unwrap_err(),
            "duplicate flag specified: --str1"
        );
        assert_eq!(p(&["--m=a", "--m=b"], &defs).unwrap().list("m"), ["a", "b"]);
        assert_eq!(
            p(&["--boo"], &defs).unwrap_err(),
            "unknown flag: --boo (did you mean bool1?)"
        );
        assert_eq!(
            p(&["--zzzzzz"], &defs).unwrap_err(),
            "unknown flag: --zzzzzz"
        );
        assert_eq!(
            p(&["--str2=x"], &defs).unwrap_err(),
            "unknown flag: --str2 (did you mean str1?)"
        );
        assert_eq!(
            p(&["-x"], &defs).unwrap_err(),
            "arg should start with -- : -x"
        );
    }
}
