//! The wire protocols: a Task's PascalCase parameters become an HTTP request
//! by the operation's input shape, and the answer becomes PascalCase JSON by
//! its output shape, as Step Functions returns it. One module per protocol.

pub mod json;
pub mod query;
pub mod rest;
pub(crate) mod values;
pub mod xml;

use serde_json::Value as Json;

use crate::model::{Model, Operation, Protocol};
use crate::Error;

/// An HTTP request before the endpoint and signature are added.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    /// The path and query, starting with `/`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A service's answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A service's error answer: its code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceError {
    pub code: String,
    pub message: String,
}

/// Where in the parameters a value is, for messages.
#[derive(Clone, Copy)]
pub(crate) struct Context<'a> {
    pub operation: &'a str,
}

impl Context<'_> {
    pub fn wrong_type(&self, path: &str, expected: &str, got: &Json) -> Error {
        Error::WrongType {
            operation: self.operation.into(),
            path: path.into(),
            expected: expected.into(),
            got: values::describe(got),
        }
    }
}

/// Builds the request for `operation` from the Task's parameters.
pub fn request(model: &Model, operation: &Operation, input: &Json) -> Result<HttpRequest, Error> {
    match model.protocol {
        Protocol::Json => json::request(model, operation, input),
        Protocol::Query => query::request(model, operation, input),
        Protocol::RestJson | Protocol::RestXml => rest::request(model, operation, input),
    }
}

/// Reads a successful answer into the Task's result.
pub fn response(
    model: &Model,
    operation: &Operation,
    response: &HttpResponse,
) -> Result<Json, Error> {
    match model.protocol {
        Protocol::Json => json::response(operation, response),
        Protocol::Query => query::response(operation, response),
        Protocol::RestJson | Protocol::RestXml => rest::response(model, operation, response),
    }
}

/// Reads an error answer's code and message.
pub fn error(model: &Model, response: &HttpResponse) -> ServiceError {
    let found = match model.protocol {
        Protocol::Json | Protocol::RestJson => json::error(response),
        Protocol::Query | Protocol::RestXml => xml::error(response),
    };
    found.unwrap_or_else(|| ServiceError {
        code: match response.status {
            404 => "NotFound".into(),
            403 => "AccessDenied".into(),
            status => format!("Http{status}"),
        },
        message: String::from_utf8_lossy(&response.body).into_owned(),
    })
}
