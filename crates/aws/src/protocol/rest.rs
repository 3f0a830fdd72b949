//! REST-JSON (Lambda) and REST-XML (S3): members bound to the URI path, the
//! query string and headers by the model; the rest, or the `payload`
//! member, is the body, as JSON or XML.

use base64::Engine;
use serde_json::{Map as JsonMap, Value as Json};

use super::values::{http_date, iso, scalar_in, scalar_text, timestamp};
use super::{json, xml, Context, HttpRequest, HttpResponse};
use crate::client::{PATH_SEGMENT, UNRESERVED};
use crate::model::{Member, Model, Operation, Protocol};
use crate::Error;

fn encode(text: &str, set: &'static percent_encoding::AsciiSet) -> String {
    percent_encoding::utf8_percent_encode(text, set).to_string()
}

/// Header and query values of any scalar shape.
fn bound_text(member: &Member, value: &Json, header: bool) -> String {
    match (member.shape.kind(), timestamp(value)) {
        ("timestamp", Some(date)) if header => http_date(date),
        ("timestamp", Some(date)) => iso(date),
        _ => scalar_text(value),
    }
}

pub fn request(model: &Model, operation: &Operation, input: &Json) -> Result<HttpRequest, Error> {
    let context = Context {
        operation: operation.name,
    };
    let (path_template, fixed_query) = match operation.request_uri.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (operation.request_uri.to_string(), None),
    };
    let mut path = path_template;
    let mut query: Vec<String> = fixed_query.into_iter().collect();
    let mut headers = Vec::new();
    let mut body_fields = JsonMap::new();
    let mut body: Option<Vec<u8>> = None;
    let empty = JsonMap::new();
    let fields = match input {
        Json::Object(fields) => fields,
        Json::Null => &empty,
        other => return Err(context.wrong_type("$", "an object", other)),
    };
    let Some(shape) = operation.input else {
        return Ok(HttpRequest {
            method: operation.method.into(),
            path,
            headers,
            body: Vec::new(),
        });
    };
    let payload = shape.text("payload");
    for (key, value) in fields {
        let member = shape.member(key).ok_or_else(|| Error::UnknownParameter {
            operation: operation.name.into(),
            path: format!("$.{key}"),
            shape: shape.name.into(),
            members: shape.member_names(),
        })?;
        let at = format!("$.{key}");
        match member.location() {
            Some("uri") => {
                let name = member.wire_name();
                let text = scalar_text(value);
                path = path
                    .replace(
                        &format!("{{{name}+}}"),
                        &encode(&text, PATH_SEGMENT).replace("%2F", "/"),
                    )
                    .replace(&format!("{{{name}}}"), &encode(&text, PATH_SEGMENT));
            }
            Some("querystring") => match value {
                Json::Array(items) => {
                    for item in items {
                        query.push(format!(
                            "{}={}",
                            encode(member.wire_name(), UNRESERVED),
                            encode(&scalar_text(item), UNRESERVED)
                        ));
                    }
                }
                Json::Object(entries) => {
                    for (k, v) in entries {
                        query.push(format!(
                            "{}={}",
                            encode(k, UNRESERVED),
                            encode(&scalar_text(v), UNRESERVED)
                        ));
                    }
                }
                _ => query.push(format!(
                    "{}={}",
                    encode(member.wire_name(), UNRESERVED),
                    encode(&bound_text(&member, value, false), UNRESERVED)
                )),
            },
            Some("header") => headers.push((
                member.wire_name().to_lowercase(),
                bound_text(&member, value, true),
            )),
            Some("headers") => {
                let Json::Object(entries) = value else {
                    return Err(context.wrong_type(&at, "an object", value));
                };
                for (k, v) in entries {
                    headers.push((
                        format!("{}{}", member.wire_name(), k).to_lowercase(),
                        scalar_text(v),
                    ));
                }
            }
            _ if Some(member.name) == payload => {
                body = Some(payload_body(
                    context,
                    model,
                    &member,
                    value,
                    &at,
                    &mut headers,
                )?);
            }
            _ => {
                body_fields.insert(
                    member.wire_name().to_string(),
                    json::to_wire(context, member.shape, value, &at)?,
                );
            }
        }
    }
    let body = match body {
        Some(body) => body,
        None if model.protocol == Protocol::RestJson
            && (!body_fields.is_empty()
                || matches!(operation.method, "POST" | "PUT" | "PATCH")) =>
        {
            headers.push(("content-type".into(), "application/json".into()));
            Json::Object(body_fields).to_string().into_bytes()
        }
        None => Vec::new(),
    };
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    Ok(HttpRequest {
        method: operation.method.into(),
        path,
        headers,
        body,
    })
}

