//! A Map's `ItemReader` and `ResultWriter`, read into their typed form
//! (`crate::distributed`) with a diagnostic at the field at fault.

use serde_json::{Map as JsonMap, Value as Json};

use super::{pointer_join, Parser};
use crate::definition::QueryLanguage;
use crate::distributed::*;

impl Parser {
    pub(super) fn item_reader(
        &mut self,
        value: &Json,
        pointer: &str,
        language: QueryLanguage,
    ) -> Option<ItemReader> {
        let Some(object) = value.as_object() else {
            self.error(
                pointer,
                "The value for the field 'ItemReader' must be an OBJECT",
            );
            return None;
        };
        self.check_fields(
            object,
            pointer,
            &["Resource", "Parameters", "Arguments", "ReaderConfig"],
        );
        let source = match object.get("Resource").and_then(Json::as_str) {
            Some(GET_OBJECT) => ReaderSource::GetObject,
            Some(LIST_OBJECTS_V2) => ReaderSource::ListObjectsV2,
            Some(other) => {
                self.error(
                    &pointer_join(pointer, "Resource"),
                    format!("The ItemReader resource '{other}' is not supported: use '{GET_OBJECT}' or '{LIST_OBJECTS_V2}'"),
                );
                return None;
            }
            None => {
                self.error(pointer, "These fields are required: [Resource]");
                return None;
            }
        };
        let arguments = self.arguments(object, pointer, language);
        let config = match object.get("ReaderConfig") {
            Some(Json::Object(config)) => {
                self.reader_config(config, &pointer_join(pointer, "ReaderConfig"))
            }
            Some(_) => {
                self.error(
                    &pointer_join(pointer, "ReaderConfig"),
                    "The value for the field 'ReaderConfig' must be an OBJECT",
                );
                ReaderConfig::default()
            }
            None => ReaderConfig::default(),
        };
        if source == ReaderSource::GetObject && config.input_type.is_none() {
            self.error(
                &pointer_join(pointer, "ReaderConfig"),
                "An ItemReader with 's3:getObject' needs ReaderConfig.InputType (CSV, JSON, JSONL or MANIFEST)",
            );
        }
        Some(ItemReader {
            source,
            arguments,
            config,
        })
    }

    fn reader_config(&mut self, object: &JsonMap<String, Json>, pointer: &str) -> ReaderConfig {
        self.check_fields(
            object,
            pointer,
            &[
                "InputType",
                "CSVHeaderLocation",
                "CSVHeaders",
                "CSVDelimiter",
                "MaxItems",
                "MaxItemsPath",
                "ManifestType",
            ],
        );
        let mut config = ReaderConfig {
            max_items: self.number_source(object, pointer, "MaxItems"),
            ..ReaderConfig::default()
        };
        if let Some(name) = self.optional_string(object, pointer, "InputType") {
            config.input_type = InputType::named(&name);
            if config.input_type.is_none() {
                self.error(
                    &pointer_join(pointer, "InputType"),
                    format!("InputType '{name}' is not one of CSV, JSON, JSONL, MANIFEST"),
                );
            }
        }
        match self
            .optional_string(object, pointer, "CSVHeaderLocation")
            .as_deref()
        {
            None | Some("FIRST_ROW") => {}
            Some("GIVEN") => config.csv_header_location = CsvHeaderLocation::Given,
            Some(other) => self.error(
                &pointer_join(pointer, "CSVHeaderLocation"),
                format!("CSVHeaderLocation '{other}' is not one of FIRST_ROW, GIVEN"),
            ),
        }
        match object.get("CSVHeaders") {
            Some(Json::Array(headers)) if headers.iter().all(Json::is_string) => {
                config.csv_headers = headers
                    .iter()
                    .filter_map(|h| h.as_str().map(str::to_string))
                    .collect();
            }
            Some(_) => self.error(
                &pointer_join(pointer, "CSVHeaders"),
                "The value for the field 'CSVHeaders' must be an ARRAY of STRING",
            ),
            None => {}
        }
        let given = config.csv_header_location == CsvHeaderLocation::Given;
        if given && config.csv_headers.is_empty() {
            self.error(
                pointer,
                "CSVHeaderLocation GIVEN needs the column names in CSVHeaders",
            );
        }
        if !given && !config.csv_headers.is_empty() {
            self.error(
                &pointer_join(pointer, "CSVHeaders"),
                "CSVHeaders is only allowed with CSVHeaderLocation GIVEN",
            );
        }
        if let Some(name) = self.optional_string(object, pointer, "CSVDelimiter") {
            match CsvDelimiter::named(&name) {
                Some(delimiter) => config.csv_delimiter = delimiter,
                None => self.error(
                    &pointer_join(pointer, "CSVDelimiter"),
                    format!(
                        "CSVDelimiter '{name}' is not one of COMMA, PIPE, SEMICOLON, SPACE, TAB"
                    ),
                ),
            }
        }
        match self
            .optional_string(object, pointer, "ManifestType")
            .as_deref()
        {
            None => {}
            Some("S3_INVENTORY") => config.manifest_type = Some(ManifestType::S3Inventory),
            Some(other) => self.error(
                &pointer_join(pointer, "ManifestType"),
                format!("ManifestType '{other}' is not supported: use S3_INVENTORY"),
            ),
        }
        config
    }

