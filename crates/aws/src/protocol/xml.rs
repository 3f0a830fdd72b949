//! XML, as the Query and REST-XML protocols answer (and REST-XML requests
//! carry): elements read into PascalCase JSON by a shape, and a structure
//! written as elements.

use serde_json::{Map as JsonMap, Value as Json};

use super::values::{scalar_in, scalar_text, timestamp};
use super::{Context, HttpResponse, ServiceError};
use crate::model::{Member, Shape};
use crate::Error;

/// Parses `text` and gives its root element to `read`.
pub fn with_root<T>(body: &[u8], read: impl FnOnce(roxmltree::Node) -> T) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    let document = roxmltree::Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
    Ok(read(document.root_element()))
}

fn children<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    name: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'input>> + 'a {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

pub fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    name: &'a str,
) -> Option<roxmltree::Node<'a, 'input>> {
    children(node, name).next()
}

/// An element (or, for a flattened list, the parent's elements of that
/// name) read by `shape`.
pub fn read(shape: Shape, node: roxmltree::Node) -> Json {
    match shape.kind() {
        "structure" => {
            let mut out = JsonMap::new();
            for member in shape.members() {
                if let Some(value) = read_member(member, node) {
                    out.insert(member.output_name(), value);
                }
            }
            Json::Object(out)
        }
        "list" => {
            let Some(item) = shape.list_member() else {
                return Json::Array(vec![]);
            };
            let name = item.wire_name();
            Json::Array(children(node, name).map(|c| read(item.shape, c)).collect())
        }
        "map" => read_map(
            shape,
            node.children()
                .filter(|c| c.is_element() && c.tag_name().name() == "entry"),
        ),
        kind => scalar_in(kind, node.text().unwrap_or_default()),
    }
}

fn read_map<'a, 'input: 'a>(
    shape: Shape,
    entries: impl Iterator<Item = roxmltree::Node<'a, 'input>>,
) -> Json {
    let (Some(key), Some(value)) = (shape.map_key(), shape.map_value()) else {
        return Json::Object(JsonMap::new());
    };
    let mut out = JsonMap::new();
    for entry in entries {
        let k = child(entry, key.wire_name())
            .and_then(|n| n.text())
            .unwrap_or_default();
        if let Some(v) = child(entry, value.wire_name()) {
            out.insert(k.to_string(), read(value.shape, v));
        }
    }
    Json::Object(out)
}

/// A structure's member, looked up among `parent`'s children.
fn read_member(member: Member, parent: roxmltree::Node) -> Option<Json> {
    let name = member.wire_name();
    if member.traits.get("xmlAttribute").and_then(Json::as_bool) == Some(true) {
        return parent
            .attribute(name)
            .map(|v| scalar_in(member.shape.kind(), v));
    }
    match member.shape.kind() {
        "list" if member.flattened() => {
            let item = member.shape.list_member()?;
            let found: Vec<Json> = children(parent, name)
                .map(|c| read(item.shape, c))
                .collect();
            (!found.is_empty()).then_some(Json::Array(found))
        }
        "map" if member.flattened() => {
            let found: Vec<_> = children(parent, name).collect();
            (!found.is_empty()).then(|| read_map(member.shape, found.into_iter()))
        }
        _ => child(parent, name).map(|c| read(member.shape, c)),
    }
}

/// `<ErrorResponse><Error><Code>` (Query), `<Error><Code>` (S3),
/// `<Response><Errors><Error>` (EC2-style).
pub fn error(response: &HttpResponse) -> Option<ServiceError> {
    with_root(&response.body, |root| {
        let error = root
            .descendants()
            .find(|n| n.is_element() && n.tag_name().name() == "Error")?;
        let text = |name: &str| {
            child(error, name)
                .and_then(|n| n.text())
                .unwrap_or_default()
                .to_string()
        };
        Some(ServiceError {
            code: text("Code"),
            message: text("Message"),
        })
    })
    .ok()
    .flatten()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A Task's value written as the element `name` by `shape`.
pub(crate) fn write(
    context: Context,
    shape: Shape,
    name: &str,
    namespace: Option<&str>,
    value: &Json,
    path: &str,
    out: &mut String,
) -> Result<(), Error> {
    let open = match namespace {
        Some(ns) => format!("<{name} xmlns=\"{ns}\">"),
        None => format!("<{name}>"),
    };
    match shape.kind() {
        "structure" => {
            let Json::Object(fields) = value else {
                return Err(context.wrong_type(path, "an object", value));
            };
            out.push_str(&open);
            for (key, field) in fields {
                let member = shape.member(key).ok_or_else(|| Error::UnknownParameter {
                    operation: context.operation.into(),
                    path: format!("{path}.{key}"),
                    shape: shape.name.into(),
                    members: shape.member_names(),
                })?;
                let inner = format!("{path}.{key}");
                if member.shape.kind() == "list" && member.flattened() {
                    let (Json::Array(items), Some(item)) = (field, member.shape.list_member())
                    else {
                        return Err(context.wrong_type(&inner, "an array", field));
                    };
                    for (i, element) in items.iter().enumerate() {
                        let at = format!("{inner}[{i}]");
                        write(
                            context,
                            item.shape,
                            member.wire_name(),
                            None,
                            element,
                            &at,
                            out,
                        )?;
                    }
                } else {
                    write(
                        context,
                        member.shape,
                        member.wire_name(),
                        None,
                        field,
                        &inner,
                        out,
                    )?;
                }
            }
        }
        "list" => {
            let (Json::Array(items), Some(item)) = (value, shape.list_member()) else {
                return Err(context.wrong_type(path, "an array", value));
            };
            out.push_str(&open);
            for (i, element) in items.iter().enumerate() {
                let at = format!("{path}[{i}]");
                write(
                    context,
                    item.shape,
                    item.wire_name(),
                    None,
                    element,
                    &at,
                    out,
                )?;
            }
        }
        "timestamp" => {
            let date =
                timestamp(value).ok_or_else(|| context.wrong_type(path, "a timestamp", value))?;
            out.push_str(&open);
            out.push_str(&super::values::iso(date));
        }
        _ => {
            out.push_str(&open);
            out.push_str(&escape(&scalar_text(value)));
        }
    }
    out.push_str(&format!("</{name}>"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_errors_read() {
        let answer = HttpResponse {
            status: 404,
            headers: vec![],
            body: br#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The role with name x cannot be found.</Message></Error><RequestId>1</RequestId></ErrorResponse>"#.to_vec(),
        };
        assert_eq!(
            error(&answer),
            Some(ServiceError {
                code: "NoSuchEntity".into(),
                message: "The role with name x cannot be found.".into()
            })
        );
    }
}
