//! The web app is served by the binary itself, with the settings it reads at start.

use crate::helpers::*;

#[tokio::test]
async fn the_web_app_and_its_settings_are_served_and_unknown_paths_stay_404() {
    let app = TestApp::spawn_with(|c| c.tiles = "https://tiles.example/{z}/{x}/{y}.png".into()).await;
    let page = app.anon.raw("GET", "/", None).await.unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html");
    assert_eq!(page.headers["cache-control"], "no-cache");
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("<title>The Marauder's Map</title>"), "{html}");

    // Every script and stylesheet the page names is served, cacheable for ever.
    let assets: Vec<&str> = html.split('"').filter(|s| s.starts_with("./assets/")).collect();
    assert!(assets.len() >= 2, "a script and a stylesheet: {assets:?}");
    for asset in assets {
        let file = app.anon.raw("GET", asset.trim_start_matches('.'), None).await.unwrap();
        assert_eq!(file.status, 200, "{asset}");
        assert_eq!(file.headers["cache-control"], "public, max-age=31536000, immutable");
        assert!(!file.body.is_empty());
    }

    let config = app.anon.raw("GET", "/config.json", None).await.unwrap();
    assert_eq!(config.status, 200);
    assert_eq!(config.json()["tiles"], "https://tiles.example/{z}/{x}/{y}.png");
    for path in ["/nope.js", "/api/v1/nope", "/assets/nope.js"] {
        let missing = app.anon.raw("GET", path, None).await.unwrap();
        assert_eq!(
            (missing.status, missing.json()["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn tiles_none_is_a_plain_parchment() {
    let app = TestApp::spawn_with(|c| c.tiles = "none".into()).await;
    let config = app.anon.raw("GET", "/config.json", None).await.unwrap();
    assert_eq!(config.json(), serde_json::json!({"tiles": null, "attribution": null}));
    app.stop().await;
}
