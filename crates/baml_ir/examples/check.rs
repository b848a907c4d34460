//! Loads `.baml` projects and prints every diagnostic, or a summary of what loaded:
//! `cargo run -p baml_ir --example check -- <dir-or-file>... [--ts]`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::path::Path;

fn collect(root: &Path, path: &Path, out: &mut Vec<(String, String)>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            collect(root, &e, out);
        }
    } else if path.extension().is_some_and(|e| e == "baml") {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        out.push((rel, std::fs::read_to_string(path).unwrap()));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ts = args.iter().any(|a| a == "--ts");
    let mut failed = false;
    for arg in args.iter().filter(|a| !a.starts_with("--")) {
        let root = Path::new(arg);
        let mut files = Vec::new();
        collect(
            if root.is_dir() {
                root
            } else {
                root.parent().unwrap()
            },
            root,
            &mut files,
        );
        let lines: usize = files.iter().map(|(_, s)| s.lines().count()).sum();
        let started = std::time::Instant::now();
        match baml_ir::load(&files) {
            Ok(ir) => {
                println!(
                    "{arg}: OK, {} files, {lines} lines in {:?}: {} classes, {} enums, {} aliases, {} functions, {} clients, {} tests",
                    files.len(),
                    started.elapsed(),
                    ir.classes.len(),
                    ir.enums.len(),
                    ir.aliases.len(),
                    ir.functions.len(),
                    ir.clients.len(),
                    ir.tests.len()
                );
                if ts {
                    println!("{}", baml_ir::typescript_declarations(&ir));
                }
            }
            Err(diags) => {
                failed = true;
                for d in &diags {
                    println!("{arg}/{}:{}:{}: {}", d.file, d.line, d.column, d.message);
                }
                println!("{arg}: {} diagnostics", diags.len());
            }
        }
    }
    std::process::exit(i32::from(failed));
}
