//! Distributed Map through a `windlass server` on a loopback port whose S3
//! is a moto server this test starts: items read from S3 (CSV with the
//! first row or given headers, JSON, JSON Lines, listObjectsV2, MaxItems,
//! MaxItemsPath, JSONata `Arguments`), the ResultWriter's files read back
//! and checked one by one, Map Run records (DescribeMapRun, ListMapRuns,
//! UpdateMapRun) and ListExecutions of a `mapRunArn`.

#[path = "../../aws/tests/support/mod.rs"]
mod moto;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use windlass_aws::model::Model;
use windlass_aws::{Client, Credentials, Service};
use windlass_runtime::SystemClock;
use windlass_server::{app, Config, Server};
use windlass_store::memory::MemoryStore;

const ROLE: &str = "arn:aws:iam::123456789012:role/r";

/// A windlass server whose AWS integrations call moto, and clients of
/// both: Step Functions (windlass) and S3 (moto).
struct Setup {
    _moto: moto::Moto,
    sfn: Client,
    s3: Client,
}

async fn setup() -> Setup {
    let moto = moto::Moto::start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let server = Arc::new(Server::new(
        Arc::new(MemoryStore::new()),
        windlass_server::integrations::invokers_with(moto.config()),
        Arc::new(SystemClock),
        Config::default(),
    ));
    let router = app(server);
    tokio::spawn(async move { axum::serve(listener, router).await });
    let keys = Credentials {
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        session_token: None,
    };
    Setup {
        sfn: Client::new(windlass_aws::Config::local(&endpoint, "us-east-1", keys)),
        s3: Client::new(moto.config()),
        _moto: moto,
    }
}

async fn call(client: &Client, service: &str, action: &str, input: Json) -> Json {
    let model = Model::of(Service::named(service).expect("a known service")).expect("model");
    client
        .call(&model, action, &input, None)
        .await
        .unwrap_or_else(|e| panic!("{service} {action} failed: {e}"))
}

impl Setup {
    async fn sfn(&self, action: &str, input: Json) -> Json {
        call(&self.sfn, "sfn", action, input).await
    }

    async fn put(&self, bucket: &str, key: &str, body: &str) {
        call(
            &self.s3,
            "s3",
            "PutObject",
            json!({ "Bucket": bucket, "Key": key, "Body": body }),
        )
        .await;
    }

    async fn get(&self, bucket: &str, key: &str) -> String {
        let out = call(
            &self.s3,
            "s3",
            "GetObject",
            json!({ "Bucket": bucket, "Key": key }),
        )
        .await;
        out["Body"].as_str().expect("a text body").to_string()
    }

    async fn bucket(&self, bucket: &str) {
        call(&self.s3, "s3", "CreateBucket", json!({ "Bucket": bucket })).await;
    }

    /// Creates a machine and starts it with `input`; the execution's ARN.
    async fn start(&self, name: &str, definition: &Json, input: Json) -> String {
        let machine = self
            .sfn(
                "CreateStateMachine",
                json!({ "Name": name, "RoleArn": ROLE, "Definition": definition.to_string() }),
            )
            .await;
        let started = self
            .sfn(
                "StartExecution",
                json!({ "StateMachineArn": machine["StateMachineArn"], "Name": format!("{name}-1"), "Input": input.to_string() }),
            )
            .await;
        started["ExecutionArn"]
            .as_str()
            .expect("an ARN")
            .to_string()
    }

