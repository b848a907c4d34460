//! Arguments as template values. Classes print with their field aliases as a pretty
//! multi-line map, lists print in brackets, enums print their alias, nulls print `null`, and
//! media print as a marker that later becomes a message part — as in BAML's prompts.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};

use crate::args::{ArgValue, MediaSource, MediaValue};

/// Converts an argument into a template value. `aliases` gives a class field's alias.
pub fn to_value(ir: &baml_ir::Ir, v: &ArgValue) -> Value {
    match v {
        ArgValue::Null => Value::from(()),
        ArgValue::Bool(b) => Value::from(*b),
        ArgValue::Int(i) => Value::from(*i),
        ArgValue::Float(f) => Value::from(*f),
        ArgValue::String(s) => Value::from(s.as_str()),
        ArgValue::List(items) => {
            Value::from_object(List(items.iter().map(|x| to_value(ir, x)).collect()))
        }
        ArgValue::Map(entries) => Value::from_object(Map(entries
            .iter()
            .map(|(k, x)| (k.clone(), to_value(ir, x)))
            .collect())),
        ArgValue::Class { name, fields } => {
            let class = ir.class(name);
            Value::from_object(Class {
                fields: fields
                    .iter()
                    .map(|(k, x)| {
                        let alias = class
                            .and_then(|c| c.fields.iter().find(|f| &f.name == k))
                            .and_then(|f| f.alias.clone());
                        (k.clone(), alias, to_value(ir, x))
                    })
                    .collect(),
            })
        }
        ArgValue::Enum { name, value } => {
            let alias = ir
                .enum_(name)
                .and_then(|e| e.values.iter().find(|x| &x.name == value))
                .and_then(|x| x.alias.clone());
            Value::from_object(EnumValue {
                value: value.clone(),
                alias,
            })
        }
        ArgValue::Media(m) => Value::from_object(MediaMarker(m.clone())),
    }
}

/// A value nested in a list, map or class, printed as BAML prints it: `null`, lowercase
/// booleans, quoted strings, and our objects by their own rendering.
struct Shown<'a>(&'a Value);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use minijinja::value::ValueKind;
        let v = self.0;
        match v.kind() {
            ValueKind::None => f.write_str("null"),
            ValueKind::Undefined => f.write_str("undefined"),
            ValueKind::Bool => f.write_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::String => fmt::Debug::fmt(v.as_str().unwrap_or_default(), f),
            _ => fmt::Debug::fmt(v, f),
        }
    }
}

fn shown(v: &Value) -> Shown<'_> {
    Shown(v)
}

/// A map argument.
#[derive(Debug)]
pub(crate) struct Map(pub(crate) Vec<(String, Value)>);

impl Object for Map {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.0
                .iter()
                .map(|(k, _)| Value::from(k.as_str()))
                .collect(),
        )
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.0 {
            map.entry(k, &shown(v));
        }
        map.finish()
    }
}

/// A list argument.
#[derive(Debug)]
pub(crate) struct List(pub(crate) Vec<Value>);

impl Object for List {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key.as_usize()?).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.len())
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for v in &self.0 {
            list.entry(&shown(v));
        }
        list.finish()
    }
}

/// A class instance: fields by name for templates, shown with aliases.
#[derive(Debug)]
pub(crate) struct Class {
    /// `(name, alias, value)`.
    pub(crate) fields: Vec<(String, Option<String>, Value)>,
}

impl Object for Class {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        self.fields
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| v.clone())
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.fields
                .iter()
                .map(|(k, _, _)| Value::from(k.as_str()))
                .collect(),
        )
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always the multi-line form, wherever the class appears.
        write!(f, "{:#?}", Fields(&self.fields))
    }
}

struct Fields<'a>(&'a [(String, Option<String>, Value)]);

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, alias, v) in self.0 {
            map.entry(&alias.as_deref().unwrap_or(k), &shown(v));
        }
        map.finish()
    }
}

