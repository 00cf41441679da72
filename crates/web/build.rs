//! Builds the web app in `web/` with npm (Vite) into `$OUT_DIR/dist`, which `src/lib.rs`
//! embeds: `cargo build` is the only step, for a user with Node.js and npm installed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("dist");
    // Only inputs that exist: cargo counts a missing one as changed, and would rebuild the
    // web app and relink the binary on every build.
    for input in ["src", "public", "index.html", "package.json", "package-lock.json", "vite.config.js"] {
        let path = web.join(input);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rerun-if-env-changed=MARAUDER_SKIP_WEB");
    if std::env::var_os("MARAUDER_SKIP_WEB").is_some_and(|v| v == "1") {
        // For work on the Rust side alone (a second target dir while the web app is mid-edit):
        // the binary then serves a page that says so.
        std::fs::create_dir_all(&out).expect("creating OUT_DIR/dist");
        let page = "<!doctype html><title>Marauder</title><p>Built with MARAUDER_SKIP_WEB=1: no web app.";
        std::fs::write(out.join("index.html"), page).expect("writing the placeholder page");
        return;
    }
    let installed = web.join("node_modules/.package-lock.json");
    let lock = web.join("package-lock.json");
    let stale = |a: &Path, b: &Path| match (
        a.metadata().and_then(|m| m.modified()),
        b.metadata().and_then(|m| m.modified()),
    ) {
        (Ok(a), Ok(b)) => a < b,
        _ => true,
    };
    if stale(&installed, &lock) {
        // Cargo shows a build script's output only when it fails; a warning is what it prints
        // at once, so a first build does not look stuck while npm downloads.
        println!(
            "cargo:warning=installing the web app's npm packages (npm ci in web/): the first build takes a minute"
        );
        npm(&web, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    }
    let out_dir = out.to_str().expect("a UTF-8 OUT_DIR");
    npm(&web, &["run", "build", "--", "--outDir", out_dir, "--emptyOutDir", "--logLevel", "warn"]);
}

fn npm(dir: &Path, args: &[&str]) {
    let status = Command::new("npm").args(args).current_dir(dir).status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("`npm {}` in {} failed ({status})", args.join(" "), dir.display()),
        Err(err) => panic!(
            "building the web app needs Node.js and npm (https://nodejs.org), which could not be run: {err}"
        ),
    }
}
