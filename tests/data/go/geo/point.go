// Package geo holds plane geometry.
package geo

import (
	"fmt"
	m "math"
)

// Pi is close enough.
const Pi = 3.14159

// Shape is anything with an area.
type Shape interface {
	Area() float64
	Name() string
}

// Point is a position in the plane.
type Point struct {
	X, Y float64
}

// Dist returns the distance to q.
func (p *Point) Dist(q Point) float64 {
	return m.Hypot(p.X-q.X, p.Y-q.Y)
}

func (p Point) String() string {
	return fmt.Sprintf("(%g, %g)", p.X, p.Y)
}

// Origin is the zero point.
func Origin() Point {
	return Point{X: 0, Y: 0}
}
