//! Shapes and their areas.

use std::fmt;

/// Anything with an area.
pub trait Area {
    fn area(&self) -> f64;
}

/// A circle of radius `r`.
#[derive(Debug, Clone)]
pub struct Circle {
    pub r: f64,
}

pub const UNIT: Circle = Circle { r: 1.0 };

impl Circle {
    /// Makes a circle.
    pub fn new(r: f64) -> Self {
        Circle { r }
    }

    pub fn scaled(&self, k: f64) -> Circle {
        Circle::new(self.r * k)
    }
}

impl Area for Circle {
    fn area(&self) -> f64 {
        std::f64::consts::PI * self.r * self.r
    }
}

impl fmt::Display for Circle {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "circle({})", self.r)
    }
}
