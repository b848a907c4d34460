//! Resolved BAML types, printed the way BAML writes them.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    Image,
    Audio,
    Pdf,
    Video,
}

impl Media {
    pub fn name(&self) -> &'static str {
        match self {
            Media::Image => "image",
            Media::Audio => "audio",
            Media::Pdf => "pdf",
            Media::Video => "video",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    String(String),
    Int(i64),
    Bool(bool),
}

/// A BAML type with every name resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    String,
    Int,
    Float,
    Bool,
    Null,
    Media(Media),
    Literal(Literal),
    Class(String),
    Enum(String),
    /// A type alias, kept by name (aliases may be recursive).
    Alias(String),
    List(Box<Type>),
    Map(Box<Type>, Box<Type>),
    Union(Vec<Type>),
    Optional(Box<Type>),
}

impl Type {
    /// Whether `null` is a value of this type at its top level.
    pub fn is_optional(&self) -> bool {
        match self {
            Type::Optional(_) | Type::Null => true,
            Type::Union(arms) => arms.iter().any(Type::is_optional),
            _ => false,
        }
    }

    /// Every media type inside (for "media types are inputs only").
    pub fn find_media(&self) -> Option<&Media> {
        match self {
            Type::Media(m) => Some(m),
            Type::List(t) | Type::Optional(t) => t.find_media(),
            Type::Map(k, v) => k.find_media().or_else(|| v.find_media()),
            Type::Union(arms) => arms.iter().find_map(Type::find_media),
            _ => None,
        }
    }

    fn needs_parens_in_postfix(&self) -> bool {
        matches!(self, Type::Union(_))
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Int => f.write_str("int"),
            Type::Float => f.write_str("float"),
            Type::Bool => f.write_str("bool"),
            Type::Null => f.write_str("null"),
            Type::Media(m) => f.write_str(m.name()),
            Type::Literal(Literal::String(s)) => write!(f, "{s:?}"),
            Type::Literal(Literal::Int(n)) => write!(f, "{n}"),
            Type::Literal(Literal::Bool(b)) => write!(f, "{b}"),
            Type::Class(n) | Type::Enum(n) | Type::Alias(n) => f.write_str(n),
            Type::List(t) if t.needs_parens_in_postfix() => write!(f, "({t})[]"),
            Type::List(t) => write!(f, "{t}[]"),
            Type::Optional(t) if t.needs_parens_in_postfix() => write!(f, "({t})?"),
            Type::Optional(t) => write!(f, "{t}?"),
            Type::Map(k, v) => write!(f, "map<{k}, {v}>"),
            Type::Union(arms) => {
                for (i, a) in arms.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{a}")?;
                }
                Ok(())
            }
        }
    }
}
