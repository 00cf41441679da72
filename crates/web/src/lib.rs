//! The web app's files, built from `web/` by `build.rs` and embedded in the binary, so the
//! server needs nothing on disk and nothing from the network but map tiles.

use std::borrow::Cow;

#[derive(rust_embed::Embed)]
#[folder = "$OUT_DIR/dist"]
struct Dist;

/// One file of the app.
pub struct Asset {
    pub bytes: Cow<'static, [u8]>,
    pub mime: String,
    /// Its name carries a content hash, so it may be cached for ever.
    pub immutable: bool,
}

/// The file at `path` (no leading slash; `""` is `index.html`).
pub fn asset(path: &str) -> Option<Asset> {
    let path = if path.is_empty() { "index.html" } else { path };
    let file = Dist::get(path)?;
    Some(Asset {
        bytes: file.data,
        mime: file.metadata.mimetype().to_owned(),
        immutable: path.starts_with("assets/"),
    })
}
