//! The OpenAPI document against the running server: it is OpenAPI 3.1, it covers the
//! contract, every operation it documents reaches a route (never the router's fallback) and
//! answers a status it documents, and every method it does not document on a path is a 405.
//! The other direction, every route of the source documented, is the server crate's unit
//! test (`routes/openapi/tests.rs`).

use marauder_client::protocol::{ErrorBody, ErrorCode};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

/// An id that has the shape of a real one but names nothing.
const UNKNOWN_ID: &str = "AAAAAAAAAAAAAAAA";

/// Every route of the contract (v1, first wave and sessions and map administration of the
/// second), and the additions of docs/api.md.
const CONTRACT: [(&str, &str); 30] = [
    ("post", "/api/v1/players"),
    ("get", "/api/v1/players/me"),
    ("delete", "/api/v1/players/me"),
    ("get", "/api/v1/players/{id}"),
    ("post", "/api/v1/maps"),
    ("get", "/api/v1/maps"),
    ("get", "/api/v1/maps/{id}"),
    ("post", "/api/v1/maps/{id}/join"),
    ("post", "/api/v1/maps/{id}/leave"),
    ("post", "/api/v1/locations"),
    ("get", "/api/v1/maps/{id}/locations"),
    ("get", "/api/v1/maps/{id}/trails/{player}"),
    ("get", "/api/v1/ws"),
    ("get", "/api/v1/players/me/devices"),
    ("post", "/api/v1/players/me/devices"),
    ("delete", "/api/v1/players/me/devices/{id}"),
    ("post", "/api/v1/owntracks"),
    ("get", "/api/v1/osmand"),
    ("post", "/api/v1/osmand"),
    ("get", "/healthz"),
    ("patch", "/api/v1/players/me"),
    ("post", "/api/v1/players/me/link-codes"),
    ("post", "/api/v1/sessions"),
    ("get", "/api/v1/players/me/sessions"),
    ("delete", "/api/v1/players/me/sessions/{id}"),
    ("patch", "/api/v1/maps/{id}"),
    ("delete", "/api/v1/maps/{id}"),
    ("post", "/api/v1/maps/{id}/invite-code"),
    ("delete", "/api/v1/maps/{id}/members/{player}"),
    ("get", "/api/v1/maps/{id}/preview"),
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let response = reqwest::get(format!("{}/api/v1/openapi.json", app.base)).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/json");
    response.json().await.unwrap()
}

/// The documented (method, path) pairs.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}: a method this test does not send");
            operations.push((method.clone(), path.clone()));
        }
    }
    operations
}

/// A path with each `{parameter}` filled with an id that names nothing.
fn fill(path: &str) -> String {
    let mut filled = String::new();
    for (i, piece) in path.split(['{', '}']).enumerate() {
        filled.push_str(if i % 2 == 1 { UNKNOWN_ID } else { piece });
    }
    filled
}

/// Sends `method` to `path` with no credential and no body: (status, body).
async fn send(app: &TestApp, method: &str, path: &str) -> (u16, Vec<u8>) {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let response = reqwest::Client::new().request(method, format!("{}{}", app.base, fill(path))).send().await;
    let response = response.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

fn error_body(bytes: &[u8], what: &str) -> ErrorBody {
    serde_json::from_slice(bytes).unwrap_or_else(|err| {
        panic!("{what}: not the error body ({err}): {}", String::from_utf8_lossy(bytes))
    })
}

/// The component a `$ref` names, or the object itself.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let mut target = doc;
            for key in reference.trim_start_matches("#/").split('/') {
                target = &target[key];
            }
            target
        }
        None => value,
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_covers_the_contract() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1"), "openapi: {version}");
    let operations = operations(&doc);
    for (method, path) in CONTRACT {
        assert!(operations.contains(&(method.into(), path.into())), "{method} {path} is not documented");
    }
    let error = resolve(&doc, &doc["components"]["schemas"]["ErrorBody"]);
    assert_eq!(error["properties"]["error"]["$ref"], "#/components/schemas/ErrorDetail");
    let locations = &doc["paths"]["/api/v1/locations"]["post"];
    assert_eq!(locations["security"], serde_json::json!([{"bearer": []}]));
    assert_eq!(doc["paths"]["/api/v1/owntracks"]["post"]["security"], serde_json::json!([{"basic": []}]));
    app.stop().await;
}

#[tokio::test]
async fn every_documented_operation_reaches_its_route_and_answers_as_documented() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let operations = operations(&doc);
    assert!(operations.len() >= CONTRACT.len(), "{} operations", operations.len());
    for (method, path) in &operations {
        let what = format!("{method} {path}");
        let (status, body) = send(&app, method, path).await;
        assert_ne!(status, 405, "{what}: the method is not routed");
        if status == 404 {
            let error = error_body(&body, &what);
            assert_ne!(error.error.message, "no such route", "{what}: the router's fallback answered");
        }
        let documented = &doc["paths"][path][method]["responses"][status.to_string()];
        assert!(!documented.is_null(), "{what}: answered {status}, which is not documented");
        let schema = &resolve(&doc, documented)["content"]["application/json"]["schema"];
        if schema["$ref"] == "#/components/schemas/ErrorBody" {
            let error = error_body(&body, &what);
            assert_eq!(error.error.code.http_status(), status, "{what}: {error:?}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn methods_the_document_does_not_name_are_not_routed() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let operations = operations(&doc);
    let mut checked = 0;
    for (path, _) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if operations.contains(&(method.to_owned(), path.clone())) {
                continue;
            }
            let what = format!("{method} {path}");
            let (status, body) = send(&app, method, path).await;
            assert_eq!(status, 405, "{what}: not documented, so it must not be routed");
            assert_eq!(error_body(&body, &what).error.code, ErrorCode::MethodNotAllowed, "{what}");
            checked += 1;
        }
    }
    assert!(checked > 0, "no undocumented method was tried");
    app.stop().await;
}
