//! A reader of botocore's service models (`service-2.json`): the service's
//! metadata, its operations, and views of its shapes, read as data.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map as JsonMap, Value as Json};

use crate::services::Service;
use crate::Error;

/// The wire protocols windlass speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON 1.0/1.1: `POST /`, `X-Amz-Target: <prefix>.<Operation>`.
    Json,
    /// AWS Query: form-encoded `Action=...`, XML answers.
    Query,
    RestJson,
    RestXml,
}

/// One service's model.
#[derive(Debug)]
pub struct Model {
    pub service: Service,
    pub protocol: Protocol,
    pub api_version: String,
    pub json_version: String,
    pub target_prefix: String,
    pub endpoint_prefix: String,
    pub signing_name: String,
    /// `serviceId`, as `AWS_ENDPOINT_URL_<SERVICE>` spells it (uppercased,
    /// spaces as underscores).
    pub service_id: String,
    pub global_endpoint: Option<String>,
    pub xml_namespace: Option<String>,
    operations: JsonMap<String, Json>,
    shapes: JsonMap<String, Json>,
}

/// An operation of a model.
#[derive(Debug, Clone, Copy)]
pub struct Operation<'m> {
    pub name: &'m str,
    pub method: &'m str,
    pub request_uri: &'m str,
    pub input: Option<Shape<'m>>,
    pub output: Option<Shape<'m>>,
    /// The Query protocol's `<OperationResult>` element.
    pub result_wrapper: Option<&'m str>,
    /// Put before AWS's host name (`sync-` for StartSyncExecution).
    pub host_prefix: Option<&'m str>,
}

/// A shape, with the model it belongs to (to follow member references).
#[derive(Debug, Clone, Copy)]
pub struct Shape<'m> {
    pub name: &'m str,
    pub body: &'m JsonMap<String, Json>,
    model: &'m Model,
}

/// A member of a structure: its shape and the member's own traits.
#[derive(Debug, Clone, Copy)]
pub struct Member<'m> {
    pub name: &'m str,
    pub shape: Shape<'m>,
    pub traits: &'m JsonMap<String, Json>,
}

fn text<'a>(map: &'a JsonMap<String, Json>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Json::as_str)
}

fn flag(map: &JsonMap<String, Json>, key: &str) -> bool {
    map.get(key).and_then(Json::as_bool).unwrap_or(false)
}

static EMPTY: OnceLock<JsonMap<String, Json>> = OnceLock::new();

impl Model {
    /// The model of `service`, read once per process.
    pub fn of(service: Service) -> Result<Arc<Model>, Error> {
        static MODELS: OnceLock<Mutex<HashMap<&'static str, Arc<Model>>>> = OnceLock::new();
        let models = MODELS.get_or_init(Default::default);
        if let Some(model) = models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(service.name)
        {
            return Ok(model.clone());
        }
        let model = Arc::new(Model::read(service)?);
        models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(service.name, model.clone());
        Ok(model)
    }

    fn read(service: Service) -> Result<Model, Error> {
        let bad = |reason: String| Error::Model {
            service: service.name.into(),
            reason,
        };
        let mut text_json = String::new();
        flate2::read::GzDecoder::new(service.compressed_model())
            .read_to_string(&mut text_json)
            .map_err(|e| bad(format!("gzip: {e}")))?;
        let Json::Object(mut document) =
            serde_json::from_str(&text_json).map_err(|e| bad(format!("JSON: {e}")))?
        else {
            return Err(bad("not a JSON object".into()));
        };
        let take = |document: &mut JsonMap<String, Json>, key: &str| match document.remove(key) {
            Some(Json::Object(map)) => Ok(map),
            _ => Err(bad(format!("no '{key}' object"))),
        };
        let metadata = take(&mut document, "metadata")?;
        let operations = take(&mut document, "operations")?;
        let shapes = take(&mut document, "shapes")?;
        let protocol =
            pick_protocol(&metadata).ok_or_else(|| bad("no protocol windlass speaks".into()))?;
        let get = |key: &str| text(&metadata, key).unwrap_or_default().to_string();
        let endpoint_prefix = get("endpointPrefix");
        let signing_name = text(&metadata, "signingName")
            .map(str::to_string)
            .unwrap_or_else(|| endpoint_prefix.clone());
        Ok(Model {
            service,
            protocol,
            api_version: get("apiVersion"),
            json_version: text(&metadata, "jsonVersion").unwrap_or("1.0").into(),
            target_prefix: get("targetPrefix"),
            service_id: get("serviceId").to_uppercase().replace(' ', "_"),
            global_endpoint: text(&metadata, "globalEndpoint").map(str::to_string),
            xml_namespace: text(&metadata, "xmlNamespace").map(str::to_string),
            endpoint_prefix,
            signing_name,
            operations,
            shapes,
        })
    }

