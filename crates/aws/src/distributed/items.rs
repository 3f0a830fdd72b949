//! The items in an object's content, as a Distributed Map reads them: a
//! JSON array, JSON Lines, or CSV rows (each an object of its columns'
//! values as strings, the column names from the first row or given).

use serde_json::{Map as JsonMap, Value as Json};
use windlass_asl::distributed::{CsvHeaderLocation, InputType};
use windlass_engine::map_run::ReadItems;

/// Reads the items of `text` as `read` says, at most `read.max_items`.
/// The error says what is wrong and where (line, row).
pub fn parse(text: &str, read: &ReadItems) -> Result<Vec<Json>, String> {
    let limit = read.max_items.map_or(usize::MAX, |n| n as usize);
    match read.input_type.unwrap_or(InputType::Json) {
        InputType::Json => {
            let value: Json =
                serde_json::from_str(text).map_err(|e| format!("the content is not JSON: {e}"))?;
            match value {
                Json::Array(mut items) => {
                    items.truncate(limit);
                    Ok(items)
                }
                other => Err(format!(
                    "the content is JSON but not an array (it starts with {})",
                    first_chars(&other.to_string())
                )),
            }
        }
        InputType::Jsonl => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .take(limit)
            .map(|(number, line)| {
                serde_json::from_str(line)
                    .map_err(|e| format!("line {} is not JSON: {e}", number + 1))
            })
            .collect(),
        InputType::Csv => {
            let headers = match read.csv_header_location {
                CsvHeaderLocation::Given => Some(read.csv_headers.clone()),
                CsvHeaderLocation::FirstRow => None,
            };
            csv(text, read.csv_delimiter.byte(), headers, limit)
        }
        InputType::Manifest => Err("a MANIFEST is read by its ManifestType, not as items".into()),
    }
}

/// CSV rows (RFC 4180: quoted fields, `""` inside quotes, CRLF or LF) as
/// objects keyed by `headers`, or by the first row when none are given.
pub fn csv(
    text: &str,
    delimiter: u8,
    headers: Option<Vec<String>>,
    limit: usize,
) -> Result<Vec<Json>, String> {
    let mut rows = Rows {
        bytes: text.as_bytes(),
        at: 0,
        line: 1,
        delimiter,
    };
    let headers = match headers {
        Some(headers) => headers,
        None => match rows.next_row()? {
            Some((_, header)) => header,
            None => return Err("the CSV content is empty: it has no header row".into()),
        },
    };
    let mut items = Vec::new();
    while items.len() < limit {
        let Some((line, fields)) = rows.next_row()? else {
            break;
        };
        if fields.len() != headers.len() {
            return Err(format!(
                "the CSV row at line {line} has {} fields but there are {} column names ({})",
                fields.len(),
                headers.len(),
                headers.join(",")
            ));
        }
        let object: JsonMap<String, Json> = headers
            .iter()
            .cloned()
            .zip(fields.into_iter().map(Json::String))
            .collect();
        items.push(Json::Object(object));
    }
    Ok(items)
}

struct Rows<'t> {
    bytes: &'t [u8],
    at: usize,
    line: usize,
    delimiter: u8,
}

impl Rows<'_> {
    /// The next row that is not empty, with the line it starts on.
    fn next_row(&mut self) -> Result<Option<(usize, Vec<String>)>, String> {
        loop {
            if self.at >= self.bytes.len() {
                return Ok(None);
            }
            let start_line = self.line;
            let fields = self.row()?;
            if fields.len() == 1 && fields[0].is_empty() {
                continue;
            }
            return Ok(Some((start_line, fields)));
        }
    }

    fn row(&mut self) -> Result<Vec<String>, String> {
        let mut fields = Vec::new();
        let mut field = Vec::new();
        let mut quoted = false;
        let start_line = self.line;
        while self.at < self.bytes.len() {
            let byte = self.bytes[self.at];
            self.at += 1;
            if quoted {
                match byte {
                    b'"' if self.bytes.get(self.at) == Some(&b'"') => {
                        field.push(b'"');
                        self.at += 1;
                    }
                    b'"' => quoted = false,
                    b'\n' => {
                        self.line += 1;
                        field.push(byte);
                    }
                    _ => field.push(byte),
                }
                continue;
            }
            match byte {
                b'"' if field.is_empty() => quoted = true,
                b'\r' if self.bytes.get(self.at) == Some(&b'\n') => {}
                b'\n' => {
                    self.line += 1;
                    fields.push(text(field)?);
                    return Ok(fields);
                }
                b if b == self.delimiter => fields.push(text(std::mem::take(&mut field))?),
                _ => field.push(byte),
            }
        }
        if quoted {
            return Err(format!(
                "the CSV row at line {start_line} has a quoted field that never ends"
            ));
        }
        fields.push(text(field)?);
        Ok(fields)
    }
}

fn text(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| "the CSV content is not UTF-8".to_string())
}

fn first_chars(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use windlass_asl::distributed::{CsvDelimiter, ReaderSource};

    fn read(input_type: InputType) -> ReadItems {
        ReadItems {
            source: ReaderSource::GetObject,
            arguments: json!({}),
            input_type: Some(input_type),
            csv_header_location: CsvHeaderLocation::FirstRow,
            csv_headers: Vec::new(),
            csv_delimiter: CsvDelimiter::Comma,
            max_items: None,
            manifest_type: None,
            state_name: "Map".into(),
        }
    }

    #[test]
    fn csv_rows_become_objects_of_strings_keyed_by_the_first_row() {
        let text = "id,name,note\r\n1,ann,\"says \"\"hi\"\", twice\"\n2,bob,\"two\nlines\"\n\n";
        let items = parse(text, &read(InputType::Csv)).expect("valid CSV");
        assert_eq!(
            items,
            vec![
                json!({ "id": "1", "name": "ann", "note": "says \"hi\", twice" }),
                json!({ "id": "2", "name": "bob", "note": "two\nlines" }),
            ]
        );
    }

    #[test]
    fn given_headers_read_every_row_and_max_items_stops_early() {
        let mut config = read(InputType::Csv);
        config.csv_header_location = CsvHeaderLocation::Given;
        config.csv_headers = vec!["a".into(), "b".into()];
        config.csv_delimiter = CsvDelimiter::Pipe;
        config.max_items = Some(2);
        let items = parse("1|2\n3|4\n5|6\n", &config).expect("valid CSV");
        assert_eq!(
            items,
            vec![json!({ "a": "1", "b": "2" }), json!({ "a": "3", "b": "4" })]
        );
    }

    #[test]
    fn a_short_row_is_an_error_naming_its_line() {
        let error = parse("a,b\n1,2\n3\n", &read(InputType::Csv)).expect_err("short row");
        assert!(error.contains("line 3 has 1 fields"), "{error}");
    }

    #[test]
    fn json_arrays_and_json_lines() {
        let items = parse(r#"[{"n":1},{"n":2}]"#, &read(InputType::Json)).expect("array");
        assert_eq!(items, vec![json!({ "n": 1 }), json!({ "n": 2 })]);
        let error = parse(r#"{"n":1}"#, &read(InputType::Json)).expect_err("not an array");
        assert!(error.contains("not an array"), "{error}");
        let items = parse("{\"n\":1}\n\n[2]\n", &read(InputType::Jsonl)).expect("lines");
        assert_eq!(items, vec![json!({ "n": 1 }), json!([2])]);
        let error = parse("{\"n\":1}\nnope\n", &read(InputType::Jsonl)).expect_err("bad line");
        assert!(error.starts_with("line 2 "), "{error}");
    }
}
