//! `GET /api/v1/maps`: public maps only, most members first (ties by id), a page at a time
//! with an opaque `next` cursor, filtered by `q`, every malformed parameter a 400.

use marauder_client::protocol::{PublicMap, PublicMaps, Visibility};

use crate::helpers::*;

async fn page(app: &TestApp, query: &str) -> PublicMaps {
    let raw = app.anon.raw("GET", &format!("/api/v1/maps{query}"), None).await.unwrap();
    assert_eq!(raw.status, 200, "{query}: {:?}", raw.json());
    serde_json::from_slice(&raw.body).expect("a PublicMaps body")
}

/// Every page of `query`, following `next`: the maps in order, and the size of each page.
async fn walk(app: &TestApp, query: &str) -> (Vec<PublicMap>, Vec<usize>) {
    let (mut maps, mut sizes) = (Vec::new(), Vec::new());
    let mut this = format!("?{query}");
    loop {
        let page = page(app, &this).await;
        sizes.push(page.maps.len());
        maps.extend(page.maps);
        match page.next {
            Some(next) => this = format!("?{query}&after={next}"),
            None => return (maps, sizes),
        }
    }
}

fn listing(mut maps: Vec<PublicMap>) -> Vec<PublicMap> {
    maps.sort_by(|a, b| b.members.cmp(&a.members).then_with(|| a.id.cmp(&b.id)));
    maps
}

#[tokio::test]
async fn pages_hold_every_public_map_once_most_members_first_then_by_id() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.player("Dumbledore").await;
    let (ron, _) = app.player("Ron").await;
    let (hermione, _) = app.player("Hermione").await;
    let mut public = Vec::new();
    for n in 0..7 {
        let map = owner.create_map(&format!("Map {n}"), None).await.unwrap();
        public.push(PublicMap { id: map.id, name: format!("Map {n}"), members: 1 });
    }
    for n in 0..2 {
        owner.create_map(&format!("Secret {n}"), Some(Visibility::Private)).await.unwrap();
    }
    for (n, joiners) in [(1, vec![&ron, &hermione]), (4, vec![&ron]), (5, vec![&ron, &hermione])] {
        for joiner in joiners {
            joiner.join(&public[n].id, None).await.unwrap();
            public[n].members += 1;
        }
    }
    let expected = listing(public.clone());

    assert_eq!(page(&app, "").await, PublicMaps { maps: expected.clone(), next: None });
    assert_eq!(page(&app, "?limit=7").await.next, None, "no next when nothing remains");
    let six = page(&app, "?limit=6").await;
    assert_eq!((six.maps.len(), six.next.is_some()), (6, true));
    assert_eq!(walk(&app, "limit=2").await, (expected.clone(), vec![2, 2, 2, 1]));
    assert_eq!(walk(&app, "limit=3").await, (expected, vec![3, 3, 1]));

    // Leaving moves a map down the listing.
    ron.leave(&public[5].id).await.unwrap();
    hermione.leave(&public[5].id).await.unwrap();
    public[5].members = 1;
    let expected = listing(public);
    assert_eq!(walk(&app, "limit=2").await.0, expected);
    let app = app.restart().await;
    assert_eq!(walk(&app, "limit=4").await.0, expected, "the same listing after a restart");
    app.stop().await;
}

#[tokio::test]
async fn q_keeps_the_maps_whose_name_contains_it_ignoring_case() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.player("Hagrid").await;
    let mut ids = Vec::new();
    for name in ["Diagon Alley", "old DIAGON lane", "Hogsmeade", "ÄRGER Straße"] {
        ids.push(owner.create_map(name, None).await.unwrap().id);
    }
    owner.create_map("Diagon Secret", Some(Visibility::Private)).await.unwrap();
    let names = |page: PublicMaps| page.maps.into_iter().map(|m| m.name).collect::<Vec<_>>();
    let mut diagon = names(page(&app, "?q=dIaGoN").await);
    diagon.sort();
    assert_eq!(diagon, ["Diagon Alley", "old DIAGON lane"]);
    assert_eq!(names(page(&app, "?q=%C3%A4rger%20stra").await), ["ÄRGER Straße"]);
    assert_eq!(names(page(&app, "?q=Hogwarts").await), Vec::<String>::new());
    let (walked, sizes) = walk(&app, "q=A&limit=1").await;
    let mut walked: Vec<String> = walked.into_iter().map(|m| m.id).collect();
    walked.sort();
    ids.sort();
    assert_eq!(walked, ids, "every public name holds an a: each map once, page by page");
    assert_eq!(sizes, [1, 1, 1, 1]);
    app.stop().await;
}

#[tokio::test]
async fn malformed_list_parameters_are_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let long = "q".repeat(65);
    let cases = [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("after=not-a-cursor", "after"),
        ("after=", "after"),
        ("after=MTIz", "after"),
        (&format!("q={long}"), "q"),
        ("sort=name", "sort"),
    ];
    for (query, field) in cases {
        let raw = app.anon.raw("GET", &format!("/api/v1/maps?{query}"), None).await.unwrap();
        assert_eq!(raw.status, 400, "{query}");
        assert_eq!(raw.error_code().as_deref(), Some("bad_request"), "{query}");
        let message = raw.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with(&format!("{field}:")), "{query}: {message}");
    }
    let at_most = "q".repeat(64);
    assert_eq!(page(&app, &format!("?q={at_most}&limit=500")).await.maps, vec![]);
    app.stop().await;
}
