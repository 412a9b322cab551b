#pragma once

#include <string>

namespace geo {

/// Base of every shape.
class Shape {
 public:
  virtual ~Shape() = default;
  virtual double area() const = 0;
  std::string name() const { return "shape"; }
};

template <typename T>
class Box : public Shape {
 public:
  explicit Box(T width) : width_(width) {}
  double area() const override;

 private:
  T width_;
};

}  // namespace geo