    /// Waits until the execution ends; its DescribeExecution.
    async fn finished(&self, arn: &str) -> Json {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let described = self
                .sfn("DescribeExecution", json!({ "ExecutionArn": arn }))
                .await;
            if described["Status"] != "RUNNING" {
                return described;
            }
            assert!(Instant::now() < deadline, "{arn} still runs: {described}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn output(&self, arn: &str) -> Json {
        let described = self.finished(arn).await;
        assert_eq!(described["Status"], "SUCCEEDED", "{described}");
        serde_json::from_str(described["Output"].as_str().expect("an output")).expect("JSON output")
    }

    async fn error(&self, arn: &str) -> (String, String) {
        let described = self.finished(arn).await;
        assert_eq!(described["Status"], "FAILED", "{described}");
        let text = |k: &str| described[k].as_str().unwrap_or_default().to_string();
        (text("Error"), text("Cause"))
    }
}

/// A Distributed Map of `reader` whose iterations run `processor`.
fn distributed(reader: Json, processor: Json, extra: Json) -> Json {
    let mut map = json!({
        "Type": "Map",
        "ItemReader": reader,
        "ItemProcessor": {
            "ProcessorConfig": { "Mode": "DISTRIBUTED", "ExecutionType": "STANDARD" },
            "StartAt": "Work",
            "States": processor,
        },
        "End": true,
    });
    for (key, value) in extra.as_object().into_iter().flatten() {
        map[key] = value.clone();
    }
    json!({ "StartAt": "Rows", "States": { "Rows": map } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_csv_rows_with_result_files_checked_one_by_one() {
    let setup = setup().await;
    setup.bucket("data").await;
    setup.bucket("results").await;
    const ROWS: usize = 10_000;
    // Every 1,000th row asks its iteration to fail: 10 failures, tolerated.
    let mut csv = String::from("id,name,qty,fail\n");
    for i in 0..ROWS {
        let fail = if i % 1000 == 999 { "yes" } else { "no" };
        csv.push_str(&format!("{i},\"item, {i}\",{},{fail}\n", i % 7));
    }
    setup.put("data", "in/rows.csv", &csv).await;
    let definition = distributed(
        json!({
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": { "InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW" },
            "Parameters": { "Bucket": "data", "Key.$": "$.key" }
        }),
        json!({
            "Work": { "Type": "Choice", "Choices": [{ "Variable": "$.fail", "StringEquals": "yes", "Next": "Refuse" }], "Default": "Price" },
            "Refuse": { "Type": "Fail", "Error": "Row.Refused", "Cause": "the row asked to fail" },
            "Price": { "Type": "Pass", "Parameters": {
                "id.$": "$.id", "label.$": "$.name", "qty.$": "States.StringToJson($.qty)" }, "End": true }
        }),
        json!({
            "MaxConcurrency": 1000,
            "ToleratedFailureCount": 10,
            "ResultWriter": {
                "Resource": "arn:aws:states:::s3:putObject",
                "Parameters": { "Bucket": "results", "Prefix.$": "$.prefix" }
            }
        }),
    );
    let began = Instant::now();
    let arn = setup
        .start(
            "csv",
            &definition,
            json!({ "key": "in/rows.csv", "prefix": "jobs/csv" }),
        )
        .await;
    let output = setup.output(&arn).await;
    let took = began.elapsed();
    eprintln!(
        "10,000-row Distributed Map with ResultWriter: {took:?} from StartExecution to SUCCEEDED"
    );

    // The state's output names the Map Run and the manifest.
    let map_run_arn = output["MapRunArn"].as_str().expect("MapRunArn").to_string();
    let run_id = map_run_arn.rsplit(':').next().expect("an id").to_string();
    let manifest_key = format!("jobs/csv/{run_id}/manifest.json");
    assert_eq!(
        output["ResultWriterDetails"],
        json!({ "Bucket": "results", "Key": manifest_key })
    );

    // The manifest lists one file per status that has results, with its size.
    let manifest: Json =
        serde_json::from_str(&setup.get("results", &manifest_key).await).expect("manifest JSON");
    assert_eq!(manifest["DestinationBucket"], "results");
    assert_eq!(manifest["MapRunArn"], map_run_arn);
    assert_eq!(manifest["ResultFiles"]["PENDING"], json!([]));
    let succeeded_key = format!("jobs/csv/{run_id}/SUCCEEDED_0.json");
    let failed_key = format!("jobs/csv/{run_id}/FAILED_0.json");
    let succeeded_text = setup.get("results", &succeeded_key).await;
    let failed_text = setup.get("results", &failed_key).await;
    assert_eq!(
        manifest["ResultFiles"]["SUCCEEDED"],
        json!([{ "Key": succeeded_key, "Size": succeeded_text.len() }])
    );
    assert_eq!(
        manifest["ResultFiles"]["FAILED"],
        json!([{ "Key": failed_key, "Size": failed_text.len() }])
    );

    // SUCCEEDED_0.json: one record per succeeded row, input and output as
    // JSON text, every row exactly once.
    let succeeded: Vec<Json> = serde_json::from_str(&succeeded_text).expect("a JSON array");
    assert_eq!(succeeded.len(), ROWS - 10);
    let machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:csv/Rows";
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    for record in &succeeded {
        assert_eq!(record["Status"], "SUCCEEDED", "{record}");
        assert_eq!(record["StateMachineArn"], machine_arn);
        let input: Json = serde_json::from_str(record["Input"].as_str().expect("Input text"))
            .expect("Input JSON");
        let output: Json = serde_json::from_str(record["Output"].as_str().expect("Output text"))
            .expect("Output JSON");
        let id: usize = input["id"]
            .as_str()
            .expect("an id")
            .parse()
            .expect("a number");
        assert_eq!(
            input,
            json!({ "id": id.to_string(), "name": format!("item, {id}"), "qty": (id % 7).to_string(), "fail": "no" })
        );
        assert_eq!(
            output,
            json!({ "id": id.to_string(), "label": format!("item, {id}"), "qty": id % 7 })
        );
        assert_eq!(record["InputDetails"], json!({ "Included": true }));
        assert_eq!(record["OutputDetails"], json!({ "Included": true }));
        let name = record["Name"].as_str().expect("a name");
        assert!(
            record["ExecutionArn"]
                .as_str()
                .expect("an ARN")
                .ends_with(&format!("/Rows:{name}")),
            "{record}"
        );
        assert!(record["StartDate"].as_str().expect("a date").ends_with('Z'));
        assert!(record["StopDate"].is_string());
        assert!(ids.insert(id), "row {id} is written twice");
        names.insert(name.to_string());
    }
    assert_eq!(names.len(), ROWS - 10, "child execution names are unique");

    // FAILED_0.json: the ten refused rows with their error and cause.
    let failed: Vec<Json> = serde_json::from_str(&failed_text).expect("a JSON array");
    let failed_ids: BTreeSet<usize> = failed
        .iter()
        .map(|record| {
            assert_eq!(record["Status"], "FAILED", "{record}");
            assert_eq!(record["Error"], "Row.Refused");
            assert_eq!(record["Cause"], "the row asked to fail");
            assert!(record.get("Output").is_none());
            let input: Json =
                serde_json::from_str(record["Input"].as_str().expect("Input")).expect("JSON");
            input["id"]
                .as_str()
                .expect("an id")
                .parse()
                .expect("a number")
        })
        .collect();
    assert_eq!(failed_ids, (0..10).map(|k| k * 1000 + 999).collect());
    assert_eq!(ids.len() + failed_ids.len(), ROWS);
    assert!(ids.is_disjoint(&failed_ids));

    // The Map Run record.
    let run = setup
        .sfn("DescribeMapRun", json!({ "MapRunArn": map_run_arn }))
        .await;
    assert_eq!(run["Status"], "SUCCEEDED");
    assert_eq!(run["ExecutionArn"], arn);
    assert_eq!(run["MaxConcurrency"], 1000);
    assert_eq!(run["ToleratedFailureCount"], 10);
    for counts in [&run["ItemCounts"], &run["ExecutionCounts"]] {
        assert_eq!(counts["Total"], ROWS);
        assert_eq!(counts["Succeeded"], ROWS - 10);
        assert_eq!(counts["Failed"], 10);
        assert_eq!(counts["Pending"], 0);
        assert_eq!(counts["Running"], 0);
        assert_eq!(counts["ResultsWritten"], ROWS);
    }
    let runs = setup
        .sfn("ListMapRuns", json!({ "ExecutionArn": arn }))
        .await;
    assert_eq!(runs["MapRuns"].as_array().map(Vec::len), Some(1));
    assert_eq!(runs["MapRuns"][0]["MapRunArn"], map_run_arn);

    // ListExecutions of the Map Run: every child, page by page.
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = json!({ "MapRunArn": map_run_arn, "MaxResults": 1000 });
        if let Some(token) = &token {
            request["NextToken"] = json!(token);
        }
        let page = setup.sfn("ListExecutions", request).await;
        listed.extend(page["Executions"].as_array().cloned().unwrap_or_default());
        match page["NextToken"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(listed.len(), ROWS);
    assert!(listed
        .iter()
        .all(|e| e["MapRunArn"] == map_run_arn.as_str()));
    let listed_names: BTreeSet<String> = listed
        .iter()
        .filter(|e| e["Status"] == "SUCCEEDED")
        .map(|e| e["Name"].as_str().expect("a name").to_string())
        .collect();
    assert_eq!(listed_names, names);
    let failures = setup
        .sfn(
            "ListExecutions",
            json!({ "MapRunArn": map_run_arn, "StatusFilter": "FAILED" }),
        )
        .await;
    assert_eq!(failures["Executions"].as_array().map(Vec::len), Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_of_json_lines_listings_and_given_headers_with_their_limits() {
    let setup = setup().await;
    setup.bucket("data").await;
    setup
        .put("data", "in/items.json", r#"[{"n":1},{"n":2},{"n":3}]"#)
        .await;
    setup
        .put(
            "data",
            "in/items.jsonl",
            "{\"n\":10}\n{\"n\":20}\n\n{\"n\":30}\n",
        )
        .await;
    setup
        .put("data", "in/plain.csv", "1;a\n2;b\n3;c\n4;d\n")
        .await;
    for key in ["logs/a.txt", "logs/b.txt", "logs/c.txt", "other/d.txt"] {
        setup.put("data", key, "x").await;
    }
    let echo = json!({ "Work": { "Type": "Pass", "End": true } });

    let json_reader = distributed(
        json!({ "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": { "InputType": "JSON", "MaxItemsPath": "$.limit" },
                "Parameters": { "Bucket": "data", "Key": "in/items.json" } }),
        echo.clone(),
        json!({}),
    );
    let arn = setup
        .start("json", &json_reader, json!({ "limit": 2 }))
        .await;
    assert_eq!(setup.output(&arn).await, json!([{ "n": 1 }, { "n": 2 }]));

    // JSONata: Arguments and an ItemSelector reading $states.context.
    let jsonl_reader = json!({ "QueryLanguage": "JSONata", "StartAt": "Rows", "States": { "Rows": {
        "Type": "Map",
        "ItemReader": { "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": { "InputType": "JSONL" },
            "Arguments": { "Bucket": "data", "Key": "{% $states.input.key %}" } },
        "ItemSelector": { "value": "{% $states.context.Map.Item.Value.n %}", "index": "{% $states.context.Map.Item.Index %}" },
        "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" }, "StartAt": "Work",
            "States": { "Work": { "Type": "Pass", "Output": "{% $states.input.value * 2 %}", "End": true } } },
        "End": true } } });
    let arn = setup
        .start("jsonl", &jsonl_reader, json!({ "key": "in/items.jsonl" }))
        .await;
    assert_eq!(setup.output(&arn).await, json!([20, 40, 60]));

    let given = distributed(
        json!({ "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": { "InputType": "CSV", "CSVHeaderLocation": "GIVEN",
                    "CSVHeaders": ["id", "letter"], "CSVDelimiter": "SEMICOLON", "MaxItems": 3 },
                "Parameters": { "Bucket": "data", "Key": "in/plain.csv" } }),
        echo.clone(),
        json!({}),
    );
    let arn = setup.start("given", &given, json!({})).await;
    assert_eq!(
        setup.output(&arn).await,
        json!([{ "id": "1", "letter": "a" }, { "id": "2", "letter": "b" }, { "id": "3", "letter": "c" }])
    );

    let listing = distributed(
        json!({ "Resource": "arn:aws:states:::s3:listObjectsV2",
                "Parameters": { "Bucket": "data", "Prefix": "logs/" } }),
        json!({ "Work": { "Type": "Pass", "Parameters": { "key.$": "$.Key", "size.$": "$.Size", "modified.$": "$.LastModified", "etag.$": "$.Etag" }, "End": true } }),
        json!({}),
    );
    let arn = setup.start("listing", &listing, json!({})).await;
    let out = setup.output(&arn).await;
    let keys: Vec<&str> = out
        .as_array()
        .expect("an array")
        .iter()
        .map(|o| o["key"].as_str().expect("a key"))
        .collect();
    assert_eq!(keys, ["logs/a.txt", "logs/b.txt", "logs/c.txt"]);
    assert_eq!(out[0]["size"], 1);
    assert!(
        out[0]["modified"]
            .as_i64()
            .is_some_and(|s| s > 1_600_000_000),
        "{out}"
    );
    assert!(
        out[0]["etag"].as_str().is_some_and(|e| e.starts_with('"')),
        "{out}"
    );

    // Failures name the state, the bucket and key, and S3's own error.
    let missing = distributed(
        json!({ "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": { "InputType": "CSV" },
                "Parameters": { "Bucket": "data", "Key": "in/nope.csv" } }),
        echo.clone(),
        json!({}),
    );
    let arn = setup.start("missing", &missing, json!({})).await;
    let (error, cause) = setup.error(&arn).await;
    assert_eq!(error, "States.ItemReaderFailed");
    assert!(
        cause.contains("'Rows'")
            && cause.contains("s3://data/in/nope.csv")
            && cause.contains("NoSuchKey"),
        "{cause}"
    );

    let no_bucket = distributed(
        json!({ "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": { "InputType": "JSON" },
                "Parameters": { "Bucket": "data", "Key": "in/items.json" } }),
        echo,
        json!({ "ResultWriter": { "Resource": "arn:aws:states:::s3:putObject", "Parameters": { "Bucket": "gone", "Prefix": "p" } } }),
    );
    let arn = setup.start("unwritable", &no_bucket, json!({})).await;
    let (error, cause) = setup.error(&arn).await;
    assert_eq!(error, "States.ResultWriterFailed");
    assert!(
        cause.contains("s3://gone/p/") && cause.contains("NoSuchBucket"),
        "{cause}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_map_run_raises_the_concurrency_of_a_running_map() {
    let setup = setup().await;
    let definition = json!({ "StartAt": "Rows", "States": { "Rows": {
        "Type": "Map",
        "MaxConcurrency": 1,
        "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" }, "StartAt": "Work",
            "States": { "Work": { "Type": "Wait", "Seconds": 1, "End": true } } },
        "End": true } } });
    let arn = setup
        .start("slow", &definition, json!([1, 2, 3, 4, 5, 6, 7, 8]))
        .await;
    let runs = setup
        .sfn("ListMapRuns", json!({ "ExecutionArn": arn }))
        .await;
    let map_run_arn = runs["MapRuns"][0]["MapRunArn"]
        .as_str()
        .expect("a Map Run")
        .to_string();
    let before = setup
        .sfn("DescribeMapRun", json!({ "MapRunArn": map_run_arn }))
        .await;
    assert_eq!(before["Status"], "RUNNING");
    assert_eq!(before["MaxConcurrency"], 1);
    assert_eq!(before["ItemCounts"]["Running"], 1);
    let began = Instant::now();
    setup
        .sfn("UpdateMapRun", json!({ "MapRunArn": map_run_arn, "MaxConcurrency": 8, "ToleratedFailurePercentage": 50 }))
        .await;
    let after = setup
        .sfn("DescribeMapRun", json!({ "MapRunArn": map_run_arn }))
        .await;
    assert_eq!(after["MaxConcurrency"], 8);
    assert_eq!(after["ToleratedFailurePercentage"], 50.0);
    assert_eq!(after["ItemCounts"]["Pending"], 0, "{after}");
    setup.output(&arn).await;
    // Eight one-second waits at once, not one after another.
    assert!(
        began.elapsed() < Duration::from_secs(4),
        "took {:?}",
        began.elapsed()
    );
    let done = setup
        .sfn("DescribeMapRun", json!({ "MapRunArn": map_run_arn }))
        .await;
    assert_eq!(done["Status"], "SUCCEEDED");
    assert_eq!(done["ItemCounts"]["Succeeded"], 8);
}
