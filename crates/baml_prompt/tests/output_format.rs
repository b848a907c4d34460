//! `ctx.output_format` against the text BAML 0.226.2 itself rendered for the same project
//! and options (`output_format/cases.json`, recorded by `output_format/generate.js`).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::fmt::Write as _;

use baml_prompt::output_format::{
    render, HoistClasses, MapStyle, OutputFormatError, OutputFormatOptions, Setting,
};
use serde_json::{json, Map, Value};

const CASES: &str = include_str!("output_format/cases.json");

/// Cases that differ because of `baml_ir`, not this renderer (none now: raw-string
/// descriptions are dedented and trimmed as BAML does). `known_ir_gaps_still_differ` says
/// when a listed case starts to match.
const KNOWN_IR_GAPS: &[&str] = &[];

struct Case {
    name: String,
    source: String,
    kwargs: Option<Map<String, Value>>,
    expected: Result<String, (String, String)>,
}

fn cases() -> Vec<Case> {
    let all: Vec<Value> = serde_json::from_str(CASES).unwrap();
    all.into_iter()
        .map(|c| {
            let expected = match (&c["expected"], &c["error"]) {
                (Value::String(s), _) => Ok(s.clone()),
                (_, Value::Object(e)) => Err((
                    e["kind"].as_str().unwrap().to_string(),
                    e["message"].as_str().unwrap().to_string(),
                )),
                _ => panic!("case {} has neither expected nor error", c["name"]),
            };
            Case {
                name: c["name"].as_str().unwrap().to_string(),
                source: c["source"].as_str().unwrap().to_string(),
                kwargs: c["kwargs"].as_object().cloned(),
                expected,
            }
        })
        .collect()
}

/// What our implementation gives for a case: the text, or (phase, error).
fn run(case: &Case) -> Result<String, (&'static str, OutputFormatError)> {
    let (ir, ret) = load(case);
    let options = match &case.kwargs {
        None => OutputFormatOptions::default(),
        Some(kwargs) => OutputFormatOptions::from_kwargs(kwargs).map_err(|e| ("options", e))?,
    };
    render(&ir, &ret, &options).map_err(|e| ("render", e))
}

/// The project of a case and the return type of its `F`. Our loader refuses media return
/// types (BAML accepts them, then panics while rendering): those cases are loaded without
/// `F` and get the return type written in it.
fn load(case: &Case) -> (baml_ir::Ir, baml_ir::Type) {
    match baml_ir::load(&[("main.baml".into(), case.source.clone())]) {
        Ok(ir) => {
            let ret = ir.function("F").expect("function F").ret.clone();
            (ir, ret)
        }
        Err(d) if matches!(&case.expected, Err((kind, _)) if kind == "panic") => {
            let at = case.source.find("function F() -> ").unwrap();
            let decl = &case.source[at + "function F() -> ".len()..];
            let ret = decl[..decl.find(" {").unwrap()].to_string();
            let probe = format!(
                "{}class OutputFormatProbe {{\n  ret {ret}\n}}\n",
                &case.source[..at]
            );
            let ir = baml_ir::load(&[("main.baml".into(), probe)])
                .unwrap_or_else(|d2| panic!("{}: {d:?} / {d2:?}", case.name));
            let ret = ir.class("OutputFormatProbe").unwrap().fields[0].ty.clone();
            (ir, ret)
        }
        Err(d) => panic!("{}: the project does not load: {d:?}", case.name),
    }
}

/// BAML's error kinds as minijinja prints them.
fn kind_name(e: &OutputFormatError) -> &'static str {
    match e.jinja_kind() {
        minijinja::ErrorKind::SyntaxError => "syntax error",
        minijinja::ErrorKind::TooManyArguments => "too many arguments",
        minijinja::ErrorKind::BadSerialization => "could not serialize to value",
        _ => "other",
    }
}

#[test]
fn every_case_matches_baml() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = String::new();
    for case in cases
        .iter()
        .filter(|c| !KNOWN_IR_GAPS.contains(&c.name.as_str()))
    {
        let got = run(case);
        let ok = match (&case.expected, &got) {
            (Ok(want), Ok(got)) => want == got,
            // BAML 0.226.2 panics on media outputs; an error is what we want there.
            (Err((kind, _)), Err(("render", OutputFormatError::MediaInOutput { .. }))) => {
                kind == "panic"
            }
            (Err((kind, message)), Err((_, e))) => {
                kind == kind_name(e) && *message == e.to_string()
            }
            _ => false,
        };
        if !ok {
            let _ = writeln!(
                failures,
                "--- {}\n    kwargs: {:?}\n    want: {:?}\n    got:  {:?}",
                case.name,
                case.kwargs,
                case.expected,
                got.map_err(|(phase, e)| format!("{phase}: {}: {e}", kind_name(&e)))
            );
        }
    }
    assert!(
        failures.is_empty(),
        "cases that differ from BAML:\n{failures}"
    );
}

#[test]
fn known_ir_gaps_still_differ() {
    for case in cases()
        .iter()
        .filter(|c| KNOWN_IR_GAPS.contains(&c.name.as_str()))
    {
        let got = run(case).map_err(|(_, e)| e.to_string());
        assert_ne!(
            case.expected.as_ref().map_err(|_| ()),
            got.as_ref().map_err(|_| ()),
            "{} matches BAML now: remove it from KNOWN_IR_GAPS",
            case.name
        );
    }
}

