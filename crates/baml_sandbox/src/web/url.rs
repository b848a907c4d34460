//! `URL` and `URLSearchParams`: WHATWG parsing and setters by the `url` crate, the classes in
//! `js/web_url.js`.

use rquickjs::{Ctx, Value as JsValue};
use url::Url;

use super::{array, check_interrupt, native, Charge, Utf8};

pub(super) const SOURCE: &str = include_str!("../js/web_url.js");

/// How many bytes the `url` crate may hold per byte of input: the input copy, the
/// serialization (percent-encoding triples a byte) and the components handed back.
const BYTES_PER_INPUT_BYTE: usize = 8;

/// Pairs between two interrupt checks while parsing a query.
const PAIRS_PER_CHECK: usize = 4096;

pub(super) fn natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Vec<JsValue<'js>>> {
    Ok(vec![
        native(ctx, "parse", parse)?,
        native(ctx, "set", set)?,
        native(ctx, "formParse", form_parse)?,
        native(ctx, "formEncode", form_encode)?,
    ])
}

/// `[href, protocol, username, password, host, hostname, port, pathname, search, hash,
/// origin]` of `url`.
fn components<'js>(ctx: &Ctx<'js>, url: &Url) -> rquickjs::Result<JsValue<'js>> {
    use url::quirks as q;
    let origin = q::origin(url);
    let parts = [
        q::href(url),
        q::protocol(url),
        q::username(url),
        q::password(url),
        q::host(url),
        q::hostname(url),
        q::port(url),
        q::pathname(url),
        q::search(url),
        q::hash(url),
        origin.as_str(),
    ];
    let mut values = Vec::with_capacity(parts.len());
    for p in parts {
        values.push(rquickjs::String::from_str(ctx.clone(), p)?.into_value());
    }
    array(ctx, values)
}

/// `parse(input, base)`: the components of `input` against `base` (a string or undefined), or
/// null if either is not a valid URL.
fn parse<'js>(
    ctx: Ctx<'js>,
    input: JsValue<'js>,
    base: JsValue<'js>,
) -> rquickjs::Result<JsValue<'js>> {
    let mut charge = Charge::new();
    let input = Utf8::of(&ctx, &input)?;
    let base = if base.is_undefined() {
        None
    } else {
        Some(Utf8::of(&ctx, &base)?)
    };
    let total = input.len + base.as_ref().map_or(0, |b| b.len);
    charge.add(&ctx, total.saturating_mul(BYTES_PER_INPUT_BYTE))?;
    let input = super::usv_string(input.bytes());
    let parsed = match base {
        None => Url::parse(&input),
        Some(base) => match Url::parse(&super::usv_string(base.bytes())) {
            Ok(base) => Url::options().base_url(Some(&base)).parse(&input),
            Err(e) => Err(e),
        },
    };
    match parsed {
        Ok(url) => components(&ctx, &url),
        Err(_) => Ok(JsValue::new_null(ctx)),
    }
}

/// `set(href, field, value)`: the components after setting field `field` (1 protocol, 2
/// username, 3 password, 4 host, 5 hostname, 6 port, 7 pathname, 8 search, 9 hash) of a valid
/// `href` to `value`; a value the field refuses leaves the URL as it was (as the WHATWG
/// setters do).
fn set<'js>(
    ctx: Ctx<'js>,
    href: JsValue<'js>,
    field: i32,
    value: JsValue<'js>,
) -> rquickjs::Result<JsValue<'js>> {
    use url::quirks as q;
    let mut charge = Charge::new();
    let href = Utf8::of(&ctx, &href)?;
    let value = Utf8::of(&ctx, &value)?;
    charge.add(
        &ctx,
        (href.len + value.len).saturating_mul(BYTES_PER_INPUT_BYTE),
    )?;
    let Ok(mut url) = Url::parse(&super::usv_string(href.bytes())) else {
        return Ok(JsValue::new_null(ctx));
    };
    let value = super::usv_string(value.bytes());
    let v = value.as_str();
    match field {
        1 => drop(q::set_protocol(&mut url, v)),
        2 => drop(q::set_username(&mut url, v)),
        3 => drop(q::set_password(&mut url, v)),
        4 => drop(q::set_host(&mut url, v)),
        5 => drop(q::set_hostname(&mut url, v)),
        6 => drop(q::set_port(&mut url, v)),
        7 => q::set_pathname(&mut url, v),
        8 => q::set_search(&mut url, v),
        9 => q::set_hash(&mut url, v),
        _ => {}
    }
    components(&ctx, &url)
}

/// `formParse(query)`: the name-value pairs of an `application/x-www-form-urlencoded` string,
/// flat (`[name0, value0, name1, ...]`).
fn form_parse<'js>(ctx: Ctx<'js>, query: JsValue<'js>) -> rquickjs::Result<JsValue<'js>> {
    let mut charge = Charge::new();
    let query = Utf8::of(&ctx, &query)?;
    let text = query.usv(&ctx, &mut charge)?;
    let mut items = Vec::new();
    for (i, (name, value)) in form_urlencoded::parse(text.as_bytes()).enumerate() {
        if i % PAIRS_PER_CHECK == 0 {
            check_interrupt(&ctx)?;
        }
        // The values are QuickJS strings (counted); the Vec of handles is 16 bytes a string.
        charge.add(&ctx, 32)?;
        items.push(rquickjs::String::from_str(ctx.clone(), &name)?.into_value());
        items.push(rquickjs::String::from_str(ctx.clone(), &value)?.into_value());
    }
    array(&ctx, items)
}

/// `formEncode(s)`: `s` percent-encoded as `application/x-www-form-urlencoded` does.
fn form_encode<'js>(ctx: Ctx<'js>, s: JsValue<'js>) -> rquickjs::Result<JsValue<'js>> {
    let mut charge = Charge::new();
    let s = Utf8::of(&ctx, &s)?;
    let text = s.usv(&ctx, &mut charge)?;
    charge.add(&ctx, text.len().saturating_mul(3))?;
    let encoded: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
    Ok(rquickjs::String::from_str(ctx, &encoded)?.into_value())
}