    pub(super) fn result_writer(
        &mut self,
        value: &Json,
        pointer: &str,
        language: QueryLanguage,
    ) -> Option<ResultWriter> {
        let Some(object) = value.as_object() else {
            self.error(
                pointer,
                "The value for the field 'ResultWriter' must be an OBJECT",
            );
            return None;
        };
        self.check_fields(
            object,
            pointer,
            &["Resource", "Parameters", "Arguments", "WriterConfig"],
        );
        match object.get("Resource").map(|r| r.as_str()) {
            None if object.contains_key("WriterConfig") => {}
            None => {
                self.error(
                    pointer,
                    "The ResultWriter field cannot be empty: give Resource and Parameters, WriterConfig, or all three",
                );
                return None;
            }
            Some(Some(PUT_OBJECT)) => {}
            Some(other) => {
                self.error(
                    &pointer_join(pointer, "Resource"),
                    format!(
                        "The ResultWriter resource {} is not supported: use '{PUT_OBJECT}'",
                        other.map_or("(not a string)".to_string(), |r| format!("'{r}'"))
                    ),
                );
                return None;
            }
        }
        let arguments = self.arguments(object, pointer, language);
        if object.contains_key("Resource") && arguments.is_none() {
            self.error(
                pointer,
                "A ResultWriter with a Resource needs Parameters (or Arguments) with Bucket and Prefix",
            );
        }
        let config = match object.get("WriterConfig") {
            Some(Json::Object(config)) => {
                self.writer_config(config, &pointer_join(pointer, "WriterConfig"))
            }
            Some(_) => {
                self.error(
                    &pointer_join(pointer, "WriterConfig"),
                    "The value for the field 'WriterConfig' must be an OBJECT",
                );
                WriterConfig::default()
            }
            None => WriterConfig::default(),
        };
        Some(ResultWriter { arguments, config })
    }

    fn writer_config(&mut self, object: &JsonMap<String, Json>, pointer: &str) -> WriterConfig {
        self.check_fields(object, pointer, &["Transformation", "OutputType"]);
        let mut config = WriterConfig::default();
        if let Some(name) = self.optional_string(object, pointer, "Transformation") {
            config.transformation = Transformation::named(&name);
            if config.transformation.is_none() {
                self.error(
                    &pointer_join(pointer, "Transformation"),
                    format!("Transformation '{name}' is not one of NONE, COMPACT, FLATTEN"),
                );
            }
        }
        match self
            .optional_string(object, pointer, "OutputType")
            .as_deref()
        {
            None | Some("JSON") => {}
            Some("JSONL") => config.output_type = OutputType::Jsonl,
            Some(other) => self.error(
                &pointer_join(pointer, "OutputType"),
                format!("OutputType '{other}' is not one of JSON, JSONL"),
            ),
        }
        config
    }

