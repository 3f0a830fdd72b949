//! What a Distributed Map reads its items from (`ItemReader`) and where it
//! writes its results (`ResultWriter`), as typed data. Parsing them with
//! located diagnostics is in `parse/distributed.rs`; reading S3 is
//! `windlass-aws`'s, and the engine only passes these fields on.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::definition::NumberSource;

/// `arn:aws:states:::s3:getObject`: one object whose content is the items.
pub const GET_OBJECT: &str = "arn:aws:states:::s3:getObject";
/// `arn:aws:states:::s3:listObjectsV2`: the objects under a prefix are the items.
pub const LIST_OBJECTS_V2: &str = "arn:aws:states:::s3:listObjectsV2";
/// `arn:aws:states:::s3:putObject`: the only ResultWriter resource.
pub const PUT_OBJECT: &str = "arn:aws:states:::s3:putObject";

/// A Map's `ItemReader`.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemReader {
    pub source: ReaderSource,
    /// `Parameters` (JSONPath) or `Arguments` (JSONata): `Bucket`, `Key`
    /// or `Prefix`, evaluated when the Map starts.
    pub arguments: Option<Json>,
    pub config: ReaderConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReaderSource {
    GetObject,
    ListObjectsV2,
}

impl ReaderSource {
    pub fn resource(self) -> &'static str {
        match self {
            ReaderSource::GetObject => GET_OBJECT,
            ReaderSource::ListObjectsV2 => LIST_OBJECTS_V2,
        }
    }
}

/// `ItemReader.ReaderConfig`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReaderConfig {
    pub input_type: Option<InputType>,
    pub csv_header_location: CsvHeaderLocation,
    pub csv_headers: Vec<String>,
    pub csv_delimiter: CsvDelimiter,
    /// `MaxItems` or `MaxItemsPath`; none reads every item.
    pub max_items: Option<NumberSource>,
    pub manifest_type: Option<ManifestType>,
}

/// What the object `getObject` reads holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InputType {
    Csv,
    Json,
    Jsonl,
    Manifest,
}

impl InputType {
    pub fn named(name: &str) -> Option<InputType> {
        Some(match name {
            "CSV" => InputType::Csv,
            "JSON" => InputType::Json,
            "JSONL" => InputType::Jsonl,
            "MANIFEST" => InputType::Manifest,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CsvHeaderLocation {
    #[default]
    FirstRow,
    Given,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CsvDelimiter {
    #[default]
    Comma,
    Pipe,
    Semicolon,
    Space,
    Tab,
}

impl CsvDelimiter {
    pub fn named(name: &str) -> Option<CsvDelimiter> {
        Some(match name {
            "COMMA" => CsvDelimiter::Comma,
            "PIPE" => CsvDelimiter::Pipe,
            "SEMICOLON" => CsvDelimiter::Semicolon,
            "SPACE" => CsvDelimiter::Space,
            "TAB" => CsvDelimiter::Tab,
            _ => return None,
        })
    }

    pub fn byte(self) -> u8 {
        match self {
            CsvDelimiter::Comma => b',',
            CsvDelimiter::Pipe => b'|',
            CsvDelimiter::Semicolon => b';',
            CsvDelimiter::Space => b' ',
            CsvDelimiter::Tab => b'\t',
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ManifestType {
    S3Inventory,
}

/// A Map's `ResultWriter`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultWriter {
    /// `Parameters` or `Arguments` (`Bucket`, `Prefix`); none with only a
    /// `WriterConfig` (the results are then the state's output, formatted).
    pub arguments: Option<Json>,
    pub config: WriterConfig,
}

/// `ResultWriter.WriterConfig`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterConfig {
    /// None: `NONE` when the results go to S3, `COMPACT` when they do not.
    pub transformation: Option<Transformation>,
    pub output_type: OutputType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Transformation {
    /// Each child execution's record (ARN, input, output, dates, status).
    None,
    /// Each child execution's output only.
    Compact,
    /// Outputs, arrays among them spread into the list.
    Flatten,
}

impl Transformation {
    pub fn named(name: &str) -> Option<Transformation> {
        Some(match name {
            "NONE" => Transformation::None,
            "COMPACT" => Transformation::Compact,
            "FLATTEN" => Transformation::Flatten,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OutputType {
    #[default]
    Json,
    Jsonl,
}
