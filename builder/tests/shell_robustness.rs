//! The expander must never panic and must stay fast on hostile input; environments can
//! come from any of the provided [`Env`] implementations.

use std::collections::{BTreeMap, HashMap};

use strata_builder::dockerfile::shell::{EmptyEnv, Env, FnEnv, Lexer};

/// Characters that exercise every branch of the lexer and of the pattern matcher.
const ALPHABET: &[char] = &[
    '$', '{', '}', ':', '-', '+', '?', '#', '%', '/', '\\', '`', '\'', '"', '<', ' ', '\t', '\n',
    '*', '@', '0', '1', 'a', 'V', '_', '=', '.', 'é', '한', '\u{feff}', '\u{0}', '\u{a0}',
    '\u{fffd}', '🖖',
];

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }

    fn string(&mut self, max_len: usize) -> String {
        let len = self.next() % (max_len + 1);
        (0..len)
            .map(|_| ALPHABET[self.next() % ALPHABET.len()])
            .collect()
    }
}

fn lexers() -> Vec<Lexer> {
    let mut out = Vec::new();
    for escape in ['\\', '`'] {
        for flags in 0..16u8 {
            out.push(Lexer {
                escape,
                raw_quotes: flags & 1 != 0,
                raw_escapes: flags & 2 != 0,
                skip_process_quotes: flags & 4 != 0,
                skip_unset_env: flags & 8 != 0,
            });
        }
    }
    out
}

#[test]
fn random_input_never_panics() {
    let mut rng = Lcg(0x5eed);
    let lexers = lexers();
    for round in 0..6000 {
        // Values full of pattern syntax reach the matcher through `${V#$P}` and friends.
        let env: Vec<(String, String)> = ["V", "a", "_", "0", "é"]
            .iter()
            .map(|k| (k.to_string(), rng.string(12)))
            .collect();
        let input = rng.string(28);
        let lex = lexers[round % lexers.len()];
        if let Ok(e) = lex.process_word_with_matches(&input, &env) {
            assert!(
                e.words.iter().all(|w| !w.is_empty()),
                "{input:?}: empty word in {:?}",
                e.words
            );
        }
    }
}

#[test]
fn structured_random_input_never_panics() {
    // Well-formed `${V<op>...}` shapes with random operands get past the syntax checks.
    let ops = [
        ":-", "-", ":+", "+", ":?", "?", "#", "##", "%", "%%", "/", "//", ":", "=",
    ];
    let mut rng = Lcg(42);
    let lexers = lexers();
    for round in 0..6000 {
        let env = vec![("V", rng.string(16)), ("P", rng.string(6))];
        let op = ops[rng.next() % ops.len()];
        let input = format!(
            "{}${{V{op}{}}}{}",
            rng.string(4),
            rng.string(8),
            rng.string(4)
        );
        let _ = lexers[round % lexers.len()].process_words(&input, &env);
        let _ = Lexer::new('\\').process_word(&format!("${{V{op}$P}}"), &env);
    }
}

#[test]
fn many_stars_stay_linear() {
    let lex = Lexer::new('\\');
    let value = "ab".repeat(3000) + "c";
    let env = vec![("V", value.clone()), ("P", "*a".repeat(400) + "*c")];
    assert_eq!(lex.process_word("${V#$P}", &env).unwrap(), "");
    assert_eq!(lex.process_word("${V%%$P}", &env).unwrap(), "");
    let env = vec![("V", value.clone()), ("P", "*a".repeat(400) + "*d")];
    assert_eq!(lex.process_word("${V##$P}", &env).unwrap(), value);
    assert_eq!(lex.process_word("${V//$P/x}", &env).unwrap(), value);
}

#[test]
fn deep_nesting_does_not_overflow() {
    let lex = Lexer::new('\\');
    let depth = 200;
    let input = "${U:-".repeat(depth) + "x" + &"}".repeat(depth);
    assert_eq!(lex.process_word(&input, &EmptyEnv).unwrap(), "x");
    let stars = "*".repeat(100_000);
    assert_eq!(
        lex.process_word(&format!("${{V#{stars}}}"), &vec![("V", "abc")])
            .unwrap(),
        "abc"
    );
}

#[test]
fn env_implementations() {
    let lex = Lexer::new('\\');
    let input = "${A}-${B-unset}";
    let hash: HashMap<String, String> =
        HashMap::from([("A".into(), "1".into()), ("B".into(), "".into())]);
    let btree: BTreeMap<String, String> = hash.clone().into_iter().collect();
    let pairs = vec![("A", "0"), ("B", ""), ("A", "1")];
    let func = FnEnv(|name: &str| (name == "A").then(|| "1".to_string()));
    assert_eq!(lex.process_word(input, &hash).unwrap(), "1-");
    assert_eq!(lex.process_word(input, &btree).unwrap(), "1-");
    assert_eq!(lex.process_word(input, &pairs).unwrap(), "1-");
    assert_eq!(lex.process_word(input, pairs.as_slice()).unwrap(), "1-");
    assert_eq!(lex.process_word(input, &func).unwrap(), "1-unset");
    assert_eq!(lex.process_word(input, &EmptyEnv).unwrap(), "-unset");
    let dynamic: &dyn Env = &hash;
    assert_eq!(lex.process_word(input, dynamic).unwrap(), "1-");
    assert_eq!(lex.process_word(input, &dynamic).unwrap(), "1-");
}

#[test]
fn lexer_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Lexer>();
    assert_eq!(Lexer::default(), Lexer::new('\\'));
}
