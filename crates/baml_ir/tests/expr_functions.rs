//! Expression functions, top-level `let` and class methods are kept in the IR as syntax
//! (for a later evaluator), with their names resolved.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use baml_parser::ast::{Expr, Stmt};

fn load(src: &str) -> baml_ir::Ir {
    baml_ir::load(&[("main.baml".to_string(), src.to_string())])
        .unwrap_or_else(|d| panic!("{d:#?}"))
}

#[test]
fn body_is_kept_as_an_ast() {
    let ir = load(
        "function twice(x: int) -> int {\n  let y = x * 2;\n  if (y > 10) { y } else { y + 1 }\n}\n",
    );
    assert!(ir.functions.is_empty(), "not an LLM function");
    let f = &ir.expr_functions[0];
    assert_eq!(f.name, "twice");
    assert_eq!(f.ret, baml_ir::Type::Int);
    assert_eq!(f.params[0].name, "x");
    let Stmt::Let(l) = &f.body.stmts[0] else {
        panic!("{:?}", f.body.stmts)
    };
    assert_eq!(l.name.name, "y");
    assert!(matches!(&l.value, Expr::Binary(op, _, _, _) if op == "*"));
    assert!(matches!(
        f.body.tail.as_deref(),
        Some(Expr::If {
            otherwise: Some(_),
            ..
        })
    ));
}

#[test]
fn loops_calls_methods_and_globals() {
    let ir = load(concat!(
        "let base = 10;\n",
        "class Box {\n  w int\n\n  function area(self) -> int {\n    self.w * self.w\n  }\n}\n",
        "function Sum(xs: int[]) -> int {\n  let s = 0;\n  for (let x in xs) {\n    s += x;\n  }\n  Twice(s)\n}\n",
        "function Twice(x: int) -> int { x * 2 }\n",
    ));
    assert_eq!(ir.globals[0].name, "base");
    assert!(matches!(ir.globals[0].value, Expr::Int(10, _)));
    let area = ir.expr_functions.iter().find(|f| f.name == "area").unwrap();
    assert_eq!(area.class.as_deref(), Some("Box"));
    let sum = ir.expr_functions.iter().find(|f| f.name == "Sum").unwrap();
    assert!(matches!(sum.body.stmts[1], Stmt::For { .. }));
    assert!(matches!(sum.body.tail.as_deref(), Some(Expr::Call { .. })));
    assert!(ir.class("Box").is_some());
}

#[test]
fn unknown_names_are_reported_where_they_are() {
    let err = baml_ir::load(&[(
        "f.baml".to_string(),
        "function F(x: int) -> int {\n  let y = x;\n  G(z)\n}\n".to_string(),
    )])
    .unwrap_err();
    let msgs: Vec<String> = err
        .iter()
        .map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message))
        .collect();
    assert_eq!(
        msgs,
        [
            "f.baml:3:3: function `G` is not defined",
            "f.baml:3:5: unknown variable `z`"
        ]
    );
}
