//! The `hashbeacon` command-line tool.

fn main() {}
