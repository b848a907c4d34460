//! A TOON writer for the `format(type="toon")` filter, as BAML's prompts show it: keys sorted,
//! two-space nesting, primitive arrays inline (`tags[2]: a,b`), arrays of same-shaped objects as
//! tables (`[2]{age,name}:` then one row per object), other arrays as `- ` items.

use serde_json::{Map, Value as Json};

/// `value` as TOON (no trailing newline).
pub fn to_toon(value: &Json) -> String {
    let mut lines = Vec::new();
    match value {
        Json::Object(m) => write_object(&mut lines, m, 0),
        Json::Array(a) => write_array(&mut lines, None, a, 0),
        other => lines.push(primitive(other)),
    }
    lines.join("\n")
}

fn pad(depth: usize) -> String {
    "  ".repeat(depth)
}

fn sorted(m: &Map<String, Json>) -> Vec<(&String, &Json)> {
    let mut entries: Vec<_> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

fn write_object(lines: &mut Vec<String>, m: &Map<String, Json>, depth: usize) {
    for (k, v) in sorted(m) {
        write_entry(lines, k, v, depth, &pad(depth));
    }
}

/// One `key: value` entry; `lead` is what starts its first line (indentation, or `- `).
fn write_entry(lines: &mut Vec<String>, k: &str, v: &Json, depth: usize, lead: &str) {
    match v {
        Json::Object(inner) => {
            lines.push(format!("{lead}{}:", key(k)));
            write_object(lines, inner, depth + 1);
        }
        Json::Array(a) => {
            let start = lines.len();
            write_array(lines, Some(k), a, depth);
            lines[start] = format!("{lead}{}", lines[start].trim_start());
        }
        other => lines.push(format!("{lead}{}: {}", key(k), primitive(other))),
    }
}

fn is_primitive(v: &Json) -> bool {
    !matches!(v, Json::Array(_) | Json::Object(_))
}

/// The shared keys of an array of objects with primitive values only, if it makes a table.
fn table_keys(a: &[Json]) -> Option<Vec<&String>> {
    let Some(Json::Object(first)) = a.first() else {
        return None;
    };
    let keys: Vec<&String> = sorted(first).into_iter().map(|(k, _)| k).collect();
    if keys.is_empty() {
        return None;
    }
    let uniform = a.iter().all(|x| match x {
        Json::Object(m) => {
            m.len() == keys.len()
                && keys
                    .iter()
                    .all(|k| m.get(k.as_str()).is_some_and(is_primitive))
        }
        _ => false,
    });
    uniform.then_some(keys)
}

fn write_array(lines: &mut Vec<String>, k: Option<&str>, a: &[Json], depth: usize) {
    let name = k.map(key).unwrap_or_default();
    let head = format!("{}{name}[{}]", pad(depth), a.len());
    if a.iter().all(is_primitive) {
        if a.is_empty() {
            lines.push(format!("{head}:"));
        } else {
            let items: Vec<String> = a.iter().map(primitive).collect();
            lines.push(format!("{head}: {}", items.join(",")));
        }
        return;
    }
    if let Some(keys) = table_keys(a) {
        let fields: Vec<String> = keys.iter().map(|k| key(k)).collect();
        lines.push(format!("{head}{{{}}}:", fields.join(",")));
        for x in a {
            let row: Vec<String> = keys.iter().map(|k| primitive(&x[k.as_str()])).collect();
            lines.push(format!("{}{}", pad(depth + 1), row.join(",")));
        }
        return;
    }
    lines.push(format!("{head}:"));
    let item_pad = pad(depth + 1);
    for x in a {
        match x {
            Json::Object(m) if !m.is_empty() => {
                let lead = format!("{item_pad}- ");
                for (i, (k, v)) in sorted(m).into_iter().enumerate() {
                    if i == 0 {
                        write_entry(lines, k, v, depth + 2, &lead);
                    } else {
                        write_entry(lines, k, v, depth + 2, &pad(depth + 2));
                    }
                }
            }
            Json::Object(_) => lines.push(format!("{item_pad}-")),
            Json::Array(inner) => {
                let start = lines.len();
                write_array(lines, None, inner, depth + 1);
                lines[start] = format!("{item_pad}- {}", lines[start].trim_start());
            }
            other => lines.push(format!("{item_pad}- {}", primitive(other))),
        }
    }
}

fn key(k: &str) -> String {
    let mut chars = k.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if plain {
        k.to_string()
    } else {
        quoted(k)
    }
}

fn primitive(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => number(n),
        Json::String(s) => string(s),
        Json::Array(_) | Json::Object(_) => String::new(),
    }
}

fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 {
        "0".into()
    } else if f.fract() == 0.0 {
        format!("{f:.0}")
    } else {
        format!("{f}")
    }
}

fn looks_numeric(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    digits(int)
        && frac.is_none_or(digits)
        && exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

fn string(s: &str) -> String {
    let needs_quotes = s.is_empty()
        || s.trim() != s
        || matches!(s, "true" | "false" | "null")
        || s.starts_with("- ")
        || looks_numeric(s)
        || s.chars()
            .any(|c| matches!(c, ',' | ':' | '"' | '\\' | '[' | ']' | '{' | '}') || c.is_control());
    if needs_quotes {
        quoted(s)
    } else {
        s.to_string()
    }
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::to_toon;
    use serde_json::json;

    #[test]
    fn shapes() {
        assert_eq!(
            to_toon(&json!([{ "name": "Ada", "age": 36 }, { "name": "Alan", "age": 41 }])),
            "[2]{age,name}:\n  36,Ada\n  41,Alan"
        );
        assert_eq!(
            to_toon(
                &json!({ "name": "A", "lead": { "name": "Ada", "age": 36 }, "members": [{ "name": "Ada", "age": 36 }], "ids": [1, 2] })
            ),
            "ids[2]: 1,2\nlead:\n  age: 36\n  name: Ada\nmembers[1]{age,name}:\n  36,Ada\nname: A"
        );
        assert_eq!(
            to_toon(&json!([{ "tags": ["a"], "n": 1 }, { "tags": [], "n": 2 }])),
            "[2]:\n  - n: 1\n    tags[1]: a\n  - n: 2\n    tags[0]:"
        );
        assert_eq!(
            to_toon(&json!([[1, 2], [3]])),
            "[2]:\n  - [2]: 1,2\n  - [1]: 3"
        );
        assert_eq!(to_toon(&json!([])), "[0]:");
        assert_eq!(to_toon(&json!("hello, world")), "\"hello, world\"");
    }

    #[test]
    fn quoting() {
        assert_eq!(
            to_toon(&json!([
                "a", "b c", "d,e", "", "true", "12", " pad", "x:y", "q\"t", "-dash", "null"
            ])),
            r#"[11]: a,b c,"d,e","","true","12"," pad","x:y","q\"t",-dash,"null""#
        );
        assert_eq!(
            to_toon(&json!({ "b": "two", "a": "one", "k k": "v", "c:d": "e" })),
            "a: one\nb: two\n\"c:d\": e\n\"k k\": v"
        );
        assert_eq!(
            to_toon(&json!([1.5, 2.0, 1e21, -0.0])),
            "[4]: 1.5,2,1000000000000000000000,0"
        );
    }
}
