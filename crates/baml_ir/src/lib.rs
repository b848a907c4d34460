//! Name resolution and validation: parsed `.baml` files become the [`Ir`] the runtime uses,
//! or every [`Diagnostic`] (file, line, column, message) that stops them.

mod build;
pub mod ir;
mod jinja_syntax;
mod overlay;
pub mod types;
mod typescript;

pub use build::{build, dedent, PROVIDERS};
pub use ir::{Ir, SourceAt};
pub use overlay::{CLIENT_REGISTRY_FILE, TYPE_BUILDER_FILE};
pub use types::Type;
pub use typescript::{
    is_declarable, typescript_declarations, typescript_declarations_with, Extras, STANDARD_GLOBALS,
};

/// A problem at a resolved position (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// Parses and validates a project given as `(path, source)`; all diagnostics at once, in
/// file order.
pub fn load(files: &[(String, String)]) -> Result<Ir, Vec<Diagnostic>> {
    let mut asts = Vec::with_capacity(files.len());
    let mut raw = Vec::new();
    for (i, (_, src)) in files.iter().enumerate() {
        let (ast, diags) = baml_parser::parse(u32::try_from(i).unwrap_or(u32::MAX), src);
        raw.extend(diags);
        asts.push(ast);
    }
    overlay::apply(files, &mut asts, &mut raw);
    let (mut ir, diags) = build::build(&asts);
    raw.extend(diags);
    // One index per file: a file with thousands of errors (or functions) would otherwise be
    // scanned from the top for each one.
    let lines: Vec<baml_parser::LineIndex> = files
        .iter()
        .map(|(_, src)| baml_parser::LineIndex::new(src))
        .collect();
    if raw.is_empty() {
        let resolve = |at: &mut SourceAt| {
            if let (Some((path, _)), Some(index)) = (
                files.get(at.span.file as usize),
                lines.get(at.span.file as usize),
            ) {
                let (line, column) = index.line_col(at.span.start);
                at.file.clone_from(path);
                at.line = line;
                at.column = column;
            }
        };
        ir.functions
            .iter_mut()
            .for_each(|f| resolve(&mut f.prompt_at));
        ir.templates
            .iter_mut()
            .for_each(|t| resolve(&mut t.body_at));
        return Ok(ir);
    }
    let mut out: Vec<Diagnostic> = raw
        .into_iter()
        .map(|d| {
            let path = files
                .get(d.span.file as usize)
                .map_or("", |(p, _)| p.as_str());
            let (line, column) = lines
                .get(d.span.file as usize)
                .map_or((1, 1), |index| index.line_col(d.span.start));
            Diagnostic {
                file: path.to_string(),
                line,
                column,
                message: d.message,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.column).cmp(&(b.file.as_str(), b.line, b.column))
    });
    out.dedup();
    Err(out)
}
