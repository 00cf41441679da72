//! The `--report` page: the run's figures and two inline SVG plots (latency histogram,
//! latency over time). Self-contained: no script, no stylesheet or font from elsewhere.

use std::fmt::Write;

use super::Report;

const W: f64 = 720.0;
const H: f64 = 260.0;
const PAD: f64 = 48.0;

pub fn page(report: &Report) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>marauder bench: n={n} m={m} s={s} k={k}</title>
<style>body{{font:15px/1.4 system-ui,sans-serif;margin:2em;color:#222}}td{{padding:2px 12px 2px 0}}svg{{background:#fbf7ec;border:1px solid #ccc}}</style></head><body>
<h1>marauder bench</h1><table>"#,
        n = report.n,
        m = report.m,
        s = report.s,
        k = report.k
    );
    for line in report.table().lines() {
        let (key, value) = line.split_at(line.find("  ").unwrap_or(line.len()));
        let _ = write!(html, "<tr><td>{}</td><td>{}</td></tr>", escape(key.trim()), escape(value.trim()));
    }
    html.push_str("</table><h2>Delivery latency histogram</h2>");
    html.push_str(&histogram_svg(&report.histogram));
    html.push_str("<h2>Delivery latency over time (p50, p99 per second)</h2>");
    html.push_str(&timeline_svg(report));
    let _ = write!(html, "<h2>JSON</h2><pre>{}</pre></body></html>", escape(&report.json_line()));
    html
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Bars per log2 bucket of latency (ms), heights by count.
fn histogram_svg(buckets: &[(f64, u64)]) -> String {
    let mut svg = format!(r#"<svg width="{W}" height="{H}" role="img" aria-label="latency histogram">"#);
    let max = buckets.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1) as f64;
    let bar = (W - 2.0 * PAD) / buckets.len().max(1) as f64;
    for (i, (upper_ms, count)) in buckets.iter().enumerate() {
        let h = (H - 2.0 * PAD) * (*count as f64 / max);
        let x = PAD + i as f64 * bar;
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="#7a4b2a"><title>≤ {upper_ms:.3} ms: {count}</title></rect><text x="{tx:.1}" y="{ty}" font-size="10" text-anchor="middle">{upper_ms:.2}</text>"##,
            y = H - PAD - h,
            w = (bar - 2.0).max(1.0),
            tx = x + bar / 2.0,
            ty = H - PAD + 14.0
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{x}" y="{y}" font-size="12">latency ≤ (ms), log scale; bar height = deliveries</text></svg>"#,
        x = PAD,
        y = H - 8.0
    );
    svg
}

/// p50 and p99 per second of the run.
fn timeline_svg(report: &Report) -> String {
    let mut svg = format!(r#"<svg width="{W}" height="{H}" role="img" aria-label="latency over time">"#);
    let points = &report.timeline;
    let last = points.last().map_or(1, |p| p.second.max(1)) as f64;
    let top = points.iter().map(|p| p.p99_ms).fold(1.0_f64, f64::max);
    let xy = |second: u64, ms: f64| {
        (PAD + (W - 2.0 * PAD) * second as f64 / last, H - PAD - (H - 2.0 * PAD) * ms / top)
    };
    for (name, color, pick) in [("p50", "#2a6f7a", 0), ("p99", "#a33", 1)] {
        let path: Vec<String> = points
            .iter()
            .map(|p| {
                let (x, y) = xy(p.second, if pick == 0 { p.p50_ms } else { p.p99_ms });
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"><title>{name}</title></polyline>"#,
            path.join(" ")
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{PAD}" y="20" font-size="12">max {top:.1} ms (bucket bounds)</text><text x="{PAD}" y="{y}" font-size="12">seconds since start (0 to {last}); teal p50, red p99</text></svg>"#,
        y = H - 8.0
    );
    svg
}
