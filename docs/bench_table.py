"""Prints the README's benchmark table from criterion's results.

Run after `cargo bench --bench verify --bench rewrite`; it reads the median of every
function from target/criterion and divides each by its group's baseline, so the ratios
it prints always come from one run.

Given several result directories (copies of target/criterion from repeated runs), it
prints the table of the last one and then, per ratio, the lowest and highest value over
all of them and how many runs met the target.
"""
import json
import pathlib
import sys

ROOTS = [pathlib.Path(arg) for arg in sys.argv[1:]] or [pathlib.Path("target/criterion")]

# group -> (measured function, baseline function, target ratio, what the target bounds)
GROUPS = [
    ("verify", "hashbeacon", "hmac_limit", "≤ 1.15"),
    ("verify", "jsonwebtoken_hs256", "hashbeacon", "≥ 10"),
    ("build", "hashbeacon", "hmac_limit", "≤ 1.3"),
    ("handle", "hashbeacon", "hmac_limit", "≤ 1.6"),
    ("rewrite", "hashbeacon", "lol_html_href_noop", "≤ 1.3"),
    ("rewrite", "lol_html_href_noop", "lol_html_passthrough", "(context)"),
    ("render", "hashbeacon", "copy_plus_macs", "≤ 1.3"),
    ("message", "rewrite_message", "rewrite_html_plus_text", "≤ 1.3"),
]


def median_ns(group, function, root):
    path = root / group / function / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]


def show(ns):
    return f"{ns / 1000:.1f} µs" if ns >= 10_000 else f"{ns:.0f} ns"


print("| group | measured | median | baseline | median | ratio | target |")
print("|---|---|---|---|---|---|---|")
for group, measured, baseline, target in GROUPS:
    try:
        m, b = median_ns(group, measured, ROOTS[-1]), median_ns(group, baseline, ROOTS[-1])
    except FileNotFoundError:
        continue
    print(f"| `{group}` | `{measured}` | {show(m)} | `{baseline}` | {show(b)} | {m / b:.2f}× | {target} |")


def meets(ratio, target):
    if target.startswith("≤"):
        return ratio <= float(target[1:])
    if target.startswith("≥"):
        return ratio >= float(target[1:])
    return True


if len(ROOTS) > 1:
    print()
    print(f"Spread over {len(ROOTS)} runs:")
    print()
    for group, measured, baseline, target in GROUPS:
        try:
            ratios = [median_ns(group, measured, root) / median_ns(group, baseline, root) for root in ROOTS]
        except FileNotFoundError:
            continue
        met = sum(meets(ratio, target) for ratio in ratios)
        print(f"- `{group}/{measured}` ÷ `{baseline}`: {min(ratios):.2f}–{max(ratios):.2f}× "
              f"(target {target}: met in {met} of {len(ratios)})")
