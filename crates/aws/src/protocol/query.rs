//! AWS Query (STS, IAM, SNS, CloudFormation): `POST /` with the input as a
//! form (`Action=GetCallerIdentity&Version=2011-06-15&...`), lists as
//! `Name.member.1`, maps as `Name.entry.1.key`; answers in XML under
//! `<OperationResponse><OperationResult>`.

use serde_json::{Map as JsonMap, Value as Json};

use super::values::{iso, scalar_text, timestamp};
use super::{xml, Context, HttpRequest, HttpResponse};
use crate::model::{Model, Operation, Shape};
use crate::Error;

pub fn request(model: &Model, operation: &Operation, input: &Json) -> Result<HttpRequest, Error> {
    let context = Context {
        operation: operation.name,
    };
    let mut pairs = vec![
        ("Action".to_string(), operation.name.to_string()),
        ("Version".to_string(), model.api_version.clone()),
    ];
    if let Some(shape) = operation.input {
        flatten(context, shape, input, "", "$", &mut pairs)?;
    }
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    Ok(HttpRequest {
        method: "POST".into(),
        path: "/".into(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )],
        body: body.into_bytes(),
    })
}

/// Form encoding: everything but unreserved characters percent-encoded.
fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, crate::client::UNRESERVED).to_string()
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Adds `value`'s form fields under `prefix`.
fn flatten(
    context: Context,
    shape: Shape,
    value: &Json,
    prefix: &str,
    path: &str,
    pairs: &mut Vec<(String, String)>,
) -> Result<(), Error> {
    match shape.kind() {
        "structure" => {
            let Json::Object(fields) = value else {
                return Err(context.wrong_type(path, "an object", value));
            };
            for (key, field) in fields {
                let member = shape.member(key).ok_or_else(|| Error::UnknownParameter {
                    operation: context.operation.into(),
                    path: format!("{path}.{key}"),
                    shape: shape.name.into(),
                    members: shape.member_names(),
                })?;
                let inner = format!("{path}.{key}");
                let name = join(prefix, member.wire_name());
                if member.shape.kind() == "list" && member.flattened() {
                    let (Json::Array(items), Some(item)) = (field, member.shape.list_member())
                    else {
                        return Err(context.wrong_type(&inner, "an array", field));
                    };
                    for (i, element) in items.iter().enumerate() {
                        let at = format!("{name}.{}", i + 1);
                        flatten(context, item.shape, element, &at, &inner, pairs)?;
                    }
                } else {
                    flatten(context, member.shape, field, &name, &inner, pairs)?;
                }
            }
        }
        "list" => {
            let (Json::Array(items), Some(item)) = (value, shape.list_member()) else {
                return Err(context.wrong_type(path, "an array", value));
            };
            if items.is_empty() {
                // An empty list is sent as the bare name, as the SDKs do.
                pairs.push((prefix.to_string(), String::new()));
            }
            let item_name = item
                .traits
                .get("locationName")
                .and_then(Json::as_str)
                .unwrap_or("member");
            for (i, element) in items.iter().enumerate() {
                let at = format!("{prefix}.{item_name}.{}", i + 1);
                flatten(
                    context,
                    item.shape,
                    element,
                    &at,
                    &format!("{path}[{i}]"),
                    pairs,
                )?;
            }
        }
        "map" => {
            let (Json::Object(entries), Some(key), Some(value_member)) =
                (value, shape.map_key(), shape.map_value())
            else {
                return Err(context.wrong_type(path, "an object", value));
            };
            let entry = if shape.flag("flattened") {
                prefix.to_string()
            } else {
                format!("{prefix}.entry")
            };
            for (i, (k, v)) in entries.iter().enumerate() {
                let at = format!("{entry}.{}", i + 1);
                pairs.push((
                    format!(
                        "{at}.{}",
                        key.traits
                            .get("locationName")
                            .and_then(Json::as_str)
                            .unwrap_or("key")
                    ),
                    k.clone(),
                ));
                let value_name = value_member
                    .traits
                    .get("locationName")
                    .and_then(Json::as_str)
                    .unwrap_or("value");
                flatten(
                    context,
                    value_member.shape,
                    v,
                    &format!("{at}.{value_name}"),
                    &format!("{path}.{k}"),
                    pairs,
                )?;
            }
        }
        "timestamp" => {
            let date =
                timestamp(value).ok_or_else(|| context.wrong_type(path, "a timestamp", value))?;
            pairs.push((prefix.to_string(), iso(date)));
        }
        _ => match value {
            Json::Object(_) | Json::Array(_) => pairs.push((prefix.to_string(), value.to_string())),
            other => pairs.push((prefix.to_string(), scalar_text(other))),
        },
    }
    Ok(())
}

pub fn response(operation: &Operation, response: &HttpResponse) -> Result<Json, Error> {
    let Some(shape) = operation.output else {
        return Ok(Json::Object(JsonMap::new()));
    };
    xml::with_root(&response.body, |root| {
        let result = match operation.result_wrapper {
            Some(wrapper) => xml::child(root, wrapper),
            None => Some(root),
        };
        result.map_or_else(
            || Json::Object(JsonMap::new()),
            |node| xml::read(shape, node),
        )
    })
    .map_err(|reason| Error::BadResponse {
        operation: operation.name.into(),
        status: response.status,
        reason,
    })
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
    fn parameters_become_a_form() {
        let sns = model("sns");
        let publish = sns.operation("publish").expect("publish");
        let built = request(
            &sns,
            &publish,
            &json!({ "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": { "a": 1 },
                     "MessageAttributes": { "kind": { "DataType": "String", "StringValue": "x y" } } }),
        )
        .expect("builds");
        assert_eq!(
            String::from_utf8(built.body).expect("utf8"),
            "Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At&Message=%7B%22a%22%3A1%7D\
             &MessageAttributes.entry.1.Name=kind&MessageAttributes.entry.1.Value.DataType=String\
             &MessageAttributes.entry.1.Value.StringValue=x%20y"
        );
        let iam = model("iam");
        let tag = iam.operation("tagRole").expect("tagRole");
        let built = request(
            &iam,
            &tag,
            &json!({ "RoleName": "r", "Tags": [{ "Key": "k", "Value": "v" }] }),
        )
        .expect("builds");
        assert!(String::from_utf8(built.body)
            .expect("utf8")
            .ends_with("RoleName=r&Tags.member.1.Key=k&Tags.member.1.Value=v"));
    }

    #[test]
    fn xml_answers_become_pascal_json() {
        let sts = model("sts");
        let who = sts.operation("getCallerIdentity").expect("op");
        let answer = HttpResponse {
            status: 200,
            headers: vec![],
            body: br#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/x</Arn><UserId>AID</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>"#.to_vec(),
        };
        assert_eq!(
            response(&who, &answer).expect("reads"),
            json!({ "UserId": "AID", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/x" })
        );
        let iam = model("iam");
        let list = iam.operation("listRoles").expect("op");
        let answer = HttpResponse {
            status: 200,
            headers: vec![],
            body: br#"<ListRolesResponse><ListRolesResult><IsTruncated>false</IsTruncated><Roles><member><RoleName>a</RoleName><CreateDate>2023-11-14T22:13:20Z</CreateDate><MaxSessionDuration>3600</MaxSessionDuration></member></Roles></ListRolesResult></ListRolesResponse>"#.to_vec(),
        };
        assert_eq!(
            response(&list, &answer).expect("reads"),
            json!({ "Roles": [{ "RoleName": "a", "CreateDate": "2023-11-14T22:13:20Z", "MaxSessionDuration": 3600 }], "IsTruncated": false })
        );
    }
}
