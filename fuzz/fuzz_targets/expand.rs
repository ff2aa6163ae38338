//! Word expansion (the BuildKit shell lexer) on its own.
//!
//! Input (UTF-8, lossily): `WORD \0 NAME=VALUE \0 NAME=VALUE ...`; an entry without `=`
//! sets the name to the empty string, a later entry overrides an earlier one of the same
//! name. The word is expanded with both escape characters and every combination of the
//! four mode flags, through every entry point and three `Env` implementations, and the
//! results must agree:
//! - `process_word` / `process_words` are the two views of `process_word_with_matches`;
//! - a `Vec` of pairs, a `HashMap` and an `FnEnv` over the same variables expand alike;
//! - `matched` names are set in the environment, `unmatched` ones are not.

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use strata_builder::dockerfile::shell::{EmptyEnv, Env, FnEnv, Lexer};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let mut parts = input.split('\0');
    let word = parts.next().unwrap_or("");
    let pairs: Vec<(String, String)> = parts
        .map(|e| {
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let map: HashMap<String, String> = pairs.iter().cloned().collect();
    let func = FnEnv(|name: &str| map.get(name).cloned());

    for escape in ['\\', '`'] {
        for mask in 0u8..16 {
            let lex = Lexer {
                escape,
                raw_quotes: mask & 1 != 0,
                raw_escapes: mask & 2 != 0,
                skip_process_quotes: mask & 4 != 0,
                skip_unset_env: mask & 8 != 0,
            };
            let full = lex.process_word_with_matches(word, &pairs);
            assert_eq!(
                lex.process_word(word, &pairs),
                full.clone().map(|e| e.word),
                "process_word disagrees ({lex:?})"
            );
            assert_eq!(
                lex.process_words(word, &pairs),
                full.clone().map(|e| e.words),
                "process_words disagrees ({lex:?})"
            );
            assert_eq!(
                lex.process_word_with_matches(word, &map),
                full,
                "HashMap env disagrees with Vec env ({lex:?})"
            );
            assert_eq!(
                lex.process_word_with_matches(word, &func),
                full,
                "FnEnv disagrees with Vec env ({lex:?})"
            );
            if let Ok(e) = &full {
                for name in &e.matched {
                    assert!(
                        Env::get(&pairs, name).is_some(),
                        "matched {name:?} is unset ({lex:?})"
                    );
                    assert!(
                        !e.unmatched.contains(name),
                        "{name:?} both matched and unmatched ({lex:?})"
                    );
                }
                for name in &e.unmatched {
                    assert!(
                        Env::get(&pairs, name).is_none(),
                        "unmatched {name:?} is set ({lex:?})"
                    );
                }
            }
            if let Ok(e) = lex.process_word_with_matches(word, &EmptyEnv) {
                assert!(e.matched.is_empty(), "matches in an empty env ({lex:?})");
            }
        }
    }
});
