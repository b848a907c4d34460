//! Parses `.baml` files and prints their diagnostics: `cargo run -p baml_parser --example check -- <files>`.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

fn main() {
    let mut total = 0;
    for (i, path) in std::env::args().skip(1).enumerate() {
        let src = std::fs::read_to_string(&path).unwrap();
        let (ast, diags) = baml_parser::parse(u32::try_from(i).unwrap(), &src);
        for d in &diags {
            let (l, c) = baml_parser::line_col(&src, d.span.start);
            println!("{path}:{l}:{c}: {}", d.message);
        }
        total += diags.len();
        println!("{path}: {} items, {} diagnostics", ast.items.len(), diags.len());
    }
    println!("total diagnostics: {total}");
}