/// An enum value: prints its alias, compares equal to its name (also to a string holding the
/// name, as in BAML: `{% if c == 'RED' %}`), and is a map to `is` tests (`c.value` is the name).
#[derive(Debug)]
pub(crate) struct EnumValue {
    pub(crate) value: String,
    pub(crate) alias: Option<String>,
}

impl EnumValue {
    pub(crate) fn shown(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.value)
    }
}

impl Object for EnumValue {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
    fn custom_cmp_str(self: &Arc<Self>, other: &str) -> Option<std::cmp::Ordering> {
        Some(self.value.as_str().cmp(other))
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (key.as_str()? == "value").then(|| Value::from(self.value.as_str()))
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
    fn custom_cmp(
        self: &Arc<Self>,
        other: &minijinja::value::DynObject,
    ) -> Option<std::cmp::Ordering> {
        let other = other.downcast_ref::<Self>()?;
        Some(
            self.value
                .cmp(&other.value)
                .then(self.alias.cmp(&other.alias)),
        )
    }
}

/// An enum's values by name, as a global (`{{ Color.RED }}`).
#[derive(Debug)]
pub(crate) struct EnumType {
    pub(crate) values: Vec<(String, Option<String>)>,
}

impl Object for EnumType {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        self.values.iter().find(|(v, _)| v == key).map(|(v, a)| {
            Value::from_object(EnumValue {
                value: v.clone(),
                alias: a.clone(),
            })
        })
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }
}

/// A media argument; prints as a marker the chat splitter turns into a media part.
#[derive(Debug)]
pub(crate) struct MediaMarker(pub(crate) MediaValue);

impl Object for MediaMarker {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::chat::write_media_marker(f, &self.0)
    }
}

/// The value as JSON, with class aliases and enum aliases (the `format` filter, `tojson`).
pub fn to_json(v: &Value) -> serde_json::Value {
    use minijinja::value::ValueKind;
    use serde_json::Value as Json;
    if let Some(obj) = v.as_object() {
        if let Some(c) = obj.downcast_ref::<Class>() {
            return Json::Object(
                c.fields
                    .iter()
                    .map(|(k, a, x)| (a.clone().unwrap_or_else(|| k.clone()), to_json(x)))
                    .collect(),
            );
        }
        if let Some(e) = obj.downcast_ref::<EnumValue>() {
            return Json::String(e.shown().to_string());
        }
        if let Some(l) = obj.downcast_ref::<List>() {
            return Json::Array(l.0.iter().map(to_json).collect());
        }
        if let Some(m) = obj.downcast_ref::<Map>() {
            return Json::Object(m.0.iter().map(|(k, x)| (k.clone(), to_json(x))).collect());
        }
        if let Some(m) = obj.downcast_ref::<MediaMarker>() {
            return match &m.0.source {
                MediaSource::Url(u) => serde_json::json!({ "url": u }),
                MediaSource::Base64(b) => {
                    serde_json::json!({ "base64": b, "media_type": m.0.media_type })
                }
            };
        }
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => Json::Null,
        ValueKind::Bool => Json::Bool(v.is_true()),
        ValueKind::Number => {
            if let Ok(i) = i64::try_from(v.clone()) {
                Json::from(i)
            } else {
                f64::try_from(v.clone())
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Json::Null, Json::Number)
            }
        }
        ValueKind::String => Json::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq | ValueKind::Iterable => Json::Array(
            v.try_iter()
                .map(|it| it.map(|x| to_json(&x)).collect())
                .unwrap_or_default(),
        ),
        ValueKind::Map => {
            let mut out = serde_json::Map::new();
            if let Ok(keys) = v.try_iter() {
                for k in keys {
                    let val = v.get_item(&k).unwrap_or_default();
                    out.insert(k.to_string(), to_json(&val));
                }
            }
            Json::Object(out)
        }
        _ => Json::String(v.to_string()),
    }
}
