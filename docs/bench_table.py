"""Prints the README's benchmark table from criterion's results of the last run.

Run after `cargo bench --bench verify --bench rewrite`; it reads the median of every
function from target/criterion and divides each by its group's baseline, so the ratios
it prints always come from one run.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")

# group -> (measured function, baseline function, target ratio, what the target bounds)
GROUPS = [
    ("verify", "hashbeacon", "hmac_limit", "≤ 1.3"),
    ("verify", "jsonwebtoken_hs256", "hashbeacon", "≥ 5"),
    ("build", "hashbeacon", "hmac_limit", "≤ 1.5"),
    ("handle", "hashbeacon", "hmac_limit", "≤ 2"),
    ("rewrite", "hashbeacon", "lol_html_href_noop", "≤ 1.3"),
    ("rewrite", "lol_html_href_noop", "lol_html_passthrough", "(context)"),
    ("render", "hashbeacon", "copy_plus_macs", "≤ 1.5"),
    ("message", "rewrite_message", "rewrite_html_plus_text", "≤ 1.3"),
]


def median_ns(group, function):
    path = ROOT / group / function / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]


def show(ns):
    return f"{ns / 1000:.1f} µs" if ns >= 10_000 else f"{ns:.0f} ns"


print("| group | measured | median | baseline | median | ratio | target |")
print("|---|---|---|---|---|---|---|")
for group, measured, baseline, target in GROUPS:
    try:
        m, b = median_ns(group, measured), median_ns(group, baseline)
    except FileNotFoundError:
        continue
    print(f"| `{group}` | `{measured}` | {show(m)} | `{baseline}` | {show(b)} | {m / b:.2f}× | {target} |")
