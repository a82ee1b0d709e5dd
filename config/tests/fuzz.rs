//! Fuzz-style property: no input makes loading panic, and every failure is one line
//! naming the file.

mod common;

use proptest::prelude::*;
use tachyon_config::Config;

/// Fragments that tend to reach the interesting paths of the parser and the checks.
const TOKENS: &[&str] = &[
    "-",
    "0",
    "1",
    "\"",
    "=",
    "[",
    "]",
    "{",
    "}",
    ".",
    "_",
    "\n",
    "e",
    "1e400",
    "inf",
    "nan",
    "-0.0",
    "99999999999999999999",
    "0.000000000000000000000000000001",
    "true",
    "9223372036854775807",
    "-9223372036854775808",
    "1979-05-27",
    "\"abc\"",
    "\"0.001\"",
];

fn mutation() -> impl Strategy<Value = (usize, usize, String)> {
    let replacement = prop_oneof![
        proptest::sample::select(TOKENS).prop_map(str::to_owned),
        "[ -~]{0,8}",
    ];
    (0..common::BASE.len(), 0usize..6, replacement)
}

fn apply(base: &str, (at, remove, insert): &(usize, usize, String)) -> String {
    let mut s = base.to_owned();
    let start = (0..=*at)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    let end = (start + remove).min(s.len());
    let end = (end..=s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s.replace_range(start..end, insert);
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_configs_never_panic(edits in proptest::collection::vec(mutation(), 1..4)) {
        let text = edits.iter().fold(common::BASE.to_owned(), |s, e| apply(&s, e));
        match Config::from_str(&text, "fuzz.toml") {
            Ok(c) => {
                // Whatever loads must convert and pass the engine's own checks.
                prop_assert!(c.engine_config().validate().is_ok());
            }
            Err(e) => {
                let shown = e.to_string();
                prop_assert!(shown.starts_with("fuzz.toml: "));
                prop_assert!(!shown.contains('\n'), "multi-line error: {}", shown);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Config::from_str(&text, "fuzz.toml");
    }
}
