//! A mutation fuzzer for the `.baml` front end and the output parser (stable Rust, no
//! sanitizers needed): `cargo run --release -p baml_sap --example fuzz -- <seconds> [target]`,
//! where `target` is `baml` (the `.baml` front end: parser and validator), `output` (the output
//! parser) or `both` (the default, alternating).
//!
//! Seeds are the `.baml` fixtures and the recorded model outputs; each round mutates one
//! (byte edits, splices with another seed, repeated chunks), loads it as a project, and parses
//! it as several types in both modes. A panic or an input taking over a second is reported with
//! the input saved under `target/fuzz-findings/`; the exit code is non-zero if any was found.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn seeds(root: &Path) -> (Vec<String>, Vec<String>) {
    let mut baml = Vec::new();
    for dir in [
        "crates/baml_ir/tests/fixtures/valid",
        "crates/baml_ir/tests/fixtures/invalid",
    ] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            baml.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
    }
    let mut raws = Vec::new();
    for file in ["sap_vectors.json", "baml_vectors.json"] {
        let text =
            std::fs::read_to_string(root.join("crates/baml_sap/tests/vectors").join(file)).unwrap();
        let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        raws.extend(
            vectors
                .iter()
                .filter_map(|v| v["raw"].as_str().map(str::to_string)),
        );
    }
    (baml, raws)
}

const ALPHABET: &[u8] = b"{}[]()<>@#\"'`|?:,=/\\\n\t -_.aZ09*!";

fn mutate(rng: &mut Rng, input: &str, other: &str) -> String {
    let mut bytes = input.as_bytes().to_vec();
    for _ in 0..=rng.below(6) {
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] = ALPHABET[rng.below(ALPHABET.len())];
            }
            1 => {
                let at = rng.below(bytes.len() + 1);
                bytes.insert(at, ALPHABET[rng.below(ALPHABET.len())]);
            }
            2 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                let len = rng.below(16).min(bytes.len() - at);
                bytes.drain(at..at + len);
            }
            3 => {
                // Splice a piece of another seed in.
                let o = other.as_bytes();
                if !o.is_empty() {
                    let from = rng.below(o.len());
                    let len = rng.below(64).min(o.len() - from);
                    let at = rng.below(bytes.len() + 1);
                    bytes.splice(at..at, o[from..from + len].iter().copied());
                }
            }
            4 if !bytes.is_empty() => {
                // Repeat a chunk many times (nesting, long runs).
                let at = rng.below(bytes.len());
                let len = (1 + rng.below(8)).min(bytes.len() - at);
                let chunk = bytes[at..at + len].to_vec();
                let times = 1 + rng.below(2000);
                let insert: Vec<u8> = chunk.iter().copied().cycle().take(len * times).collect();
                bytes.splice(at..at, insert);
            }
            _ => {
                if !bytes.is_empty() {
                    let at = rng.below(bytes.len());
                    bytes.truncate(at);
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn save(dir: &Path, kind: &str, n: usize, input: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{kind}-{n}.txt"));
    std::fs::write(&path, input).unwrap();
    path
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(60);
    let target = std::env::args().nth(2).unwrap_or_else(|| "both".into());
    let (do_baml, do_output) = match target.as_str() {
        "baml" => (true, false),
        "output" => (false, true),
        "both" => (true, true),
        other => {
            println!("unknown target {other:?}: expected baml, output or both");
            std::process::exit(2);
        }
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let findings = root.join("target/fuzz-findings");
    let (baml, raws) = seeds(&root);
    let project = baml_ir::load(&[(
        "main.baml".into(),
        std::fs::read_to_string(root.join("crates/baml_sap/tests/fuzz_project.baml")).unwrap(),
    )])
    .unwrap();
    let types: Vec<baml_ir::Type> = project.functions.iter().map(|f| f.ret.clone()).collect();
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ u64::from(std::process::id()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut rounds, mut problems, mut slowest) = (0usize, 0usize, Duration::ZERO);
    while Instant::now() < deadline {
        rounds += 1;
        if do_baml {
            fuzz_baml(
                &mut rng,
                &baml,
                rounds,
                &findings,
                &mut problems,
                &mut slowest,
            );
        }
        if do_output {
            fuzz_output(
                &mut rng,
                &project,
                &types,
                &raws,
                rounds,
                &findings,
                &mut problems,
                &mut slowest,
            );
        }
        if rounds % 20_000 == 0 {
            println!("{rounds} rounds, {problems} problems, slowest {slowest:?}");
        }
    }
    println!(
        "done ({target}): {rounds} rounds in {seconds} s, {problems} problems, slowest input {slowest:?}"
    );
    std::process::exit(i32::from(problems > 0));
}

/// One mutated `.baml` file, loaded as a project.
fn fuzz_baml(
    rng: &mut Rng,
    baml: &[String],
    rounds: usize,
    findings: &Path,
    problems: &mut usize,
    slowest: &mut Duration,
) {
    let (a, b) = (rng.below(baml.len()), rng.below(baml.len()));
    let src = mutate(rng, &baml[a], &baml[b]);
    let started = Instant::now();
    let ok =
        std::panic::catch_unwind(|| baml_ir::load(&[("f.baml".to_string(), src.clone())])).is_ok();
    let took = started.elapsed();
    *slowest = (*slowest).max(took);
    if !ok || took > Duration::from_secs(1) {
        *problems += 1;
        println!(
            "{} on a .baml input ({took:?}): {}",
            if ok { "slow" } else { "PANIC" },
            save(findings, "baml", rounds, &src).display()
        );
    }
}

/// One mutated model output, parsed as one of the project's return types, whole or partial.
#[allow(clippy::too_many_arguments)]
fn fuzz_output(
    rng: &mut Rng,
    project: &baml_ir::Ir,
    types: &[baml_ir::Type],
    raws: &[String],
    rounds: usize,
    findings: &Path,
    problems: &mut usize,
    slowest: &mut Duration,
) {
    let (a, b) = (rng.below(raws.len()), rng.below(raws.len()));
    let raw = mutate(rng, &raws[a], &raws[b]);
    let ty = &types[rng.below(types.len())];
    let partial = rng.below(2) == 1;
    let started = Instant::now();
    let ok = std::panic::catch_unwind(|| baml_sap::parse(project, ty, &raw, partial)).is_ok();
    let took = started.elapsed();
    *slowest = (*slowest).max(took);
    if !ok || took > Duration::from_secs(1) {
        *problems += 1;
        println!(
            "{} parsing as {ty} ({took:?}): {}",
            if ok { "slow" } else { "PANIC" },
            save(findings, "output", rounds, &raw).display()
        );
    }
}