/// The body of a `payload` member: a blob or string as it is (an object as
/// its JSON text), a structure as JSON or XML.
fn payload_body(
    context: Context,
    model: &Model,
    member: &Member,
    value: &Json,
    at: &str,
    headers: &mut Vec<(String, String)>,
) -> Result<Vec<u8>, Error> {
    match member.shape.kind() {
        "blob" | "string" => Ok(match value {
            Json::String(text) => text.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        }),
        _ if model.protocol == Protocol::RestJson => {
            headers.push(("content-type".into(), "application/json".into()));
            Ok(json::to_wire(context, member.shape, value, at)?
                .to_string()
                .into_bytes())
        }
        _ => {
            let namespace = member
                .traits
                .get("xmlNamespace")
                .and_then(|n| n.get("uri"))
                .and_then(Json::as_str)
                .or(model.xml_namespace.as_deref());
            let mut out = String::new();
            xml::write(
                context,
                member.shape,
                member.wire_name(),
                namespace,
                value,
                at,
                &mut out,
            )?;
            headers.push(("content-type".into(), "application/xml".into()));
            Ok(out.into_bytes())
        }
    }
}

pub fn response(
    model: &Model,
    operation: &Operation,
    response: &HttpResponse,
) -> Result<Json, Error> {
    let Some(shape) = operation.output else {
        return Ok(Json::Object(JsonMap::new()));
    };
    let bad = |reason: String| Error::BadResponse {
        operation: operation.name.into(),
        status: response.status,
        reason,
    };
    let mut out = JsonMap::new();
    let payload = shape.text("payload");
    let mut body_bound = false;
    for member in shape.members() {
        match member.location() {
            Some("statusCode") => {
                out.insert(member.output_name(), Json::from(response.status));
            }
            Some("header") => {
                if let Some(value) = response.header(member.wire_name()) {
                    out.insert(member.output_name(), scalar_in(member.shape.kind(), value));
                }
            }
            Some("headers") => {
                let prefix = member.wire_name().to_lowercase();
                let found: JsonMap<String, Json> = response
                    .headers
                    .iter()
                    .filter_map(|(n, v)| {
                        let n = n.to_lowercase();
                        n.strip_prefix(&prefix)
                            .map(|k| (k.to_string(), Json::String(v.clone())))
                    })
                    .collect();
                if !found.is_empty() {
                    out.insert(member.output_name(), Json::Object(found));
                }
            }
            _ if Some(member.name) == payload => {
                body_bound = true;
                let value = match member.shape.kind() {
                    "blob" | "string" => Some(match String::from_utf8(response.body.clone()) {
                        Ok(text) => Json::String(text),
                        Err(_) => Json::String(
                            base64::engine::general_purpose::STANDARD.encode(&response.body),
                        ),
                    }),
                    _ if response.body.is_empty() => None,
                    _ if model.protocol == Protocol::RestJson => {
                        let wire: Json = serde_json::from_slice(&response.body)
                            .map_err(|e| bad(format!("not JSON: {e}")))?;
                        Some(json::from_wire(member.shape, &wire))
                    }
                    _ => Some(
                        xml::with_root(&response.body, |root| xml::read(member.shape, root))
                            .map_err(bad)?,
                    ),
                };
                if let Some(value) = value {
                    out.insert(member.output_name(), value);
                }
            }
            _ => {}
        }
    }
    if !body_bound && !response.body.iter().all(u8::is_ascii_whitespace) {
        let read = if model.protocol == Protocol::RestJson {
            let wire: Json = serde_json::from_slice(&response.body)
                .map_err(|e| bad(format!("not JSON: {e}")))?;
            json::from_wire(shape, &wire)
        } else {
            xml::with_root(&response.body, |root| xml::read(shape, root)).map_err(bad)?
        };
        if let Json::Object(fields) = read {
            out.extend(fields);
        }
    }
    Ok(Json::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Service;
    use serde_json::json;

    fn model(name: &str) -> std::sync::Arc<Model> {
        Model::of(Service::named(name).expect("known")).expect("reads")
    }

    #[test]
    fn s3_members_go_to_path_headers_and_body() {
        let s3 = model("s3");
        let put = s3.operation("putObject").expect("op");
        let built = request(
            &s3,
            &put,
            &json!({ "Bucket": "b", "Key": "dir/a b.json", "Body": { "x": 1 }, "ContentType": "application/json", "Metadata": { "who": "me" } }),
        )
        .expect("builds");
        assert_eq!(built.method, "PUT");
        assert_eq!(built.path, "/b/dir/a%20b.json");
        assert!(built
            .headers
            .contains(&("content-type".into(), "application/json".into())));
        assert!(built
            .headers
            .contains(&("x-amz-meta-who".into(), "me".into())));
        assert_eq!(built.body, br#"{"x":1}"#);
        let list = s3.operation("listObjectsV2").expect("op");
        let built =
            request(&s3, &list, &json!({ "Bucket": "b", "Prefix": "dir/" })).expect("builds");
        assert_eq!(built.path, "/b?list-type=2&prefix=dir%2F");
        let create = s3.operation("createBucket").expect("op");
        let built = request(
            &s3,
            &create,
            &json!({ "Bucket": "b", "CreateBucketConfiguration": { "LocationConstraint": "eu-west-1" } }),
        )
        .expect("builds");
        assert_eq!(
            String::from_utf8(built.body).expect("utf8"),
            r#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#
        );
    }

    #[test]
    fn s3_answers_read_headers_and_xml() {
        let s3 = model("s3");
        let get = s3.operation("getObject").expect("op");
        let answer = HttpResponse {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("ETag".into(), "\"e\"".into()),
                ("x-amz-meta-who".into(), "me".into()),
                ("Content-Length".into(), "5".into()),
            ],
            body: b"hello".to_vec(),
        };
        assert_eq!(
            response(&s3, &get, &answer).expect("reads"),
            json!({ "Body": "hello", "ContentLength": 5, "ETag": "\"e\"", "ContentType": "text/plain", "Metadata": { "who": "me" } })
        );
        let list = s3.operation("listObjectsV2").expect("op");
        let answer = HttpResponse {
            status: 200,
            headers: vec![],
            body: br#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>2</KeyCount><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>1</Size></Contents><Contents><Key>b</Key><Size>2</Size></Contents></ListBucketResult>"#.to_vec(),
        };
        assert_eq!(
            response(&s3, &list, &answer).expect("reads"),
            json!({ "IsTruncated": false, "Contents": [{ "Key": "a", "Size": 1 }, { "Key": "b", "Size": 2 }], "Name": "b", "KeyCount": 2 })
        );
    }

    #[test]
    fn lambda_invoke_binds_the_payload_and_status() {
        let lambda = model("lambda");
        let invoke = lambda.operation("invoke").expect("op");
        let built = request(&lambda, &invoke, &json!({ "FunctionName": "f", "Payload": { "a": 1 }, "InvocationType": "RequestResponse" })).expect("builds");
        assert_eq!(built.path, "/2015-03-31/functions/f/invocations");
        assert!(built
            .headers
            .contains(&("x-amz-invocation-type".into(), "RequestResponse".into())));
        assert_eq!(built.body, br#"{"a":1}"#);
        let answer = HttpResponse {
            status: 200,
            headers: vec![("X-Amz-Executed-Version".into(), "$LATEST".into())],
            body: br#"{"ok":true}"#.to_vec(),
        };
        assert_eq!(
            response(&lambda, &invoke, &answer).expect("reads"),
            json!({ "StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": "{\"ok\":true}" })
        );
    }
}
