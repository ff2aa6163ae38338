//! The part of Go's text/template that `--format` strings use in practice, evaluated over a
//! JSON value: `{{.Field.Sub}}`, `{{.}}`, `{{json .Field}}`, `{{index .Map "key"}}`,
//! `{{upper .X}}`/`{{lower .X}}`, `{{join .List ", "}}`. docker's `json` (and `table`) format
//! keywords are handled by the commands; anything else in braces is an error, not silence.

use serde_json::Value;

/// A parsed `--format` template.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Action(Action),
}

#[derive(Debug, Clone)]
struct Action {
    func: Option<String>,
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` as its path (empty for `.`).
    Path(Vec<String>),
    /// A quoted string.
    Str(String),
}

impl Template {
    /// Parses `source`; `\t` and `\n` written as two characters become a tab and a newline
    /// (docker's table formats rely on it).
    pub fn parse(source: &str) -> anyhow::Result<Template> {
        let source = source.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = source.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| anyhow::anyhow!("template: unclosed action in {source:?}"))?;
            let inner = after[..end]
                .trim()
                .trim_start_matches('-')
                .trim_end_matches('-');
            parts.push(Part::Action(parse_action(inner.trim())?));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Renders the template over `value`.
    pub fn render(&self, value: &Value) -> anyhow::Result<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Action(a) => out.push_str(&a.eval(value)?),
            }
        }
        Ok(out)
    }
}

fn parse_action(inner: &str) -> anyhow::Result<Action> {
    let mut words = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => {
                        if let Some(n) = chars.next() {
                            s.push(n)
                        }
                    }
                    Some(c) => s.push(c),
                    None => anyhow::bail!("template: unterminated string in {{{{{inner}}}}}"),
                }
            }
            words.push(Word::Str(s));
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
            words.push(Word::Bare(w));
        }
    }
    let arg = |w: Word| -> anyhow::Result<Arg> {
        match w {
            Word::Str(s) => Ok(Arg::Str(s)),
            Word::Bare(b) if b.starts_with('.') => Ok(Arg::Path(
                b.split('.')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect(),
            )),
            Word::Bare(b) => anyhow::bail!("template: function {b:?} not defined"),
        }
    };
    let mut words = words.into_iter();
    let Some(first) = words.next() else {
        anyhow::bail!("template: missing value for command");
    };
    let (func, args) = match first {
        Word::Bare(f) if !f.starts_with('.') => {
            anyhow::ensure!(
                matches!(f.as_str(), "json" | "index" | "upper" | "lower" | "join"),
                "template: function {f:?} not defined"
            );
            (Some(f), words.map(arg).collect::<anyhow::Result<Vec<_>>>()?)
        }
        w => {
            let mut args = vec![arg(w)?];
            args.extend(words.map(arg).collect::<anyhow::Result<Vec<_>>>()?);
            anyhow::ensure!(
                args.len() == 1,
                "template: can't give argument to non-function"
            );
            (None, args)
        }
    };
    Ok(Action { func, args })
}

enum Word {
    Bare(String),
    Str(String),
}

impl Action {
    fn eval(&self, root: &Value) -> anyhow::Result<String> {
        let values = self
            .args
            .iter()
            .map(|a| match a {
                Arg::Path(p) => lookup(root, p),
                Arg::Str(s) => Ok(Value::String(s.clone())),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let one = |name: &str| -> anyhow::Result<&Value> {
            anyhow::ensure!(
                values.len() == 1,
                "template: wrong number of args for {name}: want 1 got {}",
                values.len()
            );
            Ok(&values[0])
        };
        Ok(match self.func.as_deref() {
            None => go_print(one("value")?),
            Some("json") => serde_json::to_string(one("json")?)?,
            Some("upper") => go_print(one("upper")?).to_uppercase(),
            Some("lower") => go_print(one("lower")?).to_lowercase(),
            Some("index") => {
                anyhow::ensure!(values.len() == 2, "template: index wants 2 arguments");
                let found = match (&values[0], &values[1]) {
                    (Value::Object(m), Value::String(k)) => m.get(k).cloned(),
                    (Value::Array(a), Value::String(k)) => {
                        k.parse::<usize>().ok().and_then(|i| a.get(i).cloned())
                    }
                    _ => None,
                };
                found
                    .map(|v| go_print(&v))
                    .unwrap_or_else(|| "<no value>".into())
            }
            Some("join") => {
                anyhow::ensure!(values.len() == 2, "template: join wants 2 arguments");
                let sep = go_print(&values[1]);
                match &values[0] {
                    Value::Array(a) => a.iter().map(go_print).collect::<Vec<_>>().join(&sep),
                    v => go_print(v),
                }
            }
            Some(f) => anyhow::bail!("template: function {f:?} not defined"),
        })
    }
}

fn lookup(root: &Value, path: &[String]) -> anyhow::Result<Value> {
    let mut v = root;
    for (i, key) in path.iter().enumerate() {
        v = match v {
            Value::Object(m) => m.get(key).ok_or_else(|| {
                anyhow::anyhow!(
                    "template: can't evaluate field {key} in .{}",
                    path[..i].join(".")
                )
            })?,
            Value::Null => return Ok(Value::Null),
            _ => anyhow::bail!("template: can't evaluate field {key}: not an object"),
        };
    }
    Ok(v.clone())
}

/// Go's `fmt.Print` of the value as a Go program would hold it.
fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_print(&m[k])))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn fields_functions_and_errors() {
        let v = json!({"Version": "1.2", "Client": {"Os": "linux"}, "L": ["a", "b"], "M": {"b": 2, "a": true}});
        assert_eq!(render("v={{.Version}}", &v), "v=1.2");
        assert_eq!(
            render("{{ .Client.Os }}/{{json .L}}", &v),
            "linux/[\"a\",\"b\"]"
        );
        assert_eq!(render("{{.L}} {{.M}}", &v), "[a b] map[a:true b:2]");
        assert_eq!(
            render("{{join .L \",\"}}\\t{{upper .Version}}", &v),
            "a,b\t1.2"
        );
        assert_eq!(render("{{index .M \"b\"}}", &v), "2");
        assert_eq!(render("{{json .}}", &json!({"a": 1})), "{\"a\":1}");
        assert!(Template::parse("{{.Nope}}").unwrap().render(&v).is_err());
        assert!(Template::parse("{{printf .X}}").is_err());
        assert!(Template::parse("{{.X").is_err());
    }
}