    /// The operation a Task names in camelCase (`putItem` -> `PutItem`).
    pub fn operation(&self, action: &str) -> Result<Operation<'_>, Error> {
        let found = self
            .operations
            .iter()
            .find(|(name, _)| name.as_str() == pascal(action))
            .or_else(|| {
                self.operations
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(action))
            });
        let Some((name, Json::Object(body))) = found else {
            return Err(Error::UnknownAction {
                service: self.service.name.into(),
                action: action.into(),
                actions: self.actions().join(", "),
            });
        };
        let empty = EMPTY.get_or_init(JsonMap::new);
        let http = body.get("http").and_then(Json::as_object).unwrap_or(empty);
        let shape_of = |key: &str| {
            body.get(key)
                .and_then(|r| r.get("shape"))
                .and_then(Json::as_str)
                .and_then(|shape| self.shape(shape))
        };
        Ok(Operation {
            name,
            method: text(http, "method").unwrap_or("POST"),
            request_uri: text(http, "requestUri").unwrap_or("/"),
            input: shape_of("input"),
            output: shape_of("output"),
            result_wrapper: body
                .get("output")
                .and_then(|o| o.get("resultWrapper"))
                .and_then(Json::as_str),
            host_prefix: body
                .get("endpoint")
                .and_then(|e| e.get("hostPrefix"))
                .and_then(Json::as_str),
        })
    }

    /// The service's actions as a Task names them (camelCase), sorted.
    pub fn actions(&self) -> Vec<String> {
        let mut actions: Vec<String> = self.operations.keys().map(|n| camel(n)).collect();
        actions.sort();
        actions
    }

    /// The error a service's code names, as Step Functions names it: the
    /// modeled exception's shape (`S3.NoSuchKeyException`), or the
    /// service's base exception (`S3.S3Exception`) for a code the model
    /// does not know, as the SDK for Java that Step Functions uses does.
    pub fn error_name(&self, code: &str) -> String {
        let prefix = self.service.errors;
        let modeled = self.shapes.iter().find(|(name, shape)| {
            shape.get("exception").and_then(Json::as_bool) == Some(true)
                && (name.as_str() == code
                    || shape.pointer("/error/code").and_then(Json::as_str) == Some(code))
        });
        match modeled {
            Some((name, _)) => crate::error_name(prefix, name),
            None => format!("{prefix}.{prefix}Exception"),
        }
    }

    pub fn shape(&self, name: &str) -> Option<Shape<'_>> {
        let (name, body) = self.shapes.get_key_value(name)?;
        Some(Shape {
            name,
            body: body.as_object()?,
            model: self,
        })
    }
}

/// The first protocol of the model's list that windlass speaks, JSON first.
fn pick_protocol(metadata: &JsonMap<String, Json>) -> Option<Protocol> {
    let listed: Vec<&str> = match metadata.get("protocols").and_then(Json::as_array) {
        Some(list) => list.iter().filter_map(Json::as_str).collect(),
        None => text(metadata, "protocol").into_iter().collect(),
    };
    [
        ("json", Protocol::Json),
        ("query", Protocol::Query),
        ("rest-json", Protocol::RestJson),
        ("rest-xml", Protocol::RestXml),
    ]
    .into_iter()
    .find(|(name, _)| listed.contains(name))
    .map(|(_, protocol)| protocol)
}

