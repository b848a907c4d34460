//! `.baml` fixtures: every file under `fixtures/valid` loads without diagnostics (alone and
//! all together as one project); every file under `fixtures/invalid` produces exactly the
//! diagnostics its `// expect: LINE:COL: message` lines name (the message may be a prefix).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn files(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "baml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    out.sort();
    out
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn valid_fixtures_load_cleanly() {
    let all = files("valid");
    assert!(all.len() >= 30, "only {} valid fixtures", all.len());
    for (path, text) in &all {
        if name(path).starts_with("cross_file") {
            continue;
        }
        let result = baml_ir::load(&[(name(path), text.clone())]);
        assert!(result.is_ok(), "{}: {:#?}", name(path), result.err());
    }
    let project: Vec<(String, String)> = all.iter().map(|(p, t)| (name(p), t.clone())).collect();
    let ir = baml_ir::load(&project).unwrap_or_else(|d| panic!("{d:#?}"));
    assert!(ir.class("SharedA").is_some() && ir.class("SharedB").is_some());
}

#[test]
fn invalid_fixtures_give_their_diagnostics() {
    let all = files("invalid");
    assert!(all.len() >= 30, "only {} invalid fixtures", all.len());
    let mut failures = Vec::new();
    for (path, text) in &all {
        let expected: Vec<(u32, u32, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("// expect: "))
            .map(|e| {
                let mut parts = e.splitn(3, ':');
                let line = parts.next().unwrap().trim().parse().unwrap();
                let col = parts.next().unwrap().trim().parse().unwrap();
                (line, col, parts.next().unwrap().trim().to_string())
            })
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no `// expect:` lines",
            name(path)
        );
        let actual = match baml_ir::load(&[(name(path), text.clone())]) {
            Ok(_) => Vec::new(),
            Err(d) => d,
        };
        let ok = actual.len() == expected.len()
            && expected.iter().zip(&actual).all(|((l, c, m), d)| {
                d.line == *l && d.column == *c && d.message.starts_with(m.as_str())
            });
        if !ok {
            let got: Vec<String> = actual
                .iter()
                .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
                .collect();
            let want: Vec<String> = expected
                .iter()
                .map(|(l, c, m)| format!("{l}:{c}: {m}"))
                .collect();
            failures.push(format!(
                "{}\n  expected: {want:#?}\n  got: {got:#?}",
                name(path)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
