//! A Distributed Map over an S3 inventory: the manifest (`InputType`
//! MANIFEST, `ManifestType` S3_INVENTORY) names gzip'd CSV files in the
//! inventory's destination bucket, on a moto server this test starts; each
//! row is an item keyed by the manifest's `fileSchema`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use flate2::write::GzEncoder;
use serde_json::{json, Value as Json};
use support::{output, Moto};
use windlass_aws::model::Model;
use windlass_aws::{Client, Service};

/// Puts `bytes` as they are (the client sends text bodies only): a plain
/// HTTP PUT, which moto takes unsigned.
fn put_bytes(endpoint: &str, bucket: &str, key: &str, bytes: &[u8]) {
    let host = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("moto listens");
    let head = format!(
        "PUT /{bucket}/{key} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(bytes).expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "moto refused the PUT: {answer}"
    );
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).expect("gzip");
    encoder.finish().expect("gzip")
}

async fn s3(client: &Client, action: &str, input: Json) -> Json {
    let model = Model::of(Service::named("s3").expect("s3")).expect("model");
    client
        .call(&model, action, &input, None)
        .await
        .unwrap_or_else(|e| panic!("{action} failed: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_rows_become_items_keyed_by_the_file_schema() {
    let moto = Moto::start();
    let client = Client::new(moto.config());
    for bucket in ["photos", "inventory"] {
        s3(&client, "CreateBucket", json!({ "Bucket": bucket })).await;
    }
    let base = "photos/daily/2024-01-01T00-00Z";
    let files = [
        (
            "photos/daily/data/a.csv.gz",
            "\"photos\",\"2024/1.jpg\",\"10\",\"2024-01-01T00:00:00.000Z\"\n\"photos\",\"2024/2.jpg\",\"20\",\"2024-01-01T00:00:01.000Z\"\n\"photos\",\"2024/3.jpg\",\"30\",\"2024-01-01T00:00:02.000Z\"\n",
        ),
        (
            "photos/daily/data/b.csv.gz",
            "\"photos\",\"2024/4.jpg\",\"40\",\"2024-01-01T00:00:03.000Z\"\n\"photos\",\"2024/5.jpg\",\"50\",\"2024-01-01T00:00:04.000Z\"\n",
        ),
    ];
    for (key, rows) in files {
        put_bytes(&moto.endpoint, "inventory", key, &gzip(rows));
    }
    let manifest = json!({
        "sourceBucket": "photos",
        "destinationBucket": "arn:aws:s3:::inventory",
        "version": "2016-11-30",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, LastModifiedDate",
        "files": files.iter().map(|(key, _)| json!({ "key": key, "size": 1, "MD5checksum": "x" })).collect::<Vec<_>>(),
    });
    s3(
        &client,
        "PutObject",
        json!({ "Bucket": "inventory", "Key": format!("{base}/manifest.json"), "Body": manifest.to_string() }),
    )
    .await;

    let definition = |max_items: Json| {
        let mut config = json!({ "InputType": "MANIFEST", "ManifestType": "S3_INVENTORY" });
        if !max_items.is_null() {
            config["MaxItems"] = max_items;
        }
        json!({ "StartAt": "Objects", "States": { "Objects": {
            "Type": "Map",
            "ItemReader": { "Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": config,
                "Parameters": { "Bucket": "inventory", "Key": format!("{base}/manifest.json") } },
            "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" }, "StartAt": "Echo",
                "States": { "Echo": { "Type": "Pass", "End": true } } },
            "End": true } } })
    };
    let all = output(moto.config(), &definition(Json::Null), json!({})).await;
    let keys: Vec<&str> = all
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| item["Key"].as_str().expect("a key"))
        .collect();
    assert_eq!(
        keys,
        [
            "2024/1.jpg",
            "2024/2.jpg",
            "2024/3.jpg",
            "2024/4.jpg",
            "2024/5.jpg"
        ]
    );
    assert_eq!(
        all[3],
        json!({ "Bucket": "photos", "Key": "2024/4.jpg", "Size": "40", "LastModifiedDate": "2024-01-01T00:00:03.000Z" })
    );
    let first_four = output(moto.config(), &definition(json!(4)), json!({})).await;
    assert_eq!(first_four.as_array().map(Vec::len), Some(4));
    assert_eq!(first_four[3]["Key"], "2024/4.jpg");
}
