//! The document against the router's source: every route registered in this crate is
//! documented with exactly its methods, and nothing else is. axum cannot list a router's
//! routes, so the routes are read from the source: each `.route("<path>", <method router>)`
//! call, its methods being the calls at the top of the method router's chain
//! (`get(a).post(b)`). A registration this reader does not understand fails the test rather
//! than passing unseen; `tests/api/openapi.rs` checks the same document against a running
//! server.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;

type Routes = BTreeSet<(String, String)>;

/// The methods a method router's chain may start with; any other top-level call (`any`,
/// `on`, a service) has methods this reader cannot tell.
const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// Spelt in two pieces so that this file does not register a route itself.
const ROUTE_CALL: &str = concat!(".rou", "te(");
const UNREADABLE: [&str; 3] =
    [concat!(".route_", "service("), concat!(".nest", "("), concat!(".nest_", "service(")];

#[test]
fn every_route_in_the_source_is_documented_and_nothing_else() {
    let in_source = routes_in_source();
    let documented = documented();
    let undocumented: Vec<_> = in_source.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&in_source).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed but not in the OpenAPI document: {undocumented:?}; documented but not routed: {unrouted:?}"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_the_shared_parts() {
    let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"], serde_json::json!({"type": "http", "scheme": "bearer"}));
    assert_eq!(schemes["basic"], serde_json::json!({"type": "http", "scheme": "basic"}));
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]), "{error}");
    let retry_after = &doc["components"]["responses"]["RateLimited"]["headers"]["Retry-After"];
    assert_eq!(retry_after["schema"]["type"], "integer");
    let osmand = doc["paths"]["/api/v1/osmand"]["get"]["parameters"].as_array().unwrap();
    let fields: Vec<_> =
        osmand.iter().map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap())).collect();
    assert_eq!(fields.len(), 12, "{fields:?}");
    assert!(fields.contains(&("speed_mps", "query")), "{fields:?}");
    // A 429 a handler names gets the header too.
    let sign_up = &doc["paths"]["/api/v1/players"]["post"]["responses"]["429"];
    assert_eq!(sign_up["headers"]["Retry-After"]["schema"]["type"], "integer", "{sign_up}");
}

#[test]
fn every_operation_has_a_unique_id_and_every_error_the_error_body() {
    let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
    let mut ids = BTreeSet::new();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let id = operation["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "{method} {path}: operationId {id} is used twice");
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.parse::<u16>().unwrap() < 400 {
                    continue;
                }
                let body = match response.get("$ref") {
                    Some(reference) => {
                        let name = reference.as_str().unwrap().trim_start_matches("#/components/responses/");
                        &doc["components"]["responses"][name]["content"]["application/json"]["schema"]
                    }
                    None => &response["content"]["application/json"]["schema"],
                };
                assert_eq!(body["$ref"], "#/components/schemas/ErrorBody", "{method} {path} {status}");
            }
        }
    }
    assert_eq!(ids.len(), operations);
}

#[test]
fn shared_errors_follow_the_rules() {
    let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
    let statuses = |path: &str, method: &str| -> Vec<String> {
        let mut statuses: Vec<String> =
            doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect();
        statuses.sort();
        statuses
    };
    // Public, no body: a 404 of its own, and the failures any operation can have.
    assert_eq!(statuses("/api/v1/players/{id}", "get"), ["200", "404", "500", "503"]);
    // Secured with a JSON body: everything.
    assert_eq!(
        statuses("/api/v1/locations", "post"),
        ["202", "400", "401", "413", "415", "429", "500", "503"]
    );
    // The server's own routes answer without a backend.
    assert_eq!(statuses("/healthz", "get"), ["200", "500"]);
}

/// (path, method) of every operation in the document.
fn documented() -> Routes {
    let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
    let mut routes = Routes::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.insert((path.clone(), method.clone()));
        }
    }
    routes
}

/// (path, method) of every route this crate's source registers.
fn routes_in_source() -> Routes {
    let mut routes = Routes::new();
    for file in rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")) {
        let source = without_comment_lines(&std::fs::read_to_string(&file).unwrap());
        for needle in UNREADABLE {
            assert!(!source.contains(needle), "{}: teach this test to read `{needle}`", file.display());
        }
        for (at, _) in source.match_indices(ROUTE_CALL) {
            let call = &source[at + ROUTE_CALL.len()..];
            let (path, methods) = read_route(call)
                .unwrap_or_else(|why| panic!("{}: a route this test cannot read: {why}", file.display()));
            for method in methods {
                assert!(routes.insert((path.clone(), method.clone())), "{method} {path} is routed twice");
            }
        }
    }
    assert!(!routes.is_empty(), "no route found in the source: the reader is broken");
    routes
}

/// The source without its comment lines, which may quote a route call.
fn without_comment_lines(source: &str) -> String {
    source.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The path literal and the methods of one `.route(` call, from just after its parenthesis.
fn read_route(call: &str) -> Result<(String, Vec<String>), String> {
    let call = call.trim_start();
    let rest = call.strip_prefix('"').ok_or("the path is not a string literal")?;
    let (path, rest) = rest.split_once('"').ok_or("an unterminated path")?;
    let rest = rest.trim_start().strip_prefix(',').ok_or("no method router after the path")?;
    let chain = top_level_calls(rest)?;
    let mut methods = Vec::new();
    for name in chain {
        if !METHODS.contains(&name.as_str()) {
            return Err(format!("`{name}(...)` in the method router of {path}"));
        }
        methods.push(name);
    }
    if methods.is_empty() {
        return Err(format!("no method for {path}"));
    }
    Ok((path.to_owned(), methods))
}

/// The names called at the top level of an expression that ends at the `)` closing the
/// `.route(` call: `get(a).post(b).layer(l)` gives get, post, layer. A `.layer(...)` is
/// skipped, being no method.
fn top_level_calls(expression: &str) -> Result<Vec<String>, String> {
    let mut calls = Vec::new();
    let mut depth = 0usize;
    let mut name = String::new();
    let mut in_string = false;
    let mut chars = expression.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_string = !in_string,
            '\\' if in_string => {
                chars.next();
            }
            _ if in_string => {}
            '(' | '[' | '{' => {
                if depth == 0 && !name.is_empty() && name != "layer" && name != "route_layer" {
                    calls.push(std::mem::take(&mut name));
                }
                depth += 1;
            }
            ')' | ']' | '}' if depth == 0 => return Ok(calls),
            ')' | ']' | '}' => depth -= 1,
            c if depth == 0 && (c.is_alphanumeric() || c == '_') => name.push(c),
            _ if depth == 0 => name.clear(),
            _ => {}
        }
    }
    Err("the call never closes".into())
}
