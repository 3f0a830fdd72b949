//! Figures for windlass-aws's model-driven wire code, printed (not
//! asserted): how long each embedded model takes to read on first use, and
//! how many requests per second are serialized and answers parsed.
//! `cargo bench -p windlass-aws --bench wire`

use std::time::Instant;

use serde_json::json;
use windlass_aws::model::Model;
use windlass_aws::protocol::{self, HttpResponse};
use windlass_aws::services::SERVICES;
use windlass_aws::Service;

fn main() {
    let mut total = 0.0;
    for service in SERVICES {
        let started = Instant::now();
        let model = Model::of(*service).expect("the model reads");
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        total += ms;
        println!(
            "model {:<15} {:>4} actions  read in {ms:6.2} ms",
            service.name,
            model.actions().len()
        );
    }
    println!("all {} models: {total:.1} ms", SERVICES.len());

    let dynamodb = Model::of(Service::named("dynamodb").expect("known")).expect("reads");
    let put = dynamodb.operation("putItem").expect("putItem");
    let input = json!({ "TableName": "orders", "Item": { "id": { "S": "o-1" }, "qty": { "N": "2" },
        "tags": { "SS": ["a", "b"] }, "address": { "M": { "city": { "S": "Lyon" } } } },
        "ConditionExpression": "attribute_not_exists(id)" });
    let rounds = 20_000;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(protocol::request(&dynamodb, &put, &input).expect("builds"));
    }
    let rate = rounds as f64 / started.elapsed().as_secs_f64();
    println!("dynamodb putItem requests serialized: {rate:.0}/s");

    let get = dynamodb.operation("getItem").expect("getItem");
    let answer = HttpResponse {
        status: 200,
        headers: vec![],
        body: br#"{"Item":{"id":{"S":"o-1"},"qty":{"N":"2"},"tags":{"SS":["a","b"]},"address":{"M":{"city":{"S":"Lyon"}}}}}"#.to_vec(),
    };
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(protocol::response(&dynamodb, &get, &answer).expect("reads"));
    }
    let rate = rounds as f64 / started.elapsed().as_secs_f64();
    println!("dynamodb getItem answers parsed: {rate:.0}/s");

    let iam = Model::of(Service::named("iam").expect("known")).expect("reads");
    let list = iam.operation("listRoles").expect("listRoles");
    let mut body =
        String::from("<ListRolesResponse><ListRolesResult><IsTruncated>false</IsTruncated><Roles>");
    for i in 0..20 {
        body.push_str(&format!("<member><RoleName>r{i}</RoleName><Arn>arn:aws:iam::1:role/r{i}</Arn><CreateDate>2023-11-14T22:13:20Z</CreateDate></member>"));
    }
    body.push_str("</Roles></ListRolesResult></ListRolesResponse>");
    let answer = HttpResponse {
        status: 200,
        headers: vec![],
        body: body.into_bytes(),
    };
    let rounds = 5_000;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(protocol::response(&iam, &list, &answer).expect("reads"));
    }
    let rate = rounds as f64 / started.elapsed().as_secs_f64();
    println!("iam listRoles answers of 20 roles parsed (XML): {rate:.0}/s");
}