#[test]
fn option_errors_come_from_from_kwargs_and_hoisting_errors_from_render() {
    for case in cases() {
        match (&case.expected, run(&case)) {
            (Err((kind, _)), Err((phase, _)))
                if kind == "syntax error" || kind == "too many arguments" =>
            {
                assert_eq!(phase, "options", "{}", case.name);
            }
            (Err((kind, _)), Err((phase, _))) if kind == "could not serialize to value" => {
                assert_eq!(phase, "render", "{}", case.name);
            }
            _ => {}
        }
    }
}

fn kwargs(v: &Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn options_are_parsed_into_their_fields() {
    let o = OutputFormatOptions::from_kwargs(&kwargs(&json!({
        "prefix": null,
        "or_splitter": " | ",
        "enum_value_prefix": "* ",
        "always_hoist_enums": true,
        "hoisted_class_prefix": "interface",
        "hoist_classes": ["A", "B"],
        "map_style": "object",
        "quote_class_fields": true,
        "render_null_as": "nil",
    })))
    .unwrap();
    assert_eq!(
        o,
        OutputFormatOptions {
            prefix: Setting::Null,
            or_splitter: " | ".into(),
            enum_value_prefix: Setting::Value("* ".into()),
            always_hoist_enums: true,
            hoist_classes: HoistClasses::Only(vec!["A".into(), "B".into()]),
            hoisted_class_prefix: Setting::Value("interface".into()),
            map_style: MapStyle::Object,
            quote_class_fields: true,
            render_null_as: Setting::Value("nil".into()),
        }
    );
    assert_eq!(
        OutputFormatOptions::from_kwargs(&Map::new()).unwrap(),
        OutputFormatOptions::default()
    );
    let all = OutputFormatOptions::from_kwargs(&kwargs(&json!({ "hoist_classes": true }))).unwrap();
    assert_eq!(all.hoist_classes, HoistClasses::All);
    let auto =
        OutputFormatOptions::from_kwargs(&kwargs(&json!({ "hoist_classes": "auto" }))).unwrap();
    assert_eq!(auto.hoist_classes, HoistClasses::Auto);
}

#[test]
fn errors_have_codes_and_name_the_option() {
    let e = OutputFormatOptions::from_kwargs(&kwargs(&json!({ "quote_class_fields": "yes" })))
        .unwrap_err();
    assert_eq!(e.code(), "OUTPUT_FORMAT_INVALID_OPTION");
    assert!(matches!(
        e,
        OutputFormatError::InvalidOption {
            option: "quote_class_fields",
            ..
        }
    ));
    let e = OutputFormatOptions::from_kwargs(&kwargs(&json!({ "prefixx": "a" }))).unwrap_err();
    assert_eq!(e.code(), "OUTPUT_FORMAT_UNKNOWN_OPTION");
    assert!(matches!(&e, OutputFormatError::UnknownOption { name } if name == "prefixx"));
    let as_jinja: minijinja::Error = e.into();
    assert_eq!(as_jinja.kind(), minijinja::ErrorKind::TooManyArguments);
}

fn project(decls: &str, ret: &str) -> (baml_ir::Ir, baml_ir::Type) {
    let src = format!(
        "client<llm> C {{\n  provider openai\n  options {{\n    model \"m\"\n  }}\n}}\n{decls}\nfunction F() -> {ret} {{\n  client C\n  prompt #\"x\"#\n}}\n"
    );
    let ir = baml_ir::load(&[("main.baml".into(), src)]).unwrap();
    let ret = ir.function("F").unwrap().ret.clone();
    (ir, ret)
}

#[test]
fn long_alias_chains_and_class_chains_do_not_overflow() {
    // 3,000 aliases, each naming the previous one: resolved without deep recursion.
    let mut decls = String::from("type A0 = int\n");
    for i in 1..3000 {
        let _ = writeln!(decls, "type A{i} = A{}", i - 1);
    }
    let (ir, ret) = project(&decls, "A2999");
    assert_eq!(
        render(&ir, &ret, &OutputFormatOptions::default()).unwrap(),
        "Answer as an int"
    );

    // A 3,000-class reference cycle is found without deep recursion and hoisted.
    let mut decls = String::new();
    for i in 0..3000 {
        let _ = writeln!(decls, "class C{i} {{\n  next C{}?\n}}", (i + 1) % 3000);
    }
    let (ir, ret) = project(&decls, "C0");
    let text = render(&ir, &ret, &OutputFormatOptions::default()).unwrap();
    assert!(
        text.starts_with("C0 {\n  next: C1 or null,\n}\n\nC1 {"),
        "{}",
        &text[..40]
    );
    assert!(text.ends_with("Answer in JSON using this schema: C0"));
}

#[test]
fn schemas_nested_too_deep_are_refused() {
    let mut decls = String::from("type A0 = int\n");
    for i in 1..400 {
        let _ = writeln!(decls, "type A{i} = A{}[]", i - 1);
    }
    let (ir, ret) = project(&decls, "A399");
    let e = render(&ir, &ret, &OutputFormatOptions::default()).unwrap_err();
    assert_eq!(e.code(), "OUTPUT_FORMAT_TOO_DEEP");
}
