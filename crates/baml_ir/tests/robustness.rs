//! The parser and validator terminate without panicking on any input: every prefix of every
//! fixture, byte-level mutations of them, and pathological nesting.
#![allow(clippy::unwrap_used, clippy::manual_assert, clippy::format_collect)]

use std::path::Path;

fn fixtures() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["valid", "invalid"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(dir);
        for e in std::fs::read_dir(root).unwrap() {
            out.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
    }
    out
}

/// Loads on a thread with a deadline, so a parser that loops fails the test instead of
/// hanging it.
fn load(src: &str) {
    let owned = src.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let _ = baml_ir::load(&[("f.baml".to_string(), owned)]);
            let _ = tx.send(());
        })
        .unwrap();
    if rx.recv_timeout(std::time::Duration::from_secs(10)).is_err() {
        panic!("loading did not finish within 10 s (or panicked) on input:\n{src}");
    }
}

#[test]
fn every_prefix_of_every_fixture() {
    for src in fixtures() {
        for (i, _) in src.char_indices() {
            load(&src[..i]);
        }
    }
}

#[test]
fn mutated_fixtures() {
    // A small deterministic generator (xorshift), so failures reproduce.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet: &[u8] = b"{}[]()<>@#\"|?:,=/\\\n -_.aZ09*!";
    for src in fixtures() {
        for _ in 0..40 {
            let mut bytes = src.clone().into_bytes();
            for _ in 0..=(next() % 4) {
                if bytes.is_empty() {
                    break;
                }
                let at = usize::try_from(next() % bytes.len() as u64).unwrap();
                let c = alphabet[usize::try_from(next() % alphabet.len() as u64).unwrap()];
                match next() % 3 {
                    0 => bytes[at] = c,
                    1 => bytes.insert(at, c),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            let input = String::from_utf8_lossy(&bytes).into_owned();
            if std::env::var("BAML_FUZZ_TRACE").is_ok() {
                std::fs::write("/tmp/last_fuzz_input.baml", &input).unwrap();
            }
            load(&input);
        }
    }
}

#[test]
fn pathological_nesting_is_bounded() {
    let deep = 100_000;
    load(&format!(
        "type T = {}int{}",
        "(".repeat(deep),
        ")".repeat(deep)
    ));
    load(&format!(
        "type T = {}string{}",
        "map<string, ".repeat(deep),
        ">".repeat(deep)
    ));
    load(&format!(
        "client<llm> C {{\n provider openai\n options {{\n a {}\n }}\n}}",
        "[".repeat(deep)
    ));
    load(&format!(
        "client<llm> C {{\n provider openai\n options {}",
        "{\n a ".repeat(deep)
    ));
    load(&format!("type T = int{}", "[]".repeat(deep)));
    load(&format!("type T = int{}", "?".repeat(deep)));
    load(&format!("type T = {}", "int | ".repeat(deep)));
    load(&"{".repeat(deep));
    load(&"#\"".repeat(deep));
    load(&"class A {\n".repeat(10_000));
    // A chain of aliases deeper than the cycle check's bound.
    let chain: String = (0..5_000)
        .map(|i| format!("type A{i} = A{}\n", i + 1))
        .collect();
    load(&chain);
}

#[test]
fn invalid_messages_name_what_was_found() {
    let d = baml_ir::load(&[(
        "f.baml".into(),
        "class A {\n  x int\n  y int @alias(\n}\n".into(),
    )])
    .unwrap_err();
    assert!(!d.is_empty());
    for x in &d {
        assert!(
            !x.message.is_empty() && x.line >= 1 && x.column >= 1,
            "{x:?}"
        );
    }
}

/// Found by `npm run fuzz:baml`: a file with one error per line was quadratic (each error's line
/// and column were counted from the top of the file): 11,000 error lines took 0.3 s, 46,000
/// took 7 s. 200,000 of them now load within `load`'s deadline, and every position is right.
#[test]
fn thousands_of_errors_are_located_in_linear_time() {
    let head = "function F(n: int) -> int {\n  client \"openai/gpt-4o\"\n  prompt #\"{{ n }}\"#\n";
    let src = format!("{head}{}}}\n", "#\n".repeat(200_000));
    load(&src);
    let diags = baml_ir::load(&[(
        "f.baml".to_string(),
        format!("{head}{}}}\n", "#\n".repeat(2000)),
    )])
    .unwrap_err();
    assert_eq!(diags.len(), 2000, "{:?}", &diags[..3]);
    for (i, d) in diags.iter().enumerate() {
        assert_eq!(
            (d.line, d.column),
            (u32::try_from(i).unwrap() + 4, 1),
            "{d:?}"
        );
    }
}

#[test]
fn line_index_agrees_with_line_col() {
    let text = "ab\nçé\n\n😀x\nlast";
    let index = baml_parser::LineIndex::new(text);
    for offset in 0..=u32::try_from(text.len()).unwrap() + 3 {
        assert_eq!(
            index.line_col(offset),
            baml_parser::line_col(text, offset),
            "{offset}"
        );
    }
}
