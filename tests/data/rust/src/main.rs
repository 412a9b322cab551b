mod shapes;

use crate::shapes::{Area, Circle};
use std::collections::HashMap;

fn total(items: &[Circle]) -> f64 {
    items.iter().map(|c| c.area()).sum()
}

fn main() {
    let mut named: HashMap<String, Circle> = HashMap::new();
    named.insert("unit".to_string(), Circle::new(1.0).scaled(2.0));
    println!("{}", total(&named.into_values().collect::<Vec<_>>()));
}
