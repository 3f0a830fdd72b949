//! The status and headers of a successful answer, as the optimized
//! integrations add them to their results.

use serde_json::Value as Json;

/// The status and headers of a successful answer.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Metadata {
    /// `{"SdkHttpMetadata": {...}, "SdkResponseMetadata": {"RequestId"}}`,
    /// as Step Functions adds to an optimized integration's result.
    pub fn to_json(&self) -> Json {
        let headers: serde_json::Map<String, Json> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect();
        let all: serde_json::Map<String, Json> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Json::Array(vec![Json::String(v.clone())])))
            .collect();
        let request_id = self
            .headers
            .iter()
            .find(|(k, _)| {
                ["x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"]
                    .contains(&k.to_lowercase().as_str())
            })
            .map(|(_, v)| Json::String(v.clone()))
            .unwrap_or(Json::Null);
        serde_json::json!({
            "SdkHttpMetadata": {
                "AllHttpHeaders": all,
                "HttpHeaders": headers,
                "HttpStatusCode": self.status,
            },
            "SdkResponseMetadata": { "RequestId": request_id },
        })
    }
}