impl<'m> Shape<'m> {
    /// `structure`, `list`, `map`, `string`, `integer`, `timestamp`, `blob`...
    pub fn kind(&self) -> &'m str {
        text(self.body, "type").unwrap_or("string")
    }

    pub fn text(&self, key: &str) -> Option<&'m str> {
        text(self.body, key)
    }

    pub fn flag(&self, key: &str) -> bool {
        flag(self.body, key)
    }

    fn target(&self, key: &'static str) -> Option<Member<'m>> {
        let member = self.body.get(key)?.as_object()?;
        let shape = self.model.shape(text(member, "shape")?)?;
        Some(Member {
            name: key,
            shape,
            traits: member,
        })
    }

    /// A list's member, a map's key and value.
    pub fn list_member(&self) -> Option<Member<'m>> {
        self.target("member")
    }
    pub fn map_key(&self) -> Option<Member<'m>> {
        self.target("key")
    }
    pub fn map_value(&self) -> Option<Member<'m>> {
        self.target("value")
    }

    /// A structure's members in the model's order.
    pub fn members(&self) -> Vec<Member<'m>> {
        let Some(members) = self.body.get("members").and_then(Json::as_object) else {
            return Vec::new();
        };
        members
            .iter()
            .filter_map(|(name, member)| {
                let traits = member.as_object()?;
                let shape = self.model.shape(text(traits, "shape")?)?;
                Some(Member {
                    name,
                    shape,
                    traits,
                })
            })
            .collect()
    }

    /// The member a Task's PascalCase key names: the same name, or the
    /// model's camelCase one (`Cluster` -> `cluster`).
    pub fn member(&self, key: &str) -> Option<Member<'m>> {
        let members = self.members();
        members
            .iter()
            .find(|m| m.name == key)
            .or_else(|| members.iter().find(|m| pascal(m.name) == key))
            .or_else(|| members.iter().find(|m| m.name.eq_ignore_ascii_case(key)))
            .copied()
    }

    pub fn required(&self) -> Vec<&'m str> {
        self.body
            .get("required")
            .and_then(Json::as_array)
            .map(|list| list.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default()
    }

    pub fn member_names(&self) -> String {
        self.members()
            .iter()
            .map(|m| pascal(m.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl<'m> Member<'m> {
    pub fn location(&self) -> Option<&'m str> {
        text(self.traits, "location")
    }

    /// The name on the wire: `locationName` if the member has one.
    pub fn wire_name(&self) -> &'m str {
        text(self.traits, "locationName").unwrap_or(self.name)
    }

    pub fn flattened(&self) -> bool {
        flag(self.traits, "flattened") || self.shape.flag("flattened")
    }

    /// The name a result carries in Step Functions: PascalCase.
    pub fn output_name(&self) -> String {
        pascal(self.name)
    }
}

/// `putItem` -> `PutItem`, `cluster` -> `Cluster`.
pub fn pascal(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `PutItem` -> `putItem`.
pub fn camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::SERVICES;

    #[test]
    fn every_embedded_model_reads_and_speaks_a_known_protocol() {
        for service in SERVICES {
            let model = Model::of(*service).expect("model reads");
            assert!(!model.actions().is_empty(), "{} has actions", service.name);
        }
        let dynamodb = Model::of(Service::named("dynamodb").expect("known")).expect("reads");
        assert_eq!(dynamodb.protocol, Protocol::Json);
        assert_eq!(dynamodb.target_prefix, "DynamoDB_20120810");
        let put = dynamodb.operation("putItem").expect("putItem");
        assert_eq!(put.name, "PutItem");
        let input = put.input.expect("input");
        assert!(input.required().contains(&"TableName"));
        let s3 = Model::of(Service::named("s3").expect("known")).expect("reads");
        assert_eq!(s3.protocol, Protocol::RestXml);
        let ecs = Model::of(Service::named("ecs").expect("known")).expect("reads");
        let run = ecs.operation("runTask").expect("runTask");
        assert_eq!(
            run.input
                .and_then(|i| i.member("TaskDefinition"))
                .map(|m| m.name),
            Some("taskDefinition")
        );
    }

    #[test]
    fn an_unknown_action_lists_the_services_actions() {
        let sts = Model::of(Service::named("sts").expect("known")).expect("reads");
        let Err(Error::UnknownAction { actions, .. }) = sts.operation("getCallerIdentityy") else {
            panic!("expected UnknownAction");
        };
        assert!(actions.contains("getCallerIdentity"));
    }
}
