package main

import (
	"fmt"

	"example.com/shapes/geo"
)

type Circle struct {
	Center geo.Point
	R      float64
}

func (c Circle) Area() float64 { return geo.Pi * c.R * c.R }

func main() {
	var s geo.Shape
	c := Circle{Center: geo.Origin(), R: 2}
	fmt.Println(c.Area(), c.Center.Dist(geo.Point{X: 1}), s)
}