    /// `Parameters` in a JSONPath state, `Arguments` in a JSONata one.
    fn arguments(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
        language: QueryLanguage,
    ) -> Option<Json> {
        let (wanted, other) = match language {
            QueryLanguage::JsonPath => ("Parameters", "Arguments"),
            QueryLanguage::Jsonata => ("Arguments", "Parameters"),
        };
        if object.contains_key(other) {
            self.error(
                &pointer_join(pointer, other),
                format!(
                    "The field '{other}' is not supported in this query language: use '{wanted}'"
                ),
            );
        }
        match object.get(wanted) {
            Some(value @ Json::Object(_)) => Some(value.clone()),
            Some(Json::String(text))
                if language == QueryLanguage::Jsonata && crate::jsonata::is_expression(text) =>
            {
                Some(Json::String(text.clone()))
            }
            Some(_) => {
                self.error(
                    &pointer_join(pointer, wanted),
                    format!("The value for the field '{wanted}' must be an OBJECT"),
                );
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value as Json};

    use crate::definition::StateKind;
    use crate::distributed::*;
    use crate::parse::parse_text;

    fn map(fields: Json) -> Json {
        let mut state = json!({ "Type": "Map", "End": true,
            "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" }, "StartAt": "P",
                "States": { "P": { "Type": "Pass", "End": true } } } });
        for (key, value) in fields.as_object().into_iter().flatten() {
            state[key] = value.clone();
        }
        json!({ "StartAt": "M", "States": { "M": state } })
    }

    fn messages(document: Json) -> Vec<String> {
        parse_text(&document.to_string())
            .diagnostics
            .iter()
            .map(|d| format!("{} {}", d.pointer, d.message))
            .collect()
    }

    #[test]
    fn item_reader_and_result_writer_are_read_into_their_types() {
        let parsed = parse_text(
            &map(json!({
                "ItemReader": { "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": { "InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["a", "b"],
                        "CSVDelimiter": "TAB", "MaxItemsPath": "$.max" },
                    "Parameters": { "Bucket": "b", "Key.$": "$.key" } },
                "ResultWriter": { "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": { "Bucket": "out", "Prefix": "p" },
                    "WriterConfig": { "Transformation": "COMPACT", "OutputType": "JSONL" } } }))
            .to_string(),
        )
        .valid()
        .expect("valid");
        let StateKind::Map(map) = &parsed.state(0, 0).kind else {
            panic!("a Map");
        };
        let reader = map.item_reader.as_ref().expect("a reader");
        assert_eq!(reader.source, ReaderSource::GetObject);
        assert_eq!(reader.config.input_type, Some(InputType::Csv));
        assert_eq!(reader.config.csv_header_location, CsvHeaderLocation::Given);
        assert_eq!(reader.config.csv_headers, ["a", "b"]);
        assert_eq!(reader.config.csv_delimiter, CsvDelimiter::Tab);
        assert_eq!(
            reader.arguments,
            Some(json!({ "Bucket": "b", "Key.$": "$.key" }))
        );
        let writer = map.result_writer.as_ref().expect("a writer");
        assert_eq!(writer.config.transformation, Some(Transformation::Compact));
        assert_eq!(writer.config.output_type, OutputType::Jsonl);
    }

    #[test]
    fn wrong_reader_and_writer_fields_are_diagnosed_where_they_are() {
        let found = messages(map(json!({
            "ItemReader": { "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": { "InputType": "XML", "CSVHeaderLocation": "GIVEN" },
                "Parameters": { "Bucket": "b", "Key": "k" } },
            "ResultWriter": { "Resource": "arn:aws:states:::s3:getObject", "Parameters": {} } })));
        let expect = [
            "/States/M/ItemReader/ReaderConfig/InputType InputType 'XML' is not one of CSV, JSON, JSONL, MANIFEST",
            "/States/M/ItemReader/ReaderConfig CSVHeaderLocation GIVEN needs the column names in CSVHeaders",
            "/States/M/ResultWriter/Resource The ResultWriter resource 'arn:aws:states:::s3:getObject' is not supported: use 'arn:aws:states:::s3:putObject'",
        ];
        for message in expect {
            assert!(
                found.iter().any(|f| f == message),
                "missing {message:?} in {found:#?}"
            );
        }
        let found = messages(map(
            json!({ "ItemReader": { "Resource": "arn:aws:states:::s3:getObject",
            "Parameters": { "Bucket": "b", "Key": "k" } } }),
        ));
        assert!(
            found
                .iter()
                .any(|f| f.contains("needs ReaderConfig.InputType")),
            "{found:#?}"
        );
    }
}
